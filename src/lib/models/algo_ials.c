/* "ials": implicit-feedback ALS with conjugate-gradient or Cholesky row
 * solves and frequency-scaled regularisation. See include/reco/ials.h for
 * the model; this file fits it, scores with it (through the shared pruned
 * top-N of factor_index), folds users in, explains, and saves and maps it. */
#include "reco/ials.h"

#include <lapacke.h>
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

/* ---- parameters ---- */

void reco_ials_params_default(reco_ials_params *p)
{
    /* Chosen with `reco tune` on the training part of MovieLens 100K fold
     * u1 only (validation: each user's latest 20% of u1.base; u1.test never
     * seen), two random searches of 100 and 60 trials that agreed on
     * unobserved ~2e4, alpha ~13, reg ~0.012, conf=rating; factors 64 is
     * within 0.5% of 128 on that validation at half the cost. See
     * docs/benchmarks.md for the held-out figures. */
    p->factors = 64;
    p->iterations = 15;
    p->alpha = 12;
    p->conf = RECO_IALS_CONF_RATING;
    p->reg = 0.012;
    p->reg_exp = 1;
    p->unobserved = 20000;
    p->solver = RECO_IALS_CG;
    p->cg_steps = 3;
    p->init_std = 0.1;
    p->seed = 1;
    p->threads = 0;
    p->min_rating = -INFINITY;
}

static void ials_default(void *p) { reco_ials_params_default(p); }

static const char *const CONF_NAMES[] = {"const", "rating", "above_mean"};
static const char *const SOLVER_NAMES[] = {"cg", "cholesky"};

static reco_status ials_set(void *pp, const char *key, const char *value, reco_error *err)
{
    reco_ials_params *p = pp;
    if (!strcmp(key, "factors"))
        return reco_param_int("ials", key, value, 1, 1024, &p->factors, err);
    if (!strcmp(key, "iterations"))
        return reco_param_int("ials", key, value, 1, 1000, &p->iterations, err);
    if (!strcmp(key, "cg_steps"))
        return reco_param_int("ials", key, value, 1, 64, &p->cg_steps, err);
    if (!strcmp(key, "threads"))
        return reco_param_int("ials", key, value, 0, 1024, &p->threads, err);
    if (!strcmp(key, "alpha"))
        return reco_param_double("ials", key, value, 0, 1e6, &p->alpha, err);
    if (!strcmp(key, "reg"))
        return reco_param_double("ials", key, value, 0, 1e9, &p->reg, err);
    if (!strcmp(key, "reg_exp"))
        return reco_param_double("ials", key, value, 0, 1, &p->reg_exp, err);
    if (!strcmp(key, "unobserved") || !strcmp(key, "init_std")) {
        double v, hi = key[0] == 'u' ? 1e9 : 10;
        reco_status rc = reco_param_double("ials", key, value, 0, hi, &v, err);
        if (rc)
            return rc;
        if (!(v > 0))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "ials.%s wants a number greater than 0 and at most %g, got \"%s\"",
                                  key, hi, value);
        *(key[0] == 'u' ? &p->unobserved : &p->init_std) = v;
        return RECO_OK;
    }
    if (!strcmp(key, "min_rating")) {
        if (!strcmp(value, "none")) {
            p->min_rating = -INFINITY;
            return RECO_OK;
        }
        return reco_param_double("ials", key, value, -1e9, 1e9, &p->min_rating, err);
    }
    if (!strcmp(key, "conf")) {
        for (int j = 0; j < 3; j++)
            if (!strcmp(value, CONF_NAMES[j])) {
                p->conf = (reco_ials_conf)j;
                return RECO_OK;
            }
        return reco_error_set(err, RECO_ERR_INVALID,
                              "ials.conf wants const, rating or above_mean, got \"%s\"", value);
    }
    if (!strcmp(key, "solver")) {
        for (int j = 0; j < 2; j++)
            if (!strcmp(value, SOLVER_NAMES[j])) {
                p->solver = (reco_ials_solver)j;
                return RECO_OK;
            }
        return reco_error_set(err, RECO_ERR_INVALID,
                              "ials.solver wants cg or cholesky, got \"%s\"", value);
    }
    if (!strcmp(key, "seed"))
        return reco_param_u64("ials", key, value, &p->seed, err);
    return reco_param_unknown("ials", key, err);
}

reco_status reco_ials_params_check(const reco_ials_params *p, reco_error *err)
{
#define RANGE(cond, fmt, v)                                                                   \
    if (!(cond))                                                                              \
        return reco_error_set(err, RECO_ERR_INVALID, fmt, v);
    RANGE(p->factors >= 1 && p->factors <= 1024, "ials.factors must be 1 to 1024, got %d",
          p->factors)
    RANGE(p->iterations >= 1 && p->iterations <= 1000, "ials.iterations must be 1 to 1000, got %d",
          p->iterations)
    RANGE(p->cg_steps >= 1 && p->cg_steps <= 64, "ials.cg_steps must be 1 to 64, got %d",
          p->cg_steps)
    RANGE(p->threads >= 0 && p->threads <= 1024, "ials.threads must be 0 to 1024, got %d",
          p->threads)
    RANGE(p->alpha >= 0 && p->alpha <= 1e6, "ials.alpha must be in [0, 1e6], got %g", p->alpha)
    RANGE(p->reg >= 0 && p->reg <= 1e9, "ials.reg must be in [0, 1e9], got %g", p->reg)
    RANGE(p->reg_exp >= 0 && p->reg_exp <= 1, "ials.reg_exp must be in [0, 1], got %g",
          p->reg_exp)
    RANGE(p->unobserved > 0 && p->unobserved <= 1e9, "ials.unobserved must be in (0, 1e9], got %g",
          p->unobserved)
    RANGE(p->init_std > 0 && p->init_std <= 10, "ials.init_std must be in (0, 10], got %g",
          p->init_std)
    RANGE(p->min_rating == -INFINITY || (p->min_rating >= -1e9 && p->min_rating <= 1e9),
          "ials.min_rating must be none or in [-1e9, 1e9], got %g", p->min_rating)
    RANGE((unsigned)p->conf <= RECO_IALS_CONF_ABOVE_MEAN, "ials.conf is invalid (%d)",
          (int)p->conf)
    RANGE((unsigned)p->solver <= RECO_IALS_CHOLESKY, "ials.solver is invalid (%d)",
          (int)p->solver)
#undef RANGE
    return RECO_OK;
}

static reco_status ials_check(const void *p, reco_error *err)
{
    return reco_ials_params_check(p, err);
}

static void ials_format(const void *pp, char *buf, size_t cap)
{
    const reco_ials_params *p = pp;
    char mr[32] = "none";
    if (p->min_rating != -INFINITY)
        reco_snprintf_c(mr, sizeof mr, "%g", p->min_rating);
    reco_snprintf_c(buf, cap,
             "factors=%d iterations=%d alpha=%g conf=%s reg=%g reg_exp=%g unobserved=%g solver=%s "
             "cg_steps=%d init_std=%g seed=%llu threads=%d min_rating=%s",
             p->factors, p->iterations, p->alpha, CONF_NAMES[p->conf], p->reg, p->reg_exp, p->unobserved,
             SOLVER_NAMES[p->solver], p->cg_steps, p->init_std, (unsigned long long)p->seed,
             p->threads, mr);
}

