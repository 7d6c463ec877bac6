/* Unit tests of the neighbourhood recommenders "usercf" and "itemcf": the
 * similarity kernel against hand computations, the neighbour table and the
 * predictions against brute-force references, and the recommender
 * contract (no rated product recommended, deterministic, explanations,
 * fallbacks, parameter errors). */
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
#include "reco/knn.h"
#include "reco/model.h"
#include "testutil.h"

/* ---- fixtures ---- */

static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* A dataset of nu users and ni items (indices = our numbering) from
 * triplets; keep_ids so that users or items without ratings keep theirs. */
static reco_dataset *build(uint32_t nu, uint32_t ni, size_t n, const uint32_t *us,
                           const uint32_t *is, const float *rs)
{
    reco_idmap *users = reco_idmap_new(nu), *items = reco_idmap_new(ni);
    assert_non_null(users);
    assert_non_null(items);
    char key[32];
    uint32_t id;
    for (uint32_t u = 0; u < nu; u++) {
        snprintf(key, sizeof key, "u%u", u);
        assert_int_equal(reco_idmap_intern(users, key, strlen(key), &id), RECO_OK);
    }
    for (uint32_t i = 0; i < ni; i++) {
        snprintf(key, sizeof key, "i%u", i);
        assert_int_equal(reco_idmap_intern(items, key, strlen(key), &id), RECO_OK);
    }
    reco_ratings *r = reco_ratings_new(users, items);
    assert_non_null(r);
    reco_idmap_free(users);
    reco_idmap_free(items);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(reco_ratings_push(r, us[k], is[k], rs[k], 0, NULL), RECO_OK);
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *ds;
    reco_error err;
    assert_int_equal(reco_dataset_build(r, &bo, &ds, &err), RECO_OK);
    reco_ratings_free(r);
    return ds;
}

/* Whole-star ratings with structure (two user tastes x two item kinds plus
 * a user bias and noise), each pair rated with probability density. */
static reco_dataset *make_random(uint32_t nu, uint32_t ni, double density, uint64_t seed)
{
    rng_state = seed;
    size_t cap = (size_t)nu * ni;
    uint32_t *us = malloc(cap * sizeof *us), *is = malloc(cap * sizeof *is);
    float *rs = malloc(cap * sizeof *rs);
    assert_non_null(us);
    assert_non_null(is);
    assert_non_null(rs);
    size_t n = 0;
    for (uint32_t u = 0; u < nu; u++) {
        double bu = uniform() - 0.5;
        int taste = u % 2;
        for (uint32_t i = 0; i < ni; i++) {
            if (uniform() >= density)
                continue;
            double v = 3 + bu + (taste == (int)(i % 2) ? 1.0 : -1.0) + 1.2 * (uniform() - 0.5);
            v = floor(v + 0.5);
            us[n] = u;
            is[n] = i;
            rs[n] = (float)(v < 1 ? 1 : v > 5 ? 5 : v);
            n++;
        }
    }
    reco_dataset *ds = build(nu, ni, n, us, is, rs);
    free(us);
    free(is);
    free(rs);
    return ds;
}

/* Many users with 1-4 ratings each over items of skewed popularity: most
 * users share nothing with a given user (usercf's hashed paths). */
static reco_dataset *make_sparse(uint32_t nu, uint32_t ni, uint64_t seed)
{
    rng_state = seed;
    size_t cap = (size_t)nu * 4;
    uint32_t *us = malloc(cap * sizeof *us), *is = malloc(cap * sizeof *is);
    float *rs = malloc(cap * sizeof *rs);
    assert_non_null(us);
    assert_non_null(is);
    assert_non_null(rs);
    size_t n = 0;
    for (uint32_t u = 0; u < nu; u++) {
        int m = 1 + (int)(uniform() * 4);
        uint32_t picked[4];
        for (int x = 0; x < m; x++) {
            double p = uniform();
            uint32_t i = (uint32_t)(ni * p * p * p);
            bool dup = false;
            for (int y = 0; y < x; y++)
                dup |= picked[y] == i;
            if (dup)
                continue;
            picked[x] = i;
            us[n] = u;
            is[n] = i;
            rs[n] = (float)(1 + (int)(uniform() * 5));
            n++;
        }
    }
    reco_dataset *ds = build(nu, ni, n, us, is, rs);
    free(us);
    free(is);
    free(rs);
    return ds;
}

static reco_model *fit(const char *algo, const reco_dataset *ds, const char *const (*kv)[2],
                       size_t n_kv)
{
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (size_t x = 0; x < n_kv; x++)
        assert_int_equal(reco_model_set_param(m, kv[x][0], kv[x][1], &err), RECO_OK);
    reco_status rc = reco_model_fit(m, ds, NULL, &err);
    if (rc)
        fail_msg("fit %s: %s", algo, err.msg);
    return m;
}

static reco_knn_params params(bool centered, double shrinkage, int min_support)
{
    reco_knn_params p;
    reco_usercf_params_default(&p);
    p.centered = centered;
    p.shrinkage = shrinkage;
    p.min_support = min_support;
    return p;
}

/* ---- the similarity kernel, by hand ---- */

/* User a rated items 1,2,4,7 with 4,2,5,3; user b rated 2,3,4,7 with
 * 4,1,5,1. Co-rated: 2, 4, 7 (n = 3). */
static const uint32_t IA[] = {1, 2, 4, 7}, IB[] = {2, 3, 4, 7};
static const float VA[] = {4, 2, 5, 3}, VB[] = {4, 1, 5, 1};

