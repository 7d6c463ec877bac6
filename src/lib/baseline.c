#include "reco/baseline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void reco_baseline_params_default(reco_baseline_params *p)
{
    p->reg_u = 15;
    p->reg_i = 10;
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
            b->bi[i] = (float)(s / (p->reg_i + (double)(C->ptr[i + 1] - C->ptr[i])));
        }
#pragma omp parallel for schedule(dynamic, 1024)
        for (uint32_t u = 0; u < R->n_rows; u++) {
            double s = 0;
            for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
                s += R->val[k] - mu - b->bi[R->idx[k]];
            b->bu[u] = (float)(s / (p->reg_u + (double)(R->ptr[u + 1] - R->ptr[u])));
        }
    }
    return RECO_OK;
}

void reco_popular_params_default(reco_popular_params *p)
{
    p->damping = 10;
    p->min_count = 5;
}

reco_status reco_popular_params_check(const reco_popular_params *p, reco_error *err)
{
    if (!(p->damping >= 0) || !isfinite(p->damping))
        return reco_error_set(err, RECO_ERR_INVALID, "popular damping must be >= 0");
    return RECO_OK;
}

reco_status reco_popular_scores(const reco_popular_params *p, const reco_dataset *train,
                                float *scores, reco_error *err)
{
    reco_status rc = reco_popular_params_check(p, err);
    if (rc)
        return rc;
    const reco_csr *C = &train->by_item;
    double sum = 0;
    for (uint64_t k = 0; k < C->nnz; k++)
        sum += C->val[k];
    double mu = C->nnz ? sum / (double)C->nnz : 0.0;
    for (uint32_t i = 0; i < C->n_rows; i++) {
        double s = 0;
        uint64_t n = C->ptr[i + 1] - C->ptr[i];
        for (uint64_t k = C->ptr[i]; k < C->ptr[i + 1]; k++)
            s += C->val[k];
        double denom = (double)n + p->damping;
        double m = denom > 0 ? (s + p->damping * mu) / denom : mu;
        if (n == 0)
            scores[i] = -INFINITY;
        else
            scores[i] = (float)(n < p->min_count ? m - 1000.0 : m);
    }
    return RECO_OK;
}
