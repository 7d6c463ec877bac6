/* "mf": biased matrix factorisation fitted by SGD (LIBMF-style blocked,
 * parallel) or ALS. See include/reco/mf.h for the model. */
#include "reco/mf.h"
#include "reco/thousands.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "factors.h"
#include "kernels.h"
#include "mem.h"
#include "numfmt.h"
#include "parsum.h"
#include "rng.h"

/* ---- parameters ---- */

void reco_mf_params_default(reco_mf_params *p)
{
    /* Chosen with `reco tune --metric rmse` on MovieLens 100K u1.base only
     * (300 random trials over factors <= 128, reg, lr, epochs, reg_bias,
     * init_std; validation a random 20% of u1.base; u1.test never seen).
     * Held-out RMSE on u1.test 0.9225. (Defaults tuned earlier on the test
     * folds themselves gave 0.9190 there: a figure that is not a held-out
     * one.) Factors are capped at 128 in the search for memory: a user
     * costs 4 bytes a factor, 2 GB at 4.2 million users. bench/defaults.sh. */
    p->factors = 100;
    p->epochs = 17;
    p->lr = 0.01461;
    p->reg = 0.06022;
    p->reg_bias = 0.06202;
    p->init_std = 0.02383;
    p->seed = 1;
    p->threads = 0;
    p->solver = RECO_MF_SGD;
}

static void mf_default(void *p) { reco_mf_params_default(p); }

static reco_status mf_set(void *pp, const char *key, const char *value, reco_error *err)
{
    reco_mf_params *p = pp;
    if (!strcmp(key, "factors"))
        return reco_param_int("mf", key, value, 1, 1024, &p->factors, err);
    if (!strcmp(key, "epochs"))
        return reco_param_int("mf", key, value, 1, 100000, &p->epochs, err);
    if (!strcmp(key, "threads"))
        return reco_param_int("mf", key, value, 0, 1024, &p->threads, err);
    double v, *dst = NULL;
    double lo = 0, hi = 1e6;
    bool positive = false;
    if (!strcmp(key, "lr"))
        dst = &p->lr, hi = 10, positive = true;
    else if (!strcmp(key, "reg"))
        dst = &p->reg;
    else if (!strcmp(key, "reg_bias"))
        dst = &p->reg_bias;
    else if (!strcmp(key, "init_std"))
        dst = &p->init_std, hi = 100, positive = true;
    if (dst) {
        reco_status rc = reco_param_double("mf", key, value, lo, hi, &v, err);
        if (rc)
            return rc;
        if (positive && !(v > 0))
            return reco_error_set(err, RECO_ERR_INVALID, "mf.%s must be greater than 0, got \"%s\"",
                                  key, value);
        *dst = v;
        return RECO_OK;
    }
    if (!strcmp(key, "seed"))
        return reco_param_u64("mf", key, value, &p->seed, err);
    if (!strcmp(key, "solver")) {
        if (!strcmp(value, "sgd"))
            p->solver = RECO_MF_SGD;
        else if (!strcmp(value, "als"))
            p->solver = RECO_MF_ALS;
        else
            return reco_error_set(err, RECO_ERR_INVALID, "mf.solver wants sgd or als, got \"%s\"",
                                  value);
        return RECO_OK;
    }
    return reco_param_unknown("mf", key, err);
}

reco_status reco_mf_params_check(const reco_mf_params *p, reco_error *err)
{
    if (p->factors < 1 || p->factors > 1024)
        return reco_error_set(err, RECO_ERR_INVALID, "mf.factors must be 1 to 1024, got %d",
                              p->factors);
    if (p->epochs < 1 || p->epochs > 100000)
        return reco_error_set(err, RECO_ERR_INVALID, "mf.epochs must be 1 to 100000, got %d",
                              p->epochs);
    if (!(p->lr > 0 && p->lr <= 10))
        return reco_error_set(err, RECO_ERR_INVALID, "mf.lr must be in (0, 10], got %g", p->lr);
    if (!(p->reg >= 0 && p->reg <= 1e6))
        return reco_error_set(err, RECO_ERR_INVALID, "mf.reg must be in [0, 1e6], got %g",
                              p->reg);
    if (!(p->reg_bias >= 0 && p->reg_bias <= 1e6))
        return reco_error_set(err, RECO_ERR_INVALID, "mf.reg_bias must be in [0, 1e6], got %g",
                              p->reg_bias);
    if (!(p->init_std > 0 && p->init_std <= 100))
        return reco_error_set(err, RECO_ERR_INVALID, "mf.init_std must be in (0, 100], got %g",
                              p->init_std);
    if (p->threads < 0 || p->threads > 1024)
        return reco_error_set(err, RECO_ERR_INVALID, "mf.threads must be 0 to 1024, got %d",
                              p->threads);
    if (p->solver != RECO_MF_SGD && p->solver != RECO_MF_ALS)
        return reco_error_set(err, RECO_ERR_INVALID, "mf.solver must be sgd or als");
    return RECO_OK;
}

