/* Truncated SVD of an implicit operator with ARPACK (see reco/svd.h).
 *
 * The method is SciPy's svds(solver="arpack"): Lanczos (dsaupd/dseupd,
 * "LA" = largest eigenvalues) on the smaller Gram matrix BᵀB, where B is A
 * or Aᵀ so that B has at least as many rows as columns; then the other
 * side from W = B·Z (Z the Ritz vectors) by a thin SVD of W, as SciPy does
 * (rather than dividing B·Z by sqrt(λ)), so that both sides come out
 * orthonormal. See project() for how that thin SVD is computed. */
#include "reco/clock.h"
#include "reco/svd.h"
#include "reco/thousands.h"

#include <arpack.h>
#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rng.h"

/* ARPACK's reverse-communication state lives in SAVEd Fortran variables:
 * two runs interleaved on different threads would corrupt each other. This
 * lock is the one piece of process-wide state, and exists only for that. */
static pthread_mutex_t arpack_lock = PTHREAD_MUTEX_INITIALIZER;

void reco_tsvd_params_default(reco_tsvd_params *p)
{
    p->k = 20;
    p->tol = 0;
    p->maxiter = 0;
    p->ncv = 0;
    p->seed = 42;
}

reco_status reco_tsvd_params_check(const reco_tsvd_params *p, uint32_t m, uint32_t n,
                                   const char *prefix, const char *rows, const char *cols,
                                   reco_error *err)
{
    const char *pf = prefix ? prefix : "svd";
    const char *rn = rows ? rows : "rows", *cn = cols ? cols : "columns";
    bool dims = m > 0 && n > 0;
    uint32_t mn = m < n ? m : n;
    if (p->k < 1)
        return reco_error_set(err, RECO_ERR_INVALID, "%s.k = %d must be at least 1", pf, p->k);
    if (dims && (uint32_t)p->k >= mn)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.k = %d must be below min(%s, %s) = %u", pf, p->k, rn, cn, mn);
    if (!(p->tol >= 0) || !(p->tol < 1))
        return reco_error_set(err, RECO_ERR_INVALID, "%s.tol = %g must be in [0, 1)", pf, p->tol);
    if (p->maxiter < 0)
        return reco_error_set(err, RECO_ERR_INVALID, "%s.maxiter = %d must be >= 0 (0: auto)",
                              pf, p->maxiter);
    if (p->ncv < 0 || (p->ncv != 0 && p->ncv <= p->k))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.ncv = %d must be above k = %d (0: auto)", pf, p->ncv, p->k);
    if (dims && (uint32_t)p->ncv > mn)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.ncv = %d must be at most min(%s, %s) = %u (0: auto)", pf,
                              p->ncv, rn, cn, mn);
    return RECO_OK;
}

void reco_tsvd_clear(reco_tsvd *t)
{
    if (!t)
        return;
    free(t->s);
    free(t->u);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* Uniform(-1, 1) from splitmix64: ARPACK's own default start vector has
 * the same distribution, but its seed is a SAVEd variable that advances
 * from run to run, so runs would not repeat. */
static void start_vector(double *x, uint32_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (double)(reco_splitmix64(&s) >> 11) * 0x1.0p-52 - 1.0;
    }
}

static const char *saupd_info(int info)
{
    switch (info) {
    case 3: return "no shifts could be applied during the implicit restart (try a larger ncv)";
    case -8: return "error from LAPACK's tridiagonal eigenvalue calculation";
    case -9: return "the starting vector is zero";
    case -9999: return "could not build an Arnoldi factorization";
    default: return "invalid argument or internal error";
    }
}

/* The operator B (A or Aᵀ) and its Gram matrix BᵀB as ARPACK sees them. */
typedef struct gram {
    const reco_linop *A;
    bool transpose;  /* B = Aᵀ */
    double *tmp;     /* rows(B) scratch */
} gram;

static void b_mul(const gram *g, const double *x, double *y)
{
    if (g->transpose)
        g->A->rmatvec(g->A->ctx, x, y);
    else
        g->A->matvec(g->A->ctx, x, y);
}

static void bt_mul(const gram *g, const double *x, double *y)
{
    if (g->transpose)
        g->A->matvec(g->A->ctx, x, y);
    else
        g->A->rmatvec(g->A->ctx, x, y);
}

static bool all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

/* Lanczos on BᵀB: the k largest eigenvalues into lam and their Ritz
 * vectors into z (nb x k, column-major), both in ARPACK's ascending order.
 * Called with arpack_lock held, so the operator's callbacks must not call
 * reco_tsvd_compute themselves. */
