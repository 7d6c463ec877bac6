/* Unit tests of the "default" model: it chooses the ranker that does best
 * on a validation split of the training data, serves exactly what that
 * ranker and the predictor would serve on their own, keeps both in one
 * model file, says why it chose, and degrades as documented (one
 * candidate, data too small to compare, a candidate that does not fit,
 * implicit data). */
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
#include "reco/default_algo.h"
#include "reco/model.h"
#include "testutil.h"

#define NU 300
#define NI 400
#define GROUPS 4

static uint64_t rng_state;

static double uniform(void) { return test_uniform(&rng_state); }

/* Users take products mostly from their taste group, with timestamps (so a
 * time split works); ratings 1..5, or all 1 when implicit. */
static reco_dataset *make_data(bool implicit, int max_per_user)
{
    rng_state = 0x8BADF00DDEADBEEFull;
    reco_ratings *r = test_ratings_new(NU, NI);
    assert_non_null(r);
    r->has_ts = true;
    static uint8_t taken[NI];
    for (int u = 0; u < NU; u++) {
        memset(taken, 0, sizeof taken);
        int n = 2 + (int)(max_per_user * uniform());
        for (int t = 0; t < n; t++) {
            int i = uniform() < 0.85
                        ? u % GROUPS + GROUPS * (int)(pow(uniform(), 2) * (NI / GROUPS))
                        : (int)(uniform() * NI);
            if (taken[i])
                continue;
            taken[i] = 1;
            float v = implicit ? 1.0f : (float)(1 + (int)(5 * uniform()));
            assert_int_equal(reco_ratings_push(r, (uint32_t)u, (uint32_t)i, v,
                                               1500000000 + u * 1000 + t, NULL),
                             RECO_OK);
        }
    }
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_error err;
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(r, &bo, &ds, &err), RECO_OK);
    reco_ratings_free(r);
    return ds;
}

static reco_model *fit(const char *algo, const reco_dataset *ds, const char *const *params)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (int j = 0; params && params[j]; j += 2)
        if (reco_model_set_param(m, params[j], params[j + 1], &err))
            fail_msg("%s=%s: %s", params[j], params[j + 1], err.msg);
    reco_fit_ctx ctx = {0};
    if (reco_model_fit(m, ds, &ctx, &err))
        fail_msg("fit %s: %s", algo, err.msg);
    return m;
}

/* The lists of two models for a few users, trained and folded in. */
static void assert_same_lists(const reco_model *a, const reco_model *b, const reco_dataset *ds)
{
    reco_error err;
    for (uint32_t u = 0; u < NU; u += 17) {
        reco_profile pa = reco_profile_of_user(ds, u), pb = reco_profile_of_user(b->train, u);
        pa.updated = pb.updated = u % 2 == 1;
        reco_scored ra[15], rb[15];
        size_t na, nb;
        assert_int_equal(reco_model_recommend(a, &pa, 15, true, ra, &na, NULL, NULL, &err), 0);
        assert_int_equal(reco_model_recommend(b, &pb, 15, true, rb, &nb, NULL, NULL, &err), 0);
        assert_int_equal(na, nb);
        for (size_t j = 0; j < na; j++) {
            assert_int_equal(ra[j].id, rb[j].id);
            assert_float_equal(ra[j].score, rb[j].score, 1e-6);
        }
    }
}