static reco_status mf_check(const void *p, reco_error *err) { return reco_mf_params_check(p, err); }

static void mf_format(const void *pp, char *buf, size_t cap)
{
    const reco_mf_params *p = pp;
    reco_snprintf_c(buf, cap,
             "factors=%d epochs=%d lr=%g reg=%g reg_bias=%g init_std=%g seed=%llu threads=%d "
             "solver=%s",
             p->factors, p->epochs, p->lr, p->reg, p->reg_bias, p->init_std,
             (unsigned long long)p->seed, p->threads, p->solver == RECO_MF_ALS ? "als" : "sgd");
}

static const reco_param_field mf_fields[] = {
    RECO_PARAM_FIELD(reco_mf_params, factors, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_mf_params, epochs, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_mf_params, lr, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_mf_params, reg, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_mf_params, reg_bias, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_mf_params, init_std, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_mf_params, seed, RECO_PT_U64),
    RECO_PARAM_FIELD(reco_mf_params, threads, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_mf_params, solver, RECO_PT_INT),
    {NULL, 0, 0, 0},
};

/* ---- memory ---- */

/* Arrays of the model come from reco_alloc_aligned: 64-byte aligned (huge
 * pages when large); SGD touches rows of P and Q at random. Zeroed here
 * where needed. */
