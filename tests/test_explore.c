/* Tests for reco explore: the numbers (reco/explore.h) on a hand-made
 * fixture and against brute force, the charts (reco/chart.h) and the
 * report files (stats.json, index.html, PNG, SVG). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reco/chart.h"
#include "reco/dataset.h"
#include "reco/explore.h"
#include "testutil.h"

#include <png.h>
#define HAVE_PNG_H 1

/* Under AddressSanitizer: fontconfig (used by pango, used by PLplot's cairo
 * driver) keeps font patterns in caches that only FcFini() would free, and
 * nothing in the driver calls it. Those are not reco's leaks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

/* ---- the hand-made fixture ----
 * After the bad line (8) and the duplicate (u3,i1: the later rating 3 wins):
 *   u1: i1 5, i2 3, i3 4          u2: i1 4, i2 2        u3: i1 3
 *   u4: i1 5                      u5: i1 4, i2 4, i4 5, i5 2, i6 3
 * 5 users, 6 products, 12 ratings; values 2x2, 3x3, 4x4, 5x3 (sum 44,
 * squares 174). Per product: i1 5, i2 3, i3..i6 1. Months (UTC): Jan 2020
 * 3 ratings (5, 3, 5), Feb 2 (4, 4), Mar 5 (u5), Apr 0, May 2 (2, 3). */
static const char FIXTURE[] = "u1,i1,5,1577836800\n"
                              "u1,i2,3,1577923200\n"
                              "u1,i3,4,1580515200\n"
                              "u2,i1,4,1580601600\n"
                              "u2,i2,2,1588291200\n"
                              "u3,i1,1,1588377600\n"
                              "u3,i1,3,1588464000\n"
                              "u4,i9,abc,1\n"
                              "u4,i1,5,1577836800\n"
                              "u5,i1,4,1583020800\n"
                              "u5,i2,4,1583020800\n"
                              "u5,i4,5,1583107200\n"
                              "u5,i5,2,1583193600\n"
                              "u5,i6,3,1583107200\n";

static reco_dataset *load_text(const char *text, bool skip_bad)
{
    char *path = test_write_temp(text, strlen(text));
    assert_non_null(path);
    reco_load_options lo;
    reco_load_options_default(&lo);
    lo.skip_bad = skip_bad;
    lo.threads = 1;
    reco_build_options bo;
    reco_build_options_default(&bo);
    reco_dataset *ds = NULL;
    reco_error err;
    reco_status st = reco_dataset_load(path, &lo, &bo, &ds, &err);
    unlink(path);
    free(path);
    if (st)
        fail_msg("load: %s", err.msg);
    return ds;
}

static reco_explore *explore_text(const char *text)
{
    reco_dataset *ds = load_text(text, true);
    reco_explore *ex = NULL;
    reco_error err;
    if (reco_explore_compute(ds, &ex, &err))
        fail_msg("explore: %s", err.msg);
    reco_dataset_free(ds);
    return ex;
}

