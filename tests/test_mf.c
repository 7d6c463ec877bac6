/* Unit tests of the "mf" algorithm on synthetic low-rank data. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reco/dataset.h"
#include "reco/mf.h"
#include "reco/model.h"
#include "testutil.h"

/* ---- synthetic data: 300 users x 200 items, rank 3, noise 0.1, 30% seen ---- */

#define NU 300
#define NI 200
#define RANK 3
#define NOISE 0.1

typedef struct triple {
    uint32_t u, i;
    float r;
} triple;

typedef struct synth {
    reco_dataset *train;
    triple *test;
    size_t n_test;
    reco_model *m; /* fitted with SYNTH_PARAMS, shared by the read-only tests */
} synth;

static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* Ratings 3 + b_u + b_i + a_u . c_i + noise; 20% of the observed pairs are
 * held out. The signal has std dev ~1.1, so the baseline is far from the
 * noise level while a rank-3 model can reach it. */
static synth make_synth(void)
{
    static double a[NU][RANK], c[NI][RANK], bu[NU], bi[NI];
    rng_state = 0x9E3779B97F4A7C15ull;
    double s = pow(1.0 / 3.0, 0.25); /* var(a . c) = RANK s^4 = 1 */
    for (int u = 0; u < NU; u++) {
        bu[u] = 0.3 * gauss();
        for (int f = 0; f < RANK; f++)
            a[u][f] = s * gauss();
    }
    for (int i = 0; i < NI; i++) {
        bi[i] = 0.3 * gauss();
        for (int f = 0; f < RANK; f++)
            c[i][f] = s * gauss();
    }
    reco_idmap *users = reco_idmap_new(NU), *items = reco_idmap_new(NI);
    assert_non_null(users);
    assert_non_null(items);
    char key[32];
    uint32_t id;
    for (int u = 0; u < NU; u++) {
        snprintf(key, sizeof key, "u%d", u);
        assert_int_equal(reco_idmap_intern(users, key, strlen(key), &id), RECO_OK);
        assert_int_equal(id, (uint32_t)u);
    }
    for (int i = 0; i < NI; i++) {
        snprintf(key, sizeof key, "i%d", i);
        assert_int_equal(reco_idmap_intern(items, key, strlen(key), &id), RECO_OK);
        assert_int_equal(id, (uint32_t)i);
    }
    reco_ratings *r = reco_ratings_new(users, items);
    assert_non_null(r);
    reco_idmap_free(users);
    reco_idmap_free(items);
    synth sy = {0};
    sy.test = malloc(NU * NI * sizeof *sy.test);
    assert_non_null(sy.test);
    for (int u = 0; u < NU; u++)
        for (int i = 0; i < NI; i++) {
            if (uniform() >= 0.3)
                continue;
            double v = 3 + bu[u] + bi[i] + NOISE * gauss();
            for (int f = 0; f < RANK; f++)
                v += a[u][f] * c[i][f];
            if (uniform() < 0.2)
                sy.test[sy.n_test++] = (triple){(uint32_t)u, (uint32_t)i, (float)v};
            else
                assert_int_equal(reco_ratings_push(r, (uint32_t)u, (uint32_t)i, (float)v, 0, NULL),
                                 RECO_OK);
        }
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_error err;
    assert_int_equal(reco_dataset_build(r, &bo, &sy.train, &err), RECO_OK);
    reco_ratings_free(r);
    return sy;
}

static void free_synth(synth *sy)
{
    reco_model_free(sy->m);
    reco_dataset_free(sy->train);
    free(sy->test);
}

/* Parameters for the synthetic data: few factors, many epochs, little
 * regularisation (the data is nearly noise-free). */
static const char *const SYNTH_PARAMS[][2] = {
    {"factors", "8"}, {"epochs", "100"}, {"lr", "0.01"}, {"reg", "0.01"},
    {"reg_bias", "0.01"}, {"init_std", "0.1"}, {"seed", "7"}, {"threads", "1"},
};