static reco_status run_arpack(const gram *g, int nb, int k, int ncv, int maxiter, double tol,
                              uint64_t seed, double *lam, double *z, int *restarts,
                              int *products, double *product_s, reco_error *err)
{
    reco_status rc = RECO_OK;
    size_t lworkl = (size_t)ncv * ((size_t)ncv + 8);
    double *resid = malloc((size_t)nb * sizeof *resid);
    double *vb = malloc((size_t)nb * (size_t)ncv * sizeof *vb);
    double *workd = malloc(3 * (size_t)nb * sizeof *workd);
    double *workl = malloc(lworkl * sizeof *workl);
    int *select = calloc((size_t)ncv, sizeof *select);
    if (!resid || !vb || !workd || !workl || !select) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the Lanczos basis (%d x %d)",
                            nb, ncv);
        goto done;
    }
    start_vector(resid, (uint32_t)nb, seed);
    int iparam[11] = {0}, ipntr[14] = {0};
    iparam[0] = 1;        /* exact shifts */
    iparam[2] = maxiter;
    iparam[6] = 1;        /* mode 1: standard problem, OP = BᵀB */
    int ido = 0, info = 1; /* info = 1: resid holds our start vector */
    int nprod = 0;
    double tprod = 0;
    for (;;) {
        dsaupd_c(&ido, "I", nb, "LA", k, tol, resid, ncv, vb, nb, iparam, ipntr, workd, workl,
                 (int)lworkl, &info);
        if (ido == -1 || ido == 1) {
            const double *x = workd + ipntr[0] - 1;
            double *y = workd + ipntr[1] - 1;
            double t0 = reco_clock_s();
            if (g->A->gram) {
                g->A->gram(g->A->ctx, !g->transpose, x, y, g->tmp);
            } else {
                b_mul(g, x, g->tmp);
                bt_mul(g, g->tmp, y);
            }
            nprod++;
            tprod += reco_clock_s() - t0;
            if (!all_finite(y, (size_t)nb)) {
                /* Abandoning the run is safe: the next call starts with
                 * ido = 0, which resets ARPACK's saved state. */
                rc = reco_error_set(err, RECO_ERR_NUMERIC,
                                    "the matrix product gave NaN or infinity (non-finite "
                                    "values in the data?)");
                break;
            }
            continue;
        }
        if (ido == 99)
            break;
        rc = reco_error_set(err, RECO_ERR_INTERNAL, "ARPACK dsaupd asked for ido = %d", ido);
        break;
    }
    *restarts = iparam[2];
    *products = nprod;
    *product_s = tprod;
    if (rc)
        goto done;
    if (info == 1) {
        rc = reco_error_set(err, RECO_ERR_NUMERIC,
                            "ARPACK did not converge: %d of %d singular values after %d "
                            "restarts (%d products); raise maxiter or tol",
                            iparam[4], k, iparam[2], nprod);
        goto done;
    }
    if (info != 0) {
        rc = reco_error_set(err, RECO_ERR_NUMERIC, "ARPACK dsaupd failed (info = %d: %s)", info,
                            saupd_info(info));
        goto done;
    }
    dseupd_c(1, "A", select, lam, z, nb, 0.0, "I", nb, "LA", k, tol, resid, ncv, vb, nb, iparam,
             ipntr, workd, workl, (int)lworkl, &info);
    if (info != 0) {
        rc = reco_error_set(err, RECO_ERR_NUMERIC, "ARPACK dseupd failed (info = %d)", info);
        goto done;
    }
    if (iparam[4] < k) {
        rc = reco_error_set(err, RECO_ERR_NUMERIC,
                            "ARPACK converged on only %d of %d singular values", iparam[4], k);
        goto done;
    }
done:
    free(resid);
    free(vb);
    free(workd);
    free(workl);
    free(select);
    return rc;
}

/* w = w·M in place (w: rows x k column-major with leading dimension ld,
 * M: k x k), a block of rows at a time: w is the largest array, and a
 * second one that size would double the peak memory. */
static reco_status times_small(double *w, uint32_t rows, uint32_t ld, int k, const double *M)
{
    enum { BLOCK = 4096 };
    double *tmp = malloc((size_t)BLOCK * (size_t)k * sizeof *tmp);
    if (!tmp)
        return RECO_ERR_NOMEM;
    for (uint32_t r0 = 0; r0 < rows; r0 += BLOCK) {
        int nr = (int)(rows - r0 < BLOCK ? rows - r0 : BLOCK);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, nr, k, k, 1.0, w + r0, (int)ld,
                    M, k, 0.0, tmp, nr);
        for (int j = 0; j < k; j++)
            memcpy(w + (size_t)j * ld + r0, tmp + (size_t)j * nr, (size_t)nr * sizeof *w);
    }
    free(tmp);
    return RECO_OK;
}

