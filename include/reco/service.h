/* reco: the recommendation service behind `reco serve` and the offline
 * query commands (recommend, similar, predict): a model loaded from a model
 * file, plus the ratings that arrived after training.
 *
 * New ratings are appended to a ratings log (include/reco/ratings_log.h:
 * a rating CSV with a header line naming the log) and fsynced before they
 * are acknowledged; writers that arrive together share one write and one
 * fsync. A batch whose write or fsync fails is cut off the file again, so
 * it leaves no trace, and the next batch tries afresh. On start and reload
 * only the log's lines after the model's point (how much of the log its
 * training data held) are replayed, strictly: a bad line is an error
 * naming LOG:LINE unless skip_bad_log. A log that is missing, replaced, or
 * compacted past the model's point is an error, never a fresh start. A
 * user's new ratings take effect at once: their rated products are
 * excluded, neighbourhood models use the new row, factor models fold the
 * user in. IDs the model has never seen become known users (or stored,
 * unknown products). The memory these ratings take can be capped.
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
 * reported and stays mapped. The file is watched (stat, at most once a
 * second, and on every stats call): a change in place (same inode, another
 * size or modification time) is counted in model_file_changes and
 * reported once through the notice function. Replace model files by renaming
 * a new file over the old one, then reload.
 *
 * Experiments (docs/experiments.md). The service serves one or more
 * *variants*, each a model file with a share of the users; a user is
 * assigned by a fixed hash of the user ID (reco_variant_point), the same
 * on every start and machine. Each variant has its own generation (its
 * model, and the live ratings replayed from its own model's point): every
 * new rating is logged once and applied to every variant, so all see the
 * same live data; reload reloads every file, all or none. Every served
 * list carries a recommendation_id (a random prefix per process and a
 * counter, hex) and its variant; feedback on it (impression, click,
 * purchase) is a record in the ratings log (ratings_log.h), durable
 * before it is acknowledged, counted per variant and counted again from
 * the log on start. Without variants the one model is variant "default".
 *
 * The store. With options.store (a postgresql:// URI; the table, default
 * reco_log, is created when absent, and refused naming the columns
 * expected when its columns differ), what the log would hold goes to one
 * PostgreSQL table instead, in one transaction per group of concurrent
 * writers, and is acknowledged only once COMMIT succeeded: a database out
 * of reach, or a COMMIT whose outcome is unknown, is RECO_ERR_UNAVAILABLE
 * and nothing is acknowledged; the connection is made again by itself
 * (with a backoff), and reads are answered meanwhile. Rows are numbered
 * in commit order (seq); every process on the same table applies every
 * row, its own and the others', in seq order, exactly once: on a
 * notification (LISTEN/NOTIFY) and at least every 250 ms, and a writer
 * catches up to its own rows before it answers. On start and reload
 * every row of the table is replayed (the model's log point is not used:
 * the store has no compaction yet). An unreachable database at open is
 * RECO_ERR_IO naming the host with libpq's message; passwords are never
 * shown. Bad rows stop the start and reload as bad log lines do
 * (skip_bad_log skips them); while following they are skipped and counted.
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
#include "reco/item_filter.h"
#include "reco/model.h"
#include "reco/ratings.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct reco_service reco_service;

#define RECO_VARIANT_NAME_MAX 32
#define RECO_VARIANTS_MAX 16

/* One variant: a name ([A-Za-z0-9_-]{1,32}, unique), a model file and a
 * share of the users (> 0; the shares add up to 1 within 1e-9). */
typedef struct reco_variant_spec {
    const char *name;
    const char *model_path;
    double share;
} reco_variant_spec;

/* RECO_ERR_INVALID naming what is wrong: a bad or repeated name, a share
 * not in (0, 1], shares that do not add up to 1, more than
 * RECO_VARIANTS_MAX variants, none. */
reco_status reco_variants_check(const reco_variant_spec *v, size_t n, reco_error *err);

