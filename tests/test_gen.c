/* Tests for the synthetic rating generator (reco/gen.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/gen.h"
#include "testutil.h"

/* One parsed line; fields point into the generated buffer. */
typedef struct line {
    const char *user, *item;
    size_t ulen, ilen;
    int star;
    long long ts;
} line;

typedef struct out {
    char *buf;
    size_t len;
    line *lines;
    size_t n;
} out;

static reco_status gen_to(const reco_gen_params *p, char **buf, size_t *len, reco_error *err)
{
    FILE *f = open_memstream(buf, len);
    assert_non_null(f);
    reco_progress none = {0};
    reco_status st = reco_gen_write(p, f, none, err);
    assert_int_equal(fclose(f), 0);
    return st;
}

/* Generates p and splits the lines, checking the field format on the way. */
static void gen_parse(const reco_gen_params *p, out *o)
{
    reco_error err;
    reco_error_clear(&err);
    reco_status st = gen_to(p, &o->buf, &o->len, &err);
    if (st)
        print_error("reco_gen_write: %s\n", err.msg);
    assert_int_equal(st, RECO_OK);
    o->lines = malloc(p->n_ratings * sizeof *o->lines);
    assert_non_null(o->lines);
    o->n = 0;
    char *s = o->buf, *end = o->buf + o->len;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        assert_non_null(nl); /* every line ends in \n */
        assert_true(o->n < p->n_ratings);
        line *l = &o->lines[o->n++];
        char *c1 = memchr(s, ',', (size_t)(nl - s));
        assert_non_null(c1);
        char *c2 = memchr(c1 + 1, ',', (size_t)(nl - c1 - 1));
        assert_non_null(c2);
        char *c3 = memchr(c2 + 1, ',', (size_t)(nl - c2 - 1));
        assert_non_null(c3);
        l->user = s;
        l->ulen = (size_t)(c1 - s);
        l->item = c1 + 1;
        l->ilen = (size_t)(c2 - c1 - 1);
        /* rating written like 5.0 */
        assert_int_equal(c3 - c2 - 1, 3);
        assert_true(c2[1] >= '1' && c2[1] <= '5');
        assert_true(c2[2] == '.' && c2[3] == '0');
        l->star = c2[1] - '0';
        l->ts = 0;
        assert_true(nl - c3 - 1 >= 1 && nl - c3 - 1 <= 18);
        for (char *t = c3 + 1; t < nl; t++) {
            assert_true(*t >= '0' && *t <= '9');
            l->ts = l->ts * 10 + (*t - '0');
        }
        s = nl + 1;
    }
    assert_int_equal(o->n, p->n_ratings);
}

static void out_free(out *o)
{
    free(o->buf);
    free(o->lines);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Number of distinct strings among n (sorted in place). */
static size_t count_distinct(char **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_str);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            d++;
    return d;
}

static char *dup_field(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    assert_non_null(r);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

static void sample_params(reco_gen_params *p, uint64_t seed)
{
    reco_gen_params_default(p);
    assert_int_equal(reco_gen_params_preset(p, "sample", NULL), RECO_OK);
    p->seed = seed;
}

static void test_deterministic(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 7);
    char *a, *b, *c;
    size_t la, lb, lc;
    assert_int_equal(gen_to(&p, &a, &la, NULL), RECO_OK);
    assert_int_equal(gen_to(&p, &b, &lb, NULL), RECO_OK);
    p.threads = 1; /* the thread count must not change a byte */
    assert_int_equal(gen_to(&p, &c, &lc, NULL), RECO_OK);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(la, lc);
    assert_memory_equal(a, c, la);
    p.threads = 3;
    free(c);
    assert_int_equal(gen_to(&p, &c, &lc, NULL), RECO_OK);
    assert_int_equal(la, lc);
    assert_memory_equal(a, c, la);
    free(a);
    free(b);
    free(c);
}

