/* reco: hyperparameter search for any algorithm, on a validation split
 * carved out of the training data only.
 *
 * Tuning on the test set and then reporting the test figure measures how
 * well the search fitted that test set, not how the model will do on new
 * ratings. So reco_tune_run is given training data only: it splits that
 * data again into an inner training part and a validation part (by default
 * each user's latest 20% by timestamp, or a random 20% when the data has
 * no timestamps), fits one model per trial on the inner part and scores it
 * on the validation part. A held-out test set, if any, is for the caller to
 * score once, after the search, with the chosen parameters (see
 * reco_tune_best_model).
 *
 * A search space is a list of dimensions written as text, one KEY=SPEC per
 * parameter (KEY as for reco_model_set_param):
 *   KEY=V1,V2,...        a list of values (any text the parameter takes)
 *   KEY=LO:HI[:OPT...]   a numeric range; options follow HI in any order,
 *                        each after a ':' or ',':
 *       log    log-uniform (draws) or log-spaced (grid points); LO > 0
 *       int    integer values (rounded), LO and HI integers
 *       N      an integer 2..RECO_TUNE_MAX_VALUES: the number of grid points
 *              from LO to HI inclusive (needed for a grid over a range)
 *   e.g. factors=32,64,128   reg=0.001:1:log   alpha=1:50
 *        factors=16:256:int:log   reg=0.01:1:log:5
 * A SPEC containing ':' is a range, anything else a list.
 *
 * Strategies: a grid runs every combination (the cartesian product, the
 * first dimension varying slowest, each list in its given order) and is
 * refused when it has more than max_trials points; random search draws
 * `trials` points, each dimension independently (a list uniformly, a range
 * uniformly or log-uniformly), from a generator seeded with `seed`: the
 * same seed gives the same trials on every machine. AUTO is a grid when
 * every dimension is a list or a range with a point count, random search
 * otherwise.
 *
 * Results do not depend on the number of threads (the algorithms and the
 * evaluation guarantee that); the wall times do. */
#ifndef RECO_TUNE_H
#define RECO_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/eval.h"
#include "reco/model.h"
#include "reco/progress.h"
#include "reco/split.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_TUNE_MAX_DIMS 16
#define RECO_TUNE_MAX_VALUES 64 /* values of a list, points of a range */
#define RECO_TUNE_KEY_MAX 64    /* bytes of a key, with the terminator */
#define RECO_TUNE_VALUE_MAX 64  /* bytes of a value, with the terminator */
#define RECO_TUNE_MAX_TRIALS 100000

/* ---- search spaces ------------------------------------------------------- */

typedef struct reco_tune_dim {
    char key[RECO_TUNE_KEY_MAX];
    bool is_range;
    /* A list: */
    uint32_t n_values;
    char values[RECO_TUNE_MAX_VALUES][RECO_TUNE_VALUE_MAX];
    /* A range: */
    double lo, hi;
    bool log, integer;
    uint32_t points;        /* grid points; 0: none given (random search only) */
} reco_tune_dim;

typedef struct reco_tune_space {
    uint32_t n_dims;
    reco_tune_dim dims[RECO_TUNE_MAX_DIMS];
} reco_tune_space;

/* Parses one "KEY=SPEC" into *out. RECO_ERR_INVALID with a message quoting
 * the text and saying what is wrong. */
reco_status reco_tune_dim_parse(const char *text, reco_tune_dim *out, reco_error *err);

/* Parses "KEY=SPEC" and appends it to s. RECO_ERR_INVALID for a bad spec, a
 * key given twice or more than RECO_TUNE_MAX_DIMS dimensions. */
reco_status reco_tune_space_add(reco_tune_space *s, const char *text, reco_error *err);

/* Writes a dimension back as "KEY=SPEC" (canonical form) into buf. */
void reco_tune_dim_format(const reco_tune_dim *d, char *buf, size_t cap);

/* Checks that algorithm `algo` takes every key of s and every value of its
 * lists and both ends of its ranges (through reco_model_set_param on a
 * scratch model): RECO_ERR_INVALID with the algorithm's own message, which
 * names the parameter and its allowed range. A key may be written with the
 * algorithm's name in front ("mf.factors"); it is stored without it. */