static void *big_calloc(size_t bytes)
{
    void *p = reco_alloc_aligned(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* ---- state ---- */

typedef reco_mf_state mf_state;

static void mf_free(void *s)
{
    mf_state *st = s;
    if (!st)
        return;
    if (st->mapped) {
        reco_factor_index_clear(&st->index);
        free(st);
        return;
    }
    free(st->bu);
    free(st->bi);
    free(st->P);
    free(st->Q);
    free(st->q_inv_norm);
    reco_factor_index_clear(&st->index);
    free(st);
}

static mf_state *state_new(const reco_mf_params *p, uint32_t nu, uint32_t ni)
{
    mf_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->params = *p;
    st->n_users = nu;
    st->n_items = ni;
    st->k = (uint32_t)p->factors;
    st->ld = (st->k + 15) / 16 * 16;
    st->bu = big_calloc(((size_t)nu + 1) * sizeof(float));
    st->bi = big_calloc(((size_t)ni + 1) * sizeof(float));
    /* P and Q are written whole by init_factors, in parallel. */
    st->P = reco_alloc_aligned(((size_t)nu + 1) * st->ld * sizeof(float));
    st->Q = reco_alloc_aligned(((size_t)ni + 1) * st->ld * sizeof(float));
    st->q_inv_norm = big_calloc(((size_t)ni + 1) * sizeof(float));
    if (!st->bu || !st->bi || !st->P || !st->Q || !st->q_inv_norm) {
        mf_free(st);
        return NULL;
    }
    return st;
}

/* ---- ridge solve: shared by ALS and fold-in ---- */

#define RIDGE_CHUNK 64

/* The system has d = k + 1 unknowns (the factors, then the bias), kept in
 * rows of dl floats: d rounded up to 16, as the Gram kernel wants. */
static uint32_t ridge_ld(uint32_t k) { return (k + 1 + 15) / 16 * 16; }

static size_t ridge_scratch_floats(uint32_t k)
{
    size_t dl = ridge_ld(k);
    return (size_t)(k + 1) * dl + dl + RIDGE_CHUNK * dl + RIDGE_CHUNK;
}

/* Solves for one row (bias *b and factors x[0..k-1]) given the other side:
 * minimises sum_j (r_j - mu - ob[j] - b - x.F_j)^2 + lam |x|^2 + lam_b b^2
 * over the n_valid entries whose index is < n_other, with lam = reg *
 * n_valid and lam_b = reg_bias * n_valid (the SGD objective's per-rating
 * penalty). The normal equations are formed in chunks of rows [F_j, 1]
 * with the register-tiled Gram kernel and solved by the library's own
 * Cholesky (kernels.h): for a system this small, solved once per request
 * when a user is folded in, OpenBLAS's call overhead (buffer copies around
 * its generic kernels on this CPU) cost several times the arithmetic.
 * scratch holds ridge_scratch_floats(k) floats. */
static reco_status ridge_row(const float *F, const float *ob, uint32_t ld, uint32_t k, float mu,
                             uint32_t n_other, const uint32_t *idx, const float *r, uint32_t n,
                             double reg, double reg_bias, float *b, float *x, float *scratch)
{
    const uint32_t d = k + 1, dl = ridge_ld(k);
    float *G = scratch, *rhs = G + (size_t)d * dl, *A = rhs + dl, *t = A + (size_t)RIDGE_CHUNK * dl;
    memset(G, 0, (size_t)d * dl * sizeof *G);
    memset(rhs, 0, dl * sizeof *rhs);
    uint32_t n_valid = 0, c = 0;
    for (uint32_t j = 0; j <= n; j++) {
        if (j < n && idx[j] < n_other) {
            float *a = A + (size_t)c * dl;
            memcpy(a, F + (size_t)idx[j] * ld, k * sizeof(float));
            a[k] = 1.0f;
            memset(a + d, 0, (dl - d) * sizeof(float));
            t[c] = r[j] - mu - ob[idx[j]];
            c++;
            n_valid++;
        }
        if (c == RIDGE_CHUNK || (j == n && c > 0)) {
            reco_gram_add(A, c, d, dl, G);
            for (uint32_t q = 0; q < c; q++) {
                const float *a = A + (size_t)q * dl, tq = t[q];
#pragma omp simd
                for (uint32_t f = 0; f < d; f++)
                    rhs[f] += tq * a[f];
            }
            c = 0;
        }
    }
    memset(x, 0, k * sizeof *x);
    *b = 0;
    if (n_valid == 0)
        return RECO_OK;
    reco_sym_fill_lower(G, d, dl);
    /* A tiny floor keeps reg = 0 solvable when the ratings determine x. */
    for (uint32_t f = 0; f < k; f++)
        G[(size_t)f * dl + f] += (float)fmax(reg * n_valid, 1e-6);
    G[(size_t)k * dl + k] += (float)fmax(reg_bias * n_valid, 1e-6);
    if (reco_cholesky(G, d, dl) != 0)
        return RECO_ERR_NUMERIC;
    reco_cholesky_solve(G, d, dl, rhs);
    memcpy(x, rhs, k * sizeof *x);
    *b = rhs[k];
    return RECO_OK;
}

size_t reco_mf_fold_in_scratch_size(const reco_mf_state *s)
{
    return ridge_scratch_floats(s->k) * sizeof(float);
}

reco_status reco_mf_fold_in(const reco_mf_state *s, const uint32_t *items, const float *r,
                            uint32_t n, float *bu, float *x, void *scratch, reco_error *err)
{
    memset(x, 0, s->ld * sizeof *x);
    reco_status rc = ridge_row(s->Q, s->bi, s->ld, s->k, s->mu, s->n_items, items, r, n,
                               s->params.reg, s->params.reg_bias, bu, x, scratch);
    if (rc)
        return reco_error_set(err, rc, "mf: the fold-in system of %u ratings is singular", n);
    return RECO_OK;
}

/* ---- SGD ---- */

typedef struct mf_rating {
    uint32_t u, i;   /* rows of P and Q */
    uint32_t bu, bi; /* slots of the bias arrays (see mf_sgd) */
    float r;
} mf_rating;

/* The training problem of FPSGD. Users and items are dealt at random into B
 * groups each, and the ratings into B x B blocks (user group x item group).
 * Within a block they keep CSR order, by user then item, so P is walked
 * forward and a user's row stays in cache for all of its ratings. Rows of P
 * and Q are whole cache lines, so threads working on different groups
 * never share a line of them; the biases, 16 to a line, are kept during
 * training in slots that make every group a contiguous range (otherwise
 * neighbouring users of different groups would share lines and the threads
 * would slow each other down). */
typedef struct mf_sgd {
    uint32_t B;
    uint32_t *uslot, *islot; /* original index -> bias slot */
    uint64_t *ptr;           /* B*B + 1 offsets into v */
    mf_rating *v;
    float *bu, *bi;          /* biases by slot */
} mf_sgd;

static void sgd_clear(mf_sgd *t)
{
    free(t->uslot);
    free(t->islot);
    free(t->ptr);
    free(t->v);
    free(t->bu);
    free(t->bi);
    memset(t, 0, sizeof *t);
}

/* Deals n rows into B balanced random groups; writes each row's group and
 * its slot (groups contiguous, original order within a group). */
static reco_status deal(uint32_t n, uint32_t B, reco_xoshiro *g, uint16_t **group, uint32_t **slot)
{
    uint16_t *grp = malloc(((size_t)n + 1) * sizeof *grp);
    uint32_t *sl = malloc(((size_t)n + 1) * sizeof *sl);
    uint32_t *next = calloc((size_t)B + 1, sizeof *next);
    if (!grp || !sl || !next) {
        free(grp);
        free(sl);
        free(next);
        return RECO_ERR_NOMEM;
    }
    for (uint32_t j = 0; j < n; j++)
        grp[j] = (uint16_t)(j % B);
    for (uint32_t j = n; j > 1; j--) {
        uint32_t o = reco_xoshiro_below(g, j);
        uint16_t t = grp[j - 1];
        grp[j - 1] = grp[o];
        grp[o] = t;
    }
    for (uint32_t j = 0; j < n; j++)
        next[grp[j] + 1]++;
    for (uint32_t b = 0; b < B; b++)
        next[b + 1] += next[b];
    for (uint32_t j = 0; j < n; j++)
        sl[j] = next[grp[j]]++;
    free(next);
    *group = grp;
    *slot = sl;
    return RECO_OK;
}

static reco_status sgd_build(const reco_dataset *train, uint32_t B, reco_xoshiro *g, mf_sgd *t)
{
    const reco_csr *R = &train->by_user;
    const uint32_t nu = reco_dataset_n_users(train), ni = reco_dataset_n_items(train);
    memset(t, 0, sizeof *t);
    t->B = B;
    uint16_t *ug = NULL, *ig = NULL;
    uint64_t *fill = NULL;
    size_t nb = (size_t)B * B;
    if (deal(nu, B, g, &ug, &t->uslot) || deal(ni, B, g, &ig, &t->islot))
        goto oom;
    t->ptr = calloc(nb + 1, sizeof *t->ptr);
    fill = malloc(nb * sizeof *fill);
    t->v = reco_alloc_aligned((R->nnz + 1) * sizeof *t->v); /* written whole below */
    t->bu = big_calloc(((size_t)nu + 1) * sizeof(float));
    t->bi = big_calloc(((size_t)ni + 1) * sizeof(float));
    if (!t->ptr || !fill || !t->v || !t->bu || !t->bi)
        goto oom;
    for (uint32_t u = 0; u < nu; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
            t->ptr[(size_t)ug[u] * B + ig[R->idx[k]] + 1]++;
    for (size_t b = 0; b < nb; b++)
        t->ptr[b + 1] += t->ptr[b];
    memcpy(fill, t->ptr, nb * sizeof *fill);
    for (uint32_t u = 0; u < nu; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
            uint32_t i = R->idx[k];
            mf_rating *e = &t->v[fill[(size_t)ug[u] * B + ig[i]]++];
            e->u = u;
            e->i = i;
            e->bu = t->uslot[u];
            e->bi = t->islot[i];
            e->r = R->val[k];
        }
    free(fill);
    free(ug);
    free(ig);
    return RECO_OK;
oom:
    free(fill);
    free(ug);
    free(ig);
    sgd_clear(t);
    return RECO_ERR_NOMEM;
}

/* With threads=0 (automatic), a sub-epoch gets one thread per this many
 * ratings at most. */
#define SGD_MIN_RATINGS_PER_THREAD 100000

/* The number of groups B (B x B blocks, B of them run at once). The model
 * depends on B and the seed, never on the threads, so B comes from the data
 * alone: the smallest B >= 4 with B^2 SGD_MIN_RATINGS_PER_THREAD >= ratings
 * (at most 64), so that a sub-epoch has work for about B threads of that
 * many ratings each. Up to 1.6M ratings B is 4, as it was for one or two
 * threads. More blocks than needed cost cache locality (a user's ratings
 * are cut into more pieces): on 2M ratings B = 32 took 1.5 times the CPU
 * time of B = 4 on one thread. */
#define SGD_MAX_BLOCKS 64
static uint32_t sgd_blocks(uint64_t nnz)
{
    uint32_t B = 4;
    while (B < SGD_MAX_BLOCKS && (uint64_t)B * B * SGD_MIN_RATINGS_PER_THREAD < nnz)
        B++;
    return B;
}

/* Rows are prefetched this many ratings ahead, so that a miss to memory
 * (~100-300 ns) overlaps the updates of the ratings before it (~10-30 ns
 * each). */
#define PREFETCH_AHEAD 8

typedef struct sgd_args {
    float *P, *Q, *bu, *bi;
    uint32_t k, ld;
    float mu, lr, reg, reg_b;
} sgd_args;

/* One pass over a block; returns the sum of squared errors met. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static double sgd_block(const sgd_args *a, const mf_rating *v, uint64_t n)
{
    float *restrict P = a->P, *restrict Q = a->Q, *restrict bu = a->bu, *restrict bi = a->bi;
    const uint32_t k = a->k, ld = a->ld;
    const float mu = a->mu, lr = a->lr, reg = a->reg, reg_b = a->reg_b;
    const uint32_t lines = (k * (uint32_t)sizeof(float) + 63) / 64;
    double loss = 0;
    for (uint64_t j = 0; j < n; j++) {
        if (j + PREFETCH_AHEAD < n) {
            const mf_rating *ahead = &v[j + PREFETCH_AHEAD];
            const char *pp = (const char *)(P + (size_t)ahead->u * ld);
            const char *qq = (const char *)(Q + (size_t)ahead->i * ld);
            for (uint32_t l = 0; l < lines; l++) {
                __builtin_prefetch(pp + 64 * l, 1, 3);
                __builtin_prefetch(qq + 64 * l, 1, 3);
            }
            __builtin_prefetch(&bi[ahead->bi], 1, 3);
        }
        float *restrict p = P + (size_t)v[j].u * ld, *restrict q = Q + (size_t)v[j].i * ld;
        float *restrict b_u = bu + v[j].bu, *restrict b_i = bi + v[j].bi;
        float e = v[j].r - mu - *b_u - *b_i - reco_dot_inline(p, q, k);
        loss += (double)e * e;
        *b_u += lr * (e - reg_b * *b_u);
        *b_i += lr * (e - reg_b * *b_i);
#pragma omp simd
        for (uint32_t f = 0; f < k; f++) {
            float pf = p[f], qf = q[f];
            p[f] = pf + lr * (e * qf - reg * pf);
            q[f] = qf + lr * (e * pf - reg * qf);
        }
    }
    return loss;
}

static reco_status fit_sgd(const reco_mf_params *p, const reco_dataset *train,
                           const reco_fit_ctx *ctx, int threads, mf_state *st, reco_error *err)
{
    const reco_csr *R = &train->by_user;
    reco_xoshiro g;
    reco_xoshiro_seed(&g, p->seed, 0x5347440000000001ull);
    const uint32_t B = sgd_blocks(R->nnz);
    /* Every sub-epoch ends in a barrier. With threads chosen automatically,
     * small data (MovieLens 100K: 20,000 ratings a sub-epoch, about a
     * millisecond) runs on fewer threads: the barriers would cost more than
     * the parallelism gives, much more when the cores are shared. More
     * threads than blocks would idle. The model is the same: it depends on
     * B only, and each block is one thread's serial pass over rows no other
     * block of its sub-epoch touches. */
    int team = threads > (int)B ? (int)B : threads;
    if (p->threads == 0) {
        uint64_t per_thread = R->nnz / B / SGD_MIN_RATINGS_PER_THREAD;
        if ((uint64_t)team > per_thread)
            team = per_thread > 1 ? (int)per_thread : 1;
    }
    mf_sgd t;
    double *block_loss = calloc((size_t)B * B, sizeof *block_loss);
    uint32_t *order = malloc((size_t)B * sizeof *order), *cperm = malloc((size_t)B * sizeof *cperm);
    if (!block_loss || !order || !cperm || sgd_build(train, B, &g, &t)) {
        free(block_loss);
        free(order);
        free(cperm);
        return reco_error_set(err, RECO_ERR_NOMEM, "mf: out of memory for %s ratings",
                              RECO_THOUSANDS(R->nnz));
    }
    reco_progress_report(&ctx->progress, "sgd", 0, (uint64_t)p->epochs);
    sgd_args a = {st->P, st->Q, t.bu, t.bi, st->k, st->ld,
                  st->mu, (float)p->lr, (float)p->reg, (float)p->reg_bias};
    reco_status rc = RECO_OK;
    for (int ep = 0; ep < p->epochs; ep++) {
        /* This epoch's Latin square: sub-epoch s (in a random order) runs
         * blocks (r, cperm[(r + s) mod B]) for every user group r. */
        for (uint32_t j = 0; j < B; j++)
            order[j] = cperm[j] = j;
        for (uint32_t j = B; j > 1; j--) {
            uint32_t o = reco_xoshiro_below(&g, j), x = order[j - 1];
            order[j - 1] = order[o];
            order[o] = x;
            o = reco_xoshiro_below(&g, j);
            x = cperm[j - 1];
            cperm[j - 1] = cperm[o];
            cperm[o] = x;
        }
        for (uint32_t s = 0; s < B; s++) {
            uint32_t shift = order[s];
#pragma omp parallel for schedule(dynamic, 1) num_threads(team)
            for (uint32_t r = 0; r < B; r++) {
                size_t b = (size_t)r * B + cperm[(r + shift) % B];
                block_loss[b] = sgd_block(&a, t.v + t.ptr[b], t.ptr[b + 1] - t.ptr[b]);
            }
        }
        double loss = 0;
        for (size_t b = 0; b < (size_t)B * B; b++)
            loss += block_loss[b];
        st->train_rmse = sqrt(loss / (double)R->nnz);
        st->epochs_run = ep + 1;
        if (!isfinite(loss)) {
            rc = reco_error_set(err, RECO_ERR_NUMERIC,
                                "mf: SGD diverged in epoch %d (lr=%g is too large)", ep + 1,
                                p->lr);
            break;
        }
        reco_progress_report(&ctx->progress, "sgd", (uint64_t)ep + 1, (uint64_t)p->epochs);
    }
    for (uint32_t u = 0; u < st->n_users; u++)
        st->bu[u] = t.bu[t.uslot[u]];
    for (uint32_t i = 0; i < st->n_items; i++)
        st->bi[i] = t.bi[t.islot[i]];
    free(block_loss);
    free(order);
    free(cperm);
    sgd_clear(&t);
    return rc;
}

/* ---- ALS ---- */

/* One half-step: every row of `rows` (CSR) solved against the other side
 * (factors F, biases ob). */
static reco_status als_half(const reco_csr *rows, const float *F, const float *ob,
                            uint32_t n_other, const mf_state *st, float *out_b, float *out_M,
                            int threads)
{
    const size_t scr = ridge_scratch_floats(st->k);
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        float *scratch = malloc(scr * sizeof(float));
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 256)
        for (int64_t r = 0; r < (int64_t)rows->n_rows; r++) {
            if (!scratch)
                continue;
            uint64_t b = rows->ptr[r], e = rows->ptr[r + 1];
            if (b == e)
                continue;
            if (ridge_row(F, ob, st->ld, st->k, st->mu, n_other, rows->idx + b, rows->val + b,
                          (uint32_t)(e - b), st->params.reg, st->params.reg_bias, &out_b[r],
                          out_M + (size_t)r * st->ld, scratch)) {
#pragma omp atomic write
                failed = 2;
            }
        }
        free(scratch);
    }
    return failed == 1 ? RECO_ERR_NOMEM : failed ? RECO_ERR_NUMERIC : RECO_OK;
}