static reco_model *fit_model(const reco_dataset *train, const char *algo,
                             const char *const (*extra)[2], size_t n_extra)
{
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    if (!strcmp(algo, "mf"))
        for (size_t j = 0; j < sizeof SYNTH_PARAMS / sizeof *SYNTH_PARAMS; j++)
            assert_int_equal(reco_model_set_param(m, SYNTH_PARAMS[j][0], SYNTH_PARAMS[j][1], &err),
                             RECO_OK);
    for (size_t j = 0; j < n_extra; j++)
        assert_int_equal(reco_model_set_param(m, extra[j][0], extra[j][1], &err), RECO_OK);
    reco_status rc = reco_model_fit(m, train, NULL, &err);
    if (rc)
        fail_msg("fit failed: %s", err.msg);
    return m;
}

static double rmse_on(const reco_model *m, const triple *t, size_t n)
{
    double se = 0;
    for (size_t j = 0; j < n; j++) {
        double d = reco_model_predict(m, t[j].u, t[j].i) - t[j].r;
        se += d * d;
    }
    return sqrt(se / (double)n);
}

static double train_rmse(const reco_model *m, const reco_dataset *d)
{
    const reco_csr *R = &d->by_user;
    double se = 0;
    for (uint32_t u = 0; u < R->n_rows; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
            double e = reco_model_predict(m, u, R->idx[k]) - R->val[k];
            se += e * e;
        }
    return sqrt(se / (double)R->nnz);
}

static int setup(void **state)
{
    synth *sy = malloc(sizeof *sy);
    *sy = make_synth();
    sy->m = fit_model(sy->train, "mf", NULL, 0);
    *state = sy;
    return 0;
}

static int teardown(void **state)
{
    free_synth(*state);
    free(*state);
    return 0;
}

/* ---- accuracy ---- */

static void test_low_rank_reaches_noise(void **state)
{
    synth *sy = *state;
    reco_model *base = fit_model(sy->train, "baseline", NULL, 0);
    const reco_model *m = sy->m;
    double b = rmse_on(base, sy->test, sy->n_test);
    double tr = train_rmse(m, sy->train), te = rmse_on(m, sy->test, sy->n_test);
    print_message("baseline held-out %.3f; mf train %.3f held-out %.3f (noise %.2f)\n", b, tr,
                  te, NOISE);
    assert_true(b > 0.8);
    assert_true(tr < 0.15);
    assert_true(te < 0.25);
    /* The model's own view of its training error agrees. */
    const reco_mf_state *st = reco_mf_state_of(m);
    assert_non_null(st);
    assert_int_equal(st->epochs_run, 100);
    assert_true(fabs(st->train_rmse - tr) < 0.05);
    reco_model_free(base);
}

static void test_als_reaches_noise(void **state)
{
    synth *sy = *state;
    static const char *const als[][2] = {{"solver", "als"}, {"epochs", "15"}, {"reg", "0.02"}};
    reco_model *m = fit_model(sy->train, "mf", als, 3);
    double te = rmse_on(m, sy->test, sy->n_test);
    print_message("als held-out %.3f\n", te);
    assert_true(te < 0.25);
    reco_model_free(m);
}

/* ---- reproducibility ---- */

static bool same_state(const reco_mf_state *a, const reco_mf_state *b)
{
    size_t nu = a->n_users, ni = a->n_items, ld = a->ld;
    return a->mu == b->mu && !memcmp(a->bu, b->bu, nu * sizeof(float)) &&
           !memcmp(a->bi, b->bi, ni * sizeof(float)) &&
           !memcmp(a->P, b->P, nu * ld * sizeof(float)) &&
           !memcmp(a->Q, b->Q, ni * ld * sizeof(float));
}

static void test_fixed_seed_is_bit_identical(void **state)
{
    synth *sy = *state;
    static const char *const short_run[][2] = {{"epochs", "20"}};
    static const char *const other_seed[][2] = {{"epochs", "20"}, {"seed", "8"}};
    reco_model *a = fit_model(sy->train, "mf", short_run, 1);
    reco_model *b = fit_model(sy->train, "mf", short_run, 1);
    reco_model *c = fit_model(sy->train, "mf", other_seed, 2);
    assert_true(same_state(reco_mf_state_of(a), reco_mf_state_of(b)));
    assert_false(same_state(reco_mf_state_of(a), reco_mf_state_of(c)));
    reco_model_free(a);
    reco_model_free(b);
    reco_model_free(c);
}