/* Where a user falls in [0, 1): a fixed salted 64-bit hash of the ID
 * (FNV-1a over "reco-variant-v1:" and the ID, then a 64-bit finaliser),
 * its top 53 bits over 2^53. The same on every machine and version. */
double reco_variant_point(const char *user, size_t len);

/* The variant of a user: the first whose cumulative share exceeds the
 * user's point (the last one if rounding leaves a gap). */
size_t reco_variant_assign(const reco_variant_spec *v, size_t n, const char *user, size_t len);

/* The 95% (z = 1.959964) Wilson score interval for k successes out of n:
 * (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), p = k/n. false
 * (and 0, 0) when n is 0. */
bool reco_wilson(uint64_t k, uint64_t n, double z, double *lo, double *hi);

/* Newcombe's hybrid score interval (method 10) for p1 - p0, from the
 * Wilson intervals (l1, u1) and (l0, u0): d - sqrt((p1-l1)² + (u0-p0)²) to
 * d + sqrt((u1-p1)² + (p0-l0)²). false when either n is 0. */
bool reco_newcombe(uint64_t k1, uint64_t n1, uint64_t k0, uint64_t n0, double z, double *lo,
                   double *hi);

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
    /* Where the service reports what it noticed about the model file
     * (changed in place, no private copy made); one line, no newline.
     * NULL: nowhere. (Not the ratings log.) */
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
    /* Create the log when it does not exist. Without it a missing log is an
     * error: it may have been moved or lost. Refused when the model was
     * trained with a log (reco_log_create with the model's point is the
     * deliberate way to continue a lost one). */
    bool create_log;
    bool log_read_only;      /* replay the log but never write or repair it */
    bool skip_bad_log;       /* replay skips bad lines (counted) instead of failing */
    /* The archive `reco log compact` moved the log's first lines to (NULL:
     * none): its feedback records are counted on start as the log's are,
     * so an experiment's figures survive compaction. It must be the log's
     * own archive and end where the log starts (an archive that overlaps
     * the log, a compaction cut short, is refused: rerun reco log compact). */
    const char *feedback_archive;
    /* Cap on the memory of the ratings that arrived since training (the
     * live overlay), in bytes; 0: none. A batch that would go over it is
     * refused (RECO_ERR_NOMEM); replay is never refused. */
    uint64_t max_live_bytes;
    /* Tests: called for each batch after its write and before its
     * fdatasync; a nonzero return is taken as the errno of a failed sync. */
    int (*sync_hook)(void *ctx);
    void *sync_hook_ctx;
    /* The experiment: n_variants variants (reco_variants_check), v[0] the
     * control. 0: one variant, "default", serving model_path (which is
     * then required; with variants it is ignored). */
    const reco_variant_spec *variants;
    size_t n_variants;
    /* Lists carry recommendation_id and variant (reco serve; not the
     * one-shot query commands, whose lists get no feedback). */
    bool list_ids;
    /* A PostgreSQL store (postgresql://...[?table=NAME]) instead of the
     * ratings log (then NULL): see "The store" above. NULL: none. */
    const char *store;
} reco_service_options;

void reco_service_options_default(reco_service_options *o);

/* Loads the model, opens the log (creating it only with create_log; a log
 * written before logs had a header line gets one) and replays its lines
 * after the model's point. */
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

/* Request-time rules as a request gives them (product IDs and category
 * paths, not indices): exclude and include (the allow-list; has_include
 * with no IDs admits nothing) are lists of product IDs, of which those the
 * model does not know are ignored and counted; categories are paths of the
 * catalogue (any of them admits a product in it or below it; paths the
 * catalogue does not hold are ignored and reported); include_unavailable
 * also lists products the catalogue marks unavailable (hidden by default,
 * with or without rules); max_per_category (0: no cap) needs product
 * categories. The library's semantics: reco/item_filter.h. */
typedef struct reco_service_rules {
    const char *const *exclude;
    size_t n_exclude;
    const char *const *include;
    size_t n_include;
    bool has_include;
    uint32_t max_per_category;
    const char *const *categories;
    size_t n_categories;
    bool include_unavailable;
} reco_service_rules;

