/* Unit tests of similar products (reco_model_similar, src/lib/models/
 * similar.c) on the bundled sample data plus one product whose only
 * customer rated nothing else: every algorithm gives full lists of
 * distinct products without the query, in chain order, each source's
 * scores as documented; the product without co-ratings falls back; factor
 * lists respect the support floor (and match brute force); the scratch is
 * left zeroed; the floor survives a model file; misuse is refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reco/dataset.h"
#include "reco/knn.h"
#include "reco/model.h"
#include "reco/ratings.h"
#include "testutil.h"

#define N 10

static const char *const ALGOS[] = {"popular", "baseline", "usercf", "itemcf", "svd",
                                    "mf",      "ials",     "ease",   "default", NULL};

static reco_dataset *g_ds;
static uint32_t g_loner; /* rated once, by a customer who rated nothing else */

static int setup(void **state)
{
    (void)state;
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_load(RECO_TEST_DIR "/../data/sample.csv", NULL, &r, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (reco_ratings_add(r, "LONER-USER", 10, "LONER-ITEM", 10, 5.0f, 1400000000, &err))
        return -1;
    if (reco_dataset_build(r, NULL, &g_ds, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    reco_ratings_free(r);
    int64_t i = reco_idmap_find(g_ds->items, "LONER-ITEM", 10);
    if (i < 0)
        return -1;
    g_loner = (uint32_t)i;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reco_dataset_free(g_ds);
    return 0;
}

static reco_model *fit(const char *algo, const char *const *params)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (int j = 0; params && params[j]; j += 2)
        if (reco_model_set_param(m, params[j], params[j + 1], &err))
            fail_msg("%s=%s: %s", params[j], params[j + 1], err.msg);
    reco_fit_ctx ctx = {0};
    ctx.threads = 2;
    if (reco_model_fit(m, g_ds, &ctx, &err))
        fail_msg("fit %s: %s", algo, err.msg);
    return m;
}

static uint32_t support(uint32_t i) { return reco_csr_row_len(&g_ds->by_item, i); }

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++)
        if (b[k])
            return false;
    return true;
}

/* Position of s in the model's chain, or -1. */
static int chain_pos(const reco_model *m, reco_similar_source s)
{
    reco_similar_source c[RECO_SIMILAR_SOURCES];
    size_t n = reco_model_similar_chain(m, c);
    for (size_t k = 0; k < n; k++)
        if (c[k] == s)
            return (int)k;
    return -1;
}

/* A list as the chain promises: n products, distinct, never i, sources in
 * chain order, scores finite and falling within a source; factor products
 * above the floor. */
static void check_list(const reco_model *m, uint32_t i, const reco_similar *out, size_t got)
{
    assert_int_equal(got, N);
    for (size_t a = 0; a < got; a++) {
        assert_int_not_equal(out[a].id, i);
        assert_true(out[a].id < reco_dataset_n_items(g_ds));
        assert_true(isfinite(out[a].score));
        assert_true(chain_pos(m, out[a].source) >= 0);
        assert_non_null(reco_model_similar_score_kind(m, out[a].source));
        if (out[a].source == RECO_SIMILAR_FACTORS)
            assert_true(support(out[a].id) >= m->similar_params.min_support);
        if (out[a].source == RECO_SIMILAR_CO_CUSTOMERS)
            assert_true(out[a].score > 0 && out[a].score <= 1);
        for (size_t b = 0; b < a; b++)
            assert_int_not_equal(out[a].id, out[b].id);
        if (a) {
            int pa = chain_pos(m, out[a].source), pb = chain_pos(m, out[a - 1].source);
            assert_true(pa >= pb);
            if (pa == pb)
                assert_true(out[a].score <= out[a - 1].score);
        }
    }
}

/* Every algorithm: full lists for a spread of products and for the loner,
 * with one scratch reused (and left zeroed) as a server thread does. */
static void test_every_algorithm(void **state)
{
    (void)state;
    const uint32_t ni = reco_dataset_n_items(g_ds);
    for (const char *const *a = ALGOS; *a; a++) {
        reco_model *m = fit(*a, NULL);
        size_t ss = reco_model_similar_scratch_size(m);
        void *scratch = calloc(1, ss);
        assert_non_null(scratch);
        reco_similar out[N];
        size_t got;
        reco_error err;
        for (uint32_t i = 0; i < ni; i += 97) {
            assert_int_equal(reco_model_similar(m, i, N, out, &got, scratch, &err), RECO_OK);
            check_list(m, i, out, got);
            /* The same list without a scratch of the caller's. */
            reco_similar again[N];
            size_t got2;
            assert_int_equal(reco_model_similar(m, i, N, again, &got2, NULL, &err), RECO_OK);
            assert_int_equal(got2, got);
            assert_memory_equal(again, out, got * sizeof *out);
        }
        assert_true(all_zero(scratch, ss));
        /* No co-ratings at all: the later sources fill the list. */
        assert_int_equal(reco_model_similar(m, g_loner, N, out, &got, scratch, &err), RECO_OK);
        check_list(m, g_loner, out, got);
        for (size_t k = 0; k < got; k++)
            assert_true(out[k].source == RECO_SIMILAR_FACTORS ||
                        out[k].source == RECO_SIMILAR_POPULAR);
        assert_true(all_zero(scratch, ss));
        free(scratch);
        reco_model_free(m);
    }
}