static void test_fixture_numbers(void **state)
{
    (void)state;
    reco_explore *ex = explore_text(FIXTURE);
    const reco_stats *st = &ex->stats;
    assert_int_equal(st->users, 5);
    assert_int_equal(st->items, 6);
    assert_int_equal(st->ratings, 12);
    assert_float_equal(st->density, 12.0 / 30, 1e-12);
    assert_float_equal(st->mean, 44.0 / 12, 1e-9);
    assert_float_equal(st->stddev, sqrt(174.0 / 12 - (44.0 / 12) * (44.0 / 12)), 1e-6);
    assert_int_equal(ex->lines, 14);
    assert_int_equal(ex->input_ratings, 13);
    assert_int_equal(st->duplicates_removed, 1);
    assert_int_equal(st->bad_lines, 1);

    /* Ascending counts 1,1,1,1,3,5: sum (2i - 7) x_i = 26, over 6 * 12. */
    assert_float_equal(ex->gini, 26.0 / 72, 1e-12);
    assert_float_equal(ex->single_user_share, 0.4, 1e-12);
    assert_int_equal(ex->cold_users, 4);
    assert_float_equal(ex->cold_user_share, 0.8, 1e-12);
    assert_int_equal(ex->cold_products, 5);
    assert_float_equal(ex->cold_product_share, 5.0 / 6, 1e-12);
    assert_int_equal(ex->top1_products, 1);
    assert_float_equal(ex->top1_share, 5.0 / 12, 1e-12);
    assert_int_equal(ex->top20_products, 2); /* ceil(1.2) */
    assert_float_equal(ex->top20_share, 8.0 / 12, 1e-12);

    /* Bins [1], [2], [3], [4,5]. */
    assert_int_equal(ex->n_user_bins, 4);
    const uint32_t lo[4] = {1, 2, 3, 4}, hi[4] = {1, 2, 3, 5}, users[4] = {2, 1, 1, 1};
    const double per_value[4] = {2, 1, 1, 0.5}, mom[4] = {4, 3, 4, 3.6}, sd[4] = {1, 0, 0, 0};
    for (int b = 0; b < 4; b++) {
        assert_int_equal(ex->user_bins[b].lo, lo[b]);
        assert_int_equal(ex->user_bins[b].hi, hi[b]);
        assert_int_equal(ex->user_bins[b].users, users[b]);
        assert_float_equal(ex->user_bins[b].per_value, per_value[b], 1e-12);
        assert_float_equal(ex->user_bins[b].mean_of_means, mom[b], 1e-9);
        assert_float_equal(ex->user_bins[b].sd_of_means, sd[b], 1e-6);
    }

    /* Popularity rank curve: every rank of 6. */
    assert_int_equal(ex->n_ranks, 6);
    const uint32_t rc[6] = {5, 3, 1, 1, 1, 1};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(ex->rank[i], i + 1);
        assert_int_equal(ex->rank_count[i], rc[i]);
    }

    /* Top products: by count, then mean rating. */
    assert_int_equal(ex->n_top, 6);
    const char *ids[6] = {"i1", "i2", "i4", "i3", "i6", "i5"};
    const uint32_t cnt[6] = {5, 3, 1, 1, 1, 1};
    const double means[6] = {4.2, 3.0, 5.0, 4.0, 3.0, 2.0};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(ex->top[i].id, ids[i]);
        assert_int_equal(ex->top[i].ratings, cnt[i]);
        assert_float_equal(ex->top[i].mean, means[i], 1e-9);
    }

    /* Months Jan..May 2020 (600..604 since January 1970). */
    assert_int_equal(ex->n_months, 5);
    const uint64_t mc[5] = {3, 2, 5, 0, 2};
    const double mm[5] = {13.0 / 3, 4.0, 3.6, NAN, 2.5};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ex->months[i].month, 600 + i);
        assert_int_equal(ex->months[i].ratings, mc[i]);
        if (isnan(mm[i]))
            assert_true(isnan(ex->months[i].mean));
        else
            assert_float_equal(ex->months[i].mean, mm[i], 1e-9);
    }

    /* Threshold t keeps users with >= t ratings and the products they rated:
     * t=2: u1,u2,u5; t=3: u1,u5; t=4,5: u5 (i3 goes); t=6: nobody. */
    const uint64_t tu[7] = {0, 5, 3, 2, 1, 1, 0}, tr[7] = {0, 12, 10, 8, 5, 5, 0};
    const uint64_t tp[7] = {0, 6, 6, 6, 5, 5, 0};
    for (int t = 1; t <= 6; t++) {
        assert_int_equal(ex->threshold[t].users, tu[t]);
        assert_int_equal(ex->threshold[t].ratings, tr[t]);
        assert_int_equal(ex->threshold[t].products, tp[t]);
    }
    assert_int_equal(ex->threshold[100].users, 0);
    reco_explore_free(ex);
}