static void test_chooses_the_best_on_validation(void **state)
{
    (void)state;
    reco_dataset *ds = make_data(false, 40);
    const char *params[] = {"rankers", "popular,ease,ials", "ials.factors", "16", "blend", "off",
                            NULL};
    reco_model *m = fit("default", ds, params);
    const reco_default_choice *ch = reco_default_choice_of(m);
    assert_non_null(ch);
    assert_int_equal(ch->n, 3);
    assert_string_equal(ch->metric, "ndcg@10");
    assert_string_equal(ch->validation, "time:0.2");
    assert_string_equal(ch->note, "");
    /* The choice is the candidate with the highest validation figure. */
    int best = -1;
    for (uint32_t j = 0; j < ch->n; j++) {
        assert_false(isnan(ch->cand[j].value));
        if (best < 0 || ch->cand[j].value > ch->cand[best].value)
            best = (int)j;
    }
    assert_string_equal(ch->ranker, ch->cand[best].name);
    /* Taste-driven data: a personal model beats the bestseller list. */
    assert_string_not_equal(ch->ranker, "popular");
    char line[512];
    reco_default_choice_format(ch, line, sizeof line);
    assert_non_null(strstr(line, "validation split of the training data"));
    assert_non_null(strstr(line, ch->ranker));

    /* It serves what the chosen ranker alone would, and predicts what mf
     * alone would. */
    const char *rp[] = {"factors", "16", NULL};
    reco_model *alone = fit(ch->ranker, ds, !strcmp(ch->ranker, "ials") ? rp : NULL);
    assert_same_lists(m, alone, ds);
    assert_string_equal(reco_model_score_kind(m, false), reco_model_score_kind(alone, false));
    reco_model *mf = fit("mf", ds, NULL);
    assert_true(reco_model_predicts_ratings(m));
    for (uint32_t u = 0; u < NU; u += 29)
        for (uint32_t i = 0; i < NI; i += 31)
            assert_float_equal(reco_model_predict(m, u, i), reco_model_predict(mf, u, i), 1e-6);
    /* A user's new ratings are folded in for the predicted rating too. */
    uint32_t items[3] = {1, 5, 9};
    float r[3] = {5, 5, 1};
    reco_profile prof = {RECO_NO_USER, items, r, 3, true};
    assert_float_equal(reco_model_predict_profile(m, &prof, 13, NULL),
                       reco_model_predict_profile(mf, &prof, 13, NULL), 1e-5);

    /* One file holds both; loading it gives the same answers. */
    char path[] = "/tmp/reco-test-default-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    reco_error err;
    assert_int_equal(reco_model_save(m, path, &err), RECO_OK);
    reco_model *l = NULL;
    assert_int_equal(reco_model_load(path, &l, &err), RECO_OK);
    assert_string_equal(reco_default_choice_of(l)->ranker, ch->ranker);
    assert_same_lists(m, l, ds);
    for (uint32_t u = 0; u < NU; u += 29)
        assert_float_equal(reco_model_predict(l, u, 7), reco_model_predict(m, u, 7), 0);
    reco_model_free(l);
    unlink(path);
    reco_model_free(mf);
    reco_model_free(alone);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* A blend ranks by the mean of the two rankers' standardised scores, and
 * survives a model file. */
static void test_blend(void **state)
{
    (void)state;
    reco_dataset *ds = make_data(false, 40);
    const char *params[] = {"rankers", "ease", "blend", "ials", "ials.factors", "16",
                            "predictor", "none", NULL};
    reco_model *m = fit("default", ds, params);
    const reco_default_choice *ch = reco_default_choice_of(m);
    assert_string_equal(ch->ranker, "ease");
    assert_string_equal(ch->blend, "ials");
    assert_string_equal(reco_model_score_kind(m, false), "blend");
    const char *ip[] = {"factors", "16", NULL};
    reco_model *e = fit("ease", ds, NULL), *i = fit("ials", ds, ip);
    float *se = malloc(NI * sizeof *se), *si = malloc(NI * sizeof *si), *sb = malloc(NI * sizeof *sb);
    void *scratch = malloc(reco_model_scratch_size(m) + reco_model_scratch_size(e) +
                           reco_model_scratch_size(i));
    reco_error err;
    reco_profile prof = reco_profile_of_user(ds, 5);
    assert_int_equal(e->ops->score(e->state, ds, &e->baseline, &prof, se, scratch, &err), 0);
    assert_int_equal(i->ops->score(i->state, ds, &i->baseline, &prof, si, scratch, &err), 0);
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &prof, sb, scratch, &err), 0);
    /* The reference blend, in double. */
    double me = 0, qe = 0, mi = 0, qi = 0;
    int c = 0;
    for (int j = 0; j < NI; j++)
        if (isfinite(se[j]) && isfinite(si[j])) {
            me += se[j], qe += (double)se[j] * se[j], mi += si[j], qi += (double)si[j] * si[j];
            c++;
        }
    me /= c, mi /= c;
    double de = sqrt(qe / c - me * me), di = sqrt(qi / c - mi * mi);
    for (int j = 0; j < NI; j++) {
        if (!isfinite(se[j]) || !isfinite(si[j])) {
            assert_true(sb[j] == -INFINITY);
            continue;
        }
        assert_float_equal(sb[j], 0.5 * ((se[j] - me) / de + (si[j] - mi) / di), 1e-4);
    }
    /* The list is the top of those scores; and a model file keeps it. */
    reco_scored a[10], b[10];
    size_t na, nb;
    assert_int_equal(reco_model_recommend(m, &prof, 10, true, a, &na, NULL, scratch, &err), 0);
    nb = reco_topn_select(sb, NI, prof.items, prof.n, 10, b);
    assert_int_equal(na, nb);
    for (size_t j = 0; j < na; j++)
        assert_int_equal(a[j].id, b[j].id);
    char path[] = "/tmp/reco-test-blend-XXXXXX";
    close(mkstemp(path));
    assert_int_equal(reco_model_save(m, path, &err), RECO_OK);
    reco_model *l = NULL;
    assert_int_equal(reco_model_load(path, &l, &err), RECO_OK);
    assert_string_equal(reco_default_choice_of(l)->blend, "ials");
    assert_same_lists(m, l, ds);
    reco_model_free(l);
    unlink(path);
    free(se);
    free(si);
    free(sb);
    free(scratch);
    reco_model_free(e);
    reco_model_free(i);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* A candidate that cannot be fitted (ease over its memory limit) is
 * skipped with the reason; with one candidate nothing is compared. */
