/* reco: the recommender interface shared by every algorithm.
 *
 * An algorithm is a table of functions (reco_algo_ops) registered by name
 * ("popular", "baseline", "usercf", "itemcf", "svd", "mf", "ease"). A
 * reco_model binds one algorithm to its parameters and, after
 * reco_model_fit, to its fitted state. Every model also fits the baseline predictor (its fallback
 * for users and products without training ratings) and the popularity
 * ranking (its answer for users it has never seen).
 *
 * Every model also answers similar products, through a chain of sources
 * (reco_model_similar below).
 *
 * Thread safety: after fitting, predict, recommend and similar only read the
 * model and may be called from many threads at once, each with its own
 * scratch buffers. */
#ifndef RECO_MODEL_H
#define RECO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/baseline.h"
#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/item_filter.h"
#include "reco/modelfile.h"
#include "reco/progress.h"
#include "reco/ratings_log.h"
#include "reco/topn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_NO_USER UINT32_MAX
#define RECO_POPULAR_TOP 4096

/* A user's ratings as recommenders see them: the training row of a known
 * user, or ratings that arrived later (then `updated` is true and factor
 * models fold the user in), or nothing (a user never seen). */
typedef struct reco_profile {
    uint32_t user;          /* training index, or RECO_NO_USER */
    const uint32_t *items;  /* ascending item indices */
    const float *ratings;
    uint32_t n;
    bool updated;           /* differs from the training row of `user` */
} reco_profile;

/* The training row of user u as a profile (borrowing the dataset). */
reco_profile reco_profile_of_user(const reco_dataset *train, uint32_t u);

/* Settings for fitting that are not model parameters. */
typedef struct reco_fit_ctx {
    int threads;            /* 0: all cores */
    reco_progress progress; /* stage names are the algorithm's */
    const reco_baseline *baseline; /* filled in by reco_model_fit */
} reco_fit_ctx;

/* A parameter as model files keep it (reco_params_save): its key (as for
 * param_set), its C type and where it sits in the parameter struct. */
typedef enum reco_param_type {
    RECO_PT_INT,  /* int, or an enum (stored as i64) */
    RECO_PT_U32,  /* uint32_t (u64) */
    RECO_PT_U64,  /* uint64_t (u64) */
    RECO_PT_F64,  /* double (f64, exact) */
    RECO_PT_BOOL, /* bool (u64, 0 or 1) */
    RECO_PT_STR   /* char[N], NUL-terminated (str) */
} reco_param_type;

typedef struct reco_param_field {
    const char *key; /* NULL ends a table */
    reco_param_type type;
    size_t offset, size;
} reco_param_field;

/* A table entry for member `member` of parameter struct T. */
#define RECO_PARAM_FIELD(T, member, type) {#member, type, offsetof(T, member), sizeof(((T *)0)->member)}

/* Adds every field of params as an entry PREFIX + key of m. */
void reco_params_save(const reco_param_field *fields, const void *params, const char *prefix,
                      reco_mfile_meta *m);

/* Reads every field of params back from m (entries PREFIX + key, each
 * required, of its type and within its type's range: the algorithm's
 * params_check judges the values). RECO_ERR_FORMAT naming the key. */
reco_status reco_params_load(const reco_param_field *fields, void *params, const char *prefix,
                             const reco_mfile_meta *m, reco_error *err);

/* The fields of the parameters every model has (reco/baseline.h). */
extern const reco_param_field reco_baseline_param_fields[];
extern const reco_param_field reco_popular_param_fields[];

/* The product vectors of a factor model, for similarity: the cosine of
 * products i and j is  sum_f w_f q_if q_jf * inv_norm[i] * inv_norm[j]
 * (w: weights, all 1 when NULL; svd: the squared singular values, so that
 * the vectors compared are the rows of V·Σ). inv_norm[j] is 1 / |q_j|
 * under the same weights, 0 for a product without factors. */
typedef struct reco_item_factors {
    const float *rows;     /* n_rows rows of ld floats, k used */
    const float *inv_norm; /* n_rows */
    const float *weights;  /* k, or NULL */
    uint32_t n_rows, k, ld;
} reco_item_factors;

