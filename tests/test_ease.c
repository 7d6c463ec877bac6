/* Unit tests of the "ease" algorithm: B against a hand computation and an
 * independent dense inverse (Gauss-Jordan in double), scores as sums of rows
 * of B, the memory limit, parameters, model files (and crafted ones),
 * thread-count independence, products without ratings, updated profiles,
 * and ratings posted to the service changing the list at once. */
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
#include "reco/ease.h"
#include "reco/model.h"
#include "reco/service.h"
#include "testutil.h"

/* ---- data ---- */

typedef struct triple {
    uint32_t u, i;
    float r;
} triple;

/* A dataset of nu users and ni items named u0.. / i0.. whose indices are
 * the numbers (keep_ids: items without ratings stay in the catalogue). */
static reco_dataset *make_dataset(uint32_t nu, uint32_t ni, const triple *t, size_t n)
{
    reco_idmap *users = reco_idmap_new(nu), *items = reco_idmap_new(ni);
    assert_non_null(users);
    assert_non_null(items);
    char key[32];
    uint32_t id;
    for (uint32_t u = 0; u < nu; u++) {
        snprintf(key, sizeof key, "u%u", u);
        assert_int_equal(reco_idmap_intern(users, key, strlen(key), &id), RECO_OK);
        assert_int_equal(id, u);
    }
    for (uint32_t i = 0; i < ni; i++) {
        snprintf(key, sizeof key, "i%u", i);
        assert_int_equal(reco_idmap_intern(items, key, strlen(key), &id), RECO_OK);
        assert_int_equal(id, i);
    }
    reco_ratings *r = reco_ratings_new(users, items);
    assert_non_null(r);
    reco_idmap_free(users);
    reco_idmap_free(items);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(reco_ratings_push(r, t[k].u, t[k].i, t[k].r, (int64_t)k, NULL), RECO_OK);
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *ds = NULL;
    reco_error err;
    if (reco_dataset_build(r, &bo, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

/* Random ratings (1..5) of nu users over ni items, about `density` of the
 * pairs; items listed in `unrated` get none. */
static reco_dataset *random_dataset(uint32_t nu, uint32_t ni, double density, uint64_t seed,
                                    const uint32_t *unrated, size_t n_unrated)
{
    rng_state = seed;
    triple *t = malloc((size_t)nu * ni * sizeof *t);
    assert_non_null(t);
    size_t n = 0;
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t i = 0; i < ni; i++) {
            bool skip = false;
            for (size_t x = 0; x < n_unrated; x++)
                skip |= unrated[x] == i;
            /* Popular low items, as in real data: density falls with i. */
            double p = density * (1.5 - (double)i / ni);
            if (!skip && rnd(1000000) < p * 1000000)
                t[n++] = (triple){u, i, (float)(1 + rnd(5))};
        }
    reco_dataset *ds = make_dataset(nu, ni, t, n);
    free(t);
    return ds;
}

/* Products with at least one rating. */
static uint32_t rated_items(const reco_dataset *ds)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < reco_dataset_n_items(ds); i++)
        n += reco_csr_row_len(&ds->by_item, i) > 0;
    return n;
}

static reco_model *fit_ease(const reco_dataset *ds, const char *const (*kv)[2], size_t n_kv)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("ease", &m, &err), RECO_OK);
    for (size_t j = 0; j < n_kv; j++)
        if (reco_model_set_param(m, kv[j][0], kv[j][1], &err))
            fail_msg("%s=%s: %s", kv[j][0], kv[j][1], err.msg);
    if (reco_model_fit(m, ds, NULL, &err))
        fail_msg("fit: %s", err.msg);
    assert_non_null(reco_ease_state_of(m));
    return m;
}

/* ---- an independent reference: dense X'X and Gauss-Jordan in double ---- */

/* B (n x n over the active items, row-major) for ds with lambda, counting
 * ratings >= thr; *n_out the active count, act[] the active items. */
