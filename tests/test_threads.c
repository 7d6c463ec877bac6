/* Every algorithm fits the same model on 1, 2, 3, 4 and 8 threads: the
 * thread count is set the way an embedding program or OMP_NUM_THREADS sets
 * it (omp_set_num_threads, nothing in the parameters), and the fitted
 * models are compared bit for bit: factors where the algorithm has them,
 * and for all of them the top-N lists with their scores, predictions,
 * similar products and the training RMSE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/dataset.h"
#include "reco/gen.h"
#include "reco/ials.h"
#include "reco/mf.h"
#include "reco/model.h"
#include "testutil.h"

static const int THREADS[] = {1, 2, 3, 4, 8};
#define N_THREADS (sizeof THREADS / sizeof *THREADS)
#define TOP 20

/* Generated ratings shaped like the shop data (small: the test fits every
 * algorithm five times, also under the sanitizers): skewed activity and
 * popularity, timestamps (for popular.half_life_days). */
static int setup(void **state)
{
    reco_gen_params g;
    reco_gen_params_default(&g);
    g.seed = 11;
    g.n_ratings = 12000;
    g.n_users = 1200;
    g.n_items = 400;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    reco_error err;
    if (!f || reco_gen_write(&g, f, (reco_progress){0}, &err) || fclose(f))
        return -1;
    reco_ratings *r = NULL;
    reco_dataset *ds = NULL;
    if (reco_ratings_parse(buf, len, "gen", NULL, &r, &err) ||
        reco_dataset_build(r, NULL, &ds, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    reco_ratings_free(r);
    free(buf);
    *state = ds;
    return 0;
}

static int teardown(void **state)
{
    reco_dataset_free(*state);
    return 0;
}

/* What a fitted model answers, to compare between thread counts. */
typedef struct answers {
    double train_rmse;
    reco_scored *top;   /* TOP per user */
    size_t *n_top;
    float *pred;        /* 3 per user */
    reco_similar *sim;  /* TOP per item */
    size_t *n_sim;
    bool has_similar;
} answers;

static void collect(const reco_model *m, const reco_dataset *ds, answers *a)
{
    const uint32_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
    memset(a, 0, sizeof *a);
    a->train_rmse = reco_model_train_rmse(m, 0);
    a->top = calloc((size_t)nu * TOP, sizeof *a->top);
    a->n_top = calloc(nu, sizeof *a->n_top);
    a->pred = calloc((size_t)nu * 3, sizeof *a->pred);
    a->sim = calloc((size_t)ni * TOP, sizeof *a->sim);
    a->n_sim = calloc(ni, sizeof *a->n_sim);
    assert_true(a->top && a->n_top && a->pred && a->sim && a->n_sim);
    reco_error err;
    for (uint32_t u = 0; u < nu; u++) {
        reco_profile prof = reco_profile_of_user(ds, u);
        assert_int_equal(reco_model_recommend(m, &prof, TOP, true, a->top + (size_t)u * TOP,
                                              &a->n_top[u], NULL, NULL, &err),
                         RECO_OK);
        for (uint32_t j = 0; j < 3; j++)
            a->pred[(size_t)u * 3 + j] = reco_model_predict(m, u, (u * 7 + j * 101) % ni);
    }
    a->has_similar = reco_model_similar(m, 0, TOP, a->sim, &a->n_sim[0], NULL, &err) == RECO_OK;
    for (uint32_t i = 0; a->has_similar && i < ni; i++)
        assert_int_equal(reco_model_similar(m, i, TOP, a->sim + (size_t)i * TOP, &a->n_sim[i],
                                            NULL, &err),
                         RECO_OK);
}

static void answers_free(answers *a)
{
    free(a->top);
    free(a->n_top);
    free(a->pred);
    free(a->sim);
    free(a->n_sim);
}

static void assert_same_answers(const answers *a, const answers *b, const reco_dataset *ds,
                                const char *what, int threads)
{
    const uint32_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
    if (memcmp(&a->train_rmse, &b->train_rmse, sizeof a->train_rmse))
        fail_msg("%s, %d threads: training RMSE %.17g, 1 thread %.17g", what, threads,
                 b->train_rmse, a->train_rmse);
    for (uint32_t u = 0; u < nu; u++) {
        if (a->n_top[u] != b->n_top[u] ||
            memcmp(a->top + (size_t)u * TOP, b->top + (size_t)u * TOP,
                   a->n_top[u] * sizeof *a->top))
            fail_msg("%s, %d threads: user %u gets another list than with 1 thread", what,
                     threads, u);
    }
    if (memcmp(a->pred, b->pred, (size_t)nu * 3 * sizeof *a->pred))
        fail_msg("%s, %d threads: other predictions than with 1 thread", what, threads);
    assert_int_equal(a->has_similar, b->has_similar);
    for (uint32_t i = 0; a->has_similar && i < ni; i++)
        if (a->n_sim[i] != b->n_sim[i] ||
            memcmp(a->sim + (size_t)i * TOP, b->sim + (size_t)i * TOP,
                   a->n_sim[i] * sizeof *a->sim))
            fail_msg("%s, %d threads: other similar products of %u than with 1 thread", what,
                     threads, i);
}

static void assert_same_factors(const reco_model *a, const reco_model *b, const char *what,
                                int threads)
{
    const reco_mf_state *ma = reco_mf_state_of(a), *mb = reco_mf_state_of(b);
    if (ma) {
        size_t nu = ma->n_users, ni = ma->n_items, ld = ma->ld;
        if (ma->mu != mb->mu || memcmp(ma->bu, mb->bu, nu * sizeof(float)) ||
            memcmp(ma->bi, mb->bi, ni * sizeof(float)) ||
            memcmp(ma->P, mb->P, nu * ld * sizeof(float)) ||
            memcmp(ma->Q, mb->Q, ni * ld * sizeof(float)) ||
            memcmp(&ma->train_rmse, &mb->train_rmse, sizeof ma->train_rmse))
            fail_msg("%s, %d threads: other factors than with 1 thread", what, threads);
    }
    const reco_ials_state *ia = reco_ials_state_of(a), *ib = reco_ials_state_of(b);
    if (ia) {
        size_t nu = ia->n_users, ni = ia->n_items, ld = ia->ld;
        if (memcmp(ia->X, ib->X, nu * ld * sizeof(float)) ||
            memcmp(ia->Y, ib->Y, ni * ld * sizeof(float)) ||
            memcmp(&ia->loss, &ib->loss, sizeof ia->loss))
            fail_msg("%s, %d threads: other factors or loss than with 1 thread", what, threads);
    }
}

static reco_model *fit_on(const reco_dataset *ds, const char *algo, const char *const *kv,
                          int threads)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (size_t j = 0; kv && kv[j]; j += 2)
        if (reco_model_set_param(m, kv[j], kv[j + 1], &err))
            fail_msg("%s: %s", algo, err.msg);
    omp_set_num_threads(threads);
    if (reco_model_fit(m, ds, NULL, &err))
        fail_msg("%s on %d threads: %s", algo, threads, err.msg);
    return m;
}

static void check_algo(const reco_dataset *ds, const char *algo, const char *const *kv,
                       const char *what)
{
    int saved = omp_get_max_threads();
    reco_model *ref = fit_on(ds, algo, kv, 1);
    answers ra;
    collect(ref, ds, &ra);
    for (size_t t = 1; t < N_THREADS; t++) {
        reco_model *m = fit_on(ds, algo, kv, THREADS[t]);
        assert_same_factors(ref, m, what, THREADS[t]);
        answers a;
        collect(m, ds, &a);
        assert_same_answers(&ra, &a, ds, what, THREADS[t]);
        answers_free(&a);
        reco_model_free(m);
    }
    answers_free(&ra);
    reco_model_free(ref);
    omp_set_num_threads(saved);
}

/* mf's SGD used to cut the ratings into 2 x threads groups above two
 * threads, so 3 threads and more gave other models. */
static void test_mf_sgd(void **state)
{
    const char *kv[] = {"factors", "16", "epochs", "5", NULL};
    check_algo(*state, "mf", kv, "mf (sgd)");
}

static void test_mf_als(void **state)
{
    const char *kv[] = {"factors", "16", "epochs", "3", "solver", "als", NULL};
    check_algo(*state, "mf", kv, "mf (als)");
}

static void test_ials(void **state)
{
    const char *kv[] = {"factors", "16", "iterations", "3", NULL};
    check_algo(*state, "ials", kv, "ials");
}

/* Every other registered algorithm with its defaults (default's choice of
 * ranker on its validation split included), plus popular by decayed
 * counts. */
static void test_every_algorithm(void **state)
{
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
        const char *name = (*a)->name;
        if (!strcmp(name, "mf") || !strcmp(name, "ials"))
            continue;
        check_algo(*state, name, NULL, name);
    }
    const char *decayed[] = {"popular.half_life_days", "30", NULL};
    check_algo(*state, "popular", decayed, "popular (half-life)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mf_sgd),
        cmocka_unit_test(test_mf_als),
        cmocka_unit_test(test_ials),
        cmocka_unit_test(test_every_algorithm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