static void test_skips_and_single_candidate(void **state)
{
    (void)state;
    reco_dataset *ds = make_data(false, 30);
    const char *p1[] = {"rankers", "ease,popular", "ease.max_memory", "1000", NULL};
    reco_model *m = fit("default", ds, p1);
    const reco_default_choice *ch = reco_default_choice_of(m);
    assert_string_equal(ch->ranker, "popular");
    assert_true(isnan(ch->cand[0].value));
    assert_non_null(strstr(ch->cand[0].note, "skipped"));
    reco_model_free(m);

    const char *p2[] = {"rankers", "popular", "predictor", "none", NULL};
    m = fit("default", ds, p2);
    ch = reco_default_choice_of(m);
    assert_string_equal(ch->ranker, "popular");
    assert_non_null(strstr(ch->note, "one candidate"));
    assert_false(reco_model_predicts_ratings(m));
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* Implicit data (every rating 1): every rating is relevant in the
 * comparison, and liked-only variants, which keep nothing, are skipped. */
static void test_implicit_data(void **state)
{
    (void)state;
    reco_dataset *ds = make_data(true, 40);
    const char *params[] = {"rankers", "ease:min_rating=4,ease,popular", "predictor", "none", NULL};
    reco_model *m = fit("default", ds, params);
    const reco_default_choice *ch = reco_default_choice_of(m);
    assert_true(isnan(ch->cand[0].value));
    assert_false(isnan(ch->cand[1].value));
    assert_false(isnan(ch->cand[2].value));
    assert_true(ch->cand[1].value > 0);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* Too little data to carve a validation split: the first candidate, and
 * the reason. */
static void test_too_small_to_compare(void **state)
{
    (void)state;
    reco_idmap *users = reco_idmap_new(4), *items = reco_idmap_new(4);
    uint32_t id;
    assert_int_equal(reco_idmap_intern(users, "a", 1, &id), RECO_OK);
    assert_int_equal(reco_idmap_intern(items, "x", 1, &id), RECO_OK);
    assert_int_equal(reco_idmap_intern(items, "y", 1, &id), RECO_OK);
    reco_ratings *r = reco_ratings_new(users, items);
    reco_idmap_free(users);
    reco_idmap_free(items);
    assert_int_equal(reco_ratings_push(r, 0, 0, 5, 1, NULL), RECO_OK);
    assert_int_equal(reco_ratings_push(r, 0, 1, 4, 2, NULL), RECO_OK);
    reco_build_options bo;
    reco_build_options_default(&bo);
    reco_dataset *ds = NULL;
    reco_error err;
    assert_int_equal(reco_dataset_build(r, &bo, &ds, &err), RECO_OK);
    reco_ratings_free(r);
    const char *params[] = {"rankers", "popular,ease", "predictor", "baseline", NULL};
    reco_model *m = fit("default", ds, params);
    const reco_default_choice *ch = reco_default_choice_of(m);
    assert_string_equal(ch->ranker, "popular");
    assert_non_null(strstr(ch->note, "no comparison"));
    reco_model_free(m);
    reco_dataset_free(ds);
}

static void test_params_refused(void **state)
{
    (void)state;
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("default", &m, &err), RECO_OK);
    struct {
        const char *k, *v, *needle;
    } bad[] = {
        {"rankers", "ials,nosuch", "nosuch"},
        {"rankers", "default", "default"},
        {"rankers", "", "empty"},
        {"predictor", "nosuch", "default.predictor"},
        {"validation", "kfold:5", "default.validation"},
        {"metric", "rmse", "default.metric"},
        {"ials.factors", "0", "ials.factors"},
        {"ease.lambda", "-1", "ease.lambda"},
        {"blend", "ials,ease", "default.blend"},
        {"blend", "nosuch", "nosuch"},
        {"nosuch", "1", "default.nosuch"},
    };
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
        reco_error_clear(&err);
        assert_int_equal(reco_model_set_param(m, bad[j].k, bad[j].v, &err), RECO_ERR_INVALID);
        if (!strstr(err.msg, bad[j].needle))
            fail_msg("%s=%s: \"%s\" lacks \"%s\"", bad[j].k, bad[j].v, err.msg, bad[j].needle);
    }
    /* A candidate's own parameters are checked when the model is fitted. */
    assert_int_equal(reco_model_set_param(m, "rankers", "ials:factors=0", &err), RECO_OK);
    assert_int_equal(m->ops->params_check(m->params, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "ials.factors"));
    reco_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chooses_the_best_on_validation),
        cmocka_unit_test(test_blend),
        cmocka_unit_test(test_skips_and_single_candidate),
        cmocka_unit_test(test_implicit_data),
        cmocka_unit_test(test_too_small_to_compare),
        cmocka_unit_test(test_params_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