static double *reference_b(const reco_dataset *ds, double lambda, double thr, uint32_t *n_out,
                           uint32_t *act)
{
    const reco_csr *R = &ds->by_user;
    uint32_t ni = reco_dataset_n_items(ds), n = 0;
    uint32_t *pos = malloc(ni * sizeof *pos);
    for (uint32_t i = 0; i < ni; i++) {
        bool any = false;
        for (uint32_t u = 0; u < R->n_rows; u++) {
            int64_t y = reco_csr_find(R, u, i);
            any |= y >= 0 && R->val[y] >= thr;
        }
        pos[i] = any ? n : UINT32_MAX;
        if (any)
            act[n++] = i;
    }
    double *G = calloc((size_t)n * n, sizeof *G), *P = calloc((size_t)n * n, sizeof *P);
    for (uint32_t u = 0; u < R->n_rows; u++)
        for (uint64_t a = R->ptr[u]; a < R->ptr[u + 1]; a++)
            for (uint64_t b = R->ptr[u]; b < R->ptr[u + 1]; b++)
                if (R->val[a] >= thr && R->val[b] >= thr)
                    G[(size_t)pos[R->idx[a]] * n + pos[R->idx[b]]] += 1;
    for (uint32_t k = 0; k < n; k++) {
        G[(size_t)k * n + k] += lambda;
        P[(size_t)k * n + k] = 1;
    }
    /* Gauss-Jordan with partial pivoting: [G | I] -> [I | G^-1]. */
    for (uint32_t c = 0; c < n; c++) {
        uint32_t piv = c;
        for (uint32_t r = c + 1; r < n; r++)
            if (fabs(G[(size_t)r * n + c]) > fabs(G[(size_t)piv * n + c]))
                piv = r;
        for (uint32_t j = 0; j < n; j++) {
            double t = G[(size_t)c * n + j];
            G[(size_t)c * n + j] = G[(size_t)piv * n + j];
            G[(size_t)piv * n + j] = t;
            t = P[(size_t)c * n + j];
            P[(size_t)c * n + j] = P[(size_t)piv * n + j];
            P[(size_t)piv * n + j] = t;
        }
        double d = G[(size_t)c * n + c];
        for (uint32_t j = 0; j < n; j++) {
            G[(size_t)c * n + j] /= d;
            P[(size_t)c * n + j] /= d;
        }
        for (uint32_t r = 0; r < n; r++) {
            if (r == c)
                continue;
            double f = G[(size_t)r * n + c];
            for (uint32_t j = 0; j < n; j++) {
                G[(size_t)r * n + j] -= f * G[(size_t)c * n + j];
                P[(size_t)r * n + j] -= f * P[(size_t)c * n + j];
            }
        }
    }
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t b = 0; b < n; b++)
            G[(size_t)a * n + b] = a == b ? 0 : -P[(size_t)a * n + b] / P[(size_t)b * n + b];
    free(P);
    free(pos);
    *n_out = n;
    return G;
}

static void check_against_reference(const reco_dataset *ds, const char *const (*kv)[2],
                                    size_t n_kv, double lambda, double thr, double tol)
{
    reco_model *m = fit_ease(ds, kv, n_kv);
    const reco_ease_state *st = reco_ease_state_of(m);
    uint32_t ni = reco_dataset_n_items(ds), n;
    uint32_t *act = malloc(ni * sizeof *act);
    double *ref = reference_b(ds, lambda, thr, &n, act);
    assert_int_equal(st->n_active, n);
    assert_int_equal(st->n_items, ni);
    double worst = 0, big = 0;
    for (uint32_t k = 0; k < n; k++) {
        assert_int_equal(st->active[k], act[k]);
        assert_int_equal(st->pos[act[k]], k);
        assert_true(st->B[(size_t)k * n + k] == 0.0f); /* zero diagonal, exactly */
        for (uint32_t j = 0; j < n; j++) {
            double e = fabs(st->B[(size_t)k * n + j] - ref[(size_t)k * n + j]);
            worst = e > worst ? e : worst;
            big = fabs(ref[(size_t)k * n + j]) > big ? fabs(ref[(size_t)k * n + j]) : big;
        }
    }
    print_message("%u active items: max |B - reference| %.3g (max |B| %.3g)\n", n, worst, big);
    assert_true(worst <= tol * (big > 1 ? big : 1));
    free(ref);
    free(act);
    reco_model_free(m);
}

/* ---- B ---- */

/* Two items A, B; u0 rated both, u1 only A. With lambda = 1,
 * G = [[3, 1], [1, 2]], P = G^-1 = [[2, -1], [-1, 3]] / 5, so
 * B_AB = -P_AB / P_BB = 1/3 and B_BA = -P_BA / P_AA = 1/2. */
static void test_hand_computed(void **state)
{
    (void)state;
    const triple t[] = {{0, 0, 5}, {0, 1, 3}, {1, 0, 4}};
    reco_dataset *ds = make_dataset(2, 2, t, 3);
    static const char *const kv[][2] = {{"lambda", "1"}};
    for (int prec = 0; prec < 2; prec++) {
        static const char *const kvd[][2] = {{"lambda", "1"}, {"precision", "double"}};
        reco_model *m = fit_ease(ds, prec ? kvd : kv, prec ? 2 : 1);
        const reco_ease_state *st = reco_ease_state_of(m);
        assert_int_equal(st->n_active, 2);
        assert_float_equal(st->B[0], 0, 0);
        assert_float_equal(st->B[1], 1.0 / 3, 1e-6);
        assert_float_equal(st->B[2], 0.5, 1e-6);
        assert_float_equal(st->B[3], 0, 0);
        /* u0 pairs: 3 (A, B, AB); u1: 1. */
        assert_int_equal(st->gram_pairs, 4);
        /* u1 rated A: B scores B_AB = 1/3 (and A itself B_AA = 0). */
        reco_profile p = reco_profile_of_user(ds, 1);
        reco_scored out[2];
        size_t got;
        reco_error err;
        assert_int_equal(reco_model_recommend(m, &p, 2, true, out, &got, NULL, NULL, &err), 0);
        assert_int_equal(got, 1);
        assert_int_equal(out[0].id, 1);
        assert_float_equal(out[0].score, 1.0 / 3, 1e-6);
        reco_model_free(m);
    }
    reco_dataset_free(ds);
}

