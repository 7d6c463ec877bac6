/* The baseline predictor (mu + b_u + b_i by alternating least squares) and
 * the popularity ranking (rating counts, optionally decayed, or damped
 * means) that every model carries. */
#include "reco/baseline.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/model.h"

#include "numfmt.h"

const reco_param_field reco_baseline_param_fields[] = {
    RECO_PARAM_FIELD(reco_baseline_params, reg_u, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_baseline_params, reg_i, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_baseline_params, epochs, RECO_PT_INT),
    {NULL, 0, 0, 0},
};

const reco_param_field reco_popular_param_fields[] = {
    RECO_PARAM_FIELD(reco_popular_params, by, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_popular_params, half_life_days, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_popular_params, damping, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_popular_params, min_count, RECO_PT_U32),
    {NULL, 0, 0, 0},
};

void reco_baseline_params_default(reco_baseline_params *p)
{
    /* Chosen with `reco tune --metric rmse` (60 random trials, validation a
     * random 20% of MovieLens 100K u1.base; u1.test never seen): held-out
     * RMSE on u1.test 0.9535, against 0.9599 with Surprise's BaselineOnly
     * settings (reg_u 15, reg_i 10) used before. bench/defaults.sh. */
    p->reg_u = 3.747;
    p->reg_i = 2.844;
    p->epochs = 10;
}

reco_status reco_baseline_params_check(const reco_baseline_params *p, reco_error *err)
{
    if (!(p->reg_u >= 0) || !(p->reg_i >= 0))
        return reco_error_set(err, RECO_ERR_INVALID, "baseline regularisation must be >= 0");
    if (p->epochs < 1 || p->epochs > 1000)
        return reco_error_set(err, RECO_ERR_INVALID, "baseline epochs must be 1 to 1000");
    return RECO_OK;
}

void reco_baseline_clear(reco_baseline *b)
{
    if (!b)
        return;
    free(b->bu);
    free(b->bi);
    memset(b, 0, sizeof *b);
}

reco_status reco_baseline_fit(const reco_baseline_params *p, const reco_dataset *train,
                              reco_baseline *b, reco_error *err)
{
    reco_status rc = reco_baseline_params_check(p, err);
    if (rc)
        return rc;
    memset(b, 0, sizeof *b);
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    b->n_users = R->n_rows;
    b->n_items = C->n_rows;
    b->bu = calloc((size_t)b->n_users + 1, sizeof *b->bu);
    b->bi = calloc((size_t)b->n_items + 1, sizeof *b->bi);
    if (!b->bu || !b->bi) {
        reco_baseline_clear(b);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for baseline biases");
    }
    double sum = 0;
    for (uint64_t k = 0; k < R->nnz; k++)
        sum += R->val[k];
    b->mu = R->nnz ? sum / (double)R->nnz : 0.0;
    b->reg_u = p->reg_u;
    const double mu = b->mu;
    for (int ep = 0; ep < p->epochs; ep++) {
#pragma omp parallel for schedule(dynamic, 1024)
        for (uint32_t i = 0; i < C->n_rows; i++) {
            double s = 0;
            for (uint64_t k = C->ptr[i]; k < C->ptr[i + 1]; k++)
                s += C->val[k] - mu - b->bu[C->idx[k]];
            b->bi[i] = (float)reco_baseline_bias(s, C->ptr[i + 1] - C->ptr[i], p->reg_i);
        }
#pragma omp parallel for schedule(dynamic, 1024)
        for (uint32_t u = 0; u < R->n_rows; u++) {
            double s = 0;
            for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
                s += R->val[k] - mu - b->bi[R->idx[k]];
            b->bu[u] = (float)reco_baseline_bias(s, R->ptr[u + 1] - R->ptr[u], p->reg_u);
        }
    }
    return RECO_OK;
}

#define HALF_LIFE_MAX_DAYS 1e6
#define DAMPING_MAX 1e9
#define MIN_COUNT_MAX (1 << 30)

void reco_popular_params_default(reco_popular_params *p)
{
    p->by = RECO_POPULAR_BY_COUNT;
    p->half_life_days = 0;
    p->damping = 10;
    p->min_count = 5;
}

reco_status reco_popular_params_check(const reco_popular_params *p, reco_error *err)
{
    if (p->by != RECO_POPULAR_BY_COUNT && p->by != RECO_POPULAR_BY_MEAN)
        return reco_error_set(err, RECO_ERR_INVALID, "popular.by must be count or mean");
    if (!(p->half_life_days >= 0 && p->half_life_days <= HALF_LIFE_MAX_DAYS))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "popular.half_life_days must be a number from 0 (off) to %g, got %g",
                              HALF_LIFE_MAX_DAYS, p->half_life_days);
    if (p->half_life_days > 0 && p->by != RECO_POPULAR_BY_COUNT)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "popular.half_life_days applies to popular.by=count only (set it "
                              "to 0 with by=mean)");
    if (!(p->damping >= 0 && p->damping <= DAMPING_MAX))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "popular.damping must be a number from 0 to %g, got %g", DAMPING_MAX,
                              p->damping);
    if (p->min_count > MIN_COUNT_MAX)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "popular.min_count must be from 0 to %d, got %u", MIN_COUNT_MAX,
                              p->min_count);
    return RECO_OK;
}