typedef struct reco_algo_ops {
    const char *name;
    const char *summary;
    /* score() gives the same values as predict() (and folds a profile's
     * new ratings in), so an updated profile's rating predictions can be
     * read from it. Consulted only when the model predicts ratings. */
    bool scores_are_ratings;
    /* Whether predict() estimates ratings on the training scale with these
     * parameters (a model may rank by one thing and still predict ratings).
     * NULL or false: the model only ranks, and its rating predictions
     * (reco_model_predict) are the baseline's. */
    bool (*predicts_ratings)(const void *params);
    /* What score() values are, a short name given to clients with every
     * list (docs/api.md has the table): "rating_estimate" (an unclamped
     * rating prediction), "rating_count", "similarity_weighted_sum", ...
     * Higher is better within a list, whatever the kind. state is the
     * fitted state, or NULL before fitting. NULL: "relevance". */
    const char *(*score_kind)(const void *params, const void *state);
    size_t params_size;
    void (*params_default)(void *params);
    /* Sets one parameter from text ("factors", "64"); RECO_ERR_INVALID with
     * a message naming the parameter for an unknown key or a bad value. */
    reco_status (*param_set)(void *params, const char *key, const char *value,
                             reco_error *err);
    reco_status (*params_check)(const void *params, reco_error *err);
    /* Writes the parameters as "k=v k=v" into buf. */
    void (*params_format)(const void *params, char *buf, size_t cap);
    /* Every field of the parameter struct, for model files (a table
     * ending in a NULL key). */
    const reco_param_field *param_fields;

    reco_status (*fit)(const void *params, const reco_dataset *train,
                       const reco_fit_ctx *ctx, void **state, reco_error *err);
    void (*free_state)(void *state);

    /* Predicted rating for a known user u and known item i (both have
     * training ratings). NaN means "no opinion": the baseline answers. */
    float (*predict)(const void *state, const reco_dataset *train, const reco_baseline *base,
                     uint32_t u, uint32_t i);
    /* Scores every item for prof into scores[n_items] (higher is better;
     * -INFINITY for items it will not recommend). scratch is at least
     * scratch_size(state, train) bytes, owned by the caller. NULL: the
     * algorithm scores with predict() for every item. */
    reco_status (*score)(const void *state, const reco_dataset *train,
                         const reco_baseline *base, const reco_profile *prof, float *scores,
                         void *scratch, reco_error *err);
    size_t (*scratch_size)(const void *state, const reco_dataset *train);
    /* Optional: predicted ratings of every item for prof into scores (as
     * score() does for a model whose scores are ratings), for a model that
     * ranks by something else but predicts ratings with the same fold-in
     * (the composite "default"). NULL: score() when scores_are_ratings. */
    reco_status (*rating_scores)(const void *state, const reco_dataset *train,
                                 const reco_baseline *base, const reco_profile *prof,
                                 float *scores, void *scratch, reco_error *err);
    /* Optional: predicted ratings of items[0..n-1] for prof into out, as
     * rating_scores (or score() for a model whose scores are ratings)
     * would give them, without scoring the whole catalogue (mf: one
     * fold-in, then one dot product per item); NAN where it has none.
     * scratch as for score(). NULL: the whole catalogue is scored. */
    reco_status (*rating_items)(const void *state, const reco_dataset *train,
                                const reco_baseline *base, const reco_profile *prof,
                                const uint32_t *items, size_t n, float *out, void *scratch,
                                reco_error *err);
    /* Optional: the algorithm's own item-item neighbours of item i, the
     * "co_rated" source of reco_model_similar (itemcf: its top-K table;
     * ease: the positive weights of B's row i): up to n, best first, every
     * score > 0, never i, only products rules admits (reco_item_filter_admits;
     * NULL: all). co_rated_kind names their score, and its NULL
     * result (or a NULL co_rated_kind) says the model has no such list of
     * its own: the co-rating cosines are then computed from the training
     * ratings. */
    const char *(*co_rated_kind)(const void *state);
    reco_status (*co_rated)(const void *state, const reco_dataset *train, uint32_t i, size_t n,
                            const struct reco_item_filter *rules, reco_scored *out,
                            size_t *n_out, reco_error *err);
    /* Optional: the item factor vectors whose cosines make the "factors"
     * source of reco_model_similar (borrowed from the state). false: the
     * model has none. */
    bool (*item_factors)(const void *state, reco_item_factors *out);
    /* Optional fast path for top-N, used instead of score + selection: the
     * n best items for prof (not NULL-user-and-empty) under the rules f
     * (reco/item_filter.h; NULL: none), best first, into out; the same
     * items and scores score() + reco_topn_select_filter would give,
     * applying f inside the search. scratch as for score. */
    reco_status (*recommend)(const void *state, const reco_dataset *train,
                             const reco_baseline *base, const reco_profile *prof, size_t n,
                             const reco_item_filter *f, reco_scored *out, size_t *n_out,
                             void *scratch, reco_error *err);
    /* Optional, with recommend: the index whose orders that search walks
     * (reco/factor_index.h), so that a caller can lay the catalogue's
     * rules out in them (reco_item_filter.walks) once per catalogue rather
     * than per request. NULL, or a NULL result: none. */
    const struct reco_factor_index *(*topn_index)(const void *state);
    /* Optional: up to max items of prof that led to recommending item i. */
    size_t (*explain)(const void *state, const reco_dataset *train, const reco_profile *prof,
                      uint32_t i, uint32_t *out, size_t max);
    /* Optional, with explain: the same for the n items of a list at once
     * (out[j max ...], counts[j]), for models whose explanations share
     * work per user (ials: one factorisation of the user's system). */
    void (*explain_list)(const void *state, const reco_dataset *train, const reco_profile *prof,
                         const uint32_t *items, size_t n, size_t max, uint32_t *out,
                         uint32_t *counts);

    /* Model files. save adds the fitted state as sections named "NAME.*"
     * (borrowing the state's arrays until the file is committed); load
     * rebuilds a state reading those sections in place (the mapping
     * outlives the state) and must validate sizes and index ranges so a
     * crafted file cannot cause out-of-bounds reads. params are already
     * loaded. free_state must handle states made by load. */
    reco_status (*save)(const void *params, const void *state, const reco_dataset *train,
                        reco_mfile_writer *w, reco_error *err);
    reco_status (*load)(const void *params, const reco_mfile *f, const reco_dataset *train,
                        void **state, reco_error *err);
} reco_algo_ops;