static void test_two_threads(void **state)
{
    synth *sy = *state;
    static const char *const one_kv[][2] = {{"epochs", "40"}};
    static const char *const two_kv[][2] = {{"epochs", "40"}, {"threads", "2"}};
    reco_model *one = fit_model(sy->train, "mf", one_kv, 1);
    reco_model *two = fit_model(sy->train, "mf", two_kv, 2);
    double e1 = rmse_on(one, sy->test, sy->n_test), e2 = rmse_on(two, sy->test, sy->n_test);
    print_message("held-out after 40 epochs: 1 thread %.4f, 2 threads %.4f\n", e1, e2);
    assert_true(e1 < 0.4);
    assert_true(fabs(e1 - e2) < 0.02);
    /* The block partition does not depend on the thread count (see mf.h),
     * so the models are in fact the same; test_threads.c tries more. */
    assert_true(same_state(reco_mf_state_of(one), reco_mf_state_of(two)));
    reco_model_free(one);
    reco_model_free(two);
}

/* ---- parameters ---- */

static void expect_rejected(reco_model *m, const char *key, const char *value)
{
    reco_error err;
    reco_error_clear(&err);
    assert_int_equal(reco_model_set_param(m, key, value, &err), RECO_ERR_INVALID);
    if (!strstr(err.msg, key))
        fail_msg("message for %s=%s does not name the parameter: %s", key, value, err.msg);
}

static void test_param_set_rejects_bad_values(void **state)
{
    (void)state;
    reco_model *m;
    assert_int_equal(reco_model_new("mf", &m, NULL), RECO_OK);
    expect_rejected(m, "factors", "0");
    expect_rejected(m, "factors", "-4");
    expect_rejected(m, "factors", "ten");
    expect_rejected(m, "factors", "");
    expect_rejected(m, "epochs", "0");
    expect_rejected(m, "epochs", "2.5");
    expect_rejected(m, "lr", "0");
    expect_rejected(m, "lr", "-0.1");
    expect_rejected(m, "lr", "nan");
    expect_rejected(m, "reg", "-1");
    expect_rejected(m, "reg", "x");
    expect_rejected(m, "reg_bias", "-0.5");
    expect_rejected(m, "init_std", "0");
    expect_rejected(m, "init_std", "inf");
    expect_rejected(m, "seed", "-1");
    expect_rejected(m, "seed", "1x");
    expect_rejected(m, "seed", "99999999999999999999999");
    expect_rejected(m, "threads", "-1");
    expect_rejected(m, "solver", "newton");
    expect_rejected(m, "bogus", "1");
    /* Nothing rejected was stored. */
    reco_mf_params def;
    reco_mf_params_default(&def);
    const reco_mf_params *p = m->params;
    assert_int_equal(p->factors, def.factors);
    assert_int_equal(p->epochs, def.epochs);
    assert_true(p->lr == def.lr && p->reg == def.reg && p->init_std == def.init_std);
    reco_model_free(m);
}

static void test_params_format_round_trips(void **state)
{
    (void)state;
    reco_model *m, *m2;
    reco_error err;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    assert_int_equal(reco_model_new("mf", &m2, &err), RECO_OK);
    static const char *const kv[][2] = {
        {"factors", "17"}, {"epochs", "3"},    {"lr", "0.0125"},  {"reg", "0.07"},
        {"reg_bias", "0.3"}, {"init_std", "0.25"}, {"seed", "18446744073709551615"},
        {"threads", "2"},  {"solver", "als"},
    };
    for (size_t j = 0; j < sizeof kv / sizeof *kv; j++)
        assert_int_equal(reco_model_set_param(m, kv[j][0], kv[j][1], &err), RECO_OK);
    char buf[512];
    m->ops->params_format(m->params, buf, sizeof buf);
    for (size_t j = 0; j < sizeof kv / sizeof *kv; j++) {
        char want[128];
        snprintf(want, sizeof want, "%s=%s", kv[j][0], kv[j][1]);
        if (!strstr(buf, want))
            fail_msg("\"%s\" missing from \"%s\"", want, buf);
    }
    /* Feeding the text back gives the same parameters. */
    char *save, *tok;
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        assert_int_equal(reco_model_set_param(m2, tok, eq + 1, &err), RECO_OK);
    }
    const reco_mf_params *a = m->params, *b = m2->params;
    assert_int_equal(a->factors, b->factors);
    assert_int_equal(a->epochs, b->epochs);
    assert_true(a->lr == b->lr && a->reg == b->reg && a->reg_bias == b->reg_bias &&
                a->init_std == b->init_std);
    assert_true(a->seed == b->seed && a->seed == UINT64_MAX);
    assert_int_equal(a->threads, b->threads);
    assert_int_equal(a->solver, b->solver);
    reco_model_free(m);
    reco_model_free(m2);
}