static void test_cosine_by_hand(void **state)
{
    (void)state;
    reco_knn_params p = params(false, 0, 1);
    uint32_t n = 0;
    /* a = (2, 5, 3), b = (4, 5, 1): dot 8 + 25 + 3 = 36, |a|^2 = 4 + 25 + 9
     * = 38, |b|^2 = 16 + 25 + 1 = 42. */
    float s = reco_knn_similarity(IA, VA, 4, 0, IB, VB, 4, 0, &p, &n);
    assert_int_equal(n, 3);
    assert_float_equal(s, 36.0 / sqrt(38.0 * 42.0), 1e-6);
    assert_float_equal(s, 0.9011271, 1e-6);
    /* Symmetric. */
    assert_float_equal(reco_knn_similarity(IB, VB, 4, 0, IA, VA, 4, 0, &p, NULL), s, 1e-7);
    /* Shrinkage 2: times n / (n + 2) = 3/5. */
    p.shrinkage = 2;
    assert_float_equal(reco_knn_similarity(IA, VA, 4, 0, IB, VB, 4, 0, &p, NULL),
                       36.0 / sqrt(38.0 * 42.0) * 3.0 / 5.0, 1e-6);
    /* min_support above the 3 co-rated items: no similarity. */
    p.shrinkage = 0;
    p.min_support = 3;
    assert_float_equal(reco_knn_similarity(IA, VA, 4, 0, IB, VB, 4, 0, &p, NULL), s, 1e-7);
    p.min_support = 4;
    assert_float_equal(reco_knn_similarity(IA, VA, 4, 0, IB, VB, 4, 0, &p, &n), 0.0, 0.0);
    assert_int_equal(n, 3);
}

static void test_centered_by_hand(void **state)
{
    (void)state;
    reco_knn_params p = params(true, 0, 1);
    /* Means over all their ratings: a 14/4 = 3.5, b 11/4 = 2.75.
     * Centred co-rated values: a = (-1.5, 1.5, -0.5), b = (1.25, 2.25,
     * -1.75): dot = -1.875 + 3.375 + 0.875 = 2.375, |a|^2 = 4.75,
     * |b|^2 = 1.5625 + 5.0625 + 3.0625 = 9.6875. */
    float s = reco_knn_similarity(IA, VA, 4, 3.5f, IB, VB, 4, 2.75f, &p, NULL);
    assert_float_equal(s, 2.375 / sqrt(4.75 * 9.6875), 1e-6);
    assert_float_equal(s, 0.3501152, 1e-6);
    p.shrinkage = 100;
    assert_float_equal(reco_knn_similarity(IA, VA, 4, 3.5f, IB, VB, 4, 2.75f, &p, NULL),
                       2.375 / sqrt(4.75 * 9.6875) * 3.0 / 103.0, 1e-7);
    /* Opposite tastes give a negative similarity. */
    const float VC[] = {2, 5, 3, 1}; /* b's co-rated values flipped around 3 */
    p.shrinkage = 0;
    assert_true(reco_knn_similarity(IB, VB, 4, 2.75f, IB, VC, 4, 2.75f, &p, NULL) < 0);
    /* A user who rates everything alike has a zero centred vector. */
    const float FLAT[] = {4, 4, 4, 4};
    assert_float_equal(reco_knn_similarity(IA, FLAT, 4, 4.0f, IB, VB, 4, 2.75f, &p, NULL), 0.0,
                       0.0);
    /* Nothing in common. */
    const uint32_t ID[] = {0, 5, 9};
    uint32_t n = 99;
    assert_float_equal(reco_knn_similarity(IA, VA, 4, 0, ID, VB, 3, 0, &p, &n), 0.0, 0.0);
    assert_int_equal(n, 0);
}

static void test_sim_finish(void **state)
{
    (void)state;
    reco_knn_params p = params(false, 10, 2);
    assert_float_equal(reco_knn_sim_finish(6, 4, 9, 2, &p), 1.0 * 2 / 12, 1e-7);
    assert_float_equal(reco_knn_sim_finish(6, 4, 9, 1, &p), 0.0, 0.0); /* support */
    assert_float_equal(reco_knn_sim_finish(1, 0, 9, 5, &p), 0.0, 0.0); /* zero norm */
    p.shrinkage = 0;
    /* Rounding past 1 is clamped. */
    assert_true(reco_knn_sim_finish(3.0000001, 1, 9, 3, &p) <= 1.0f);
    assert_float_equal(reco_knn_sim_finish(-6, 4, 9, 3, &p), -1.0, 1e-7);
}

static void test_user_means(void **state)
{
    (void)state;
    const uint32_t us[] = {0, 0, 2}, is[] = {0, 1, 1};
    const float rs[] = {4, 1, 3};
    reco_dataset *ds = build(3, 2, 3, us, is, rs);
    float mean[3];
    reco_knn_user_means(ds, 2, mean);
    assert_float_equal(mean[0], 2.5, 1e-7);
    assert_float_equal(mean[1], 0.0, 0.0); /* no ratings */
    assert_float_equal(mean[2], 3.0, 1e-7);
    reco_dataset_free(ds);
}

/* ---- the neighbour table against a dense brute force ---- */

/* Similarities within EPS of 0 may come out either side of it in float:
 * such neighbours may or may not be listed. */
#define EPS 1e-5

typedef struct ref_table {
    uint32_t ni;
    double *sim;     /* ni x ni, 0 where there is no similarity */
    uint32_t *order; /* per item: neighbours with sim > EPS, best first */
    uint32_t *len;
    uint32_t *maybe; /* per item: neighbours with |sim| <= EPS */
} ref_table;

static const double *g_row; /* for the qsort comparator */

