/* The generic model layer: baseline against its closed form, popularity,
 * top-N selection, cold start, and model files (save, load, refusal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/model.h"
#include "reco/topn.h"
#include "testutil.h"

static reco_dataset *build(const char *text)
{
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_parse(text, strlen(text), "t", NULL, &r, &err))
        fail_msg("%s", err.msg);
    reco_dataset *ds = NULL;
    if (reco_dataset_build(r, NULL, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static void test_baseline_closed_form(void **state)
{
    (void)state;
    /* u0: i0=5, i1=3; u1: i0=4. mu = 4. One ALS sweep with reg_i=10,
     * reg_u=15 (item biases first, then users):
     *   b_i0 = ((5-4) + (4-4)) / (10+2) = 1/12
     *   b_i1 = (3-4) / (10+1) = -1/11
     *   b_u0 = ((5-4-1/12) + (3-4+1/11)) / (15+2)
     *   b_u1 = (4-4-1/12) / (15+1) */
    reco_dataset *ds = build("u0,i0,5\nu0,i1,3\nu1,i0,4\n");
    reco_baseline_params p;
    reco_baseline_params_default(&p);
    p.epochs = 1;
    reco_baseline b;
    assert_int_equal(reco_baseline_fit(&p, ds, &b, NULL), RECO_OK);
    assert_float_equal(b.mu, 4.0, 1e-9);
    assert_float_equal(b.bi[0], 1.0 / 12, 1e-6);
    assert_float_equal(b.bi[1], -1.0 / 11, 1e-6);
    assert_float_equal(b.bu[0], ((1 - 1.0 / 12) + (-1 + 1.0 / 11)) / 17, 1e-6);
    assert_float_equal(b.bu[1], (-1.0 / 12) / 16, 1e-6);
    assert_float_equal(reco_baseline_predict(&b, 1, 1), 4 + b.bu[1] + b.bi[1], 1e-6);
    assert_float_equal(reco_baseline_predict(&b, RECO_NO_USER, 1), 4 + b.bi[1], 1e-6);
    reco_baseline_clear(&b);
    p.epochs = 0;
    reco_error err;
    assert_int_equal(reco_baseline_params_check(&p, &err), RECO_ERR_INVALID);
    reco_dataset_free(ds);
}

static void test_topn_select(void **state)
{
    (void)state;
    float s[8] = {0.5f, 2.0f, 2.0f, -INFINITY, NAN, 3.0f, 2.0f, 1.0f};
    reco_scored out[8];
    uint32_t ex[2] = {1, 7};
    size_t n = reco_topn_select(s, 8, ex, 2, 3, out);
    /* 5 (3.0), then ties at 2.0 by id: 2, 6 (1 excluded). */
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, 5);
    assert_int_equal(out[1].id, 2);
    assert_int_equal(out[2].id, 6);
    n = reco_topn_select(s, 8, NULL, 0, 10, out);
    assert_int_equal(n, 6); /* -inf and NaN never selected */
    assert_int_equal(out[5].id, 0);
    assert_int_equal(reco_topn_select(s, 8, NULL, 0, 0, out), 0);

    /* Against a full sort on random data. */
    uint64_t seed = 3;
    float big[1000];
    for (int i = 0; i < 1000; i++) {
        seed = seed * 6364136223846793005ULL + 1;
        big[i] = (float)((seed >> 40) % 50);
    }
    reco_scored top[20];
    n = reco_topn_select(big, 1000, NULL, 0, 20, top);
    assert_int_equal(n, 20);
    for (int k = 1; k < 20; k++)
        assert_true(reco_scored_before(top[k - 1], top[k]));
    int better = 0; /* nothing outside the top beats its last entry */
    for (uint32_t i = 0; i < 1000; i++) {
        reco_scored e = {i, big[i]};
        if (reco_scored_before(e, top[19]))
            better++;
    }
    assert_int_equal(better, 19);
}

static const char *FIX = "a,x,5,1\na,y,4,2\nb,x,2,3\nb,z,5,4\nc,y,4,5\nc,z,1,6\nd,w,3,7\n";