static const reco_param_field ials_fields[] = {
    RECO_PARAM_FIELD(reco_ials_params, factors, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ials_params, iterations, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ials_params, alpha, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ials_params, conf, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ials_params, reg, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ials_params, reg_exp, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ials_params, unobserved, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ials_params, solver, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ials_params, cg_steps, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ials_params, init_std, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ials_params, seed, RECO_PT_U64),
    RECO_PARAM_FIELD(reco_ials_params, threads, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ials_params, min_rating, RECO_PT_F64),
    {NULL, 0, 0, 0},
};

float reco_ials_confidence(const reco_ials_params *p, float r, float user_mean)
{
    float f = 1.0f;
    if (p->conf == RECO_IALS_CONF_RATING)
        f = r;
    else if (p->conf == RECO_IALS_CONF_ABOVE_MEAN)
        f = r > user_mean ? r - user_mean : 0.0f;
    return 1.0f + (float)p->alpha * f;
}

/* ---- state ---- */

typedef reco_ials_state ials_state;

static void ials_free(void *s)
{
    ials_state *st = s;
    if (!st)
        return;
    reco_factor_index_clear(&st->index);
    if (!st->mapped) {
        free(st->X);
        free(st->Y);
        free(st->YtY);
        free(st->y_inv_norm);
    }
    free(st);
}

/* ---- the training problem ---- */

/* What the sweeps read besides the factors: confidences in CSR and CSC
 * order, and each row's regularisation. */
typedef struct ials_problem {
    const reco_csr *R, *C;   /* by user, by item */
    float *conf_r, *conf_c;  /* [nnz] c_ui in R's and C's order */
    float *lam_u, *lam_i;    /* lambda of every user and product */
    uint32_t active_users, active_items;
    double w0;               /* weight of one unrated pair: unobserved / |I| */
    reco_csr own_r, own_c;   /* the interactions when min_rating drops some */
} ials_problem;

static void csr_free(reco_csr *c)
{
    free(c->ptr);
    free(c->idx);
    free(c->val);
}

/* The entries of src with a value >= t, as a new CSR (no timestamps). */
static int csr_filter(const reco_csr *src, float t, reco_csr *out)
{
    memset(out, 0, sizeof *out);
    out->n_rows = src->n_rows;
    out->n_cols = src->n_cols;
    out->ptr = malloc(((size_t)src->n_rows + 1) * sizeof *out->ptr);
    uint64_t nnz = 0;
    for (uint64_t k = 0; k < src->nnz; k++)
        nnz += src->val[k] >= t;
    out->idx = malloc((nnz + 1) * sizeof *out->idx);
    out->val = malloc((nnz + 1) * sizeof *out->val);
    if (!out->ptr || !out->idx || !out->val) {
        csr_free(out);
        return -1;
    }
    uint64_t m = 0;
    out->ptr[0] = 0;
    for (uint32_t r = 0; r < src->n_rows; r++) {
        for (uint64_t k = src->ptr[r]; k < src->ptr[r + 1]; k++)
            if (src->val[k] >= t) {
                out->idx[m] = src->idx[k];
                out->val[m++] = src->val[k];
            }
        out->ptr[r + 1] = m;
    }
    out->nnz = m;
    return 0;
}

static void problem_clear(ials_problem *pb)
{
    csr_free(&pb->own_r);
    csr_free(&pb->own_c);
    free(pb->conf_r);
    free(pb->conf_c);
    free(pb->lam_u);
    free(pb->lam_i);
    memset(pb, 0, sizeof *pb);
}

/* lambda = reg * W^nu with W the row's total weight in the loss: its
 * confidences plus w0 for every other active column. */
static float row_lambda(const reco_ials_params *p, double w0, double conf_sum, uint32_t n_row,
                        uint32_t active_other)
{
    double W = conf_sum + w0 * (double)(active_other - n_row);
    return (float)(p->reg * (p->reg_exp == 0 ? 1.0 : pow(W, p->reg_exp)));
}

static reco_status problem_build(const reco_ials_params *p, const reco_dataset *train,
                                 int threads, ials_problem *pb)
{
    memset(pb, 0, sizeof *pb);
    const reco_csr *all = &train->by_user, *R = all, *C = &train->by_item;
    if (p->min_rating != -INFINITY) {
        /* Ratings under min_rating are not interactions: unrated pairs. */
        if (csr_filter(R, (float)p->min_rating, &pb->own_r) ||
            csr_filter(C, (float)p->min_rating, &pb->own_c)) {
            problem_clear(pb);
            return RECO_ERR_NOMEM;
        }
        R = &pb->own_r;
        C = &pb->own_c;
    }
    pb->R = R;
    pb->C = C;
    pb->conf_r = malloc((R->nnz + 1) * sizeof(float));
    pb->conf_c = malloc((C->nnz + 1) * sizeof(float));
    pb->lam_u = malloc(((size_t)R->n_rows + 1) * sizeof(float));
    pb->lam_i = malloc(((size_t)C->n_rows + 1) * sizeof(float));
    float *mean = malloc(((size_t)R->n_rows + 1) * sizeof(float));
    if (!pb->conf_r || !pb->conf_c || !pb->lam_u || !pb->lam_i || !mean) {
        free(mean);
        problem_clear(pb);
        return RECO_ERR_NOMEM;
    }
    uint32_t au = 0, ai = 0;
    for (uint32_t u = 0; u < R->n_rows; u++)
        au += R->ptr[u + 1] > R->ptr[u];
    for (uint32_t i = 0; i < C->n_rows; i++)
        ai += C->ptr[i + 1] > C->ptr[i];
    pb->active_users = au;
    pb->active_items = ai;
    pb->w0 = p->unobserved / (ai ? ai : 1);
#pragma omp parallel for schedule(dynamic, 4096) num_threads(threads)
    for (int64_t u = 0; u < (int64_t)R->n_rows; u++) {
        /* The user's mean over all their ratings, kept or not. */
        double s = 0;
        for (uint64_t j = all->ptr[u]; j < all->ptr[u + 1]; j++)
            s += all->val[j];
        mean[u] = all->ptr[u + 1] > all->ptr[u]
                      ? (float)(s / (double)(all->ptr[u + 1] - all->ptr[u]))
                      : 0.0f;
        uint64_t b = R->ptr[u], e = R->ptr[u + 1];
        double cs = 0;
        for (uint64_t j = b; j < e; j++) {
            pb->conf_r[j] = reco_ials_confidence(p, R->val[j], mean[u]);
            cs += pb->conf_r[j];
        }
        pb->lam_u[u] = row_lambda(p, pb->w0, cs, (uint32_t)(e - b), ai);
    }
#pragma omp parallel for schedule(dynamic, 1024) num_threads(threads)
    for (int64_t i = 0; i < (int64_t)C->n_rows; i++) {
        double cs = 0;
        uint64_t b = C->ptr[i], e = C->ptr[i + 1];
        for (uint64_t j = b; j < e; j++) {
            pb->conf_c[j] = reco_ials_confidence(p, C->val[j], mean[C->idx[j]]);
            cs += pb->conf_c[j];
        }
        pb->lam_i[i] = row_lambda(p, pb->w0, cs, (uint32_t)(e - b), au);
    }
    free(mean);
    return RECO_OK;
}

