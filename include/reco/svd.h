/* reco: truncated singular value decomposition of a sparse rating matrix.
 *
 * Two layers:
 *
 * 1. reco_tsvd_compute(): the k largest singular triplets of any matrix A
 *    that is only available through the products A·x and Aᵀ·y (an
 *    implicit operator), by ARPACK's implicitly restarted Lanczos method
 *    (dsaupd/dseupd) on the smaller Gram matrix AᵀA or AAᵀ, as SciPy's
 *    scipy.sparse.linalg.svds(solver="arpack") does. reco_sparse_op binds
 *    a CSR/CSC pair (optionally with replacement values and a rank-one term
 *    a·bᵀ) to such an operator, so a matrix like "ratings minus each user's
 *    mean on every entry" is never densified.
 *
 * 2. The "svd" recommender (reco_algo_svd, registered in model.c), whose
 *    fitted state is the flat struct reco_svd_model below.
 *
 * Modes of the recommender (parameter `mode`):
 *   baseline  (default) SVD of the residuals r - mu - b_u - b_i on the
 *             observed entries, zeros elsewhere; prediction = mu + b_u +
 *             b_i + U_u·Σ·V_iᵀ. MovieLens 100K, 5 folds, k = 20: RMSE 0.929.
 *   usermean  SVD of r - m_u on the rated entries (each user's mean
 *             rating m_u subtracted), zeros elsewhere; prediction = m_u +
 *             U_u·Σ·V_iᵀ. The classic user-mean SVD: RMSE about 1.0 on
 *             MovieLens 100K, k = 20.
 *   notebook  The widely copied notebook recipe: the zero-filled matrix
 *             minus each user's mean on EVERY entry, the dense R0 - m·1ᵀ
 *             over the products that have training ratings, applied as a
 *             sparse product plus a rank-one correction (never densified);
 *             prediction = U_u·Σ·V_iᵀ + m_u. Kept for fidelity, not
 *             accuracy: an unrated entry of that matrix is 0 - m_u, so
 *             the low-rank fit is close to -m_u there and the prediction
 *             for an unseen pair close to 0, clamped to the bottom of the
 *             scale (RMSE 2.46 on MovieLens 100K, k = 20).
 *   pure      SVD of the zero-filled ratings ("PureSVD"); for ranking only:
 *             its scores are not on the rating scale, so the model does not
 *             predict ratings (reco_model_predicts_ratings is false and
 *             rating predictions are the baseline's).
 * Products without training ratings have no factors: score() gives them
 * -INFINITY (never recommended) and predictions fall back to the baseline.
 *
 * Parameters (model parameter names): k (factors, default 20), mode,
 * tol (SciPy's svds tol: ARPACK stops when each eigenvalue's residual is
 * below tol² of it; default 1e-4, while 0 means machine precision as in
 * SciPy), maxiter (Lanczos restarts, default 0 = 10 x the Gram size, as
 * SciPy), ncv (Lanczos basis size, default 0 = min(n, max(2k + 1, 20)), as
 * SciPy), seed (of ARPACK's start vector), threads (0: the fit context's
 * setting).
 *
 * Reproducibility and threads: the sparse products run on OpenMP threads
 * but round the same on any number of them, so the same data, parameters
 * and seed give a bit-identical model (with the same BLAS). ARPACK keeps
 * its reverse-communication state in static Fortran variables, so
 * reco_tsvd_compute() calls from different threads are serialised by an
 * internal lock (correct, not concurrent). */
#ifndef RECO_SVD_H
#define RECO_SVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/model.h"
#include "reco/sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the generic truncated SVD ---- */

/* A matrix of m rows and n columns known through two products. Both
 * callbacks must be deterministic and may use threads internally; they
 * are called from the thread that called reco_tsvd_compute. */
typedef struct reco_linop {
    uint32_t m, n;
    /* y[m] = A x[n] */
    void (*matvec)(const void *ctx, const double *x, double *y);
    /* y[n] = Aᵀ x[m] */
    void (*rmatvec)(const void *ctx, const double *x, double *y);
    /* Optional, for operators that can fuse the two products: y = AᵀA x
     * (cols = true; x, y of n entries, tmp of m) or y = AAᵀ x (cols =
     * false; x, y of m entries, tmp of n). NULL: matvec and rmatvec. */
    void (*gram)(const void *ctx, bool cols, const double *x, double *y, double *tmp);
    const void *ctx;
} reco_linop;