static void test_seed_differs(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 1);
    char *a, *b;
    size_t la, lb;
    assert_int_equal(gen_to(&p, &a, &la, NULL), RECO_OK);
    p.seed = 2;
    assert_int_equal(gen_to(&p, &b, &lb, NULL), RECO_OK);
    assert_true(la != lb || memcmp(a, b, la) != 0);
    /* and not just a little: the first lines already differ */
    assert_true(memcmp(a, b, 200) != 0);
    free(a);
    free(b);
}

static void test_sample_shape(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 1);
    out o;
    gen_parse(&p, &o);
    assert_true(o.len < 2000000); /* the README sample stays small */

    /* histogram within 2 points of the target */
    static const double target[5] = {11.5, 5.8, 8.1, 19.0, 55.6};
    size_t h[6] = {0};
    for (size_t i = 0; i < o.n; i++)
        h[o.lines[i].star]++;
    for (int s = 1; s <= 5; s++) {
        double pct = 100.0 * (double)h[s] / (double)o.n;
        assert_true(fabs(pct - target[s - 1]) <= 2.0);
    }

    /* IDs: users A + 13 of [0-9A-Z]; products 10 digits or B00 + 7 of
     * [0-9A-Z]; at least one all-digit ASIN with a leading zero */
    bool lead0 = false;
    size_t nb = 0;
    for (size_t i = 0; i < o.n; i++) {
        const line *l = &o.lines[i];
        assert_int_equal(l->ulen, 14);
        assert_int_equal(l->user[0], 'A');
        for (size_t k = 1; k < 14; k++)
            assert_true((l->user[k] >= '0' && l->user[k] <= '9') ||
                        (l->user[k] >= 'A' && l->user[k] <= 'Z'));
        assert_int_equal(l->ilen, 10);
        if (l->item[0] == 'B') {
            nb++;
            assert_true(l->item[1] == '0' && l->item[2] == '0');
            for (size_t k = 3; k < 10; k++)
                assert_true((l->item[k] >= '0' && l->item[k] <= '9') ||
                            (l->item[k] >= 'A' && l->item[k] <= 'Z'));
        } else {
            for (size_t k = 0; k < 10; k++)
                assert_true(l->item[k] >= '0' && l->item[k] <= '9');
            if (l->item[0] == '0')
                lead0 = true;
        }
    }
    assert_true(lead0);
    assert_true(nb > o.n / 2);

    /* sorted by product (byte order), as the real file */
    for (size_t i = 1; i < o.n; i++)
        assert_true(memcmp(o.lines[i - 1].item, o.lines[i].item, 10) <= 0);

    /* timestamps: midnights within 1998-01-01 .. 2014-07-31, later years denser */
    size_t late = 0;
    for (size_t i = 0; i < o.n; i++) {
        assert_true(o.lines[i].ts >= p.t_start && o.lines[i].ts <= p.t_end);
        assert_int_equal(o.lines[i].ts % 86400, 0);
        if (o.lines[i].ts >= 1325376000) /* 2012 on */
            late++;
    }
    assert_true(late > o.n / 2);

    /* exactly n_users users and n_items products (so the IDs of distinct
     * entities never collide), and no repeated (user, product) pair */
    char **u = malloc(o.n * sizeof *u), **it = malloc(o.n * sizeof *it);
    char **pair = malloc(o.n * sizeof *pair);
    assert_true(u && it && pair);
    for (size_t i = 0; i < o.n; i++) {
        u[i] = dup_field(o.lines[i].user, 14);
        it[i] = dup_field(o.lines[i].item, 10);
        pair[i] = dup_field(o.lines[i].user, 25); /* "user,item" */
    }
    assert_int_equal(count_distinct(u, o.n), p.n_users);
    assert_int_equal(count_distinct(it, o.n), p.n_items);
    assert_int_equal(count_distinct(pair, o.n), o.n);

    /* enough users with 20+ ratings for collaborative filtering */
    size_t u20 = 0, run = 1;
    for (size_t i = 1; i <= o.n; i++) {
        if (i < o.n && strcmp(u[i], u[i - 1]) == 0) {
            run++;
            continue;
        }
        if (run >= 20)
            u20++;
        run = 1;
    }
    assert_true(u20 >= 300);
    for (size_t i = 0; i < o.n; i++) {
        free(u[i]);
        free(it[i]);
        free(pair[i]);
    }
    free(u);
    free(it);
    free(pair);
    out_free(&o);
}