/* ---- row solvers ----
 *
 * A half-sweep solves every row r (a user, or a product) against the other
 * side F: with G = w0 F^T F,
 *     (G + lam_r I + sum_j d_j f_j f_j^T) x_r = sum_j c_j f_j,  d_j = c_j - w0,
 * over the row's n entries j. Done as written, every row pays for products
 * with the dense k x k matrix G: with 4.2 million users that is most of the
 * work. So each half-sweep first changes the basis of the factor space to
 * G's eigenvectors, G = V diag(e) V^T (one k x k eigendecomposition), and
 * rotates F (and the warm starts) into it: F <- F V. Predictions x . y do
 * not change under a rotation applied to both sides, and in the new basis
 * G is diagonal, so a row's matrix is a diagonal plus n rank-one terms:
 *   - rows with few entries (most users) are solved exactly by the
 *     Woodbury identity in O(n^2 k + n^3), with no k x k work at all;
 *   - longer rows by conjugate gradient (warm-started from the previous
 *     solution, rotated) whose matrix products cost O(n k), or exactly by
 *     Cholesky (solver=cholesky).
 * The basis therefore changes at every half-sweep; the model file stores
 * whatever basis the last sweep left, with the Gram matrix of that Y. */

/* The row kernels work on whole padded rows: w = ld floats, a multiple of
 * 16 that the compiler is told about, so every loop is whole vectors. The
 * padding of factor rows and of the vectors here is zero and stays zero. */
static inline uint32_t width(uint32_t ld) { return ld / 16 * 16; }

/* y += a * x. */
__attribute__((always_inline)) static inline void axpy(float *restrict y, float a,
                                                       const float *restrict x, uint32_t w)
{
#pragma omp simd
    for (uint32_t f = 0; f < w; f++)
        y[f] += a * x[f];
}

/* Rows of the other side are read at random (a product's users are spread
 * over the whole user matrix): each is asked for this many entries ahead,
 * so that its misses overlap the work on the entries before it. */
#define PREFETCH_AHEAD 8

static inline void prefetch_row(const float *row, uint32_t ld)
{
    for (uint32_t l = 0; l < ld * sizeof(float); l += 64)
        __builtin_prefetch((const char *)row + l);
}

/* What a half-sweep knows besides the rows: the other side (rotated), the
 * eigenvalues e of its Gram matrix, the rotation V. */
typedef struct sweep {
    const float *F;      /* other side, in the eigenbasis */
    const float *e;      /* [ld] eigenvalues of w0 F^T F, >= 0, padding 0 */
    const float *V;      /* [k x ld] row c: coordinate c of each eigenvector */
    uint32_t k, ld;
    float w0;
} sweep;

/* Rows with at most this many entries are solved exactly by Woodbury. */
#define ILS_EXACT_MAX 24

/* Per-thread scratch of a half-sweep, in floats: the diagonal (ld), then
 * either the CG vectors (3 ld), the Cholesky system (k ld + ld) or
 * Woodbury's vectors u and 1/diagonal (2 ld) and n x n system in double
 * (n^2 + n doubles = 2 (n^2 + n) floats). */
static size_t sweep_scratch_floats(uint32_t k, uint32_t ld, bool chol)
{
    size_t a = chol ? (size_t)k * ld + ld : 3 * (size_t)ld;
    return a + 3 * (size_t)ld + 4 * (ILS_EXACT_MAX * ILS_EXACT_MAX + ILS_EXACT_MAX) + 64;
}

/* dl = e + lam (floored so that reg = 0 stays solvable). */
static inline void row_diag(const sweep *sw, float lam, float *dl)
{
    const uint32_t w = width(sw->ld);
    lam = lam > 1e-6f ? lam : 1e-6f;
#pragma omp simd
    for (uint32_t f = 0; f < w; f++)
        dl[f] = sw->e[f] + lam;
}

/* Exact solve of (diag(dl) + sum_j d_j z_j z_j^T) x = sum_j c_j z_j for
 * n <= ILS_EXACT_MAX entries (z_j the rows of the rotated F): with
 * u = diag(dl)^-1 b, x = u - diag(dl)^-1 Z^T t where t solves the n x n
 * system (I + diag(d) Z diag(dl)^-1 Z^T) t = diag(d) Z u (a form of the
 * Woodbury identity that allows d_j = 0). Its determinant is
 * det(A) / det(diag(dl)) > 0, so it is nonsingular; solved by Gaussian
 * elimination with partial pivoting in double. */
__attribute__((always_inline)) static inline void exact_row(const sweep *sw, const uint32_t *idx,
                                                            const float *conf, uint32_t n,
                                                            const float *dl, float *x,
                                                            float *fscratch)
{
    const uint32_t k = sw->k, ld = sw->ld, w = width(ld);
    float *u = fscratch, *dinv = u + ld;       /* ld each */
    double *S = (double *)(void *)(dinv + ld); /* n x n, then the right-hand side */
    double *t = S + (size_t)n * n;
    (void)k;
    memset(u, 0, w * sizeof *u);
    for (uint32_t j = 0; j < n; j++) {
        if (j + PREFETCH_AHEAD < n)
            prefetch_row(sw->F + (size_t)idx[j + PREFETCH_AHEAD] * ld, ld);
        axpy(u, conf[j], sw->F + (size_t)idx[j] * ld, w);
    }
#pragma omp simd
    for (uint32_t f = 0; f < w; f++) {
        dinv[f] = 1.0f / dl[f];
        u[f] *= dinv[f];
    }
    /* S = I + diag(d) K with K_jl = z_j diag(dl)^-1 z_l; t = diag(d) Z u. */
    for (uint32_t j = 0; j < n; j++) {
        const float *zj = sw->F + (size_t)idx[j] * ld;
        const double d = (double)conf[j] - sw->w0;
        for (uint32_t l = j; l < n; l++) {
            const float *zl = sw->F + (size_t)idx[l] * ld;
            reco_v16 acc = {0};
            for (uint32_t f = 0; f < w; f += 16)
                acc += RECO_V16(zj + f) * RECO_V16(zl + f) * RECO_V16(dinv + f);
            double kjl = reco_v16_sum(&acc);
            S[(size_t)j * n + l] = kjl;
            S[(size_t)l * n + j] = kjl;
        }
        t[j] = d * reco_dot_inline(zj, u, w);
    }
    for (uint32_t j = 0; j < n; j++) {
        const double d = (double)conf[j] - sw->w0;
        for (uint32_t l = 0; l < n; l++)
            S[(size_t)j * n + l] *= d;
        S[(size_t)j * n + j] += 1.0;
    }
    for (uint32_t c = 0; c < n; c++) {
        uint32_t piv = c;
        for (uint32_t r = c + 1; r < n; r++)
            if (fabs(S[(size_t)r * n + c]) > fabs(S[(size_t)piv * n + c]))
                piv = r;
        if (piv != c) {
            for (uint32_t l = 0; l < n; l++) {
                double tmp = S[(size_t)c * n + l];
                S[(size_t)c * n + l] = S[(size_t)piv * n + l];
                S[(size_t)piv * n + l] = tmp;
            }
            double tmp = t[c];
            t[c] = t[piv];
            t[piv] = tmp;
        }
        double inv = 1.0 / S[(size_t)c * n + c];
        for (uint32_t r = c + 1; r < n; r++) {
            double m = S[(size_t)r * n + c] * inv;
            if (m == 0)
                continue;
            for (uint32_t l = c; l < n; l++)
                S[(size_t)r * n + l] -= m * S[(size_t)c * n + l];
            t[r] -= m * t[c];
        }
    }
    for (uint32_t c = n; c-- > 0;) {
        double v = t[c];
        for (uint32_t l = c + 1; l < n; l++)
            v -= S[(size_t)c * n + l] * t[l];
        t[c] = v / S[(size_t)c * n + c];
    }
    /* x = u - diag(dl)^-1 sum_j t_j z_j */
    memset(x, 0, w * sizeof *x);
    for (uint32_t j = 0; j < n; j++)
        axpy(x, (float)t[j], sw->F + (size_t)idx[j] * ld, w);
#pragma omp simd
    for (uint32_t f = 0; f < w; f++)
        x[f] = u[f] - x[f] * dinv[f];
}