typedef struct reco_tsvd_params {
    int k;            /* number of singular triplets, 1 <= k < min(m, n) */
    double tol;       /* as SciPy's svds: ARPACK's relative residual
                         tolerance is tol² (the eigenvalues are σ²); 0:
                         machine precision (the default here, as SciPy) */
    int maxiter;      /* Lanczos restarts; 0: 10 x min(m, n) */
    int ncv;          /* Lanczos vectors, k < ncv <= min(m, n); 0: SciPy's
                         min(min(m, n), max(2k + 1, 20)) */
    uint64_t seed;    /* start vector: uniform(-1, 1) entries from this seed */
} reco_tsvd_params;

void reco_tsvd_params_default(reco_tsvd_params *p);

/* RECO_OK if p suits an m x n matrix (m or n 0: dimensions not known yet,
 * their bounds are not checked); otherwise RECO_ERR_INVALID with a message
 * naming the parameter (prefix, e.g. "svd", starts the name: "svd.k = 40
 * must be below min(n_users, n_items) = 30"). rows/cols name the
 * dimensions in messages (NULL: "rows", "columns"). */
reco_status reco_tsvd_params_check(const reco_tsvd_params *p, uint32_t m, uint32_t n,
                                   const char *prefix, const char *rows, const char *cols,
                                   reco_error *err);

/* The result: A ≈ U diag(s) Vᵀ. Column-major (LAPACK's layout): column j of
 * u is the j-th left singular vector, u[j * m + r]; likewise v[j * n + c]. */
typedef struct reco_tsvd {
    uint32_t m, n;
    int k;
    double *s;          /* k singular values, descending, >= 0 */
    double *u;          /* m x k, orthonormal columns */
    double *v;          /* n x k, orthonormal columns */
    bool gram_cols;     /* true: Lanczos ran on AᵀA (n <= m); false: AAᵀ */
    int restarts;       /* ARPACK's iteration count (iparam[2] on return) */
    int products;       /* Gram products applied (each = one A·x + one Aᵀ·y) */
    double lanczos_seconds;  /* wall time in ARPACK, products included */
    double product_seconds;  /* ... of which in the Gram products */
    double finish_seconds;   /* B·Z and its thin SVD, after Lanczos */
} reco_tsvd;

/* Computes the k largest singular triplets of A into out (overwritten;
 * free with reco_tsvd_clear). Errors: RECO_ERR_INVALID (bad parameters),
 * RECO_ERR_TOO_LARGE (a dimension times ncv or k beyond ARPACK/LAPACK's
 * 32-bit sizes), RECO_ERR_NOMEM, RECO_ERR_NUMERIC when ARPACK or LAPACK
 * reports an error, Lanczos does not converge within maxiter (the message
 * says how many values converged), or the operator produced NaN/Inf.
 * Never prints, never exits. Memory: about (ncv + 2k + 4) x min(m, n) +
 * (k + 1) x max(m, n) doubles. The callbacks must not call
 * reco_tsvd_compute (they run under its lock). */
reco_status reco_tsvd_compute(const reco_linop *A, const reco_tsvd_params *p,
                              reco_tsvd *out, reco_error *err);

/* Frees the arrays of t and zeroes it. NULL is a no-op. */
void reco_tsvd_clear(reco_tsvd *t);

/* A sparse matrix as an operator: A = S + a·bᵀ where S has the pattern of
 * rows (CSR, m rows) and cols (the CSR of Sᵀ, n rows: the same entries
 * sorted the other way, like reco_dataset's by_user / by_item). Products
 * run over CSR rows for A·x and over CSC rows for Aᵀ·y, each split into
 * a fixed number of row blocks of equal nonzero count shared by OpenMP
 * threads, so no atomics; sums that cross rows (the rank-one dots, the
 * fused Gram product's partitions) are added in block order, so the
 * rounding does not depend on the thread count. Everything is borrowed. */
typedef struct reco_sparse_op {
    const reco_csr *rows;
    const reco_csr *cols;
    const float *row_val;  /* values in rows' order; NULL: rows->val */
    const float *col_val;  /* the same values in cols' order; NULL: cols->val */
    const double *a;       /* m entries, or NULL: no rank-one term */
    const double *b;       /* n entries; set both a and b, or neither */
    int threads;           /* 0: OpenMP's default */
    /* A product over fewer nonzeros + rows runs on one thread (0: the
     * default, 2^20; 1: always parallel). */
    uint64_t min_parallel_work;
    /* Owned, filled by reco_sparse_op_bind: row blocks and the prepared
     * Gram product. */
    struct reco_sparse_op_priv *priv;
} reco_sparse_op;