static void test_params_check(void **state)
{
    synth *sy = *state;
    reco_mf_params p;
    reco_error err;
    reco_mf_params_default(&p);
    assert_int_equal(reco_mf_params_check(&p, &err), RECO_OK);
    p.factors = 0;
    assert_int_equal(reco_mf_params_check(&p, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "factors"));
    reco_mf_params_default(&p);
    p.lr = -1;
    assert_int_equal(reco_mf_params_check(&p, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "lr"));
    /* A model whose parameters were broken behind param_set's back. */
    reco_model *m;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    ((reco_mf_params *)m->params)->reg = -0.5;
    assert_int_equal(reco_model_fit(m, sy->train, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "reg"));
    assert_null(reco_mf_state_of(m));
    reco_model_free(m);
}

static void test_divergence_is_reported(void **state)
{
    synth *sy = *state;
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "lr", "8", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "init_std", "3", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, sy->train, NULL, &err), RECO_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "lr"));
    reco_model_free(m);
}

/* ---- the fitted state and predict ---- */

static void test_state_layout_and_predict(void **state)
{
    synth *sy = *state;
    static const char *const kv[][2] = {{"factors", "5"}, {"epochs", "5"}};
    reco_model *m = fit_model(sy->train, "mf", kv, 2);
    const reco_mf_state *st = reco_mf_state_of(m);
    assert_non_null(st);
    assert_int_equal(st->k, 5);
    assert_int_equal(st->ld % 16, 0);
    assert_true(st->ld >= st->k);
    assert_int_equal(st->n_users, NU);
    assert_int_equal(st->n_items, NI);
    assert_int_equal(st->params.factors, 5);
    assert_int_equal((uintptr_t)st->P % 64, 0);
    assert_int_equal((uintptr_t)st->Q % 64, 0);
    for (uint32_t u = 0; u < st->n_users; u++)
        for (uint32_t f = st->k; f < st->ld; f++)
            assert_true(st->P[(size_t)u * st->ld + f] == 0.0f);
    for (uint32_t u = 0; u < NU; u += 37)
        for (uint32_t i = 0; i < NI; i += 23) {
            double r = st->mu + st->bu[u] + st->bi[i];
            for (uint32_t f = 0; f < st->k; f++)
                r += (double)st->P[(size_t)u * st->ld + f] * st->Q[(size_t)i * st->ld + f];
            r = r < m->rating_lo ? m->rating_lo : r > m->rating_hi ? m->rating_hi : r;
            assert_float_equal(reco_model_predict(m, u, i), r, 1e-4);
        }
    /* Unknown user or item: the baseline answers. */
    assert_float_equal(reco_model_predict(m, NU + 5, 3),
                       reco_baseline_predict(&m->baseline, RECO_NO_USER, 3), 1e-6);
    /* Not an mf model, or not fitted: no state. */
    reco_model *pop;
    assert_int_equal(reco_model_new("popular", &pop, NULL), RECO_OK);
    assert_null(reco_mf_state_of(pop));
    assert_null(reco_mf_state_of(NULL));
    reco_model_free(pop);
    reco_model *unfitted;
    assert_int_equal(reco_model_new("mf", &unfitted, NULL), RECO_OK);
    assert_null(reco_mf_state_of(unfitted));
    reco_model_free(unfitted);
    reco_model_free(m);
}

/* ---- scoring, fold-in, top-N ---- */

