/* reco explore on MovieLens 100K (../shared/data/ml-100k/u.data): the
 * report's numbers against figures computed independently from the file,
 * and the report's files. Skipped (77) when the data is absent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reco/dataset.h"
#include "reco/explore.h"
#include "testutil.h"

/* Under AddressSanitizer: fontconfig (used by pango, used by PLplot's cairo
 * driver) keeps font patterns in caches that only FcFini() would free, and
 * nothing in the driver calls it. Those are not reco's leaks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

static char data_path[1024];

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
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_ml100k(void **state)
{
    (void)state;
    reco_load_options lo;
    reco_load_options_default(&lo);
    reco_build_options bo;
    reco_build_options_default(&bo);
    reco_dataset *ds = NULL;
    reco_error err;
    if (reco_dataset_load(data_path, &lo, &bo, &ds, &err))
        fail_msg("load: %s", err.msg);
    reco_explore *ex = NULL;
    assert_int_equal(reco_explore_compute(ds, &ex, &err), RECO_OK);
    reco_dataset_free(ds);

    const reco_stats *st = &ex->stats;
    assert_int_equal(st->users, 943);
    assert_int_equal(st->items, 1682);
    assert_int_equal(st->ratings, 100000);
    assert_float_equal(st->mean, 3.52986, 1e-5);
    const uint64_t hist[5] = {6110, 11370, 27145, 34174, 21201};
    assert_int_equal(st->hist_bins, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(st->hist_count[i], hist[i]);
    assert_int_equal(st->per_user.min, 20);
    assert_int_equal(st->per_user.max, 737);
    assert_int_equal(st->users_with_one, 0);

    /* Figures computed from u.data by a separate script. */
    assert_float_equal(ex->gini, 0.628999631391201, 1e-9);
    assert_int_equal(ex->top1_products, 17);
    assert_float_equal(ex->top1_share, 0.07634, 1e-12);
    assert_int_equal(ex->top20_products, 337);
    assert_float_equal(ex->top20_share, 0.64719, 1e-12);
    assert_int_equal(ex->cold_products, 333);
    assert_int_equal(ex->cold_users, 0);
    /* Every user has at least 20 ratings. */
    const int ts[5] = {1, 20, 21, 50, 100};
    const uint64_t tu[5] = {943, 943, 911, 568, 364};
    const uint64_t tr[5] = {100000, 100000, 99360, 88471, 74522};
    const uint64_t tp[5] = {1682, 1682, 1682, 1681, 1668};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ex->threshold[ts[i]].users, tu[i]);
        assert_int_equal(ex->threshold[ts[i]].ratings, tr[i]);
        assert_int_equal(ex->threshold[ts[i]].products, tp[i]);
    }
    /* September 1997 to April 1998. */
    const uint64_t months[8] = {6704, 10304, 23980, 11911, 14095, 10991, 12656, 9359};
    assert_int_equal(ex->n_months, 8);
    assert_int_equal(ex->months[0].month, (1997 - 1970) * 12 + 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ex->months[i].ratings, months[i]);
    assert_string_equal(ex->top[0].id, "50");
    assert_int_equal(ex->top[0].ratings, 583);
    assert_float_equal(ex->top[0].mean, 4.3584905660377355, 1e-9);

    /* The report: every chart as a PNG of the stated size and an SVG. */
    char dir[] = "/tmp/reco-explore-ml-XXXXXX";
    assert_non_null(mkdtemp(dir));
    reco_report_options o;
    reco_report_options_default(&o);
    o.source = data_path;
    if (reco_report_write(ex, dir, &o, &err))
        fail_msg("report: %s", err.msg);
    char path[1200];
    for (int i = 0; i < RECO_REPORT_N_CHARTS; i++) {
        snprintf(path, sizeof path, "%s/%s.png", dir, reco_report_chart_names[i]);
        FILE *f = fopen(path, "rb");
        if (!f)
            fail_msg("%s is missing", path);
        unsigned char h[24];
        assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
        fclose(f);
        assert_memory_equal(h + 12, "IHDR", 4);
        assert_int_equal(be32(h + 16), 800);
        assert_int_equal(be32(h + 20), 500);
        snprintf(path, sizeof path, "%s/%s.svg", dir, reco_report_chart_names[i]);
        assert_int_equal(access(path, R_OK), 0);
    }
    snprintf(path, sizeof path, "%s/stats.json", dir);
    json_t *root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    json_t *sum = json_object_get(root, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "users")), 943);
    assert_string_equal(json_string_value(json_object_get(sum, "date_first")), "1997-09-20");
    assert_string_equal(json_string_value(json_object_get(sum, "date_last")), "1998-04-22");
    json_decref(root);
    remove_tree(dir);
    reco_explore_free(ex);
}

int main(void)
{
    if (!test_shared_data("ml-100k/u.data", data_path, sizeof data_path)) {
        fprintf(stderr, "skipped: ml-100k/u.data is not in %s\n", RECO_SHARED_DATA);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml100k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
