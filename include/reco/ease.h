/* reco: EASE, the "embarrassingly shallow autoencoder" (Steck, "Embarrassingly
 * Shallow Autoencoders for Sparse Data", WWW 2019), the algorithm registered
 * as "ease".
 *
 * Model. X is the binarised training matrix (users x products): 1 where the
 * user rated the product (every rating counts by default; with min_rating
 * set, only ratings >= min_rating do). EASE learns one item-item weight
 * matrix B with a zero diagonal that reconstructs X from itself,
 *
 *   min_B |X - X B|^2 + lambda |B|^2   subject to diag(B) = 0,
 *
 * whose closed form is G = X'X + lambda I, P = G^-1 and
 *
 *   B_ij = -P_ij / P_jj  (i != j),   B_jj = 0.
 *
 * Only products with at least one counted rating take part: they are
 * numbered 0..n-1 in ascending item order (the "active" items) and B is
 * n x n; the other products of the catalogue cost nothing and are never
 * recommended.
 *
 * Fitting. X'X is built from the sparse ratings without densifying X: row a
 * of X'X is the count, over the users who rated a, of each product b >= a
 * they also rated, so the work is the number of item pairs per user,
 * sum_u n_u (n_u + 1) / 2 (reported as the total of the "gram" progress
 * stage and kept in the state). Rows are split among OpenMP threads; each
 * entry is an integer count made by one thread, so X'X is exact and the
 * same for any thread count. The inverse is a Cholesky factorisation and
 * inverse (LAPACK potrf + potri) in the chosen precision; B is then formed
 * in place. The result does not depend on reco's thread count
 * (ease.threads, the fit context's); OpenBLAS's own thread count
 * (OPENBLAS_NUM_THREADS) may change the last bits of B, as OpenBLAS
 * partitions the factorisation differently.
 *
 * Memory. Before anything large is allocated, the dense matrices are
 * estimated, for n active products:
 *
 *   precision=float   4 n^2 bytes   (one n x n float matrix: X'X + lambda I,
 *                                    factored, inverted and turned into B
 *                                    in place)
 *   precision=double 12 n^2 bytes   (X'X + lambda I inverted in double,
 *                                    8 n^2, plus B in float, 4 n^2)
 *
 * (other arrays are O(n) and not counted). If that exceeds max_memory the
 * fit is refused with RECO_ERR_TOO_LARGE and a message naming the product
 * count, the bytes needed and the limit: EASE is for catalogues up to a few
 * tens of thousands of products (the default 4 GiB allows 32,768 in float).
 * The saved model holds B (4 n^2 bytes) and is mapped as it is.
 *
 * Scores. For a user whose counted ratings are the set S,
 *
 *   score(j) = sum over i in S of B_ij,
 *
 * the EASE item-item regression output: higher is better, comparable within
 * one user's list, not a rating (scores_are_ratings is false; predicted
 * ratings come from the baseline). It is the sum of |S| contiguous rows of
 * B. The profile is read at request time, so ratings that arrive after
 * training change the scores at once with no fold-in; products the model has
 * never seen are ignored. Products without a counted training rating score
 * -INFINITY. A user with no counted rating (all ratings below min_rating, or
 * only new products) gets the baseline's product ranking, mu + b_i.
 *
 * Similar products of i (the co_rated source of reco_model_similar): the j
 * with the largest positive B_ij, i.e. the products whose score rises most
 * for users who rated i. The explanation of
 * a recommended j: the user's products i with the largest positive B_ij.
 *
 * Parameters (param_set keys):
 *   lambda      L2 weight, (0, 1e9], default 500 (the paper's choice for
 *               MovieLens-sized data)
 *   min_rating  only ratings >= this count as an interaction; "none" (the
 *               default) counts every rating; a number in [-1e9, 1e9]
 *   max_memory  the memory limit above, in bytes with an optional suffix
 *               K, M, G, T or P (powers of 1024, an optional "B" or "iB"
 *               after it): "512M", "4G", "1.5GiB"; 1 byte to 1 PiB,
 *               default 4G
 *   precision   float (default) or double: the Cholesky inverse's
 *               precision; float is 2 to 3 times faster and needs a third of
 *               the memory, and with lambda = 500 on MovieLens 100K its B
 *               differs from double's by at most 2e-7 (the largest weight
 *               is 0.11) and gives the same NDCG@10 to four decimals;
 *               double is for a small lambda (an ill-conditioned X'X)
 *   threads     OpenMP threads for X'X, 0..1024; 0: the fit context's
 *               count (all cores by default). The model does not change. */
#ifndef RECO_EASE_H
#define RECO_EASE_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reco_ease_precision {
    RECO_EASE_FLOAT = 0,
    RECO_EASE_DOUBLE = 1
} reco_ease_precision;

/* The parameters (param_set keys in brackets). */
typedef struct reco_ease_params {
    double lambda;                 /* [lambda] */
    double min_rating;             /* [min_rating] -INFINITY: every rating */
    uint64_t max_memory;           /* [max_memory] bytes */
    reco_ease_precision precision; /* [precision] */
    int threads;                   /* [threads] */
} reco_ease_params;

#define RECO_EASE_DEFAULT_MAX_MEMORY ((uint64_t)4 << 30)
#define RECO_EASE_MAX_MEMORY_LIMIT ((uint64_t)1 << 50)

void reco_ease_params_default(reco_ease_params *p);

/* RECO_OK, or RECO_ERR_INVALID with a message naming the bad parameter. */
reco_status reco_ease_params_check(const reco_ease_params *p, reco_error *err);

/* Parses a byte count with an optional K/M/G/T/P suffix ("512M", "4G",
 * "1.5GiB", "1000"); RECO_ERR_INVALID naming `what` for anything else, or
 * for a value outside [1, RECO_EASE_MAX_MEMORY_LIMIT]. */
reco_status reco_ease_parse_bytes(const char *what, const char *text, uint64_t *out,
                                  reco_error *err);

/* Bytes of the dense matrices a fit with n_active products needs (the
 * formula above); UINT64_MAX if that does not fit in 64 bits. */
uint64_t reco_ease_memory_bytes(uint32_t n_active, reco_ease_precision precision);

#define RECO_EASE_NONE UINT32_MAX

/* The fitted model as flat arrays, laid out to be written to (and mapped
 * from) a model file as they are. */
typedef struct reco_ease_state {
    reco_ease_params params;
    uint32_t n_items;      /* products of the training set */
    uint32_t n_active;     /* of which with >= 1 counted rating: B is n x n */
    uint32_t *active;      /* n_active product indices, ascending */
    uint32_t *pos;         /* n_items: compact index, or RECO_EASE_NONE */
    float *B;              /* n_active x n_active, row-major; row i holds the
                              weights B_ij of product active[i] for every j */
    uint64_t gram_pairs;   /* item pairs counted for X'X: sum n_u (n_u+1)/2 */
    double gram_seconds;   /* building X'X */
    double inverse_seconds;/* Cholesky inverse and B */
    bool mapped;           /* arrays live in a model file mapping */
} reco_ease_state;

/* The fitted state of an "ease" model (borrowed, read-only, valid while the
 * model lives and is not refitted), or NULL if m is not a fitted ease
 * model. */
const reco_ease_state *reco_ease_state_of(const reco_model *m);

#ifdef __cplusplus
}
#endif

#endif
