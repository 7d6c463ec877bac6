/* Unit tests of the "ials" algorithm on synthetic implicit-feedback data:
 * the documented objective and its normal equations (checked against an
 * independent dense solve), monotone descent with exact solves, CG close to
 * exact, thread-count independence, fold-in, explanations, the exact
 * pruned top-N, model files and parameter checks. */
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
#include "reco/ials.h"
#include "reco/model.h"
#include "testutil.h"

/* 400 users x 1,300 products (1,200 rated, 100 never rated: they must never
 * be recommended), five taste groups; each user takes products mostly from
 * their group, skewed towards popular ones. The catalogue spans several
 * blocks of the top-N index. */
#define NU 400
#define NI 1300
#define NI_RATED 1200
#define GROUPS 5

static uint64_t rng_state;

static double uniform(void) { return test_uniform(&rng_state); }

static reco_dataset *make_data(void)
{
    rng_state = 0x243F6A8885A308D3ull;
    reco_ratings *r = test_ratings_new(NU, NI);
    assert_non_null(r);
    static uint8_t taken[NI];
    for (int u = 0; u < NU; u++) {
        memset(taken, 0, sizeof taken);
        int g = u % GROUPS;
        /* 1 to 60 products: many users with a handful (the Woodbury path),
         * some with many (the CG or Cholesky path). */
        int n = 1 + (int)(120 * uniform() * uniform());
        for (int t = 0; t < n; t++) {
            /* Zipf-like rank within the group's products (or, 20% of the
             * time, any product). */
            double z = pow(uniform(), 3.0);
            int i = uniform() < 0.8 ? g + GROUPS * (int)(z * (NI_RATED / GROUPS))
                                    : (int)(uniform() * NI_RATED);
            if (taken[i])
                continue;
            taken[i] = 1;
            float rating = (float)(1 + (int)(5 * uniform()));
            assert_int_equal(reco_ratings_push(r, (uint32_t)u, (uint32_t)i, rating,
                                               1000000 + u * 100 + t, NULL),
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

static reco_model *fit(const reco_dataset *ds, const char *const *params, int threads)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("ials", &m, &err), RECO_OK);
    for (int j = 0; params && params[j]; j += 2)
        assert_int_equal(reco_model_set_param(m, params[j], params[j + 1], &err), RECO_OK);
    reco_fit_ctx ctx = {0};
    ctx.threads = threads;
    reco_status rc = reco_model_fit(m, ds, &ctx, &err);
    if (rc)
        fail_msg("fit: %s", err.msg);
    return m;
}

static int setup(void **state)
{
    *state = make_data();
    return 0;
}

static int teardown(void **state)
{
    reco_dataset_free(*state);
    return 0;
}

/* ---- parameters ---- */

static void test_params_refused(void **state)
{
    (void)state;
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("ials", &m, &err), RECO_OK);
    struct {
        const char *k, *v, *needle;
    } bad[] = {
        {"alpha", "-1", "ials.alpha"},       {"factors", "0", "ials.factors"},
        {"conf", "stars", "ials.conf"},      {"unobserved", "0", "ials.unobserved"},
        {"reg_exp", "2", "ials.reg_exp"},    {"reg", "-0.5", "ials.reg"},
        {"cg_steps", "0", "ials.cg_steps"},  {"solver", "lu", "ials.solver"},
        {"nonsense", "1", "ials.nonsense"},  {"iterations", "x", "ials.iterations"},
    };
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
        reco_error_clear(&err);
        assert_int_equal(reco_model_set_param(m, bad[j].k, bad[j].v, &err), RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, bad[j].needle));
    }
    /* The range is named too. */
    assert_int_equal(reco_model_set_param(m, "alpha", "-1", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "1e+06"));
    reco_model_free(m);
}

/* ---- the objective ---- */

/* Solves the dense n x n system A x = b in double (Gaussian elimination
 * with partial pivoting); A and b are overwritten. */
static void dense_solve(double *A, double *b, int n)
{
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[p * n + c]))
                p = r;
        for (int l = 0; l < n; l++) {
            double t = A[c * n + l];
            A[c * n + l] = A[p * n + l];
            A[p * n + l] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (int l = c; l < n; l++)
                A[r * n + l] -= f * A[c * n + l];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        for (int l = c + 1; l < n; l++)
            b[c] -= A[c * n + l] * b[l];
        b[c] /= A[c * n + c];
    }
}