static void test_fit_recommend_cold_start(void **state)
{
    (void)state;
    reco_dataset *ds = build(FIX);
    reco_error err;
    for (int a = 0; a < 2; a++) {
        reco_model *m = NULL;
        assert_int_equal(reco_model_new(a ? "baseline" : "popular", &m, &err), RECO_OK);
        assert_int_equal(reco_model_set_param(m, "popular.min_count", "1", &err), RECO_OK);
        if (a)
            assert_int_equal(reco_model_set_param(m, "reg_u", "5", &err), RECO_OK);
        else
            assert_int_equal(reco_model_set_param(m, "min_count", "1", &err), RECO_OK);
        assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
        uint32_t ua = (uint32_t)reco_idmap_find(ds->users, "a", 1);
        reco_profile p = reco_profile_of_user(ds, ua);
        reco_scored out[10];
        size_t n;
        bool cold;
        assert_int_equal(reco_model_recommend(m, &p, 10, true, out, &n, &cold, NULL, &err),
                         RECO_OK);
        assert_false(cold);
        assert_int_equal(n, 2); /* z and w: a rated x and y */
        for (size_t k = 0; k < n; k++)
            assert_true(reco_csr_find(&ds->by_user, ua, out[k].id) < 0);
        /* Unknown user with no ratings: popularity, flagged cold start. */
        reco_profile none = {RECO_NO_USER, NULL, NULL, 0, false};
        assert_int_equal(reco_model_recommend(m, &none, 2, true, out, &n, &cold, NULL, &err),
                         RECO_OK);
        assert_true(cold);
        assert_int_equal(n, 2);
        /* Predictions fall back and clamp to the training range [1, 5]. */
        float r = reco_model_predict(m, 999, 999);
        assert_true(r >= 1 && r <= 5);
        assert_float_equal(r, m->baseline.mu, 1e-6);
        reco_model_free(m);
    }
    reco_model *m = NULL;
    assert_int_equal(reco_model_new("nope", &m, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown algorithm \"nope\""));
    assert_int_equal(reco_model_new("baseline", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "reg_u", "-1", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "baseline.reg_u wants a number from 0 to 1e+09, got \"-1\"");
    assert_int_equal(reco_model_set_param(m, "bogus", "1", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "unknown parameter baseline.bogus");
    reco_model_free(m);
    reco_model_free(NULL);
    reco_dataset_free(ds);
}

/* Every registered algorithm that can be saved gives the same answers
 * after a save and load; a corrupted file is refused. */
static void test_save_load_all(void **state)
{
    (void)state;
    /* Enough data for factor models with small k. */
    char *text = malloc(1 << 16);
    size_t len = 0;
    for (int u = 0; u < 40; u++)
        for (int i = 0; i < 30; i++)
            if ((u * 7 + i * 3) % 4 == 0)
                len += (size_t)snprintf(text + len, (1 << 16) - len, "u%d,i%d,%d,%d\n", u, i,
                                        1 + (u + i) % 5, u * 100 + i);
    reco_dataset *ds = build(text);
    free(text);
    char path[64];
    snprintf(path, sizeof path, "/tmp/reco-model-%ld.model", (long)getpid());
    reco_error err;
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
        reco_model *m = NULL;
        assert_int_equal(reco_model_new((*a)->name, &m, &err), RECO_OK);
        if (!strcmp((*a)->name, "svd") || !strcmp((*a)->name, "mf"))
            reco_model_set_param(m, !strcmp((*a)->name, "svd") ? "k" : "factors", "4", &err);
        if (reco_model_fit(m, ds, NULL, &err))
            fail_msg("%s: %s", (*a)->name, err.msg);
        if (!(*a)->save) {
            reco_model_free(m);
            continue;
        }
        if (reco_model_save(m, path, &err))
            fail_msg("%s: %s", (*a)->name, err.msg);
        reco_model *l = NULL;
        if (reco_model_load(path, &l, &err))
            fail_msg("%s: %s", (*a)->name, err.msg);
        assert_string_equal(l->ops->name, (*a)->name);
        for (uint32_t u = 0; u < 40; u += 3) {
            for (uint32_t i = 0; i < 30; i += 4)
                assert_float_equal(reco_model_predict(m, u, i), reco_model_predict(l, u, i), 1e-6);
            reco_profile p1 = reco_profile_of_user(ds, u), p2 = reco_profile_of_user(l->train, u);
            reco_scored o1[5], o2[5];
            size_t n1, n2;
            assert_int_equal(reco_model_recommend(m, &p1, 5, true, o1, &n1, NULL, NULL, &err), 0);
            assert_int_equal(reco_model_recommend(l, &p2, 5, true, o2, &n2, NULL, NULL, &err), 0);
            assert_int_equal(n1, n2);
            for (size_t k = 0; k < n1; k++) {
                assert_int_equal(o1[k].id, o2[k].id);
                assert_float_equal(o1[k].score, o2[k].score, 1e-5);
            }
        }
        assert_int_equal(reco_model_fit(l, ds, NULL, &err), RECO_ERR_INVALID);
        reco_model_free(l);
        reco_model_free(m);
    }
    /* Flip one byte near the end (inside some section): refused. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, -100, SEEK_END);
    int c = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
    reco_model *l = NULL;
    assert_int_equal(reco_model_load(path, &l, &err), RECO_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(err.msg, "corrupt"));
    unlink(path);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_closed_form),
        cmocka_unit_test(test_topn_select),
        cmocka_unit_test(test_fit_recommend_cold_start),
        cmocka_unit_test(test_save_load_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
