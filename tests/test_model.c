/* The generic model layer: baseline against its closed form, the
 * popularity ranking (counts, decayed counts, damped means, its
 * parameters), top-N selection, cold start, which models predict ratings
 * and what their scores are, and model files (save, load, refusal). */
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

#include "reco/json.h"
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
    p.reg_u = 15;
    p.reg_i = 10;
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

static reco_dataset *build_range(const char *text, double lo, double hi)
{
    reco_load_options o;
    reco_load_options_default(&o);
    o.rating_min = lo;
    o.rating_max = hi;
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_parse(text, strlen(text), "t", &o, &r, &err))
        fail_msg("%s", err.msg);
    reco_dataset *ds = NULL;
    if (reco_dataset_build(r, NULL, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static uint32_t item_of(const reco_dataset *ds, const char *id)
{
    int64_t i = reco_idmap_find(ds->items, id, strlen(id));
    assert_true(i >= 0);
    return (uint32_t)i;
}

/* Fits algo with the given "k", "v" pairs (NULL-terminated). */
static reco_model *fit_with(const char *algo, const reco_dataset *ds, const char *const *kv)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (; kv && kv[0]; kv += 2)
        if (reco_model_set_param(m, kv[0], kv[1], &err))
            fail_msg("%s=%s: %s", kv[0], kv[1], err.msg);
    if (reco_model_fit(m, ds, NULL, &err))
        fail_msg("%s: %s", algo, err.msg);
    return m;
}

/* reg_u = reg_i = 0 are allowed: unregularised mean residuals. A user or
 * product without training ratings (kept by keep_ids, as in evaluation
 * splits) or an updated profile without ratings used to get 0 / 0 = NaN
 * as its bias, and NaN predictions and scores; its bias is 0. */
static void test_baseline_zero_regularisation(void **state)
{
    (void)state;
    /* u0: i0=5, i1=3; u1: i0=4; u2 and i2 have no ratings. mu = 4; one
     * sweep: b_i0 = (1 + 0) / 2, b_i1 = -1, b_i2 = 0; then
     * b_u0 = ((5-4-0.5) + (3-4+1)) / 2 = 0.25, b_u1 = -0.5, b_u2 = 0. */
    reco_ratings *r = test_ratings_new(3, 3);
    assert_non_null(r);
    assert_int_equal(reco_ratings_push(r, 0, 0, 5, 0, NULL), RECO_OK);
    assert_int_equal(reco_ratings_push(r, 0, 1, 3, 0, NULL), RECO_OK);
    assert_int_equal(reco_ratings_push(r, 1, 0, 4, 0, NULL), RECO_OK);
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *ds = NULL;
    reco_error err;
    assert_int_equal(reco_dataset_build(r, &bo, &ds, &err), RECO_OK);
    reco_ratings_free(r);
    assert_int_equal(reco_dataset_n_users(ds), 3);
    reco_baseline_params p;
    reco_baseline_params_default(&p);
    p.reg_u = p.reg_i = 0;
    p.epochs = 1;
    reco_baseline b;
    assert_int_equal(reco_baseline_fit(&p, ds, &b, &err), RECO_OK);
    assert_true(b.bi[0] == 0.5f && b.bi[1] == -1.0f && b.bi[2] == 0.0f);
    assert_true(b.bu[0] == 0.25f && b.bu[1] == -0.5f && b.bu[2] == 0.0f);
    reco_baseline_clear(&b);

    /* Through the models that answer with the baseline (the shared one,
     * and the baseline algorithm's own). */
    const char *const base_kv[] = {"baseline.reg_u", "0", "baseline.reg_i", "0",
                                   "reg_u",          "0", "reg_i",          "0", NULL};
    const char *const pop_kv[] = {"baseline.reg_u", "0", "baseline.reg_i", "0", NULL};
    const char *const svd_kv[] = {"baseline.reg_u", "0", "baseline.reg_i", "0",
                                  "mode",           "baseline", "k",       "1", NULL};
    const struct {
        const char *algo;
        const char *const *kv;
    } algos[] = {{"baseline", base_kv}, {"popular", pop_kv}, {"svd", svd_kv}};
    for (size_t a = 0; a < sizeof algos / sizeof *algos; a++) {
        reco_model *m = fit_with(algos[a].algo, ds, algos[a].kv);
        for (uint32_t u = 0; u < 3; u++)
            for (uint32_t i = 0; i < 3; i++)
                if (!isfinite(reco_model_predict(m, u, i)))
                    fail_msg("%s: prediction for u%u, i%u is not a number", algos[a].algo, u, i);
        /* u2, known but without ratings; then u0 with every rating gone.
         * Both are ranked by the model (a NaN score used to make it give
         * up and fall back to the cold-start list). */
        const reco_profile profs[2] = {reco_profile_of_user(ds, 2), {0, NULL, NULL, 0, true}};
        for (int k = 0; k < 2; k++) {
            reco_scored out[3];
            size_t n = 0;
            bool cold = true;
            assert_int_equal(reco_model_recommend(m, &profs[k], 3, true, out, &n, &cold, NULL,
                                                  &err),
                             RECO_OK);
            if (cold)
                fail_msg("%s: profile %d gets the cold-start list", algos[a].algo, k);
            assert_true(n > 0);
            for (size_t j = 0; j < n; j++)
                if (!isfinite(out[j].score))
                    fail_msg("%s: profile %d gets score %g", algos[a].algo, k, out[j].score);
            for (uint32_t i = 0; i < 3; i++)
                assert_true(isfinite(reco_model_predict_profile(m, &profs[k], i, NULL)));
        }
        reco_model_free(m);
    }
    reco_dataset_free(ds);
}

/* The cold-start list of m as item IDs, "q p s r". */
static void cold_list(const reco_model *m, char *buf, size_t cap)
{
    reco_profile none = {RECO_NO_USER, NULL, NULL, 0, false};
    reco_scored out[16];
    size_t n = 0;
    bool cold = false;
    reco_error err;
    assert_int_equal(reco_model_recommend(m, &none, 16, true, out, &n, &cold, NULL, &err),
                     RECO_OK);
    assert_true(cold);
    buf[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        if (k)
            assert_true(reco_scored_before(out[k - 1], out[k]));
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", k ? " " : "",
                 reco_idmap_key(m->train->items, out[k].id, NULL));
    }
}