/* Under rules, every algorithm's list is the unfiltered chain's with the
 * rejected products left out: asking for every product without rules,
 * dropping what the rules reject and keeping the first N gives the same
 * products, sources and scores. */
static void test_filtered(void **state)
{
    (void)state;
    const uint32_t ni = reco_dataset_n_items(g_ds);
    uint64_t rng = 0x5DEECE66Dull;
    uint32_t *cat = malloc(ni * sizeof *cat), *ex = malloc(ni * sizeof *ex);
    uint32_t *inc = malloc(ni * sizeof *inc);
    uint64_t *hidden = calloc(ni / 64 + 1, sizeof *hidden);
    reco_similar *all = malloc(ni * sizeof *all);
    assert_true(cat && ex && inc && hidden && all);
    for (uint32_t i = 0; i < ni; i++)
        cat[i] = (uint32_t)(test_uniform(&rng) * 6);
    for (const char *const *a = ALGOS; *a; a++) {
        reco_model *m = fit(*a, NULL);
        reco_error err;
        for (uint32_t i = 0, round = 0; i < ni; i += 61, round++) {
            reco_item_filter f = {0};
            memset(hidden, 0, (ni / 64 + 1) * sizeof *hidden);
            for (uint32_t j = 0; j < ni; j++)
                if (test_uniform(&rng) < 0.3)
                    hidden[j / 64] |= 1ull << (j % 64);
            f.hidden = hidden;
            f.n_hidden_bits = ni;
            for (uint32_t j = 0; j < ni; j++)
                if (test_uniform(&rng) < 0.05)
                    ex[f.n_exclude++] = j;
            f.exclude = ex;
            reco_category_range r = {1, 3};
            if (round % 2) {
                f.item_category = cat;
                f.n_item_category = ni;
                f.categories = &r;
                f.n_categories = 1;
            }
            if (round % 5 == 4) {
                for (uint32_t j = 0; j < ni; j++)
                    if (test_uniform(&rng) < 0.2)
                        inc[f.n_include++] = j;
                f.include = inc;
            }
            reco_similar got[N];
            size_t n_got, n_all;
            assert_int_equal(reco_model_similar_filtered(m, i, N, &f, got, &n_got, NULL, &err),
                             RECO_OK);
            assert_int_equal(reco_model_similar(m, i, ni, all, &n_all, NULL, &err), RECO_OK);
            size_t k = 0;
            for (size_t x = 0; x < n_all && k < N; x++) {
                if (!reco_item_filter_admits(&f, all[x].id))
                    continue;
                if (k >= n_got)
                    fail_msg("%s, product %u: %zu similar under rules, the reference has more",
                             *a, i, n_got);
                assert_int_equal(got[k].id, all[x].id);
                assert_int_equal(got[k].source, all[x].source);
                assert_float_equal(got[k].score, all[x].score, 1e-6);
                k++;
            }
            assert_int_equal(k, n_got);
        }
        reco_model_free(m);
    }
    free(cat);
    free(ex);
    free(inc);
    free(hidden);
    free(all);
}