static void test_matches_dense_reference(void **state)
{
    (void)state;
    const uint32_t unrated[] = {3, 17};
    reco_dataset *ds = random_dataset(60, 40, 0.15, 0x1234567u, unrated, 2);
    static const char *const kv500[][2] = {{"lambda", "500"}};
    static const char *const kv2[][2] = {{"lambda", "2"}};
    static const char *const kv2d[][2] = {{"lambda", "2"}, {"precision", "double"}};
    static const char *const kvthr[][2] = {{"lambda", "3"}, {"min_rating", "4"}};
    check_against_reference(ds, kv500, 1, 500, -INFINITY, 1e-5);
    check_against_reference(ds, kv2, 1, 2, -INFINITY, 1e-4);
    check_against_reference(ds, kv2d, 2, 2, -INFINITY, 1e-6);
    check_against_reference(ds, kvthr, 2, 3, 4, 1e-4);
    reco_dataset_free(ds);
}

/* ---- scores ---- */

static void test_scores_are_row_sums(void **state)
{
    (void)state;
    const uint32_t unrated[] = {5};
    reco_dataset *ds = random_dataset(50, 30, 0.2, 99, unrated, 1);
    static const char *const kv[][2] = {{"lambda", "10"}};
    reco_model *m = fit_ease(ds, kv, 1);
    const reco_ease_state *st = reco_ease_state_of(m);
    assert_false(m->ops->scores_are_ratings);
    const uint32_t ni = reco_dataset_n_items(ds), n = st->n_active;
    assert_int_equal(n, rated_items(ds));
    float *scores = malloc(ni * sizeof *scores);
    void *scratch = malloc(m->ops->scratch_size(m->state, ds));
    double *want = malloc(ni * sizeof *want);
    for (uint32_t u = 0; u < 50; u++) {
        reco_profile p = reco_profile_of_user(ds, u);
        assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, scores, scratch, NULL), 0);
        for (uint32_t j = 0; j < ni; j++)
            want[j] = 0;
        for (uint32_t x = 0; x < p.n; x++)
            for (uint32_t k = 0; k < n; k++)
                want[st->active[k]] += st->B[(size_t)st->pos[p.items[x]] * n + k];
        for (uint32_t j = 0; j < ni; j++) {
            if (st->pos[j] == RECO_EASE_NONE)
                assert_true(isinf(scores[j]) && scores[j] < 0);
            else if (p.n)
                assert_float_equal(scores[j], want[j], 1e-5);
        }
    }
    free(want);
    free(scratch);
    free(scores);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* A rating added after training changes the scores by exactly that item's
 * row of B, with no refit; products the model never saw are ignored. */
static void test_updated_profile(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(40, 25, 0.2, 7, NULL, 0);
    reco_model *m = fit_ease(ds, NULL, 0);
    const reco_ease_state *st = reco_ease_state_of(m);
    const uint32_t ni = reco_dataset_n_items(ds), n = st->n_active;
    reco_profile p = reco_profile_of_user(ds, 3);
    assert_true(p.n > 0 && p.n < ni);
    /* The first product u3 has not rated, and one past the catalogue. */
    uint32_t add = 0;
    while (st->pos[add] == RECO_EASE_NONE || reco_csr_find(&ds->by_user, 3, add) >= 0)
        add++;
    uint32_t *items = malloc((p.n + 2) * sizeof *items);
    float *ratings = malloc((p.n + 2) * sizeof *ratings);
    uint32_t c = 0;
    bool placed = false;
    for (uint32_t x = 0; x <= p.n; x++) {
        if (!placed && (x == p.n || p.items[x] > add)) {
            items[c] = add;
            ratings[c++] = 5;
            placed = true;
        }
        if (x < p.n) {
            items[c] = p.items[x];
            ratings[c++] = p.ratings[x];
        }
    }
    items[c] = ni + 10; /* a product that arrived after training */
    ratings[c++] = 4;
    reco_profile q = {3, items, ratings, c, true};
    float *s0 = malloc(ni * sizeof *s0), *s1 = malloc(ni * sizeof *s1);
    void *scratch = malloc(m->ops->scratch_size(m->state, ds));
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, s0, scratch, NULL), 0);
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &q, s1, scratch, NULL), 0);
    const float *row = st->B + (size_t)st->pos[add] * n;
    bool changed = false;
    for (uint32_t j = 0; j < ni; j++) {
        if (st->pos[j] == RECO_EASE_NONE) {
            assert_true(isinf(s0[j]) && isinf(s1[j]));
            continue;
        }
        assert_float_equal(s1[j], s0[j] + row[st->pos[j]], 1e-5);
        changed |= s1[j] != s0[j];
    }
    assert_true(changed);
    /* Through the model: the new product is excluded from the list now. */
    reco_scored out[30];
    size_t got;
    assert_int_equal(reco_model_recommend(m, &q, 30, true, out, &got, NULL, NULL, NULL), 0);
    for (size_t k = 0; k < got; k++)
        assert_true(out[k].id != add);
    /* Not ratings: the baseline predicts, with the user's bias re-solved
     * from the updated profile (items unknown to the baseline count with
     * no item bias). */
    bool by_model = true;
    double sum = 0;
    for (uint32_t k = 0; k < q.n; k++)
        sum += q.ratings[k] - m->baseline.mu -
               (q.items[k] < m->baseline.n_items ? m->baseline.bi[q.items[k]] : 0.0);
    double folded = m->baseline.mu + m->baseline.bi[1] + sum / (m->baseline.reg_u + q.n);
    folded = folded < m->rating_lo ? m->rating_lo : folded > m->rating_hi ? m->rating_hi : folded;
    assert_float_equal(reco_model_predict_profile_by(m, &q, 1, NULL, &by_model), folded, 1e-5);
    assert_false(by_model);
    float b = (float)reco_baseline_predict(&m->baseline, 3, 1);
    b = b < m->rating_lo ? m->rating_lo : b > m->rating_hi ? m->rating_hi : b;
    assert_float_equal(reco_model_predict(m, 3, 1), b, 1e-6);
    free(scratch);
    free(s0);
    free(s1);
    free(items);
    free(ratings);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* With min_rating, low ratings neither build B nor count in a profile; a
 * profile with none left gets the baseline's product ranking. */