/* Items p, q, s, r get indices 0..3 in order of appearance.
 *   ratings: p 5 5 (2), q 1 2 1 (3), s 3 4 (2), r 5 (1); mu = 26/8 = 3.25
 *   by count: q 3, p 2, s 2 (p first: lower index), r 1
 *   by mean, damping 10: p (10 + 32.5)/12 = 3.5416667, q (4 + 32.5)/13 =
 *   2.8076923, s (7 + 32.5)/12 = 3.2916667, r (5 + 32.5)/11 = 3.4090909 */
static const char *POP = "u1,p,5,10\nu2,q,1,20\nu3,q,2,30\nu4,q,1,40\n"
                         "u1,s,3,50\nu2,s,4,60\nu3,p,5,70\nu4,r,5,80\n";

static void test_popular_count(void **state)
{
    (void)state;
    reco_dataset *ds = build(POP);
    char list[64];
    /* Every model's cold start, and the popular algorithm itself. */
    const char *algos[] = {"popular", "baseline"};
    for (int a = 0; a < 2; a++) {
        reco_model *m = fit_with(algos[a], ds, NULL);
        assert_int_equal(m->popular_params.by, RECO_POPULAR_BY_COUNT);
        cold_list(m, list, sizeof list);
        assert_string_equal(list, "q p s r");
        assert_float_equal(m->popular[item_of(ds, "q")], 3, 0);
        assert_float_equal(m->popular[item_of(ds, "p")], 2, 0);
        assert_float_equal(m->popular[item_of(ds, "r")], 1, 0);
        assert_string_equal(reco_model_score_kind(m, true), "rating_count");
        reco_model_free(m);
    }
    /* A known user of popular gets the same ranking without what they rated. */
    reco_model *m = fit_with("popular", ds, NULL);
    reco_profile u1 = reco_profile_of_user(ds, (uint32_t)reco_idmap_find(ds->users, "u1", 2));
    reco_scored out[4];
    size_t n;
    reco_error err;
    assert_int_equal(reco_model_recommend(m, &u1, 4, true, out, &n, NULL, NULL, &err), RECO_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].id, item_of(ds, "q"));
    assert_float_equal(out[0].score, 3, 0);
    assert_int_equal(out[1].id, item_of(ds, "r"));
    assert_string_equal(reco_model_score_kind(m, false), "rating_count");
    /* A count is not a rating: predictions are the baseline's. */
    assert_false(reco_model_predicts_ratings(m));
    bool by_model = true;
    float r = reco_model_predict_profile_by(m, &u1, item_of(ds, "q"), NULL, &by_model);
    assert_false(by_model);
    assert_float_equal(r, reco_model_predict(m, u1.user, item_of(ds, "q")), 1e-6);
    assert_float_equal(r, reco_baseline_predict(&m->baseline, u1.user, item_of(ds, "q")), 1e-6);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* Half-life weighting: a rated at days 0 and 10, b at day 20 (the latest,
 * t_ref). Half-life 10 days: a = 2^-2 + 2^-1 = 0.75 < b = 1. Half-life 40
 * days: a = 2^-0.5 + 2^-0.25 = 1.5480 > b = 1. Off: a = 2 > b = 1. */