static int cmp_ref(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (g_row[x] != g_row[y])
        return g_row[x] > g_row[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Independent of the library's kernel: the formula written out over a
 * dense users x items matrix (0 = not rated). */
static ref_table brute_force(const reco_dataset *ds, const reco_knn_params *p)
{
    uint32_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
    double *r = calloc((size_t)nu * ni, sizeof *r), *mean = calloc(nu, sizeof *mean);
    assert_non_null(r);
    assert_non_null(mean);
    const reco_csr *R = &ds->by_user;
    for (uint32_t u = 0; u < nu; u++) {
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
            r[(size_t)u * ni + R->idx[k]] = R->val[k];
            mean[u] += R->val[k];
        }
        if (R->ptr[u + 1] > R->ptr[u])
            mean[u] /= (double)(R->ptr[u + 1] - R->ptr[u]);
    }
    ref_table t = {ni, calloc((size_t)ni * ni, sizeof(double)),
                   malloc((size_t)ni * ni * sizeof(uint32_t)), calloc(ni, sizeof(uint32_t)),
                   calloc(ni, sizeof(uint32_t))};
    assert_non_null(t.sim);
    assert_non_null(t.order);
    assert_non_null(t.len);
    assert_non_null(t.maybe);
    for (uint32_t i = 0; i < ni; i++) {
        for (uint32_t j = 0; j < ni; j++) {
            if (j == i)
                continue;
            double dot = 0, saa = 0, sbb = 0;
            int n = 0;
            for (uint32_t u = 0; u < nu; u++) {
                double a = r[(size_t)u * ni + i], b = r[(size_t)u * ni + j];
                if (a == 0 || b == 0)
                    continue;
                if (p->centered) {
                    a -= mean[u];
                    b -= mean[u];
                }
                dot += a * b;
                saa += a * a;
                sbb += b * b;
                n++;
            }
            if (n == 0 || n < p->min_support || saa == 0 || sbb == 0)
                continue;
            double s = dot / sqrt(saa * sbb) * n / (n + p->shrinkage);
            t.sim[(size_t)i * ni + j] = s;
            if (s > EPS)
                t.order[(size_t)i * ni + t.len[i]++] = j;
            else if (s >= -EPS)
                t.maybe[i]++;
        }
        g_row = t.sim + (size_t)i * ni;
        qsort(t.order + (size_t)i * ni, t.len[i], sizeof(uint32_t), cmp_ref);
    }
    free(r);
    free(mean);
    return t;
}

static void ref_free(ref_table *t)
{
    free(t->sim);
    free(t->order);
    free(t->len);
    free(t->maybe);
}

/* Same lists as the reference, best first, at most k each; where ties
 * make the order ambiguous, any of the tied products is accepted, and
 * near-zero similarities may be listed or not. */
static void check_table(const reco_knn_table *t, const ref_table *ref, uint32_t k)
{
    assert_int_equal(t->n_items, ref->ni);
    assert_int_equal(t->k, k);
    assert_int_equal(t->offsets[0], 0);
    uint64_t total = 0;
    for (uint32_t i = 0; i < t->n_items; i++) {
        uint32_t len = reco_knn_table_len(t, i);
        uint32_t lo = ref->len[i] < k ? ref->len[i] : k;
        uint32_t hi = ref->len[i] + ref->maybe[i] < k ? ref->len[i] + ref->maybe[i] : k;
        assert_true(len >= lo && len <= hi);
        total += len;
        for (uint32_t x = 0; x < len; x++) {
            uint32_t j = t->nbr[t->offsets[i] + x];
            float s = t->sim[t->offsets[i] + x];
            assert_true(j < t->n_items);
            assert_int_not_equal(j, i);
            assert_true(s > 0);
            /* The value at this rank, and the product truly has it. */
            const uint32_t *order = ref->order + (size_t)i * ref->ni;
            double expect = x < ref->len[i] ? ref->sim[(size_t)i * ref->ni + order[x]] : 0.0;
            assert_float_equal(s, expect, EPS);
            assert_float_equal(s, ref->sim[(size_t)i * ref->ni + j], EPS);
            for (uint32_t y = 0; y < x; y++)
                assert_int_not_equal(t->nbr[t->offsets[i] + y], j);
        }
    }
    assert_int_equal(t->offsets[t->n_items], total);
}

static void test_table_brute_force(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(80, 40, 0.35, 11);
    struct {
        bool centered;
        double shrinkage;
        int min_support, k;
    } cases[] = {{false, 0, 1, 5}, {true, 0, 1, 5}, {true, 10, 3, 8}, {false, 25, 2, 100}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        reco_knn_params p = params(cases[c].centered, cases[c].shrinkage, cases[c].min_support);
        p.k = cases[c].k;
        ref_table ref = brute_force(ds, &p);
        reco_knn_table t;
        reco_error err;
        assert_int_equal(reco_knn_table_build(ds, &p, 2, (reco_progress){0}, &t, &err), RECO_OK);
        check_table(&t, &ref, (uint32_t)p.k);
        /* The thread count never changes the table. */
        reco_knn_table t1;
        assert_int_equal(reco_knn_table_build(ds, &p, 1, (reco_progress){0}, &t1, &err), RECO_OK);
        assert_int_equal(t1.offsets[t1.n_items], t.offsets[t.n_items]);
        assert_memory_equal(t1.offsets, t.offsets, (t.n_items + 1) * sizeof *t.offsets);
        assert_memory_equal(t1.nbr, t.nbr, t.offsets[t.n_items] * sizeof *t.nbr);
        assert_memory_equal(t1.sim, t.sim, t.offsets[t.n_items] * sizeof *t.sim);
        reco_knn_table_clear(&t1);
        reco_knn_table_clear(&t);
        ref_free(&ref);
    }
    reco_knn_table_clear(NULL);
    reco_dataset_free(ds);
}

/* The fitted model's table is the one reco_knn_table_build gives, and the
 * co_rated source of similar products reads it; a model without a table
 * (usercf) computes the same lists from the ratings. */
static void test_itemcf_model_table(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(60, 30, 0.4, 5);
    const char *const kv[][2] = {{"k", "6"}, {"threads", "2"}};
    reco_model *m = fit("itemcf", ds, kv, 2);
    const reco_knn_table *t = reco_itemcf_table(m);
    assert_non_null(t);
    reco_knn_params p;
    reco_itemcf_params_default(&p);
    p.k = 6;
    ref_table ref = brute_force(ds, &p);
    check_table(t, &ref, 6);
    ref_free(&ref);
    reco_scored out[10];
    size_t n;
    reco_error err;
    for (uint32_t i = 0; i < t->n_items; i++) {
        assert_int_equal(
            reco_model_similar_source(m, RECO_SIMILAR_CO_RATED, i, 10, out, &n, NULL, &err),
            RECO_OK);
        assert_int_equal(n, reco_knn_table_len(t, i));
        for (size_t x = 0; x < n; x++) {
            assert_int_equal(out[x].id, t->nbr[t->offsets[i] + x]);
            assert_float_equal(out[x].score, t->sim[t->offsets[i] + x], 0.0);
        }
    }
    assert_int_equal(
        reco_model_similar_source(m, RECO_SIMILAR_CO_RATED, 0, 2, out, &n, NULL, &err), RECO_OK);
    assert_true(n <= 2);
    reco_similar full[10];
    assert_int_equal(reco_model_similar(m, 30, 2, full, &n, NULL, &err), RECO_ERR_NOT_FOUND);
    assert_null(reco_itemcf_table(NULL));

    /* usercf has no table: the same cosines, computed from the ratings
     * (the table's parameters but k are the defaults). */
    reco_model *u = fit("usercf", ds, NULL, 0);
    assert_null(reco_itemcf_table(u));
    for (uint32_t i = 0; i < t->n_items; i++) {
        assert_int_equal(
            reco_model_similar_source(u, RECO_SIMILAR_CO_RATED, i, 6, out, &n, NULL, &err),
            RECO_OK);
        assert_int_equal(n, reco_knn_table_len(t, i));
        for (size_t x = 0; x < n; x++) {
            assert_int_equal(out[x].id, t->nbr[t->offsets[i] + x]);
            assert_float_equal(out[x].score, t->sim[t->offsets[i] + x], 1e-6);
        }
    }
    reco_model_free(u);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* ---- predictions against brute force ---- */

static float clampf(const reco_model *m, double r)
{
    return (float)(r < m->rating_lo ? m->rating_lo : r > m->rating_hi ? m->rating_hi : r);
}

typedef struct cand {
    uint32_t v;
    double sim;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->sim != y->sim)
        return x->sim > y->sim ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

/* KNNBaseline over the k raters of i most similar to u, with the kernel
 * merging the two rows. Returns false when float and double may disagree
 * on the neighbours (the k-th and (k+1)-th similarities too close to
 * call, or one within EPS of 0), true with *out otherwise. */
static bool usercf_reference(const reco_model *m, const reco_knn_params *p, const float *mean,
                             uint32_t u, uint32_t i, float *out)
{
    const reco_dataset *ds = m->train;
    const reco_csr *R = &ds->by_user, *C = &ds->by_item;
    const reco_baseline *b = &m->baseline;
    cand *c = malloc((reco_csr_row_len(C, i) + 1) * sizeof *c);
    assert_non_null(c);
    size_t n = 0;
    bool clear = true;
    for (uint64_t k = C->ptr[i]; k < C->ptr[i + 1]; k++) {
        uint32_t v = C->idx[k];
        if (v == u)
            continue;
        float s = reco_knn_similarity(R->idx + R->ptr[u], R->val + R->ptr[u],
                                      reco_csr_row_len(R, u), p->centered ? mean[u] : 0,
                                      R->idx + R->ptr[v], R->val + R->ptr[v],
                                      reco_csr_row_len(R, v), p->centered ? mean[v] : 0, p, NULL);
        if (s > 0)
            c[n++] = (cand){v, s};
        if (s != 0 && fabsf(s) <= EPS)
            clear = false;
    }
    qsort(c, n, sizeof *c, cmp_cand);
    size_t k = n < (size_t)p->k ? n : (size_t)p->k;
    if (k < n && c[k - 1].sim - c[k].sim < EPS)
        clear = false;
    double num = 0, den = 0;
    for (size_t x = 0; x < k; x++) {
        float r = R->val[reco_csr_find(R, c[x].v, i)];
        num += c[x].sim * (r - reco_baseline_predict(b, c[x].v, i));
        den += c[x].sim;
    }
    free(c);
    double pred = reco_baseline_predict(b, u, i);
    if (den > 0)
        pred += num / den;
    *out = clampf(m, pred);
    return clear;
}

static void check_usercf_predictions(reco_dataset *ds, const char *const (*kv)[2], size_t n_kv,
                                     uint32_t n_pairs, int *checked)
{
    reco_model *m = fit("usercf", ds, kv, n_kv);
    const reco_knn_params *p = m->params;
    uint32_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
    float *mean = malloc(nu * sizeof *mean);
    assert_non_null(mean);
    reco_knn_user_means(ds, 1, mean);
    rng_state = 77;
    for (uint32_t x = 0; x < n_pairs; x++) {
        uint32_t u = (uint32_t)(uniform() * nu), i = (uint32_t)(uniform() * ni);
        if (reco_csr_row_len(&ds->by_user, u) == 0 || reco_csr_row_len(&ds->by_item, i) == 0)
            continue;
        float want;
        if (!usercf_reference(m, p, mean, u, i, &want))
            continue;
        assert_float_equal(reco_model_predict(m, u, i), want, 1e-4);
        (*checked)++;
    }
    free(mean);
    reco_model_free(m);
}

static void test_usercf_predict_brute_force(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(70, 40, 0.3, 3);
    int checked = 0;
    const char *const a[][2] = {{"centered", "true"}, {"k", "5"}};
    check_usercf_predictions(ds, a, 2, 300, &checked);
    const char *const b[][2] = {{"centered", "false"}, {"shrinkage", "0"}, {"k", "1000"}};
    check_usercf_predictions(ds, b, 3, 300, &checked);
    const char *const c[][2] = {{"min_support", "4"}, {"shrinkage", "5"}, {"k", "3"}};
    check_usercf_predictions(ds, c, 3, 300, &checked);
    assert_true(checked > 600);
    reco_dataset_free(ds);

    /* Thousands of users with a few ratings each: most predictions index
     * the raters of i in a hash map instead of a dense array (the choice
     * depends on users <= 4 x the raters walked). */
    ds = make_sparse(3000, 300, 9);
    const reco_csr *R = &ds->by_user, *C = &ds->by_item;
    int hashed = 0;
    rng_state = 77;
    for (int x = 0; x < 2000; x++) {
        uint32_t u = (uint32_t)(uniform() * 3000);
        (void)uniform();
        uint64_t work = 0;
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
            work += reco_csr_row_len(C, R->idx[k]);
        hashed += 3000 > 4 * work;
    }
    assert_true(hashed > 100);
    checked = 0;
    const char *const d[][2] = {{"centered", "false"}, {"k", "4"}};
    check_usercf_predictions(ds, d, 2, 2000, &checked);
    const char *const e[][2] = {{"centered", "true"}, {"shrinkage", "1"}};
    check_usercf_predictions(ds, e, 2, 2000, &checked);
    assert_true(checked > 1000);
    reco_dataset_free(ds);
}

/* itemcf: the user's rated products linked to i in the table, either way. */
static float itemcf_reference(const reco_model *m, uint32_t u, uint32_t i)
{
    const reco_knn_table *t = reco_itemcf_table(m);
    const reco_csr *R = &m->train->by_user;
    double num = 0, den = 0;
    for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
        uint32_t j = R->idx[k];
        double s = 0;
        for (uint64_t x = t->offsets[i]; x < t->offsets[i + 1]; x++)
            if (t->nbr[x] == j)
                s = t->sim[x];
        for (uint64_t x = t->offsets[j]; x < t->offsets[j + 1]; x++)
            if (t->nbr[x] == i)
                s = t->sim[x];
        num += s * (R->val[k] - reco_baseline_predict(&m->baseline, u, j));
        den += s;
    }
    double pred = reco_baseline_predict(&m->baseline, u, i);
    return clampf(m, den > 0 ? pred + num / den : pred);
}

static void test_itemcf_predict_brute_force(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(70, 40, 0.3, 4);
    const char *const kv[][2] = {{"k", "4"}};
    reco_model *m = fit("itemcf", ds, kv, 1);
    int away = 0;
    for (uint32_t u = 0; u < 70; u++)
        for (uint32_t i = 0; i < 40; i++) {
            float want = itemcf_reference(m, u, i);
            assert_float_equal(reco_model_predict(m, u, i), want, 1e-4);
            away += fabsf(want - clampf(m, reco_baseline_predict(&m->baseline, u, i))) > 1e-3;
        }
    /* The neighbours moved most predictions away from the baseline. */
    assert_true(away > 70 * 40 / 2);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* ---- the recommender contract ---- */

static bool rated(const reco_profile *p, uint32_t i)
{
    for (uint32_t x = 0; x < p->n; x++)
        if (p->items[x] == i)
            return true;
    return false;
}

static void check_recommendations(const char *algo, const char *const (*kv)[2], size_t n_kv)
{
    reco_dataset *ds = make_random(60, 50, 0.25, 21);
    reco_model *m = fit(algo, ds, kv, n_kv);
    size_t ss = reco_model_scratch_size(m);
    unsigned char *scratch = malloc(ss + 4);
    assert_non_null(scratch);
    reco_error err;
    int explained = 0;
    for (uint32_t u = 0; u < 60; u++) {
        reco_profile p = reco_profile_of_user(ds, u);
        reco_scored a[10], b[10];
        size_t na, nb;
        bool cold = true;
        memset(scratch, 0xa5, ss);
        assert_int_equal(reco_model_recommend(m, &p, 10, true, a, &na, &cold, scratch, &err),
                         RECO_OK);
        assert_false(cold);
        /* Garbage again, and only 4-byte aligned. */
        memset(scratch, 0x5a, ss + 4);
        assert_int_equal(reco_model_recommend(m, &p, 10, true, b, &nb, NULL, scratch + 4, &err),
                         RECO_OK);
        /* Full lists whatever the neighbourhood reaches, identical each time. */
        assert_int_equal(na, 10);
        assert_int_equal(nb, na);
        assert_memory_equal(a, b, na * sizeof *a);
        assert_int_equal(reco_model_recommend(m, &p, 10, true, b, &nb, NULL, NULL, &err),
                         RECO_OK);
        assert_memory_equal(a, b, na * sizeof *a);
        for (size_t x = 0; x < na; x++) {
            assert_false(rated(&p, a[x].id));
            assert_true(isfinite(a[x].score));
            if (x)
                assert_true(a[x - 1].score >= a[x].score);
        }
        /* Explanations are rated products; the top pick has one. */
        uint32_t why[5];
        size_t nw = m->ops->explain(m->state, ds, &p, a[0].id, why, 5);
        assert_true(nw <= 5);
        explained += nw > 0;
        for (size_t x = 0; x < nw; x++) {
            assert_true(rated(&p, why[x]));
            for (size_t y = 0; y < x; y++)
                assert_int_not_equal(why[x], why[y]);
        }
        assert_int_equal(m->ops->explain(m->state, ds, &p, a[0].id, why, 0), 0);
        /* The whole list at once gives each product's explanation alone. */
        uint32_t ids[10], all[10 * 5], counts[10];
        for (size_t x = 0; x < na; x++)
            ids[x] = a[x].id;
        reco_model_explain_list(m, &p, ids, na, 5, all, counts);
        for (size_t x = 0; x < na; x++) {
            uint32_t one[5];
            size_t c = m->ops->explain(m->state, ds, &p, ids[x], one, 5);
            assert_int_equal(counts[x], c);
            assert_memory_equal(all + x * 5, one, c * sizeof *one);
        }
    }
    assert_true(explained >= 55);
    free(scratch);
    reco_model_free(m);
    reco_dataset_free(ds);
}

static void test_usercf_recommend(void **state)
{
    (void)state;
    check_recommendations("usercf", NULL, 0);
    const char *const kv[][2] = {{"centered", "false"}, {"k", "3"}, {"candidates", "7"}};
    check_recommendations("usercf", kv, 3);
}

static void test_itemcf_recommend(void **state)
{
    (void)state;
    check_recommendations("itemcf", NULL, 0);
    const char *const kv[][2] = {{"centered", "false"}, {"k", "3"}};
    check_recommendations("itemcf", kv, 2);
}

/* Scores by hand on a tiny catalogue: itemcf adds similarity x rating
 * over the rated products' neighbour lists. */
static void test_itemcf_score_by_hand(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(40, 12, 0.5, 8);
    const char *const kv[][2] = {{"k", "3"}};
    reco_model *m = fit("itemcf", ds, kv, 1);
    const reco_knn_table *t = reco_itemcf_table(m);
    const uint32_t items[] = {2, 5};
    const float ratings[] = {5, 2};
    reco_profile p = {RECO_NO_USER, items, ratings, 2, true};
    float want[12] = {0};
    bool reached[12] = {0};
    for (int x = 0; x < 2; x++)
        for (uint64_t y = t->offsets[items[x]]; y < t->offsets[items[x] + 1]; y++) {
            want[t->nbr[y]] += t->sim[y] * ratings[x];
            reached[t->nbr[y]] = true;
        }
    float *scores = malloc(reco_model_scratch_size(m));
    assert_non_null(scores);
    void *algo_scratch = malloc(m->ops->scratch_size(m->state, ds));
    reco_error err;
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, scores, algo_scratch, &err),
                     RECO_OK);
    float lowest_reached = INFINITY;
    for (int i = 0; i < 12; i++)
        if (reached[i]) {
            assert_float_equal(scores[i], want[i], 1e-5);
            lowest_reached = fminf(lowest_reached, scores[i]);
        }
    for (int i = 0; i < 12; i++)
        if (!reached[i])
            assert_true(scores[i] < lowest_reached);
    free(algo_scratch);
    free(scores);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* usercf scores by brute force: the profile's k most similar users (the
 * kernel merging rows), then similarity x rating summed over their
 * products. */