static void test_score_matches_predict(void **state)
{
    synth *sy = *state;
    const reco_model *m = sy->m;
    const reco_mf_state *st = reco_mf_state_of(m);
    float *scores = malloc(reco_model_scratch_size(m));
    void *scratch = malloc(m->ops->scratch_size(st, sy->train));
    reco_error err;
    for (uint32_t u = 0; u < NU; u += 29) {
        reco_profile prof = reco_profile_of_user(sy->train, u);
        assert_int_equal(m->ops->score(st, sy->train, &m->baseline, &prof, scores, scratch, &err),
                         RECO_OK);
        for (uint32_t i = 0; i < NI; i++)
            assert_float_equal(scores[i], m->ops->predict(st, sy->train, &m->baseline, u, i),
                               1e-4);
    }
    free(scores);
    free(scratch);
}

static size_t overlap(const reco_scored *a, size_t na, const reco_scored *b, size_t nb)
{
    size_t c = 0;
    for (size_t x = 0; x < na; x++)
        for (size_t y = 0; y < nb; y++)
            c += a[x].id == b[y].id;
    return c;
}

static void test_fold_in_close_to_trained_user(void **state)
{
    synth *sy = *state;
    const reco_model *m = sy->m;
    void *scratch = malloc(reco_model_scratch_size(m));
    reco_error err;
    reco_scored a[10], b[10];
    size_t na, nb, total = 0, users = 0;
    double worst = 0;
    for (uint32_t u = 0; u < NU; u += 3) {
        reco_profile prof = reco_profile_of_user(sy->train, u);
        if (prof.n < 20)
            continue;
        assert_int_equal(reco_model_recommend(m, &prof, 10, true, a, &na, NULL, scratch, &err),
                         RECO_OK);
        prof.updated = true;
        assert_int_equal(reco_model_recommend(m, &prof, 10, true, b, &nb, NULL, scratch, &err),
                         RECO_OK);
        assert_int_equal(na, 10);
        assert_int_equal(nb, 10);
        size_t o = overlap(a, na, b, nb);
        total += o;
        users++;
        for (size_t x = 0; x < 10; x++)
            for (size_t y = 0; y < 10; y++)
                if (a[x].id == b[y].id && fabs(a[x].score - b[y].score) > worst)
                    worst = fabs(a[x].score - b[y].score);
    }
    double mean = (double)total / (double)users;
    print_message("fold-in: mean top-10 overlap %.2f over %zu users, worst score gap %.3f\n",
                  mean, users, worst);
    assert_true(users > 50);
    assert_true(mean >= 7.0);
    assert_true(worst < 0.5);

    /* The same ratings from a user reco has never seen are folded in too. */
    reco_profile prof = reco_profile_of_user(sy->train, 3);
    prof.user = RECO_NO_USER;
    bool cold = true;
    assert_int_equal(reco_model_recommend(m, &prof, 10, true, b, &nb, &cold, scratch, &err),
                     RECO_OK);
    assert_false(cold);
    prof = reco_profile_of_user(sy->train, 3);
    assert_int_equal(reco_model_recommend(m, &prof, 10, true, a, &na, NULL, scratch, &err),
                     RECO_OK);
    assert_true(overlap(a, na, b, nb) >= 6);
    free(scratch);
}