static void test_popular_half_life(void **state)
{
    (void)state;
    reco_dataset *ds = build("u1,a,4,0\nu2,a,4,864000\nu3,b,4,1728000\n");
    uint32_t a = item_of(ds, "a"), b = item_of(ds, "b");
    const char *h10[] = {"popular.half_life_days", "10", NULL};
    reco_model *m = fit_with("mf", ds, (const char *const[]){"popular.half_life_days", "10",
                                                             "factors", "2", NULL});
    assert_float_equal(m->popular[a], 0.75, 1e-6);
    assert_float_equal(m->popular[b], 1.0, 1e-6);
    char list[64];
    cold_list(m, list, sizeof list);
    assert_string_equal(list, "b a");
    assert_string_equal(reco_model_score_kind(m, true), "decayed_rating_count");
    /* The parameters and scores survive a model file. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/reco-pop-%ld.model", (long)getpid());
    reco_error err;
    if (reco_model_save(m, path, &err))
        fail_msg("%s", err.msg);
    reco_model *l = NULL;
    if (reco_model_load(path, &l, &err))
        fail_msg("%s", err.msg);
    unlink(path);
    assert_float_equal(l->popular_params.half_life_days, 10, 0);
    assert_int_equal(l->popular_params.by, RECO_POPULAR_BY_COUNT);
    assert_memory_equal(l->popular, m->popular, 2 * sizeof(float));
    reco_model_free(l);
    reco_model_free(m);
    m = fit_with("popular", ds, h10);
    assert_string_equal(reco_model_score_kind(m, false), "decayed_rating_count");
    reco_model_free(m);
    m = fit_with("popular", ds, (const char *const[]){"half_life_days", "40", NULL});
    assert_float_equal(m->popular[a], pow(2, -0.5) + pow(2, -0.25), 1e-6);
    assert_float_equal(m->popular[b], 1.0, 1e-6);
    assert_float_equal(m->popular_params.half_life_days, 40, 0);
    cold_list(m, list, sizeof list);
    assert_string_equal(list, "a b");
    reco_model_free(m);
    reco_dataset_free(ds);

    /* Without timestamps there is no age: refused, saying why. */
    ds = build("u1,a,4\nu2,a,4\nu3,b,4\n");
    reco_model *p = NULL;
    assert_int_equal(reco_model_new("baseline", &p, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(p, "popular.half_life_days", "30", &err), RECO_OK);
    assert_int_equal(reco_model_fit(p, ds, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "popular.half_life_days=30"));
    assert_non_null(strstr(err.msg, "no timestamps"));
    reco_model_free(p);
    reco_dataset_free(ds);
}

/* Mode mean is the damped mean as before; products under min_count follow
 * every product that has enough ratings. */
static void test_popular_mean(void **state)
{
    (void)state;
    reco_dataset *ds = build(POP);
    reco_model *m = fit_with("popular", ds, (const char *const[]){"by", "mean", "min_count",
                                                                  "2", NULL});
    uint32_t p = item_of(ds, "p"), q = item_of(ds, "q"), s = item_of(ds, "s"),
             r = item_of(ds, "r");
    assert_float_equal(m->popular[p], 42.5 / 12, 1e-6);
    assert_float_equal(m->popular[q], 36.5 / 13, 1e-6);
    assert_float_equal(m->popular[s], 39.5 / 12, 1e-6);
    /* r (one rating) is shifted by (5 - 1) + max(1, 1, 5) = 9. */
    assert_float_equal(m->popular[r], 37.5 / 11 - 9, 1e-6);
    char list[64];
    cold_list(m, list, sizeof list);
    assert_string_equal(list, "p s q r");
    /* The damped mean is a rating prediction (without the min_count shift). */
    assert_true(reco_model_predicts_ratings(m));
    assert_string_equal(reco_model_score_kind(m, false), "damped_mean_rating");
    assert_float_equal(reco_model_predict(m, 0, r), 37.5 / 11, 1e-6);
    reco_model_free(m);
    reco_dataset_free(ds);

    /* Wide rating ranges: 0..5000 and -1e6..1e6. The product under
     * min_count has the highest mean but still comes last. */
    const struct {
        const char *text;
        double lo, hi;
    } cases[] = {
        {"u1,lo,1,1\nu2,lo,2,2\nu1,mid,3,3\nu2,mid,4,4\nu3,hi,5000,5\n", 0, 5000},
        {"u1,lo,-1000000,1\nu2,lo,-1000000,2\nu1,mid,0,3\nu2,mid,1,4\nu3,hi,1000000,5\n", -1e6,
         1e6},
    };
    for (size_t c = 0; c < 2; c++) {
        ds = build_range(cases[c].text, cases[c].lo, cases[c].hi);
        const char *kv[] = {"popular.by", "mean", "popular.damping", "0", "popular.min_count",
                            "2", NULL};
        m = fit_with("baseline", ds, kv);
        cold_list(m, list, sizeof list);
        assert_string_equal(list, "mid lo hi");
        assert_true(m->popular[item_of(ds, "lo")] >= (float)cases[c].lo);
        assert_true(m->popular[item_of(ds, "hi")] < (float)cases[c].lo);
        reco_model_free(m);
        reco_dataset_free(ds);
    }
}

static void test_popular_params(void **state)
{
    (void)state;
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("baseline", &m, &err), RECO_OK);
    const struct {
        const char *key, *value, *msg;
    } bad[] = {
        {"popular.by", "median", "popular.by wants count or mean, got \"median\""},
        {"popular.damping", "-1", "popular.damping wants a number from 0 to 1e+09, got \"-1\""},
        {"popular.half_life_days", "-3",
         "popular.half_life_days wants a number from 0 to 1e+06, got \"-3\""},
        {"popular.half_life_days", "nan",
         "popular.half_life_days wants a number from 0 to 1e+06, got \"nan\""},
        {"popular.half_life_days", "inf",
         "popular.half_life_days wants a number from 0 to 1e+06, got \"inf\""},
        {"popular.min_count", "-1", "popular.min_count wants an integer from 0 to 1073741824"},
        {"popular.bogus", "1", "unknown parameter popular.bogus"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(reco_model_set_param(m, bad[k].key, bad[k].value, &err),
                         RECO_ERR_INVALID);
        if (!strstr(err.msg, bad[k].msg))
            fail_msg("%s=%s: \"%s\" lacks \"%s\"", bad[k].key, bad[k].value, err.msg, bad[k].msg);
    }
    reco_model_free(m);
    /* The popular algorithm takes the same keys, bare or prefixed, and
     * keeps its own and the shared copy equal. */
    assert_int_equal(reco_model_new("popular", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "by", "median", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "popular.by wants count or mean, got \"median\"");
    assert_int_equal(reco_model_set_param(m, "by", "mean", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "popular.damping", "3", &err), RECO_OK);
    const reco_popular_params *own = m->params;
    assert_int_equal(own->by, RECO_POPULAR_BY_MEAN);
    assert_int_equal(m->popular_params.by, RECO_POPULAR_BY_MEAN);
    assert_float_equal(own->damping, 3, 0);
    assert_float_equal(m->popular_params.damping, 3, 0);
    char buf[128];
    m->ops->params_format(m->params, buf, sizeof buf);
    assert_string_equal(buf, "by=mean half_life_days=0 damping=3 min_count=5");
    /* A half-life weighs counts, not means: refused at fit. */
    assert_int_equal(reco_model_set_param(m, "half_life_days", "7", &err), RECO_OK);
    reco_dataset *ds = build(POP);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "popular.half_life_days applies to popular.by=count"));
    reco_model_free(m);
    reco_dataset_free(ds);
    /* Checks of the struct itself (as a model file could hold it). */
    reco_popular_params p;
    reco_popular_params_default(&p);
    assert_int_equal(reco_popular_params_check(&p, &err), RECO_OK);
    p.half_life_days = NAN;
    assert_int_equal(reco_popular_params_check(&p, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "popular.half_life_days"));
    reco_popular_params_default(&p);
    p.damping = -2;
    assert_int_equal(reco_popular_params_check(&p, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "popular.damping"));
    reco_popular_params_default(&p);
    p.by = (reco_popular_by)7;
    assert_int_equal(reco_popular_params_check(&p, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "popular.by"));
}