typedef struct als_loss_job {
    const reco_csr *R;
    const mf_state *st;
} als_loss_job;

/* Squared training errors of users [begin, end). */
static void als_loss_rows(void *ctx, uint64_t begin, uint64_t end, double *sums)
{
    const als_loss_job *j = ctx;
    const reco_csr *R = j->R;
    const mf_state *st = j->st;
    for (uint64_t u = begin; u < end; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
            uint32_t i = R->idx[k];
            double e = R->val[k] - st->mu - st->bu[u] - st->bi[i] -
                       reco_dot_inline(st->P + (size_t)u * st->ld, st->Q + (size_t)i * st->ld, st->k);
            sums[0] += e * e;
        }
}

static reco_status fit_als(const reco_mf_params *p, const reco_dataset *train,
                           const reco_fit_ctx *ctx, int threads, mf_state *st, reco_error *err)
{
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    for (int ep = 0; ep < p->epochs; ep++) {
        reco_status rc = als_half(R, st->Q, st->bi, st->n_items, st, st->bu, st->P, threads);
        if (!rc)
            rc = als_half(C, st->P, st->bu, st->n_users, st, st->bi, st->Q, threads);
        if (rc == RECO_ERR_NOMEM)
            return reco_error_set(err, rc, "out of memory");
        if (rc)
            return reco_error_set(err, rc, "mf: an ALS system is singular in epoch %d (raise reg)",
                                  ep + 1);
        st->epochs_run = ep + 1;
        reco_progress_report(&ctx->progress, "als", (uint64_t)ep + 1, (uint64_t)p->epochs);
    }
    als_loss_job j = {R, st};
    double loss;
    reco_parallel_sums(R->n_rows, 1024, 1, als_loss_rows, &j, threads, &loss);
    st->train_rmse = R->nnz ? sqrt(loss / (double)R->nnz) : 0;
    return RECO_OK;
}

