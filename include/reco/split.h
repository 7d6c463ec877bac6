/* reco: train/test splits of a dataset, for honest evaluation.
 *
 * A model is judged on ratings it never saw while fitting. Every split turns
 * one dataset into pairs (train, test) of datasets that share the input's ID
 * maps and keep its indices (built with keep_ids), so a test rating's user
 * and product indices mean the same thing in both halves. The two halves of
 * a pair are disjoint and together hold every rating of the input.
 *
 * Kinds (written as text for --split):
 *   random:F  a seeded uniform sample of exactly round(F * ratings) ratings
 *             is the test set (0 < F < 1; "random" alone is random:0.2).
 *   kfold:K   ratings shuffled (seeded) into K folds whose sizes differ by at
 *             most one; pair k tests on fold k and trains on the others. The
 *             folds are disjoint and cover the data (2 <= K <= 100; "kfold"
 *             is kfold:5).
 *   time:F    each user's latest round(F * n) of its n ratings, by
 *             timestamp, are the test set, but at least one rating of every
 *             user stays in training (so users with one rating are training
 *             only): the model predicts each user's future from its past, as
 *             a shop would. Needs timestamps. "time" is time:0.2.
 *   loo       leave-one-out: each user's latest rating is the test set,
 *             for every user with at least two ratings. Needs timestamps.
 * Ratings with equal timestamps are ordered by a seeded hash of (user,
 * product), so ties are broken the same way on every run with one seed and
 * without favouring low or high indices. */
#ifndef RECO_SPLIT_H
#define RECO_SPLIT_H

#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/ratings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_SPLIT_MAX_FOLDS 100

typedef enum reco_split_kind {
    RECO_SPLIT_RANDOM,
    RECO_SPLIT_KFOLD,
    RECO_SPLIT_TIME,
    RECO_SPLIT_LOO
} reco_split_kind;

typedef struct reco_split_spec {
    reco_split_kind kind;
    double fraction;  /* random, time: share of ratings to test, 0 < F < 1 */
    uint32_t folds;   /* kfold: K */
    uint64_t seed;    /* the same seed gives the same split */
} reco_split_spec;

/* Parses "random:F", "kfold:K", "time:F" or "loo" into *out with the given
 * seed. RECO_ERR_INVALID with a message quoting text when it is none. */
reco_status reco_split_parse(const char *text, uint64_t seed, reco_split_spec *out,
                             reco_error *err);

/* Writes the canonical text of s ("kfold:5") into buf. */
void reco_split_format(const reco_split_spec *s, char *buf, size_t cap);

/* Fixes the assignment of every rating of ds to train or test (or to a fold)
 * once, so that every model evaluated is given identical pairs. ds is
 * borrowed and must outlive the splitter. RECO_ERR_INVALID for a time or
 * loo split of data without timestamps, or a bad spec; RECO_ERR_EMPTY when
 * the split would leave no test rating. */
typedef struct reco_splitter reco_splitter;
reco_status reco_splitter_new(const reco_dataset *ds, const reco_split_spec *spec,
                              reco_splitter **out, reco_error *err);
void reco_splitter_free(reco_splitter *s);

/* Number of (train, test) pairs: K for kfold, 1 otherwise. */
uint32_t reco_splitter_count(const reco_splitter *s);

/* Builds pair k (< count): two new datasets sharing the input's ID maps,
 * with the input's user and product counts (keep_ids). The caller frees
 * both with reco_dataset_free. */
reco_status reco_splitter_get(const reco_splitter *s, uint32_t k, reco_dataset **train,
                              reco_dataset **test, reco_error *err);

/* Loads a test file whose IDs must agree with train (MovieLens' u1.test
 * beside u1.base): its IDs are interned into train's maps, which gain the
 * IDs train has never seen (train's own indices do not change; its user
 * and product counts stay as they were, so the new IDs are "unknown" to a
 * model fitted on train). lopt's users/items are ignored; NULL means
 * defaults. Duplicates in the file are removed as in reco_dataset_build,
 * and so are (user, product) pairs that train already holds, since a model
 * must not be tested on what it was fitted on; their number is left in
 * (*test)->filtered_ratings. *test is new and shares train's maps. */
reco_status reco_split_load_test(const char *path, const reco_dataset *train,
                                 const reco_load_options *lopt, reco_dataset **test,
                                 reco_error *err);

/* A seeded uniform sample of k distinct indices of 0..n-1 (k <= n), written
 * ascending to out[0..k-1] in one pass (selection sampling). */
void reco_split_sample(uint32_t n, uint32_t k, uint64_t seed, uint32_t *out);

#ifdef __cplusplus
}
#endif

#endif