/* out = A v with A = diag(dl) + sum_j d_j z_j z_j^T. */
__attribute__((always_inline)) static inline void diag_matvec(const sweep *sw,
                                                              const uint32_t *idx,
                                                              const float *conf, uint32_t n,
                                                              const float *dl, const float *v,
                                                              float *out)
{
    const uint32_t w = width(sw->ld);
#pragma omp simd
    for (uint32_t f = 0; f < w; f++)
        out[f] = dl[f] * v[f];
    for (uint32_t j = 0; j < n; j++) {
        if (j + PREFETCH_AHEAD < n)
            prefetch_row(sw->F + (size_t)idx[j + PREFETCH_AHEAD] * sw->ld, sw->ld);
        const float *z = sw->F + (size_t)idx[j] * sw->ld;
        axpy(out, (conf[j] - sw->w0) * reco_dot_inline(z, v, w), z, w);
    }
}

/* Conjugate gradient on A x = b, b = sum_j c_j z_j, warm-started from x
 * (Takacs et al. 2011): `steps` steps, fewer if the residual vanishes.
 * scratch: 3 ld floats. */
__attribute__((always_inline)) static inline void cg_row(const sweep *sw, const uint32_t *idx,
                                                         const float *conf, uint32_t n,
                                                         const float *dl, int steps, float *x,
                                                         float *scratch)
{
    const uint32_t ld = sw->ld, w = width(ld);
    float *r = scratch, *p = r + ld, *Ap = p + ld;
    diag_matvec(sw, idx, conf, n, dl, x, Ap); /* r = b - A x */
#pragma omp simd
    for (uint32_t f = 0; f < w; f++)
        r[f] = -Ap[f];
    for (uint32_t j = 0; j < n; j++)
        axpy(r, conf[j], sw->F + (size_t)idx[j] * ld, w);
    memcpy(p, r, w * sizeof *p);
    float rs = reco_dot_inline(r, r, w);
    for (int s = 0; s < steps; s++) {
        if (rs < 1e-20f)
            break;
        diag_matvec(sw, idx, conf, n, dl, p, Ap);
        float pAp = reco_dot_inline(p, Ap, w);
        if (!(pAp > 0))
            break;
        float a = rs / pAp;
        axpy(x, a, p, w);
        axpy(r, -a, Ap, w);
        float rs_new = reco_dot_inline(r, r, w);
        float beta = rs_new / rs;
#pragma omp simd
        for (uint32_t f = 0; f < w; f++)
            p[f] = r[f] + beta * p[f];
        rs = rs_new;
    }
}

/* Scratch floats of form_system's output: the matrix and the right-hand
 * side. */
static size_t chol_scratch_floats(uint32_t k, uint32_t ld) { return (size_t)k * ld + ld; }

/* Forms A = G + lam I + sum_j (c_j - w0) F_j F_j^T into A (k rows of stride
 * ld) and b = sum_j c_j F_j into b. G NULL: diag(dl) instead of G + lam I. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void form_system(const float *G, const float *dl, const float *F, uint32_t k, uint32_t ld,
                        const uint32_t *idx, const float *conf, uint32_t n, float w0, float lam,
                        float *A, float *b)
{
    if (G) {
        memcpy(A, G, (size_t)k * ld * sizeof *A);
        for (uint32_t a = 0; a < k; a++)
            A[(size_t)a * ld + a] += lam > 1e-6f ? lam : 1e-6f;
    } else {
        memset(A, 0, (size_t)k * ld * sizeof *A);
        for (uint32_t a = 0; a < k; a++)
            A[(size_t)a * ld + a] = dl[a];
    }
    memset(b, 0, ld * sizeof *b);
    for (uint32_t j = 0; j < n; j++) {
        const float *y = F + (size_t)idx[j] * ld;
        float d = conf[j] - w0;
        for (uint32_t a = 0; a < k; a++)
            axpy(A + (size_t)a * ld, d * y[a], y, width(ld));
        axpy(b, conf[j], y, width(ld));
    }
}

/* x = A^-1 b by Cholesky for A and b made by form_system (A is overwritten
 * by its factor, b by x). Nonzero if A is not positive definite. */
static int chol_solve(float *A, float *b, uint32_t k, uint32_t ld)
{
    if (reco_cholesky(A, k, ld))
        return -1;
    reco_cholesky_solve(A, k, ld, b);
    return 0;
}

/* Solves one row into x (which holds the previous solution, in the old
 * basis). Returns nonzero if a Cholesky system is not positive definite. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static int solve_row(const reco_ials_params *p, const sweep *sw, const uint32_t *idx,
                     const float *conf, uint32_t n, float lam, float *x, float *scratch)
{
    const uint32_t k = sw->k, ld = sw->ld;
    float *dl = scratch, *rest = dl + ld;
    row_diag(sw, lam, dl);
    if (n <= ILS_EXACT_MAX) {
        exact_row(sw, idx, conf, n, dl, x, rest);
        return 0;
    }
    if (p->solver == RECO_IALS_CHOLESKY) {
        float *A = rest, *b = A + (size_t)k * ld;
        form_system(NULL, dl, sw->F, k, ld, idx, conf, n, sw->w0, lam, A, b);
        if (chol_solve(A, b, k, ld))
            return -1;
        memset(x, 0, ld * sizeof *x);
        memcpy(x, b, k * sizeof *x);
        return 0;
    }
    /* The warm start, into the new basis. */
    reco_vecmat_inline(sw->V, k, ld, x, rest);
    memcpy(x, rest, ld * sizeof *x);
    cg_row(sw, idx, conf, n, dl, p->cg_steps, x, rest);
    return 0;
}

/* Asks for the first rows of F that row r of `rows` will read, so their
 * misses overlap the work on the row before. */
static inline void prefetch_rows(const reco_csr *rows, int64_t r, const float *F, uint32_t ld)
{
    if (r >= (int64_t)rows->n_rows)
        return;
    uint64_t b = rows->ptr[r], e = rows->ptr[r + 1];
    if (e - b > 8)
        e = b + 8;
    for (uint64_t j = b; j < e; j++)
        prefetch_row(F + (size_t)rows->idx[j] * ld, ld);
}

/* Workspace of the half-sweeps, allocated once per fit. */
typedef struct sweep_ws {
    float *G;       /* k x ld: the Gram matrix of the side being solved against */
    float *G2;      /* k x ld: the Gram matrix of the side just solved */
    float *part;    /* per chunk of solved rows, its partial Gram matrix */
    size_t nchunks; /* chunks part has room for */
    double *Gd;     /* k x k, column-major, for the eigendecomposition */
    double *ev;     /* k eigenvalues */
    double *work;
    lapack_int *iwork;
    lapack_int lwork, liwork;
    float *V;       /* k x ld */
    float *e;       /* ld */
} sweep_ws;

