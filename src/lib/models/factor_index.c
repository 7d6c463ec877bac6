/* Exact pruned top-N over factor models (see include/reco/factor_index.h). */
#include "reco/factor_index.h"
#include "reco/item_filter.h"
#include "reco/thousands.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "mem.h"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float reco_factor_index_typical_norm(const float *P, uint32_t n, uint32_t k, uint32_t ld)
{
    if (n == 0)
        return 0;
    uint32_t step = 1 + n / 100000, m = 0;
    float *un = malloc(((size_t)n / step + 1) * sizeof *un);
    if (!un)
        return 0; /* only the pruning's efficiency depends on it */
    for (uint32_t u = 0; u < n; u += step) {
        const float *p = P + (size_t)u * ld;
        un[m++] = sqrtf(reco_dot_inline(p, p, k));
    }
    qsort(un, m, sizeof *un, cmp_float);
    float med = un[m / 2];
    free(un);
    return med;
}

typedef struct order_key {
    float key;
    float norm; /* |q_i|, kept so it is computed once */
    uint32_t id;
} order_key;

static int cmp_order_key(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void order_clear(reco_factor_order *ix)
{
    if (!ix)
        return;
    if (!ix->mapped) {
        free(ix->order);
        free(ix->b);
        free(ix->norm);
        free(ix->Q);
        free(ix->smax_b);
        free(ix->smax_norm);
        free(ix->blk_b);
        free(ix->blk_norm);
        free(ix->q8);
        free(ix->q8_scale);
        free(ix->q_l1);
        free(ix->smax_l);
        free(ix->blk_l);
        free(ix->qrow);
    }
    memset(ix, 0, sizeof *ix);
}

static uint32_t n_blocks(uint32_t n) { return (n + RECO_FACTOR_BLOCK - 1) / RECO_FACTOR_BLOCK; }

/* Suffix and block maxima of b and norm. */
static inline float lambda_j(const reco_factor_order *ix, int j)
{
    return ix->lambda * ldexpf(1.0f, j - 2);
}

/* The suffix and block maxima of b + lambda_j |q| for every lambda_j. */
static int fill_lambda_maxima(reco_factor_order *ix)
{
    const uint32_t n = ix->n, nb = n_blocks(n);
    ix->smax_l = malloc(((size_t)RECO_FACTOR_LAMBDAS * n + 1) * sizeof(float));
    ix->blk_l = malloc(((size_t)RECO_FACTOR_LAMBDAS * nb + 1) * sizeof(float));
    if (!ix->smax_l || !ix->blk_l)
        return -1;
    ix->babs_max = 0;
    for (uint32_t p = 0; p < n; p++)
        ix->babs_max = fmaxf(ix->babs_max, fabsf(ix->b[p]));
    for (int j = 0; j < RECO_FACTOR_LAMBDAS; j++) {
        const float lam = lambda_j(ix, j);
        float *sm = ix->smax_l + (size_t)j * n, *bm = ix->blk_l + (size_t)j * nb;
        float mx = -INFINITY;
        for (uint32_t p = n; p-- > 0;) {
            mx = fmaxf(mx, ix->b[p] + lam * ix->norm[p]);
            sm[p] = mx;
        }
        for (uint32_t bk = 0; bk < nb; bk++) {
            float x = -INFINITY;
            uint32_t end = (bk + 1) * RECO_FACTOR_BLOCK < n ? (bk + 1) * RECO_FACTOR_BLOCK : n;
            for (uint32_t p = bk * RECO_FACTOR_BLOCK; p < end; p++)
                x = fmaxf(x, ix->b[p] + lam * ix->norm[p]);
            bm[bk] = x;
        }
    }
    return 0;
}

static void fill_maxima(reco_factor_order *ix)
{
    float mb = -INFINITY, mn = 0;
    for (uint32_t p = ix->n; p-- > 0;) {
        mb = fmaxf(mb, ix->b[p]);
        mn = fmaxf(mn, ix->norm[p]);
        ix->smax_b[p] = mb;
        ix->smax_norm[p] = mn;
    }
    for (uint32_t bk = 0; bk < n_blocks(ix->n); bk++) {
        float xb = -INFINITY, xn = 0;
        uint32_t end = (bk + 1) * RECO_FACTOR_BLOCK < ix->n ? (bk + 1) * RECO_FACTOR_BLOCK : ix->n;
        for (uint32_t p = bk * RECO_FACTOR_BLOCK; p < end; p++) {
            xb = fmaxf(xb, ix->b[p]);
            xn = fmaxf(xn, ix->norm[p]);
        }
        ix->blk_b[bk] = xb;
        ix->blk_norm[bk] = xn;
    }
}

/* ---- the quantised copy ---- */

static inline uint32_t q8_groups(uint32_t n) { return (n + 15) / 16; }
static inline uint32_t q8_chunks(uint32_t k) { return (k + 3) / 4; }
static inline size_t q8_bytes(uint32_t n, uint32_t k)
{
    return (size_t)q8_groups(n) * q8_chunks(k) * 64;
}

/* Fills q8, q8_scale and q_l1 from Q. */
static int quantise(reco_factor_order *ix)
{
    const uint32_t n = ix->n, k = ix->k, nc = q8_chunks(k);
    ix->q8 = reco_alloc_aligned(q8_bytes(n, k) + 64);
    ix->q8_scale = malloc(((size_t)q8_groups(n) * 16 + 1) * sizeof(float));
    ix->q_l1 = malloc(((size_t)q8_groups(n) * 16 + 1) * sizeof(float));
    if (!ix->q8 || !ix->q8_scale || !ix->q_l1)
        return -1;
    memset(ix->q8, 128, q8_bytes(n, k));
    for (uint32_t p = 0; p < q8_groups(n) * 16; p++) {
        if (p >= n) {
            ix->q8_scale[p] = ix->q_l1[p] = 0;
            continue;
        }
        const float *q = ix->Q + (size_t)p * ix->ld;
        float mx = 0, l1 = 0;
        for (uint32_t f = 0; f < k; f++) {
            mx = fmaxf(mx, fabsf(q[f]));
            l1 += fabsf(q[f]);
        }
        float s = mx / 127.0f;
        ix->q8_scale[p] = s;
        /* The rounding bound uses |q|_1: make it an upper bound of the
         * exact sum despite float summation. */
        ix->q_l1[p] = l1 * (1.0f + (float)(k + 2) * 1.2e-7f);
        uint8_t *g = ix->q8 + (size_t)(p / 16) * nc * 64 + (p % 16) * 4;
        for (uint32_t f = 0; f < k; f++) {
            long v = s > 0 ? lrintf(q[f] / s) : 0;
            v = v < -127 ? -127 : v > 127 ? 127 : v;
            g[(size_t)(f / 4) * 64 + f % 4] = (uint8_t)(v + 128);
        }
    }
    return 0;
}

/* The user's vector quantised for the first pass. */
typedef struct q8_query {
    int8_t x8[1024 + 4];
    float t;        /* scale: x ~ t x8 */
    float x8_l1;    /* sum |x8_f| */
    float offset;   /* 128 sum x8_f: the unsigned offset of q8 to remove */
} q8_query;

static void q8_query_make(const float *x, uint32_t k, q8_query *q)
{
    float mx = 0;
    for (uint32_t f = 0; f < k; f++)
        mx = fmaxf(mx, fabsf(x[f]));
    q->t = mx / 127.0f;
    int32_t sum = 0, l1 = 0;
    for (uint32_t f = 0; f < q8_chunks(k) * 4; f++) {
        long v = f < k && q->t > 0 ? lrintf(x[f] / q->t) : 0;
        v = v < -127 ? -127 : v > 127 ? 127 : v;
        q->x8[f] = (int8_t)v;
        sum += (int32_t)v;
        l1 += v < 0 ? -(int32_t)v : (int32_t)v;
    }
    q->offset = 128.0f * (float)sum;
    q->x8_l1 = (float)l1;
}

/* Tightens the bounds ub[0..c) of a block (positions p0 .. p0 + c, p0 a
 * multiple of 16) with the quantised pass: with x = t x8 + dx (|dx_f| <=
 * t / 2) and q = s q8 + dq (|dq_f| <= s / 2),
 *   |x . q - t s (x8 . q8)| <= (t / 2) |q|_1 + (t s / 2) |x8|_1,
 * so x . q <= t s (x8 . q8) + that, plus the float slack. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void q8_bounds(const reco_factor_order *ix, const q8_query *qq, reco_q8_dots_fn dots,
                      uint32_t p0, uint32_t c, float base, float nx, float slack, float thr,
                      float *restrict ub)
{
    const uint32_t nc = q8_chunks(ix->k);
    const float t = qq->t, off = qq->offset, half_t = 0.5f * qq->t, xl1 = qq->x8_l1;
    int32_t acc[16];
    for (uint32_t j0 = 0; j0 < c; j0 += 16) {
        const uint32_t p = p0 + j0, m = c - j0 < 16 ? c - j0 : 16;
        /* A group none of whose bounds reaches thr stays out as it is
         * (its bounds only fall here): no dots for it. */
        bool any = false;
        for (uint32_t j = 0; j < m; j++)
            any |= ub[j0 + j] >= thr;
        if (!any)
            continue;
        dots(ix->q8 + (size_t)(p / 16) * nc * 64, nc, qq->x8, acc);
        const float *restrict sc = ix->q8_scale + p, *restrict l1 = ix->q_l1 + p;
        const float *restrict b = ix->b + p, *restrict nq = ix->norm + p;
        float *restrict u = ub + j0;
#pragma omp simd
        for (uint32_t j = 0; j < m; j++) {
            float bb = base + b[j];
            float est = t * sc[j] * ((float)acc[j] - off);
            float e = half_t * (l1[j] + sc[j] * xl1);
            float d = nx * nq[j];
            float v = bb + est + e + slack * (fabsf(bb) + d + fabsf(est) + e);
            u[j] = v < u[j] ? v : u[j];
        }
    }
}