/* The documented normal equations of one row, built from scratch in double:
 * (w0 sum_all f f^T + sum_j (c_j - w0) f_j f_j^T + lambda I) x = sum_j c_j f_j
 * with w0 = unobserved / |I| and lambda = reg (sum_j c_j + w0 (N - n))^nu.
 * Returns the solution in x (k doubles). */
static void reference_row(const reco_ials_params *p, double w0, const float *F, uint32_t n_other,
                          uint32_t n_active_other, uint32_t k, uint32_t ld, const uint32_t *idx,
                          const float *conf, uint32_t n, double *x)
{
    double *A = calloc((size_t)k * k, sizeof *A);
    assert_non_null(A);
    for (uint32_t o = 0; o < n_other; o++) {
        const float *f = F + (size_t)o * ld;
        for (uint32_t a = 0; a < k; a++)
            for (uint32_t b = 0; b < k; b++)
                A[a * k + b] += w0 * f[a] * f[b];
    }
    double cs = 0;
    for (uint32_t a = 0; a < k; a++)
        x[a] = 0;
    for (uint32_t j = 0; j < n; j++) {
        const float *f = F + (size_t)idx[j] * ld;
        cs += conf[j];
        for (uint32_t a = 0; a < k; a++) {
            x[a] += conf[j] * f[a];
            for (uint32_t b = 0; b < k; b++)
                A[a * k + b] += (conf[j] - w0) * f[a] * f[b];
        }
    }
    double lam = p->reg * pow(cs + w0 * (n_active_other - n), p->reg_exp);
    for (uint32_t a = 0; a < k; a++)
        A[a * k + a] += lam;
    dense_solve(A, x, (int)k);
    free(A);
}

/* With exact solves, every product (the last half-sweep) satisfies its
 * normal equations: this checks the Woodbury path (products with few
 * ratings), the Cholesky path (many), and the documented model itself. */
static void test_rows_solve_the_documented_equations(void **state)
{
    const reco_dataset *ds = *state;
    const char *params[] = {"solver", "cholesky", "factors", "12", "iterations", "4",
                            "alpha", "3", "conf", "rating", "reg", "0.05", "unobserved", "50",
                            NULL};
    reco_model *m = fit(ds, params, 2);
    const reco_ials_state *st = reco_ials_state_of(m);
    assert_non_null(st);
    const reco_csr *R = &ds->by_user, *C = &ds->by_item;
    uint32_t active_items = 0;
    for (uint32_t i = 0; i < NI; i++)
        active_items += C->ptr[i + 1] > C->ptr[i];
    assert_int_equal(st->active_items, active_items);
    assert_float_equal(st->w0, 50.0 / active_items, 1e-12);
    float *mean = calloc(NU, sizeof *mean);
    for (uint32_t u = 0; u < NU; u++) {
        double s = 0;
        for (uint64_t j = R->ptr[u]; j < R->ptr[u + 1]; j++)
            s += R->val[j];
        mean[u] = R->ptr[u + 1] > R->ptr[u] ? (float)(s / (R->ptr[u + 1] - R->ptr[u])) : 0;
    }
    uint32_t active_users = 0;
    for (uint32_t u = 0; u < NU; u++)
        active_users += R->ptr[u + 1] > R->ptr[u];
    double x[64];
    float conf[NU];
    int short_rows = 0, long_rows = 0;
    for (uint32_t i = 0; i < NI_RATED; i++) {
        uint32_t n = (uint32_t)(C->ptr[i + 1] - C->ptr[i]);
        if (n == 0)
            continue;
        const uint32_t *idx = C->idx + C->ptr[i];
        for (uint32_t j = 0; j < n; j++)
            conf[j] = reco_ials_confidence(&st->params, C->val[C->ptr[i] + j], mean[idx[j]]);
        reference_row(&st->params, st->w0, st->X, st->n_users, active_users, st->k, st->ld, idx,
                      conf, n, x);
        const float *y = st->Y + (size_t)i * st->ld;
        double scale = 0;
        for (uint32_t a = 0; a < st->k; a++)
            scale = fmax(scale, fabs(x[a]));
        for (uint32_t a = 0; a < st->k; a++)
            assert_float_equal(y[a], x[a], 2e-3 * (scale + 1e-3));
        *(n <= 24 ? &short_rows : &long_rows) += 1;
    }
    print_message("rows checked: %d with <= 24 ratings, %d with more\n", short_rows, long_rows);
    assert_true(short_rows > 10 && long_rows > 10);
    free(mean);
    reco_model_free(m);
}

