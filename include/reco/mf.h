/* reco: biased matrix factorisation ("Funk SVD", Surprise's SVD), the
 * algorithm registered as "mf".
 *
 *   r^(u, i) = mu + b_u + b_i + p_u . q_i
 *
 * fitted on the observed ratings only, by stochastic gradient descent
 * (solver=sgd, the default) or by alternating least squares (solver=als)
 * on the same regularised squared error:
 *
 *   sum over ratings (r - r^)^2 + reg (|p_u|^2 + |q_i|^2)
 *                               + reg_bias (b_u^2 + b_i^2)
 *
 * SGD runs on all threads with the block partition of LIBMF's FPSGD: users
 * and items are dealt at random into B groups each, and the ratings into
 * B x B blocks; each sub-epoch processes B blocks that share no user and no
 * item group, so two threads never update the same row. B depends on the
 * number of ratings only (4 up to 1.6M ratings, growing as the square root
 * of the count, at most 64), and the model depends on B and the seed, not
 * on the threads or on which thread ran which block: a fixed seed gives a
 * bit-identical model on any number of threads.
 *
 * Users and items that arrive later are folded in at scoring time: with the
 * item side held fixed, the user's bias and factors are the ridge solution
 * over the user's ratings (the same objective as training). */
#ifndef RECO_MF_H
#define RECO_MF_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/factor_index.h"
#include "reco/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reco_mf_solver {
    RECO_MF_SGD = 0,
    RECO_MF_ALS = 1
} reco_mf_solver;

/* The parameters (param_set keys in brackets). */
typedef struct reco_mf_params {
    int factors;           /* [factors] latent dimensions k, default 100 */
    int epochs;            /* [epochs] passes over the ratings, default 20 */
    double lr;             /* [lr] SGD learning rate */
    double reg;            /* [reg] L2 weight of p_u and q_i, per rating */
    double reg_bias;       /* [reg_bias] L2 weight of b_u and b_i, per rating */
    double init_std;       /* [init_std] std dev of the initial factors */
    uint64_t seed;         /* [seed] initial factors and update order */
    int threads;           /* [threads] 0: automatic, up to the fit context's
                              count (all cores); SGD uses one thread for
                              small data, where synchronising costs more
                              than it saves. The model does not change. */
    reco_mf_solver solver; /* [solver] sgd or als */
} reco_mf_params;

/* Fills p with the defaults (tuned on MovieLens 100K, see
 * docs/benchmarks.md). */
void reco_mf_params_default(reco_mf_params *p);

/* RECO_OK, or RECO_ERR_INVALID with a message naming the bad parameter. */
reco_status reco_mf_params_check(const reco_mf_params *p, reco_error *err);

/* The fitted model as flat arrays, laid out to be written to (and later
 * mapped from) a model file as they are. Rows of P and Q are `ld` floats
 * long (k rounded up to a multiple of 16, i.e. 64-byte rows) with the
 * padding zero; every array is 64-byte aligned. Users and items without
 * training ratings have zero bias and zero factors. */
typedef struct reco_mf_state {
    reco_mf_params params;
    uint32_t n_users, n_items;
    uint32_t k;            /* = params.factors */
    uint32_t ld;           /* floats per row of P and Q (>= k) */
    float mu;              /* global mean of the training ratings */
    float *bu;             /* n_users user biases */
    float *bi;             /* n_items item biases */
    float *P;              /* n_users x ld user factors, row-major */
    float *Q;              /* n_items x ld item factors, row-major */
    /* Derived from Q: 1 / |q_i|, or 0 for an item with zero factors; for
     * similar products (reco_item_factors). Stored in the model file
     * (section mf.qnorm) so that a load needs no pass over Q. */
    float *q_inv_norm;
    double train_rmse;     /* training RMSE: SGD's is that of the errors met
                              in the last epoch (before each update) */
    int epochs_run;
    /* The items ordered for exact pruned top-N (reco/factor_index.h),
     * with b = the item biases. */
    reco_factor_index index;
    bool mapped;           /* arrays live in a model file mapping */
} reco_mf_state;

/* The fitted state of an "mf" model (borrowed, read-only, valid while the
 * model lives and is not refitted), or NULL if m is not a fitted mf model. */
const reco_mf_state *reco_mf_state_of(const reco_model *m);

/* Bytes of scratch a fold-in needs (reco_mf_fold_in's `scratch`). */
size_t reco_mf_fold_in_scratch_size(const reco_mf_state *s);

/* Folds a user in: the bias *bu and factors x[0..ld-1] (padding zeroed)
 * that minimise the training objective over n ratings (items[j], r[j]) with
 * mu, b_i and q_i held fixed. Items >= s->n_items are ignored. n == 0 gives
 * zeros. scratch: reco_mf_fold_in_scratch_size(s) bytes, float-aligned,
 * owned by the caller (nothing is allocated). RECO_ERR_NUMERIC if the
 * system cannot be solved (only possible with reg = reg_bias = 0). */
reco_status reco_mf_fold_in(const reco_mf_state *s, const uint32_t *items, const float *r,
                            uint32_t n, float *bu, float *x, void *scratch, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