static reco_status order_build(reco_factor_order *ix, const float *Q, const float *b,
                                    const bool *include, uint32_t n_items, uint32_t k,
                                    uint32_t ld, float lambda, reco_error *err)
{
    memset(ix, 0, sizeof *ix);
    ix->k = k;
    ix->ld = ld;
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_items; i++)
        n += !include || include[i];
    ix->n = n;
    size_t nb = (size_t)n_blocks(n) + 1;
    ix->order = malloc(((size_t)n + 1) * sizeof *ix->order);
    ix->b = malloc(((size_t)n + 1) * sizeof(float));
    ix->norm = malloc(((size_t)n + 1) * sizeof(float));
    ix->Q = reco_alloc_aligned(((size_t)n + 1) * ld * sizeof(float));
    ix->smax_b = malloc(((size_t)n + 1) * sizeof(float));
    ix->smax_norm = malloc(((size_t)n + 1) * sizeof(float));
    ix->blk_b = malloc(nb * sizeof(float));
    ix->blk_norm = malloc(nb * sizeof(float));
    order_key *keys = malloc(((size_t)n + 1) * sizeof *keys);
    if (!ix->order || !ix->b || !ix->norm || !ix->Q || !ix->smax_b || !ix->smax_norm ||
        !ix->blk_b || !ix->blk_norm || !keys) {
        free(keys);
        order_clear(ix);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the top-N index of %s products",
                              RECO_THOUSANDS(n_items));
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        if (include && !include[i])
            continue;
        const float *q = Q + (size_t)i * ld;
        float nq = sqrtf(reco_dot_inline(q, q, k));
        float bi = b ? b[i] : 0.0f;
        keys[m++] = (order_key){bi + lambda * nq, nq, i};
    }
    qsort(keys, n, sizeof *keys, cmp_order_key);
    for (uint32_t p = 0; p < n; p++) {
        uint32_t i = keys[p].id;
        ix->order[p] = i;
        ix->b[p] = b ? b[i] : 0.0f;
        ix->norm[p] = keys[p].norm;
        memcpy(ix->Q + (size_t)p * ld, Q + (size_t)i * ld, ld * sizeof(float));
    }
    free(keys);
    fill_maxima(ix);
    ix->lambda = lambda > 0 ? lambda : 1.0f;
    if (fill_lambda_maxima(ix) || quantise(ix)) {
        order_clear(ix);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the top-N index of %s products",
                              RECO_THOUSANDS(n_items));
    }
    return RECO_OK;
}