/* Parameters of similar products (reco_model_similar), shared by every
 * model and saved with it. */
typedef struct reco_similar_params {
    /* "similar.min_support": the fewest training ratings a product needs to
     * be listed by factor similarity (default RECO_SIMILAR_MIN_SUPPORT).
     * The factors of a product rated a few times say little about it, yet
     * without a floor such products are over a quarter of what svd and
     * ials list on MovieLens 100K. 10 was chosen on a validation split of
     * u1.base (docs/algorithms.md: "Similar products"). */
    uint32_t min_support;
} reco_similar_params;

#define RECO_SIMILAR_MIN_SUPPORT 10

/* The fields of reco_similar_params, for model files. */
extern const reco_param_field reco_similar_param_fields[];

/* The registered algorithms, NULL-terminated; and lookup by name. */
const reco_algo_ops *const *reco_algo_list(void);
const reco_algo_ops *reco_algo_find(const char *name);

typedef struct reco_model {
    const reco_algo_ops *ops;
    void *params;                /* owned, ops->params_size bytes */
    void *state;                 /* owned; NULL until fitted */
    const reco_dataset *train;   /* borrowed: must outlive the model */
    reco_baseline_params baseline_params;
    reco_baseline baseline;
    reco_popular_params popular_params;
    reco_similar_params similar_params;
    /* The factors source's search structure (owned; NULL for a model
     * without factors, and until the first similar-products search needs
     * it: that search builds it and publishes it atomically). */
    struct reco_cosine_index *similar_index;
    float *popular;              /* n_items popularity scores */
    /* The best of the popularity ranking, in order (at most
     * RECO_POPULAR_TOP items; owned, derived from popular after a fit or a
     * load), so that cold-start lists cost no scan of the catalogue. */
    reco_topn_head popular_top;
    float rating_lo, rating_hi;  /* training range: predictions are clamped */
    double fit_seconds;
    double train_rmse;           /* on the training ratings; NaN if not computed */
    int64_t trained_at;          /* Unix time of the fit */
    /* How much of a ratings log the training data held (set by whoever
     * trains with one, `reco train --ratings-log`; saved in the file as
     * section "log.point"); id[0] == '\0': none. The server replays only
     * the log's lines after it. */
    reco_log_point log_point;
    /* The product catalogue the model was trained with (`reco train
     * --items`; reco/catalogue.h), saved in the file as sections "cat.*";
     * owned, NULL without one. */
    struct reco_catalogue *catalogue;
    /* The event weights the training data was aggregated with (events.h;
     * owned, set by whoever trains on events, saved as section
     * "events.weights"); NULL: trained on ratings. Events that arrive
     * later are folded in with these (reco_event_confidence). */
    struct reco_event_weights *event_weights;
    /* Set when the model was loaded from a file: the model owns the file
     * mapping and the dataset that reads it. */
    reco_mfile *file;
    reco_dataset *owned_train;
} reco_model;