/* Rows per QR block of the fallback. Also a workaround: OpenBLAS 0.3.21's
 * generic (PRESCOTT) dgemv_t kernel returns wrong sums for more than 2^21
 * rows when the data is not 16-byte aligned, which Householder QR always
 * hits (measured: dgeqrf + dorgqr of a 3M x 20 matrix gave |QᵀQ - I| =
 * 1e-3). Blocks of 2^20 rows stay clear of it. */
#define TSQR_ROWS (1u << 20)

/* Thin SVD of w (mb x k, column-major) by tall-skinny QR: each block of
 * rows W_i = Q_i·R_i, the stacked R_i = Q_s·R, R = Ur·S·Mᵀ; then
 * U = diag(Q_i)·Q_s·Ur overwrites w, S goes to s, Mᵀ to mt. Returns
 * LAPACK's info, or -1000 when out of memory. */
static int tsqr_svd(double *w, uint32_t mb, int k, double *s, double *mt)
{
    uint32_t nblk = mb / TSQR_ROWS > 0 ? mb / TSQR_ROWS : 1; /* the last block takes the rest */
    size_t kk = (size_t)k * (size_t)k, ls = (size_t)nblk * (size_t)k;
    double *tau = malloc((size_t)nblk * (size_t)k * sizeof *tau);
    double *st = calloc(ls * (size_t)k, sizeof *st), *taus = malloc((size_t)k * sizeof *taus);
    double *r = calloc(kk, sizeof *r), *ur = malloc(kk * sizeof *ur);
    double *gi = malloc(kk * sizeof *gi), *superb = malloc((size_t)k * sizeof *superb);
    int info = -1000;
    if (!tau || !st || !taus || !r || !ur || !gi || !superb)
        goto done;
    for (uint32_t b = 0; b < nblk; b++) {
        uint32_t r0 = b * TSQR_ROWS, rows = b + 1 < nblk ? TSQR_ROWS : mb - r0;
        info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)rows, k, w + r0, (int)mb, tau + b * k);
        if (info)
            goto done;
        for (int j = 0; j < k; j++)
            for (int i = 0; i <= j; i++)
                st[(size_t)j * ls + (size_t)b * k + i] = w[(size_t)j * mb + r0 + i];
    }
    info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)ls, k, st, (int)ls, taus);
    if (info)
        goto done;
    for (int j = 0; j < k; j++)
        for (int i = 0; i <= j; i++)
            r[(size_t)j * k + i] = st[(size_t)j * ls + i];
    info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'A', 'A', k, k, r, k, s, ur, k, mt, k, superb);
    if (!info)
        info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)ls, k, k, st, (int)ls, taus);
    if (info)
        goto done;
    for (uint32_t b = 0; b < nblk; b++) {
        uint32_t r0 = b * TSQR_ROWS, rows = b + 1 < nblk ? TSQR_ROWS : mb - r0;
        /* G_b = (rows b*k.. of Q_s)·Ur, then U_b = Q_b·G_b */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0,
                    st + (size_t)b * k, (int)ls, ur, k, 0.0, gi, k);
        info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)rows, k, k, w + r0, (int)mb, tau + b * k);
        if (info)
            goto done;
        if (times_small(w + r0, rows, mb, k, gi)) {
            info = -1000;
            goto done;
        }
    }
done:
    free(tau);
    free(st);
    free(taus);
    free(r);
    free(ur);
    free(gi);
    free(superb);
    return info;
}

/* The other side from the Ritz vectors Z (nb x k): W = B·Z, then the thin
 * SVD W = U_B·S·Mᵀ so that B·(Z·M) = U_B·S, i.e. V_B = Z·M. U_B goes into
 * w, S into s (descending), V_B into v.
 *
 * Usually through the k x k Gram matrix C = WᵀW = M·S²·Mᵀ (an eigen-
 * decomposition; then U_B = W·M·S⁻¹): level-3 BLAS over W, while a
 * Householder QR of a tall, skinny W runs mostly in level-2 panels and
 * took longer than the whole Lanczos run on the benchmark data. Squaring
 * loses accuracy for singular values far below the largest, so when
 * s_k < 1e-3·s_1 (rounding of order eps·(s_1/s_k)² would then show) the
 * thin SVD goes through QR instead (tsqr_svd). */