/* Each exact half-sweep minimises the objective over one side: the loss
 * never rises from one iteration to the next. */
static void test_exact_sweeps_descend(void **state)
{
    const reco_dataset *ds = *state;
    double prev = INFINITY;
    for (int it = 1; it <= 4; it++) {
        char its[8];
        snprintf(its, sizeof its, "%d", it);
        const char *params[] = {"solver", "cholesky", "factors", "16", "iterations", its, NULL};
        reco_model *m = fit(ds, params, 2);
        const reco_ials_state *st = reco_ials_state_of(m);
        assert_true(isfinite(st->loss));
        assert_true(st->loss <= prev * (1 + 1e-5));
        /* The stored loss is the documented objective. */
        assert_float_equal(reco_ials_loss(st, ds), st->loss, 1e-6 * fabs(st->loss));
        prev = st->loss;
        reco_model_free(m);
    }
}

/* Three warm-started CG steps reach nearly the exact solver's objective. */
static void test_cg_close_to_exact(void **state)
{
    const reco_dataset *ds = *state;
    const char *pc[] = {"solver", "cholesky", "factors", "24", "iterations", "15", NULL};
    const char *pg[] = {"solver", "cg", "factors", "24", "iterations", "15", NULL};
    reco_model *mc = fit(ds, pc, 2), *mg = fit(ds, pg, 2);
    double lc = reco_ials_state_of(mc)->loss, lg = reco_ials_state_of(mg)->loss;
    assert_true(lg >= lc * (1 - 1e-4));
    assert_true(lg <= lc * 1.01);
    reco_model_free(mc);
    reco_model_free(mg);
}

static void test_threads_do_not_change_the_model(void **state)
{
    const reco_dataset *ds = *state;
    const char *params[] = {"factors", "20", "iterations", "5", NULL};
    reco_model *a = fit(ds, params, 1), *b = fit(ds, params, 2), *c = fit(ds, params, 3);
    const reco_ials_state *sa = reco_ials_state_of(a), *sb = reco_ials_state_of(b),
                          *sc = reco_ials_state_of(c);
    size_t xb = (size_t)NU * sa->ld * sizeof(float), yb = (size_t)NI * sa->ld * sizeof(float);
    assert_memory_equal(sa->X, sb->X, xb);
    assert_memory_equal(sa->Y, sb->Y, yb);
    assert_memory_equal(sa->X, sc->X, xb);
    assert_memory_equal(sa->Y, sc->Y, yb);
    reco_model_free(a);
    reco_model_free(b);
    reco_model_free(c);
}

/* ---- serving ---- */

/* Fold-in solves the user's documented equations against the stored Y. */
static void test_fold_in_is_exact(void **state)
{
    const reco_dataset *ds = *state;
    const char *params[] = {"factors", "16", "conf", "above_mean", "alpha", "2", NULL};
    reco_model *m = fit(ds, params, 2);
    const reco_ials_state *st = reco_ials_state_of(m);
    void *scratch = malloc(reco_ials_fold_in_scratch_size(st));
    float *x = malloc(st->ld * sizeof *x);
    double ref[64];
    float conf[128];
    for (uint32_t u = 0; u < NU; u += 37) {
        reco_profile prof = reco_profile_of_user(ds, u);
        if (prof.n == 0)
            continue;
        reco_error err;
        assert_int_equal(reco_ials_fold_in(st, prof.items, prof.ratings, prof.n, x, scratch, &err),
                         RECO_OK);
        double s = 0;
        for (uint32_t j = 0; j < prof.n; j++)
            s += prof.ratings[j];
        for (uint32_t j = 0; j < prof.n; j++)
            conf[j] = reco_ials_confidence(&st->params, prof.ratings[j], (float)(s / prof.n));
        reference_row(&st->params, st->w0, st->Y, st->n_items, st->active_items, st->k, st->ld,
                      prof.items, conf, prof.n, ref);
        for (uint32_t a = 0; a < st->k; a++)
            assert_float_equal(x[a], ref[a], 2e-3 * (fabs(ref[a]) + 1e-2));
        for (uint32_t a = st->k; a < st->ld; a++)
            assert_true(x[a] == 0.0f);
    }
    free(x);
    free(scratch);
    reco_model_free(m);
}