/* The electronics shape at a tenth of the size: most users rate once, some
 * rate 50+ times, and a few products are very popular. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t hash_field(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void test_heavy_tail(void **state)
{
    (void)state;
    reco_gen_params p;
    reco_gen_params_default(&p);
    assert_int_equal(reco_gen_params_preset(&p, "electronics", NULL), RECO_OK);
    p.n_ratings /= 10;
    p.n_users /= 10;
    p.n_items /= 10;
    p.max_item_ratings /= 10;
    out o;
    gen_parse(&p, &o);
    uint64_t *h = malloc(o.n * sizeof *h);
    assert_non_null(h);
    for (size_t i = 0; i < o.n; i++)
        h[i] = hash_field(o.lines[i].user, 14);
    qsort(h, o.n, sizeof *h, cmp_u64);
    size_t users = 0, ones = 0, over50 = 0, max = 0;
    for (size_t i = 0; i < o.n;) {
        size_t j = i;
        while (j < o.n && h[j] == h[i])
            j++;
        users++;
        ones += j - i == 1;
        over50 += j - i >= 50;
        if (j - i > max)
            max = j - i;
        i = j;
    }
    assert_int_equal(users, p.n_users);
    assert_true(ones > users / 2);            /* most users rate once */
    assert_true(over50 >= 50 && over50 <= 500); /* ~150 expected at this size */
    assert_true(max <= p.max_user_ratings);
    /* products: the file is sorted by product, so runs are products */
    size_t items = 0, pmax = 0, pone = 0;
    for (size_t i = 0; i < o.n;) {
        size_t j = i;
        while (j < o.n && memcmp(o.lines[j].item, o.lines[i].item, 10) == 0)
            j++;
        items++;
        pone += j - i == 1;
        if (j - i > pmax)
            pmax = j - i;
        i = j;
    }
    assert_int_equal(items, p.n_items);
    assert_true(pmax > 50 * (o.n / items)); /* Zipf-like head */
    assert_true(pone > items / 10);          /* long tail of one-rating products */
    free(h);
    out_free(&o);
}

/* Collaborative filtering has signal: user and item biases learned on 80%
 * predict the other 20% clearly better than the global mean. */
