/* Request-time rules (reco/item_filter.h): which products a filter admits,
 * the capped collector against the greedy list built by sorting, and every
 * search under random filters against "score everything, drop what the
 * filter rejects, take the greedy capped top n": score arrays, the head of
 * a ranking read many times, the factor index walk (bit for bit), and
 * every algorithm's recommendations through reco_model_recommend_filtered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "reco/factor_index.h"
#include "reco/item_filter.h"
#include "reco/model.h"
#include "reco/topn.h"
#include "testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double unif(void) { return test_uniform(&rng); }
static uint32_t below(uint32_t n) { return (uint32_t)(unif() * n) % n; }

/* ---- the reference: sort, then the greedy walk ---- */

static int cmp_before(const void *a, const void *b)
{
    const reco_scored *x = a, *y = b;
    return reco_scored_before(*x, *y) ? -1 : reco_scored_before(*y, *x) ? 1 : 0;
}

/* The greedy capped list of the k best products f admits, by sorting
 * every admitted product with a score (not NaN nor -INFINITY). */
static size_t greedy(const float *scores, uint32_t n, const reco_item_filter *f, size_t k,
                     reco_scored *out)
{
    reco_scored *all = malloc((n + 1) * sizeof *all);
    assert_non_null(all);
    size_t m = 0, got = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!isnan(scores[i]) && scores[i] != -INFINITY && reco_item_filter_admits(f, i))
            all[m++] = (reco_scored){i, scores[i]};
    qsort(all, m, sizeof *all, cmp_before);
    uint32_t cap = f ? f->max_per_category : 0;
    for (size_t j = 0; j < m && got < k; j++) {
        uint32_t c = cap ? reco_item_filter_category(f, all[j].id) : RECO_NO_CATEGORY;
        if (c != RECO_NO_CATEGORY) {
            uint32_t same = 0;
            for (size_t t = 0; t < got; t++)
                same += reco_item_filter_category(f, out[t].id) == c;
            if (same >= cap)
                continue;
        }
        out[got++] = all[j];
    }
    free(all);
    return got;
}

static void assert_same_list(const reco_scored *a, size_t na, const reco_scored *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t j = 0; j < na; j++) {
        assert_int_equal(a[j].id, b[j].id);
        assert_true(a[j].score == b[j].score);
    }
}

/* ---- random filters ---- */

#define NCAT 12

typedef struct rfilter {
    reco_item_filter f;
    uint32_t *ex, *inc, *cat;
    uint64_t *hidden;
    reco_category_range ranges[3];
} rfilter;

/* A random filter over n products. strict: rules that reject most
 * products (a short allow-list, a narrow category). */
static void rfilter_make(rfilter *r, uint32_t n, int strict)
{
    memset(r, 0, sizeof *r);
    r->ex = malloc((n + 1) * sizeof *r->ex);
    r->inc = malloc((n + 1) * sizeof *r->inc);
    r->cat = malloc((n + 1) * sizeof *r->cat);
    r->hidden = calloc(n / 64 + 1, sizeof *r->hidden);
    assert_true(r->ex && r->inc && r->cat && r->hidden);
    reco_item_filter *f = &r->f;
    double pe = unif() < 0.3 ? 0 : unif() * 0.3;
    for (uint32_t i = 0; i < n; i++)
        if (unif() < pe)
            r->ex[f->n_exclude++] = i;
    f->exclude = r->ex;
    if (unif() < (strict ? 0.5 : 0.25)) {
        double pi = strict ? unif() * 0.02 : 0.1 + unif() * 0.8;
        for (uint32_t i = 0; i < n; i++)
            if (unif() < pi)
                r->inc[f->n_include++] = i;
        f->include = r->inc; /* possibly empty: nothing passes */
    }
    if (unif() < 0.5) {
        double ph = unif() * 0.3;
        for (uint32_t i = 0; i < n; i++)
            if (unif() < ph)
                r->hidden[i / 64] |= 1ull << (i % 64);
        f->hidden = r->hidden;
        f->n_hidden_bits = n - below(n / 4 + 1); /* the last ones are past the set */
    }
    for (uint32_t i = 0; i < n; i++)
        r->cat[i] = unif() < 0.1 ? RECO_NO_CATEGORY : below(NCAT);
    if (unif() < 0.8) {
        f->item_category = r->cat;
        f->n_item_category = n - below(n / 8 + 1);
        if (unif() < (strict ? 0.7 : 0.4)) {
            f->n_categories = 1 + below(strict ? 1 : 3);
            for (size_t j = 0; j < f->n_categories; j++) {
                uint32_t lo = below(NCAT);
                r->ranges[j] = (reco_category_range){lo, lo + 1 + (strict ? 0 : below(3))};
            }
            f->categories = r->ranges;
        }
        if (unif() < 0.6)
            f->max_per_category = 1 + below(3);
    }
}