reco_status reco_popular_param_set(reco_popular_params *p, const char *key, const char *value,
                                   reco_error *err)
{
    if (!strcmp(key, "by")) {
        if (!strcmp(value, "count"))
            p->by = RECO_POPULAR_BY_COUNT;
        else if (!strcmp(value, "mean"))
            p->by = RECO_POPULAR_BY_MEAN;
        else
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "popular.by wants count or mean, got \"%s\"", value);
        return RECO_OK;
    }
    if (!strcmp(key, "half_life_days"))
        return reco_param_double("popular", key, value, 0, HALF_LIFE_MAX_DAYS,
                                 &p->half_life_days, err);
    if (!strcmp(key, "damping"))
        return reco_param_double("popular", key, value, 0, DAMPING_MAX, &p->damping, err);
    if (!strcmp(key, "min_count")) {
        int v = 0;
        reco_status rc = reco_param_int("popular", key, value, 0, MIN_COUNT_MAX, &v, err);
        if (!rc)
            p->min_count = (uint32_t)v;
        return rc;
    }
    return reco_param_unknown("popular", key, err);
}

void reco_popular_params_format(const reco_popular_params *p, char *buf, size_t cap)
{
    reco_snprintf_c(buf, cap, "by=%s half_life_days=%g damping=%g min_count=%u",
             p->by == RECO_POPULAR_BY_MEAN ? "mean" : "count", p->half_life_days, p->damping,
             p->min_count);
}

const char *reco_popular_score_kind(const reco_popular_params *p)
{
    if (p->by == RECO_POPULAR_BY_MEAN)
        return "damped_mean_rating";
    return p->half_life_days > 0 ? "decayed_rating_count" : "rating_count";
}

/* Summed weights 2^(-(t_ref - t) / h) of each product's ratings, t_ref the
 * latest timestamp; walks the CSR, the only copy with timestamps. */
static reco_status decayed_counts(const reco_popular_params *p, const reco_dataset *train,
                                  float *scores, reco_error *err)
{
    const reco_csr *R = &train->by_user;
    uint32_t ni = reco_dataset_n_items(train);
    if (!train->has_ts || (!R->ts && R->nnz))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "popular.half_life_days=%g weighs ratings by their age, but the "
                              "training data has no timestamps (set popular.half_life_days=0)",
                              p->half_life_days);
    double *w = calloc((size_t)ni + 1, sizeof *w);
    if (!w)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for popularity weights");
    int64_t t_ref = INT64_MIN;
    for (uint64_t k = 0; k < R->nnz; k++)
        if (R->ts[k] > t_ref)
            t_ref = R->ts[k];
    const double per_second = 1.0 / (p->half_life_days * 86400.0);
    for (uint64_t k = 0; k < R->nnz; k++)
        w[R->idx[k]] += exp2(-(double)(t_ref - R->ts[k]) * per_second);
    const reco_csr *C = &train->by_item;
    for (uint32_t i = 0; i < ni; i++)
        scores[i] = C->ptr[i + 1] > C->ptr[i] ? (float)w[i] : -INFINITY;
    free(w);
    return RECO_OK;
}

reco_status reco_popular_scores(const reco_popular_params *p, const reco_dataset *train,
                                float *scores, reco_error *err)
{
    reco_status rc = reco_popular_params_check(p, err);
    if (rc)
        return rc;
    const reco_csr *C = &train->by_item;
    if (p->by == RECO_POPULAR_BY_COUNT) {
        if (p->half_life_days > 0)
            return decayed_counts(p, train, scores, err);
        for (uint32_t i = 0; i < C->n_rows; i++) {
            uint64_t n = C->ptr[i + 1] - C->ptr[i];
            scores[i] = n ? (float)n : -INFINITY;
        }
        return RECO_OK;
    }
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (uint64_t k = 0; k < C->nnz; k++) {
        sum += C->val[k];
        lo = C->val[k] < lo ? C->val[k] : lo;
        hi = C->val[k] > hi ? C->val[k] : hi;
    }
    double mu = C->nnz ? sum / (double)C->nnz : 0.0;
    /* Qualifying products score within [lo, hi]; the shift puts the others
     * at or below lo - max(1, |lo|), a margin no float rounding can close. */
    double shift = C->nnz ? (hi - lo) + fmax(1.0, fmax(fabs(lo), fabs(hi))) : 0.0;
    for (uint32_t i = 0; i < C->n_rows; i++) {
        double s = 0;
        uint64_t n = C->ptr[i + 1] - C->ptr[i];
        for (uint64_t k = C->ptr[i]; k < C->ptr[i + 1]; k++)
            s += C->val[k];
        double denom = (double)n + p->damping;
        double m = denom > 0 ? (s + p->damping * mu) / denom : mu;
        if (n == 0) {
            scores[i] = -INFINITY;
        } else if (n < p->min_count) {
            double v = m - shift;
            scores[i] = v < -FLT_MAX ? -FLT_MAX : (float)v;
        } else {
            scores[i] = (float)m;
        }
    }
    return RECO_OK;
}