/* reco_service_recommend under rules (NULL: none, the same answer), applied
 * inside the search of the user's variant's model, with the catalogue as
 * it stands now (the model's, with the changes since: reco_service_put_items).
 * Every listed product the catalogue holds carries "title"?, "category"?
 * and "available"; unavailable products are left out unless
 * include_unavailable, rules or not. With rules the answer also has
 * "requested" (n), "found" (how many the list holds: fewer when the rules
 * leave too few products) and "unknown_items" (IDs of exclude and include
 * the model does not know); "unknown_categories" lists the paths the
 * catalogue does not hold, and when every path given is unknown the list
 * is empty and "reason" says why (not an error). RECO_ERR_INVALID for an
 * ID that is not 1 to 255 bytes of UTF-8, an empty category path, and
 * max_per_category on a model without categories. */
reco_status reco_service_recommend_rules(reco_service *s, const char *user, size_t n,
                                         bool exclude_rated, const reco_service_rules *rules,
                                         json_t **out, reco_error *err);

/* With list_ids, the lists of recommend and similar also carry "recommendation_id" (8
 * hex digits of a random prefix chosen at open, '-', a counter in hex:
 * unique within the log's life with overwhelming probability) and
 * "variant" (the name of the variant that served it). */

/* The filter that rules make, as reco_service_recommend_rules applies it
 * (the catalogue's pieces: hidden products unless include_unavailable,
 * category ranges, the cap; exclude and include mapped to indices), for
 * callers that apply the same rules to many users (the batch export). It
 * holds the control variant's model and catalogue until freed, so that the
 * arrays the filter points into stay valid. Refuses as
 * reco_service_recommend_rules does. */
typedef struct reco_service_filter reco_service_filter;
reco_status reco_service_filter_new(reco_service *s, const reco_service_rules *rules,
                                    reco_service_filter **out, reco_error *err);
void reco_service_filter_free(reco_service_filter *sf);
/* The model the filter is for (borrowed from the filter). */
const reco_model *reco_service_filter_model(const reco_service_filter *sf);
/* The filter to search with; NULL when it lets everything through. */
const reco_item_filter *reco_service_filter_rules(const reco_service_filter *sf);
/* IDs of exclude and include the model does not know (ignored). */
size_t reco_service_filter_unknown_items(const reco_service_filter *sf);
/* Whether the catalogue lacks rules->categories[k]. */
bool reco_service_filter_unknown_category(const reco_service_filter *sf, size_t k);

/* {"item", "algorithm", "chain": [source names in order], "fallback",
 * "items": [{"item", "score", "source", "score_kind", "title"?,
 * "category"?, "available"?}]}: reco_model_similar's list, each product
 * with the source it came from and what its score is
 * (reco_model_similar_score_kind) and its catalogue entry. fallback is
 * true when the first source of the chain did not fill the list. Every
 * algorithm answers; a known product without co-ratings gets its list from
 * the later sources. A product the catalogue holds but the model does not
 * know (no ratings) gets the cold-start list (reco_catalogue_cold_similar:
 * chain category, parent_category, popular; "cold_start": true, each entry
 * with "source_category"). RECO_ERR_NOT_FOUND for a product neither knows. */
reco_status reco_service_similar(reco_service *s, const char *item, size_t n, json_t **out,
                                 reco_error *err);

/* The same from the variant of user (NULL: the control). */
reco_status reco_service_similar_for(reco_service *s, const char *item, const char *user,
                                     size_t n, json_t **out, reco_error *err);

/* The same under request-time rules (NULL: none; as for
 * reco_service_recommend_rules, applied inside every source's search, and
 * to the cold-start list of a product the model does not know), except
 * max_per_category, which is refused (RECO_ERR_INVALID). Products the
 * catalogue marks unavailable are left out unless include_unavailable,
 * rules or not (reco_service_similar too). With rules the answer also has
 * "requested", "found", "unknown_items" and, as for recommendations,
 * "unknown_categories" and "reason". */