/* The chain of each kind of model, and what each source's score is. */
static void test_chains_and_kinds(void **state)
{
    (void)state;
    reco_model *pop = fit("popular", NULL), *svd = fit("svd", NULL), *ease = fit("ease", NULL);
    reco_similar_source c[RECO_SIMILAR_SOURCES];
    assert_int_equal(reco_model_similar_chain(pop, c), 3);
    assert_int_equal(c[0], RECO_SIMILAR_CO_RATED);
    assert_int_equal(c[1], RECO_SIMILAR_CO_CUSTOMERS);
    assert_int_equal(c[2], RECO_SIMILAR_POPULAR);
    assert_int_equal(reco_model_similar_chain(svd, c), 4);
    assert_int_equal(c[1], RECO_SIMILAR_FACTORS);
    assert_string_equal(reco_model_similar_score_kind(pop, RECO_SIMILAR_CO_RATED),
                        "co_rating_cosine");
    assert_null(reco_model_similar_score_kind(pop, RECO_SIMILAR_FACTORS));
    assert_string_equal(reco_model_similar_score_kind(svd, RECO_SIMILAR_FACTORS),
                        "factor_cosine");
    assert_string_equal(reco_model_similar_score_kind(svd, RECO_SIMILAR_CO_CUSTOMERS),
                        "co_customer_share");
    assert_string_equal(reco_model_similar_score_kind(svd, RECO_SIMILAR_POPULAR),
                        "rating_count");
    assert_string_equal(reco_model_similar_score_kind(ease, RECO_SIMILAR_CO_RATED),
                        "item_regression_weight");
    assert_string_equal(reco_similar_source_name(RECO_SIMILAR_CO_CUSTOMERS), "co_customers");
    reco_model_free(pop);
    reco_model_free(svd);
    reco_model_free(ease);
}

/* The computed sources against brute force on a popular model: co_rated
 * are the positive co-rating cosines with itemcf's default parameters;
 * co_customers the products most rated by i's raters, by share. */
static void test_sources_by_hand(void **state)
{
    (void)state;
    reco_model *m = fit("popular", NULL);
    const reco_csr *R = &g_ds->by_user, *C = &g_ds->by_item;
    const uint32_t ni = reco_dataset_n_items(g_ds);
    reco_knn_params kp;
    reco_itemcf_params_default(&kp);
    float *mean = calloc(reco_dataset_n_users(g_ds) + 1, sizeof *mean);
    reco_knn_user_means(g_ds, 1, mean);
    uint32_t *common = calloc(ni, sizeof *common);
    reco_error err;
    for (uint32_t i = 3; i < ni; i += 211) {
        reco_scored out[N];
        size_t got;
        assert_int_equal(
            reco_model_similar_source(m, RECO_SIMILAR_CO_RATED, i, N, out, &got, NULL, &err),
            RECO_OK);
        for (size_t k = 0; k < got; k++) {
            uint32_t j = out[k].id;
            /* Adjusted cosine over the common raters, by the kernel. */
            double dot = 0, saa = 0, sbb = 0;
            uint32_t n = 0;
            for (uint64_t x = C->ptr[i]; x < C->ptr[i + 1]; x++) {
                uint32_t u = C->idx[x];
                int64_t y = reco_csr_find(R, u, j);
                if (y < 0)
                    continue;
                double a = C->val[x] - mean[u], b = R->val[y] - mean[u];
                dot += a * b, saa += a * a, sbb += b * b, n++;
            }
            assert_true(out[k].score > 0);
            assert_float_equal(out[k].score, reco_knn_sim_finish(dot, saa, sbb, n, &kp), 1e-5);
        }
        /* co_customers: the best share among i's raters' other products. */
        memset(common, 0, ni * sizeof *common);
        uint32_t raters = 0, best = 0;
        for (uint64_t x = C->ptr[i]; x < C->ptr[i + 1]; x++, raters++) {
            uint32_t u = C->idx[x];
            for (uint64_t y = R->ptr[u]; y < R->ptr[u + 1]; y++)
                if (R->idx[y] != i && ++common[R->idx[y]] > best)
                    best = common[R->idx[y]];
        }
        assert_int_equal(
            reco_model_similar_source(m, RECO_SIMILAR_CO_CUSTOMERS, i, N, out, &got, NULL, &err),
            RECO_OK);
        assert_true(got > 0);
        assert_float_equal(out[0].score, (double)best / raters, 1e-6);
        for (size_t k = 0; k < got; k++)
            assert_float_equal(out[k].score, (double)common[out[k].id] / raters, 1e-6);
    }
    free(common);
    free(mean);
    reco_model_free(m);
}

/* Factor lists: nothing under the floor, the best qualifying cosine
 * first (brute force over mf's factors), and a new floor takes effect on a
 * fitted model. */