static void sweep_ws_clear(sweep_ws *ws)
{
    free(ws->G);
    free(ws->G2);
    free(ws->part);
    free(ws->Gd);
    free(ws->ev);
    free(ws->work);
    free(ws->iwork);
    free(ws->V);
    free(ws->e);
    memset(ws, 0, sizeof *ws);
}

static int sweep_ws_init(sweep_ws *ws, uint32_t k, uint32_t ld, uint32_t max_rows)
{
    memset(ws, 0, sizeof *ws);
    ws->nchunks = reco_factors_gram_chunks(max_rows);
    ws->part = reco_alloc_aligned((ws->nchunks ? ws->nchunks : 1) * k * ld * sizeof(float));
    ws->G2 = reco_alloc_aligned((size_t)k * ld * sizeof(float));
    /* dsyevd's workspace for n = k with eigenvectors (LAPACK's formulas). */
    ws->lwork = 1 + 6 * (lapack_int)k + 2 * (lapack_int)k * (lapack_int)k;
    ws->liwork = 3 + 5 * (lapack_int)k;
    ws->G = reco_alloc_aligned((size_t)k * ld * sizeof(float));
    ws->Gd = malloc((size_t)k * k * sizeof(double));
    ws->ev = malloc((size_t)k * sizeof(double));
    ws->work = malloc((size_t)ws->lwork * sizeof(double));
    ws->iwork = malloc((size_t)ws->liwork * sizeof(lapack_int));
    ws->V = reco_alloc_aligned((size_t)k * ld * sizeof(float));
    ws->e = reco_alloc_aligned((size_t)ld * sizeof(float));
    if (!ws->G || !ws->G2 || !ws->part || !ws->Gd || !ws->ev || !ws->work || !ws->iwork ||
        !ws->V || !ws->e) {
        sweep_ws_clear(ws);
        return -1;
    }
    return 0;
}

/* Rotates the n rows of M by V in parallel (fixed chunks: any thread
 * count gives the same bytes). */
static void rotate_rows(float *M, uint32_t n, uint32_t k, uint32_t ld, const float *V, int threads)
{
    const int64_t chunks = ((int64_t)n + 4095) / 4096;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t c = 0; c < chunks; c++) {
        size_t r0 = (size_t)c * 4096, rn = n - r0 < 4096 ? n - r0 : 4096;
        reco_rows_vecmat(M + r0 * ld, rn, k, ld, V);
    }
}

/* One half-sweep: every row of `rows` (entries conf, regularisation lam)
 * solved into M against F, whose Gram matrix F^T F is ws->G; both end in
 * the eigenbasis of w0 F^T F, and ws->G2 is then M^T M in that basis. Rows
 * are solved in chunks of RECO_GRAM_CHUNK, and each chunk's share of M^T M
 * is summed right after, while its rows are in cache (the partials are
 * added in chunk order: the same result with any thread count). */
static reco_status half_sweep(const reco_ials_params *p, double w0, const reco_csr *rows,
                              const float *conf, const float *lam, float *F, uint32_t n_other,
                              float *M, uint32_t k, uint32_t ld, sweep_ws *ws, int threads,
                              reco_error *err)
{
    for (uint32_t a = 0; a < k; a++)
        for (uint32_t b = 0; b < k; b++)
            ws->Gd[(size_t)b * k + a] = w0 * (double)ws->G[(size_t)a * ld + b];
    if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)k, ws->Gd, (lapack_int)k,
                            ws->ev, ws->work, ws->lwork, ws->iwork, ws->liwork) != 0)
        return reco_error_set(err, RECO_ERR_NUMERIC,
                              "ials: the eigendecomposition of a %u x %u Gram matrix failed", k, k);
    /* Column j of Gd is eigenvector j: V[c][j] = Gd[j k + c]. */
    memset(ws->V, 0, (size_t)k * ld * sizeof(float));
    memset(ws->e, 0, ld * sizeof(float));
    for (uint32_t j = 0; j < k; j++) {
        ws->e[j] = ws->ev[j] > 0 ? (float)ws->ev[j] : 0.0f;
        for (uint32_t c = 0; c < k; c++)
            ws->V[(size_t)c * ld + j] = (float)ws->Gd[(size_t)j * k + c];
    }
    rotate_rows(F, n_other, k, ld, ws->V, threads);
    sweep sw = {F, ws->e, ws->V, k, ld, (float)w0};
    const size_t scr = sweep_scratch_floats(k, ld, p->solver == RECO_IALS_CHOLESKY);
    const size_t nchunks = reco_factors_gram_chunks(rows->n_rows), gsz = (size_t)k * ld;
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        unsigned fpmode = reco_ftz_begin();
        float *scratch = reco_alloc_aligned(scr * sizeof(float));
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t c = 0; c < nchunks; c++) {
            const uint32_t r0 = (uint32_t)(c * RECO_GRAM_CHUNK);
            const uint32_t r1 = rows->n_rows - r0 < RECO_GRAM_CHUNK ? rows->n_rows
                                                                     : r0 + RECO_GRAM_CHUNK;
            for (uint32_t r = r0; r < r1 && scratch; r++) {
                uint64_t b = rows->ptr[r], e = rows->ptr[r + 1];
                prefetch_rows(rows, (int64_t)r + 1, F, ld);
                if (b == e)
                    continue;
                if (solve_row(p, &sw, rows->idx + b, conf + b, (uint32_t)(e - b), lam[r],
                              M + (size_t)r * ld, scratch)) {
#pragma omp atomic write
                    failed = 2;
                }
            }
            float *part = ws->part + c * gsz;
            memset(part, 0, gsz * sizeof *part);
            reco_gram_add(M + (size_t)r0 * ld, r1 - r0, k, ld, part);
        }
        free(scratch);
        reco_ftz_end(fpmode);
    }
    if (failed == 1)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (failed)
        return reco_error_set(err, RECO_ERR_NUMERIC,
                              "ials: a row's system is not positive definite (raise ials.reg)");
    return reco_factors_gram_reduce(ws->part, nchunks, k, ld, ws->G2, err);
}

typedef struct objective_job {
    const ials_problem *pb;
    const float *X, *Y;
    uint32_t k, ld;
} objective_job;

/* The observed part and the users' regularisation over users [begin, end). */
static void objective_rows(void *ctx, uint64_t begin, uint64_t end, double *sums)
{
    const objective_job *o = ctx;
    const ials_problem *pb = o->pb;
    const reco_csr *R = pb->R;
    const double w0 = pb->w0;
    for (uint64_t u = begin; u < end; u++) {
        const float *x = o->X + (size_t)u * o->ld;
        for (uint64_t j = R->ptr[u]; j < R->ptr[u + 1]; j++) {
            double s = reco_dot_inline(x, o->Y + (size_t)R->idx[j] * o->ld, o->k);
            sums[0] += pb->conf_r[j] * (1 - s) * (1 - s) - w0 * s * s;
        }
        sums[1] += (double)pb->lam_u[u] * reco_dot_inline(x, x, o->k);
    }
}

/* The objective: sum over rated of c (1 - s)^2 - w0 s^2, plus w0 times the
 * sum of s^2 over all pairs (the trace of X^T X Y^T Y), plus the
 * regularisation. */