static void test_fold_in_edge_cases(void **state)
{
    synth *sy = *state;
    const reco_model *m = sy->m;
    const reco_mf_state *st = reco_mf_state_of(m);
    void *scratch = malloc(reco_mf_fold_in_scratch_size(st));
    float *x = malloc(st->ld * sizeof *x);
    float b = 1;
    reco_error err;
    /* No ratings: zeros. */
    assert_int_equal(reco_mf_fold_in(st, NULL, NULL, 0, &b, x, scratch, &err), RECO_OK);
    assert_true(b == 0);
    for (uint32_t f = 0; f < st->ld; f++)
        assert_true(x[f] == 0);
    /* Items the model does not know are ignored. */
    uint32_t items[3] = {4, NI + 1, NI + 7};
    float r[3] = {5, 1, 1};
    assert_int_equal(reco_mf_fold_in(st, items, r, 1, &b, x, scratch, &err), RECO_OK);
    float b1 = b, x1 = x[0];
    assert_int_equal(reco_mf_fold_in(st, items, r, 3, &b, x, scratch, &err), RECO_OK);
    assert_true(b == b1 && x[0] == x1);
    /* A liked item pulls the user's score for it up. */
    double s = st->mu + b + st->bi[4];
    for (uint32_t f = 0; f < st->k; f++)
        s += (double)x[f] * st->Q[4 * st->ld + f];
    assert_true(s > st->mu + st->bi[4]);
    /* Many ratings beyond one chunk of the normal equations. */
    const reco_csr *C = &sy->train->by_user;
    uint32_t many[NI];
    float mr[NI];
    for (uint32_t i = 0; i < NI; i++) {
        many[i] = i;
        mr[i] = (float)(i % 5) + 1;
    }
    assert_int_equal(reco_mf_fold_in(st, many, mr, NI, &b, x, scratch, &err), RECO_OK);
    assert_true(isfinite(b));
    (void)C;
    free(x);
    free(scratch);
}

static void test_top_n_never_returns_rated(void **state)
{
    synth *sy = *state;
    const reco_model *m = sy->m;
    void *scratch = malloc(reco_model_scratch_size(m));
    reco_error err;
    reco_scored out[NI];
    size_t n;
    for (uint32_t u = 0; u < NU; u++) {
        reco_profile prof = reco_profile_of_user(sy->train, u);
        prof.updated = u % 2 == 1; /* half through the fold-in */
        assert_int_equal(reco_model_recommend(m, &prof, NI, true, out, &n, NULL, scratch, &err),
                         RECO_OK);
        assert_int_equal(n, NI - prof.n);
        for (size_t j = 0; j < n; j++) {
            for (uint32_t k = 0; k < prof.n; k++)
                assert_int_not_equal(out[j].id, prof.items[k]);
            if (j)
                assert_true(out[j - 1].score >= out[j].score);
        }
    }
    free(scratch);
}

/* The pruned top-N of recommend gives what exact scoring of every
 * product and a full selection give: same products, same order (up to
 * float rounding of near-ties), exact scores. */
static void test_fast_recommend_matches_exhaustive(void **state)
{
    synth *sy = *state;
    const reco_model *m = sy->m;
    const reco_mf_state *st = reco_mf_state_of(m);
    assert_non_null(st->index.ord[0].order);
    assert_int_equal(st->index.n_orders, 2);
    void *scratch = malloc(reco_model_scratch_size(m));
    float *scores = malloc(NI * sizeof *scores);
    reco_error err;
    reco_scored fast[40], full[40];
    size_t nf, ng;
    size_t ns[] = {1, 5, 10, 40};
    for (uint32_t u = 0; u < NU; u += 3)
        for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
            reco_profile prof = reco_profile_of_user(sy->train, u);
            prof.updated = u % 2 == 1;
            assert_int_equal(reco_model_recommend(m, &prof, ns[t], true, fast, &nf, NULL, scratch,
                                                  &err), RECO_OK);
            assert_int_equal(m->ops->score(m->state, m->train, &m->baseline, &prof, scores,
                                           (char *)scratch + 0, &err), RECO_OK);
            ng = reco_topn_select(scores, NI, prof.items, prof.n, ns[t], full);
            assert_int_equal(nf, ng);
            for (size_t j = 0; j < nf; j++) {
                assert_float_equal(fast[j].score, full[j].score, 1e-4);
                if (fast[j].id != full[j].id) /* only a float near-tie may swap */
                    assert_float_equal(fast[j].score, scores[full[j].id], 1e-5);
            }
        }
    free(scores);
    free(scratch);
}