/* Slack that makes a bound safe against rounding: the computed score of an
 * item (float dot product of k terms plus two additions) differs from the
 * exact one by at most about (k + 2) eps (|base + b| + |x| |q|), eps =
 * 2^-24; the bound is computed in float too. (k + 8) 2^-23 covers both with
 * room. Relative, so a user whose vector is tiny prunes as well as any. */
static inline float slack_of(uint32_t k) { return (float)(k + 8) * 1.1920929e-7f; }

/* Upper bounds of the computed scores of the c items of a block, in order
 * (Cauchy-Schwarz: x.q <= |x| |q|, plus the slack), and their maximum, so
 * that a block none of whose items can enter is skipped after one
 * vectorised pass. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static float cs_bounds_max(uint32_t c, float base, float nx, float slack, const float *restrict b,
                           const float *restrict nq, float *restrict ub)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (uint32_t j = 0; j < c; j++) {
        float bb = base + b[j], d = nx * nq[j];
        ub[j] = bb + d + slack * (fabsf(bb) + d);
        mx = ub[j] > mx ? ub[j] : mx;
    }
    return mx;
}

static inline float bound(float bb, float d, float slack) { return bb + d + slack * (fabsf(bb) + d); }

/* Where a walk reads the catalogue's rules by position: category[p], and
 * the hidden bit of position hpos[p] (p when hpos is NULL) of hidden. The
 * whole order's walk reads its own arrays; a part of a split reads its
 * categories and the whole order's hidden bits through qrow. */
typedef struct admit_ctx {
    const uint32_t *category;
    const uint64_t *hidden;
    const uint32_t *hpos;
} admit_ctx;

/* Whether the product at position p passes f's hidden set and category
 * ranges, read from a walk laid out in this order (reco/item_filter.h).
 * This fast path exists because the same check made through the order
 * (reco_item_filter_admits_attrs on order[p]) reads item_category and
 * hidden at random places, a cache miss or two per candidate: with a
 * filter that admits a fifth of the catalogue the threshold is lower and
 * the walk goes deeper, and those lookups were a tenth of a heavy user's
 * request. Here they are read where the walk already is (a block's
 * categories are 1 KB in a row). Masking whole blocks before the bounds
 * instead was measured slower (bench/filter_bench.c: the mask cost more
 * than the lookups it saved, the bounds leaving few candidates). */
static inline bool walk_admits(const reco_item_filter *f, const admit_ctx *a, uint32_t p)
{
    if (f->hidden) {
        const uint32_t h = a->hpos ? a->hpos[p] : p;
        if (a->hidden[h / 64] >> (h % 64) & 1)
            return false;
    }
    if (!f->n_categories)
        return true;
    const uint32_t c = a->category[p];
    for (size_t r = 0; r < f->n_categories; r++)
        if (c >= f->categories[r].lo && c < f->categories[r].hi)
            return true; /* RECO_NO_CATEGORY never: hi <= UINT32_MAX */
    return false;
}

/* What a query computes once for all the orders it walks (the parts of a
 * split share it: they have the parent's k and lambda). */
typedef struct walk_query {
    const float *x;
    float base, nx, slack, lslack;
    int lam; /* the smallest j with |x| <= lambda_j, or -1 */
    reco_select_ge_fn select;
    reco_q8_dots_fn dots8; /* NULL: no 8-bit pass */
    q8_query qq;
} walk_query;

static void walk_query_make(const reco_factor_order *ix, const float *x, float base,
                            walk_query *q)
{
    q->x = x;
    q->base = base;
    q->nx = sqrtf(reco_dot(x, x, ix->k));
    q->slack = slack_of(ix->k);
    q->lam = -1;
    if (ix->smax_l && isfinite(q->nx))
        for (int j = 0; j < RECO_FACTOR_LAMBDAS; j++)
            if (q->nx <= lambda_j(ix, j)) {
                q->lam = j;
                break;
            }
    q->lslack = q->slack * (fabsf(base) + ix->babs_max);
    q->select = reco_select_ge_pick();
    q->dots8 = NULL;
    if (ix->q8 && ix->k <= 1024) {
        q8_query_make(x, ix->k, &q->qq);
        q->dots8 = reco_q8_dots_pick();
    }
}

/* The bound of everything from position p on (the walk stops below it). */
static inline float suffix_bound(const reco_factor_order *ix, const walk_query *q, uint32_t p)
{
    float v = bound(q->base + ix->smax_b[p], q->nx * ix->smax_norm[p], q->slack);
    if (q->lam >= 0)
        v = fminf(v, q->base + ix->smax_l[(size_t)q->lam * ix->n + p] + q->lslack +
                         q->slack * q->nx * ix->smax_norm[p]);
    return v;
}