static double objective(const ials_problem *pb, const float *X, const float *Y, uint32_t nu,
                        uint32_t ni, uint32_t k, uint32_t ld, int threads, double all_pairs)
{
    const reco_csr *R = pb->R;
    const double w0 = pb->w0;
    objective_job job = {pb, X, Y, k, ld};
    double sums[2];
    reco_parallel_sums(R->n_rows, 1024, 2, objective_rows, &job, threads, sums);
    double obs = sums[0], reg = sums[1];
    for (uint32_t i = 0; i < ni; i++) {
        const float *y = Y + (size_t)i * ld;
        reg += (double)pb->lam_i[i] * reco_dot_inline(y, y, k);
    }
    double all = all_pairs;
    if (isnan(all)) {
        float *GX = malloc((size_t)k * ld * sizeof *GX), *GY = malloc((size_t)k * ld * sizeof *GY);
        if (GX && GY && !reco_factors_gram(X, nu, k, ld, threads, GX, NULL) &&
            !reco_factors_gram(Y, ni, k, ld, threads, GY, NULL)) {
            all = 0;
            for (uint32_t a = 0; a < k; a++)
                for (uint32_t b = 0; b < k; b++)
                    all += (double)GX[(size_t)a * ld + b] * GY[(size_t)a * ld + b];
        }
        free(GX);
        free(GY);
    }
    return obs + w0 * all + reg;
}

double reco_ials_loss(const reco_ials_state *s, const reco_dataset *train)
{
    ials_problem pb;
    if (problem_build(&s->params, train, 0, &pb))
        return NAN;
    double l = objective(&pb, s->X, s->Y, s->n_users, s->n_items, s->k, s->ld, 0, NAN);
    problem_clear(&pb);
    return l;
}

/* ---- fit ---- */

/* With threads chosen automatically, at most one thread per this many
 * ratings. */
#define ILS_MIN_RATINGS_PER_THREAD 200000

static reco_status ials_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                            void **state, reco_error *err)
{
    const reco_ials_params *p = pp;
    reco_status rc = reco_ials_params_check(p, err);
    if (rc)
        return rc;
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    if (R->nnz == 0)
        return reco_error_set(err, RECO_ERR_EMPTY, "ials: no training ratings");
    int threads = p->threads ? p->threads : ctx->threads ? ctx->threads : omp_get_max_threads();
    /* Each half-sweep ends in a barrier; on small data (MovieLens 100K: a
     * millisecond a half-sweep) more threads cost more in synchronisation,
     * much more on shared cores, than they save. The model is the same. */
    if (!p->threads && threads > 1 && R->nnz / ILS_MIN_RATINGS_PER_THREAD < (uint64_t)threads)
        threads = R->nnz / ILS_MIN_RATINGS_PER_THREAD > 1 ? (int)(R->nnz / ILS_MIN_RATINGS_PER_THREAD)
                                                            : 1;
    ials_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *p;
    st->n_users = R->n_rows;
    st->n_items = C->n_rows;
    st->k = (uint32_t)p->factors;
    st->ld = (st->k + 15) / 16 * 16;
    const uint32_t k = st->k, ld = st->ld;
    st->X = reco_alloc_aligned(((size_t)st->n_users + 1) * ld * sizeof(float));
    st->Y = reco_alloc_aligned(((size_t)st->n_items + 1) * ld * sizeof(float));
    st->YtY = reco_alloc_aligned((size_t)k * ld * sizeof(float));
    st->y_inv_norm = calloc((size_t)st->n_items + 1, sizeof(float));
    ials_problem pb;
    memset(&pb, 0, sizeof pb);
    if (!st->X || !st->Y || !st->YtY || !st->y_inv_norm ||
        problem_build(p, train, threads, &pb)) {
        ials_free(st);
        return reco_error_set(err, RECO_ERR_NOMEM,
                              "ials: out of memory for %u x %u factors of %u users and %u products",
                              k, k, st->n_users, st->n_items);
    }
    st->active_users = pb.active_users;
    st->active_items = pb.active_items;
    if (pb.R->nnz == 0) {
        rc = reco_error_set(err, RECO_ERR_EMPTY, "ials: no rating reaches min_rating=%g",
                            p->min_rating);
        goto fail;
    }
    /* The interactions (all ratings, or those >= min_rating). */
    R = pb.R;
    C = pb.C;
    /* Users start at zero (the first half-sweep solves them from Y);
     * products at small random values, std init_std / sqrt(k). */
    memset(st->X, 0, ((size_t)st->n_users + 1) * ld * sizeof(float));
    reco_factors_init_rows(st->Y, C, k, ld, (float)(p->init_std / sqrt((double)k)), p->seed,
                           0x1A15, threads);
    const float w0 = (float)pb.w0;
    st->w0 = pb.w0;
    sweep_ws ws;
    if (sweep_ws_init(&ws, k, ld, st->n_users > st->n_items ? st->n_users : st->n_items)) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* Y^T Y of the initial products; each half-sweep then leaves the Gram
     * matrix of the side it solved for the next. */
    if ((rc = reco_factors_gram(st->Y, st->n_items, k, ld, threads, ws.G, err))) {
        sweep_ws_clear(&ws);
        goto fail;
    }
    reco_progress_report(&ctx->progress, "ials", 0, (uint64_t)p->iterations);
    for (int it = 0; it < p->iterations; it++) {
        float *t;
        rc = half_sweep(p, pb.w0, R, pb.conf_r, pb.lam_u, st->Y, st->n_items, st->X, k, ld, &ws,
                        threads, err);
        t = ws.G, ws.G = ws.G2, ws.G2 = t; /* now X^T X */
        if (!rc)
            rc = half_sweep(p, pb.w0, C, pb.conf_c, pb.lam_i, st->X, st->n_users, st->Y, k, ld,
                            &ws, threads, err);
        t = ws.G, ws.G = ws.G2, ws.G2 = t; /* now Y^T Y */
        if (rc) {
            sweep_ws_clear(&ws);
            goto fail;
        }
        st->iterations_run = it + 1;
        reco_progress_report(&ctx->progress, "ials", (uint64_t)it + 1, (uint64_t)p->iterations);
    }
    /* For fold-in: w0 Y^T Y of the final Y (in the final basis). For the
     * objective: sum over all pairs of s^2 = trace(X^T X Y^T Y), and X^T X
     * in the final basis is diagonal: the last eigenvalues / w0. */
    double all_pairs = 0;
    for (uint32_t a = 0; a < k; a++) {
        all_pairs += (double)ws.e[a] / pb.w0 * ws.G[(size_t)a * ld + a];
        for (uint32_t b = 0; b < ld; b++)
            st->YtY[(size_t)a * ld + b] = w0 * ws.G[(size_t)a * ld + b];
    }
    sweep_ws_clear(&ws);
    st->loss = objective(&pb, st->X, st->Y, st->n_users, st->n_items, k, ld, threads, all_pairs);
    bool *active = malloc(((size_t)st->n_items + 1) * sizeof *active);
    if (!active) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < st->n_items; i++) {
        active[i] = C->ptr[i + 1] > C->ptr[i];
        const float *y = st->Y + (size_t)i * ld;
        float nn = reco_dot_inline(y, y, k);
        st->y_inv_norm[i] = active[i] && nn > 0 ? 1.0f / sqrtf(nn) : 0.0f;
    }
    rc = reco_factor_index_build(&st->index, st->Y, NULL, active, st->n_items, k, ld,
                                 reco_factor_index_typical_norm(st->X, st->n_users, k, ld), err);
    free(active);
    if (rc)
        goto fail;
    problem_clear(&pb);
    *state = st;
    return RECO_OK;