reco_status reco_service_similar_rules(reco_service *s, const char *item, const char *user,
                                       size_t n, const reco_service_rules *rules, json_t **out,
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
 * ratings are then neither applied nor left in the file); RECO_ERR_NOMEM
 * when they would take the live ratings over max_live_bytes. */
reco_status reco_service_add_ratings(reco_service *s, const reco_new_rating *r, size_t n,
                                     json_t **out, reco_error *err);

/* Feedback on a served list. IDs need not be NUL-terminated; item may be
 * NULL. type: "impression", "click" or "purchase". */
typedef struct reco_feedback {
    const char *recommendation_id;
    size_t recommendation_id_len;
    const char *user;
    size_t user_len;
    const char *item;
    size_t item_len;
    const char *type;
    int64_t timestamp;       /* 0: now */
} reco_feedback;

/* True if id has the form of a recommendation_id: 8 lowercase hex digits,
 * '-', 1 to 16 lowercase hex digits. */
bool reco_recommendation_id_valid(const char *id, size_t len);

/* Validates all (RECO_ERR_INVALID naming the entry and the field),
 * appends them to the log as feedback records durably (one batch, group
 * commit as for ratings), then counts them for the variant of each user
 * (named in the record, so that replay counts them for the same one).
 * *out: {"accepted": n, "feedback": [{"recommendation_id", "user",
 * "type", "variant"}]}. RECO_ERR_IO as for ratings; RECO_ERR_INVALID when
 * the server has no writable log. */
reco_status reco_service_add_feedback(reco_service *s, const reco_feedback *f, size_t n,
                                      json_t **out, reco_error *err);

/* A change to one catalogue product (PUT or PATCH /v1/items/{id}). IDs
 * need not be NUL-terminated; the texts are NUL-terminated. */
typedef struct reco_item_change {
    const char *item;
    size_t item_len;
    bool replace;            /* a full replacement: the fields left NULL/-1/unset are cleared
                              * (no title, no category, available, no labels) */
    const char *title;       /* NULL: keep (replace: none); "": none */
    const char *category;    /* NULL: keep (replace: none); "": none */
    int available;           /* -1: keep (replace: true); 0; 1 */
    bool set_labels;         /* replace the labels by the n_labels below */
    const char *const *label_keys;
    const char *const *label_values;
    size_t n_labels;
} reco_item_change;

/* Validates the changes (RECO_ERR_INVALID naming the entry: an ID or
 * category that is not 1 to 255 bytes of UTF-8, an empty path segment, a
 * text over RECO_CATALOGUE_TEXT_MAX), appends them to the log as `#item`
 * records durably (group commit, as for ratings), then applies them to
 * every variant's catalogue in one new snapshot each (reco_catalogue_apply:
 * requests see the old catalogue or the new one, never a mix). A model
 * without a catalogue gets one. On start and reload the records after the
 * model's log point are replayed. *out: the first product's entry as
 * reco_service_item gives it, with "created" (it was not in the
 * catalogue before). RECO_ERR_INVALID when the server has no writable log;
 * RECO_ERR_IO as for ratings. */
reco_status reco_service_put_items(reco_service *s, const reco_item_change *c, size_t n,
                                   json_t **out, reco_error *err);

/* {"item", "in_catalogue", "title"?, "category"?, "available", "labels",
 * "known_item" (the model has ratings of it), "ratings" (its training
 * ratings)} from the control's catalogue as it stands now.
 * RECO_ERR_NOT_FOUND for a product neither the catalogue nor the model
 * knows. */
reco_status reco_service_item(reco_service *s, const char *item, json_t **out,
                              reco_error *err);

/* One event (POST /v1/events). IDs need not be NUL-terminated; type is
 * NUL-terminated. */
typedef struct reco_new_event {
    const char *user;
    size_t user_len;
    const char *item;
    size_t item_len;
    const char *type;
    double value;            /* NAN: none given (1; a rating event needs one) */
    int64_t timestamp;       /* 0: now */
} reco_new_event;