/* Which models predict ratings, and what their scores are. */
/* KEY=VALUE words, the one parser the commands share: the model's own
 * "ALGO." prefix is dropped, other prefixes are keys of their own; an
 * unknown key is told apart from a bad value; parameters copy to a fresh
 * model of the same algorithm. */
static void test_param_text(void **state)
{
    (void)state;
    reco_model *m = NULL, *copy = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param_text(m, "factors=8", &err), RECO_OK);
    assert_int_equal(reco_model_set_param_text(m, "mf.epochs=3", &err), RECO_OK);
    assert_int_equal(reco_model_set_param_text(m, "popular.by=mean", &err), RECO_OK);
    assert_int_equal(reco_model_set_param_text(m, "baseline.reg_u=7", &err), RECO_OK);
    char buf[512];
    m->ops->params_format(m->params, buf, sizeof buf);
    assert_non_null(strstr(buf, "factors=8 epochs=3 "));
    assert_int_equal(m->popular_params.by, RECO_POPULAR_BY_MEAN);
    assert_float_equal(m->baseline_params.reg_u, 7, 0);

    assert_int_equal(reco_model_set_param_text(m, "factors", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "parameter \"factors\": expected KEY=VALUE");
    assert_false(reco_param_is_unknown(&err));
    assert_int_equal(reco_model_set_param_text(m, "=3", &err), RECO_ERR_INVALID);
    assert_int_equal(reco_model_set_param_text(m, "mf.nosuch=1", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "unknown parameter mf.nosuch");
    assert_true(reco_param_is_unknown(&err));
    assert_int_equal(reco_model_set_param_text(m, "factors=0", &err), RECO_ERR_INVALID);
    assert_false(reco_param_is_unknown(&err));
    assert_int_equal(reco_model_set_param_text(m, "baseline.nosuch=0", &err), RECO_ERR_INVALID);
    assert_true(reco_param_is_unknown(&err));

    assert_int_equal(reco_model_new("mf", &copy, &err), RECO_OK);
    assert_int_equal(reco_model_copy_params(copy, m, &err), RECO_OK);
    char again[512];
    copy->ops->params_format(copy->params, again, sizeof again);
    assert_string_equal(again, buf);
    assert_int_equal(copy->popular_params.by, RECO_POPULAR_BY_MEAN);
    assert_float_equal(copy->baseline_params.reg_u, 7, 0);
    reco_model_free(copy);
    assert_int_equal(reco_model_new("svd", &copy, &err), RECO_OK);
    assert_int_equal(reco_model_copy_params(copy, m, &err), RECO_ERR_INVALID);
    reco_model_free(copy);
    reco_model_free(m);
}

/* Parameters in JSON are objects of typed values (docs/json.md), and
 * reals carry 6 significant digits at most. */
static void test_params_json(void **state)
{
    (void)state;
    json_t *j = reco_json_params("factors=64 reg=0.06022 centered=true min_rating=none "
                                 "max_memory=4G rankers=ials,ease tol=0.0001 seed=42 "
                                 "neg=-3 big=1e300 inf=inf ials.factors=16 factors=32");
    assert_non_null(j);
    char *text = json_dumps(j, RECO_JSON_FLAGS | JSON_COMPACT);
    assert_string_equal(text, "{\"factors\":32,\"reg\":0.06022,\"centered\":true,"
                              "\"min_rating\":\"none\",\"max_memory\":\"4G\","
                              "\"rankers\":\"ials,ease\",\"tol\":0.0001,\"seed\":42,"
                              "\"neg\":-3,\"big\":1e300,\"inf\":\"inf\",\"ials.factors\":16}");
    free(text);
    json_decref(j);
    j = reco_json_params("");
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);

    json_t *a = json_pack("[o,o,o,o]", reco_json_real(1.0 / 3), reco_json_real(NAN),
                          reco_json_rating(4.65814), reco_json_rating(0.2));
    text = json_dumps(a, RECO_JSON_FLAGS | JSON_COMPACT);
    assert_string_equal(text, "[0.333333,null,4.6581,0.2]");
    free(text);
    json_decref(a);
}

