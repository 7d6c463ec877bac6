/* reco: evaluation of a fitted model on held-out ratings.
 *
 * The model is fitted on a training set and judged on a test set it never
 * saw (see reco/split.h for making the pair), both over the same ID maps.
 * Two questions are asked:
 *
 * Rating prediction: every test rating (u, i, r) is predicted with
 * reco_model_predict and RMSE and MAE are taken over ALL of them. A test
 * rating whose user (or product) has no training rating cannot be
 * personalised; the model's fallback (the baseline) predicts it, it is
 * counted in the error like any other, and how many there were is reported.
 * A model that does not predict ratings (reco_model_predicts_ratings: e.g.
 * popular by count, svd mode=pure) gets no RMSE or MAE (NaN): its
 * predictions would be the baseline's.
 *
 * Top-N ranking: for each user with at least one relevant test product
 * (test rating >= `relevant` on a product the user did not rate in
 * training), the model recommends N products among those the user has not
 * rated in training (reco_model_recommend with the training profile and
 * exclude_rated); a user without training ratings gets the cold-start
 * answer (the popularity ranking). Precision, recall, NDCG, MAP and hit
 * rate at N and catalogue coverage follow the definitions in reco/metrics.h.
 * Relevant products the model cannot know (no training rating) stay in the
 * denominators: failing to recommend them is a real miss.
 *
 * Results do not depend on the number of threads: sums are formed per
 * fixed-size block of users and the blocks added in order. */
#ifndef RECO_EVAL_H
#define RECO_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/metrics.h"
#include "reco/model.h"
#include "reco/progress.h"
#include "reco/split.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_EVAL_MAX_N 1000

typedef struct reco_eval_options {
    uint32_t n;             /* list length N, 1..RECO_EVAL_MAX_N (default 10) */
    double relevant;        /* a test rating >= this is relevant (default 4) */
    uint32_t rank_users;    /* rank for a seeded sample of at most this many of
                             * the eligible users (0: all; for big data) */
    uint64_t seed;          /* seed of that sample (default 1) */
    bool rating_metrics;    /* compute RMSE and MAE (default true) */
    bool ranking_metrics;   /* compute the top-N metrics (default true) */
    int threads;            /* 0: all cores */
    reco_progress progress; /* stages "predict" (test ratings), "rank" (users) */
} reco_eval_options;

void reco_eval_options_default(reco_eval_options *o);
reco_status reco_eval_options_check(const reco_eval_options *o, reco_error *err);

typedef struct reco_eval_result {
    /* Rating prediction. */
    uint64_t test_ratings;        /* all of them were predicted */
    uint64_t unknown_user_ratings;/* of which the user has no training rating */
    uint64_t unknown_item_ratings;/* of which the product has no training rating */
    double rmse, mae;             /* NaN if not computed or the model
                                     does not predict ratings */
    /* Ranking. */
    uint64_t rank_eligible;       /* users with >= 1 relevant test product */
    uint64_t rank_users;          /* users evaluated (a sample if capped) */
    uint64_t rank_cold_users;     /* of which without training ratings */
    uint64_t catalogue;           /* products with training ratings */
    double precision, recall, ndcg, map, hit_rate, coverage; /* NaN if none */
    /* Wall-clock seconds. */
    double fit_seconds;           /* copied from the model */
    double predict_seconds;       /* predicting every test rating */
    double recommend_seconds;     /* every evaluated user's list */
} reco_eval_result;

/* Evaluates m (fitted on m->train) on test, which must share m->train's ID
 * maps (a pair from reco_splitter_get or reco_split_load_test). Writes *out
 * (every field). RECO_ERR_INVALID for an unfitted model, other maps or bad
 * options; errors of the model's recommend are passed on. */
reco_status reco_eval_model(const reco_model *m, const reco_dataset *test,
                            const reco_eval_options *o, reco_eval_result *out, reco_error *err);

/* Summary of k results (k >= 1), e.g. over folds: *mean holds the mean of
 * each metric and time and the sum of each count; *std (may be NULL) the
 * population standard deviation of each metric and time (counts 0). */
void reco_eval_summarise(const reco_eval_result *r, size_t k, reco_eval_result *mean,
                         reco_eval_result *std);

#ifdef __cplusplus
}
#endif

#endif