static reco_status project(const gram *g, uint32_t mb, uint32_t nb, int k, const double *z,
                           double *w, double *s, double *v, reco_error *err)
{
    size_t kk = (size_t)k * (size_t)k;
    double *c = malloc(kk * sizeof *c), *m = malloc(kk * sizeof *m);
    double *lam = malloc((size_t)k * sizeof *lam);
    reco_status rc = RECO_OK;
    int info = 0;
    if (!c || !m || !lam) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* One product per column: k more on top of the many Lanczos needed. */
    for (int j = 0; j < k; j++)
        b_mul(g, z + (size_t)j * nb, w + (size_t)j * mb);

    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, k, (int)mb, 1.0, w, (int)mb, 0.0, c, k);
    info = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', k, c, k, lam); /* ascending */
    if (info)
        goto done;
    for (int j = 0; j < k; j++)
        s[j] = sqrt(lam[k - 1 - j] > 0 ? lam[k - 1 - j] : 0);
    if (s[0] > 0 && s[k - 1] >= 1e-3 * s[0]) {
        /* M = the eigenvectors in descending order; U_B = W·(M·S⁻¹) */
        for (int j = 0; j < k; j++)
            for (int i = 0; i < k; i++)
                m[(size_t)j * k + i] = c[(size_t)(k - 1 - j) * k + i];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < k; i++)
                c[(size_t)j * k + i] = m[(size_t)j * k + i] / s[j];
        if (times_small(w, mb, mb, k, c)) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            goto done;
        }
    } else {
        info = tsqr_svd(w, mb, k, s, c); /* c = Mᵀ */
        if (info == -1000) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (info)
            goto done;
        for (int j = 0; j < k; j++)
            for (int i = 0; i < k; i++)
                m[(size_t)j * k + i] = c[(size_t)i * k + j];
    }
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)nb, k, k, 1.0, z, (int)nb, m, k,
                0.0, v, (int)nb);
done:
    if (!rc && info)
        rc = reco_error_set(err, RECO_ERR_NUMERIC,
                            "LAPACK failed on the %u x %d projection (info = %d)", mb, k, info);
    free(c);
    free(m);
    free(lam);
    return rc;
}

reco_status reco_tsvd_compute(const reco_linop *A, const reco_tsvd_params *p, reco_tsvd *out,
                      reco_error *err)
{
    memset(out, 0, sizeof *out);
    reco_status rc = reco_tsvd_params_check(p, A->m, A->n, NULL, NULL, NULL, err);
    if (rc)
        return rc;
    bool transpose = A->m < A->n;   /* the Gram side is the smaller one */
    uint32_t nb = transpose ? A->m : A->n;  /* columns of B */
    uint32_t mb = transpose ? A->n : A->m;  /* rows of B */
    int k = p->k;
    int ncv = p->ncv ? p->ncv : (2 * k + 1 > 20 ? 2 * k + 1 : 20);
    if ((uint32_t)ncv > nb)
        ncv = (int)nb;
    int maxiter = p->maxiter ? p->maxiter
                             : (nb > INT_MAX / 10 ? INT_MAX : 10 * (int)nb);
    /* ARPACK and LAPACK index with 32-bit integers. */
    if ((uint64_t)nb * (uint64_t)ncv > INT_MAX || (uint64_t)mb * (uint64_t)k > INT_MAX ||
        mb > INT_MAX)
        return reco_error_set(err, RECO_ERR_TOO_LARGE,
                              "matrix of %u x %u too large for ARPACK with ncv = %d, k = %d",
                              A->m, A->n, ncv, k);
    double tol = p->tol * p->tol;  /* eigenvalues are squares: SciPy does the same */

    gram g = {A, transpose, malloc((size_t)mb * sizeof(double))};
    double *lam = malloc((size_t)k * sizeof *lam);
    double *z = malloc((size_t)nb * (size_t)k * sizeof *z);
    double *w = NULL;
    if (!g.tmp || !lam || !z) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the SVD of %s x %s",
                            RECO_THOUSANDS(A->m), RECO_THOUSANDS(A->n));
        goto done;
    }
    int restarts = 0, products = 0;
    double t0 = reco_clock_s(), product_s = 0;
    pthread_mutex_lock(&arpack_lock);
    rc = run_arpack(&g, (int)nb, k, ncv, maxiter, tol, p->seed, lam, z, &restarts, &products,
                    &product_s, err);
    pthread_mutex_unlock(&arpack_lock);
    double t1 = reco_clock_s();
    if (rc)
        goto done;

    w = malloc((size_t)mb * (size_t)k * sizeof *w);
    out->s = malloc((size_t)k * sizeof *out->s);
    double *vb_out = malloc((size_t)nb * (size_t)k * sizeof *vb_out);
    if (!w || !out->s || !vb_out) {
        free(vb_out);
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the SVD of %s x %s",
                            RECO_THOUSANDS(A->m), RECO_THOUSANDS(A->n));
        goto done;
    }
    rc = project(&g, mb, nb, k, z, w, out->s, vb_out, err);
    if (!rc && (!all_finite(out->s, (size_t)k) || !all_finite(vb_out, (size_t)nb * k) ||
                !all_finite(w, (size_t)mb * k)))
        rc = reco_error_set(err, RECO_ERR_NUMERIC, "the SVD produced NaN or infinity");
    if (rc) {
        free(vb_out);
        goto done;
    }
    out->m = A->m;
    out->n = A->n;
    out->k = k;
    out->gram_cols = !transpose;
    out->restarts = restarts;
    out->products = products;
    out->lanczos_seconds = t1 - t0;
    out->product_seconds = product_s;
    out->finish_seconds = reco_clock_s() - t1;
    /* B = U_B S V_Bᵀ; if B = Aᵀ then A = V_B S U_Bᵀ. */
    if (transpose) {
        out->u = vb_out;
        out->v = w;
    } else {
        out->u = w;
        out->v = vb_out;
    }
    w = NULL;