static void test_learnable(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 3);
    out o;
    gen_parse(&p, &o);
    /* dense indices: users by sorted hash, items by run (sorted file) */
    size_t n = o.n;
    uint64_t *uh = malloc(n * sizeof *uh), *us = malloc(n * sizeof *us);
    uint32_t *ui = malloc(n * sizeof *ui), *ii = malloc(n * sizeof *ii);
    assert_true(uh && us && ui && ii);
    for (size_t i = 0; i < n; i++)
        uh[i] = us[i] = hash_field(o.lines[i].user, 14);
    qsort(us, n, sizeof *us, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = n - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (us[mid] < uh[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        ui[i] = (uint32_t)lo; /* index of the first equal hash: unique per user */
    }
    uint32_t item = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(o.lines[i].item, o.lines[i - 1].item, 10) != 0)
            item++;
        ii[i] = item;
    }
    double *bu = calloc(n, sizeof *bu), *bi = calloc(item + 1, sizeof *bi);
    double *su = calloc(n, sizeof *su), *si = calloc(item + 1, sizeof *si);
    size_t *cu = calloc(n, sizeof *cu), *ci = calloc(item + 1, sizeof *ci);
    assert_true(bu && bi && su && si && cu && ci);
    double mu = 0;
    size_t ntr = 0;
    for (size_t i = 0; i < n; i++)
        if (i % 5) {
            mu += o.lines[i].star;
            ntr++;
        }
    mu /= (double)ntr;
    for (int it = 0; it < 5; it++) { /* alternating damped bias fits */
        memset(si, 0, (item + 1) * sizeof *si);
        memset(ci, 0, (item + 1) * sizeof *ci);
        for (size_t i = 0; i < n; i++)
            if (i % 5) {
                si[ii[i]] += o.lines[i].star - mu - bu[ui[i]];
                ci[ii[i]]++;
            }
        for (uint32_t j = 0; j <= item; j++)
            bi[j] = si[j] / ((double)ci[j] + 5);
        memset(su, 0, n * sizeof *su);
        memset(cu, 0, n * sizeof *cu);
        for (size_t i = 0; i < n; i++)
            if (i % 5) {
                su[ui[i]] += o.lines[i].star - mu - bi[ii[i]];
                cu[ui[i]]++;
            }
        for (size_t u = 0; u < n; u++)
            bu[u] = cu[u] ? su[u] / ((double)cu[u] + 5) : 0;
    }
    double e0 = 0, e1 = 0;
    size_t nte = 0;
    for (size_t i = 0; i < n; i += 5) {
        double r = o.lines[i].star;
        double pr = mu + bu[ui[i]] + bi[ii[i]];
        pr = pr < 1 ? 1 : pr > 5 ? 5 : pr;
        e0 += (r - mu) * (r - mu);
        e1 += (r - pr) * (r - pr);
        nte++;
    }
    double rmse0 = sqrt(e0 / (double)nte), rmse1 = sqrt(e1 / (double)nte);
    print_message("global mean RMSE %.3f, biases RMSE %.3f\n", rmse0, rmse1);
    assert_true(rmse1 < 0.9 * rmse0);
    free(uh);
    free(us);
    free(ui);
    free(ii);
    free(bu);
    free(bi);
    free(su);
    free(si);
    free(cu);
    free(ci);
    out_free(&o);
}

/* ---- taste in choice ---- */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* taste = 0 is the random matching of earlier versions, byte for byte: the
 * hash is that of data/sample.csv as they made it (--preset sample --seed 1). */
static void test_taste_zero_is_previous_output(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 1);
    p.taste = 0;
    char *a;
    size_t la;
    assert_int_equal(gen_to(&p, &a, &la, NULL), RECO_OK);
    assert_int_equal(la, 1639886);
    assert_true(fnv1a(a, la) == 0x9968ddd504c0fb07ULL);
    free(a);
}

typedef struct tally {
    size_t n;
    uint64_t *user_deg;  /* sorted (user hash << 20 | degree) */
    uint64_t *item_deg;  /* (item hash << 20 | count), sorted */
    size_t nu, ni;
    size_t hist[6];
} tally;

/* Per-user and per-product counts of a generated file (degrees < 2^20). */
static void tally_of(const out *o, tally *t)
{
    memset(t, 0, sizeof *t);
    uint64_t *h = malloc(o->n * sizeof *h);
    t->user_deg = malloc(o->n * sizeof *t->user_deg);
    t->item_deg = malloc(o->n * sizeof *t->item_deg);
    assert_true(h && t->user_deg && t->item_deg);
    for (size_t i = 0; i < o->n; i++) {
        h[i] = hash_field(o->lines[i].user, 14) >> 20;
        t->hist[o->lines[i].star]++;
    }
    qsort(h, o->n, sizeof *h, cmp_u64);
    for (size_t i = 0; i < o->n;) {
        size_t j = i;
        while (j < o->n && h[j] == h[i])
            j++;
        t->user_deg[t->nu++] = h[i] << 20 | (j - i);
        i = j;
    }
    for (size_t i = 0; i < o->n;) { /* sorted by product: runs */
        size_t j = i;
        while (j < o->n && memcmp(o->lines[j].item, o->lines[i].item, 10) == 0)
            j++;
        t->item_deg[t->ni++] = hash_field(o->lines[i].item, 10) >> 20 << 20 | (j - i);
        i = j;
    }
    qsort(t->item_deg, t->ni, sizeof *t->item_deg, cmp_u64);
    t->n = o->n;
    free(h);
}