/* ---- brute force on a random dataset ---- */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static reco_dataset *random_dataset(uint64_t seed, uint32_t n_users, uint32_t n_items)
{
    reco_ratings *r = reco_ratings_new(NULL, NULL);
    assert_non_null(r);
    reco_error err;
    char u[16], it[16];
    for (uint32_t i = 0; i < n_users; i++) {
        /* Heavy-tailed activity: many users with 1-3 ratings, a few with 150+. */
        uint64_t x = lcg(&seed) % 1000;
        uint32_t c = x < 500   ? 1 + (uint32_t)(x % 3)
                     : x < 950 ? 4 + (uint32_t)(x % 40)
                               : 120 + (uint32_t)(x % 60);
        for (uint32_t k = 0; k < c; k++) {
            /* Popularity skew: the square of a uniform favours low indices. */
            double v = (double)(lcg(&seed) % 10000) / 10000;
            uint32_t item = (uint32_t)(v * v * n_items);
            int len_u = snprintf(u, sizeof u, "U%u", i);
            int len_i = snprintf(it, sizeof it, "P%u", item);
            float rating = (float)(1 + lcg(&seed) % 5);
            int64_t ts = 1000000000 + (int64_t)(lcg(&seed) % (3 * 365 * 86400));
            assert_int_equal(reco_ratings_add(r, u, (size_t)len_u, it, (size_t)len_i, rating, ts,
                                              &err),
                             RECO_OK);
        }
    }
    r->has_ts = true;
    reco_build_options bo;
    reco_build_options_default(&bo);
    reco_dataset *ds = NULL;
    if (reco_dataset_build(r, &bo, &ds, &err))
        fail_msg("build: %s", err.msg);
    reco_ratings_free(r);
    return ds;
}

typedef struct item_rank {
    uint32_t idx, count;
    double mean;
} item_rank;

static int cmp_rank(const void *a, const void *b)
{
    const item_rank *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->mean != y->mean)
        return x->mean > y->mean ? -1 : 1;
    return x->idx < y->idx ? -1 : 1;
}

static void test_against_brute_force(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(7, 3000, 900);
    reco_explore *ex = NULL;
    reco_error err;
    assert_int_equal(reco_explore_compute(ds, &ex, &err), RECO_OK);
    const reco_csr *byu = &ds->by_user, *byi = &ds->by_item;
    uint32_t nu = byu->n_rows, ni = byi->n_rows;

    /* Thresholds by re-filtering for every t. */
    bool *kept = malloc(ni);
    for (uint32_t t = 1; t <= RECO_EXPLORE_THRESHOLDS; t++) {
        uint64_t users = 0, ratings = 0, products = 0;
        memset(kept, 0, ni);
        for (uint32_t u = 0; u < nu; u++) {
            uint32_t c = reco_csr_row_len(byu, u);
            if (c < t)
                continue;
            users++;
            ratings += c;
            for (uint64_t k = byu->ptr[u]; k < byu->ptr[u + 1]; k++)
                kept[byu->idx[k]] = true;
        }
        for (uint32_t i = 0; i < ni; i++)
            products += kept[i];
        assert_int_equal(ex->threshold[t].users, users);
        assert_int_equal(ex->threshold[t].ratings, ratings);
        assert_int_equal(ex->threshold[t].products, products);
    }
    free(kept);
    assert_true(ex->threshold[100].users > 0); /* the data has users over 100 */

    /* Gini as the mean absolute difference: sum |xi - xj| / (2 n^2 mean). */
    double diff = 0, total = 0;
    for (uint32_t i = 0; i < ni; i++) {
        total += reco_csr_row_len(byi, i);
        for (uint32_t j = 0; j < ni; j++)
            diff += fabs((double)reco_csr_row_len(byi, i) - reco_csr_row_len(byi, j));
    }
    assert_float_equal(ex->gini, diff / (2.0 * ni * total), 1e-9);

    /* Top products and the rank curve against a full sort. */
    item_rank *ir = malloc(ni * sizeof *ir);
    for (uint32_t i = 0; i < ni; i++) {
        double s = 0;
        for (uint64_t k = byi->ptr[i]; k < byi->ptr[i + 1]; k++)
            s += byi->val[k];
        ir[i] = (item_rank){i, reco_csr_row_len(byi, i), s / reco_csr_row_len(byi, i)};
    }
    qsort(ir, ni, sizeof *ir, cmp_rank);
    assert_int_equal(ex->n_top, RECO_EXPLORE_TOP);
    for (uint32_t k = 0; k < RECO_EXPLORE_TOP; k++) {
        assert_int_equal(ex->top[k].index, ir[k].idx);
        assert_int_equal(ex->top[k].ratings, ir[k].count);
        assert_float_equal(ex->top[k].mean, ir[k].mean, 1e-9);
    }
    assert_int_equal(ex->rank[0], 1);
    assert_int_equal(ex->rank[ex->n_ranks - 1], ni);
    for (uint32_t k = 0; k < ex->n_ranks; k++) {
        assert_int_equal(ex->rank_count[k], ir[ex->rank[k] - 1].count);
        if (k)
            assert_true(ex->rank[k] > ex->rank[k - 1]);
    }
    uint32_t n1 = (ni + 99) / 100, n20 = (ni * 20 + 99) / 100;
    double s1 = 0, s20 = 0;
    for (uint32_t k = 0; k < n20; k++) {
        if (k < n1)
            s1 += ir[k].count;
        s20 += ir[k].count;
    }
    assert_float_equal(ex->top1_share, s1 / total, 1e-12);
    assert_float_equal(ex->top20_share, s20 / total, 1e-12);
    free(ir);

    /* Bins cover every user and rating once; months every rating once. */
    uint64_t bu = 0, br = 0, mr = 0;
    for (uint32_t b = 0; b < ex->n_user_bins; b++) {
        bu += ex->user_bins[b].users;
        br += ex->user_bins[b].ratings;
        if (b)
            assert_int_equal(ex->user_bins[b].lo, ex->user_bins[b - 1].hi + 1);
    }
    assert_int_equal(bu, nu);
    assert_int_equal(br, byu->nnz);
    for (uint32_t m = 0; m < ex->n_months; m++)
        mr += ex->months[m].ratings;
    assert_int_equal(mr, byu->nnz);
    assert_true(ex->n_months >= 36 && ex->n_months <= 38);

    reco_explore_free(ex);
    reco_dataset_free(ds);
}

