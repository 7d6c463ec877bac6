/* reco: the baseline predictor r = mu + b_u + b_i and the popularity
 * ranking. Every model carries both: the baseline answers where a model
 * has no information (a user or product with no training ratings), the
 * popularity ranking answers users reco has never seen (cold start). */
#ifndef RECO_BASELINE_H
#define RECO_BASELINE_H

#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"

typedef struct reco_baseline_params {
    double reg_u;   /* 15, as Surprise's BaselineOnly */
    double reg_i;   /* 10 */
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

typedef struct reco_popular_params {
    double damping;     /* prior weight m of the damped mean (default 10) */
    uint32_t min_count; /* products with fewer ratings rank last (default 5) */
} reco_popular_params;

void reco_popular_params_default(reco_popular_params *p);
reco_status reco_popular_params_check(const reco_popular_params *p, reco_error *err);

/* Damped mean (sum_i + m * mu) / (n_i + m) of every product into
 * scores[n_items]; products under min_count get their damped mean minus
 * 1000 so that they follow every product that qualifies. */
reco_status reco_popular_scores(const reco_popular_params *p, const reco_dataset *train,
                                float *scores, reco_error *err);

#endif