reco_status reco_tune_space_check(reco_tune_space *s, const char *algo, reco_error *err);

/* The default search space of algorithm `algo`, looked up by name in a
 * small table (popular, baseline, usercf, itemcf, svd, mf, ials, ease).
 * Keys the algorithm does not take are left out, so the table may name
 * algorithms and parameters that are not built in. RECO_ERR_NOT_FOUND when
 * there is no default space for that name (give one). */
reco_status reco_tune_default_space(const char *algo, reco_tune_space *out, reco_error *err);

/* ---- what to optimise ---------------------------------------------------- */

typedef enum reco_tune_metric_kind {
    RECO_TUNE_NDCG,
    RECO_TUNE_PRECISION,
    RECO_TUNE_RECALL,
    RECO_TUNE_MAP,
    RECO_TUNE_HIT,
    RECO_TUNE_RMSE,
    RECO_TUNE_MAE
} reco_tune_metric_kind;

typedef struct reco_tune_metric {
    reco_tune_metric_kind kind;
    uint32_t n;             /* list length of a ranking metric */
} reco_tune_metric;

/* Parses "ndcg@N", "precision@N" or "p@N", "recall@N", "map@N", "hit@N"
 * (or "hr@N"), "rmse", "mae"; "@N" is optional (10). */
reco_status reco_tune_metric_parse(const char *text, reco_tune_metric *out, reco_error *err);
void reco_tune_metric_format(const reco_tune_metric *m, char *buf, size_t cap);
/* Ranking metrics are maximised, rating errors minimised. */
bool reco_tune_metric_maximise(const reco_tune_metric *m);
bool reco_tune_metric_is_ranking(const reco_tune_metric *m);
/* The metric's value in r (NaN if r does not have it). */
double reco_tune_metric_value(const reco_tune_metric *m, const reco_eval_result *r);

/* ---- options ----------------------------------------------------------- */

typedef enum reco_tune_strategy {
    RECO_TUNE_AUTO,
    RECO_TUNE_GRID,
    RECO_TUNE_RANDOM
} reco_tune_strategy;

typedef struct reco_tune_options {
    reco_tune_strategy strategy; /* default AUTO */
    uint32_t trials;             /* random search: trials to draw (default 20) */
    uint32_t max_trials;         /* grid: refuse a larger one (default 200) */
    uint64_t seed;               /* draws, validation split, rank sample (default 1) */
    /* The validation split carved from the data: random:F, time:F, loo, or
     * kfold:K (every trial is then fitted K times and its figures are the
     * means over the folds). Default time:0.2. Its seed is ignored (seed
     * above is used). */
    reco_split_spec validation;
    /* Use random:F instead of time:F (or loo) on data without timestamps
     * (default true; false makes that an error). */
    bool validation_fallback;
    reco_tune_metric metric;     /* default ndcg@10 */
    double relevant;             /* relevance threshold of ranking (default 4) */
    uint32_t rank_users;         /* rank a seeded sample of this many users (0: all) */
    /* Fixed parameters applied to every trial before the trial's own, as
     * "KEY=VALUE" ("ALGO.KEY=VALUE" also accepted); borrowed. */
    const char *const *fixed;
    size_t n_fixed;
    /* Stop starting new trials once this many seconds have passed since
     * the search began (the first trial always runs, so there is a
     * result); 0: no limit. */
    double budget_seconds;
    int threads;                 /* 0: all cores */
    reco_progress progress;      /* stage "tune": trials done of trials planned */
} reco_tune_options;

void reco_tune_options_default(reco_tune_options *o);
reco_status reco_tune_options_check(const reco_tune_options *o, reco_error *err);

/* ---- the validation split ----------------------------------------------- */

typedef struct reco_tune_split {
    reco_split_spec spec;        /* the split made (after the fallback) */
    bool fell_back;              /* time was asked for, the data has no timestamps */
    uint32_t n;                  /* pairs: K for kfold, else 1 */
    reco_dataset **train;        /* n inner training parts */
    reco_dataset **valid;        /* n validation parts */
} reco_tune_split;