static void test_empty_dataset(void **state)
{
    (void)state;
    reco_ratings *r = reco_ratings_new(NULL, NULL);
    reco_build_options bo;
    reco_build_options_default(&bo);
    reco_dataset *ds = NULL;
    reco_error err;
    assert_int_equal(reco_dataset_build(r, &bo, &ds, &err), RECO_OK);
    reco_explore *ex = (reco_explore *)1;
    assert_int_equal(reco_explore_compute(ds, &ex, &err), RECO_ERR_EMPTY);
    assert_null(ex);
    assert_non_null(strstr(err.msg, "no ratings"));
    reco_dataset_free(ds);
    reco_ratings_free(r);
    reco_explore_free(NULL);
}

/* ---- checking files ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

static bool exists(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The pixel checks go through libpng's simplified reading API. */
typedef struct png_api {
    void *lib;
#ifdef HAVE_PNG_H
    int (*begin)(png_imagep, const char *);
    int (*finish)(png_imagep, png_const_colorp, void *, png_int_32, void *);
    void (*release)(png_imagep);
#endif
} png_api;

static png_api load_png_api(void)
{
    png_api api;
    memset(&api, 0, sizeof api);
#ifdef HAVE_PNG_H
    static int available;
    api.lib = &available;
    api.begin = png_image_begin_read_from_file;
    api.finish = png_image_finish_read;
    api.release = png_image_free;
#endif
    return api;
}

/* A PNG of the stated size that is not blank: white corners, many colours,
 * ink in the plot area and the palette's first colour somewhere. */