/* The user's bias and factors for prof (trained, or folded in). */
static reco_status user_vector(const mf_state *st, const reco_profile *prof, void *scratch,
                               float *b, const float **x, reco_error *err)
{
    if (!prof->updated && prof->user < st->n_users) {
        *b = st->bu[prof->user];
        *x = st->P + (size_t)prof->user * st->ld;
        return RECO_OK;
    }
    float *fold = (float *)((char *)scratch + reco_mf_fold_in_scratch_size(st));
    reco_status rc = reco_mf_fold_in(st, prof->items, prof->ratings, prof->n, b, fold, scratch,
                                     err);
    *x = fold;
    return rc;
}

/* Top-N exactly as score() + selection would give it, through the pruned
 * walk of reco/factor_index.h: on Electronics-shaped data about 2% of the
 * catalogue is scored. */
static reco_status mf_recommend(const void *s, const reco_dataset *train,
                                const reco_baseline *base, const reco_profile *prof, size_t n,
                                const reco_item_filter *f, reco_scored *out, size_t *n_out,
                                void *scratch, reco_error *err)
{
    (void)train;
    (void)base;
    const mf_state *st = s;
    *n_out = 0;
    float b = 0;
    const float *x;
    reco_status rc = user_vector(st, prof, scratch, &b, &x, err);
    if (rc)
        return rc;
    *n_out = reco_factor_index_topn_filter(&st->index, x, st->mu + b, n, f, out);
    return RECO_OK;
}