static void test_predicts_and_score_kind(void **state)
{
    (void)state;
    const struct {
        const char *algo, *key, *value, *kind;
        bool predicts;
    } want[] = {
        {"popular", NULL, NULL, "rating_count", false},
        {"popular", "by", "mean", "damped_mean_rating", true},
        {"baseline", NULL, NULL, "rating_estimate", true},
        {"usercf", NULL, NULL, "similarity_weighted_sum", true},
        {"itemcf", NULL, NULL, "similarity_weighted_sum", true},
        {"svd", NULL, NULL, "rating_estimate", true},
        {"svd", "mode", "usermean", "rating_estimate", true},
        {"svd", "mode", "notebook", "rating_estimate", true},
        {"svd", "mode", "pure", "low_rank_reconstruction", false},
        {"mf", NULL, NULL, "rating_estimate", true},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        reco_model *m = NULL;
        reco_error err;
        assert_int_equal(reco_model_new(want[k].algo, &m, &err), RECO_OK);
        if (want[k].key)
            assert_int_equal(reco_model_set_param(m, want[k].key, want[k].value, &err), RECO_OK);
        if (reco_model_predicts_ratings(m) != want[k].predicts ||
            strcmp(reco_model_score_kind(m, false), want[k].kind))
            fail_msg("%s %s=%s: predicts %d, score %s", want[k].algo,
                     want[k].key ? want[k].key : "", want[k].value ? want[k].value : "",
                     reco_model_predicts_ratings(m), reco_model_score_kind(m, false));
        /* A cold-start list is the popularity ranking, whatever the model:
         * by count unless set otherwise. */
        bool mean = want[k].value && !strcmp(want[k].value, "mean");
        assert_string_equal(reco_model_score_kind(m, true),
                            mean ? "damped_mean_rating" : "rating_count");
        reco_model_free(m);
    }
}

