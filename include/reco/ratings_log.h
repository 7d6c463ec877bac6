/* reco: the ratings log of `reco serve`, its archives, and the point up to
 * which a model file contains a log.
 *
 * A log is a rating CSV that every reader of rating files accepts as it
 * is: a header line, then one line per acknowledged rating,
 *
 *   user,item,rating,timestamp #reco-ratings-log v1 id=<32 hex> offset=<20 digits> seq=<20 digits>
 *   A1AVNM6RW79HZ5,B000KWSQTI,4,1700000000
 *   "an ID, with a comma",B001CAOOWE,5,1700000001
 *
 * IDs are written exactly (RFC 4180 quoting when they hold a comma or a
 * quote, begin with a quote, a '#', a space or a byte-order mark, or end
 * with a space), ratings with the nine significant digits that give back
 * the same float, timestamps as whole seconds.
 *
 * Records. What is not a rating but must be as durable (feedback on
 * served lists; later catalogue changes and events) is a *record line*:
 *
 *   #feedback {"recommendation_id":"5f0c9a2e-1b","user":"u1","type":"click",...}
 *
 * '#', a kind of 1 to 32 bytes [a-z0-9_] starting with a letter, one
 * space, and a JSON object on the rest of the line (compact, so without a
 * raw newline; the line ends with '}'). A rating line never starts with
 * '#' (the writer quotes such IDs) and always ends with its timestamp, a
 * digit, so the two cannot be confused; a line of an earlier log that
 * starts with an unquoted '#' and ends with a digit is a rating. Records
 * share everything with ratings: the group commit, the fsync before the
 * acknowledgement, the cut-back of a failed batch, strict replay with
 * LOG:LINE errors, positions (seq counts lines, ratings and records),
 * compaction and archives. The log's header version stays v1: a log
 * without records is exactly what it was. Readers that do not use a kind
 * skip its records (reco_log_parse without a record function, the rating
 * file reader, `reco train --ratings-log`); reco versions before records
 * stop at the first record line with `LOG:LINE: reason` (a record is
 * never taken for a rating by them either: its second field starts with
 * a quoted JSON key followed by ':').
 *
 * Identity and positions. `id` is chosen at random when the log is
 * created and never changes. Positions in a log are *logical*: byte
 * offsets and rating counts (seq) from the log's creation, not counting
 * header lines, so they survive compaction. The header says where the
 * file's first line stands (offset, seq); the file holds the lines from
 * there to its end. A model trained with the log records (id, offset,
 * seq) of the end of what it read (reco_log_point): the server replays
 * only what follows, and refuses a log whose id differs or that does not
 * reach the point.
 *
 * Compaction (reco_log_compact) moves the lines a model covers into an
 * archive (the same format, header kind "archive", with the range it
 * holds: offset, seq to end, end_seq) and rewrites the log to start at the
 * model's point, under the lock a running server takes for each batch, so
 * that the server follows the new file without losing a line.
 *
 * Locking: a writer holds flock(LOCK_EX) on the log while it appends,
 * fsyncs or cuts back a failed batch; readers take LOCK_SH only to read
 * the size, so they never see a batch that is not durable yet. */
#ifndef RECO_RATINGS_LOG_H
#define RECO_RATINGS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/ratings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_LOG_ID_LEN 32
/* Header lines are shorter than this. */
#define RECO_LOG_HEADER_MAX 256

/* A point in a log: the end of the first `seq` ratings, `offset` bytes of
 * rating lines from the log's creation. id[0] == '\0': no log. */
typedef struct reco_log_point {
    char id[RECO_LOG_ID_LEN + 1];
    uint64_t offset;
    uint64_t seq;
} reco_log_point;

typedef enum reco_log_kind { RECO_LOG_KIND_LOG = 1, RECO_LOG_KIND_ARCHIVE = 2 } reco_log_kind;

typedef struct reco_log_header {
    reco_log_kind kind;
    char id[RECO_LOG_ID_LEN + 1];
    uint64_t offset, seq;         /* where the file's first rating line stands */
    uint64_t end_offset, end_seq; /* archives: where their last line ends */
    size_t len;                   /* bytes of the header line, '\n' included */
} reco_log_header;

/* Writes h's header line (with '\n') to buf (RECO_LOG_HEADER_MAX bytes);
 * returns its length. Every header of a kind has the same length. */