done:
    free(g.tmp);
    free(lam);
    free(z);
    free(w);
    if (rc) {
        free(out->s);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* ---- sparse operator ---- */

/* Row blocks: many more blocks than threads so that dynamic scheduling
 * evens out rows of very different cost (and cache misses), while each
 * block stays a contiguous run of rows. A fixed count, not one per thread,
 * so that per-block partial sums round the same whatever the thread
 * count; small enough for those partials to live on the stack. */
#define MAX_BLOCKS 512
/* Below this many nonzeros + rows a product runs on one thread. A pass
 * over 2^20 entries takes about a millisecond; shorter passes gain little
 * from a second core and lose badly when the machine is busy, because
 * every barrier then waits for a descheduled thread (measured: 10x slower
 * fits on MovieLens 100K with 2 threads on 2 loaded cores). */
#define PARALLEL_MIN_WORK (1u << 20)

/* Splits rows into about `want` blocks of equal nonzero count (plus row
 * count, so runs of empty rows also spread). blocks[0..n] are boundaries. */
static reco_status make_blocks(const reco_csr *m, uint32_t want, uint32_t **out,
                               uint32_t *n_out)
{
    if (want < 1)
        want = 1;
    if (want > MAX_BLOCKS)
        want = MAX_BLOCKS;
    if (want > m->n_rows && m->n_rows > 0)
        want = m->n_rows;
    uint32_t *b = malloc(((size_t)want + 1) * sizeof *b);
    if (!b)
        return RECO_ERR_NOMEM;
    uint64_t total = m->nnz + m->n_rows;
    uint32_t n = 0, r = 0;
    b[n++] = 0;
    for (uint32_t j = 1; j < want; j++) {
        uint64_t target = total * j / want;
        /* the first row whose start cost reaches the target */
        uint32_t lo = r, hi = m->n_rows;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (m->ptr[mid] + mid < target)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > r && lo < m->n_rows) {
            b[n++] = lo;
            r = lo;
        }
    }
    b[n] = m->n_rows;
    *out = b;
    *n_out = n;
    return RECO_OK;
}

/* The Gram product BᵀB x in one pass over the rows of B, prepared by
 * reco_sparse_op_bind for the side reco_tsvd_compute uses. The plain
 * way (tmp = B x over B's rows, then y = Bᵀ tmp over Bᵀ's rows) gathers
 * tmp at random: on the full Amazon-size data that is 7.8M random reads
 * in a 34 MB vector per product. Here each row r of B computes
 * t = B_r·x and scatters t·B_rᵀ into an accumulator the size of x; and
 * rows with a single entry v at column j, which are most users of such
 * data, only ever add v²·x_j to y_j, so they become a diagonal and are
 * not visited at all. To stay free of atomics and give the same rounding
 * on any number of threads, the remaining rows are cut into a fixed
 * number of partitions, each scattering into its own accumulator (carved
 * from the caller's tmp), summed in partition order at the end. */
#define MAX_PARTS 4

struct reco_sparse_op_priv {
    uint32_t *row_blocks, *col_blocks;
    uint32_t n_row_blocks, n_col_blocks;
    /* the fused Gram product, or parts == 0 when not prepared */
    bool cols;        /* prepared for AᵀA (B = A) or AAᵀ (B = Aᵀ) */
    uint32_t nb;      /* columns of B: the Gram dimension */
    uint32_t nm;      /* rows of B with two or more entries, copied: */
    uint64_t *ptr;    /* nm + 1 */
    uint32_t *idx;
    float *val;
    double *a;        /* nm rank-one factors of those rows, or NULL */
    double *diag;     /* nb: Σ v² over the one-entry rows */
    double *g;        /* nb: Σ a_r·v over the one-entry rows, or NULL */
    double alpha;     /* Σ a_r² over rows with at most one entry */
    uint32_t parts;
    uint32_t part[MAX_PARTS + 1];
};

/* One side of the operator: the CSR whose rows produce the output. */
typedef struct side {
    const reco_csr *s;
    const float *val;
    const uint32_t *blocks;
    uint32_t n_blocks;
    const double *a;   /* rank-one factor along this side's rows, or NULL */
    const double *b;   /* ... and along its columns */
} side;