/* Carves the validation split out of data (which is all the search ever
 * sees; both parts of each pair share data's ID maps and indices, are
 * disjoint and together are data). RECO_ERR_EMPTY when the data is too
 * small for it: a pair would leave no inner training rating, no validation
 * rating, or (for a ranking metric) no user with a relevant validation
 * rating; the message says how many ratings and users the data has. */
reco_status reco_tune_split_new(const reco_dataset *data, const reco_tune_options *o,
                                reco_tune_split **out, reco_error *err);
void reco_tune_split_free(reco_tune_split *s);

/* ---- the search ------------------------------------------------------------ */

/* The points to try, in order: n_dims values each, row-major, into a new
 * array *values of *n points (free() it). Grid: the cartesian product,
 * RECO_ERR_INVALID if a range has no point count or the grid has more than
 * o->max_trials points. Random: o->trials seeded draws. Values of integer
 * ranges are written as integers, others with 4 significant digits (more
 * when needed to stay inside the range). */
typedef char reco_tune_value[RECO_TUNE_VALUE_MAX];
reco_status reco_tune_points(const reco_tune_space *s, const reco_tune_options *o,
                             reco_tune_value **values, size_t *n, reco_error *err);

typedef struct reco_tune_trial {
    reco_tune_value values[RECO_TUNE_MAX_DIMS]; /* one per dimension of the space */
    reco_eval_result eval;       /* validation figures (means over folds) */
    double metric;               /* the target metric's value */
    double seconds;              /* wall time: fits and evaluations */
} reco_tune_trial;

typedef struct reco_tune_result {
    char algo[64];
    reco_tune_space space;       /* as searched (keys without the algorithm's name) */
    reco_tune_strategy strategy; /* GRID or RANDOM */
    reco_tune_metric metric;
    reco_split_spec validation;  /* the split made */
    bool validation_fell_back;
    uint64_t data_ratings;       /* the data given: ratings, users with ratings */
    uint32_t data_users;
    uint64_t inner_train_ratings, validation_ratings; /* summed over folds */
    size_t planned;              /* points the plan held */
    size_t n_trials;             /* trials run (fewer if the budget ran out) */
    bool budget_exhausted;
    reco_tune_trial *trials;     /* n_trials, in the order run */
    size_t best;                 /* index of the best trial (ties: the earliest) */
    double seconds;              /* the whole search */
} reco_tune_result;

/* Everything reco_tune_run checks before it reads any data: the options,
 * the space against the algorithm (reco_tune_space_check, which strips
 * "ALGO." from its keys), the fixed parameters, that no parameter is both
 * fixed and searched, and the plan (a grid within max_trials). *planned
 * (may be NULL) is the number of trials the plan holds. */
reco_status reco_tune_check(const char *algo, reco_tune_space *space,
                            const reco_tune_options *o, size_t *planned, reco_error *err);

/* Tunes algorithm `algo` on data (borrowed; only it is seen): carves the
 * validation split, then for every point a new model by name, the fixed
 * parameters, the point's values, fitted on the inner training part and
 * evaluated on the validation part (rating metrics always; ranking metrics
 * only when the target is one, since they cost far more). A trial whose
 * parameters the algorithm refuses stops the search with its message.
 * *out is new; free it with reco_tune_result_free. */
reco_status reco_tune_run(const char *algo, const reco_dataset *data, const reco_tune_space *space,
                          const reco_tune_options *o, reco_tune_result **out, reco_error *err);
void reco_tune_result_free(reco_tune_result *r);

/* Index of the best of n trials for metric m: highest for a ranking metric,
 * lowest for an error; a NaN loses; ties go to the earliest. n >= 1. */
size_t reco_tune_best(const reco_tune_trial *t, size_t n, const reco_tune_metric *m);

/* A new unfitted model of the result's algorithm with the fixed parameters
 * of o and the values of trial `index` of r: to refit on all the training
 * data (and, once, to score on a held-out test set). */
reco_status reco_tune_model(const reco_tune_result *r, size_t index, const reco_tune_options *o,
                            reco_model **out, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