static void test_similar(void **state)
{
    synth *sy = *state;
    const reco_model *m = sy->m;
    const reco_mf_state *st = reco_mf_state_of(m);
    reco_scored out[10];
    size_t n;
    reco_error err;
    for (uint32_t i = 0; i < NI; i += 17) {
        assert_int_equal(
            reco_model_similar_source(m, RECO_SIMILAR_FACTORS, i, 10, out, &n, NULL, &err),
            RECO_OK);
        assert_int_equal(n, 10);
        /* Brute force: the best cosine among the other items with enough
         * ratings. */
        double best = -2;
        uint32_t best_j = 0;
        const float *qi = st->Q + (size_t)i * st->ld;
        for (uint32_t j = 0; j < NI; j++) {
            if (j == i || reco_csr_row_len(&m->train->by_item, j) < m->similar_params.min_support)
                continue;
            const float *qj = st->Q + (size_t)j * st->ld;
            double d = 0, ni = 0, nj = 0;
            for (uint32_t f = 0; f < st->k; f++) {
                d += (double)qi[f] * qj[f];
                ni += (double)qi[f] * qi[f];
                nj += (double)qj[f] * qj[f];
            }
            double c = d / sqrt(ni * nj);
            if (c > best)
                best = c, best_j = j;
        }
        assert_int_equal(out[0].id, best_j);
        assert_float_equal(out[0].score, best, 1e-4);
        for (size_t j = 0; j < n; j++) {
            assert_int_not_equal(out[j].id, i);
            assert_true(out[j].score <= 1.0001f && out[j].score >= -1.0001f);
            if (j)
                assert_true(out[j - 1].score >= out[j].score);
        }
    }
    assert_int_equal(
        reco_model_similar_source(m, RECO_SIMILAR_FACTORS, NI, 10, out, &n, NULL, &err),
        RECO_ERR_NOT_FOUND);
}

/* A user and an item kept in the maps without training ratings (keep_ids)
 * have zero factors and bias. */
static void test_ids_without_ratings(void **state)
{
    (void)state;
    reco_ratings *r = reco_ratings_new(NULL, NULL);
    reco_error err;
    const char *rows[][3] = {{"a", "x", "5"}, {"a", "y", "3"}, {"b", "x", "4"}, {"b", "z", "2"},
                             {"c", "y", "1"}, {"c", "z", "4"}, {"d", "w", "3"}};
    for (size_t j = 0; j < 7; j++)
        assert_int_equal(reco_ratings_add(r, rows[j][0], 1, rows[j][1], 1,
                                          (float)atof(rows[j][2]), 0, &err),
                         RECO_OK);
    r->n--; /* drop (d, w): d and w stay in the maps with no rating */
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *d;
    assert_int_equal(reco_dataset_build(r, &bo, &d, &err), RECO_OK);
    assert_int_equal(reco_dataset_n_users(d), 4);
    assert_int_equal(reco_dataset_n_items(d), 4);
    reco_model *m;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "factors", "4", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, d, NULL, &err), RECO_OK);
    const reco_mf_state *st = reco_mf_state_of(m);
    uint32_t du = 3, dw = 3;
    assert_true(st->bu[du] == 0 && st->bi[dw] == 0);
    for (uint32_t f = 0; f < st->ld; f++)
        assert_true(st->P[du * st->ld + f] == 0 && st->Q[dw * st->ld + f] == 0);
    reco_scored out[4];
    size_t n;
    assert_int_equal(
        reco_model_similar_source(m, RECO_SIMILAR_FACTORS, dw, 4, out, &n, NULL, &err), RECO_OK);
    assert_int_equal(n, 0);
    reco_similar full[4];
    assert_int_equal(reco_model_similar(m, 0, 4, full, &n, NULL, &err), RECO_OK);
    for (size_t j = 0; j < n; j++)
        assert_int_not_equal(full[j].id, dw);
    reco_model_free(m);
    reco_dataset_free(d);
    reco_ratings_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_low_rank_reaches_noise),
        cmocka_unit_test(test_als_reaches_noise),
        cmocka_unit_test(test_fixed_seed_is_bit_identical),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_param_set_rejects_bad_values),
        cmocka_unit_test(test_params_format_round_trips),
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_divergence_is_reported),
        cmocka_unit_test(test_state_layout_and_predict),
        cmocka_unit_test(test_score_matches_predict),
        cmocka_unit_test(test_fold_in_close_to_trained_user),
        cmocka_unit_test(test_fold_in_edge_cases),
        cmocka_unit_test(test_top_n_never_returns_rated),
        cmocka_unit_test(test_fast_recommend_matches_exhaustive),
        cmocka_unit_test(test_similar),
        cmocka_unit_test(test_ids_without_ratings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