static void test_factor_floor(void **state)
{
    (void)state;
    const uint32_t ni = reco_dataset_n_items(g_ds);
    const char *const p[] = {"factors", "16", NULL};
    reco_model *m = fit("mf", p);
    assert_int_equal(m->similar_params.min_support, RECO_SIMILAR_MIN_SUPPORT);
    reco_item_factors f;
    assert_true(m->ops->item_factors(m->state, &f));
    reco_error err;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t floor = pass ? 40 : RECO_SIMILAR_MIN_SUPPORT;
        if (pass)
            assert_int_equal(reco_model_set_param(m, "similar.min_support", "40", &err), RECO_OK);
        for (uint32_t i = 1; i < ni; i += 151) {
            reco_scored out[N];
            size_t got;
            assert_int_equal(
                reco_model_similar_source(m, RECO_SIMILAR_FACTORS, i, N, out, &got, NULL, &err),
                RECO_OK);
            double best = -2;
            uint32_t best_j = UINT32_MAX;
            for (uint32_t j = 0; j < ni; j++) {
                if (j == i || support(j) < floor || f.inv_norm[j] == 0)
                    continue;
                double d = 0;
                for (uint32_t t = 0; t < f.k; t++)
                    d += (double)f.rows[(size_t)i * f.ld + t] * f.rows[(size_t)j * f.ld + t];
                d *= (double)f.inv_norm[i] * f.inv_norm[j];
                if (d > best)
                    best = d, best_j = j;
            }
            if (f.inv_norm[i] == 0) {
                assert_int_equal(got, 0);
                continue;
            }
            assert_int_equal(got, N);
            assert_int_equal(out[0].id, best_j);
            assert_float_equal(out[0].score, best, 1e-4);
            for (size_t k = 0; k < got; k++)
                assert_true(support(out[k].id) >= floor);
        }
    }
    assert_int_equal(reco_model_set_param(m, "similar.min_support", "0", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "similar.min_support"));
    reco_model_free(m);
}

/* svd: the top factor match has the floor's support, and nothing from
 * the factors source ever has less, whatever the floor. */
static void test_svd_support(void **state)
{
    (void)state;
    const uint32_t ni = reco_dataset_n_items(g_ds);
    const char *const floors[] = {"5", "20"};
    for (int fl = 0; fl < 2; fl++) {
        const char *const p[] = {"similar.min_support", floors[fl], NULL};
        reco_model *m = fit("svd", p);
        uint32_t floor = (uint32_t)atoi(floors[fl]);
        reco_error err;
        int listed = 0;
        for (uint32_t i = 0; i < ni; i += 13) {
            reco_scored out[N];
            size_t got;
            assert_int_equal(
                reco_model_similar_source(m, RECO_SIMILAR_FACTORS, i, N, out, &got, NULL, &err),
                RECO_OK);
            for (size_t k = 0; k < got; k++)
                assert_true(support(out[k].id) >= floor);
            listed += got > 0;
        }
        assert_true(listed > 0);
        reco_model_free(m);
    }
}

/* The floor is saved with the model; the loaded model answers the same. */
static void test_model_file(void **state)
{
    (void)state;
    const char *const p[] = {"similar.min_support", "7", NULL};
    reco_model *m = fit("ials", p);
    char path[] = "/tmp/reco-similar-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    reco_error err;
    assert_int_equal(reco_model_save(m, path, &err), RECO_OK);
    reco_model *l = NULL;
    assert_int_equal(reco_model_load(path, &l, &err), RECO_OK);
    assert_int_equal(l->similar_params.min_support, 7);
    for (uint32_t i = 0; i < reco_dataset_n_items(g_ds); i += 101) {
        reco_similar a[N], b[N];
        size_t na, nb;
        assert_int_equal(reco_model_similar(m, i, N, a, &na, NULL, &err), RECO_OK);
        assert_int_equal(reco_model_similar(l, i, N, b, &nb, NULL, &err), RECO_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
    }
    reco_model_free(l);
    reco_model_free(m);
    unlink(path);
}

static void test_misuse(void **state)
{
    (void)state;
    reco_model *m = fit("popular", NULL);
    reco_similar out[N];
    reco_scored so[N];
    size_t got = 99;
    reco_error err;
    uint32_t ni = reco_dataset_n_items(g_ds);
    assert_int_equal(reco_model_similar(m, ni, N, out, &got, NULL, &err), RECO_ERR_NOT_FOUND);
    assert_int_equal(got, 0);
    assert_int_equal(
        reco_model_similar_source(m, RECO_SIMILAR_FACTORS, 0, N, so, &got, NULL, &err),
        RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no factors source"));
    assert_int_equal(reco_model_similar(m, 0, 0, out, &got, NULL, &err), RECO_OK);
    assert_int_equal(got, 0);
    reco_model_free(m);
    assert_int_equal(reco_model_new("svd", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "similar.min_support", "3", &err), RECO_OK);
    m->train = g_ds;
    assert_int_equal(reco_model_similar(m, 0, N, out, &got, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not fitted"));
    reco_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_algorithm), cmocka_unit_test(test_chains_and_kinds),
        cmocka_unit_test(test_sources_by_hand), cmocka_unit_test(test_factor_floor),
        cmocka_unit_test(test_svd_support),     cmocka_unit_test(test_model_file),
        cmocka_unit_test(test_misuse),        cmocka_unit_test(test_filtered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