/* A new unfitted model of algorithm `name` with default parameters. */
reco_status reco_model_new(const char *name, reco_model **out, reco_error *err);
void reco_model_free(reco_model *m);

/* Sets a parameter: "k" for the algorithm's own, "baseline.reg_u",
 * "baseline.reg_i", "baseline.epochs", "popular.by",
 * "popular.half_life_days", "popular.damping", "popular.min_count",
 * "similar.min_support" for the shared pieces (the last also on a fitted
 * model, whose factor index is then rebuilt). The popular algorithm's own parameters are the popularity
 * ranking's: "by" and "popular.by" set the same thing. */
reco_status reco_model_set_param(reco_model *m, const char *key, const char *value,
                                 reco_error *err);

/* Sets a parameter given as one "KEY=VALUE" text (a command-line word),
 * the one parser of such words: KEY as for reco_model_set_param, or
 * "ALGO.KEY" for m's own algorithm ("mf.factors=64" on an mf model).
 * RECO_ERR_INVALID naming the text if it has no '=' or an empty key. */
reco_status reco_model_set_param_text(reco_model *m, const char *key_value, reco_error *err);

/* Whether err (from setting a parameter) says the key is unknown, rather
 * than that its value is bad. */
bool reco_param_is_unknown(const reco_error *err);

/* Gives dst, an unfitted model of src's algorithm, src's parameters (its
 * own, the baseline's, the popularity ranking's and similar products'). */
reco_status reco_model_copy_params(reco_model *dst, const reco_model *src, reco_error *err);

/* Fits baseline, popularity and the algorithm on train (borrowed). */
reco_status reco_model_fit(reco_model *m, const reco_dataset *train, const reco_fit_ctx *ctx,
                           reco_error *err);

/* Whether the model predicts ratings (ops->predicts_ratings for its
 * parameters). If not, every rating prediction below is the baseline's. */
bool reco_model_predicts_ratings(const reco_model *m);

/* What the scores of a recommendation list mean (ops->score_kind), or for
 * a cold-start list the popularity ranking's (reco_popular_score_kind). */
const char *reco_model_score_kind(const reco_model *m, bool cold_start);

/* Predicted rating of user u for item i, clamped to the training rating
 * range. u and i may be unknown (>= the dataset's counts, or without
 * training ratings): the baseline answers, as it does for every pair when
 * the model does not predict ratings. */
float reco_model_predict(const reco_model *m, uint32_t u, uint32_t i);

/* Predicted rating of prof's user for item i, clamped to the training
 * range, with the profile's new ratings folded in when the algorithm
 * allows it (scores_are_ratings); otherwise, and for a profile that is not
 * updated, reco_model_predict. For a model that does not predict ratings,
 * the baseline with the profile's user bias (re-solved from an updated
 * profile's ratings). scratch as for reco_model_recommend (NULL:
 * allocated). */
float reco_model_predict_profile(const reco_model *m, const reco_profile *prof, uint32_t i,
                                 void *scratch);

/* The same, also telling who answered: *by_model is true when the
 * algorithm's own prediction was used, false when the baseline answered
 * (the model does not predict ratings, the user or product has no
 * training ratings, or the algorithm had no opinion). */
float reco_model_predict_profile_by(const reco_model *m, const reco_profile *prof, uint32_t i,
                                    void *scratch, bool *by_model);

/* Predicted ratings of prof's user for items[0..n-1] (e.g. a list from
 * reco_model_recommend) into out[n], each as reco_model_predict_profile
 * gives it; an updated profile is scored once for all of them. scratch as
 * for reco_model_recommend (NULL: allocated). */