static void test_min_rating_profile(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(40, 20, 0.25, 11, NULL, 0);
    static const char *const kv[][2] = {{"min_rating", "4"}, {"lambda", "5"}};
    reco_model *m = fit_ease(ds, kv, 2);
    const reco_ease_state *st = reco_ease_state_of(m);
    const uint32_t ni = reco_dataset_n_items(ds);
    float *s0 = malloc(ni * sizeof *s0), *s1 = malloc(ni * sizeof *s1);
    void *scratch = malloc(m->ops->scratch_size(m->state, ds));
    const uint32_t it[] = {0, 1};
    const float lo[] = {2, 3}, mixed[] = {2, 5};
    reco_profile pl = {RECO_NO_USER, it, lo, 2, true}, pm = {RECO_NO_USER, it, mixed, 2, true};
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &pl, s0, scratch, NULL), 0);
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &pm, s1, scratch, NULL), 0);
    for (uint32_t j = 0; j < ni; j++) {
        if (st->pos[j] == RECO_EASE_NONE) {
            assert_true(isinf(s0[j]) && isinf(s1[j]));
            continue;
        }
        assert_float_equal(s0[j], m->baseline.mu + m->baseline.bi[j], 1e-5);
        if (st->pos[1] != RECO_EASE_NONE)
            assert_float_equal(s1[j], st->B[(size_t)st->pos[1] * st->n_active + st->pos[j]],
                               1e-6);
    }
    free(s0);
    free(s1);
    free(scratch);
    reco_model_free(m);
    /* Nothing at or above the threshold: refused. */
    static const char *const none[][2] = {{"min_rating", "6"}};
    assert_int_equal(reco_model_new("ease", &m, NULL), RECO_OK);
    assert_int_equal(reco_model_set_param(m, none[0][0], none[0][1], NULL), RECO_OK);
    reco_error err;
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_EMPTY);
    assert_non_null(strstr(err.msg, "ease.min_rating=6"));
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* Products without training ratings: never recommended, never co-rated
 * neighbours, -INFINITY scores; the co_rated source of similar products
 * lists only positive weights, never the product itself. */