/* Predictions of a few items for a profile (a served list's
 * predicted_rating): one fold-in, one dot product per item, instead of
 * scoring the catalogue. */
static reco_status mf_rating_items(const void *s, const reco_dataset *train,
                                   const reco_baseline *base, const reco_profile *prof,
                                   const uint32_t *items, size_t n, float *out, void *scratch,
                                   reco_error *err)
{
    (void)train;
    (void)base;
    const mf_state *st = s;
    float b = 0;
    const float *x;
    reco_status rc = user_vector(st, prof, scratch, &b, &x, err);
    if (rc)
        return rc;
    for (size_t k = 0; k < n; k++) {
        uint32_t i = items[k];
        out[k] = i < st->n_items ? st->mu + b + st->bi[i] +
                                       reco_dot_inline(x, st->Q + (size_t)i * st->ld, st->k)
                                 : NAN;
    }
    return RECO_OK;
}

/* ---- fit, predict, score, item factors ---- */

static reco_status mf_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                          void **state, reco_error *err)
{
    const reco_mf_params *p = pp;
    reco_status rc = reco_mf_params_check(p, err);
    if (rc)
        return rc;
    const reco_csr *R = &train->by_user;
    if (R->nnz == 0)
        return reco_error_set(err, RECO_ERR_EMPTY, "mf: no training ratings");
    int threads = p->threads ? p->threads : ctx->threads ? ctx->threads : omp_get_max_threads();
    mf_state *st = state_new(p, reco_dataset_n_users(train), reco_dataset_n_items(train));
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "mf: out of memory for %u x %u factors",
                              reco_dataset_n_users(train), reco_dataset_n_items(train));
    double sum = 0; /* in order: a threaded sum would vary with the threads */
    for (uint64_t j = 0; j < R->nnz; j++)
        sum += R->val[j];
    st->mu = (float)(sum / (double)R->nnz);
    reco_factors_init_rows(st->P, R, st->k, st->ld, (float)p->init_std, p->seed, 0x50, threads);
    reco_factors_init_rows(st->Q, &train->by_item, st->k, st->ld, (float)p->init_std, p->seed, 0x51,
                 threads);
    rc = p->solver == RECO_MF_ALS ? fit_als(p, train, ctx, threads, st, err)
                                  : fit_sgd(p, train, ctx, threads, st, err);
    if (rc) {
        mf_free(st);
        return rc;
    }