size_t reco_log_header_format(const reco_log_header *h, char *buf);

/* Parses the header line at buf (len bytes available). 0 and *h on
 * success; -1 when the first line is not a reco log header (a file of
 * another kind, or a log written before logs had headers); -2 when it
 * is one of a version this reco does not know. */
int reco_log_header_parse(const char *buf, size_t len, reco_log_header *h);

/* A new random log identity (32 lowercase hex digits). */
reco_status reco_log_new_id(char id[RECO_LOG_ID_LEN + 1], reco_error *err);

/* Bytes a line for these IDs needs at most. */
size_t reco_log_line_max(size_t user_len, size_t item_len);

/* Formats one rating line (with '\n') into dst; returns its length. */
size_t reco_log_format_line(char *dst, const char *user, size_t user_len, const char *item,
                            size_t item_len, float rating, int64_t ts);

/* True if an ID can be logged and replayed exactly: 1..RECO_ID_MAX bytes
 * of valid UTF-8 without control characters. */
bool reco_log_valid_id(const char *id, size_t len);

/* ---- records ---- */

#define RECO_LOG_KIND_MAX 32

/* True if kind is a valid record kind ([a-z][a-z0-9_]{0,31}). */
bool reco_log_valid_kind(const char *kind, size_t len);

/* Bytes a record line with a payload of payload_len bytes needs. */
size_t reco_log_record_max(size_t payload_len);

/* Formats "#KIND PAYLOAD\n" into dst; returns its length. payload must be
 * a compact JSON object (json_dumps with JSON_COMPACT): one line starting
 * with '{' and ending with '}'. */
size_t reco_log_format_record(char *dst, const char *kind, const char *payload,
                              size_t payload_len);

/* True if the line [p, p + len) (without its '\n') has the form of a
 * record line; *kind and *kind_len (may be NULL) receive its kind and
 * *payload, *payload_len its JSON text. */
bool reco_log_is_record(const char *p, size_t len, const char **kind, size_t *kind_len,
                        const char **payload, size_t *payload_len);

/* ---- reading lines ---- */

/* Called for each record line when the parse has a record function:
 * returns 0 when the record is taken, 1 when it is bad (the reason in
 * why, `cap` bytes: the line is then a bad line), -1 when out of memory. */
typedef int (*reco_log_record_fn)(void *ctx, const char *kind, size_t kind_len,
                                  const char *payload, size_t payload_len, char *why,
                                  size_t cap);

typedef struct reco_log_parse_opts {
    const char *name;       /* file name for messages */
    uint64_t first_line;    /* line number of buf's first line (1 if 0) */
    double rating_min, rating_max; /* allowed ratings, inclusive */
    bool skip_bad;          /* skip and count bad lines instead of failing */
} reco_log_parse_opts;

/* Who takes the records of a parse (reco_log_parse_records). */
typedef struct reco_log_records {
    reco_log_record_fn fn;
    void *ctx;
} reco_log_records;

typedef struct reco_log_parse_report {
    uint64_t lines;         /* lines read (ratings + records + bad) */
    uint64_t ratings;
    uint64_t records;       /* record lines (taken or skipped) */
    uint64_t bad_records;   /* records record_fn found bad (also in bad) */
    uint64_t bad;
    size_t n_messages;      /* the first RECO_BAD_LINES_REPORTED bad lines */
    char messages[RECO_BAD_LINES_REPORTED][RECO_BAD_LINE_MSG_MAX];
} reco_log_parse_report;

/* Called for each good line; a nonzero return stops the parse with
 * RECO_ERR_NOMEM. */
typedef int (*reco_log_rating_fn)(void *ctx, const char *user, size_t user_len,
                                  const char *item, size_t item_len, float rating, int64_t ts);

/* Parses rating and record lines (no header; buf ends with '\n' or at the
 * end of its last line). Strict: a line that is not exactly user,item,rating,timestamp
 * as the writer makes them (IDs as reco_log_valid_id, the rating a finite
 * number in range, the timestamp an integer) stops the parse with
 * RECO_ERR_PARSE and `NAME:LINE: reason`, unless skip_bad. rep may be NULL. */
reco_status reco_log_parse(const char *buf, size_t len, const reco_log_parse_opts *opt,
                           reco_log_rating_fn fn, void *ctx, reco_log_parse_report *rep,
                           reco_error *err);