static void check_usercf_scores(const reco_dataset *ds, reco_model *m, const reco_profile *p,
                                const float *mean, int *checked)
{
    const reco_knn_params *kp = m->params;
    const reco_csr *R = &ds->by_user;
    uint32_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
    double pm = 0;
    for (uint32_t x = 0; x < p->n; x++)
        pm += p->ratings[x];
    pm /= p->n;
    cand *c = malloc(nu * sizeof *c);
    assert_non_null(c);
    size_t n = 0;
    bool clear = true;
    for (uint32_t v = 0; v < nu; v++) {
        if (v == p->user)
            continue;
        float s = reco_knn_similarity(p->items, p->ratings, p->n, kp->centered ? (float)pm : 0,
                                      R->idx + R->ptr[v], R->val + R->ptr[v],
                                      reco_csr_row_len(R, v), kp->centered ? mean[v] : 0, kp, NULL);
        if (s > 0)
            c[n++] = (cand){v, s};
        if (s != 0 && fabsf(s) <= EPS)
            clear = false;
    }
    qsort(c, n, sizeof *c, cmp_cand);
    size_t k = n < (size_t)kp->k ? n : (size_t)kp->k;
    if (k < n && c[k - 1].sim - c[k].sim < EPS)
        clear = false;
    if (!clear) {
        free(c);
        return;
    }
    double *want = calloc(ni, sizeof *want);
    bool *reached = calloc(ni, sizeof *reached);
    float *scores = malloc(ni * sizeof *scores);
    void *scratch = malloc(m->ops->scratch_size(m->state, ds));
    assert_true(want && reached && scores && scratch);
    for (size_t x = 0; x < k; x++)
        for (uint64_t y = R->ptr[c[x].v]; y < R->ptr[c[x].v + 1]; y++) {
            want[R->idx[y]] += c[x].sim * R->val[y];
            reached[R->idx[y]] = true;
        }
    reco_error err;
    assert_int_equal(m->ops->score(m->state, ds, &m->baseline, p, scores, scratch, &err), RECO_OK);
    float lowest = INFINITY;
    for (uint32_t i = 0; i < ni; i++)
        if (reached[i]) {
            assert_float_equal(scores[i], want[i], 1e-4 * (1 + fabs(want[i])));
            lowest = fminf(lowest, scores[i]);
        }
    for (uint32_t i = 0; i < ni; i++)
        if (!reached[i])
            assert_true(scores[i] < lowest);
    (*checked)++;
    free(scratch);
    free(scores);
    free(reached);
    free(want);
    free(c);
}