/* Walks one order from position from, pushing into h
 * what can enter (see the header), in steps of at most chunk positions
 * (a divisor of the block size, a multiple of 16) that never cross a
 * block. Returns where it stopped: ix->n when nothing after can enter
 * (the suffix bound fell below the list's threshold, which only rises),
 * or, after at least one step, the first position whose suffix bound is
 * below yield_below (the caller has other orders whose products may be
 * better: a split's parts, walked together). The rules: none beyond the
 * exclude list when plain; else through a (the walk's arrays) or, without
 * them, looked up per item. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static uint32_t order_walk(const reco_factor_order *ix, const walk_query *q,
                           const reco_item_filter *f, bool plain, const admit_ctx *a,
                           reco_topn_capped *h, uint32_t from, uint32_t chunk, float yield_below)
{
    /* The exclude list is checked as it always was: only for a product
     * whose exact score would enter (it can be long: every product a heavy
     * user rated). The other rules (an array read or two each) are checked
     * before the exact product, for the candidates that pass the block's
     * bounds, so that a filter rejecting most products costs no dot
     * product for them; the bounds and the threshold are the same
     * (the capped list's threshold is a valid bound: reco/item_filter.h),
     * so the walk stays exact. */
    const uint32_t *exclude = f ? f->exclude : NULL;
    const size_t n_exclude = f ? f->n_exclude : 0;
    const float *x = q->x, base = q->base, nx = q->nx, slack = q->slack, lslack = q->lslack;
    const float *bl = q->lam >= 0 ? ix->blk_l + (size_t)q->lam * n_blocks(ix->n) : NULL;
    uint16_t pick[RECO_FACTOR_BLOCK];
    enum { BLK = RECO_FACTOR_BLOCK };
    float ub[BLK], dots[BLK];
    float thr = reco_topn_capped_threshold(h);
    for (uint32_t p0 = from, next; p0 < ix->n; p0 = next) {
        /* Nothing from p0 on can beat thr: stop. */
        const float sb = suffix_bound(ix, q, p0);
        if (sb < thr)
            return ix->n;
        if (p0 != from && sb < yield_below)
            return p0;
        next = (p0 / BLK + 1) * BLK;
        next = next - p0 > chunk ? p0 + chunk : next;
        next = next > ix->n ? ix->n : next;
        /* A part's walk may start anywhere (after the whole order's first
         * blocks): up to the next multiple of 16 first, without the 8-bit
         * pass, whose groups are 16 positions from a multiple of 16. */
        const bool aligned = p0 % 16 == 0;
        if (!aligned && next > (p0 / 16 + 1) * 16)
            next = (p0 / 16 + 1) * 16;
        /* The step's positions from the first whose suffix bound is below
         * thr on cannot enter (the suffix bound never rises along the
         * order): the last step of a walk is cut there. */
        uint32_t c = next - p0;
        if (suffix_bound(ix, q, next - 1) < thr) {
            uint32_t lo = p0, hi = next - 1; /* bound(lo) >= thr > bound(hi) */
            while (hi - lo > 1) {
                const uint32_t mid = lo + (hi - lo) / 2;
                if (suffix_bound(ix, q, mid) < thr)
                    hi = mid;
                else
                    lo = mid;
            }
            c = hi - p0;
        }
        /* The block's own maxima first: two numbers (or one). */
        if (bound(base + ix->blk_b[p0 / BLK], nx * ix->blk_norm[p0 / BLK], slack) < thr ||
            (bl && base + bl[p0 / BLK] + lslack + slack * nx * ix->blk_norm[p0 / BLK] < thr))
            continue;
        if (cs_bounds_max(c, base, nx, slack, ix->b + p0, ix->norm + p0, ub) < thr)
            continue;

        /* When an eighth of the block's products or more pass, one pass
         * over its rows costs less than a call per passing product (ials,
         * whose bounds are loose for long user vectors); when fewer do, a
         * call each (mf, whose biases prune well). Measured with
         * bench/topn_bench.c. The products are the same bit for bit. */
        uint32_t pass = q->select(ub, c, thr, pick);
        /* Many pass Cauchy-Schwarz (ials, long user vectors): the
         * quantised bounds first, which cost about a sixteenth of an exact
         * product each. Few pass (mf): not worth it. */
        if (q->dots8 && aligned && pass >= c / 8) {
            q8_bounds(ix, &q->qq, q->dots8, p0, c, base, nx, slack, thr, ub);
            pass = q->select(ub, c, thr, pick);
        }
        if (!plain) {
            /* The rules, for the candidates both bounds leave. */
            uint32_t kept = 0;
            for (uint32_t t = 0; t < pass; t++) {
                const uint32_t p = p0 + pick[t];
                if (a ? walk_admits(f, a, p) &&
                            (!f->include ||
                             reco_sorted_contains(f->include, f->n_include, ix->order[p]))
                      : reco_item_filter_admits_attrs(f, ix->order[p]))
                    pick[kept++] = pick[t];
            }
            if (!kept)
                continue;
            pass = kept;
        }
        /* A part's rows are scattered in the parent's matrix: one call
         * each. */
        const bool dense = pass >= c / 8 && !ix->qrow;
        if (dense) {
            memset(dots, 0, c * sizeof *dots);
            reco_rows_dot(ix->Q + (size_t)p0 * ix->ld, c, ix->k, ix->ld, x, dots);
        }
        for (uint32_t t = 0; t < pass; t++) {
            const uint32_t j = pick[t];
            if (!(ub[j] >= thr))
                continue; /* thr rose since the selection */
            uint32_t i = ix->order[p0 + j];
            const float *row = ix->qrow ? ix->qsrc + (size_t)ix->qrow[p0 + j] * ix->ld
                                        : ix->Q + (size_t)(p0 + j) * ix->ld;
            float d = dense ? dots[j] : reco_dot(row, x, ix->k);
            float sc = (base + ix->b[p0 + j]) + d;
            reco_scored e = {i, sc};
            if (h->h.n == h->h.k && !reco_scored_before(e, h->h.v[0]))
                continue;
            if (n_exclude && reco_sorted_contains(exclude, n_exclude, i))
                continue;
            reco_topn_capped_push(h, i, sc);
            thr = reco_topn_capped_threshold(h);
        }
    }
    return ix->n;
}

static bool ranges_meet(reco_category_range r, const reco_category_range *rs, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (rs[k].lo < r.hi && r.lo < rs[k].hi)
            return true;
    return false;
}

/* The parts of sp a category rule can admit, highest first bound first,
 * when they hold at most half of the parent's products and the parts cover
 * every range of the rule; 0 otherwise (the whole order is walked). */