static void test_unrated_items(void **state)
{
    (void)state;
    const uint32_t unrated[] = {0, 9, 29};
    reco_dataset *ds = random_dataset(50, 30, 0.2, 5, unrated, 3);
    reco_model *m = fit_ease(ds, NULL, 0);
    const reco_ease_state *st = reco_ease_state_of(m);
    const uint32_t n_rated = rated_items(ds);
    assert_int_equal(st->n_active, n_rated);
    assert_true(n_rated <= 27);
    assert_int_equal(st->pos[0], RECO_EASE_NONE);
    reco_scored out[30];
    size_t got;
    reco_error err;
    for (uint32_t u = 0; u < 50; u++) {
        reco_profile p = reco_profile_of_user(ds, u);
        assert_int_equal(reco_model_recommend(m, &p, 30, false, out, &got, NULL, NULL, &err), 0);
        assert_int_equal(got, n_rated);
        for (size_t k = 0; k < got; k++)
            assert_true(out[k].id != 0 && out[k].id != 9 && out[k].id != 29);
    }
    for (uint32_t i = 0; i < 30; i++) {
        assert_int_equal(
            reco_model_similar_source(m, RECO_SIMILAR_CO_RATED, i, 30, out, &got, NULL, &err),
            RECO_OK);
        if (st->pos[i] == RECO_EASE_NONE)
            assert_int_equal(got, 0);
        for (size_t k = 0; k < got; k++) {
            assert_true(out[k].id != i && st->pos[out[k].id] != RECO_EASE_NONE);
            assert_true(out[k].score > 0);
            assert_float_equal(out[k].score,
                               st->B[(size_t)st->pos[i] * st->n_active + st->pos[out[k].id]], 0);
            if (k)
                assert_true(out[k].score <= out[k - 1].score);
        }
    }
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* explain(j) lists the profile's products i by B_ij, positive only. */
static void test_explain(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(50, 30, 0.25, 21, NULL, 0);
    reco_model *m = fit_ease(ds, NULL, 0);
    const reco_ease_state *st = reco_ease_state_of(m);
    const uint32_t n = st->n_active;
    int explained = 0;
    for (uint32_t u = 0; u < 50; u++) {
        reco_profile p = reco_profile_of_user(ds, u);
        reco_scored top[3];
        size_t got;
        assert_int_equal(reco_model_recommend(m, &p, 3, true, top, &got, NULL, NULL, NULL), 0);
        for (size_t k = 0; k < got; k++) {
            uint32_t why[4], j = top[k].id;
            size_t nw = m->ops->explain(m->state, ds, &p, j, why, 4);
            /* Every positive contributor outside the list is below the last one listed. */
            float last = INFINITY;
            for (size_t w = 0; w < nw; w++) {
                float b = st->B[(size_t)st->pos[why[w]] * n + st->pos[j]];
                assert_true(b > 0 && b <= last);
                last = b;
                assert_true(reco_csr_find(&ds->by_user, u, why[w]) >= 0);
            }
            size_t positive = 0;
            for (uint32_t x = 0; x < p.n; x++) {
                float b = st->B[(size_t)st->pos[p.items[x]] * n + st->pos[j]];
                positive += b > 0;
                bool listed = false;
                for (size_t w = 0; w < nw; w++)
                    listed |= why[w] == p.items[x];
                if (!listed && b > 0)
                    assert_true(b <= last);
            }
            assert_int_equal(nw, positive < 4 ? positive : 4);
            explained += nw > 0;
        }
    }
    assert_true(explained > 50);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* ---- fitting ---- */

static void test_thread_count_independent(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(400, 300, 0.1, 0xabcdefu, NULL, 0);
    static const char *const one[][2] = {{"threads", "1"}};
    static const char *const two[][2] = {{"threads", "2"}};
    static const char *const three[][2] = {{"threads", "3"}};
    reco_model *a = fit_ease(ds, one, 1), *b = fit_ease(ds, two, 1), *c = fit_ease(ds, three, 1);
    const reco_ease_state *sa = reco_ease_state_of(a), *sb = reco_ease_state_of(b),
                          *sc = reco_ease_state_of(c);
    size_t nn = (size_t)sa->n_active * sa->n_active;
    assert_int_equal(sa->n_active, sb->n_active);
    assert_int_equal(sa->gram_pairs, sb->gram_pairs);
    assert_memory_equal(sa->B, sb->B, nn * sizeof(float));
    assert_memory_equal(sa->B, sc->B, nn * sizeof(float));
    reco_model_free(a);
    reco_model_free(b);
    reco_model_free(c);
    reco_dataset_free(ds);
}

typedef struct progress_log {
    int gram_calls, inverse_calls;
    uint64_t gram_done, gram_total, inverse_done;
} progress_log;

static void on_progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    progress_log *l = ctx;
    if (!strcmp(stage, "gram")) {
        l->gram_calls++;
        assert_true(done >= l->gram_done);
        l->gram_done = done;
        l->gram_total = total;
    } else if (!strcmp(stage, "inverse")) {
        l->inverse_calls++;
        l->inverse_done = done;
    }
}

static void test_progress(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(100, 250, 0.1, 3, NULL, 0);
    uint64_t pairs = 0;
    for (uint32_t u = 0; u < 100; u++) {
        uint64_t k = reco_csr_row_len(&ds->by_user, u);
        pairs += k * (k + 1) / 2;
    }
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new("ease", &m, &err), RECO_OK);
    progress_log log = {0};
    reco_fit_ctx ctx = {0};
    ctx.progress.fn = on_progress;
    ctx.progress.ctx = &log;
    assert_int_equal(reco_model_fit(m, ds, &ctx, &err), RECO_OK);
    assert_true(log.gram_calls >= 2);
    assert_int_equal(log.gram_total, pairs);
    assert_int_equal(log.gram_done, pairs);
    assert_int_equal(reco_ease_state_of(m)->gram_pairs, pairs);
    assert_true(log.inverse_calls >= 2);
    assert_int_equal(log.inverse_done, 3);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* The limit is checked before anything large is allocated (nor X'X built:
 * no "gram" progress), and the message says what and how much. */
static void test_memory_limit(void **state)
{
    (void)state;
    assert_int_equal(reco_ease_memory_bytes(1000, RECO_EASE_FLOAT), 4000000);
    assert_int_equal(reco_ease_memory_bytes(1000, RECO_EASE_DOUBLE), 12000000);
    assert_int_equal(reco_ease_memory_bytes(UINT32_MAX, RECO_EASE_FLOAT), UINT64_MAX);

    triple full[500];
    size_t nf = 0;
    for (uint32_t u = 0; u < 50; u++)
        for (uint32_t i = 0; i < 30; i++)
            if ((u + i) % 3 == 0)
                full[nf++] = (triple){u, i, (float)(1 + (u * i) % 5)};
    reco_dataset *ds = make_dataset(50, 30, full, nf);
    assert_int_equal(rated_items(ds), 30);
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new("ease", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "max_memory", "1000", &err), RECO_OK);
    progress_log log = {0};
    reco_fit_ctx ctx = {0};
    ctx.progress.fn = on_progress;
    ctx.progress.ctx = &log;
    assert_int_equal(reco_model_fit(m, ds, &ctx, &err), RECO_ERR_TOO_LARGE);
    print_message("%s\n", err.msg);
    assert_null(m->state);
    assert_int_equal(log.gram_calls, 0);
    /* 30 products: 4 x 900 = 3600 bytes. */
    assert_non_null(strstr(err.msg, "30 products"));
    assert_non_null(strstr(err.msg, "3.5 KiB"));
    assert_non_null(strstr(err.msg, "limit 1000 B"));
    assert_non_null(strstr(err.msg, "ease.max_memory"));
    assert_non_null(strstr(err.msg, "--min-item-ratings"));
    /* Just enough: fits. Double precision needs three times as much. */
    assert_int_equal(reco_model_set_param(m, "max_memory", "3600", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "precision", "double", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_TOO_LARGE);
    assert_non_null(strstr(err.msg, "10.5 KiB"));
    reco_model_free(m);
    reco_dataset_free(ds);

    /* 70,000 products rated once each would need 18.3 GiB: refused at
     * once with the default limit. */
    enum { BIG = 70000 };
    triple *t = malloc(BIG * sizeof *t);
    for (uint32_t i = 0; i < BIG; i++)
        t[i] = (triple){i % 100, i, 4};
    ds = make_dataset(100, BIG, t, BIG);
    free(t);
    assert_int_equal(reco_model_new("ease", &m, &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_TOO_LARGE);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "18.3 GiB for 70,000 products"));
    assert_non_null(strstr(err.msg, "limit 4.0 GiB"));
    assert_non_null(strstr(err.msg, "use mf"));
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* ---- parameters ---- */

static void expect_refused(reco_model *m, const char *key, const char *value, const char *want)
{
    reco_error err;
    assert_int_equal(reco_model_set_param(m, key, value, &err), RECO_ERR_INVALID);
    if (!strstr(err.msg, want))
        fail_msg("%s=%s: \"%s\" lacks \"%s\"", key, value, err.msg, want);
}

static void test_params(void **state)
{
    (void)state;
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new("ease", &m, &err), RECO_OK);
    char buf[256];
    m->ops->params_format(m->params, buf, sizeof buf);
    assert_string_equal(buf, "lambda=500 min_rating=none max_memory=4G precision=float threads=0");
    expect_refused(m, "lambda", "0", "ease.lambda");
    expect_refused(m, "lambda", "0", "(0, 1e9]");
    expect_refused(m, "lambda", "-1", "(0, 1e9]");
    expect_refused(m, "lambda", "2e9", "(0, 1e9]");
    expect_refused(m, "lambda", "abc", "ease.lambda");
    expect_refused(m, "lambda", "", "ease.lambda");
    expect_refused(m, "nosuch", "1", "unknown parameter ease.nosuch");
    expect_refused(m, "max_memory", "0", "ease.max_memory");
    expect_refused(m, "max_memory", "4X", "ease.max_memory");
    expect_refused(m, "max_memory", "-1G", "ease.max_memory");
    expect_refused(m, "max_memory", "2048T", "1P");
    expect_refused(m, "max_memory", "0x100", "ease.max_memory");
    expect_refused(m, "max_memory", "inf", "ease.max_memory");
    expect_refused(m, "max_memory", "1 G", "ease.max_memory");
    expect_refused(m, "precision", "half", "ease.precision wants float or double");
    expect_refused(m, "threads", "-1", "ease.threads");
    expect_refused(m, "min_rating", "high", "ease.min_rating");
    const reco_ease_params *p = m->params;
    struct {
        const char *text;
        uint64_t bytes;
    } sizes[] = {{"1000", 1000},         {"512M", 512ull << 20}, {"4G", 4ull << 30},
                 {"1.5GiB", 3ull << 29}, {"2k", 2048},          {"1TB", 1ull << 40},
                 {"1P", 1ull << 50}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        assert_int_equal(reco_model_set_param(m, "max_memory", sizes[k].text, &err), RECO_OK);
        assert_int_equal(p->max_memory, sizes[k].bytes);
    }
    assert_int_equal(reco_model_set_param(m, "lambda", "1e9", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "lambda", "250.5", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "min_rating", "3.5", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "precision", "double", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "threads", "2", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "max_memory", "1536M", &err), RECO_OK);
    m->ops->params_format(m->params, buf, sizeof buf);
    assert_string_equal(buf,
                        "lambda=250.5 min_rating=3.5 max_memory=1536M precision=double threads=2");
    assert_int_equal(m->ops->params_check(m->params, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "max_memory", "1P", &err), RECO_OK);
    m->ops->params_format(m->params, buf, sizeof buf);
    assert_non_null(strstr(buf, "max_memory=1P "));
    assert_int_equal(reco_model_set_param(m, "min_rating", "none", &err), RECO_OK);
    assert_true(isinf(p->min_rating));
    /* A struct with a bad value (as from a damaged file) fails the check. */
    reco_ease_params bad = *p;
    bad.lambda = 0;
    assert_int_equal(reco_ease_params_check(&bad, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "ease.lambda"));
    bad = *p;
    bad.max_memory = 0;
    assert_int_equal(reco_ease_params_check(&bad, &err), RECO_ERR_INVALID);
    reco_model_free(m);
}