static void test_usercf_score_brute_force(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(60, 30, 0.3, 12);
    float mean[60];
    reco_knn_user_means(ds, 1, mean);
    const char *const a[][2] = {{"k", "5"}};
    const char *const b[][2] = {{"centered", "false"}, {"k", "1000"}, {"shrinkage", "3"}};
    const char *const (*kvs[])[2] = {a, b};
    size_t n_kv[] = {1, 3};
    int checked = 0;
    for (int c = 0; c < 2; c++) {
        reco_model *m = fit("usercf", ds, kvs[c], n_kv[c]);
        for (uint32_t u = 0; u < 60; u++) {
            reco_profile p = reco_profile_of_user(ds, u);
            if (p.n == 0)
                continue;
            check_usercf_scores(ds, m, &p, mean, &checked);
            /* The same ratings from someone unknown: u is a candidate now. */
            p.user = RECO_NO_USER;
            p.updated = true;
            check_usercf_scores(ds, m, &p, mean, &checked);
        }
        reco_model_free(m);
    }
    assert_true(checked >= 200);
    reco_dataset_free(ds);
}

/* With room for one candidate, it is the first rater (lowest index, not
 * the user) of the profile's least-rated product. */
static void test_usercf_candidate_cap(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(60, 30, 0.3, 13);
    const reco_csr *R = &ds->by_user, *C = &ds->by_item;
    const char *const kv[][2] = {{"candidates", "1"}, {"centered", "false"}};
    reco_model *m = fit("usercf", ds, kv, 2);
    float *scores = malloc(30 * sizeof *scores);
    void *scratch = malloc(m->ops->scratch_size(m->state, ds));
    assert_non_null(scores);
    assert_non_null(scratch);
    reco_error err;
    for (uint32_t u = 0; u < 60; u++) {
        reco_profile p = reco_profile_of_user(ds, u);
        if (p.n == 0)
            continue;
        uint32_t rarest = p.items[0];
        for (uint32_t x = 1; x < p.n; x++)
            if (reco_csr_row_len(C, p.items[x]) < reco_csr_row_len(C, rarest))
                rarest = p.items[x];
        uint32_t v = UINT32_MAX;
        for (uint64_t k = C->ptr[rarest]; k < C->ptr[rarest + 1] && v == UINT32_MAX; k++)
            if (C->idx[k] != u)
                v = C->idx[k];
        if (v == UINT32_MAX)
            continue;
        assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, scores, scratch, &err),
                         RECO_OK);
        float s = reco_knn_similarity(p.items, p.ratings, p.n, 0, R->idx + R->ptr[v],
                                      R->val + R->ptr[v], reco_csr_row_len(R, v), 0, m->params,
                                      NULL);
        for (uint64_t k = R->ptr[v]; k < R->ptr[v + 1]; k++)
            assert_float_equal(scores[R->idx[k]], s * R->val[k], 1e-5);
    }
    free(scratch);
    free(scores);
    reco_model_free(m);
    reco_dataset_free(ds);
}