static uint32_t split_pick(const reco_factor_split *sp, const reco_factor_order *ix,
                           const walk_query *q, const reco_item_filter *f, uint32_t *sel,
                           uint64_t *admitted)
{
    for (size_t k = 0; k < f->n_categories; k++) {
        /* The parts are disjoint: covered when their overlaps add up. */
        const reco_category_range c = f->categories[k];
        uint64_t covered = 0;
        for (uint32_t r = 0; r < sp->n_parts; r++) {
            const uint32_t lo = c.lo > sp->range[r].lo ? c.lo : sp->range[r].lo;
            const uint32_t hi = c.hi < sp->range[r].hi ? c.hi : sp->range[r].hi;
            covered += lo < hi ? hi - lo : 0;
        }
        if (c.lo < c.hi && covered < (uint64_t)(c.hi - c.lo))
            return 0;
    }
    uint32_t ns = 0;
    uint64_t tot = 0;
    float key[RECO_FACTOR_SPLIT_MAX];
    for (uint32_t r = 0; r < sp->n_parts; r++) {
        if (!ranges_meet(sp->range[r], f->categories, f->n_categories) || !sp->part[r].n)
            continue;
        tot += sp->part[r].n;
        /* Insertion by the part's first bound, highest first, so that the
         * threshold rises early. */
        const float kv = suffix_bound(&sp->part[r], q, 0);
        uint32_t j = ns++;
        for (; j > 0 && key[j - 1] < kv; j--) {
            key[j] = key[j - 1];
            sel[j] = sel[j - 1];
        }
        key[j] = kv;
        sel[j] = r;
    }
    *admitted = tot;
    return tot * 2 <= ix->n ? ns : 0;
}

/* Positions a part's walk takes at a time between looks at the others,
 * and blocks of the whole order walked before the parts. */
#define SPLIT_STEP 64
#define SPLIT_HEAD 4
/* ... when the parts hold at least 1 / SPLIT_HEAD_SHARE of the products
 * (a narrow category's own walk is short: the head would be waste). */
#define SPLIT_HEAD_SHARE 8

