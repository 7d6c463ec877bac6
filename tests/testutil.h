/* Helpers shared by the unit tests. Include after <cmocka.h>'s prerequisites. */
#ifndef RECO_TESTUTIL_H
#define RECO_TESTUTIL_H

#include <stddef.h>

/* Exit status that CTest reports as "skipped" (SKIP_RETURN_CODE). */
#define TEST_SKIP_STATUS 77

/* Path of a file under ../shared/data (rel like "ml-100k/u.data") in buf, or
 * NULL when the shared data is not there (tests then skip). */
const char *test_shared_data(const char *rel, char *buf, size_t cap);

/* Writes content to a new temporary file; returns its malloc'd path (the
 * caller unlinks and frees it), or NULL. */
char *test_write_temp(const char *content, size_t len);

/* MovieLens 100K split k (1..5) from ../shared/data: the training file as
 * a dataset that keeps its ID maps whole (*train), the test file as ratings
 * sharing those maps so indices agree (*test; IDs new in the test get
 * indices past the model's, and the baseline answers for them). Returns 0,
 * or -1 with nothing allocated when the files are absent or do not load
 * (the reason on stderr). */
struct reco_dataset;
struct reco_ratings;
struct reco_model;
int test_ml100k_fold(int k, struct reco_dataset **train, struct reco_ratings **test);

/* MovieLens 100K split k (1..5) as reco_eval_model takes it: the training
 * file as a dataset and the test file as a dataset sharing its maps
 * (reco_split_load_test). Returns 0, or -1 with nothing allocated when the
 * files are absent or do not load (the reason on stderr). */
int test_ml100k_eval_fold(int k, struct reco_dataset **train, struct reco_dataset **test);

/* A uniform draw in (0, 1) from the xorshift64 stream *state (nonzero):
 * reproducible synthetic data for tests. */
#include <stdint.h>
double test_uniform(uint64_t *state);

/* Empty ratings over nu users "u0".. and ni products "i0".. (ID index k is
 * user or product k), for tests that push synthetic ratings. NULL on
 * failure. */
struct reco_ratings *test_ratings_new(uint32_t nu, uint32_t ni);

/* Root-mean-square error of m's predictions of the ratings of t. */
double test_rmse(const struct reco_model *m, const struct reco_ratings *t);

/* Trains algorithm algo on a grid of n_users x n_items ratings (user uK
 * rated item iJ when (K + J) % 3 == 0, rating 1 + (K * J) % 5, timestamp
 * 1000 + K) and saves it at path. 0, or -1 after printing why. */
int test_save_grid_model(const char *algo, uint32_t n_users, uint32_t n_items, const char *path);

#endif
