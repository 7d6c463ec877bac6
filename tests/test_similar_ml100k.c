/* Similar products on MovieLens 100K (all of u.data), the case:
 * with svd the products listed for item 1 (Toy Story) were led by one
 * rated once. Now every product of its list, from whichever source, has
 * at least similar.min_support ratings, and so does every product any
 * factor model lists from factors; without the floor (min_support=1) the
 * factors source does list products rated fewer than 5 times, which is
 * what the floor is for. Also checks that the chain fills every list and
 * that a request stays cheap. Skipped (77) when ../shared/data is absent. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "reco/dataset.h"
#include "reco/model.h"
#include "testutil.h"

static reco_dataset *g_ds;

static int setup(void **state)
{
    (void)state;
    char path[4096];
    reco_error err;
    if (!test_shared_data("ml-100k/u.data", path, sizeof path) ||
        reco_dataset_load(path, NULL, NULL, &g_ds, &err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reco_dataset_free(g_ds);
    return 0;
}

static reco_model *fit(const char *algo, const char *floor)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    if (floor)
        assert_int_equal(reco_model_set_param(m, "similar.min_support", floor, &err), RECO_OK);
    reco_fit_ctx ctx = {0};
    ctx.threads = 2;
    if (reco_model_fit(m, g_ds, &ctx, &err))
        fail_msg("%s", err.msg);
    return m;
}

static uint32_t support(uint32_t i) { return reco_csr_row_len(&g_ds->by_item, i); }

static uint32_t item(const char *id)
{
    int64_t i = reco_idmap_find(g_ds->items, id, strlen(id));
    assert_true(i >= 0);
    return (uint32_t)i;
}

static void test_svd_item1(void **state)
{
    (void)state;
    reco_model *m = fit("svd", NULL);
    const uint32_t floor = m->similar_params.min_support;
    reco_similar out[20];
    size_t got;
    reco_error err;
    assert_int_equal(reco_model_similar(m, item("1"), 20, out, &got, NULL, &err), RECO_OK);
    assert_int_equal(got, 20);
    for (size_t k = 0; k < got; k++) {
        print_message("%2zu. %-5s %u ratings, %.4f %s\n", k + 1,
                      reco_idmap_key(g_ds->items, out[k].id, NULL), support(out[k].id),
                      out[k].score, reco_similar_source_name(out[k].source));
        assert_true(support(out[k].id) >= floor);
        assert_true(out[k].score < 0.9999f); /* no more rows of identical cosines */
    }
    reco_scored f[20];
    assert_int_equal(
        reco_model_similar_source(m, RECO_SIMILAR_FACTORS, item("1"), 20, f, &got, NULL, &err),
        RECO_OK);
    assert_int_equal(got, 20);
    for (size_t k = 0; k < got; k++)
        assert_true(support(f[k].id) >= floor);
    reco_model_free(m);
}

/* Every factor model, across the catalogue: nothing under the floor from
 * factors; without it, rarely rated products do come up. Every list full;
 * timing printed. */
static void test_factor_models(void **state)
{
    (void)state;
    const char *const algos[] = {"svd", "mf", "ials"};
    const uint32_t ni = reco_dataset_n_items(g_ds);
    for (int a = 0; a < 3; a++) {
        reco_model *m = fit(algos[a], NULL), *m1 = fit(algos[a], "1");
        const uint32_t floor = m->similar_params.min_support;
        void *scratch = calloc(1, reco_model_similar_scratch_size(m));
        uint32_t rare_unfloored = 0;
        double t = 0;
        reco_error err;
        for (uint32_t i = 0; i < ni; i += 7) {
            reco_similar out[10];
            size_t got;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            assert_int_equal(reco_model_similar(m, i, 10, out, &got, scratch, &err), RECO_OK);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            t += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
            assert_int_equal(got, 10);
            for (size_t k = 0; k < got; k++)
                if (out[k].source == RECO_SIMILAR_FACTORS)
                    assert_true(support(out[k].id) >= floor);
            reco_scored f[10];
            assert_int_equal(
                reco_model_similar_source(m, RECO_SIMILAR_FACTORS, i, 10, f, &got, scratch, &err),
                RECO_OK);
            for (size_t k = 0; k < got; k++)
                assert_true(support(f[k].id) >= floor);
            assert_int_equal(
                reco_model_similar_source(m1, RECO_SIMILAR_FACTORS, i, 10, f, &got, scratch, &err),
                RECO_OK);
            for (size_t k = 0; k < got; k++)
                rare_unfloored += support(f[k].id) < 5;
        }
        print_message("%s: %u factor neighbours rated < 5 times without the floor; "
                      "%.3f ms a list\n",
                      algos[a], rare_unfloored, 1e3 * t / (double)((ni + 6) / 7));
        assert_true(rare_unfloored > 0);
        free(scratch);
        reco_model_free(m1);
        reco_model_free(m);
    }
}

int main(void)
{
    char buf[4096];
    if (!test_shared_data("ml-100k/u.data", buf, sizeof buf)) {
        fprintf(stderr, "MovieLens 100K not found under %s: skipped\n", RECO_SHARED_DATA);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svd_item1),
        cmocka_unit_test(test_factor_models),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