static size_t order_topn(const reco_factor_order *ix, const float *x, float base, size_t n,
                         const reco_item_filter *f, reco_scored *out)
{
    const bool plain = reco_item_filter_exclude_only(f);
    /* The catalogue's rules in this order's layout, when the caller made
     * them (walk_admits). */
    const reco_item_filter_walk *walk =
        plain || !(f->hidden || f->n_categories) ? NULL
                                                 : reco_item_filter_walk_for(f, ix->order, ix->n);
    walk_query q;
    walk_query_make(ix, x, base, &q);
    reco_topn_capped h;
    reco_topn_capped_init(&h, out, n, plain ? NULL : f);
    const reco_factor_split *sp = walk ? walk->split : NULL;
    uint32_t sel[RECO_FACTOR_SPLIT_MAX], ns = 0;
    uint64_t admitted = 0;
    if (sp && f->n_categories && sp->parent_order == ix->order &&
        (ns = split_pick(sp, ix, &q, f, sel, &admitted))) {
        /* The first blocks of the whole order first (unless the rule is
         * narrow): most users' walk
         * ends there (short user vectors, whose bounds prune early), and
         * the list fills with the best of every part at once. Then the
         * parts from there on, together, the one whose next products may
         * score best first, a step at a time: products are met in about
         * the order the whole order's walk would meet them, so the
         * threshold rises as early, caps per category included. */
        const admit_ctx aw = {walk->category, walk->hidden, NULL};
        uint32_t from = 0;
        const int head = admitted * SPLIT_HEAD_SHARE >= ix->n ? SPLIT_HEAD : 0;
        for (int b = 0; b < head && from < ix->n; b++)
            from = order_walk(ix, &q, f, false, &aw, &h, from, RECO_FACTOR_BLOCK, INFINITY);
        uint32_t at[RECO_FACTOR_SPLIT_MAX];
        float next[RECO_FACTOR_SPLIT_MAX]; /* suffix bound at at[t]; -inf: done */
        for (uint32_t t = 0; t < ns && from < ix->n; t++) {
            /* The part's first position at or after from (qrow ascends). */
            const reco_factor_order *part = &sp->part[sel[t]];
            uint32_t lo = 0, hi = part->n;
            while (lo < hi) {
                const uint32_t mid = lo + (hi - lo) / 2;
                if (part->qrow[mid] < from)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            at[t] = lo;
            next[t] = lo < part->n ? suffix_bound(part, &q, lo) : -INFINITY;
        }
        while (from < ix->n) {
            uint32_t best = 0;
            float second = -INFINITY;
            for (uint32_t t = 1; t < ns; t++)
                if (next[t] > next[best]) {
                    second = next[best];
                    best = t;
                } else if (next[t] > second) {
                    second = next[t];
                }
            /* Done parts stand at -inf: when the best is done, all are. */
            if (at[best] >= sp->part[sel[best]].n ||
                !(next[best] >= reco_topn_capped_threshold(&h)))
                break;
            const reco_factor_order *part = &sp->part[sel[best]];
            const admit_ctx a = {sp->category + sp->first[sel[best]], walk->hidden, part->qrow};
            at[best] = order_walk(part, &q, f, false, &a, &h, at[best], SPLIT_STEP, second);
            next[best] = at[best] < part->n ? suffix_bound(part, &q, at[best]) : -INFINITY;
        }
    } else {
        const admit_ctx a = {walk ? walk->category : NULL, walk ? walk->hidden : NULL, NULL};
        order_walk(ix, &q, f, plain, walk ? &a : NULL, &h, 0, RECO_FACTOR_BLOCK, -INFINITY);
    }
    return reco_topn_capped_finish(&h);
}

/* ---- category splits ---- */

void reco_factor_split_clear(reco_factor_split *s)
{
    if (!s)
        return;
    for (uint32_t r = 0; r < s->n_parts; r++)
        order_clear(&s->part[r]);
    free(s->category);
    memset(s, 0, sizeof *s);
}

/* Part r of the split: the parent's positions pos[0..m) (ascending). */
static int part_build(reco_factor_order *pt, const reco_factor_order *o, const uint32_t *pos,
                      uint32_t m)
{
    memset(pt, 0, sizeof *pt);
    pt->n = m;
    pt->k = o->k;
    pt->ld = o->ld;
    pt->lambda = o->lambda;
    pt->qsrc = o->Q;
    const size_t nb = (size_t)n_blocks(m) + 1;
    pt->order = malloc(((size_t)m + 1) * sizeof *pt->order);
    pt->qrow = malloc(((size_t)m + 1) * sizeof *pt->qrow);
    pt->b = malloc(((size_t)m + 1) * sizeof(float));
    pt->norm = malloc(((size_t)m + 1) * sizeof(float));
    pt->smax_b = malloc(((size_t)m + 1) * sizeof(float));
    pt->smax_norm = malloc(((size_t)m + 1) * sizeof(float));
    pt->blk_b = malloc(nb * sizeof(float));
    pt->blk_norm = malloc(nb * sizeof(float));
    if (!pt->order || !pt->qrow || !pt->b || !pt->norm || !pt->smax_b || !pt->smax_norm ||
        !pt->blk_b || !pt->blk_norm)
        return -1;
    for (uint32_t p = 0; p < m; p++) {
        pt->order[p] = o->order[pos[p]];
        pt->qrow[p] = pos[p];
        pt->b[p] = o->b[pos[p]];
        pt->norm[p] = o->norm[pos[p]];
    }
    fill_maxima(pt);
    if (o->smax_l && fill_lambda_maxima(pt))
        return -1;
    if (!o->smax_l)
        pt->babs_max = o->babs_max;
    if (!o->q8)
        return 0;
    /* The 8-bit copy regrouped by part position: the same bytes (a
     * position's 4 bytes per chunk of 4 factors), scales and sums. */
    const uint32_t nc = q8_chunks(o->k);
    pt->q8 = reco_alloc_aligned(q8_bytes(m, o->k) + 64);
    pt->q8_scale = malloc(((size_t)q8_groups(m) * 16 + 1) * sizeof(float));
    pt->q_l1 = malloc(((size_t)q8_groups(m) * 16 + 1) * sizeof(float));
    if (!pt->q8 || !pt->q8_scale || !pt->q_l1)
        return -1;
    memset(pt->q8, 128, q8_bytes(m, o->k));
    for (uint32_t p = 0; p < q8_groups(m) * 16; p++) {
        if (p >= m) {
            pt->q8_scale[p] = pt->q_l1[p] = 0;
            continue;
        }
        const uint32_t pp = pos[p];
        pt->q8_scale[p] = o->q8_scale[pp];
        pt->q_l1[p] = o->q_l1[pp];
        const uint8_t *src = o->q8 + (size_t)(pp / 16) * nc * 64 + (pp % 16) * 4;
        uint8_t *dst = pt->q8 + (size_t)(p / 16) * nc * 64 + (p % 16) * 4;
        for (uint32_t d = 0; d < nc; d++)
            memcpy(dst + (size_t)d * 64, src + (size_t)d * 64, 4);
    }
    return 0;
}

reco_status reco_factor_split_build(reco_factor_split *s, const reco_factor_order *o,
                                    const uint32_t *item_category, size_t n_item_category,
                                    const reco_category_range *ranges, uint32_t n_ranges,
                                    reco_error *err)
{
    memset(s, 0, sizeof *s);
    if (n_ranges > RECO_FACTOR_SPLIT_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "a split has at most %d parts, not %u",
                              RECO_FACTOR_SPLIT_MAX, n_ranges);
    for (uint32_t r = 0; r < n_ranges; r++)
        if (ranges[r].lo >= ranges[r].hi || ranges_meet(ranges[r], ranges, r))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "split ranges must be non-empty and disjoint");
    /* Each position's part, then the parts' positions in order. */
    uint32_t *part_of = malloc(((size_t)o->n + 1) * sizeof *part_of);
    uint32_t *pos = malloc(((size_t)o->n + 1) * sizeof *pos);
    uint32_t cnt[RECO_FACTOR_SPLIT_MAX + 1] = {0};
    if (!part_of || !pos)
        goto nomem;
    for (uint32_t p = 0; p < o->n; p++) {
        const uint32_t i = o->order[p];
        const uint32_t c = item_category && i < n_item_category ? item_category[i]
                                                                : RECO_NO_CATEGORY;
        part_of[p] = n_ranges;
        for (uint32_t r = 0; r < n_ranges; r++)
            if (c >= ranges[r].lo && c < ranges[r].hi) {
                part_of[p] = r;
                break;
            }
        cnt[part_of[p]]++;
    }
    s->first[0] = 0;
    for (uint32_t r = 0; r < n_ranges; r++)
        s->first[r + 1] = s->first[r] + cnt[r];
    s->category = malloc(((size_t)s->first[n_ranges] + 1) * sizeof *s->category);
    if (!s->category)
        goto nomem;
    uint32_t fill[RECO_FACTOR_SPLIT_MAX];
    memcpy(fill, s->first, sizeof fill);
    for (uint32_t p = 0; p < o->n; p++)
        if (part_of[p] < n_ranges) {
            const uint32_t at = fill[part_of[p]]++;
            pos[at] = p;
            s->category[at] = item_category[o->order[p]];
        }
    s->parent_order = o->order;
    for (uint32_t r = 0; r < n_ranges; r++) {
        s->range[r] = ranges[r];
        s->n_parts = r + 1;
        if (part_build(&s->part[r], o, pos + s->first[r], cnt[r]))
            goto nomem;
    }
    free(part_of);
    free(pos);
    return RECO_OK;
nomem:
    free(part_of);
    free(pos);
    reco_factor_split_clear(s);
    return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for a category split of %s products",
                          RECO_THOUSANDS(o->n));
}

/* PREFIX + NAME into buf (RECO_MFILE_NAME_MAX + 1 bytes); a name too long
 * for a section is cut, and then simply not found. */
static const char *sec(char *buf, const char *prefix, const char *name)
{
    if (snprintf(buf, RECO_MFILE_NAME_MAX + 1, "%s%s", prefix, name) > RECO_MFILE_NAME_MAX)
        buf[RECO_MFILE_NAME_MAX] = '\0';
    return buf;
}

/* Contents version of PREFIX + "ord_meta". */
#define ORDER_FORMAT 1