static void tally_free(tally *t)
{
    free(t->user_deg);
    free(t->item_deg);
}

/* Taste changes which products users rate, nothing else: every user's and
 * product's number of ratings, the star histogram, the IDs and the file
 * order stay those of the random matching; no pair repeats (also at the
 * extreme taste = 1, where a user's ratings all aim at one spot). */
static void test_taste_keeps_degrees(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 4);
    p.taste = 0;
    out o0;
    gen_parse(&p, &o0);
    tally t0;
    tally_of(&o0, &t0);
    const double tastes[3] = {0.3, RECO_GEN_TASTE_DEFAULT, 1.0};
    for (int k = 0; k < 3; k++) {
        p.taste = tastes[k];
        out o;
        gen_parse(&p, &o);
        tally t;
        tally_of(&o, &t);
        assert_int_equal(t.nu, p.n_users);
        assert_int_equal(t.ni, p.n_items);
        assert_memory_equal(t.user_deg, t0.user_deg, t.nu * sizeof *t.user_deg);
        assert_memory_equal(t.item_deg, t0.item_deg, t.ni * sizeof *t.item_deg);
        assert_memory_equal(t.hist, t0.hist, sizeof t.hist);
        /* same products in the same order, same timestamps */
        for (size_t i = 0; i < o.n; i++) {
            assert_memory_equal(o.lines[i].item, o0.lines[i].item, 10);
            assert_true(o.lines[i].ts == o0.lines[i].ts);
        }
        char **pair = malloc(o.n * sizeof *pair);
        assert_non_null(pair);
        for (size_t i = 0; i < o.n; i++)
            pair[i] = dup_field(o.lines[i].user, 25);
        assert_int_equal(count_distinct(pair, o.n), o.n);
        for (size_t i = 0; i < o.n; i++)
            free(pair[i]);
        free(pair);
        tally_free(&t);
        out_free(&o);
    }
    tally_free(&t0);
    out_free(&o0);
}

/* The co-rating statistic of docs/synthetic-data.md: the share of
 * (user, product pair) instances whose pair another user also rated.
 * users[i], items[i]: dense indices of rating i, no repeated pair. */
static double shared_share(const uint32_t *users, const uint32_t *items, size_t n)
{
    uint64_t *r = malloc(n * sizeof *r);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++)
        r[i] = (uint64_t)users[i] << 32 | items[i];
    qsort(r, n, sizeof *r, cmp_u64);
    size_t np = 0, cap = 1 << 16;
    uint64_t *pairs = malloc(cap * sizeof *pairs);
    assert_non_null(pairs);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && r[j] >> 32 == r[i] >> 32)
            j++;
        for (size_t a = i; a < j; a++)
            for (size_t b = a + 1; b < j; b++) {
                if (np == cap) {
                    cap *= 2;
                    pairs = realloc(pairs, cap * sizeof *pairs);
                    assert_non_null(pairs);
                }
                pairs[np++] = (r[a] & 0xffffffffu) << 32 | (r[b] & 0xffffffffu);
            }
        i = j;
    }
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    size_t shared = 0;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j] == pairs[i])
            j++;
        if (j - i >= 2)
            shared += j - i;
        i = j;
    }
    free(pairs);
    free(r);
    return np ? (double)shared / (double)np : 0;
}