/* ---- fallbacks ---- */

static void test_fallbacks(void **state)
{
    (void)state;
    /* Users 0-2 share products 0-2; user 3 rated only product 3, which
     * nobody else rated; user 4 and products 4 and 5 have no rating. */
    const uint32_t us[] = {0, 0, 0, 1, 1, 1, 2, 2, 3};
    const uint32_t is[] = {0, 1, 2, 0, 1, 2, 0, 2, 3};
    const float rs[] = {5, 3, 1, 4, 3, 2, 5, 1, 4};
    reco_dataset *ds = build(5, 6, 9, us, is, rs);
    const char *algos[] = {"usercf", "itemcf"};
    for (int a = 0; a < 2; a++) {
        const char *const kv[][2] = {{"centered", "false"}};
        reco_model *m = fit(algos[a], ds, kv, 1);
        const reco_baseline *b = &m->baseline;
        /* No neighbour (3 shares nothing), unknown user or product, a
         * product without ratings: the baseline answers, clamped. */
        assert_float_equal(reco_model_predict(m, 3, 0), clampf(m, reco_baseline_predict(b, 3, 0)),
                           1e-6);
        assert_float_equal(reco_model_predict(m, 0, 3), clampf(m, reco_baseline_predict(b, 0, 3)),
                           1e-6);
        assert_float_equal(reco_model_predict(m, 99, 1),
                           clampf(m, reco_baseline_predict(b, RECO_NO_USER, 1)), 1e-6);
        assert_float_equal(reco_model_predict(m, 4, 5),
                           clampf(m, reco_baseline_predict(b, RECO_NO_USER, RECO_NO_USER)),
                           1e-6);
        assert_true(isfinite(reco_model_predict(m, 2, 1)));

        /* Recommendations: a user with no neighbour still gets the rated
         * products ranked (by item bias), never 4 or 5 (no rating) nor 3. */
        reco_error err;
        reco_scored out[6];
        size_t n;
        reco_profile p3 = reco_profile_of_user(ds, 3);
        assert_int_equal(reco_model_recommend(m, &p3, 6, true, out, &n, NULL, NULL, &err),
                         RECO_OK);
        assert_int_equal(n, 3);
        for (size_t x = 0; x < n; x++)
            assert_true(out[x].id <= 2);
        /* Later ratings of an unknown user, one of a product it does not
         * know (index 9): the known one finds neighbours. */
        const uint32_t items[] = {0, 9};
        const float ratings[] = {5, 4};
        reco_profile fresh = {RECO_NO_USER, items, ratings, 2, true};
        assert_int_equal(reco_model_recommend(m, &fresh, 6, true, out, &n, NULL, NULL, &err),
                         RECO_OK);
        assert_int_equal(n, 3); /* 1, 2, 3: not 0 (rated), not 4 or 5 (no rating) */
        for (size_t x = 0; x < n; x++)
            assert_true(out[x].id != 0 && out[x].id != 5);
        assert_true(out[0].id == 1 || out[0].id == 2); /* reached through neighbours */
        uint32_t why[2];
        size_t nw = m->ops->explain(m->state, ds, &fresh, out[0].id, why, 2);
        assert_int_equal(nw, 1);
        assert_int_equal(why[0], 0);
        /* Only unknown products: no neighbour, the bias ranking. */
        reco_profile odd = {RECO_NO_USER, items + 1, ratings + 1, 1, true};
        assert_int_equal(reco_model_recommend(m, &odd, 6, true, out, &n, NULL, NULL, &err),
                         RECO_OK);
        assert_int_equal(n, 4);
        assert_int_equal(m->ops->explain(m->state, ds, &odd, out[0].id, why, 2), 0);
        /* Never seen, nothing rated: the popularity ranking. */
        reco_profile none = {RECO_NO_USER, NULL, NULL, 0, false};
        bool cold = false;
        assert_int_equal(reco_model_recommend(m, &none, 6, true, out, &n, &cold, NULL, &err),
                         RECO_OK);
        assert_true(cold);
        reco_model_free(m);
    }
    reco_dataset_free(ds);
}