static reco_status order_save(const reco_factor_order *ix, reco_mfile_writer *w,
                                   const char *prefix, reco_error *err)
{
    char s[RECO_MFILE_NAME_MAX + 1];
    const uint64_t n = ix->n, fb = n * sizeof(float), nb = n_blocks(ix->n) * sizeof(float);
    reco_mfile_meta *meta = reco_mfile_meta_new(ORDER_FORMAT);
    reco_mfile_meta_put_u64(meta, "n", ix->n);
    reco_mfile_meta_put_u64(meta, "k", ix->k);
    reco_mfile_meta_put_u64(meta, "ld", ix->ld);
    reco_mfile_meta_put_bool(meta, "lambdas", ix->smax_l != NULL);
    reco_mfile_meta_put_f64(meta, "lambda", ix->lambda);
    reco_mfile_meta_put_f64(meta, "babs_max", ix->babs_max);
    reco_mfile_meta_put_bool(meta, "q8", ix->q8 != NULL);
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, sec(s, prefix, "ord_meta"), meta, err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "order"), ix->order, n * sizeof(uint32_t), err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "ord_b"), ix->b, fb, err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "ord_norm"), ix->norm, fb, err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "ord_smax_b"), ix->smax_b, fb, err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "ord_smax_norm"), ix->smax_norm, fb, err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "ord_blk_b"), ix->blk_b, nb, err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "ord_blk_norm"), ix->blk_norm, nb, err)))
        return rc;
    if ((rc = reco_mfile_add(w, sec(s, prefix, "ord_Q"), ix->Q, n * ix->ld * sizeof(float), err)))
        return rc;
    if (ix->smax_l &&
        ((rc = reco_mfile_add(w, sec(s, prefix, "ord_smax_l"), ix->smax_l,
                              (uint64_t)RECO_FACTOR_LAMBDAS * n * sizeof(float), err)) ||
         (rc = reco_mfile_add(w, sec(s, prefix, "ord_blk_l"), ix->blk_l,
                              (uint64_t)RECO_FACTOR_LAMBDAS * n_blocks(ix->n) * sizeof(float),
                              err))))
        return rc;
    if (!ix->q8)
        return RECO_OK;
    const uint64_t nq = (uint64_t)q8_groups(ix->n) * 16 * sizeof(float);
    if ((rc = reco_mfile_add(w, sec(s, prefix, "q8"), ix->q8, q8_bytes(ix->n, ix->k), err)) ||
        (rc = reco_mfile_add(w, sec(s, prefix, "q8_scale"), ix->q8_scale, nq, err)))
        return rc;
    return reco_mfile_add(w, sec(s, prefix, "q_l1"), ix->q_l1, nq, err);
}

/* The order must name each item at most once, every one below n_items
 * (the walk reads per-item arrays through it and must not return an item
 * twice). */