static void rfilter_free(rfilter *r)
{
    free(r->ex);
    free(r->inc);
    free(r->cat);
    free(r->hidden);
}

/* ---- the rules themselves ---- */

static void test_admits(void **state)
{
    (void)state;
    assert_true(reco_item_filter_admits(NULL, 7));
    assert_true(reco_item_filter_is_empty(NULL));
    reco_item_filter f = {0};
    assert_true(reco_item_filter_is_empty(&f));
    assert_true(reco_item_filter_admits(&f, 123456));
    uint32_t ex[] = {2, 5};
    f.exclude = ex;
    f.n_exclude = 2;
    assert_false(reco_item_filter_is_empty(&f));
    assert_true(reco_item_filter_exclude_only(&f));
    assert_false(reco_item_filter_admits(&f, 5));
    assert_true(reco_item_filter_admits(&f, 4));
    uint32_t inc[] = {1, 4, 5, 70};
    f.include = inc;
    f.n_include = 4;
    assert_false(reco_item_filter_exclude_only(&f));
    assert_false(reco_item_filter_admits(&f, 3));
    assert_false(reco_item_filter_admits(&f, 5)); /* excluded wins */
    assert_true(reco_item_filter_admits(&f, 4));
    uint64_t hidden[2] = {1ull << 4, 0};
    f.hidden = hidden;
    f.n_hidden_bits = 65;
    assert_false(reco_item_filter_admits(&f, 4));
    assert_true(reco_item_filter_admits(&f, 70)); /* past the bitset */
    f.hidden = NULL;
    uint32_t cat[] = {0, 3, 9, 3, 4, 1};
    reco_category_range r[] = {{3, 5}};
    f.item_category = cat;
    f.n_item_category = 6;
    f.categories = r;
    f.n_categories = 1;
    assert_true(reco_item_filter_admits(&f, 4));   /* category 4 in [3, 5) */
    assert_false(reco_item_filter_admits(&f, 3));  /* category 3, not included */
    assert_false(reco_item_filter_admits(&f, 70)); /* no category: no range admits it */
    f.include = NULL;
    assert_true(reco_item_filter_admits(&f, 1));
    assert_true(reco_item_filter_admits(&f, 3));
    assert_false(reco_item_filter_admits(&f, 2));
    /* An allow-list with no entries admits nothing. */
    f.n_categories = 0;
    f.include = inc;
    f.n_include = 0;
    assert_false(reco_item_filter_admits(&f, 1));
}

/* The collector fed in random order gives the greedy list exactly, and
 * its threshold never falls once the list is full. */