static void check_png(const char *path, unsigned w, unsigned h, const png_api *api)
{
    size_t len = 0;
    unsigned char *b = (unsigned char *)read_file(path, &len);
    if (!b)
        fail_msg("%s is missing", path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(len > 33);
    assert_memory_equal(b, sig, 8);
    assert_memory_equal(b + 12, "IHDR", 4);
    assert_int_equal(be32(b + 16), w);
    assert_int_equal(be32(b + 20), h);
    free(b);
#ifdef HAVE_PNG_H
    if (!api->lib)
        return;
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    assert_true(api->begin(&im, path));
    im.format = PNG_FORMAT_RGB;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(im));
    assert_true(api->finish(&im, NULL, px, 0, NULL));
    assert_int_equal(im.width, w);
    /* White background: the four corners. */
    size_t corners[4] = {0, w - 1, (size_t)(h - 1) * w, (size_t)h * w - 1};
    for (int k = 0; k < 4; k++) {
        const unsigned char *p = px + 3 * corners[k];
        assert_true(p[0] == 255 && p[1] == 255 && p[2] == 255);
    }
    /* Distinct colours (a 2^24-bit set) and ink in the middle 60 %. */
    unsigned char *seen = calloc(1 << 21, 1);
    size_t colours = 0, ink = 0, area = 0, palette = 0;
    uint32_t blue = reco_chart_color(RECO_CHART_BLUE);
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            const unsigned char *p = px + 3 * (y * w + x);
            uint32_t c = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            if (!(seen[c >> 3] & (1 << (c & 7)))) {
                seen[c >> 3] |= (unsigned char)(1 << (c & 7));
                colours++;
            }
            palette += c == blue;
            if (x > w / 5 && x < w * 4 / 5 && y > h / 5 && y < h * 4 / 5) {
                area++;
                ink += c != 0xFFFFFF;
            }
        }
    if (colours < 32 || ink * 100 < area || palette < 10)
        fail_msg("%s looks blank: %zu colours, %zu of %zu plot pixels inked, %zu in the palette's "
                 "blue",
                 path, colours, ink, area, palette);
    free(seen);
    free(px);
    api->release(&im);
#else
    (void)api;
#endif
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void check_svg(const char *path)
{
    char *s = read_file(path, NULL);
    if (!s)
        fail_msg("%s is missing", path);
    assert_non_null(strstr(s, "<svg"));
    assert_non_null(strstr(s, "</svg>"));
    size_t elements = count_str(s, "<path") + count_str(s, "<use") + count_str(s, "<rect");
    if (elements < 50)
        fail_msg("%s has only %zu drawing elements", path, elements);
    free(s);
}