static bool order_is_injective(const uint32_t *order, uint64_t n, uint32_t n_items)
{
    uint8_t *seen = calloc((size_t)n_items / 8 + 1, 1);
    if (!seen)
        return false;
    bool ok = true;
    for (uint64_t p = 0; ok && p < n; p++) {
        uint32_t i = order[p];
        ok = i < n_items && !(seen[i / 8] & (1u << (i % 8)));
        if (ok)
            seen[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    free(seen);
    return ok;
}

static reco_status order_load(reco_factor_order *ix, const reco_mfile *f,
                                   const char *prefix, uint32_t n_items, uint32_t k, uint32_t ld,
                                   reco_error *err)
{
    memset(ix, 0, sizeof *ix);
    char s[RECO_MFILE_NAME_MAX + 1];
    reco_mfile_meta *meta = NULL;
    uint32_t n32 = 0, ignored;
    bool lambdas = false, has_q8 = false;
    float lambda = 0, babs_max = 0;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, sec(s, prefix, "ord_meta"), ORDER_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n", 0, n_items, &n32, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "k", k, k, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "ld", ld, ld, &ignored, err)) ||
        (rc = reco_mfile_meta_get_bool(meta, "lambdas", &lambdas, err)) ||
        (rc = reco_mfile_meta_get_f32(meta, "lambda", lambdas ? FLT_MIN : 0, FLT_MAX, &lambda,
                                      err)) ||
        (rc = reco_mfile_meta_get_f32(meta, "babs_max", 0, INFINITY, &babs_max, err)) ||
        (rc = reco_mfile_meta_get_bool(meta, "q8", &has_q8, err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    const uint64_t n = n32, nb = n_blocks(n32);
    const void *ord, *b, *nq, *sb, *sn, *bb, *bn, *Q;
    if ((rc = reco_mfile_array(f, sec(s, prefix, "order"), n, sizeof(uint32_t), &ord, err)) ||
        (rc = reco_mfile_array(f, sec(s, prefix, "ord_b"), n, sizeof(float), &b, err)) ||
        (rc = reco_mfile_array(f, sec(s, prefix, "ord_norm"), n, sizeof(float), &nq, err)) ||
        (rc = reco_mfile_array(f, sec(s, prefix, "ord_smax_b"), n, sizeof(float), &sb, err)) ||
        (rc = reco_mfile_array(f, sec(s, prefix, "ord_smax_norm"), n, sizeof(float), &sn, err)) ||
        (rc = reco_mfile_array(f, sec(s, prefix, "ord_blk_b"), nb, sizeof(float), &bb, err)) ||
        (rc = reco_mfile_array(f, sec(s, prefix, "ord_blk_norm"), nb, sizeof(float), &bn, err)) ||
        (rc = reco_mfile_matrix(f, sec(s, prefix, "ord_Q"), n, ld, sizeof(float), &Q, err)))
        return rc;
    if (!order_is_injective(ord, n, n_items))
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt item order (%sorder)",
                              reco_mfile_path(f), prefix);
    ix->n = (uint32_t)n;
    ix->k = k;
    ix->ld = ld;
    ix->order = (uint32_t *)ord;
    ix->b = (float *)b;
    ix->norm = (float *)nq;
    ix->smax_b = (float *)sb;
    ix->smax_norm = (float *)sn;
    ix->blk_b = (float *)bb;
    ix->blk_norm = (float *)bn;
    ix->Q = (float *)Q;
    ix->lambda = lambda;
    ix->babs_max = babs_max;
    ix->mapped = true;
    /* The lambda maxima, if the order has them. */
    if (lambdas) {
        const void *sml, *bll;
        if ((rc = reco_mfile_matrix(f, sec(s, prefix, "ord_smax_l"), RECO_FACTOR_LAMBDAS, n,
                                    sizeof(float), &sml, err)) ||
            (rc = reco_mfile_matrix(f, sec(s, prefix, "ord_blk_l"), RECO_FACTOR_LAMBDAS, nb,
                                    sizeof(float), &bll, err)))
            return rc;
        ix->smax_l = (float *)sml;
        ix->blk_l = (float *)bll;
    }
    /* The quantised copy, if the order has it (bounds from it are only as
     * good as its numbers: a crafted file can make the walk slower, never
     * read out of range). */
    if (has_q8) {
        const void *q8, *qs, *ql;
        const uint64_t ng = (uint64_t)q8_groups((uint32_t)n) * 16;
        if ((rc = reco_mfile_array(f, sec(s, prefix, "q8"), q8_bytes((uint32_t)n, k), 1, &q8,
                                   err)) ||
            (rc = reco_mfile_array(f, sec(s, prefix, "q8_scale"), ng, sizeof(float), &qs, err)) ||
            (rc = reco_mfile_array(f, sec(s, prefix, "q_l1"), ng, sizeof(float), &ql, err)))
            return rc;
        ix->q8 = (uint8_t *)q8;
        ix->q8_scale = (float *)qs;
        ix->q_l1 = (float *)ql;
    }
    return RECO_OK;
}

/* ---- the index: two orders ---- */

/* The second order's lambda is this many times the first's, and a query
 * walks it when |x| is above RECO_SWITCH times the first lambda (both
 * measured on the full-size mf model: bench/topn_bench.c). */
#define ORDER2_FACTOR 8.0f
#define ORDER_SWITCH 2.0f

void reco_factor_index_clear(reco_factor_index *ix)
{
    if (!ix)
        return;
    for (uint32_t o = 0; o < RECO_FACTOR_ORDERS; o++)
        order_clear(&ix->ord[o]);
    ix->n_orders = 0;
}

reco_status reco_factor_index_build(reco_factor_index *ix, const float *Q, const float *b,
                                    const bool *include, uint32_t n_items, uint32_t k,
                                    uint32_t ld, float lambda, reco_error *err)
{
    memset(ix, 0, sizeof *ix);
    if (!(lambda > 0) || !isfinite(lambda))
        lambda = 1.0f;
    for (uint32_t o = 0; o < RECO_FACTOR_ORDERS; o++) {
        reco_status rc = order_build(&ix->ord[o], Q, b, include, n_items, k, ld,
                                     o ? lambda * ORDER2_FACTOR : lambda, err);
        if (rc) {
            reco_factor_index_clear(ix);
            return rc;
        }
        ix->n_orders = o + 1;
    }
    return RECO_OK;
}

reco_status reco_factor_index_build_unit(reco_factor_index *ix, const float *Q, uint32_t n_items,
                                         uint32_t k, uint32_t ld, reco_error *err)
{
    memset(ix, 0, sizeof *ix);
    reco_status rc = order_build(&ix->ord[0], Q, NULL, NULL, n_items, k, ld, 1.0f, err);
    if (rc)
        return rc;
    ix->n_orders = 1;
    return RECO_OK;
}

size_t reco_factor_index_topn(const reco_factor_index *ix, const float *x, float base, size_t n,
                              const uint32_t *exclude, size_t n_exclude, reco_scored *out)
{
    const reco_item_filter f = {.exclude = exclude, .n_exclude = exclude ? n_exclude : 0};
    return reco_factor_index_topn_filter(ix, x, base, n, &f, out);
}

size_t reco_factor_index_topn_filter(const reco_factor_index *ix, const float *x, float base,
                                     size_t n, const reco_item_filter *f, reco_scored *out)
{
    const reco_factor_order *o = &ix->ord[0];
    if (ix->n_orders > 1) {
        const float nx = sqrtf(reco_dot(x, x, o->k));
        if (nx > ORDER_SWITCH * o->lambda)
            o = &ix->ord[1];
    }
    return order_topn(o, x, base, n, f, out);
}

reco_status reco_factor_index_save(const reco_factor_index *ix, reco_mfile_writer *w,
                                   const char *prefix, reco_error *err)
{
    reco_status rc = RECO_OK;
    for (uint32_t o = 0; o < ix->n_orders && !rc; o++) {
        char p[RECO_MFILE_NAME_MAX + 1];
        if (snprintf(p, sizeof p, "%s%s", prefix, o ? "o1." : "") >= (int)sizeof p)
            return reco_error_set(err, RECO_ERR_INVALID, "section prefix too long: %s", prefix);
        rc = order_save(&ix->ord[o], w, p, err);
    }
    return rc;
}

reco_status reco_factor_index_load(reco_factor_index *ix, const reco_mfile *f,
                                   const char *prefix, uint32_t n_items, uint32_t k, uint32_t ld,
                                   reco_error *err)
{
    memset(ix, 0, sizeof *ix);
    for (uint32_t o = 0; o < RECO_FACTOR_ORDERS; o++) {
        char p[RECO_MFILE_NAME_MAX + 1], probe[RECO_MFILE_NAME_MAX + 1];
        if (snprintf(p, sizeof p, "%s%s", prefix, o ? "o1." : "") >= (int)sizeof p)
            return reco_error_set(err, RECO_ERR_INVALID, "section prefix too long: %s", prefix);
        sec(probe, p, "ord_meta");
        if (o && !reco_mfile_section(f, probe, NULL))
            break; /* a file with one order */
        reco_status rc = order_load(&ix->ord[o], f, p, n_items, k, ld, err);
        if (rc) {
            reco_factor_index_clear(ix);
            return rc;
        }
        ix->n_orders = o + 1;
    }
    return RECO_OK;
}