/* Lift of the shared share over its mean on 3 random rematchings of the
 * same ratings that keep every degree and every user's mix of popular and
 * niche products: products shuffled across the ratings of products in the
 * same half-octave of popularity, repeated pairs dropped. This is what the
 * degrees alone explain (taste also steers heavy users to niche products:
 * one user rates a product once, so a user's ratings near one spot of taste
 * spill over to its smaller products, as on the real file). */
static double corating_lift(const out *o)
{
    size_t n = o->n;
    uint64_t *uh = malloc(n * sizeof *uh), *us = malloc(n * sizeof *us);
    uint32_t *ui = malloc(n * sizeof *ui), *ii = malloc(n * sizeof *ii);
    uint32_t *sh = malloc(n * sizeof *sh), *su = malloc(n * sizeof *su);
    assert_true(uh && us && ui && ii && sh && su);
    for (size_t i = 0; i < n; i++)
        uh[i] = us[i] = hash_field(o->lines[i].user, 14);
    qsort(us, n, sizeof *us, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = n - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (us[mid] < uh[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        ui[i] = (uint32_t)lo;
    }
    uint32_t item = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(o->lines[i].item, o->lines[i - 1].item, 10) != 0)
            item++;
        ii[i] = item;
    }
    double obs = shared_share(ui, ii, n), null = 0;
    /* the ratings ordered by popularity class: runs to shuffle within */
    size_t *cnt = calloc(item + 1, sizeof *cnt);
    uint64_t *byc = malloc(n * sizeof *byc);
    assert_true(cnt && byc);
    for (size_t i = 0; i < n; i++)
        cnt[ii[i]]++;
    for (size_t i = 0; i < n; i++)
        byc[i] = (uint64_t)floor(2 * log2((double)cnt[ii[i]])) << 32 | i;
    qsort(byc, n, sizeof *byc, cmp_u64);
    uint64_t x = 12345;
    for (int r = 0; r < 3; r++) {
        memcpy(sh, ii, n * sizeof *sh);
        for (size_t a = 0; a < n;) {
            size_t b = a;
            while (b < n && byc[b] >> 32 == byc[a] >> 32)
                b++;
            for (size_t i = b - 1; i > a; i--) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t j = a + (size_t)((x >> 33) % (i - a + 1));
                uint32_t ri = (uint32_t)byc[i], rj = (uint32_t)byc[j];
                uint32_t t = sh[ri];
                sh[ri] = sh[rj];
                sh[rj] = t;
            }
            a = b;
        }
        /* drop repeated pairs */
        uint64_t *k = malloc(n * sizeof *k);
        assert_non_null(k);
        for (size_t i = 0; i < n; i++)
            k[i] = (uint64_t)ui[i] << 32 | sh[i];
        qsort(k, n, sizeof *k, cmp_u64);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || k[i] != k[i - 1]) {
                su[m] = (uint32_t)(k[i] >> 32);
                sh[m] = (uint32_t)k[i];
                m++;
            }
        free(k);
        null += shared_share(su, sh, m) / 3;
    }
    free(cnt);
    free(byc);
    free(uh);
    free(us);
    free(ui);
    free(ii);
    free(sh);
    free(su);
    return obs / null;
}

/* Sparse, electronics-like data (most users rate once, heavy tails):
 * without taste, co-rating is what the degrees explain; with the default
 * taste, users who rate one product also rate the same others far more
 * often than chance, and more taste gives more. */
static void test_taste_corating(void **state)
{
    (void)state;
    reco_gen_params p;
    reco_gen_params_default(&p);
    assert_int_equal(reco_gen_params_preset(&p, "electronics", NULL), RECO_OK);
    p.n_ratings = 120000;
    p.n_users = 60000;
    p.n_items = 30000;
    p.max_user_ratings = 100;
    p.max_item_ratings = 1500;
    const double tastes[3] = {0, 0.6, RECO_GEN_TASTE_DEFAULT};
    double lift[3];
    for (int k = 0; k < 3; k++) {
        p.taste = tastes[k];
        out o;
        gen_parse(&p, &o);
        lift[k] = corating_lift(&o);
        print_message("taste %.2f: co-rating lift %.3f\n", tastes[k], lift[k]);
        out_free(&o);
    }
    assert_true(lift[0] > 0.9 && lift[0] < 1.1); /* dropped repeats bias the null a little */
    assert_true(lift[1] > 1.1);
    assert_true(lift[2] > 2.0);
    assert_true(lift[2] > lift[1] + 0.5);
}