#pragma omp parallel for schedule(static, 4096) num_threads(threads)
    for (int64_t i = 0; i < (int64_t)st->n_items; i++) {
        const float *q = st->Q + (size_t)i * st->ld;
        float nn = reco_dot_inline(q, q, st->k);
        st->q_inv_norm[i] = nn > 0 ? 1.0f / sqrtf(nn) : 0.0f;
    }
    rc = reco_factor_index_build(
        &st->index, st->Q, st->bi, NULL, st->n_items, st->k, st->ld,
        reco_factor_index_typical_norm(st->P, st->n_users, st->k, st->ld), err);
    if (rc) {
        mf_free(st);
        return rc;
    }
    *state = st;
    return RECO_OK;
}

static float mf_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                        uint32_t u, uint32_t i)
{
    (void)train;
    (void)base;
    const mf_state *st = s;
    if (u >= st->n_users || i >= st->n_items)
        return NAN;
    return st->mu + st->bu[u] + st->bi[i] +
           reco_dot_inline(st->P + (size_t)u * st->ld, st->Q + (size_t)i * st->ld, st->k);
}

static size_t mf_scratch_size(const void *s, const reco_dataset *train)
{
    (void)train;
    const mf_state *st = s;
    /* fold-in scratch, then the folded-in row */
    return reco_mf_fold_in_scratch_size(st) + st->ld * sizeof(float) + 64;
}

static reco_status mf_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                            const reco_profile *prof, float *scores, void *scratch,
                            reco_error *err)
{
    (void)train;
    (void)base;
    const mf_state *st = s;
    float b = 0;
    const float *x;
    reco_status rc = user_vector(st, prof, scratch, &b, &x, err);
    if (rc)
        return rc;
    const float base_u = st->mu + b;
    for (uint32_t i = 0; i < st->n_items; i++)
        scores[i] = base_u + st->bi[i];
    reco_rows_dot(st->Q, st->n_items, st->k, st->ld, x, scores);
    return RECO_OK;
}

/* The product vectors for similar products (cosine of the rows of Q). */
static bool mf_item_factors(const void *s, reco_item_factors *f)
{
    const mf_state *st = s;
    *f = (reco_item_factors){st->Q, st->q_inv_norm, NULL, st->n_items, st->k, st->ld};
    return true;
}

/* ---- model files ---- */

/* Contents version of mf.meta. */
#define MF_FORMAT 1