fail:
    problem_clear(&pb);
    ials_free(st);
    return rc;
}

/* ---- fold-in, scoring, explanations ---- */

size_t reco_ials_fold_in_scratch_size(const reco_ials_state *s)
{
    /* The system, its right-hand side, and per rating an index and a
     * confidence (at most RECO_IALS_FOLD_MAX ratings are used). */
    return (chol_scratch_floats(s->k, s->ld) + 64) * sizeof(float);
}

/* A profile's usable ratings: items with training ratings. Their
 * confidences need the user's mean over the whole profile. Writes at most
 * cap entries (the profile's first cap usable ones). */
static uint32_t usable_ratings(const ials_state *st, const uint32_t *items, const float *r, uint32_t n, uint32_t *idx,
                               float *conf, uint32_t cap)
{
    double s = 0;
    for (uint32_t j = 0; j < n; j++)
        s += r[j];
    float mean = n ? (float)(s / n) : 0.0f;
    uint32_t m = 0;
    for (uint32_t j = 0; j < n && m < cap; j++) {
        uint32_t i = items[j];
        if (i >= st->n_items || st->y_inv_norm[i] == 0 || r[j] < st->params.min_rating)
            continue;
        idx[m] = i;
        conf[m] = reco_ials_confidence(&st->params, r[j], mean);
        m++;
    }
    return m;
}

/* The factorised system of a user (Cholesky factor in A, in place) and the
 * solution x, for fold-in and explanations. idx/conf: the usable ratings. */
static int solve_user(const ials_state *st, const uint32_t *idx, const float *conf, uint32_t m,
                      float *A, float *x)
{
    const uint32_t k = st->k, ld = st->ld;
    double cs = 0;
    for (uint32_t j = 0; j < m; j++)
        cs += conf[j];
    float lam = row_lambda(&st->params, st->w0, cs, m, st->active_items);
    float *b = A + (size_t)k * ld;
    form_system(st->YtY, NULL, st->Y, k, ld, idx, conf, m, (float)st->w0, lam, A, b);
    if (chol_solve(A, b, k, ld))
        return -1;
    memset(x, 0, ld * sizeof *x);
    memcpy(x, b, k * sizeof *x);
    return 0;
}

/* Fold-in works on a profile's ratings in bounded memory: a user with more
 * ratings than this is solved on the first this-many usable ones. */
#define RECO_IALS_FOLD_MAX 100000

static reco_status fold_in_rows(const ials_state *st, const uint32_t *items, const float *r, uint32_t n, float *x,
                                 void *scratch, reco_error *err)
{
    memset(x, 0, st->ld * sizeof *x);
    uint32_t cap = n < RECO_IALS_FOLD_MAX ? n : RECO_IALS_FOLD_MAX;
    uint32_t *idx = malloc(((size_t)cap + 1) * sizeof *idx);
    float *conf = malloc(((size_t)cap + 1) * sizeof *conf);
    if (!idx || !conf) {
        free(idx);
        free(conf);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    uint32_t m = usable_ratings(st, items, r, n, idx, conf, cap);
    int bad = m ? solve_user(st, idx, conf, m, scratch, x) : 0;
    free(idx);
    free(conf);
    if (bad)
        return reco_error_set(err, RECO_ERR_NUMERIC,
                              "ials: the fold-in system of %u ratings is singular", m);
    return RECO_OK;
}

reco_status reco_ials_fold_in(const reco_ials_state *s, const uint32_t *items, const float *r,
                              uint32_t n, float *x, void *scratch, reco_error *err)
{
    return fold_in_rows(s, items, r, n, x, scratch, err);
}

/* The user's factors for prof: the trained row, or folded in. */
static reco_status user_vector(const ials_state *st, const reco_profile *prof, void *scratch, const float **x,
                               reco_error *err)
{
    if (!prof->updated && prof->user < st->n_users) {
        *x = st->X + (size_t)prof->user * st->ld;
        return RECO_OK;
    }
    float *fold = (float *)((char *)scratch + reco_ials_fold_in_scratch_size(st));
    *x = fold;
    return fold_in_rows(st, prof->items, prof->ratings, prof->n, fold, scratch, err);
}

static size_t ials_scratch_size(const void *s, const reco_dataset *train)
{
    (void)train;
    const ials_state *st = s;
    return reco_ials_fold_in_scratch_size(st) + st->ld * sizeof(float) + 64;
}

static float ials_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                          uint32_t u, uint32_t i)
{
    (void)s;
    (void)train;
    (void)base;
    (void)u;
    (void)i;
    return NAN; /* no rating prediction: the baseline answers */
}

static reco_status ials_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                              const reco_profile *prof, float *scores, void *scratch,
                              reco_error *err)
{
    (void)train;
    (void)base;
    const ials_state *st = s;
    const float *x;
    reco_status rc = user_vector(st, prof, scratch, &x, err);
    if (rc)
        return rc;
    memset(scores, 0, (size_t)st->n_items * sizeof *scores);
    reco_rows_dot(st->Y, st->n_items, st->k, st->ld, x, scores);
    /* Products without interactions (no training rating, or none >=
     * min_rating) are left out of the model. */
    for (uint32_t i = 0; i < st->n_items; i++)
        if (st->y_inv_norm[i] == 0)
            scores[i] = -INFINITY;
    return RECO_OK;
}

static reco_status ials_recommend(const void *s, const reco_dataset *train,
                                  const reco_baseline *base, const reco_profile *prof, size_t n,
                                  const reco_item_filter *f, reco_scored *out, size_t *n_out,
                                  void *scratch, reco_error *err)
{
    (void)train;
    (void)base;
    const ials_state *st = s;
    *n_out = 0;
    const float *x;
    reco_status rc = user_vector(st, prof, scratch, &x, err);
    if (rc)
        return rc;
    /* A zero vector (a user whose products all have zero factors: rated
     * once, by users who rated once, and regularised away) scores every
     * product 0: the model has no opinion, and says so with an empty list
     * (the caller falls back to the popularity ranking). */
    if (reco_dot(x, x, st->k) == 0)
        return RECO_OK;
    *n_out = reco_factor_index_topn_filter(&st->index, x, 0.0f, n, f, out);
    return RECO_OK;
}

/* The product vectors for similar products (cosine of the rows of Y). */
static bool ials_item_factors(const void *s, reco_item_factors *f)
{
    const ials_state *st = s;
    *f = (reco_item_factors){st->Y, st->y_inv_norm, NULL, st->n_items, st->k, st->ld};
    return true;
}

/* Hu et al. 2008, section 5: the score is a sum over the user's rated
 * products, s_uj = sum_i c_ui y_j^T A_u^-1 y_i, so product i's share of
 * recommending j is c_ui (A_u^-1 y_j) . y_i. The products with the largest
 * positive shares explain the recommendation. The user's system is formed
 * and factorised once for the whole list. */