/* The same, with the record lines given to recs->fn (reco_log_parse skips
 * them, counted in records). fn may be NULL: rating lines are then checked
 * and counted but not handed on. */
reco_status reco_log_parse_records(const char *buf, size_t len, const reco_log_parse_opts *opt,
                                   reco_log_rating_fn fn, void *ctx, const reco_log_records *recs,
                                   reco_log_parse_report *rep, reco_error *err);

/* ---- files ---- */

/* A log or archive open for reading, at one moment: the header and the
 * complete lines (a torn last line, never acknowledged, is left out). */
typedef struct reco_log_file {
    int fd;
    reco_log_header h;
    uint64_t end_offset;    /* logical end of the complete lines */
    uint64_t file_bytes;    /* physical size, torn tail included */
} reco_log_file;

/* Opens path (read-only) and reads its header and size under a shared
 * lock. RECO_ERR_NOT_FOUND if it does not exist, RECO_ERR_FORMAT if it is
 * not a reco log or archive (the message says what it is instead). */
reco_status reco_log_file_open(const char *path, reco_log_file *f, reco_error *err);

/* The same for the writer (`reco serve`): opened read-write, and a torn
 * last line (a crash in the middle of a write that was never
 * acknowledged) is cut off under the exclusive lock. */
reco_status reco_log_file_open_rw(const char *path, reco_log_file *f, reco_error *err);

void reco_log_file_close(reco_log_file *f);

/* Gives a log written before logs had a header line (a plain rating CSV
 * of user,item,rating,timestamp lines) a header with a new id at 0, by
 * writing a new file and renaming it into place; its lines stay as they
 * are (a torn last line is cut). RECO_ERR_FORMAT, with the reason, for an
 * empty file or one whose first line is not such a rating line. */
reco_status reco_log_upgrade(const char *path, reco_error *err);

/* Physical position of a logical offset in f (offset within its range). */
static inline uint64_t reco_log_file_pos(const reco_log_file *f, uint64_t offset)
{
    return f->h.len + (offset - f->h.offset);
}

/* Reads the logical range [from, to) of f into a new buffer (*out, free
 * it). RECO_ERR_INVALID if the range is not within the file's. */
reco_status reco_log_file_read(const reco_log_file *f, const char *path, uint64_t from,
                               uint64_t to, char **out, reco_error *err);

/* Creates a new, empty log at path that starts at `start` (its id and
 * position), or with a new id at 0 when start is NULL or has no id; fails
 * with RECO_ERR_INVALID if path exists. Durable (file and directory
 * fsynced) when it returns. *out (may be NULL) receives the header. */
reco_status reco_log_create(const char *path, const reco_log_point *start, reco_log_header *out,
                            reco_error *err);

/* Reads every rating of the log at path (under the protocol above: only
 * what is durable) into fn, with opt's checks, and sets *end to the point
 * after its last complete line and *start to where the file begins. */
reco_status reco_log_read_all(const char *path, const reco_log_parse_opts *opt,
                              reco_log_rating_fn fn, void *ctx, reco_log_point *start,
                              reco_log_point *end, reco_log_parse_report *rep, reco_error *err);

typedef struct reco_log_compact_result {
    uint64_t archived_ratings, archived_bytes; /* moved to the archive by this call */
    uint64_t kept_ratings, kept_bytes;         /* left in the log */
    reco_log_point log_start;                  /* where the log starts now */
    bool nothing_to_do;                        /* the log already started at the point */
} reco_log_compact_result;

/* Moves the lines of the log at log_path before `upto` (a model's point:
 * same id, within the log) to the archive at archive_path (created, or
 * extended when it is this log's archive ending at or after the log's
 * start), then rewrites the log to start at upto. Safe while `reco serve`
 * appends to the log (it waits for the batch in flight and follows the new
 * file) and against a crash at any step (the archive is written and
 * fsynced before the log is replaced by rename; a rerun completes it). */
reco_status reco_log_compact(const char *log_path, const reco_log_point *upto,
                             const char *archive_path, reco_log_compact_result *res,
                             reco_error *err);

/* fsyncs the directory holding path (after a rename or create in it). */
int reco_fsync_parent_dir(const char *path);

#ifdef __cplusplus
}
#endif

#endif