/* ---- parameters ---- */

static void test_params(void **state)
{
    (void)state;
    const char *algos[] = {"usercf", "itemcf"};
    for (int a = 0; a < 2; a++) {
        reco_model *m;
        reco_error err;
        assert_int_equal(reco_model_new(algos[a], &m, &err), RECO_OK);
        const reco_knn_params *p = m->params;
        assert_int_equal(p->k, a == 0 ? 40 : 76);
        assert_true(p->centered);
        assert_float_equal(p->shrinkage, a == 0 ? 100 : 439, 0);
        assert_int_equal(p->min_support, 1);
        struct {
            const char *key, *value;
        } bad[] = {{"k", "0"},           {"k", "1001"},        {"k", "ten"},
                   {"centered", "maybe"}, {"shrinkage", "-1"}, {"shrinkage", "nan"},
                   {"min_support", "0"}, {"threads", "-2"},   {"candidates", "0"}};
        for (size_t x = 0; x < sizeof bad / sizeof *bad; x++) {
            reco_error_clear(&err);
            assert_int_equal(reco_model_set_param(m, bad[x].key, bad[x].value, &err),
                             RECO_ERR_INVALID);
            if (!strstr(err.msg, bad[x].key))
                fail_msg("message \"%s\" does not name %s", err.msg, bad[x].key);
        }
        assert_int_equal(reco_model_set_param(m, "neighbours", "5", &err), RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, "neighbours"));
        assert_int_equal(reco_model_set_param(m, "k", "7", &err), RECO_OK);
        assert_int_equal(reco_model_set_param(m, "centered", "false", &err), RECO_OK);
        assert_int_equal(reco_model_set_param(m, "shrinkage", "2.5", &err), RECO_OK);
        assert_int_equal(reco_model_set_param(m, "min_support", "3", &err), RECO_OK);
        assert_int_equal(reco_model_set_param(m, "threads", "1", &err), RECO_OK);
        char buf[200];
        m->ops->params_format(m->params, buf, sizeof buf);
        assert_non_null(strstr(buf, "k=7 centered=false shrinkage=2.5 min_support=3"));
        assert_non_null(strstr(buf, "threads=1"));
        assert_true((strstr(buf, "candidates=") != NULL) == (a == 0));
        /* A value set directly is caught when fitting, named. */
        ((reco_knn_params *)m->params)->k = 0;
        reco_dataset *ds = make_random(10, 10, 0.5, 1);
        assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, "k must be"));
        assert_non_null(strstr(err.msg, algos[a]));
        reco_dataset_free(ds);
        reco_model_free(m);
    }
    reco_error err;
    reco_model *m;
    assert_int_equal(reco_model_new("usercf", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "candidates", "100", &err), RECO_OK);
    reco_model_free(m);
    assert_int_equal(reco_model_new("itemcf", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "candidates", "100", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "candidates"));
    reco_model_free(m);
    assert_ptr_equal(reco_algo_find("usercf"), &reco_algo_usercf);
    assert_ptr_equal(reco_algo_find("itemcf"), &reco_algo_itemcf);
}