static void ials_explain_list(const void *s, const reco_dataset *train, const reco_profile *prof,
                              const uint32_t *items, size_t n_items, size_t max, uint32_t *out,
                              uint32_t *counts)
{
    (void)train;
    const ials_state *st = s;
    memset(counts, 0, n_items * sizeof *counts);
    if (prof->n == 0 || max == 0 || n_items == 0)
        return;
    const uint32_t k = st->k, ld = st->ld;
    uint32_t cap = prof->n < RECO_IALS_FOLD_MAX ? prof->n : RECO_IALS_FOLD_MAX;
    uint32_t *idx = malloc(((size_t)cap + 1) * sizeof *idx);
    float *conf = malloc(((size_t)cap + 1) * sizeof *conf);
    float *A = reco_alloc_aligned(reco_ials_fold_in_scratch_size(st));
    float *x = malloc(((size_t)ld + 1) * sizeof *x);
    reco_scored *share = malloc(max * sizeof *share);
    if (!idx || !conf || !A || !x || !share)
        goto out;
    uint32_t m = usable_ratings(st, prof->items, prof->ratings, prof->n, idx, conf, cap);
    if (!m || solve_user(st, idx, conf, m, A, x))
        goto out;
    /* z = A^-1 y_j with the factor already in A, for each product. */
    float *z = A + (size_t)k * ld;
    for (size_t t = 0; t < n_items; t++) {
        uint32_t j = items[t];
        if (j >= st->n_items)
            continue;
        memcpy(z, st->Y + (size_t)j * ld, k * sizeof *z);
        reco_cholesky_solve(A, k, ld, z);
        reco_topn_heap h;
        reco_topn_init(&h, share, max);
        for (uint32_t q = 0; q < m; q++) {
            float c = conf[q] * reco_dot_inline(z, st->Y + (size_t)idx[q] * ld, k);
            if (c > 0 && idx[q] != j)
                reco_topn_push(&h, idx[q], c);
        }
        size_t got = reco_topn_finish(&h);
        for (size_t q = 0; q < got; q++)
            out[t * max + q] = share[q].id;
        counts[t] = (uint32_t)got;
    }
out:
    free(idx);
    free(conf);
    free(A);
    free(x);
    free(share);
}

static size_t ials_explain(const void *s, const reco_dataset *train, const reco_profile *prof,
                           uint32_t j, uint32_t *out, size_t max)
{
    uint32_t count = 0;
    ials_explain_list(s, train, prof, &j, 1, max, out, &count);
    return count;
}

/* ---- model files ---- */

/* Contents version of ials.meta. */
#define IALS_FORMAT 1

static reco_status ials_save(const void *params, const void *s, const reco_dataset *train,
                             reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    (void)train;
    const ials_state *st = s;
    reco_mfile_meta *meta = reco_mfile_meta_new(IALS_FORMAT);
    reco_mfile_meta_put_u64(meta, "n_users", st->n_users);
    reco_mfile_meta_put_u64(meta, "n_items", st->n_items);
    reco_mfile_meta_put_u64(meta, "k", st->k);
    reco_mfile_meta_put_u64(meta, "ld", st->ld);
    reco_mfile_meta_put_u64(meta, "active_users", st->active_users);
    reco_mfile_meta_put_u64(meta, "active_items", st->active_items);
    reco_mfile_meta_put_i64(meta, "iterations_run", st->iterations_run);
    reco_mfile_meta_put_f64(meta, "loss", st->loss);
    reco_mfile_meta_put_f64(meta, "w0", st->w0);
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, "ials.meta", meta, err)) ||
        (rc = reco_mfile_add(w, "ials.X", st->X, (uint64_t)st->n_users * st->ld * sizeof(float),
                             err)) ||
        (rc = reco_mfile_add(w, "ials.Y", st->Y, (uint64_t)st->n_items * st->ld * sizeof(float),
                             err)) ||
        (rc = reco_mfile_add(w, "ials.YtY", st->YtY, (uint64_t)st->k * st->ld * sizeof(float),
                             err)) ||
        (rc = reco_mfile_add(w, "ials.ynorm", st->y_inv_norm,
                             (uint64_t)st->n_items * sizeof(float), err)))
        return rc;
    return reco_factor_index_save(&st->index, w, "ials.", err);
}

static reco_status ials_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                             void **state, reco_error *err)
{
    const reco_ials_params *p = params;
    const uint32_t nu = reco_dataset_n_users(train), ni = reco_dataset_n_items(train);
    const uint32_t k = (uint32_t)p->factors;
    reco_mfile_meta *meta = NULL;
    uint32_t ld = 0, active_users = 0, active_items = 0, ignored;
    int iterations_run = 0;
    double loss = 0, w0 = 0;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "ials.meta", IALS_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_users", nu, nu, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_items", ni, ni, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "k", k, k, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "ld", k, k + 15, &ld, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "active_users", 0, nu, &active_users, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "active_items", 0, ni, &active_items, err)) ||
        (rc = reco_mfile_meta_get_int(meta, "iterations_run", 0, INT_MAX, &iterations_run,
                                      err)) ||
        (rc = reco_mfile_meta_get_f64_nan(meta, "loss", -INFINITY, INFINITY, &loss, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "w0", 0, INFINITY, &w0, err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    if (ld % 16 != 0)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: section \"ials.meta\": key \"ld\" is "
                              "%u, not a multiple of 16", reco_mfile_path(f), ld);
    const void *X, *Y, *G, *yn;
    if ((rc = reco_mfile_matrix(f, "ials.X", nu, ld, sizeof(float), &X, err)) ||
        (rc = reco_mfile_matrix(f, "ials.Y", ni, ld, sizeof(float), &Y, err)) ||
        (rc = reco_mfile_matrix(f, "ials.YtY", k, ld, sizeof(float), &G, err)) ||
        (rc = reco_mfile_array(f, "ials.ynorm", ni, sizeof(float), &yn, err)))
        return rc;
    ials_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if ((rc = reco_factor_index_load(&st->index, f, "ials.", ni, k, ld, err))) {
        free(st);
        return rc;
    }
    st->params = *p;
    st->n_users = nu;
    st->n_items = ni;
    st->k = k;
    st->ld = ld;
    st->active_users = active_users;
    st->active_items = active_items;
    st->iterations_run = iterations_run;
    st->loss = loss;
    st->w0 = w0;
    st->X = (float *)X;
    st->Y = (float *)Y;
    st->YtY = (float *)G;
    st->y_inv_norm = (float *)yn;
    st->mapped = true;
    *state = st;
    return RECO_OK;
}

static const char *ials_score_kind(const void *p, const void *state)
{
    (void)state;
    (void)p;
    return "preference";
}

static const struct reco_factor_index *ials_topn_index(const void *s)
{
    return &((const ials_state *)s)->index;
}

const reco_algo_ops reco_algo_ials = {
    .name = "ials",
    .summary = "implicit-feedback ALS (Hu et al. 2008): ranks products a user is likely to take",
    .scores_are_ratings = false,
    .score_kind = ials_score_kind, /* predicts_ratings NULL: the baseline predicts */
    .params_size = sizeof(reco_ials_params),
    .params_default = ials_default,
    .param_set = ials_set,
    .params_check = ials_check,
    .params_format = ials_format,
    .param_fields = ials_fields,
    .fit = ials_fit,
    .free_state = ials_free,
    .predict = ials_predict,
    .score = ials_score,
    .scratch_size = ials_scratch_size,
    .item_factors = ials_item_factors,
    .recommend = ials_recommend,
    .topn_index = ials_topn_index,
    .explain = ials_explain,
    .explain_list = ials_explain_list,
    .save = ials_save,
    .load = ials_load,
};

const reco_ials_state *reco_ials_state_of(const reco_model *m)
{
    if (!m || m->ops != &reco_algo_ials)
        return NULL;
    return m->state;
}