/* Every src="..." and href="..." that names a file exists in dir. */
static void check_html_links(const char *dir, const char *html)
{
    const char *attrs[2] = {"src=\"", "href=\""};
    size_t files = 0;
    for (int a = 0; a < 2; a++)
        for (const char *p = strstr(html, attrs[a]); p; p = strstr(p + 1, attrs[a])) {
            const char *v = p + strlen(attrs[a]);
            const char *e = strchr(v, '"');
            assert_non_null(e);
            if (*v == '#' || !strncmp(v, "http", 4))
                continue;
            char name[256];
            size_t n = (size_t)(e - v);
            assert_true(n > 0 && n < sizeof name);
            memcpy(name, v, n);
            name[n] = '\0';
            assert_null(strchr(name, '/')); /* relative to the report */
            if (!exists(dir, name))
                fail_msg("index.html references %s, which is not in %s", name, dir);
            files++;
        }
    assert_true(files >= 2 * 6 + 1);
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/reco-explore-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
                remove_tree(p);
            else
                unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

/* Runs fn with stderr and stdout sent to a file; returns what was printed. */
static char *capture_output(void (*fn)(void *), void *arg)
{
    char tmpl[] = "/tmp/reco-explore-out-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    close(fd);
    char *text = read_file(tmpl, NULL);
    unlink(tmpl);
    return text;
}

typedef struct report_job {
    const reco_explore *ex;
    const char *dir;
    reco_report_options o;
    reco_status st;
    reco_error err;
} report_job;

static void run_report(void *arg)
{
    report_job *j = arg;
    j->st = reco_report_write(j->ex, j->dir, &j->o, &j->err);
}

static double jnum(json_t *root, const char *path)
{
    /* path: dot-separated keys and array indices ("summary.users"). */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = root;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    if (!v || !json_is_number(v))
        fail_msg("stats.json: %s is not a number", path);
    return json_number_value(v);
}

static void test_fixture_report(void **state)
{
    (void)state;
    reco_explore *ex = explore_text(FIXTURE);
    char *dir = make_tmpdir();
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/new/report", dir); /* created with its parent */
    report_job job = {.ex = ex, .dir = sub};
    reco_report_options_default(&job.o);
    job.o.source = "fixture <&> \"test\".csv";
    char *printed = capture_output(run_report, &job);
    if (job.st)
        fail_msg("report: %s", job.err.msg);
    if (printed[0])
        fail_msg("the library printed: %s", printed);
    free(printed);

    /* stats.json: the hand-computed numbers, written with 6 significant
     * digits (docs/json.md), under the names of the JSON vocabulary. */
    char path[1100];
    snprintf(path, sizeof path, "%s/stats.json", sub);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("stats.json: %s (line %d)", jerr.text, jerr.line);
    assert_string_equal(json_string_value(json_object_get(root, "file")),
                        "fixture <&> \"test\".csv");
    assert_int_equal(jnum(root, "summary.users"), 5);
    assert_int_equal(jnum(root, "summary.items"), 6);
    assert_int_equal(jnum(root, "summary.ratings"), 12);
    assert_float_equal(jnum(root, "summary.density"), 0.4, 0);
    assert_float_equal(jnum(root, "summary.mean"), 3.66667, 0);
    assert_float_equal(jnum(root, "summary.stddev"), 1.0274, 0);
    assert_float_equal(jnum(root, "summary.gini_items"), 0.361111, 0);
    assert_float_equal(jnum(root, "summary.users_with_one_rating_share"), 0.4, 0);
    assert_int_equal(jnum(root, "summary.cold_start.threshold"), 5);
    assert_float_equal(jnum(root, "summary.cold_start.users_share"), 0.8, 1e-9);
    assert_float_equal(jnum(root, "summary.cold_start.items_share"), 0.833333, 0);
    assert_int_equal(jnum(root, "summary.time_first"), 1577836800);
    assert_int_equal(jnum(root, "summary.time_last"), 1588464000);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "summary"), "date_last")),
        "2020-05-03");
    assert_int_equal(jnum(root, "summary.duplicates_removed"), 1);
    assert_int_equal(jnum(root, "summary.bad_lines_skipped"), 1);
    assert_int_equal(jnum(root, "summary.lines"), 14);
    assert_float_equal(jnum(root, "rating_distribution.0.rating"), 2, 0);
    assert_int_equal(jnum(root, "rating_distribution.0.count"), 2);
    assert_float_equal(jnum(root, "rating_distribution.2.share"), 0.333333, 0);
    assert_int_equal(jnum(root, "ratings_per_user.median"), 2);
    assert_int_equal(jnum(root, "ratings_per_user.p99"), 5);
    assert_float_equal(jnum(root, "ratings_per_user.bins.3.users_per_value"), 0.5, 1e-12);
    assert_int_equal(jnum(root, "ratings_per_item.median"), 1);
    assert_float_equal(jnum(root, "ratings_per_item.top_20pct.share"), 0.666667, 0);
    assert_int_equal(jnum(root, "ratings_per_item.rank_curve.1.ratings"), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(root, "top_items"), 2), "item")),
                        "i4");
    assert_int_equal(jnum(root, "activity.2.ratings"), 5);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(root, "activity"), 3), "month")),
                        "2020-04");
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(root, "activity"), 3), "mean")));
    assert_int_equal(jnum(root, "min_ratings_filter.3.threshold"), 4);
    assert_int_equal(jnum(root, "min_ratings_filter.3.users"), 1);
    assert_int_equal(jnum(root, "min_ratings_filter.3.items"), 5);
    assert_int_equal(jnum(root, "min_ratings_filter.1.ratings"), 10);
    assert_int_equal(json_array_size(json_object_get(root, "min_ratings_filter")), 100);
    assert_float_equal(jnum(root, "mean_by_activity.0.mean_of_user_means"), 4, 1e-9);

    /* Every chart: PNG of the stated size, not blank; SVG with content;
     * referenced from index.html. */
    json_t *charts = json_object_get(root, "charts");
    assert_int_equal(json_array_size(charts), RECO_REPORT_N_CHARTS);
    snprintf(path, sizeof path, "%s/index.html", sub);
    char *html = read_file(path, NULL);
    assert_non_null(html);
    png_api api = load_png_api();
    for (size_t i = 0; i < json_array_size(charts); i++) {
        json_t *c = json_array_get(charts, i);
        const char *png = json_string_value(json_object_get(c, "png"));
        const char *svg = json_string_value(json_object_get(c, "svg"));
        assert_string_equal(json_string_value(json_object_get(c, "name")),
                            reco_report_chart_names[i]);
        unsigned w = (unsigned)json_integer_value(json_object_get(c, "width"));
        unsigned h = (unsigned)json_integer_value(json_object_get(c, "height"));
        assert_int_equal(w, 800);
        assert_int_equal(h, 500);
        char q[1200];
        snprintf(q, sizeof q, "%s/%s", sub, png);
        check_png(q, w, h, &api);
        snprintf(q, sizeof q, "%s/%s", sub, svg);
        check_svg(q);
        snprintf(q, sizeof q, "src=\"%s\"", png);
        assert_non_null(strstr(html, q));
        snprintf(q, sizeof q, "href=\"%s\"", svg);
        assert_non_null(strstr(html, q));
    }
    check_html_links(sub, html);
    /* The source name is escaped, IDs appear in the top table. */
    assert_non_null(strstr(html, "fixture &lt;&amp;&gt; &quot;test&quot;.csv"));
    assert_null(strstr(html, "fixture <&>"));
    assert_non_null(strstr(html, "<td style=\"text-align:left\">i4</td>"));
    assert_non_null(strstr(html, "fewer than 5 ratings")); /* the cold-start definition */
    free(html);
    json_decref(root);

    /* --json text is the file's text. */
    char *text = NULL;
    reco_error err;
    assert_int_equal(reco_report_json(ex, &job.o, &text, &err), RECO_OK);
    snprintf(path, sizeof path, "%s/stats.json", sub);
    char *file = read_file(path, NULL);
    size_t tl = strlen(text);
    assert_true(strlen(file) == tl + 1 && !memcmp(file, text, tl));
    free(file);
    free(text);

    reco_explore_free(ex);
    remove_tree(dir);
    free(dir);
}