static side side_of(const reco_sparse_op *op, bool transposed)
{
    side sd;
    if (!transposed) {
        sd.s = op->rows;
        sd.val = op->row_val ? op->row_val : op->rows->val;
        sd.blocks = op->priv->row_blocks;
        sd.n_blocks = op->priv->n_row_blocks;
        sd.a = op->a;
        sd.b = op->b;
    } else {
        sd.s = op->cols;
        sd.val = op->col_val ? op->col_val : op->cols->val;
        sd.blocks = op->priv->col_blocks;
        sd.n_blocks = op->priv->n_col_blocks;
        sd.a = op->b;
        sd.b = op->a;
    }
    return sd;
}

/* Σ val[p]·x[idx[p]] over [b, e). Four accumulators: a single one makes
 * every nonzero wait for the previous addition (a 4-cycle chain), which
 * was the bottleneck of the whole fit. The split depends only on the
 * row, so the rounding is still the same on any number of threads. */
static inline double row_dot(const uint32_t *restrict idx, const float *restrict val,
                             uint64_t b, uint64_t e, const double *restrict x)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint64_t p = b;
    for (; p + 4 <= e; p += 4) {
        s0 += (double)val[p] * x[idx[p]];
        s1 += (double)val[p + 1] * x[idx[p + 1]];
        s2 += (double)val[p + 2] * x[idx[p + 2]];
        s3 += (double)val[p + 3] * x[idx[p + 3]];
    }
    for (; p < e; p++)
        s0 += (double)val[p] * x[idx[p]];
    return (s0 + s1) + (s2 + s3);
}

/* y = S x + a·c over the rows of block bl; returns Σ w_r y_r over the
 * block when w is set (the next product's rank-one dot, computed while
 * y is in cache). */
static double rows_mul(const side *sd, uint32_t bl, const double *restrict x, double c,
                       double *restrict y, const double *restrict w)
{
    const uint64_t *restrict ptr = sd->s->ptr;
    const uint32_t *restrict idx = sd->s->idx;
    const float *restrict val = sd->val;
    const double *restrict a = sd->a;
    uint32_t r0 = sd->blocks[bl], r1 = sd->blocks[bl + 1];
    double dw = 0;
    if (!a) {
        for (uint32_t r = r0; r < r1; r++)
            y[r] = row_dot(idx, val, ptr[r], ptr[r + 1], x);
    } else {
        for (uint32_t r = r0; r < r1; r++) {
            double v = row_dot(idx, val, ptr[r], ptr[r + 1], x) + a[r] * c;
            y[r] = v;
            if (w)
                dw += w[r] * v;
        }
    }
    return dw;
}

/* Σ w_r x_r over the rows of block bl of sd. */
static double block_dot(const side *sd, uint32_t bl, const double *w, const double *x)
{
    double d = 0;
    for (uint32_t r = sd->blocks[bl]; r < sd->blocks[bl + 1]; r++)
        d += w[r] * x[r];
    return d;
}

/* Sums per-block partials in block order: the same rounding whatever the
 * thread count. */
static double sum_partials(const double *p, uint32_t n)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static int op_threads(const reco_sparse_op *op, uint64_t work)
{
    uint64_t min_work = op->min_parallel_work ? op->min_parallel_work : PARALLEL_MIN_WORK;
    if (work < min_work)
        return 1;
    return op->threads > 0 ? op->threads : omp_get_max_threads();
}

/* y = A x (transposed = false) or Aᵀ x, in one parallel region. */
static void apply(const reco_sparse_op *op, bool transposed, const double *x, double *y)
{
    side out = side_of(op, transposed), in = side_of(op, !transposed);
    double part[MAX_BLOCKS];
    int threads = op_threads(op, out.s->nnz + out.s->n_rows);
#pragma omp parallel num_threads(threads)
    {
        double c = 0;
        if (out.a) {
            /* c = bᵀx, with x indexed like the other side's rows */
#pragma omp for schedule(static)
            for (uint32_t bl = 0; bl < in.n_blocks; bl++)
                part[bl] = block_dot(&in, bl, out.b, x);
            c = sum_partials(part, in.n_blocks);
        }
#pragma omp for schedule(dynamic, 1)
        for (uint32_t bl = 0; bl < out.n_blocks; bl++)
            rows_mul(&out, bl, x, c, y, NULL);
    }
}

static void sparse_matvec(const void *ctx, const double *x, double *y)
{
    apply(ctx, false, x, y);
}

static void sparse_rmatvec(const void *ctx, const double *x, double *y)
{
    apply(ctx, true, x, y);
}