/* ---- progress ---- */

typedef struct prog {
    int calls;
    uint64_t done, total;
    bool other_stage;
} prog;

static void on_progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    prog *p = ctx;
    if (strcmp(stage, "itemcf") != 0) {
        p->other_stage = true;
        return;
    }
    assert_true(done >= p->done);
    p->calls++;
    p->done = done;
    p->total = total;
}

static void test_itemcf_progress(void **state)
{
    (void)state;
    reco_dataset *ds = make_random(50, 300, 0.1, 2);
    prog pr = {0};
    reco_knn_params p;
    reco_itemcf_params_default(&p);
    reco_knn_table t;
    reco_error err;
    assert_int_equal(reco_knn_table_build(ds, &p, 2, (reco_progress){on_progress, &pr}, &t, &err),
                     RECO_OK);
    assert_true(pr.calls >= 1 && pr.calls <= 300);
    assert_int_equal(pr.total, 300);
    assert_int_equal(pr.done, 300);
    assert_false(pr.other_stage);
    reco_knn_table_clear(&t);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosine_by_hand),
        cmocka_unit_test(test_centered_by_hand),
        cmocka_unit_test(test_sim_finish),
        cmocka_unit_test(test_user_means),
        cmocka_unit_test(test_table_brute_force),
        cmocka_unit_test(test_itemcf_model_table),
        cmocka_unit_test(test_usercf_predict_brute_force),
        cmocka_unit_test(test_itemcf_predict_brute_force),
        cmocka_unit_test(test_usercf_recommend),
        cmocka_unit_test(test_itemcf_recommend),
        cmocka_unit_test(test_itemcf_score_by_hand),
        cmocka_unit_test(test_usercf_score_brute_force),
        cmocka_unit_test(test_usercf_candidate_cap),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_itemcf_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