static void test_capped_collector(void **state)
{
    (void)state;
    enum { N = 400 };
    float scores[N];
    uint32_t perm[N];
    reco_scored got[40], want[40];
    for (int round = 0; round < 400; round++) {
        for (uint32_t i = 0; i < N; i++) {
            /* Coarse scores: many ties, broken by the lower id. */
            scores[i] = (float)below(round % 2 ? 20 : 1000);
            if (unif() < 0.02)
                scores[i] = unif() < 0.5 ? NAN : -INFINITY;
            perm[i] = i;
        }
        for (uint32_t i = N - 1; i > 0; i--) {
            uint32_t j = below(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        rfilter r;
        rfilter_make(&r, N, 0);
        r.f.n_categories = 0; /* the collector applies the cap only */
        r.f.include = NULL;
        r.f.hidden = NULL;
        r.f.n_exclude = 0;
        if (round % 3 == 0) {
            r.f.item_category = r.cat;
            r.f.max_per_category = 1 + below(2);
        }
        size_t k = 1 + below(40);
        reco_topn_capped c;
        reco_topn_capped_init(&c, got, k, &r.f);
        float thr = -INFINITY;
        for (uint32_t t = 0; t < N; t++) {
            reco_topn_capped_push(&c, perm[t], scores[perm[t]]);
            float nt = reco_topn_capped_threshold(&c);
            assert_true(nt >= thr);
            thr = nt;
        }
        size_t ng = reco_topn_capped_finish(&c);
        size_t nw = greedy(scores, N, &r.f, k, want);
        assert_same_list(got, ng, want, nw);
        rfilter_free(&r);
    }
}

/* Score arrays and the head of a ranking read many times. */
static void test_select_and_head(void **state)
{
    (void)state;
    enum { N = 3000 };
    float *scores = malloc(N * sizeof *scores);
    reco_scored got[60], want[60], head_got[60];
    for (int round = 0; round < 300; round++) {
        for (uint32_t i = 0; i < N; i++)
            scores[i] = round % 3 == 0 ? (float)below(50) : (float)unif();
        for (int j = 0; j < 30; j++)
            scores[below(N)] = unif() < 0.5 ? NAN : -INFINITY;
        rfilter r;
        rfilter_make(&r, N, round % 4 == 0);
        size_t k = 1 + below(60);
        size_t nw = greedy(scores, N, &r.f, k, want);
        size_t ng = reco_topn_select_filter(scores, N, &r.f, k, got);
        assert_same_list(got, ng, want, nw);
        /* Heads of several sizes: filled from the head, or by the scan
         * when the head's admitted entries are too few. */
        reco_topn_head h = {0};
        assert_int_equal(reco_topn_head_build(&h, scores, N, 1 + below(200)), 0);
        size_t nh = reco_topn_head_select_filter(&h, scores, N, &r.f, k, head_got);
        assert_same_list(head_got, nh, want, nw);
        reco_topn_head_clear(&h);
        /* The exclude list alone goes through the unfiltered entry points
         * with the same answer. */
        reco_item_filter ex = {.exclude = r.f.exclude, .n_exclude = r.f.n_exclude};
        nw = greedy(scores, N, &ex, k, want);
        ng = reco_topn_select(scores, N, r.f.exclude, r.f.n_exclude, k, got);
        assert_same_list(got, ng, want, nw);
        rfilter_free(&r);
    }
    free(scores);
}

/* The factor index walk, bit for bit, short and long user vectors, with
 * and without biases, filters that reject most products included. */
static void test_factor_index_filter(void **state)
{
    (void)state;
    const uint32_t ks[] = {5, 32, 64};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        uint32_t k = ks[t], n = 4000, ld = (k + 15) / 16 * 16;
        float *Q = calloc((size_t)n * ld, sizeof *Q), *b = malloc(n * sizeof *b);
        float *scores = malloc(n * sizeof *scores);
        assert_true(Q && b && scores);
        for (uint32_t i = 0; i < n; i++) {
            /* Norms spread like a shop's: a few long product vectors. */
            float len = (float)(0.2 + 2.0 * pow(unif(), 6));
            for (uint32_t f = 0; f < k; f++)
                Q[(size_t)i * ld + f] = len * (float)(unif() - 0.5);
            b[i] = (float)(0.5 * (unif() - 0.5));
        }
        for (int with_b = 0; with_b < 2; with_b++) {
            reco_factor_index ix;
            assert_int_equal(reco_factor_index_build(&ix, Q, with_b ? b : NULL, NULL, n, k, ld,
                                                     1.0f, NULL),
                             RECO_OK);
            for (int u = 0; u < 60; u++) {
                float x[64] = {0};
                float scale = u % 3 == 0 ? 0.05f : u % 3 == 1 ? 1.0f : 20.0f;
                for (uint32_t f = 0; f < k; f++)
                    x[f] = scale * (float)(unif() - 0.5);
                float base = 3.5f;
                for (uint32_t i = 0; i < n; i++)
                    scores[i] = (base + (with_b ? b[i] : 0)) + reco_dot(Q + (size_t)i * ld, x, k);
                rfilter r;
                rfilter_make(&r, n, u % 2);
                size_t want_n = 1 + below(50);
                reco_scored got[50], want[50];
                size_t nw = greedy(scores, n, &r.f, want_n, want);
                size_t ng = reco_factor_index_topn_filter(&ix, x, base, want_n, &r.f, got);
                assert_same_list(got, ng, want, nw);
                /* The same with the rules laid out in the index's orders
                 * (the walks a served catalogue makes). */
                reco_item_filter_walk walks[RECO_FACTOR_ORDERS];
                for (uint32_t o = 0; o < ix.n_orders; o++)
                    assert_int_equal(reco_item_filter_walk_build(
                                         &walks[o], ix.ord[o].order, ix.ord[o].n,
                                         r.f.item_category, r.f.n_item_category, r.f.hidden,
                                         r.f.n_hidden_bits),
                                     0);
                r.f.walks = walks;
                r.f.n_walks = ix.n_orders;
                ng = reco_factor_index_topn_filter(&ix, x, base, want_n, &r.f, got);
                assert_same_list(got, ng, want, nw);
                /* And with the orders split by category: contiguous groups
                 * of 1 to 4 categories, covering them all or (one user in
                 * four) leaving one group out, when the search must see
                 * that a rule's range is not covered and walk it whole. */
                reco_factor_split splits[RECO_FACTOR_ORDERS];
                reco_category_range parts[NCAT];
                uint32_t np = 0;
                for (uint32_t lo = 0; lo < NCAT;) {
                    uint32_t hi = lo + 1 + below(4);
                    hi = hi > NCAT ? NCAT : hi;
                    parts[np++] = (reco_category_range){lo, hi};
                    lo = hi;
                }
                if (u % 4 == 3 && np > 1) {
                    const uint32_t drop = below(np);
                    parts[drop] = parts[--np];
                }
                for (uint32_t o = 0; o < ix.n_orders; o++) {
                    assert_int_equal(reco_factor_split_build(&splits[o], &ix.ord[o],
                                                             r.f.item_category,
                                                             r.f.n_item_category, parts, np,
                                                             NULL),
                                     RECO_OK);
                    walks[o].split = &splits[o];
                }
                ng = reco_factor_index_topn_filter(&ix, x, base, want_n, &r.f, got);
                assert_same_list(got, ng, want, nw);
                if (u == 0) {
                    /* Ranges that overlap, or more than the limit, are
                     * refused. */
                    reco_factor_split bad;
                    reco_category_range two[2] = {{0, 3}, {2, 5}};
                    reco_error err;
                    assert_int_equal(reco_factor_split_build(&bad, &ix.ord[0], r.cat, n, two,
                                                             2, &err),
                                     RECO_ERR_INVALID);
                    assert_int_equal(reco_factor_split_build(&bad, &ix.ord[0], r.cat, n, two,
                                                             RECO_FACTOR_SPLIT_MAX + 1, &err),
                                     RECO_ERR_INVALID);
                    reco_factor_split_clear(NULL);
                }
                for (uint32_t o = 0; o < ix.n_orders; o++) {
                    reco_factor_split_clear(&splits[o]);
                    reco_item_filter_walk_clear(&walks[o]);
                }
                rfilter_free(&r);
            }
            reco_factor_index_clear(&ix);
        }
        free(Q);
        free(b);
        free(scores);
    }
}

/* ---- every algorithm ---- */

enum { NU = 160, NI = 260 };

/* Ratings with popular products, tastes by product group, users rating 3
 * to 60 products; every product rated at least once. */
static reco_dataset *shop_data(void)
{
    reco_ratings *r = test_ratings_new(NU, NI);
    assert_non_null(r);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (uint32_t i = 0; i < NI; i++)
        assert_int_equal(reco_ratings_push(r, i % NU, i, 3, 1000 + i, NULL), RECO_OK);
    for (uint32_t u = 0; u < NU; u++) {
        uint32_t m = 3 + (uint32_t)(57 * pow(test_uniform(&s), 2));
        for (uint32_t j = 0; j < m; j++) {
            uint32_t i = (uint32_t)(NI * pow(test_uniform(&s), 1.8)) % NI;
            float v = (float)(1 + ((u % 5) * 7 + (i % 5) * 3 + (uint32_t)(test_uniform(&s) * 2)) % 5);
            assert_int_equal(reco_ratings_push(r, u, i, v, 2000 + u * 100 + j, NULL), RECO_OK);
        }
    }
    reco_dataset *ds = NULL;
    reco_error err;
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    assert_int_equal(reco_dataset_build(r, &bo, &ds, &err), RECO_OK);
    reco_ratings_free(r);
    assert_int_equal(reco_dataset_n_items(ds), NI);
    return ds;
}

/* The reference for a model: every product scored as reco_model_recommend
 * scores them (the algorithm's score(), else its predictions), the rules
 * with the user's products merged in, the greedy list; the popularity
 * ranking under the same rules for a cold start or an empty list. */
static size_t reference(const reco_model *m, const reco_profile *prof, size_t n,
                        const reco_item_filter *f, reco_scored *out, bool *cold, void *scratch)
{
    const reco_dataset *d = m->train;
    float *scores = malloc(NI * sizeof *scores);
    assert_non_null(scores);
    bool known = prof->user != RECO_NO_USER && prof->user < reco_dataset_n_users(d);
    size_t got = 0;
    *cold = !known && prof->n == 0;
    if (!*cold) {
        reco_error err;
        if (m->ops->score)
            assert_int_equal(m->ops->score(m->state, d, &m->baseline, prof, scores,
                                           (char *)scratch + ((NI + 1) * sizeof(float) + 63) / 64 * 64,
                                           &err),
                             RECO_OK);
        else
            for (uint32_t i = 0; i < NI; i++)
                scores[i] = reco_model_predict(m, prof->user, i);
        got = greedy(scores, NI, f, n, out);
        *cold = got == 0;
    }
    if (*cold)
        got = greedy(m->popular, NI, f, n, out);
    free(scores);
    return got;
}

/* Same products in the same order with the same scores, up to the float
 * rounding of a fast path (a pruned walk sums in another order): then only
 * near-ties may swap. */
static void assert_close_list(const reco_scored *a, size_t na, const reco_scored *b, size_t nb,
                              const char *algo)
{
    if (na != nb)
        fail_msg("%s: %zu products, the reference has %zu", algo, na, nb);
    for (size_t j = 0; j < na; j++) {
        float tol = 1e-4f * fmaxf(1.0f, fabsf(b[j].score));
        if (fabsf(a[j].score - b[j].score) > tol)
            fail_msg("%s: rank %zu scores %g, the reference %g", algo, j, a[j].score, b[j].score);
        if (a[j].id != b[j].id) {
            bool found = false;
            for (size_t t = 0; t < nb; t++)
                found |= b[t].id == a[j].id && fabsf(b[t].score - a[j].score) <= tol;
            if (!found)
                fail_msg("%s: rank %zu holds %u, the reference %u", algo, j, a[j].id, b[j].id);
        }
    }
}

/* What must hold of any filtered list, exactly: admitted, capped, no
 * product twice, best first. */
static void assert_obeys(const reco_scored *a, size_t na, const reco_item_filter *f)
{
    for (size_t j = 0; j < na; j++) {
        assert_true(reco_item_filter_admits(f, a[j].id));
        uint32_t c = reco_item_filter_category(f, a[j].id), same = 0;
        for (size_t t = 0; t < na; t++) {
            if (t != j)
                assert_int_not_equal(a[t].id, a[j].id);
            same += reco_item_filter_category(f, a[t].id) == c;
        }
        if (f->max_per_category && c != RECO_NO_CATEGORY)
            assert_true(same <= f->max_per_category);
        if (j)
            assert_false(reco_scored_before(a[j], a[j - 1]));
    }
}

static void test_every_algorithm(void **state)
{
    (void)state;
    reco_dataset *ds = shop_data();
    const char *algos[] = {"popular", "baseline", "usercf", "itemcf", "svd",
                           "mf",      "ials",     "ease",   "default"};
    for (size_t a = 0; a < sizeof algos / sizeof *algos; a++) {
        reco_model *m = NULL;
        reco_error err;
        assert_int_equal(reco_model_new(algos[a], &m, &err), RECO_OK);
        if (!strcmp(algos[a], "svd"))
            assert_int_equal(reco_model_set_param_text(m, "factors=8", &err), RECO_OK);
        reco_fit_ctx ctx = {0};
        if (reco_model_fit(m, ds, &ctx, &err))
            fail_msg("%s: %s", algos[a], err.msg);
        void *scratch = malloc(reco_model_scratch_size(m));
        assert_non_null(scratch);
        size_t lists = 0, short_lists = 0, capped = 0;
        for (uint32_t u = 0; u < NU; u += 4) {
            for (int kind = 0; kind < 3; kind++) {
                reco_profile prof = reco_profile_of_user(ds, u);
                if (kind == 1)
                    prof.updated = true; /* folded in where the model does that */
                if (kind == 2 && u % 8 == 0)
                    prof = (reco_profile){.user = RECO_NO_USER}; /* never seen */
                else if (kind == 2)
                    prof.user = RECO_NO_USER, prof.updated = true; /* ratings, no row */
                rfilter r;
                rfilter_make(&r, NI, u % 3 == 0);
                bool exclude_rated = (u + (uint32_t)kind) % 4 != 0;
                size_t n = 1 + below(30);
                reco_scored got[30], want[30];
                size_t ng = 0;
                bool cold_got, cold_want;
                assert_int_equal(reco_model_recommend_filtered(m, &prof, n, exclude_rated, &r.f,
                                                               got, &ng, &cold_got, scratch, &err),
                                 RECO_OK);
                /* The reference's filter: the rules plus the user's
                 * products. */
                rfilter merged = r;
                uint32_t *ex = malloc((r.f.n_exclude + prof.n + 1) * sizeof *ex);
                size_t ne = 0;
                for (uint32_t i = 0; i < NI; i++)
                    if (reco_sorted_contains(r.f.exclude, r.f.n_exclude, i) ||
                        (exclude_rated && reco_sorted_contains(prof.items, prof.n, i)))
                        ex[ne++] = i;
                merged.f.exclude = ex;
                merged.f.n_exclude = ne;
                size_t nw = reference(m, &prof, n, &merged.f, want, &cold_want, scratch);
                assert_obeys(got, ng, &merged.f);
                assert_true(cold_got == cold_want);
                assert_close_list(got, ng, want, nw, algos[a]);
                lists++;
                short_lists += ng < n;
                capped += r.f.max_per_category != 0;
                free(ex);
                rfilter_free(&r);
            }
        }
        print_message("%s: %zu filtered lists match the reference (%zu short, %zu capped)\n",
                      algos[a], lists, short_lists, capped);
        assert_true(short_lists > 0 && short_lists < lists);
        /* No rules: reco_model_recommend's list. */
        reco_profile prof = reco_profile_of_user(ds, 5);
        reco_scored x[10], y[10];
        size_t nx, ny;
        assert_int_equal(reco_model_recommend(m, &prof, 10, true, x, &nx, NULL, scratch, &err), 0);
        reco_item_filter none = {0};
        assert_int_equal(reco_model_recommend_filtered(m, &prof, 10, true, &none, y, &ny, NULL,
                                                       scratch, &err),
                         0);
        assert_same_list(x, nx, y, ny);
        free(scratch);
        reco_model_free(m);
    }
    reco_dataset_free(ds);
}

/* A cold start obeys the rules, and a list the rules cannot fill is
 * short, never padded. */
static void test_cold_start_and_short_lists(void **state)
{
    (void)state;
    reco_dataset *ds = shop_data();
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    reco_fit_ctx ctx = {0};
    assert_int_equal(reco_model_fit(m, ds, &ctx, &err), RECO_OK);
    reco_profile none = {.user = RECO_NO_USER};
    uint32_t inc[] = {3, 17, 250};
    reco_item_filter f = {.include = inc, .n_include = 3};
    reco_scored out[10];
    size_t n;
    bool cold = false;
    assert_int_equal(reco_model_recommend_filtered(m, &none, 10, true, &f, out, &n, &cold, NULL,
                                                   &err),
                     RECO_OK);
    assert_true(cold);
    assert_int_equal(n, 3);
    for (size_t j = 0; j < n; j++)
        assert_true(reco_sorted_contains(inc, 3, out[j].id));
    /* The same for a known user, with the request's exclude list merged
     * with what the user rated. */
    reco_profile p = reco_profile_of_user(ds, 0);
    uint32_t ex[] = {17};
    f.exclude = ex;
    f.n_exclude = 1;
    assert_int_equal(reco_model_recommend_filtered(m, &p, 10, true, &f, out, &n, &cold, NULL,
                                                   &err),
                     RECO_OK);
    assert_false(cold);
    for (size_t j = 0; j < n; j++) {
        assert_int_not_equal(out[j].id, 17);
        assert_false(reco_sorted_contains(p.items, p.n, out[j].id));
    }
    assert_true(n <= 2);
    /* Nothing admitted: an empty list, not an error. */
    f.n_include = 0;
    assert_int_equal(reco_model_recommend_filtered(m, &p, 10, true, &f, out, &n, &cold, NULL,
                                                   &err),
                     RECO_OK);
    assert_int_equal(n, 0);
    reco_model_free(m);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admits),
        cmocka_unit_test(test_capped_collector),
        cmocka_unit_test(test_select_and_head),
        cmocka_unit_test(test_factor_index_filter),
        cmocka_unit_test(test_every_algorithm),
        cmocka_unit_test(test_cold_start_and_short_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