/* Validates all against the control's model (RECO_ERR_INVALID naming the
 * entry: a bad ID; a type its event weights do not know, or any type but
 * "rating" for a model trained on ratings; a value out of range), appends
 * them to the log as `#event` records durably, then folds them into every
 * variant's live overlay: the event's confidence (reco_event_confidence
 * with the model's weights) is added to the user's entry for the product,
 * which factor models fold in and every list then excludes; a model
 * trained on ratings takes a rating event as a rating. *out: {"accepted":
 * n, "events": [{"user", "item", "type", "confidence", "known_item"}]}
 * (confidence: what the control's model added; for a ratings model, the
 * rating). RECO_ERR_IO and RECO_ERR_NOMEM as for ratings. */
reco_status reco_service_add_events(reco_service *s, const reco_new_event *e, size_t n,
                                    json_t **out, reco_error *err);

/* {"confidence": 0.95, "control", "variants": [{"name", "file", "algorithm",
 * "share", "users_seen", "lists_served", "impressions", "clicks", "ctr",
 * "ctr_low", "ctr_high", "purchases", "ctr_diff", "ctr_diff_low",
 * "ctr_diff_high"}], "feedback_other"}. ctr and its interval are null
 * without impressions, the difference (to the control) null for the
 * control and when either has no impressions. users_seen is estimated
 * (linear counting over a 2^20-bit map of hashed IDs: within about 1%
 * up to a million users) from the lists served since start and the
 * feedback in the log. feedback_other counts feedback the log names a
 * variant for that this server does not have. New reference. */
json_t *reco_service_experiments(reco_service *s);

/* Loads the model file again and swaps it in; on failure the old model keeps
 * serving and the error is returned. */
reco_status reco_service_reload(reco_service *s, reco_error *err);

/* {"algorithm", "params", "users", "items", "ratings", "trained_at",
 *  "file", "file_bytes", "loaded_at", "train_rmse", "fit_seconds",
 *  "live_ratings", "live_users", "rating_min", "rating_max", "catalogue"?}
 * (catalogue: {"products", "categories", "unavailable"} when the model has
 * one). */
json_t *reco_service_model_info(reco_service *s);

/* The model being served (the control variant's), borrowed: valid until
 * the next reload or close. For one-shot tools that read more of the model than the answers give
 * (the query commands read its catalogue and search it with rules). */
const struct reco_model *reco_service_model(reco_service *s);

/* Figures for /metrics (checks the model file first). */
typedef struct reco_service_stats {
    uint64_t model_bytes;
    int64_t trained_at, loaded_at;
    uint64_t ratings_logged; /* since start (replayed ones not counted) */
    uint64_t ratings_replayed; /* by the start, or the last reload */
    uint64_t live_ratings, live_users;
    uint64_t live_bytes;     /* memory of the live overlay */
    uint64_t max_live_bytes; /* the cap; 0: none */
    uint64_t live_refused;   /* ratings refused because of the cap */
    uint64_t reloads, reload_failures;
    uint64_t log_fsyncs;     /* batches written (one fsync each) */
    uint64_t log_write_errors; /* batches that failed (and were cut back) */
    uint64_t log_bad_lines;  /* skipped by replay (skip_bad_log) since start */
    char log_first_bad_line[RECO_BAD_LINE_MSG_MAX]; /* "LOG:LINE: reason" of the first */
    uint64_t log_bytes;      /* bytes of rating lines in the log file */
    uint64_t log_replay_from; /* logical offset replay starts at (the model's point) */
    uint64_t log_end;        /* logical offset of the durable end */
    bool healthy;            /* as reco_service_health */
    uint64_t model_file_changes; /* versions of the served file seen changed in place */
    bool model_private;          /* the served model is a private copy, not a mapping */
    /* The store (all 0 without one). */
    bool store;
    bool store_connected;        /* the writer's and the follower's connections are up */
    int64_t store_applied_seq;   /* every row up to this one is applied here */
    int64_t store_last_commit_seq; /* the last row this process wrote */
    uint64_t store_rows_applied; /* rows read and applied since start (replay included) */
    uint64_t store_commits;      /* transactions committed (one per group of writers) */
    uint64_t store_write_errors; /* transactions that failed (not acknowledged) */
    uint64_t store_follow_errors; /* reads of new rows that failed */
    int64_t store_follow_age_ms; /* since the last successful read of new rows */
} reco_service_stats;