/* ---- model files ---- */

static void test_save_load(void **state)
{
    (void)state;
    const uint32_t unrated[] = {4};
    reco_dataset *ds = random_dataset(60, 40, 0.2, 77, unrated, 1);
    static const char *const kv[][2] = {{"lambda", "20"}};
    reco_model *m = fit_ease(ds, kv, 1);
    char path[64];
    snprintf(path, sizeof path, "/tmp/reco-ease-%ld.model", (long)getpid());
    reco_error err;
    if (reco_model_save(m, path, &err))
        fail_msg("%s", err.msg);
    reco_model *l = NULL;
    if (reco_model_load(path, &l, &err))
        fail_msg("%s", err.msg);
    const reco_ease_state *a = reco_ease_state_of(m), *b = reco_ease_state_of(l);
    assert_non_null(b);
    assert_true(b->mapped);
    assert_int_equal(a->n_active, b->n_active);
    assert_memory_equal(a->B, b->B, (size_t)a->n_active * a->n_active * sizeof(float));
    assert_float_equal(((const reco_ease_params *)l->params)->lambda, 20, 0);
    for (uint32_t u = 0; u < 60; u++) {
        reco_profile p1 = reco_profile_of_user(ds, u), p2 = reco_profile_of_user(l->train, u);
        reco_scored o1[10], o2[10];
        size_t n1, n2;
        assert_int_equal(reco_model_recommend(m, &p1, 10, true, o1, &n1, NULL, NULL, &err), 0);
        assert_int_equal(reco_model_recommend(l, &p2, 10, true, o2, &n2, NULL, NULL, &err), 0);
        assert_int_equal(n1, n2);
        for (size_t k = 0; k < n1; k++) {
            assert_int_equal(o1[k].id, o2[k].id);
            assert_true(o1[k].score == o2[k].score);
        }
    }
    for (uint32_t i = 0; i < 40; i++) {
        reco_similar o1[5], o2[5];
        size_t n1, n2;
        assert_int_equal(reco_model_similar(m, i, 5, o1, &n1, NULL, &err), 0);
        assert_int_equal(reco_model_similar(l, i, 5, o2, &n2, NULL, &err), 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(o1, o2, n1 * sizeof *o1);
    }
    reco_model_free(l);
    reco_model_free(m);
    unlink(path);
    reco_dataset_free(ds);
}

/* Crafted ease sections (valid checksums, bad contents) are refused by the
 * algorithm's loader, never read out of bounds. The metadata, as the
 * entries of ease.meta: */
typedef struct file_meta {
    uint32_t n_items, n_active;
    uint64_t gram_pairs;
    double gram_seconds, inverse_seconds;
} file_meta;

static reco_status load_crafted(const reco_dataset *ds, const file_meta *meta,
                                const uint32_t *act, uint64_t n_act, const uint32_t *pos,
                                uint64_t n_pos, uint64_t n_b, reco_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/reco-ease-crafted-%ld.model", (long)getpid());
    reco_mfile_writer *w = NULL;
    float *B = calloc(n_b ? n_b : 1, sizeof *B);
    assert_int_equal(reco_mfile_create(path, "ease", &w, NULL), RECO_OK);
    reco_mfile_meta *mm = reco_mfile_meta_new(1);
    reco_mfile_meta_put_u64(mm, "n_items", meta->n_items);
    reco_mfile_meta_put_u64(mm, "n_active", meta->n_active);
    reco_mfile_meta_put_u64(mm, "gram_pairs", meta->gram_pairs);
    reco_mfile_meta_put_f64(mm, "gram_seconds", meta->gram_seconds);
    reco_mfile_meta_put_f64(mm, "inverse_seconds", meta->inverse_seconds);
    assert_int_equal(reco_mfile_add_meta(w, "ease.meta", mm, NULL), RECO_OK);
    assert_int_equal(reco_mfile_add(w, "ease.active", act, n_act * 4, NULL), RECO_OK);
    assert_int_equal(reco_mfile_add(w, "ease.pos", pos, n_pos * 4, NULL), RECO_OK);
    assert_int_equal(reco_mfile_add(w, "ease.B", B, n_b * 4, NULL), RECO_OK);
    assert_int_equal(reco_mfile_commit(w, NULL), RECO_OK);
    free(B);
    reco_mfile *f = NULL;
    assert_int_equal(reco_mfile_open(path, &f, NULL), RECO_OK);
    const reco_algo_ops *ops = reco_algo_find("ease");
    reco_ease_params p;
    reco_ease_params_default(&p);
    void *st = NULL;
    reco_status rc = ops->load(&p, f, ds, &st, err);
    if (rc == RECO_OK)
        ops->free_state(st);
    reco_mfile_close(f);
    unlink(path);
    return rc;
}

static void test_crafted_files(void **state)
{
    (void)state;
    const triple t[] = {{0, 0, 5}, {0, 1, 3}, {1, 0, 4}, {1, 2, 4}};
    reco_dataset *ds = make_dataset(2, 3, t, 4);
    reco_error err;
    file_meta meta = {3, 3, 0, 0, 0};
    const uint32_t act[] = {0, 1, 2}, pos[] = {0, 1, 2};
    assert_int_equal(load_crafted(ds, &meta, act, 3, pos, 3, 9, &err), RECO_OK);
    const uint32_t bad_pos[] = {0, 7, 2}, swapped_pos[] = {1, 0, 2}, act_desc[] = {0, 2, 1};
    const uint32_t act_out[] = {0, 1, 3};
    assert_int_equal(load_crafted(ds, &meta, act, 3, bad_pos, 3, 9, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "corrupt ease product map"));
    assert_int_equal(load_crafted(ds, &meta, act, 3, swapped_pos, 3, 9, &err), RECO_ERR_FORMAT);
    assert_int_equal(load_crafted(ds, &meta, act_desc, 3, pos, 3, 9, &err), RECO_ERR_FORMAT);
    assert_int_equal(load_crafted(ds, &meta, act_out, 3, pos, 3, 9, &err), RECO_ERR_FORMAT);
    /* B of the wrong size; a product count whose square wraps around. */
    assert_int_equal(load_crafted(ds, &meta, act, 3, pos, 3, 8, &err), RECO_ERR_FORMAT);
    file_meta huge = {3, 0x80000000u, 0, 0, 0};
    assert_int_equal(load_crafted(ds, &huge, act, 3, pos, 3, 9, &err), RECO_ERR_FORMAT);
    file_meta other = {4, 3, 0, 0, 0};
    assert_int_equal(load_crafted(ds, &other, act, 3, pos, 3, 9, &err), RECO_ERR_FORMAT);
    /* Two active products of three: pos must say which one is not. */
    file_meta two = {3, 2, 0, 0, 0};
    const uint32_t act2[] = {0, 2}, pos2[] = {0, RECO_EASE_NONE, 1}, pos2bad[] = {0, 1, 1};
    assert_int_equal(load_crafted(ds, &two, act2, 2, pos2, 3, 4, &err), RECO_OK);
    assert_int_equal(load_crafted(ds, &two, act2, 2, pos2bad, 3, 4, &err), RECO_ERR_FORMAT);
    reco_dataset_free(ds);
}


/* ---- the service: posted ratings change the list at once ---- */

static double score_of(json_t *resp, const char *item)
{
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(resp, "items"), k, it)
        if (!strcmp(json_string_value(json_object_get(it, "item")), item))
            return json_real_value(json_object_get(it, "score"));
    return NAN;
}

