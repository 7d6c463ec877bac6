/* reco: descriptive statistics of a dataset (reco stats, reco explore). */
#ifndef RECO_STATS_H
#define RECO_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Distribution of a count (ratings per user, ratings per item). */
typedef struct reco_count_summary {
    uint32_t min, median, p90, p99, max;
    double mean;
} reco_count_summary;

#define RECO_STATS_HIST_MAX 32

typedef struct reco_stats {
    uint32_t users, items;
    uint64_t ratings;
    double density;            /* ratings / (users * items) */
    double mean, stddev;       /* of rating values (population stddev) */
    double rating_min, rating_max;
    /* Histogram of distinct rating values, ascending (half stars give up
     * to 10 bins); values beyond RECO_STATS_HIST_MAX distinct are merged
     * into the nearest bin. */
    uint32_t hist_bins;
    double hist_value[RECO_STATS_HIST_MAX];
    uint64_t hist_count[RECO_STATS_HIST_MAX];
    reco_count_summary per_user, per_item;
    uint64_t users_with_one;   /* users with exactly one rating */
    /* The input: physical lines, ratings read (before duplicates and
     * filters), whether a header line was skipped, the separator used. */
    uint64_t lines, input_ratings;
    bool header;
    char separator[8];
    uint64_t duplicates_removed, bad_lines, filtered_ratings;
    uint32_t filtered_users, filtered_items; /* removed by the filters */
    int has_ts;
    int64_t ts_min, ts_max;
} reco_stats;

/* Computes the statistics of ds into *st. */
reco_status reco_stats_compute(const reco_dataset *ds, reco_stats *st, reco_error *err);

/* The statistics as the JSON document `reco stats --json` prints, with
 * file (the input's name as given; NULL: null): file, summary,
 * rating_distribution, ratings_per_user and ratings_per_item, the keys of
 * docs/json.md. explore's stats.json is the same document with more in it
 * (reco_report_json). *out is NUL-terminated, indented, for the caller to
 * free. */
reco_status reco_stats_json(const reco_stats *st, const char *file, char **out,
                            reco_error *err);

/* Nearest-rank quantile q in [0, 1] of n counts (sorted in place). */
uint32_t reco_quantile_u32(uint32_t *v, uint64_t n, double q);

#ifdef __cplusplus
}
#endif

#endif
