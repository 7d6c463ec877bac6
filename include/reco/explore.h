/* reco: exploratory analysis of a rating dataset (reco explore).
 *
 * reco_explore_compute derives every number the report shows from a built
 * dataset, in a few sequential passes over its CSR and CSC arrays: the
 * summary of reco_stats_compute plus the shape of user activity and product
 * popularity, the most-rated products, activity per month, the effect of a
 * minimum-ratings-per-user filter for every threshold from 1 to 100, and
 * the mean rating by user activity. reco_report_write then draws the charts
 * and writes index.html and stats.json; it does no arithmetic of its own
 * beyond formatting. */
#ifndef RECO_EXPLORE_H
#define RECO_EXPLORE_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/idmap.h"
#include "reco/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_EXPLORE_MAX_BINS 96       /* log bins of a count (8 per decade) */
#define RECO_EXPLORE_MAX_RANKS 512     /* points kept of the rank-count curve */
#define RECO_EXPLORE_TOP 20            /* most-rated products listed */
#define RECO_EXPLORE_THRESHOLDS 100    /* minimum-ratings thresholds 1..100 */
#define RECO_EXPLORE_COLD 5            /* cold start: fewer than 5 ratings */
#define RECO_EXPLORE_MAX_MONTHS 2400   /* longer spans get no monthly series */

/* A bin of ratings-per-user counts [lo, hi] (inclusive). */
typedef struct reco_explore_bin {
    uint32_t lo, hi;
    uint64_t users;            /* users whose count is in [lo, hi] */
    uint64_t ratings;          /* their ratings */
    double per_value;          /* users / (hi - lo + 1): the histogram height
                                  on a log axis, comparable across widths */
    double mean_of_means;      /* mean over these users of their mean rating */
    double sd_of_means;        /* population standard deviation of the same */
    double rating_mean;        /* mean of all their ratings */
} reco_explore_bin;

typedef struct reco_explore_product {
    char id[RECO_ID_MAX + 1];
    uint32_t index;            /* in the dataset's item map */
    uint32_t ratings;
    double mean;
} reco_explore_product;

typedef struct reco_explore_month {
    int32_t month;             /* months since January 1970 (UTC) */
    uint64_t ratings;
    double mean;               /* NAN when the month has no rating */
} reco_explore_month;

/* Dataset kept by a `--min-user-ratings t` filter (users only). */
typedef struct reco_explore_threshold {
    uint64_t users;            /* users with at least t ratings */
    uint64_t products;         /* products rated by at least one of them */
    uint64_t ratings;          /* their ratings */
} reco_explore_threshold;

typedef struct reco_explore {
    reco_stats stats;          /* counts, mean, stddev, histogram, quantiles,
                                  time span, duplicates, bad lines */
    uint64_t lines;            /* physical lines of the input */
    uint64_t input_ratings;    /* ratings read, before duplicates and filters */

    /* Concentration and cold start. */
    double gini;               /* Gini coefficient of ratings per product */
    double single_user_share;  /* users with exactly one rating / users */
    uint64_t cold_users;       /* users with fewer than RECO_EXPLORE_COLD ratings */
    uint64_t cold_products;    /* products with fewer than RECO_EXPLORE_COLD */
    double cold_user_share, cold_product_share;

    /* Ratings per user, in log bins (every user falls in one bin). */
    uint32_t n_user_bins;
    reco_explore_bin user_bins[RECO_EXPLORE_MAX_BINS];

    /* Ratings per product by popularity rank (1 = most rated), sampled at
     * log-spaced ranks including the first and the last. */
    uint32_t n_ranks;
    uint32_t rank[RECO_EXPLORE_MAX_RANKS];
    uint32_t rank_count[RECO_EXPLORE_MAX_RANKS];
    uint32_t top1_products, top20_products;   /* ceil(1% / 20% of products) */
    double top1_share, top20_share;           /* of all ratings they hold */

    /* Most-rated products, by count then mean rating then index. */
    uint32_t n_top;
    reco_explore_product top[RECO_EXPLORE_TOP];

    /* Activity per month from the first to the last month with a rating
     * (months without ratings included); none without timestamps or when
     * the span exceeds RECO_EXPLORE_MAX_MONTHS (time_note says why). */
    uint32_t n_months;
    reco_explore_month *months; /* owned */
    const char *time_note;      /* static text, or NULL */

    /* threshold[t] for t = 1..RECO_EXPLORE_THRESHOLDS; [0] is unused. */
    reco_explore_threshold threshold[RECO_EXPLORE_THRESHOLDS + 1];
} reco_explore;

/* Computes the analysis of ds into a new *out (free with
 * reco_explore_free). RECO_ERR_EMPTY when ds has no rating; RECO_ERR_NOMEM. */
reco_status reco_explore_compute(const reco_dataset *ds, reco_explore **out, reco_error *err);

/* NULL is a no-op. */
void reco_explore_free(reco_explore *ex);

/* ---- the report (src/lib/report/report.c) ---- */

typedef struct reco_report_options {
    const char *source;        /* the input's name as given ("-": standard input),
                                  shown in the report and stats.json; NULL: none */
    unsigned chart_width;      /* pixels, 640..4000 (default 800); smaller overlaps labels */
    unsigned chart_height;     /* pixels, 400..4000 (default 500) */
} reco_report_options;

void reco_report_options_default(reco_report_options *o);

/* RECO_OK or RECO_ERR_INVALID with the offending field. */
reco_status reco_report_options_check(const reco_report_options *o, reco_error *err);

/* Names of the charts the report draws, in report order; each is written
 * as NAME.png and NAME.svg. "activity" is drawn only when the data has a
 * monthly series. */
#define RECO_REPORT_N_CHARTS 7
extern const char *const reco_report_chart_names[RECO_REPORT_N_CHARTS];

/* The content of stats.json as a NUL-terminated string in *out (the caller
 * frees it): every number of the report, the chart files and sizes. */
reco_status reco_report_json(const reco_explore *ex, const reco_report_options *o, char **out,
                             reco_error *err);

/* Writes the report into dir (created if missing, with parents): the charts
 * as PNG and SVG, stats.json, and index.html, which references every chart
 * and opens from disk. Files already there are overwritten. Draws with
 * PLplot: not thread-safe. Errors: invalid options, RECO_ERR_IO with the
 * path, RECO_ERR_INTERNAL when PLplot fails. */
reco_status reco_report_write(const reco_explore *ex, const char *dir,
                              const reco_report_options *o, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