void reco_service_get_stats(reco_service *s, reco_service_stats *st);

/* {"status": "ok"} when writes work, or {"status": "degraded", "problems":
 * [{"check", "message", "since"?}]} with *healthy false when they fail: the
 * last batch could not be written (until a batch is written, or a check at
 * most once a second finds the log in place with room to grow), or the
 * live ratings are at max_live_bytes (until a reload makes room). Reads
 * are answered either way. With a store the answer also has "store":
 * {"table", "connected", "applied_seq", "last_commit_seq",
 * "follow_age_ms"}, and the checks "store" (the last write failed or the
 * database is out of reach, until a write succeeds or the connection is
 * made again) and "store_follow" (new rows could not be read for 5 s). */
json_t *reco_service_health(reco_service *s, bool *healthy);

/* True if the ID is acceptable: 1..255 bytes of valid UTF-8 (no NUL). */
bool reco_service_valid_id(const char *id, size_t len);

/* The choice of a "default" model as JSON: {"algorithm", "metric",
 * "validation", "candidates": [{"name", "value" (null if not measured),
 * "note"?}], "note"?}. New reference; NULL when out of memory. */
struct reco_default_choice;
json_t *reco_default_choice_json(const struct reco_default_choice *c);

/* ---- reads for the web console (and any client) ---- */

#define RECO_USERS_PREFIX_MAX 100
#define RECO_RECENT_RATERS_MAX 100

/* The users whose ID starts with prefix[0..len) (len 0: every user), the
 * first `limit` (1..RECO_USERS_PREFIX_MAX) in byte order: {"prefix",
 * "users": [{"user", "training_ratings", "live_ratings"}], "more" (there
 * are more), "index": {"users", "built_now", "build_seconds"}}. From the
 * control variant: its model's users through a sorted index of their IDs
 * (4 bytes a user, built on the first search of each loaded model and
 * kept until the model is replaced), and the users new since training
 * through a scan of their IDs. RECO_ERR_INVALID for a prefix that is not
 * UTF-8 without control characters or over 255 bytes, or limit out of
 * range. */
reco_status reco_service_users_prefix(reco_service *s, const char *prefix, size_t len,
                                      size_t limit, json_t **out, reco_error *err);

/* A product's ratings, training and live (a live rating replacing the
 * user's training one) from the control variant: {"item", "known_item",
 * "in_catalogue", "count", "training_ratings", "live_ratings", "mean"
 * (null without ratings), "histogram": [{"rating", "count"}] (one bin per
 * whole number of the model's rating range when it spans at most 20;
 * else 10 bins [{"from", "to", "count"}]), "recent": [{"user", "rating",
 * "timestamp", "source"}]}. recent (0..RECO_RECENT_RATERS_MAX) raters:
 * the live ratings newest first, then, the model file keeping no times,
 * training ratings in the model's order with a null timestamp. The live
 * part is a scan of the users with live ratings. RECO_ERR_NOT_FOUND for
 * a product neither the model, the live ratings nor the catalogue know. */
reco_status reco_service_item_ratings(reco_service *s, const char *item, size_t recent,
                                      json_t **out, reco_error *err);

/* reco_service_recommend_rules from the variant named name (NULL: the
 * user's own, the same as reco_service_recommend_rules), for comparing
 * variants side by side. A list asked of a named variant is outside the
 * experiment: it has "variant" but no "recommendation_id" and is not
 * counted. RECO_ERR_INVALID for a name the service does not have. */
reco_status reco_service_recommend_variant(reco_service *s, const char *name, const char *user,
                                           size_t n, bool exclude_rated,
                                           const reco_service_rules *rules, json_t **out,
                                           reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