/* Tiny and complete inputs still place every rating exactly once. */
static void test_small_and_dense(void **state)
{
    (void)state;
    reco_gen_params p;
    reco_gen_params_default(&p);
    p.n_users = 1;
    p.n_items = 1;
    p.n_ratings = 1;
    p.max_user_ratings = 0; /* automatic */
    p.max_item_ratings = 0;
    out o;
    gen_parse(&p, &o);
    out_free(&o);

    p.n_users = 7;
    p.n_items = 5;
    p.n_ratings = 35; /* every pair */
    gen_parse(&p, &o);
    char **pair = malloc(o.n * sizeof *pair);
    assert_non_null(pair);
    for (size_t i = 0; i < o.n; i++)
        pair[i] = dup_field(o.lines[i].user, 25);
    assert_int_equal(count_distinct(pair, o.n), 35);
    for (size_t i = 0; i < o.n; i++)
        free(pair[i]);
    free(pair);
    out_free(&o);

    p.n_users = 300;
    p.n_items = 40;
    p.n_ratings = 6000; /* half of all pairs */
    gen_parse(&p, &o);
    pair = malloc(o.n * sizeof *pair);
    assert_non_null(pair);
    for (size_t i = 0; i < o.n; i++)
        pair[i] = dup_field(o.lines[i].user, 25);
    assert_int_equal(count_distinct(pair, o.n), 6000);
    for (size_t i = 0; i < o.n; i++)
        free(pair[i]);
    free(pair);
    out_free(&o);
}