/* A list's predicted ratings, read from one score() for an updated
 * profile, equal item-by-item predictions and stay in the training range. */
static void test_predict_items(void **state)
{
    (void)state;
    reco_dataset *ds = build(POP);
    reco_model *m = fit_with("baseline", ds, (const char *const[]){"reg_u", "0", "reg_i", "0",
                                                                   NULL});
    uint32_t items[2] = {item_of(ds, "q"), item_of(ds, "r")};
    float ratings[2] = {5, 5};
    /* A new user who loves what others dislike: raw estimates above 5. */
    reco_profile fresh = {RECO_NO_USER, items, ratings, 2, true};
    if (items[0] > items[1]) {
        uint32_t t = items[0];
        items[0] = items[1];
        items[1] = t;
    }
    reco_scored list[4];
    size_t n;
    reco_error err;
    assert_int_equal(reco_model_recommend(m, &fresh, 4, true, list, &n, NULL, NULL, &err),
                     RECO_OK);
    assert_int_equal(n, 2);
    assert_true(list[0].score > m->rating_hi); /* the unclamped estimate */
    float pred[4];
    reco_model_predict_items(m, &fresh, list, n, pred, NULL);
    for (size_t k = 0; k < n; k++) {
        assert_float_equal(pred[k], reco_model_predict_profile(m, &fresh, list[k].id, NULL),
                           1e-6);
        assert_true(pred[k] >= m->rating_lo && pred[k] <= m->rating_hi);
    }
    assert_float_equal(pred[0], m->rating_hi, 0);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* A served list's predicted ratings for a profile with new ratings come
 * from the algorithm's per-item prediction (one fold-in, a dot product per
 * item) for mf and the default model's mf predictor: they must equal what
 * scoring the whole catalogue gives, clamped, for every product. */
