/* The rating-file parser's entry for event files: one machinery (reading
 * on all cores, splitting, quoting, ID checks and interning, FILE:LINE
 * messages, skip_bad) for both line formats. Private to src/lib/data. */
#ifndef RECO_RATINGS_PARSE_H
#define RECO_RATINGS_PARSE_H

#include <stdint.h>

#include "reco/events.h"
#include "reco/ratings.h"

/* As reco_ratings_load / reco_ratings_parse when w is NULL. With a weights
 * table the lines are events (events.h): *types receives the type index of
 * each record ([r->cap] bytes, malloc'd), r->rating the values. */
reco_status reco_parse_file(const char *path, const reco_load_options *opt,
                            const reco_event_weights *w, reco_ratings **out, uint8_t **types,
                            reco_error *err);
reco_status reco_parse_buffer(const char *buf, size_t len, const char *name,
                              const reco_load_options *opt, const reco_event_weights *w,
                              reco_ratings **out, uint8_t **types, reco_error *err);

#endif