static reco_status mf_save(const void *params, const void *s, const reco_dataset *train,
                           reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    (void)train;
    const mf_state *st = s;
    reco_mfile_meta *meta = reco_mfile_meta_new(MF_FORMAT);
    reco_mfile_meta_put_u64(meta, "n_users", st->n_users);
    reco_mfile_meta_put_u64(meta, "n_items", st->n_items);
    reco_mfile_meta_put_u64(meta, "k", st->k);
    reco_mfile_meta_put_u64(meta, "ld", st->ld);
    reco_mfile_meta_put_f64(meta, "mu", st->mu);
    reco_mfile_meta_put_i64(meta, "epochs_run", st->epochs_run);
    reco_mfile_meta_put_f64(meta, "train_rmse", st->train_rmse);
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, "mf.meta", meta, err)) ||
        (rc = reco_mfile_add(w, "mf.bu", st->bu, (uint64_t)st->n_users * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "mf.bi", st->bi, (uint64_t)st->n_items * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "mf.P", st->P, (uint64_t)st->n_users * st->ld * sizeof(float),
                             err)) ||
        (rc = reco_mfile_add(w, "mf.Q", st->Q, (uint64_t)st->n_items * st->ld * sizeof(float),
                             err)))
        return rc;
    /* Derived, but stored: recomputing them would cost load time. */
    if ((rc = reco_mfile_add(w, "mf.qnorm", st->q_inv_norm,
                             (uint64_t)st->n_items * sizeof(float), err)))
        return rc;
    return reco_factor_index_save(&st->index, w, "mf.", err);
}

static reco_status mf_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                           void **state, reco_error *err)
{
    const reco_mf_params *p = params;
    const uint32_t nu = reco_dataset_n_users(train), ni = reco_dataset_n_items(train);
    const uint32_t k = (uint32_t)p->factors;
    reco_mfile_meta *meta = NULL;
    uint32_t ld = 0, ignored;
    float mu = 0;
    int epochs_run = 0;
    double train_rmse = 0;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "mf.meta", MF_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_users", nu, nu, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_items", ni, ni, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "k", k, k, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "ld", k, k + 15, &ld, err)) ||
        (rc = reco_mfile_meta_get_f32(meta, "mu", -FLT_MAX, FLT_MAX, &mu, err)) ||
        (rc = reco_mfile_meta_get_int(meta, "epochs_run", 0, INT_MAX, &epochs_run, err)) ||
        (rc = reco_mfile_meta_get_f64_nan(meta, "train_rmse", 0, INFINITY, &train_rmse, err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    if (ld % 16 != 0)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: section \"mf.meta\": key \"ld\" is %u, "
                              "not a multiple of 16", reco_mfile_path(f), ld);
    const void *bu, *bi, *P, *Q, *qn;
    if ((rc = reco_mfile_array(f, "mf.bu", nu, sizeof(float), &bu, err)) ||
        (rc = reco_mfile_array(f, "mf.bi", ni, sizeof(float), &bi, err)) ||
        (rc = reco_mfile_matrix(f, "mf.P", nu, ld, sizeof(float), &P, err)) ||
        (rc = reco_mfile_matrix(f, "mf.Q", ni, ld, sizeof(float), &Q, err)) ||
        (rc = reco_mfile_array(f, "mf.qnorm", ni, sizeof(float), &qn, err)))
        return rc;
    reco_factor_index ix;
    if ((rc = reco_factor_index_load(&ix, f, "mf.", ni, k, ld, err)))
        return rc;
    mf_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *p;
    st->n_users = nu;
    st->n_items = ni;
    st->k = k;
    st->ld = ld;
    st->mu = mu;
    st->train_rmse = train_rmse;
    st->epochs_run = epochs_run;
    st->bu = (float *)bu;
    st->bi = (float *)bi;
    st->P = (float *)P;
    st->Q = (float *)Q;
    st->q_inv_norm = (float *)qn;
    st->index = ix;
    st->mapped = true;
    *state = st;
    return RECO_OK;
}

static bool mf_predicts_ratings(const void *p)
{
    (void)p;
    return true;
}

static const char *mf_score_kind(const void *p, const void *state)
{
    (void)state;
    (void)p;
    return "rating_estimate";
}

static const struct reco_factor_index *mf_topn_index(const void *s)
{
    return &((const mf_state *)s)->index;
}

const reco_algo_ops reco_algo_mf = {
    .scores_are_ratings = true,
    .rating_items = mf_rating_items,
    .predicts_ratings = mf_predicts_ratings,
    .score_kind = mf_score_kind,
    .name = "mf",
    .summary = "biased matrix factorisation (Funk SVD) by parallel SGD or ALS",
    .params_size = sizeof(reco_mf_params),
    .params_default = mf_default,
    .param_set = mf_set,
    .params_check = mf_check,
    .params_format = mf_format,
    .param_fields = mf_fields,
    .fit = mf_fit,
    .free_state = mf_free,
    .predict = mf_predict,
    .score = mf_score,
    .scratch_size = mf_scratch_size,
    .item_factors = mf_item_factors,
    .recommend = mf_recommend,
    .topn_index = mf_topn_index,
    .save = mf_save,
    .load = mf_load,
};

const reco_mf_state *reco_mf_state_of(const reco_model *m)
{
    if (!m || m->ops != &reco_algo_mf)
        return NULL;
    return m->state;
}
