/* reco: the baseline predictor r = mu + b_u + b_i and the popularity
 * ranking. Every model carries both: the baseline answers where a model
 * has no information (a user or product with no training ratings), the
 * popularity ranking answers users reco has never seen (cold start). */
#ifndef RECO_BASELINE_H
#define RECO_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct reco_baseline_params {
    double reg_u;   /* >= 0; 0: unregularised mean residuals */
    double reg_i;   /* >= 0 */
    int epochs;     /* 10 alternating least-squares sweeps */
} reco_baseline_params;

void reco_baseline_params_default(reco_baseline_params *p);
reco_status reco_baseline_params_check(const reco_baseline_params *p, reco_error *err);

typedef struct reco_baseline {
    double mu;
    double reg_u;   /* the user regularisation it was fitted with, for fold-in */
    uint32_t n_users, n_items;
    float *bu;      /* n_users */
    float *bi;      /* n_items */
} reco_baseline;

/* The closed-form bias of a user or product given the other side: the sum
 * of its n residuals over (reg + n). Without ratings there is no evidence
 * of a deviation, so the bias is 0 (also with reg = 0, where the formula
 * would give 0 / 0). Used by the fit and by every fold-in of a user. */
static inline double reco_baseline_bias(double residual_sum, uint64_t n, double reg)
{
    return n ? residual_sum / (reg + (double)n) : 0.0;
}

/* Fits biases by alternating least squares (item biases, then user
 * biases, each in closed form given the other). b is overwritten; free with
 * reco_baseline_clear. */
reco_status reco_baseline_fit(const reco_baseline_params *p, const reco_dataset *train,
                              reco_baseline *b, reco_error *err);
void reco_baseline_clear(reco_baseline *b);

/* mu + b_u + b_i; a user or item index out of range contributes 0. */
static inline float reco_baseline_predict(const reco_baseline *b, uint32_t u, uint32_t i)
{
    double r = b->mu;
    if (u < b->n_users)
        r += b->bu[u];
    if (i < b->n_items)
        r += b->bi[i];
    return (float)r;
}

/* The popularity ranking: what "popular" and every model's cold start
 * show. By default products are ranked by their number of training
 * ratings ("bestsellers"), optionally with recent ratings weighing more;
 * the damped mean rating is kept as a mode. */
typedef enum reco_popular_by {
    RECO_POPULAR_BY_COUNT = 0, /* number of ratings (default) */
    RECO_POPULAR_BY_MEAN = 1   /* damped mean rating */
} reco_popular_by;

typedef struct reco_popular_params {
    reco_popular_by by;     /* "by": count or mean */
    /* "half_life_days", count only: 0 (default) counts every rating as 1;
     * h > 0 weighs a rating of time t by 2^(-(t_ref - t) / h days), t_ref
     * the latest timestamp in the training data (not the clock, so a fit
     * is reproducible). Needs timestamps (Unix seconds). */
    double half_life_days;
    double damping;         /* mean only: prior weight m of the damped mean (default 10) */
    uint32_t min_count;     /* mean only: products with fewer ratings rank after
                               every other product (default 5) */
} reco_popular_params;

void reco_popular_params_default(reco_popular_params *p);

/* RECO_ERR_INVALID naming the parameter and its allowed values. */
reco_status reco_popular_params_check(const reco_popular_params *p, reco_error *err);

/* Sets one parameter from text: "by" (count or mean), "half_life_days"
 * (0 to 1e6), "damping" (0 to 1e9), "min_count" (0 to 2^30).
 * RECO_ERR_INVALID naming "popular.KEY" for an unknown key or a bad value. */
reco_status reco_popular_param_set(reco_popular_params *p, const char *key, const char *value,
                                   reco_error *err);

/* Writes "by=count half_life_days=0 damping=10 min_count=5" into buf. */
void reco_popular_params_format(const reco_popular_params *p, char *buf, size_t cap);

/* What reco_popular_scores gives, for clients: "rating_count",
 * "decayed_rating_count" (count with a half-life) or "damped_mean_rating". */
const char *reco_popular_score_kind(const reco_popular_params *p);

/* The popularity score of every product into scores[n_items], higher
 * first; -INFINITY for a product without training ratings.
 *   count: the number of ratings, or their summed weights with a half-life
 *          (RECO_ERR_INVALID if the data has no timestamps).
 *   mean:  the damped mean (sum_i + m * mu) / (n_i + m), which lies in the
 *          training rating range [lo, hi]. A product under min_count gets
 *          its damped mean minus ((hi - lo) + max(1, |lo|, |hi|)): below
 *          lo, so it follows every product that qualifies, whatever the
 *          range, and the scores still decrease down the list. */
reco_status reco_popular_scores(const reco_popular_params *p, const reco_dataset *train,
                                float *scores, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
