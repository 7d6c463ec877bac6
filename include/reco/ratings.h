/* reco: reading rating files into triplets.
 *
 * Accepted format: one rating per line, `user SEP item SEP rating [SEP
 * timestamp]`, as Amazon's ratings_Electronics.csv (`userId,productId,
 * rating,timestamp`, no header) and the common variants: a header line,
 * tab or "::" separators (MovieLens u.data, ratings.dat), RFC 4180 quoted
 * fields ("" inside quotes is one quote; a quoted field may not span lines),
 * \r\n line ends, a UTF-8 byte-order mark, no final newline, blank lines,
 * and files without the timestamp column.
 *
 * A bad line (wrong field count, empty ID or one over RECO_ID_MAX bytes,
 * rating not a finite number or out of range, timestamp not an integer)
 * stops the load with `FILE:LINE: reason`, or is skipped and counted. */
#ifndef RECO_RATINGS_H
#define RECO_RATINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/idmap.h"
#include "reco/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_BAD_LINES_REPORTED 10
#define RECO_BAD_LINE_MSG_MAX 320

typedef struct reco_load_options {
    const char *sep;          /* NULL: detect (",", "\t", "::", ";", "|") */
    int header;               /* -1 detect, 0 none, 1 the first line is a header */
    double rating_min;        /* allowed range, inclusive; default 0.5 .. 5 */
    double rating_max;
    bool skip_bad;            /* skip and count bad lines instead of failing */
    int threads;              /* 0: all available cores */
    reco_progress progress;   /* stages "read" and "parse", in bytes; "intern" */
    /* Intern IDs into these maps (e.g. a test file into the training
     * file's maps, so that indices agree); NULL: fresh maps. New IDs are
     * appended; existing indices never change. */
    reco_idmap *users;
    reco_idmap *items;
} reco_load_options;

void reco_load_options_default(reco_load_options *o);

typedef struct reco_load_report {
    uint64_t lines;           /* physical lines seen */
    uint64_t ratings;         /* ratings accepted */
    uint64_t blank_lines;
    uint64_t log_records;   /* record lines of a ratings log (#KIND {...}), skipped */
    uint64_t bad_lines;       /* skipped with skip_bad */
    bool header;              /* a header line was skipped */
    bool has_timestamps;
    char sep[8];              /* the separator used */
    size_t n_messages;        /* the first RECO_BAD_LINES_REPORTED bad lines */
    char messages[RECO_BAD_LINES_REPORTED][RECO_BAD_LINE_MSG_MAX];
} reco_load_report;

/* Ratings as triplets in input order; user[k], item[k] index the maps. */
typedef struct reco_ratings {
    uint64_t n, cap;
    uint32_t *user;
    uint32_t *item;
    float *rating;
    int64_t *ts;              /* always allocated; 0 where there is no column */
    bool has_ts;
    reco_idmap *users;        /* owned reference */
    reco_idmap *items;        /* owned reference */
    reco_load_report report;
} reco_ratings;

/* Empty ratings with fresh maps (or the given maps, which gain a reference,
 * when users/items are not NULL). NULL on OOM. */
reco_ratings *reco_ratings_new(reco_idmap *users, reco_idmap *items);
void reco_ratings_free(reco_ratings *r);

/* Appends one rating given as strings; used by tests and the server. */
reco_status reco_ratings_add(reco_ratings *r, const char *user, size_t ulen,
                             const char *item, size_t ilen, float rating, int64_t ts,
                             reco_error *err);

/* Appends one rating by index (indices must be valid in the maps). */
reco_status reco_ratings_push(reco_ratings *r, uint32_t user, uint32_t item,
                              float rating, int64_t ts, reco_error *err);

/* Reads path ("-" is standard input; a pipe works too; a postgresql://
 * URI is read from the database, reco/pg_source.h). *out receives new
 * ratings. The file is read on all cores and parsed on all cores; a file
 * that changes while it is being read (truncated, rewritten, appended to)
 * is refused with RECO_ERR_IO rather than parsed half old, half new. */
reco_status reco_ratings_load(const char *path, const reco_load_options *opt,
                              reco_ratings **out, reco_error *err);

/* Parses an in-memory buffer; name is used in messages ("name:LINE: ..."). */
reco_status reco_ratings_parse(const char *buf, size_t len, const char *name,
                               const reco_load_options *opt, reco_ratings **out,
                               reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