void reco_model_predict_items(const reco_model *m, const reco_profile *prof,
                              const reco_scored *items, size_t n, float *out, void *scratch);

/* The index m's top-N search walks (the topn_index op), or NULL. */
const struct reco_factor_index *reco_model_topn_index(const reco_model *m);

/* Bytes of scratch one recommend call needs. */
size_t reco_model_scratch_size(const reco_model *m);

/* Top n items for prof, best first, into out (n entries); *n_out is the
 * count written. exclude_rated drops items in prof. A profile with no
 * ratings and no user gets the popularity ranking (*cold_start = true), and
 * so does a user about whom the algorithm has no opinion (it returns no
 * item: e.g. an ials user whose only products were regularised to zero).
 * scratch: reco_model_scratch_size bytes owned by the caller (NULL: the
 * call allocates). */
reco_status reco_model_recommend(const reco_model *m, const reco_profile *prof, size_t n,
                                 bool exclude_rated, reco_scored *out, size_t *n_out,
                                 bool *cold_start, void *scratch, reco_error *err);

/* The same under request-time rules (reco/item_filter.h), applied inside
 * the search: the list is exactly "score every product, drop what the
 * rules reject, take the greedy capped top n". rules may be NULL (none);
 * rules->exclude (ascending: the request's exclude list) is merged with
 * prof's products when exclude_rated. The popularity ranking of a cold
 * start, and of a user about whom the algorithm has no opinion (its
 * filtered list is empty), obeys the rules too. A list the rules leave
 * short has fewer than n entries (*n_out says how many). */
reco_status reco_model_recommend_filtered(const reco_model *m, const reco_profile *prof, size_t n,
                                          bool exclude_rated, const reco_item_filter *rules,
                                          reco_scored *out, size_t *n_out, bool *cold_start,
                                          void *scratch, reco_error *err);

/* Why each of the n items of a list was recommended to prof: up to max of
 * prof's products into out[j max ...], their count into counts[j] (0
 * everywhere when the algorithm gives no explanations). */
void reco_model_explain_list(const reco_model *m, const reco_profile *prof,
                             const uint32_t *items, size_t n, size_t max, uint32_t *out,
                             uint32_t *counts);

/* ---- similar products ----
 *
 * Every model answers "products similar to product i" with a chain of
 * sources, each filling what the ones before it left of the list:
 *
 *   co_rated      item-item neighbours from co-ratings: the algorithm's own
 *                 (itemcf's table, ease's weights B_ij > 0), or for every
 *                 other algorithm the co-rating cosine computed from the
 *                 training ratings as itemcf defines it with its default
 *                 parameters (centred on each user's mean, shrunk by
 *                 n / (n + 439) for n common raters), positive only;
 *   factors       factor models only (svd, mf, ials, and a default model
 *                 whose ranker or predictor has factors): the cosine of the
 *                 product vectors, among products with at least
 *                 similar.min_support training ratings;
 *   co_customers  the products most often rated by the customers who
 *                 rated i (ties: the more ratings overall first);
 *   popular       the popularity ranking.
 *
 * A list never repeats a product nor holds i, and it is full (n products)
 * unless the catalogue has fewer rated products. The score's meaning
 * depends on the source (reco_model_similar_score_kind); within one source
 * higher is more similar, and the sources come in chain order. */
typedef enum reco_similar_source {
    RECO_SIMILAR_CO_RATED = 0,
    RECO_SIMILAR_FACTORS,
    RECO_SIMILAR_CO_CUSTOMERS,
    RECO_SIMILAR_POPULAR,
    RECO_SIMILAR_SOURCES /* the count */
} reco_similar_source;

typedef struct reco_similar {
    uint32_t id;
    float score;
    reco_similar_source source;
} reco_similar;

/* "co_rated", "factors", "co_customers", "popular". */
const char *reco_similar_source_name(reco_similar_source s);

/* The model's chain, in order, into out (at most RECO_SIMILAR_SOURCES);
 * returns its length. */
size_t reco_model_similar_chain(const reco_model *m, reco_similar_source *out);