static void expect_invalid(const reco_gen_params *p, const char *needle)
{
    reco_error err;
    reco_error_clear(&err);
    assert_int_equal(reco_gen_params_check(p, &err), RECO_ERR_INVALID);
    assert_int_equal(err.code, RECO_ERR_INVALID);
    if (!strstr(err.msg, needle))
        print_error("message \"%s\" lacks \"%s\"\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
    /* and reco_gen_write refuses without writing */
    char *buf;
    size_t len;
    assert_int_equal(gen_to(p, &buf, &len, NULL), RECO_ERR_INVALID);
    assert_int_equal(len, 0);
    free(buf);
}

static void test_params_check(void **state)
{
    (void)state;
    reco_gen_params p, d;
    reco_gen_params_default(&d);
    assert_int_equal(reco_gen_params_check(&d, NULL), RECO_OK);
    reco_gen_params e = d;
    assert_int_equal(reco_gen_params_preset(&e, "electronics", NULL), RECO_OK);
    assert_int_equal(reco_gen_params_check(&e, NULL), RECO_OK);
    assert_int_equal(e.n_ratings, 7824482);
    assert_int_equal(e.n_users, 4201696);
    assert_int_equal(e.n_items, 476002);
    assert_true(d.taste == RECO_GEN_TASTE_DEFAULT && e.taste == RECO_GEN_TASTE_DEFAULT);

    reco_error err;
    p = d;
    assert_int_equal(reco_gen_params_preset(&p, "movies", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "movies"));
    assert_memory_equal(&p, &d, sizeof p); /* unchanged */

    p = d;
    p.n_users = 0;
    expect_invalid(&p, "n_users");
    p = d;
    p.n_ratings = p.n_users - 1;
    expect_invalid(&p, "at least n_users");
    p = d;
    p.n_users = 10;
    p.n_items = 10;
    p.n_ratings = 101;
    p.max_user_ratings = p.max_item_ratings = 0;
    expect_invalid(&p, "pairs");
    p = d;
    p.n_ratings = 2000000000ULL;
    expect_invalid(&p, "limit");
    p = d;
    p.factors = 0;
    expect_invalid(&p, "factors");
    p = d;
    p.noise = -1;
    expect_invalid(&p, "noise");
    p = d;
    p.noise = NAN;
    expect_invalid(&p, "noise");
    p = d;
    p.taste = 1.5;
    expect_invalid(&p, "taste");
    p = d;
    p.taste = NAN;
    expect_invalid(&p, "taste");
    p = d;
    p.user_sigma = 9;
    expect_invalid(&p, "user_sigma");
    p = d;
    p.item_sigma = -0.5;
    expect_invalid(&p, "item_sigma");
    p = d;
    p.max_user_ratings = 5; /* 1,500 users * 5 < 40,000 */
    expect_invalid(&p, "max_user_ratings");
    p = d;
    p.max_item_ratings = p.n_users + 1;
    expect_invalid(&p, "max_item_ratings");
    p = d;
    memset(p.hist, 0, sizeof p.hist);
    expect_invalid(&p, "histogram");
    p = d;
    p.hist[2] = -1;
    expect_invalid(&p, "hist[3]");
    p = d;
    p.t_end = p.t_start - 1;
    expect_invalid(&p, "t_start");
    p = d;
    p.threads = -2;
    expect_invalid(&p, "threads");
}

/* A custom histogram (one star unused) and time range are honoured. */
static void test_custom_hist_and_time(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 5);
    double hist[5] = {10, 0, 20, 30, 40};
    memcpy(p.hist, hist, sizeof hist);
    p.t_start = 1500000000;
    p.t_end = 1500000000 + 10 * 86400;
    out o;
    gen_parse(&p, &o);
    size_t h[6] = {0};
    for (size_t i = 0; i < o.n; i++) {
        h[o.lines[i].star]++;
        assert_true(o.lines[i].ts >= p.t_start && o.lines[i].ts <= p.t_end);
        assert_int_equal((o.lines[i].ts - p.t_start) % 86400, 0);
    }
    assert_int_equal(h[2], 0);
    for (int s = 1; s <= 5; s++)
        assert_true(fabs(100.0 * (double)h[s] / (double)o.n - hist[s - 1]) <= 0.5);
    out_free(&o);
}

static void progress_cb(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    uint64_t *last = ctx;
    if (!strcmp(stage, "write")) {
        assert_true(done <= total);
        assert_true(done >= last[0]);
        last[0] = done;
        last[1] = total;
    }
}

static void test_progress_and_io_error(void **state)
{
    (void)state;
    reco_gen_params p;
    sample_params(&p, 1);
    uint64_t last[2] = {0, 0};
    reco_progress prog = {progress_cb, last};
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(reco_gen_write(&p, f, prog, NULL), RECO_OK);
    fclose(f);
    assert_int_equal(last[0], p.n_ratings);
    assert_int_equal(last[1], p.n_ratings);

    /* A stream open for reading refuses every write (EBADF). */
    f = fopen(RECO_TEST_DIR "/test_gen.c", "r");
    assert_non_null(f);
    reco_error err;
    reco_progress none = {0};
    assert_int_equal(reco_gen_write(&p, f, none, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, "write"));
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_seed_differs),
        cmocka_unit_test(test_sample_shape),
        cmocka_unit_test(test_heavy_tail),
        cmocka_unit_test(test_learnable),
        cmocka_unit_test(test_taste_zero_is_previous_output),
        cmocka_unit_test(test_taste_keeps_degrees),
        cmocka_unit_test(test_taste_corating),
        cmocka_unit_test(test_small_and_dense),
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_custom_hist_and_time),
        cmocka_unit_test(test_progress_and_io_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