/* The pruned top-N gives exactly what scoring every product and selecting
 * gives, on a catalogue of several index blocks, with many factors, for
 * trained and folded-in users. Never-rated products never appear. */
static void check_topn_exact(const reco_dataset *ds, const char *factors)
{
    const char *params[] = {"factors", factors, "iterations", "3", NULL};
    reco_model *m = fit(ds, params, 2);
    void *scratch = malloc(reco_model_scratch_size(m));
    float *scores = malloc(NI * sizeof *scores);
    reco_error err;
    reco_scored fast[100], full[100];
    size_t ns[] = {1, 10, 100};
    for (uint32_t u = 0; u < NU; u += 7)
        for (size_t t = 0; t < 3; t++) {
            reco_profile prof = reco_profile_of_user(ds, u);
            prof.updated = u % 2 == 1;
            size_t nf, ng;
            assert_int_equal(reco_model_recommend(m, &prof, ns[t], true, fast, &nf, NULL, scratch,
                                                  &err),
                             RECO_OK);
            assert_int_equal(m->ops->score(m->state, m->train, &m->baseline, &prof, scores,
                                           (char *)scratch, &err),
                             RECO_OK);
            ng = reco_topn_select(scores, NI, prof.items, prof.n, ns[t], full);
            assert_int_equal(nf, ng);
            for (size_t j = 0; j < nf; j++) {
                assert_true(reco_csr_row_len(&ds->by_item, fast[j].id) > 0);
                assert_float_equal(fast[j].score, full[j].score, 1e-5);
                if (fast[j].id != full[j].id) /* only a float near-tie may swap */
                    assert_float_equal(fast[j].score, scores[full[j].id], 1e-6);
            }
        }
    for (uint32_t i = 0; i < NI; i++)
        if (reco_csr_row_len(&ds->by_item, i) == 0)
            assert_true(scores[i] == -INFINITY);
    free(scores);
    free(scratch);
    reco_model_free(m);
}

static void test_topn_exact_small_k(void **state) { check_topn_exact(*state, "8"); }
static void test_topn_exact_large_k(void **state) { check_topn_exact(*state, "200"); }

/* A user who takes a group's products gets that group's products. */
static void test_new_ratings_move_the_list(void **state)
{
    const reco_dataset *ds = *state;
    reco_model *m = fit(ds, NULL, 2);
    uint32_t items[6] = {2, 7, 12, 17, 22, 27}; /* group 2's most popular */
    float r[6] = {5, 5, 4, 5, 4, 5};
    reco_profile prof = {RECO_NO_USER, items, r, 6, true};
    reco_scored out[10];
    size_t n;
    reco_error err;
    assert_int_equal(reco_model_recommend(m, &prof, 10, true, out, &n, NULL, NULL, &err), RECO_OK);
    assert_int_equal(n, 10);
    int same_group = 0;
    for (size_t j = 0; j < n; j++) {
        same_group += out[j].id % GROUPS == 2;
        for (int t = 0; t < 6; t++)
            assert_int_not_equal(out[j].id, items[t]);
    }
    assert_true(same_group >= 8);
    /* The explanation names rated products, and they are of that group. */
    uint32_t why[3];
    size_t nw = m->ops->explain(m->state, m->train, &prof, out[0].id, why, 3);
    assert_true(nw >= 1);
    /* The list at once gives each product's explanation alone. */
    uint32_t ids[10], all[10 * 3], counts[10];
    for (size_t j = 0; j < n; j++)
        ids[j] = out[j].id;
    reco_model_explain_list(m, &prof, ids, n, 3, all, counts);
    for (size_t j = 0; j < n; j++) {
        uint32_t one[3];
        size_t c = m->ops->explain(m->state, m->train, &prof, ids[j], one, 3);
        assert_int_equal(counts[j], c);
        assert_memory_equal(all + j * 3, one, c * sizeof *one);
    }
    for (size_t j = 0; j < nw; j++) {
        int found = 0;
        for (int t = 0; t < 6; t++)
            found |= why[j] == items[t];
        assert_true(found);
    }
    reco_model_free(m);
}

