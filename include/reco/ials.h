/* reco: implicit-feedback alternating least squares, the algorithm
 * registered as "ials" (Hu, Koren, Volinsky 2008, "Collaborative Filtering
 * for Implicit Feedback Datasets"; Takacs, Pilaszy, Tikk 2011 for the
 * conjugate-gradient solver; Rendle, Krichene, Zhang, Koren 2021,
 * "Revisiting the Performance of iALS on Item Recommendation Benchmarks",
 * for the frequency-scaled regularisation).
 *
 * Every rated product is an interaction: the model does not try to predict
 * the star, it ranks the products a user is likely to take. With x_u and
 * y_i the user and item factors and s = x_u . y_i, it minimises
 *
 *   sum over rated (u, i)    c_ui (1 - s)^2
 * + w0 * sum over unrated    s^2,   w0 = unobserved / |I|
 * + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2
 *
 * over the rated pairs that count as interactions (every rating, or with
 * min_rating set only those >= min_rating: a shop may count a one-star
 * review as a purchase, or not), with confidence c_ui = 1 + alpha f(r_ui),
 * f one of
 *   const       f = 1 (every interaction alike)
 *   rating      f = r (the star rating)
 *   above_mean  f = max(0, r - mean rating of the user)
 * (|I|: the products with training ratings). `unobserved` is thus the
 * weight of a whole row's unrated part, spread over the catalogue, which
 * keeps the balance between rated and unrated products (and so good
 * parameter values) independent of the catalogue's size; Hu et al.'s
 * w0 = 1 is unobserved = |I|. Regularisation is scaled by frequency
 * (Rendle et al. 2021):
 *   lambda_u = reg * W_u^reg_exp,  W_u = sum_i c_ui + w0 (|I| - n_u),
 * the total weight of the user's row in the loss (n_u: the user's
 * ratings); likewise for products. reg_exp = 0 is
 * the classic constant lambda; 1 scales with the row's weight.
 *
 * Each half-sweep solves every user (then every product) against the
 * other side, using the Gram matrix trick: the unrated part of the normal
 * equations is w0 Y^T Y, the same for every row, so a row never costs
 * O(|I|). The half-sweep first rotates the factor space into the
 * eigenvectors of that Gram matrix (predictions x . y do not change), where
 * it is diagonal: a row with at most 24 interactions is then solved exactly
 * by the Woodbury identity without any k x k work, a longer one by
 * cg_steps conjugate-gradient steps warm-started from its previous solution
 * (Takacs et al. 2011) or exactly by Cholesky (solver=cholesky). The factor
 * matrices stored are in the basis of the last half-sweep. Rows are solved
 * in parallel on all cores; each row depends only on the other side's
 * factors, and the Gram matrices are summed in a fixed order, so a fixed
 * seed gives the same model with any number of threads.
 *
 * Scores: s = x_u . y_i, the model's estimate of the preference (about 1
 * for products like those the user took, about 0 for others). Higher is
 * better; comparable within one user's list; not a rating (the model does
 * not predict ratings: the baseline answers /v1/predict).
 *
 * A user whose ratings changed after training is folded in: x_u is solved
 * exactly (Cholesky) against the stored Y and w0 Y^T Y, the equivalent of
 * implicit's recalculate_user, in well under a millisecond for 64
 * factors. Products without training ratings are never recommended. */
#ifndef RECO_IALS_H
#define RECO_IALS_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/factor_index.h"
#include "reco/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reco_ials_conf {
    RECO_IALS_CONF_CONST = 0,
    RECO_IALS_CONF_RATING = 1,
    RECO_IALS_CONF_ABOVE_MEAN = 2
} reco_ials_conf;

typedef enum reco_ials_solver {
    RECO_IALS_CG = 0,
    RECO_IALS_CHOLESKY = 1
} reco_ials_solver;

/* The parameters (param_set keys in brackets, ranges as checked). */
typedef struct reco_ials_params {
    int factors;            /* [factors] k, 1..1024 */
    int iterations;         /* [iterations] sweeps (users, then products), 1..1000 */
    double alpha;           /* [alpha] confidence scale, 0..1e6 */
    reco_ials_conf conf;    /* [conf] const | rating | above_mean */
    double reg;             /* [reg] lambda, 0..1e9 */
    double reg_exp;         /* [reg_exp] nu, 0..1 */
    double unobserved;      /* [unobserved] weight of a row's unrated part, (0, 1e9] */
    reco_ials_solver solver;/* [solver] cg | cholesky */
    int cg_steps;           /* [cg_steps] 1..64 */
    double init_std;        /* [init_std] std dev of the initial product factors, (0, 10] */
    uint64_t seed;          /* [seed] */
    int threads;            /* [threads] 0: the fit context's count (all cores) */
    double min_rating;      /* [min_rating] ratings below are not interactions (they
                               count as unrated pairs); -INFINITY ("none"): every
                               rating is one */
} reco_ials_params;

/* Fills p with the defaults (chosen with `reco tune` on training data
 * only; see docs/benchmarks.md). */
void reco_ials_params_default(reco_ials_params *p);

/* RECO_OK, or RECO_ERR_INVALID naming the parameter and its range. */
reco_status reco_ials_params_check(const reco_ials_params *p, reco_error *err);

/* The fitted model. X and Y rows are ld floats (k rounded up to 16, padding
 * zero), 64-byte aligned; rows of users and products without training
 * ratings are zero. */
typedef struct reco_ials_state {
    reco_ials_params params;
    uint32_t n_users, n_items, k, ld;
    uint32_t active_users;  /* users with training ratings */
    uint32_t active_items;  /* products with training ratings (|I|) */
    double w0;              /* weight of one unrated pair: unobserved / |I| */
    float *X;               /* n_users x ld */
    float *Y;               /* n_items x ld */
    float *YtY;             /* k x ld: w0 Y^T Y, for fold-in */
    float *y_inv_norm;      /* n_items: 1 / |y_i|, or 0 (similar products) */
    reco_factor_index index;/* products with ratings, for top-N */
    double loss;            /* the objective after the last sweep */
    int iterations_run;
    bool mapped;            /* arrays live in a model file mapping */
} reco_ials_state;

/* The state of a fitted "ials" model (borrowed), or NULL. */
const reco_ials_state *reco_ials_state_of(const reco_model *m);

/* Confidence c = 1 + alpha f(r) of one rating, given the user's mean. */
float reco_ials_confidence(const reco_ials_params *p, float r, float user_mean);

/* Bytes of scratch reco_ials_fold_in needs. */
size_t reco_ials_fold_in_scratch_size(const reco_ials_state *s);

/* Solves a user exactly against the fitted products: x[0..ld-1] (padding
 * zeroed) minimising the objective over the n ratings (items[j], r[j]);
 * items >= n_items or without training ratings are ignored. n == 0 (or no
 * usable item) gives zeros. scratch: reco_ials_fold_in_scratch_size bytes,
 * float-aligned. RECO_ERR_NUMERIC if the system is singular (reg = 0 and
 * too few ratings). */
reco_status reco_ials_fold_in(const reco_ials_state *s, const uint32_t *items, const float *r,
                              uint32_t n, float *x, void *scratch, reco_error *err);

/* The objective of the fitted model on train (for tests and diagnostics). */
double reco_ials_loss(const reco_ials_state *s, const reco_dataset *train);

#ifdef __cplusplus
}
#endif

#endif