/* Prepares op (its fields above set) and points A at it. The op must stay
 * alive and unmoved while A is used; release with reco_sparse_op_clear.
 * A gets a gram callback prepared for the side reco_tsvd_compute will use
 * (AᵀA when n <= m): one pass over the rows of B (A or Aᵀ) where rows with
 * a single entry become a diagonal, scattering into accumulators carved
 * from the callback's tmp. Binding copies the rows of B that have two or
 * more entries (about 8 bytes per such entry). */
reco_status reco_sparse_op_bind(reco_sparse_op *op, reco_linop *A, reco_error *err);
void reco_sparse_op_clear(reco_sparse_op *op);

/* ---- the "svd" recommender ---- */

/* What matrix is factorised:
 *   baseline  r - mu - b_u - b_i on the rated entries (the default)
 *   usermean  r - mean_u on the rated entries: centred on user means
 *   pure      the zero-filled ratings ("PureSVD", for ranking; no rating
 *             predictions)
 *   notebook  the zero-filled matrix minus each user's mean on EVERY entry
 *             (R0 - m·1ᵀ), exactly the well-known notebook recipe; kept
 *             sparse plus a rank-one term, never densified. The missing
 *             entries dominate it, so its predictions of held-out ratings
 *             are poor: it is there for fidelity, not accuracy. */
typedef enum reco_svd_mode {
    RECO_SVD_BASELINE = 0,
    RECO_SVD_USERMEAN = 1,
    RECO_SVD_PURE = 2,
    RECO_SVD_NOTEBOOK = 3
} reco_svd_mode;

/* Name of a mode ("baseline", "usermean", "pure", "notebook"). */
const char *reco_svd_mode_name(reco_svd_mode mode);

typedef struct reco_svd_params {
    int k;
    reco_svd_mode mode;
    double tol;
    int maxiter;
    int ncv;
    uint64_t seed;
    int threads;
} reco_svd_params;

void reco_svd_params_default(reco_svd_params *p);

/* The fitted state: flat arrays only (no pointers into the dataset), so
 * that it can be written to and mapped from a model file as it is.
 * Prediction for a known user u and item i:
 *   baseline  mu + b_u + b_i + user_f[u]·item_f[i]
 *   usermean, notebook  user_mean[u] + user_f[u]·item_f[i]
 *   pure                       user_f[u]·item_f[i]
 * where user_f = U·Σ and item_f = V (A ≈ U·Σ·Vᵀ the mode's matrix). A
 * user with new ratings is folded in: user_f = r'·V, r' the user's row of
 * the mode's matrix (for usermean r'·V = Σ_rated r_i V_i - mean·fold_sum),
 * which equals the trained row when r is the training row. */
typedef struct reco_svd_model {
    uint32_t n_users, n_items;
    uint32_t k;
    reco_svd_mode mode;
    uint32_t restarts, products;  /* ARPACK statistics of the fit */
    float lanczos_seconds, product_seconds, finish_seconds; /* see reco_tsvd */
    float *sigma;       /* k singular values of the mode's matrix, descending */
    float *user_f;      /* n_users x k row-major: U·Σ */
    float *item_f;      /* n_items x k row-major: V */
    float *item_norm;   /* n_items: |V_i·Σ| (0 for products without training
                           ratings) */
    /* Derived after a fit or a load, never saved, always owned: for the
     * cosines of similar products (reco_item_factors). */
    float *sim_weight;     /* k: σ_j² */
    float *item_inv_norm;  /* n_items: 1 / item_norm, or 0 */
    float *user_mean;   /* n_users: mean training rating (0 without ratings);
                           usermean and notebook modes only, else NULL */
    float *fold_sum;    /* k: sum of item_f rows over the products with
                           training ratings; notebook mode only, else NULL */
    bool mapped;        /* arrays live in a model file mapping */
} reco_svd_model;

/* The fitted state of an "svd" model (borrowed, read-only), or NULL if m
 * is not an svd model or is not fitted. */
const reco_svd_model *reco_svd_model_of(const reco_model *m);

#ifdef __cplusplus
}
#endif
#endif