/* A user the model can say nothing about (only products without
 * interactions) gets the popularity ranking, flagged as cold start. */
static void test_no_opinion_falls_back_to_popular(void **state)
{
    const reco_dataset *ds = *state;
    reco_model *m = fit(ds, NULL, 2);
    uint32_t unrated = 0;
    while (reco_csr_row_len(&ds->by_item, unrated) > 0)
        unrated++;
    float r = 5;
    reco_profile prof = {RECO_NO_USER, &unrated, &r, 1, true};
    reco_scored out[10], pop[10];
    size_t n, np;
    bool cold = false;
    reco_error err;
    assert_int_equal(reco_model_recommend(m, &prof, 10, true, out, &n, &cold, NULL, &err), RECO_OK);
    assert_true(cold);
    np = reco_topn_select(m->popular, NI, &unrated, 1, 10, pop);
    assert_int_equal(n, np);
    for (size_t j = 0; j < n; j++) {
        assert_int_equal(out[j].id, pop[j].id);
        assert_float_equal(out[j].score, pop[j].score, 0);
    }
    reco_model_free(m);
}

static void test_similar_and_predict(void **state)
{
    const reco_dataset *ds = *state;
    reco_model *m = fit(ds, NULL, 2);
    reco_scored out[10];
    size_t n;
    reco_error err;
    assert_int_equal(reco_model_similar_source(m, RECO_SIMILAR_FACTORS, 3, 10, out, &n, NULL, &err),
                     RECO_OK);
    assert_int_equal(n, 10);
    int same_group = 0;
    for (size_t j = 0; j < n; j++) {
        assert_int_not_equal(out[j].id, 3);
        assert_true(out[j].id < NI_RATED);
        same_group += out[j].id % GROUPS == 3;
    }
    assert_true(same_group >= 7);
    /* No rating prediction of its own: the baseline answers, clamped. */
    float p = reco_model_predict(m, 0, 3);
    assert_float_equal(p, reco_baseline_predict(&m->baseline, 0, 3), 1e-5);
    reco_model_free(m);
}

static void test_save_and_load(void **state)
{
    const reco_dataset *ds = *state;
    const char *params[] = {"factors", "24", NULL};
    reco_model *m = fit(ds, params, 2);
    char path[] = "/tmp/reco-test-ials-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    reco_error err;
    assert_int_equal(reco_model_save(m, path, &err), RECO_OK);
    reco_model *l = NULL;
    assert_int_equal(reco_model_load(path, &l, &err), RECO_OK);
    assert_string_equal(l->ops->name, "ials");
    const reco_ials_state *a = reco_ials_state_of(m), *b = reco_ials_state_of(l);
    assert_float_equal(a->w0, b->w0, 0);
    assert_memory_equal(a->Y, b->Y, (size_t)NI * a->ld * sizeof(float));
    for (uint32_t u = 0; u < NU; u += 13) {
        reco_profile pa = reco_profile_of_user(ds, u), pb = reco_profile_of_user(l->train, u);
        pa.updated = pb.updated = u % 2 == 0;
        reco_scored ra[20], rb[20];
        size_t na, nb;
        assert_int_equal(reco_model_recommend(m, &pa, 20, true, ra, &na, NULL, NULL, &err), 0);
        assert_int_equal(reco_model_recommend(l, &pb, 20, true, rb, &nb, NULL, NULL, &err), 0);
        assert_int_equal(na, nb);
        for (size_t j = 0; j < na; j++) {
            assert_int_equal(ra[j].id, rb[j].id);
            assert_float_equal(ra[j].score, rb[j].score, 0);
        }
    }
    reco_model_free(l);
    reco_model_free(m);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_refused),
        cmocka_unit_test(test_rows_solve_the_documented_equations),
        cmocka_unit_test(test_exact_sweeps_descend),
        cmocka_unit_test(test_cg_close_to_exact),
        cmocka_unit_test(test_threads_do_not_change_the_model),
        cmocka_unit_test(test_fold_in_is_exact),
        cmocka_unit_test(test_topn_exact_small_k),
        cmocka_unit_test(test_topn_exact_large_k),
        cmocka_unit_test(test_new_ratings_move_the_list),
        cmocka_unit_test(test_no_opinion_falls_back_to_popular),
        cmocka_unit_test(test_similar_and_predict),
        cmocka_unit_test(test_save_and_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