/* y = BᵀB x the plain way: tmp = B x over B's rows, then y = Bᵀ tmp over
 * Bᵀ's rows, in one parallel region. */
static void gram_two_pass(const reco_sparse_op *op, bool cols, const double *x, double *y,
                          double *tmp)
{
    side fst = side_of(op, !cols), snd = side_of(op, cols);
    double part1[MAX_BLOCKS], part2[MAX_BLOCKS];
    int threads = op_threads(op, fst.s->nnz + fst.s->n_rows + snd.s->n_rows);
#pragma omp parallel num_threads(threads)
    {
        double c = 0;
        if (fst.a) {
#pragma omp for schedule(static)
            for (uint32_t bl = 0; bl < snd.n_blocks; bl++)
                part1[bl] = block_dot(&snd, bl, fst.b, x);
            c = sum_partials(part1, snd.n_blocks);
        }
        /* tmp = B x, and its dot with the rank-one factor for step two
         * (a second array: other threads may still be reading part1) */
#pragma omp for schedule(dynamic, 1)
        for (uint32_t bl = 0; bl < fst.n_blocks; bl++)
            part2[bl] = rows_mul(&fst, bl, x, c, tmp, fst.a);
        double c2 = fst.a ? sum_partials(part2, fst.n_blocks) : 0;
#pragma omp for schedule(dynamic, 1)
        for (uint32_t bl = 0; bl < snd.n_blocks; bl++)
            rows_mul(&snd, bl, tmp, c2, y, NULL);
    }
}

/* The fused product (see struct reco_sparse_op_priv). With B = S + a·bᵀ
 * (a along B's rows, b along the Gram dimension) and c = bᵀx:
 *   y = Σ_multi S_rᵀ t_r  (t_r = S_r·x + a_r c)    the scattered rows
 *     + diag∘x + c·g + b·(gᵀx + alpha·c + Σ_multi a_r t_r). */
static void gram_fused(const reco_sparse_op *op, const double *x, double *y, double *tmp)
{
    const struct reco_sparse_op_priv *f = op->priv;
    const side gs = side_of(op, f->cols); /* its rows are the Gram dimension */
    const double *b = f->cols ? op->b : op->a;
    const uint32_t nb = f->nb, parts = f->parts;
    double pc[MAX_BLOCKS], pg[MAX_BLOCKS], ps[MAX_PARTS];
    int threads = op_threads(op, f->ptr[f->nm] + f->nm + nb);
#pragma omp parallel num_threads(threads)
    {
        double c = 0, gx = 0;
        if (b) {
#pragma omp for schedule(static)
            for (uint32_t bl = 0; bl < gs.n_blocks; bl++) {
                pc[bl] = block_dot(&gs, bl, b, x);
                pg[bl] = block_dot(&gs, bl, f->g, x);
            }
            c = sum_partials(pc, gs.n_blocks);
            gx = sum_partials(pg, gs.n_blocks);
        }
#pragma omp for schedule(dynamic, 1)
        for (uint32_t p = 0; p < parts; p++) {
            double *restrict acc = tmp + (size_t)p * nb;
            const uint64_t *restrict ptr = f->ptr;
            const uint32_t *restrict idx = f->idx;
            const float *restrict val = f->val;
            memset(acc, 0, (size_t)nb * sizeof *acc);
            double sa = 0;
            for (uint32_t r = f->part[p]; r < f->part[p + 1]; r++) {
                double t = row_dot(idx, val, ptr[r], ptr[r + 1], x);
                if (f->a) {
                    t += f->a[r] * c;
                    sa += f->a[r] * t;
                }
                for (uint64_t e = ptr[r]; e < ptr[r + 1]; e++)
                    acc[idx[e]] += t * (double)val[e];
            }
            ps[p] = sa;
        }
        double coef = b ? gx + f->alpha * c + sum_partials(ps, parts) : 0;
#pragma omp for schedule(static)
        for (uint32_t bl = 0; bl < gs.n_blocks; bl++) {
            for (uint32_t i = gs.blocks[bl]; i < gs.blocks[bl + 1]; i++) {
                double v = f->diag[i] * x[i];
                for (uint32_t p = 0; p < parts; p++)
                    v += tmp[(size_t)p * nb + i];
                if (b)
                    v += c * f->g[i] + b[i] * coef;
                y[i] = v;
            }
        }
    }
}

static void sparse_gram(const void *ctx, bool cols, const double *x, double *y, double *tmp)
{
    const reco_sparse_op *op = ctx;
    if (op->priv->parts && op->priv->cols == cols)
        gram_fused(op, x, y, tmp);
    else
        gram_two_pass(op, cols, x, y, tmp);
}

