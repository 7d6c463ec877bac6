/* Rating and ranking metrics (definitions in include/reco/metrics.h). */
#include "reco/metrics.h"

#include <math.h>

#include "reco/topn.h"

void reco_rank_metrics(const uint32_t *rec, size_t n_rec, size_t n, const uint32_t *relevant,
                       size_t n_rel, reco_rank_user *out)
{
    if (n_rec > n)
        n_rec = n;
    uint32_t hits = 0;
    double dcg = 0, ap = 0;
    for (size_t k = 0; k < n_rec; k++) {
        if (!reco_sorted_contains(relevant, n_rel, rec[k]))
            continue;
        hits++;
        dcg += 1.0 / log2((double)k + 2);
        ap += (double)hits / (double)(k + 1);
    }
    size_t ideal = n < n_rel ? n : n_rel;
    double idcg = 0;
    for (size_t k = 0; k < ideal; k++)
        idcg += 1.0 / log2((double)k + 2);
    out->hits = hits;
    out->precision = (double)hits / (double)n;
    out->recall = (double)hits / (double)n_rel;
    out->ndcg = idcg > 0 ? dcg / idcg : 0;
    out->ap = ideal ? ap / (double)ideal : 0;
}

double reco_rmse(const float *pred, const float *truth, size_t n)
{
    if (!n)
        return NAN;
    double s = 0;
    for (size_t k = 0; k < n; k++) {
        double d = (double)pred[k] - truth[k];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

double reco_mae(const float *pred, const float *truth, size_t n)
{
    if (!n)
        return NAN;
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += fabs((double)pred[k] - truth[k]);
    return s / (double)n;
}