static void test_report_without_timestamps(void **state)
{
    (void)state;
    reco_explore *ex = explore_text("a,x,4\na,y,5\nb,x,3\nc,z,1\nc,x,2\n");
    assert_int_equal(ex->n_months, 0);
    assert_non_null(ex->time_note);
    char *dir = make_tmpdir();
    reco_report_options o;
    reco_report_options_default(&o);
    o.chart_width = 640;
    o.chart_height = 400;
    reco_error err;
    if (reco_report_write(ex, dir, &o, &err))
        fail_msg("report: %s", err.msg);
    assert_false(exists(dir, "activity.png"));
    char path[1100];
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *html = read_file(path, NULL);
    assert_null(strstr(html, "\"activity.png\""));
    assert_non_null(strstr(html, "no timestamps"));
    check_html_links(dir, html);
    free(html);
    snprintf(path, sizeof path, "%s/stats.json", dir);
    json_t *root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    assert_true(json_is_null(json_object_get(root, "activity")));
    assert_int_equal(json_array_size(json_object_get(root, "charts")), RECO_REPORT_N_CHARTS - 1);
    json_decref(root);
    png_api api = load_png_api();
    snprintf(path, sizeof path, "%s/top_products.png", dir);
    check_png(path, 640, 400, &api);
    reco_explore_free(ex);
    remove_tree(dir);
    free(dir);
}

