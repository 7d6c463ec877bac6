/* reco: accuracy metrics for rating prediction and top-N ranking.
 *
 * Rating metrics compare a predicted rating with a held-out one:
 *   RMSE = sqrt(mean((p - r)^2)),  MAE = mean(|p - r|).
 *
 * Ranking metrics judge one user's list L of N recommendations (best first)
 * against the set T of that user's relevant held-out products (binary
 * relevance: rel_k = 1 if the k-th product of L is in T). With |T| >= 1:
 *   precision@N = hits / N           (N even when fewer were recommended)
 *   recall@N    = hits / |T|
 *   hit@N       = 1 if hits > 0, else 0     (its mean is the hit rate)
 *   DCG@N       = sum_{k=1..N} rel_k / log2(k + 1)
 *   NDCG@N      = DCG@N / IDCG@N, IDCG@N = sum_{k=1..min(N,|T|)} 1 / log2(k + 1)
 *                 (the DCG of a list with every relevant product on top)
 *   AP@N        = (1 / min(N, |T|)) * sum_{k=1..N} rel_k * precision@k
 *                 (its mean over users is MAP@N; the normalisation makes a
 *                 perfect list score 1 even when |T| > N)
 * Each is averaged over the users evaluated. Catalogue coverage is the
 * share of the products with training ratings that appear in at least one
 * evaluated user's list. */
#ifndef RECO_METRICS_H
#define RECO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ranking metrics of one user's list. */
typedef struct reco_rank_user {
    double precision, recall, ndcg, ap;
    uint32_t hits;
} reco_rank_user;

/* Scores the list rec[0..n_rec-1] (product indices, best first, n_rec <= n,
 * no repeats) at cut-off n against relevant[0..n_rel-1] (ascending, no
 * repeats, n_rel >= 1; n >= 1). */
void reco_rank_metrics(const uint32_t *rec, size_t n_rec, size_t n, const uint32_t *relevant,
                       size_t n_rel, reco_rank_user *out);

/* RMSE and MAE of pred against truth over n pairs (NaN when n is 0). */
double reco_rmse(const float *pred, const float *truth, size_t n);
double reco_mae(const float *pred, const float *truth, size_t n);

#ifdef __cplusplus
}
#endif

#endif