static void test_predict_items_per_item(void **state)
{
    (void)state;
    char text[8192];
    size_t len = 0;
    for (int u = 0; u < 40; u++)
        for (int i = 0; i < 30; i++)
            if ((u * 7 + i * 3) % 5 < 2)
                len += (size_t)snprintf(text + len, sizeof text - len, "u%d,p%d,%d,%d\n", u, i,
                                        1 + (u + 2 * i) % 5, 1000 + u + i);
    reco_dataset *ds = build(text);
    uint32_t ni = reco_dataset_n_items(ds);
    const char *algos[] = {"mf", "default"};
    for (size_t a = 0; a < 2; a++) {
        reco_model *m = fit_with(algos[a], ds, (const char *const[]){NULL});
        assert_non_null(m->ops->rating_items);
        uint32_t items[3] = {1, 4, 9};
        float ratings[3] = {5, 1, 4};
        reco_profile prof = {0, items, ratings, 3, true};
        void *scratch = calloc(1, reco_model_scratch_size(m));
        float *scores = calloc(ni, sizeof *scores);
        reco_error err;
        const reco_algo_ops *o = m->ops;
        void *algo_scratch = (char *)scratch + (((size_t)ni + 1) * sizeof(float) + 63) / 64 * 64;
        reco_status st = o->rating_scores
                             ? o->rating_scores(m->state, ds, &m->baseline, &prof, scores,
                                                algo_scratch, &err)
                             : o->score(m->state, ds, &m->baseline, &prof, scores, algo_scratch,
                                        &err);
        assert_int_equal(st, RECO_OK);
        reco_scored list[64];
        for (uint32_t i = 0; i < ni; i++)
            list[i] = (reco_scored){i, 0};
        float pred[64];
        reco_model_predict_items(m, &prof, list, ni, pred, scratch);
        for (uint32_t i = 0; i < ni; i++) {
            float want = scores[i] < m->rating_lo   ? m->rating_lo
                         : scores[i] > m->rating_hi ? m->rating_hi
                                                    : scores[i];
            assert_float_equal(pred[i], want, 1e-4);
            assert_float_equal(reco_model_predict_profile(m, &prof, i, NULL), want, 1e-4);
        }
        free(scores);
        free(scratch);
        reco_model_free(m);
    }
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

/* Cold-start lists come from the precomputed head of the popularity
 * ranking (RECO_POPULAR_TOP items) and, for a longer list, from a scan: both
 * give exactly what selecting over the whole ranking gives. */
static void test_cold_start_head_and_scan(void **state)
{
    (void)state;
    /* 5,000 products; product p has 1 + (p * 7919) % 50 ratings. */
    enum { NP = 5000 };
    size_t cap = 64 * NP * 50;
    char *text = malloc(cap);
    size_t len = 0;
    for (int p = 0; p < NP; p++)
        for (int u = 0; u <= (p * 7919) % 50; u++)
            len += (size_t)snprintf(text + len, cap - len, "u%d,p%d,4\n", u, p);
    reco_dataset *ds = build(text);
    free(text);
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("popular", &m, &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    assert_int_equal(m->popular_top.n, RECO_POPULAR_TOP);
    reco_scored *a = malloc(NP * sizeof *a), *b = malloc(NP * sizeof *b);
    size_t ns[] = {1, 10, RECO_POPULAR_TOP, RECO_POPULAR_TOP + 1, NP};
    reco_profile none = {RECO_NO_USER, NULL, NULL, 0, false};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        size_t na, nb;
        bool cold = false;
        assert_int_equal(reco_model_recommend(m, &none, ns[t], true, a, &na, &cold, NULL, &err),
                         RECO_OK);
        assert_true(cold);
        nb = reco_topn_select(m->popular, NP, NULL, 0, ns[t], b);
        assert_int_equal(na, nb);
        for (size_t j = 0; j < na; j++)
            assert_int_equal(a[j].id, b[j].id);
    }
    /* The popular algorithm's own lists, excluding a profile's products:
     * from the head, and past it when the profile holds the whole head. */
    uint32_t *ex = malloc(NP * sizeof *ex);
    float *r = malloc(NP * sizeof *r);
    for (size_t h = 0; h < 2; h++) {
        size_t n_ex = h ? RECO_POPULAR_TOP + 10 : 50;
        for (size_t j = 0; j < n_ex; j++)
            ex[j] = m->popular_top.v[j < RECO_POPULAR_TOP ? j : 0].id;
        if (h) /* past the head: the next ten by id, sorted with the rest */
            for (size_t j = RECO_POPULAR_TOP; j < n_ex; j++)
                ex[j] = (uint32_t)j; /* may repeat head items: fine for an exclusion list */
        /* ascending, without repeats */
        for (size_t x = 1; x < n_ex; x++)
            for (size_t y = x; y > 0 && ex[y - 1] > ex[y]; y--) {
                uint32_t t = ex[y];
                ex[y] = ex[y - 1];
                ex[y - 1] = t;
            }
        size_t u = 0;
        for (size_t x = 0; x < n_ex; x++)
            if (!u || ex[u - 1] != ex[x])
                ex[u++] = ex[x];
        for (size_t x = 0; x < u; x++)
            r[x] = 4;
        reco_profile prof = {RECO_NO_USER, ex, r, (uint32_t)u, true};
        size_t na, nb;
        assert_int_equal(reco_model_recommend(m, &prof, 20, true, a, &na, NULL, NULL, &err), 0);
        nb = reco_topn_select(m->popular, NP, ex, u, 20, b);
        assert_int_equal(na, nb);
        for (size_t j = 0; j < na; j++)
            assert_int_equal(a[j].id, b[j].id);
    }
    free(ex);
    free(r);
    free(a);
    free(b);
    reco_model_free(m);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_closed_form),
        cmocka_unit_test(test_baseline_zero_regularisation),
        cmocka_unit_test(test_topn_select),
        cmocka_unit_test(test_popular_count),
        cmocka_unit_test(test_popular_half_life),
        cmocka_unit_test(test_popular_mean),
        cmocka_unit_test(test_popular_params),
        cmocka_unit_test(test_param_text),
        cmocka_unit_test(test_params_json),
        cmocka_unit_test(test_predicts_and_score_kind),
        cmocka_unit_test(test_predict_items),
        cmocka_unit_test(test_predict_items_per_item),
        cmocka_unit_test(test_fit_recommend_cold_start),
        cmocka_unit_test(test_cold_start_head_and_scan),
        cmocka_unit_test(test_save_load_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