static void test_report_errors(void **state)
{
    (void)state;
    reco_explore *ex = explore_text("a,x,4\nb,x,5\n");
    reco_report_options o;
    reco_report_options_default(&o);
    reco_error err;
    o.chart_width = 10;
    assert_int_equal(reco_report_write(ex, "/tmp", &o, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "width"));
    reco_report_options_default(&o);
    /* A directory that cannot be made: under a regular file. */
    char *f = test_write_temp("x", 1);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/report", f);
    assert_int_equal(reco_report_write(ex, sub, &o, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, f));
    unlink(f);
    free(f);
    reco_explore_free(ex);
}

/* ---- the chart layer alone ---- */

static void test_chart_errors(void **state)
{
    (void)state;
    double x[3] = {1, 2, 3}, y[3] = {1, 4, 9};
    reco_chart_series s = {.style = RECO_CHART_LINE, .n = 3, .x = x, .y = y};
    reco_chart_panel p = {0};
    p.series = &s;
    p.n_series = 1;
    reco_chart c = {"t", 800, 500, &p, 1};
    reco_error err;
    char *dir = make_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/c.png", dir);

    reco_chart bad = c;
    bad.n_panels = 0;
    assert_int_equal(reco_chart_write(&bad, RECO_CHART_PNG, path, &err), RECO_ERR_INVALID);
    bad = c;
    bad.width = 50;
    assert_int_equal(reco_chart_write(&bad, RECO_CHART_PNG, path, &err), RECO_ERR_INVALID);
    reco_chart_series nob = {.style = RECO_CHART_BARS, .n = 3, .x = x, .y = y};
    reco_chart_panel pb = {0};
    pb.series = &nob;
    pb.n_series = 1;
    bad.width = 800;
    bad.panels = &pb;
    assert_int_equal(reco_chart_write(&bad, RECO_CHART_PNG, path, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "lo and hi"));
    assert_int_equal(reco_chart_write(&c, (reco_chart_format)7, path, &err), RECO_ERR_INVALID);
    assert_false(exists(dir, "c.png"));
    snprintf(path, sizeof path, "%s/no/such/dir/c.png", dir);
    assert_int_equal(reco_chart_write(&c, RECO_CHART_PNG, path, &err), RECO_ERR_IO);

    /* Log axes drop values they cannot show; the chart is still drawn. */
    double yz[3] = {0, -1, 10};
    reco_chart_series sz = {.style = RECO_CHART_LINE_POINTS, .n = 3, .x = x, .y = yz};
    reco_chart_panel pl = {0};
    pl.series = &sz;
    pl.n_series = 1;
    pl.y.log = true;
    pl.x.log = true;
    reco_chart lc = {"log", 400, 300, &pl, 1};
    snprintf(path, sizeof path, "%s/log.svg", dir);
    assert_int_equal(reco_chart_write(&lc, RECO_CHART_SVG, path, &err), RECO_OK);
    assert_true(exists(dir, "log.svg"));
    remove_tree(dir);
    free(dir);
}

static void test_fmt_thousands(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(reco_fmt_thousands(0, 0, b, sizeof b), "0");
    assert_string_equal(reco_fmt_thousands(999, 0, b, sizeof b), "999");
    assert_string_equal(reco_fmt_thousands(1000, 0, b, sizeof b), "1,000");
    assert_string_equal(reco_fmt_thousands(7824482, 0, b, sizeof b), "7,824,482");
    assert_string_equal(reco_fmt_thousands(-1234567.25, 2, b, sizeof b), "-1,234,567.25");
    assert_string_equal(reco_fmt_thousands(0.001, 3, b, sizeof b), "0.001");
    assert_string_equal(reco_fmt_thousands(-0.0001, 2, b, sizeof b), "0.00");
    assert_string_equal(reco_fmt_thousands(123456, 0, b, 4), "123"); /* truncated, terminated */
    assert_string_equal(reco_fmt_thousands(NAN, 0, b, sizeof b), "n/a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_numbers),
        cmocka_unit_test(test_against_brute_force),
        cmocka_unit_test(test_empty_dataset),
        cmocka_unit_test(test_fixture_report),
        cmocka_unit_test(test_report_without_timestamps),
        cmocka_unit_test(test_report_errors),
        cmocka_unit_test(test_chart_errors),
        cmocka_unit_test(test_fmt_thousands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