/* What a source's scores are, for clients (docs/api.md has the table):
 * co_rated "co_rating_cosine" (ease: "item_regression_weight"), factors
 * "factor_cosine", co_customers "co_customer_share" (the share of i's
 * raters who also rated the product), popular the popularity ranking's
 * (reco_popular_score_kind). NULL for a source not in the model's chain. */
const char *reco_model_similar_score_kind(const reco_model *m, reco_similar_source s);

/* Builds now what the first similar-products search of a model with
 * factors would otherwise build (its cosine index: 0.1 to 0.6 s on a
 * full-size model), so that the first request is as fast as the others; a
 * server calls it after a load, in the background or before a swap.
 * Thread-safe; a no-op for models without factors or when it is built. */
reco_status reco_model_prepare_similar(const reco_model *m, reco_error *err);

/* Bytes of scratch reco_model_similar uses (20 per product). */
size_t reco_model_similar_scratch_size(const reco_model *m);

/* Up to n products similar to product i, filled in chain order, into out
 * (n entries); *n_out the count. RECO_ERR_NOT_FOUND for i outside the
 * training catalogue; a product without ratings still gets a list (from
 * the popularity ranking). scratch: reco_model_similar_scratch_size bytes,
 * all zero before the first call (calloc); every call leaves it all zero
 * again, so a thread can keep one for all its calls. NULL: the call
 * allocates its own. */
reco_status reco_model_similar(const reco_model *m, uint32_t i, size_t n, reco_similar *out,
                               size_t *n_out, void *scratch, reco_error *err);

/* The same under request-time rules (reco/item_filter.h; NULL: none):
 * every source lists only products the rules admit, inside its own
 * search (the cap max_per_category is not applied to similar lists), so
 * the list is the unfiltered chain's with every product the rules reject
 * left out, each source still filling what the ones before it could
 * not. Rules that leave too few products give a shorter list. */
reco_status reco_model_similar_filtered(const reco_model *m, uint32_t i, size_t n,
                                        const reco_item_filter *rules, reco_similar *out,
                                        size_t *n_out, void *scratch, reco_error *err);

/* One source of the chain alone (no fallback, no deduplication with other
 * sources): up to n products, best first, never i; for tests and offline
 * comparisons. RECO_ERR_INVALID for a source not in the model's chain. */
reco_status reco_model_similar_source(const reco_model *m, reco_similar_source source, uint32_t i,
                                      size_t n, reco_scored *out, size_t *n_out, void *scratch,
                                      reco_error *err);

/* Writes a fitted model, with the training ratings recommendation needs
 * and both ID maps, to path (atomically: a temporary file renamed). */
reco_status reco_model_save(const reco_model *m, const char *path, reco_error *err);

/* Loads a model file by mapping it: no parsing, no copying. Refuses a
 * truncated, corrupted, wrong-version or wrong-endian file, and anything
 * that is not a regular file, with a message. The file must not be
 * rewritten in place while the model is in use (see modelfile.h). */
reco_status reco_model_load(const char *path, reco_model **out, reco_error *err);

/* Like reco_model_load, with the file mapped or copied (RECO_MFILE_COPY:
 * the model is immune to whatever happens to the file afterwards). */
reco_status reco_model_load_mode(const char *path, reco_mfile_mode mode, reco_model **out,
                                 reco_error *err);

/* Builds a model on an opened model file, which it takes over (closed on
 * failure too). */
reco_status reco_model_load_mfile(reco_mfile *f, reco_model **out, reco_error *err);

/* Root-mean-square error of the model on its own training ratings
 * (sampled at most max_ratings evenly; 0 = all). */
double reco_model_train_rmse(const reco_model *m, uint64_t max_ratings);

/* Helpers for algorithms' param_set: parse a value or fail with a message
 * naming the parameter. */
reco_status reco_param_int(const char *algo, const char *key, const char *value, long lo,
                           long hi, int *out, reco_error *err);
reco_status reco_param_double(const char *algo, const char *key, const char *value, double lo,
                              double hi, double *out, reco_error *err);
/* An unsigned 64-bit integer (seeds): digits only. */
reco_status reco_param_u64(const char *algo, const char *key, const char *value, uint64_t *out,
                           reco_error *err);
reco_status reco_param_bool(const char *algo, const char *key, const char *value, bool *out,
                            reco_error *err);
reco_status reco_param_unknown(const char *algo, const char *key, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
