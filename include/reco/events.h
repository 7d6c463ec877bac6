/* reco: events (views, carts, purchases, ratings...) as training data.
 *
 * An event file has one event per line, `user,item,type[,value][,timestamp]`:
 * CSV read by the rating-file parser (ratings.h: separator detection, RFC
 * 4180 quoting, \r\n, byte-order mark, blank lines, IDs of 1 to
 * RECO_ID_MAX bytes of UTF-8, bad lines stopping the load with
 * `FILE:LINE: reason` or skipped and counted with skip_bad). An optional
 * header line is recognised by its column names (user, item, type, then
 * value and timestamp in either order; see docs/events.md for the
 * synonyms). Without a header, a fourth column is the value and a fifth
 * the timestamp; an empty value field means 1.
 *
 * The type names an entry of a weights table (below); a type the table
 * does not know is a bad line. The value is a count or quantity (default
 * 1, finite, 0 to RECO_EVENT_VALUE_MAX), except for the type "rating",
 * whose value is required and is a star rating within the load options'
 * rating range.
 *
 * Aggregation (reco_events_aggregate): per (user, product) the confidence
 * is the sum over its events of weight(type) x value, so that a `rating`
 * event contributes weight(rating) x stars. Pairs whose sum is 0 are not
 * interactions. The result is a reco_ratings whose "rating" is that
 * confidence, read as such by the implicit-feedback models (ials, ease).
 *
 * The weights used are kept in the model file (section "events.weights",
 * typed key/value metadata, checked on load), so that events arriving
 * later are folded in with the same weights (reco_event_confidence). */
#ifndef RECO_EVENTS_H
#define RECO_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/modelfile.h"
#include "reco/ratings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_EVENT_TYPES_MAX 32   /* types in one weights table */
#define RECO_EVENT_TYPE_MAX 32    /* bytes of a type name */
#define RECO_EVENT_WEIGHT_MAX 1e6 /* weights are 0 to this */
#define RECO_EVENT_VALUE_MAX 1e6  /* values of non-rating events are 0 to this */

/* The type whose value is a star rating (and what a rating file's lines
 * become when rating files and event files are trained on together). */
#define RECO_EVENT_RATING "rating"

/* A type name: 1 to RECO_EVENT_TYPE_MAX bytes of ASCII letters, digits,
 * '_', '-' and '.'; matched without regard to ASCII case, kept in lower
 * case. */
typedef struct reco_event_weights {
    uint32_t n;
    char name[RECO_EVENT_TYPES_MAX][RECO_EVENT_TYPE_MAX + 1];
    double weight[RECO_EVENT_TYPES_MAX];
} reco_event_weights;

/* The default table: view=1, cart=3, purchase=5, rating=1 (see
 * docs/events.md for how they were chosen). */
void reco_event_weights_default(reco_event_weights *w);

/* Sets the weight of a type, adding it when the table does not know it.
 * RECO_ERR_INVALID for a bad name, a weight that is not finite or outside
 * 0..RECO_EVENT_WEIGHT_MAX, or a full table. */
reco_status reco_event_weights_set(reco_event_weights *w, const char *name, double weight,
                                   reco_error *err);

/* The same from one "TYPE=W" text (a command-line word, `purchase=5`). */
reco_status reco_event_weights_set_text(reco_event_weights *w, const char *type_eq_weight,
                                        reco_error *err);

/* The index of a type name (len bytes, not NUL-terminated), or -1. */
int reco_event_weights_index(const reco_event_weights *w, const char *name, size_t len);

/* The weight of a type: RECO_ERR_NOT_FOUND naming the type and the known
 * ones when the table does not know it. */
reco_status reco_event_weight(const reco_event_weights *w, const char *type, double *weight,
                              reco_error *err);

/* The confidence one event adds to the user's entry for the product:
 * weight(type) x value, value NAN meaning "none given" (1; a rating event
 * needs one). Checks the type (RECO_ERR_NOT_FOUND) and the value
 * (RECO_ERR_INVALID: not finite, negative, above RECO_EVENT_VALUE_MAX,
 * or a rating outside rating_min..rating_max). */
reco_status reco_event_confidence(const reco_event_weights *w, const char *type, double value,
                                  double rating_min, double rating_max, double *confidence,
                                  reco_error *err);

/* "view=1 cart=3 purchase=5 rating=1" (weights with %g, the "C" locale)
 * into buf; returns buf. */
char *reco_event_weights_format(const reco_event_weights *w, char *buf, size_t cap);

/* Section "events.weights" of a model file. */
reco_status reco_event_weights_save(const reco_event_weights *w, reco_mfile_writer *wr,
                                    reco_error *err);

/* Reads section "events.weights" into a new table (*out), or sets *out to
 * NULL when the file has none (a model trained on ratings). Every name and
 * weight is checked; a repeated type is refused. */
reco_status reco_event_weights_load(const reco_mfile *f, reco_event_weights **out,
                                    reco_error *err);

/* Events in input order: r->rating[k] is the value (1 where none was
 * given), r->ts[k] the timestamp (0 without the column), type[k] an
 * index into the weights table the events were read with. */
typedef struct reco_events {
    reco_ratings *r;          /* owned; its report is the load's */
    uint8_t *type;            /* [type_cap] */
    uint64_t type_cap;
    uint64_t count[RECO_EVENT_TYPES_MAX]; /* events per type */
} reco_events;

/* Empty events on fresh maps, or on the given ones (which gain a
 * reference). NULL when out of memory. */
reco_events *reco_events_new(reco_idmap *users, reco_idmap *items);
void reco_events_free(reco_events *e);

/* Appends one event by index (indices valid in the maps, type < RECO_EVENT_TYPES_MAX). */
reco_status reco_events_push(reco_events *e, uint32_t user, uint32_t item, uint32_t type,
                             float value, int64_t ts, reco_error *err);

/* Reads an event file ("-": standard input) with the weights table w (the
 * known types) and the load options (separator, header, rating range,
 * skip_bad, threads, progress, ID maps to intern into). A bad line gives
 * RECO_ERR_PARSE with `FILE:LINE: reason`. */
reco_status reco_events_load(const char *path, const reco_load_options *opt,
                             const reco_event_weights *w, reco_events **out, reco_error *err);

/* Parses a buffer; name is used in messages. */
reco_status reco_events_parse(const char *buf, size_t len, const char *name,
                              const reco_load_options *opt, const reco_event_weights *w,
                              reco_events **out, reco_error *err);

/* Appends src's events (same ID maps) to dst; counts add up. */
reco_status reco_events_append(reco_events *dst, const reco_events *src, reco_error *err);

/* Appends ratings (same ID maps) as events of the type "rating" (which w
 * must know: RECO_ERR_NOT_FOUND otherwise). */
reco_status reco_events_add_ratings(reco_events *e, const reco_ratings *r,
                                    const reco_event_weights *w, reco_error *err);

/* One triplet per (user, product) with events, its rating the confidence
 * (sum of weight x value), its timestamp the latest event's; pairs of
 * confidence 0 are left out (*dropped counts them; may be NULL). Sorted
 * by user, then product; shares e's ID maps. RECO_ERR_EMPTY when nothing
 * is left. */
reco_status reco_events_aggregate(const reco_events *e, const reco_event_weights *w,
                                  reco_ratings **out, uint64_t *dropped, reco_error *err);

/* The rating events alone, as ratings (value = stars; a repeated pair is
 * left to reco_dataset_build's rule: the latest wins). RECO_ERR_EMPTY
 * when there are none. */
reco_status reco_events_ratings(const reco_events *e, const reco_event_weights *w,
                                reco_ratings **out, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
