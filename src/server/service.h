/* reco: the recommendation service behind `reco serve` and the offline
 * query commands (recommend, similar, predict): a model loaded from a model
 * file, plus the ratings that arrived after training.
 *
 * New ratings are appended to a ratings log (the CSV format of the input
 * files) and fsynced before they are acknowledged; writers that arrive
 * together share one fsync. On start the log is replayed, so nothing that
 * was acknowledged is lost. A user's new ratings take effect at once: their
 * rated products are excluded, neighbourhood models use the new row, factor
 * models fold the user in. IDs the model has never seen become known users
 * (or stored, unknown products).
 *
 * Reload swaps in a new model file atomically: requests in flight finish on
 * the model they started with; a bad file leaves the old model serving.
 *
 * The model is served from private memory unless map_model is set, so
 * that whatever happens to the file afterwards (`cp` over it, truncation)
 * cannot reach it, and it keeps answering. The file is mapped (a load
 * costs no copy) and the mapping replaced by a private copy at the same
 * addresses (reco_mfile_make_private): at open in the background, while
 * the model already serves from the mapping; on reload before the new
 * model is swapped in. A file changed in place before the copy is made is
 * reported and stays mapped. The file is watched (stat, at most once a second, and on every stats call): a change
 * in place (same inode, another size or modification time) is counted in
 * model_file_changes and reported once through the log function. Replace
 * model files by renaming a new file over the old one, then reload.
 *
 * All calls are thread-safe. Answers are JSON objects (jansson) that the
 * caller owns and frees with json_decref. */
#ifndef RECO_SERVICE_H
#define RECO_SERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"

typedef struct reco_service reco_service;

typedef struct reco_service_options {
    const char *model_path;  /* required */
    const char *ratings_log; /* NULL: new ratings are refused (read-only) */
    size_t max_n;            /* largest n a query may ask for (1000) */
    size_t max_batch;        /* most ratings in one add call (10000) */
    /* Serve the model from the file's mapping, never a private copy:
     * pages shared, no copy at all, but the file must then not change
     * while the service is open. For short-lived uses (the CLI's one-shot
     * queries). */
    bool map_model;
    /* Where the service reports what it noticed (a model file changed in
     * place); one line, no newline. NULL: nowhere. */
    void (*log)(void *ctx, const char *msg);
    void *log_ctx;
} reco_service_options;

void reco_service_options_default(reco_service_options *o);

/* Loads the model, opens (creating if needed) and replays the log. */
reco_status reco_service_open(const reco_service_options *opt, reco_service **out,
                              reco_error *err);

/* Closes the log (after flushing it) and frees everything. NULL is a no-op.
 * No other call may be running. */
void reco_service_close(reco_service *s);

/* {"user", "algorithm", "score_kind", "items": [{"item", "score",
 * "predicted_rating"?, "because"?}], "cold_start"}. score ranks the list
 * (higher first); score_kind says what it is (reco_model_score_kind).
 * predicted_rating, clamped to the training rating range, is there when
 * the model predicts ratings (the baseline's for a user with no ratings).
 * A user never seen, with no live ratings, gets the popularity ranking
 * with cold_start true. RECO_ERR_INVALID for n outside 1..max_n. */
reco_status reco_service_recommend(reco_service *s, const char *user, size_t n,
                                   bool exclude_rated, json_t **out, reco_error *err);

/* {"item", "algorithm", "score_kind": "similarity", "items": [{"item",
 * "score"}]}; RECO_ERR_NOT_FOUND for a product the model does not know. */
reco_status reco_service_similar(reco_service *s, const char *item, size_t n, json_t **out,
                                 reco_error *err);

/* {"user", "item", "prediction", "source", "known_user", "known_item"}:
 * prediction clamped to the training rating range; source "model" when
 * the algorithm predicted it, "baseline" when the baseline did (a model
 * that does not predict ratings, an unknown user or product). */
reco_status reco_service_predict(reco_service *s, const char *user, const char *item,
                                 json_t **out, reco_error *err);

/* {"user", "known_user", "ratings": [{"item", "rating", "timestamp", "source":
 * "training"|"live", "known_item"}]}; RECO_ERR_NOT_FOUND for a user with no
 * ratings at all. */
reco_status reco_service_user_ratings(reco_service *s, const char *user, json_t **out,
                                      reco_error *err);

/* One rating to add. IDs need not be NUL-terminated. */
typedef struct reco_new_rating {
    const char *user;
    size_t user_len;
    const char *item;
    size_t item_len;
    double rating;
    int64_t timestamp;
} reco_new_rating;

/* Validates all (RECO_ERR_INVALID naming the bad entry: ID empty, over 255
 * bytes or not UTF-8, rating outside the model's range or not finite),
 * appends them to the log durably, then applies them. Nothing is applied or
 * logged if any is invalid. *out: {"accepted": n, "ratings": [{"user",
 * "item", "known_item"}]}. RECO_ERR_IO if the log cannot be written (the
 * ratings are then not applied). */
reco_status reco_service_add_ratings(reco_service *s, const reco_new_rating *r, size_t n,
                                     json_t **out, reco_error *err);

/* Loads the model file again and swaps it in; on failure the old model keeps
 * serving and the error is returned. */
reco_status reco_service_reload(reco_service *s, reco_error *err);

/* {"algorithm", "params", "users", "items", "ratings", "trained_at",
 *  "file", "file_bytes", "loaded_at", "train_rmse", "fit_seconds",
 *  "live_ratings", "live_users", "rating_min", "rating_max"}. */
json_t *reco_service_model_info(reco_service *s);

/* Figures for /metrics (checks the model file first). */
typedef struct reco_service_stats {
    uint64_t model_bytes;
    int64_t trained_at, loaded_at;
    uint64_t ratings_logged; /* since start (replayed ones not counted) */
    uint64_t ratings_replayed;
    uint64_t live_ratings;
    uint64_t reloads, reload_failures;
    uint64_t log_fsyncs;
    uint64_t model_file_changes; /* versions of the served file seen changed in place */
    bool model_private;          /* the served model is a private copy, not a mapping */
} reco_service_stats;

void reco_service_get_stats(reco_service *s, reco_service_stats *st);

/* True if the ID is acceptable: 1..255 bytes of valid UTF-8 (no NUL). */
bool reco_service_valid_id(const char *id, size_t len);

/* The choice of a "default" model as JSON: {"algorithm", "metric",
 * "validation", "candidates": [{"name", "value" (null if not measured),
 * "note"?}], "note"?}. New reference; NULL when out of memory. */
struct reco_default_choice;
json_t *reco_default_choice_json(const struct reco_default_choice *c);

#endif
