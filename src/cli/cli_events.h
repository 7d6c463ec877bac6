/* Event files for the commands that train or describe data (reco train
 * --events, reco stats --events): the weights table from --event-weight,
 * the files read into the ID maps of the rating files, and the rule of
 * what each algorithm trains on (docs/events.md). */
#ifndef RECO_CLI_EVENTS_H
#define RECO_CLI_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "reco/events.h"

typedef struct cli_events {
    cli_list files;         /* --events FILE */
    cli_list weights;       /* --event-weight TYPE=W */
    reco_event_weights w;   /* the defaults with --event-weight applied */
    /* What was read: */
    uint64_t events;        /* in the event files */
    uint64_t count[RECO_EVENT_TYPES_MAX]; /* per type, the rating files' ratings included */
    uint64_t zero_pairs;    /* (user, product) pairs whose events weigh 0 */
    bool confidence;        /* the data are confidences (else ratings) */
} cli_events;

/* Whether ALGO trains on confidences when given events (ials, ease,
 * popular, default); the others train on the rating events. */
bool cli_events_confidence_algo(const char *algo);

/* Builds ev->w from the defaults and --event-weight: a usage error
 * (printed, EXIT_USAGE) on a bad one. */
int cli_events_weights(const char *cmd, cli_events *ev);

/* Reads the event files into (*all)'s ID maps and turns *all (the
 * ratings of the rating files) into what ALGO trains on: with
 * confidence, the aggregated confidences of the events and of the
 * ratings as "rating" events; else the ratings plus the rating events.
 * Prints errors; returns the exit status. */
int cli_events_merge(const char *cmd, cli_events *ev, cli_data_opts *o, const char *algo,
                     reco_ratings **all);

/* The summary line: "N events (view N, cart N, ...); weights view=1 ..." */
void cli_events_summary(const cli_events *ev, char *buf, size_t cap);

/* The "events" object of --json: files, events, per_type, weights,
 * trains_on ("confidence" or "ratings"), zero_pairs. */
json_t *cli_events_json(const cli_events *ev);

#endif