/* Prepares the fused Gram product for B = A (cols) or Aᵀ, when B has
 * enough rows for at least two accumulators of the Gram size in the tmp
 * vector reco_tsvd_compute passes (rows(B) doubles); otherwise leaves
 * parts = 0 and the plain product is used. Depends only on the data, so
 * the choice is the same on any number of threads. */
static reco_status prepare_fused(reco_sparse_op *op, bool cols)
{
    struct reco_sparse_op_priv *f = op->priv;
    side bs = side_of(op, !cols); /* rows of B */
    const reco_csr *B = bs.s;
    uint32_t nb = B->n_cols;
    uint64_t want = nb ? B->n_rows / nb : 0;
    if (want < 2 || B->nnz == 0)
        return RECO_OK;
    uint32_t parts = want > MAX_PARTS ? MAX_PARTS : (uint32_t)want;
    f->cols = cols;
    f->nb = nb;
    uint32_t nm = 0;
    uint64_t mnnz = 0;
    for (uint32_t r = 0; r < B->n_rows; r++) {
        uint64_t len = B->ptr[r + 1] - B->ptr[r];
        if (len >= 2) {
            nm++;
            mnnz += len;
        }
    }
    f->ptr = malloc(((size_t)nm + 1) * sizeof *f->ptr);
    f->idx = malloc((mnnz + 1) * sizeof *f->idx);
    f->val = malloc((mnnz + 1) * sizeof *f->val);
    f->diag = calloc((size_t)nb + 1, sizeof *f->diag);
    if (bs.a) {
        f->a = malloc(((size_t)nm + 1) * sizeof *f->a);
        f->g = calloc((size_t)nb + 1, sizeof *f->g);
    }
    if (!f->ptr || !f->idx || !f->val || !f->diag || (bs.a && (!f->a || !f->g)))
        return RECO_ERR_NOMEM;
    uint32_t j = 0;
    uint64_t e = 0;
    f->ptr[0] = 0;
    f->alpha = 0;
    for (uint32_t r = 0; r < B->n_rows; r++) {
        uint64_t b0 = B->ptr[r], len = B->ptr[r + 1] - b0;
        if (len >= 2) {
            memcpy(f->idx + e, B->idx + b0, len * sizeof *f->idx);
            memcpy(f->val + e, bs.val + b0, len * sizeof *f->val);
            e += len;
            if (f->a)
                f->a[j] = bs.a[r];
            f->ptr[++j] = e;
            continue;
        }
        if (len == 1) {
            double v = bs.val[b0];
            f->diag[B->idx[b0]] += v * v;
            if (f->g)
                f->g[B->idx[b0]] += bs.a[r] * v;
        }
        if (bs.a)
            f->alpha += bs.a[r] * bs.a[r];
    }
    f->nm = nm;
    /* partitions of equal entries + rows */
    uint64_t total = mnnz + nm;
    uint32_t r = 0;
    f->part[0] = 0;
    for (uint32_t p = 1; p < parts; p++) {
        uint64_t target = total * p / parts;
        while (r < nm && f->ptr[r] + r < target)
            r++;
        f->part[p] = r;
    }
    f->part[parts] = nm;
    f->parts = parts;
    return RECO_OK;
}

reco_status reco_sparse_op_bind(reco_sparse_op *op, reco_linop *A, reco_error *err)
{
    op->priv = NULL;
    if (!op->rows || !op->cols || op->rows->n_rows != op->cols->n_cols ||
        op->rows->n_cols != op->cols->n_rows || op->rows->nnz != op->cols->nnz)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "sparse operator: rows and cols are not transposes");
    if (!op->a != !op->b)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "sparse operator: the rank-one term needs both a and b");
    struct reco_sparse_op_priv *f = calloc(1, sizeof *f);
    op->priv = f;
    if (!f || make_blocks(op->rows, MAX_BLOCKS, &f->row_blocks, &f->n_row_blocks) ||
        make_blocks(op->cols, MAX_BLOCKS, &f->col_blocks, &f->n_col_blocks) ||
        prepare_fused(op, op->rows->n_cols <= op->rows->n_rows)) {
        reco_sparse_op_clear(op);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the sparse operator");
    }
    A->m = op->rows->n_rows;
    A->n = op->rows->n_cols;
    A->matvec = sparse_matvec;
    A->rmatvec = sparse_rmatvec;
    A->gram = sparse_gram;
    A->ctx = op;
    return RECO_OK;
}

void reco_sparse_op_clear(reco_sparse_op *op)
{
    if (!op || !op->priv)
        return;
    struct reco_sparse_op_priv *f = op->priv;
    free(f->row_blocks);
    free(f->col_blocks);
    free(f->ptr);
    free(f->idx);
    free(f->val);
    free(f->a);
    free(f->diag);
    free(f->g);
    free(f);
    op->priv = NULL;
}