static void test_service_live_ratings(void **state)
{
    (void)state;
    triple t[400];
    size_t n = 0;
    for (uint32_t u = 0; u < 30; u++)
        for (uint32_t i = 0; i < 20; i++)
            if ((u + i) % 3 == 0 || (u * i) % 7 == 1)
                t[n++] = (triple){u, i, (float)(1 + (u + 2 * i) % 5)};
    reco_dataset *ds = make_dataset(30, 20, t, n);
    reco_model *m = fit_ease(ds, NULL, 0);
    char model_path[64], log_path[64];
    snprintf(model_path, sizeof model_path, "/tmp/reco-ease-svc-%ld.model", (long)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/reco-ease-svc-%ld.log", (long)getpid());
    unlink(log_path);
    reco_error err;
    if (reco_model_save(m, model_path, &err))
        fail_msg("%s", err.msg);
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.ratings_log = log_path;
    o.create_log = true;
    reco_service *svc = NULL;
    if (reco_service_open(&o, &svc, &err))
        fail_msg("%s", err.msg);
    json_t *before = NULL, *after = NULL, *added = NULL;
    assert_int_equal(reco_service_recommend(svc, "u0", 20, true, &before, &err), RECO_OK);
    /* u0 has not rated i1: rate it now. */
    assert_true(reco_csr_find(&ds->by_user, 0, 1) < 0);
    reco_new_rating r = {"u0", 2, "i1", 2, 5, 2000};
    assert_int_equal(reco_service_add_ratings(svc, &r, 1, &added, &err), RECO_OK);
    assert_int_equal(reco_service_recommend(svc, "u0", 20, true, &after, &err), RECO_OK);
    assert_false(isnan(score_of(before, "i1")));
    assert_true(isnan(score_of(after, "i1"))); /* rated now: excluded */
    /* Every other product's score moved by B[i1][j]. */
    const reco_ease_state *st = reco_ease_state_of(m);
    size_t k;
    json_t *it;
    int moved = 0;
    json_array_foreach(json_object_get(after, "items"), k, it)
    {
        const char *key = json_string_value(json_object_get(it, "item"));
        uint32_t j = (uint32_t)atoi(key + 1);
        double want = score_of(before, key) +
                      st->B[(size_t)st->pos[1] * st->n_active + st->pos[j]];
        assert_float_equal(json_real_value(json_object_get(it, "score")), want, 1e-5);
        moved += fabs(json_real_value(json_object_get(it, "score")) - score_of(before, key)) > 0;
    }
    assert_true(moved > 0);
    assert_string_equal(json_string_value(json_object_get(after, "algorithm")), "ease");
    json_decref(before);
    json_decref(after);
    json_decref(added);
    /* A new user with one posted rating: personal, explained, not cold. */
    reco_new_rating r2 = {"newbie", 6, "i2", 2, 4, 2001};
    assert_int_equal(reco_service_add_ratings(svc, &r2, 1, &added, &err), RECO_OK);
    assert_int_equal(reco_service_recommend(svc, "newbie", 3, true, &after, &err), RECO_OK);
    assert_false(json_is_true(json_object_get(after, "cold_start")));
    json_t *first = json_array_get(json_object_get(after, "items"), 0);
    assert_non_null(first);
    json_t *because = json_object_get(first, "because");
    assert_non_null(because);
    assert_string_equal(json_string_value(json_array_get(because, 0)), "i2");
    json_decref(after);
    json_decref(added);
    reco_service_close(svc);
    reco_model_free(m);
    unlink(model_path);
    unlink(log_path);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_matches_dense_reference),
        cmocka_unit_test(test_scores_are_row_sums),
        cmocka_unit_test(test_updated_profile),
        cmocka_unit_test(test_min_rating_profile),
        cmocka_unit_test(test_unrated_items),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_crafted_files),
        cmocka_unit_test(test_service_live_ratings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
