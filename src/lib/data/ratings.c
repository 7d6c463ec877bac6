/* Rating-file parser.
 *
 * The file is read into memory (on all cores, in large blocks), the
 * separator, header and column count are detected on the first line, then
 * the body is cut into one chunk per thread at line boundaries and parsed
 * in parallel into flat arrays of key pointers (into the buffer), ratings
 * and timestamps. IDs are then interned with users and items on two
 * threads at once.
 *
 * Read, not mapped: a mapped file truncated while it is parsed (a file
 * being rewritten, a copy in progress) turns the next access to a lost
 * page into SIGBUS, which kills the process; a read sees the file shrink
 * and says so. The copy costs little next to parsing (bench/ingest.sh:
 * docs/benchmarks.md) and the buffer takes the place of the mapped pages
 * in the process's memory. */
#include "reco/ratings.h"
#include "reco/events.h"
#include "reco/pg_source.h"
#include "reco/ratings_log.h"
#include "reco/utf8.h"
#include "reco/thousands.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csvfield.h"
#include "fileio.h"
#include "mem.h"
#include "numfmt.h"
#include "ratings_parse.h"

/* Fields split per line: one more than a format has, so that "too many"
 * shows (ratings: 4 columns at most, events: 5). */
#define MAX_FIELDS 6
#define RATING_FIELDS 5
#define EVENT_FIELDS 6
/* HyperLogLog with 2^14 one-byte registers: 16 KiB per sketch, so updating
 * it stays in L1 (a bitmap big enough for millions of keys would miss the
 * cache on every line), and about 1% error, plenty to size a hash table. */
#define SKETCH_BITS 14
#define SKETCH_REGS ((size_t)1 << SKETCH_BITS)
#define STDIN_CAP ((size_t)16 << 30) /* refuse more than 16 GiB on stdin */

void reco_load_options_default(reco_load_options *o)
{
    memset(o, 0, sizeof *o);
    o->sep = NULL;
    o->header = -1;
    o->rating_min = 0.5;
    o->rating_max = 5.0;
    o->skip_bad = false;
    o->threads = 0;
}

/* ---- triplet container ------------------------------------------------ */

reco_ratings *reco_ratings_new(reco_idmap *users, reco_idmap *items)
{
    reco_ratings *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->users = users ? reco_idmap_ref(users) : reco_idmap_new(0);
    r->items = items ? reco_idmap_ref(items) : reco_idmap_new(0);
    if (!r->users || !r->items) {
        reco_ratings_free(r);
        return NULL;
    }
    return r;
}

void reco_ratings_free(reco_ratings *r)
{
    if (!r)
        return;
    free(r->user);
    free(r->item);
    free(r->rating);
    free(r->ts);
    reco_idmap_free(r->users);
    reco_idmap_free(r->items);
    free(r);
}

static int ratings_reserve(reco_ratings *r, uint64_t cap)
{
    if (cap <= r->cap)
        return 0;
    uint32_t *u = realloc(r->user, cap * sizeof *u);
    if (!u)
        return -1;
    r->user = u;
    uint32_t *i = realloc(r->item, cap * sizeof *i);
    if (!i)
        return -1;
    r->item = i;
    float *v = realloc(r->rating, cap * sizeof *v);
    if (!v)
        return -1;
    r->rating = v;
    int64_t *t = realloc(r->ts, cap * sizeof *t);
    if (!t)
        return -1;
    r->ts = t;
    r->cap = cap;
    return 0;
}

reco_status reco_ratings_push(reco_ratings *r, uint32_t user, uint32_t item, float rating,
                              int64_t ts, reco_error *err)
{
    if (r->n == r->cap && ratings_reserve(r, r->cap ? r->cap * 2 : 64))
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory adding a rating");
    r->user[r->n] = user;
    r->item[r->n] = item;
    r->rating[r->n] = rating;
    r->ts[r->n] = ts;
    r->n++;
    return RECO_OK;
}

reco_status reco_ratings_add(reco_ratings *r, const char *user, size_t ulen, const char *item,
                             size_t ilen, float rating, int64_t ts, reco_error *err)
{
    uint32_t u, i;
    if (ulen == 0 || ulen > RECO_ID_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "user ID must be 1 to %d bytes",
                              RECO_ID_MAX);
    if (ilen == 0 || ilen > RECO_ID_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "item ID must be 1 to %d bytes",
                              RECO_ID_MAX);
    if (reco_utf8_invalid_at(user, ulen) < ulen)
        return reco_error_set(err, RECO_ERR_INVALID, "user ID is not valid UTF-8");
    if (reco_utf8_invalid_at(item, ilen) < ilen)
        return reco_error_set(err, RECO_ERR_INVALID, "item ID is not valid UTF-8");
    if (reco_idmap_intern(r->users, user, ulen, &u) || reco_idmap_intern(r->items, item, ilen, &i))
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory adding an ID");
    return reco_ratings_push(r, u, i, rating, ts, err);
}

/* ---- field splitting and number parsing ------------------------------- */

typedef reco_csv_field field;
typedef reco_csv_sep sep_t;

/* Splits [p, end) into fields (reco_csv_split): the field count, up to
 * max (at most MAX_FIELDS; max means "too many"), or -1 with *why set. */
static inline int split_line(const char *p, const char *end, const sep_t *sep, int max, field *f,
                             const char **why)
{
    return reco_csv_split(p, end, sep, f, max, why);
}

static inline bool is_space(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **p, size_t *len)
{
    while (*len && is_space(**p)) {
        (*p)++;
        (*len)--;
    }
    while (*len && is_space((*p)[*len - 1]))
        (*len)--;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses a decimal number ([+-]digits[.digits][e[+-]digits]) without
 * strtod: faster, and independent of the C locale's decimal point.
 * Returns 0 on success, -1 if it is not a number. */
static int parse_number(const char *p, size_t len, double *out)
{
    trim(&p, &len);
    const char *end = p + len;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    uint64_t mant = 0;
    int exp10 = 0, digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (mant < 100000000000000000ULL)
            mant = mant * 10 + (uint64_t)(*p - '0');
        else
            exp10++;
        p++;
        digits++;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && *p >= '0' && *p <= '9') {
            if (mant < 100000000000000000ULL) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        int e = 0, ed = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (e < 100000)
                e = e * 10 + (*p - '0');
            p++;
            ed++;
        }
        if (ed == 0)
            return -1;
        exp10 += eneg ? -e : e;
    }
    if (p != end)
        return -1;
    double v = (double)mant;
    if (mant == 0)
        v = 0.0;
    else if (exp10 >= 0 && exp10 <= 22)
        v *= POW10[exp10];
    else if (exp10 < 0 && exp10 >= -22)
        v /= POW10[-exp10];
    else
        v *= pow(10.0, exp10);
    *out = neg ? -v : v;
    return 0;
}

/* Parses a base-10 int64; -1 if it is not one (or overflows). */
static int parse_int64(const char *p, size_t len, int64_t *out)
{
    trim(&p, &len);
    const char *end = p + len;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == end)
        return -1;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Copies at most 40 bytes of s for a message, replacing control bytes. */
static void excerpt(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < 40 ? len : 40, j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        dst[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (len > n && j + 3 < cap) {
        memcpy(dst + j, "...", 3);
        j += 3;
    }
    dst[j] = '\0';
}

/* ---- chunk parsing ----------------------------------------------------- */

/* Where parsed records go: arrays indexed from the chunk's base. */
typedef struct columns {
    const char **ukey, **ikey;
    uint8_t *ulen, *ilen;
    uint32_t *uhash, *ihash; /* low 32 bits of reco_idmap_hash */
    float *rating;
    int64_t *ts;
    uint8_t *type;           /* events only: index into the weights table */
} columns;

/* Unescaped copies of quoted keys that contained "" (rare). Blocks never
 * move, so pointers into them stay valid until the load ends. */
typedef struct key_block {
    struct key_block *next;
    size_t used;
    char data[65536];
} key_block;

typedef struct chunk {
    const char *begin, *end;
    uint64_t base;         /* first record slot in the columns */
    uint64_t slots;        /* slots from base on (the chunk's line count) */
    uint64_t n;            /* records parsed */
    uint64_t lines;        /* physical lines in the chunk (as parsed) */
    uint64_t blank;
    uint64_t log_records;
    uint64_t bad;
    size_t n_msgs;
    uint64_t msg_line[RECO_BAD_LINES_REPORTED];
    char msgs[RECO_BAD_LINES_REPORTED][RECO_BAD_LINE_MSG_MAX - 32];
    /* Sketches of the number of distinct user and item keys, so that the
     * ID tables can be sized once instead of grown step by step. */
    uint8_t *usketch, *isketch;
    uint64_t ubytes, ibytes; /* key bytes seen, to size the key arenas */
    bool failed;           /* stopped at a bad line (not skip_bad) */
    bool nomem;
    bool overflow;         /* more records than slots: a miscount, a bug */
    key_block *keys;
} chunk;

/* Where the columns of an event file are (events.h): user, item and type
 * first, then the value and the timestamp, each -1 when absent. */
typedef struct event_layout {
    const reco_event_weights *w;
    int value, ts;
    int rating_type;         /* index of "rating" in w, or -1 */
} event_layout;

typedef struct parse_ctx {
    const reco_load_options *opt;
    sep_t sep;
    int ncols;
    int max_fields;          /* split_line's "too many" */
    const event_layout *ev;  /* NULL: a rating file */
    columns col;
} parse_ctx;

static const char *unescape_key(chunk *c, const char *p, size_t len, size_t *out_len)
{
    if (!c->keys || c->keys->used + len > sizeof c->keys->data) {
        key_block *b = malloc(sizeof *b);
        if (!b)
            return NULL;
        b->next = c->keys;
        b->used = 0;
        c->keys = b;
    }
    char *dst = c->keys->data + c->keys->used;
    size_t j = reco_csv_unescape(dst, p, len);
    c->keys->used += j;
    *out_len = j;
    return dst;
}

static void chunk_bad(chunk *c, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void chunk_bad(chunk *c, uint64_t line, const char *fmt, ...)
{
    c->bad++;
    if (c->n_msgs < RECO_BAD_LINES_REPORTED) {
        va_list ap;
        va_start(ap, fmt);
        reco_vsnprintf_c(c->msgs[c->n_msgs], sizeof c->msgs[0], fmt, ap);
        va_end(ap);
        c->msg_line[c->n_msgs++] = line;
    }
}

/* Checks an ID field; returns its (possibly unescaped) bytes, or NULL after
 * recording why the line is bad. */
static const char *check_id(chunk *c, const field *f, const char *what, uint64_t line,
                            size_t *len)
{
    const char *p = f->p;
    *len = f->len;
    if (f->escaped) {
        p = unescape_key(c, f->p, f->len, len);
        if (!p) {
            c->nomem = true;
            return NULL;
        }
    }
    if (*len == 0) {
        chunk_bad(c, line, "empty %s ID", what);
        return NULL;
    }
    if (*len > RECO_ID_MAX) {
        chunk_bad(c, line, "%s ID is %zu bytes long; the limit is %d", what, *len, RECO_ID_MAX);
        return NULL;
    }
    if (memchr(p, '\0', *len)) {
        chunk_bad(c, line, "%s ID contains a NUL byte", what);
        return NULL;
    }
    /* IDs travel in JSON (answers, the ratings log's readers), which only
     * carries UTF-8: one rule everywhere, refused where they come in. */
    size_t bad = reco_utf8_invalid_at(p, *len);
    if (bad < *len) {
        chunk_bad(c, line, "%s ID is not valid UTF-8 (byte 0x%02X at offset %zu)", what,
                  (unsigned)(unsigned char)p[bad], bad);
        return NULL;
    }
    return p;
}

static inline void sketch_add(uint8_t *reg, uint64_t h)
{
    size_t j = (size_t)(h >> (64 - SKETCH_BITS));
    uint64_t rest = (h << SKETCH_BITS) | ((uint64_t)1 << (SKETCH_BITS - 1));
    uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
    if (rank > reg[j])
        reg[j] = rank;
}

/* The type, value and timestamp of an event line (events.h) into slot k
 * of the type column and *value, *ts. 0 on success, -1 if bad. */
static int event_fields(const parse_ctx *ctx, chunk *c, const field *f, uint64_t line,
                        uint64_t k, double *value, int64_t *ts)
{
    const event_layout *ev = ctx->ev;
    char ex[64];
    const char *tp = f[2].p;
    size_t tl = f[2].len;
    trim(&tp, &tl);
    int type = reco_event_weights_index(ev->w, tp, tl);
    if (type < 0) {
        excerpt(ex, sizeof ex, tp, tl);
        if (tl == 0)
            chunk_bad(c, line, "empty event type");
        else
            chunk_bad(c, line, "unknown event type \"%s\" (no weight for it: give one, e.g. "
                      "--event-weight %s=1)", ex, ex);
        return -1;
    }
    *value = 1.0;
    if (ev->value >= 0) {
        const field *fv = &f[ev->value];
        const char *vp = fv->p;
        size_t vl = fv->len;
        trim(&vp, &vl);
        if (vl == 0 && type == ev->rating_type) {
            chunk_bad(c, line, "a rating event needs a value (the rating)");
            return -1;
        }
        if (vl && parse_number(vp, vl, value)) {
            excerpt(ex, sizeof ex, vp, vl);
            chunk_bad(c, line, "value \"%s\" is not a number", ex);
            return -1;
        }
        if (vl && !isfinite(*value)) {
            excerpt(ex, sizeof ex, vp, vl);
            chunk_bad(c, line, "value \"%s\" is not a finite number", ex);
            return -1;
        }
        if (type == ev->rating_type &&
            (*value < ctx->opt->rating_min || *value > ctx->opt->rating_max)) {
            excerpt(ex, sizeof ex, vp, vl);
            chunk_bad(c, line, "rating %s is outside the allowed range %g to %g", ex,
                      ctx->opt->rating_min, ctx->opt->rating_max);
            return -1;
        }
        if (type != ev->rating_type && (*value < 0 || *value > RECO_EVENT_VALUE_MAX)) {
            excerpt(ex, sizeof ex, vp, vl);
            chunk_bad(c, line, "value %s is outside 0 to %.0f%s", ex, RECO_EVENT_VALUE_MAX,
                      ctx->ncols == 4 && ev->ts < 0 && *value > RECO_EVENT_VALUE_MAX
                          ? " (without a header the fourth column is the value; for a "
                            "timestamp alone add a header line or an empty value: u,i,view,,TS)"
                          : "");
            return -1;
        }
    } else if (type == ev->rating_type) {
        chunk_bad(c, line, "a rating event needs a value (the rating)");
        return -1;
    }
    if (ev->ts >= 0 && parse_int64(f[ev->ts].p, f[ev->ts].len, ts)) {
        excerpt(ex, sizeof ex, f[ev->ts].p, f[ev->ts].len);
        chunk_bad(c, line, "timestamp \"%s\" is not an integer", ex);
        return -1;
    }
    ctx->col.type[k] = (uint8_t)type;
    return 0;
}

/* Parses one non-blank line into record slot k. 0 on success, -1 if bad. */
static int parse_record(const parse_ctx *ctx, chunk *c, const char *p, const char *end,
                        uint64_t line, uint64_t k)
{
    field f[MAX_FIELDS];
    const char *why = NULL;
    int nf = split_line(p, end, &ctx->sep, ctx->max_fields, f, &why);
    if (nf < 0) {
        chunk_bad(c, line, "%s", why);
        return -1;
    }
    if (nf != ctx->ncols) {
        chunk_bad(c, line, "expected %d fields, found %s%d", ctx->ncols,
                  nf == ctx->max_fields ? "at least " : "", nf);
        return -1;
    }
    size_t ul, il;
    const char *u = check_id(c, &f[0], "user", line, &ul);
    if (!u)
        return -1;
    const char *it = check_id(c, &f[1], "item", line, &il);
    if (!it)
        return -1;
    double v;
    char ex[64];
    int64_t ts = 0;
    if (ctx->ev) {
        if (event_fields(ctx, c, f, line, k, &v, &ts))
            return -1;
        goto keys;
    }
    if (parse_number(f[2].p, f[2].len, &v)) {
        excerpt(ex, sizeof ex, f[2].p, f[2].len);
        chunk_bad(c, line, "rating \"%s\" is not a number", ex);
        return -1;
    }
    if (!isfinite(v)) {
        excerpt(ex, sizeof ex, f[2].p, f[2].len);
        chunk_bad(c, line, "rating \"%s\" is not a finite number", ex);
        return -1;
    }
    if (v < ctx->opt->rating_min || v > ctx->opt->rating_max) {
        excerpt(ex, sizeof ex, f[2].p, f[2].len);
        chunk_bad(c, line, "rating %s is outside the allowed range %g to %g", ex,
                  ctx->opt->rating_min, ctx->opt->rating_max);
        return -1;
    }
    if (ctx->ncols == 4 && parse_int64(f[3].p, f[3].len, &ts)) {
        excerpt(ex, sizeof ex, f[3].p, f[3].len);
        chunk_bad(c, line, "timestamp \"%s\" is not an integer", ex);
        return -1;
    }
keys:;
    /* Hash while the key is in cache; interning reuses the hash. */
    uint64_t hu = reco_idmap_hash(u, ul), hi = reco_idmap_hash(it, il);
    if (c->usketch) {
        sketch_add(c->usketch, hu);
        sketch_add(c->isketch, hi);
        c->ubytes += ul + 1;
        c->ibytes += il + 1;
    }
    const columns *col = &ctx->col;
    col->uhash[k] = (uint32_t)hu;
    col->ihash[k] = (uint32_t)hi;
    col->ukey[k] = u;
    col->ulen[k] = (uint8_t)ul;
    col->ikey[k] = it;
    col->ilen[k] = (uint8_t)il;
    col->rating[k] = (float)v;
    col->ts[k] = ts;
    return 0;
}

static bool is_blank(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!is_space(*p))
            return false;
    return true;
}

/* Parses every line of a chunk. Only thread 0 reports progress. */
static void parse_chunk(const parse_ctx *ctx, chunk *c, const reco_progress *prog,
                        uint64_t file_size, int nthreads)
{
    const char *p = c->begin, *end = c->end;
    uint64_t k = c->base;
    const char *next_report = p + (4u << 20);
    while (p < end) {
        if (k - c->base == c->slots) {
            c->overflow = true;
            break;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        c->lines++;
        if (le > p && le[-1] == '\r')
            le--;
        if (is_blank(p, le)) {
            c->blank++;
        } else if (*p == '#' && reco_log_is_record(p, (size_t)(le - p), NULL, NULL, NULL, NULL)) {
            c->log_records++; /* a ratings log's record: not a rating (ratings_log.h) */
        } else if (parse_record(ctx, c, p, le, c->lines, k) == 0) {
            k++;
        } else if (c->nomem || !ctx->opt->skip_bad) {
            c->failed = true;
            break;
        }
        p = nl ? nl + 1 : end;
        if (prog && p >= next_report) {
            next_report = p + (4u << 20);
            reco_progress_report(prog, "parse", (uint64_t)(p - c->begin) * (uint64_t)nthreads,
                                 file_size);
        }
    }
    c->n = k - c->base;
}

/* ---- detection ---------------------------------------------------------- */

static int parse_sep_option(const char *s, sep_t *sep)
{
    if (!strcmp(s, "\\t") || !strcmp(s, "tab") || !strcmp(s, "\t"))
        s = "\t";
    else if (!strcmp(s, "comma"))
        s = ",";
    else if (!strcmp(s, "semicolon"))
        s = ";";
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof sep->s || strchr(s, '"') || strchr(s, '\n') || strchr(s, '\r'))
        return -1;
    memcpy(sep->s, s, n + 1);
    sep->len = n;
    return 0;
}

static int count_fields(const char *p, const char *end, const sep_t *sep)
{
    field f[MAX_FIELDS];
    const char *why;
    return split_line(p, end, sep, MAX_FIELDS, f, &why);
}

/* Picks the separator that splits the first line into 3 to max_cols
 * fields (4 for ratings, 5 for events). */
static int detect_sep(const char *p, const char *end, int max_cols, sep_t *sep)
{
    static const char *const cands[] = {"::", "\t", ",", ";", "|"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        parse_sep_option(cands[i], sep);
        int nf = count_fields(p, end, sep);
        if (nf >= 3 && nf <= max_cols)
            return 0;
    }
    return -1;
}

/* Whether field f (trimmed, ASCII case ignored) is one of names. */
static bool field_is(const field *f, const char *const *names)
{
    const char *p = f->p;
    size_t len = f->len;
    trim(&p, &len);
    for (; *names; names++) {
        size_t n = strlen(*names), i = 0;
        if (n != len)
            continue;
        while (i < n && (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + ('a' - 'A') : p[i]) == (*names)[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* The column names of an event file's header (events.h, docs/events.md):
 * 1 if the nf fields are such a header (then value and ts are set), else 0. */
static int event_header(const field *f, int nf, event_layout *ev)
{
    static const char *const user[] = {"user", "user_id", "userid", "customer", "customer_id",
                                       "visitor", "visitorid", "visitor_id", NULL};
    static const char *const item[] = {"item", "item_id", "itemid", "product", "product_id",
                                       "productid", NULL};
    static const char *const type[] = {"type", "event", "event_type", "eventtype", NULL};
    static const char *const value[] = {"value", "quantity", "qty", "count", "rating", NULL};
    static const char *const ts[] = {"timestamp", "ts", "time", NULL};
    if (!field_is(&f[0], user) || !field_is(&f[1], item) || !field_is(&f[2], type))
        return 0;
    int v = -1, t = -1;
    for (int k = 3; k < nf; k++) {
        if (v < 0 && field_is(&f[k], value))
            v = k;
        else if (t < 0 && field_is(&f[k], ts))
            t = k;
        else
            return 0;
    }
    ev->value = v;
    ev->ts = t;
    return 1;
}

/* ---- the load ------------------------------------------------------------ */

/* Newline counts of a buffer cut into n equal regions, taken while it was
 * read: region t is [len * t / n, len * (t + 1) / n). They spare the parse
 * a pass over the whole buffer to size its record arrays. */
typedef struct line_counts {
    int n;              /* 0: not counted */
    uint64_t nl[64];
} line_counts;

static size_t region_start(size_t len, int n, int t)
{
    return (size_t)((uint64_t)len * (uint64_t)t / (uint64_t)n);
}

typedef struct source {
    const char *data;
    size_t len;
    char *owned;  /* the buffer (malloc'd or reco_alloc_aligned), or NULL */
    line_counts lines;
} source;

#define READ_PIECE ((size_t)1 << 20)

static int parse_threads(const reco_load_options *opt, size_t body_len)
{
    int n = opt->threads > 0 ? opt->threads : omp_get_max_threads();
    if (n < 1)
        n = 1;
    /* Small inputs are not worth a thread each. */
    if (body_len < ((size_t)1 << 20))
        n = 1;
    return n > 64 ? 64 : n;
}

static uint64_t count_newlines(const char *p, const char *end)
{
    uint64_t n = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

static reco_status changed_while_read(const char *path, reco_error *err)
{
    return reco_error_set(err, RECO_ERR_IO,
                          "%s: the file changed while it was being read (truncated, rewritten "
                          "or appended to); read it again once it is complete, or a copy of it",
                          path);
}

/* A regular file of st->st_size bytes, read by as many threads as will
 * parse it, each its own region in 1 MiB pieces whose newlines it counts
 * while they are in cache (line_counts), with progress in stage "read".
 * The file is then looked at again: a file that shrank, grew or was
 * rewritten while it was read is refused rather than parsed as a mixture
 * of two versions. */
static reco_status read_regular(int fd, const char *path, const struct stat *st,
                                const reco_load_options *opt, source *src, reco_error *err)
{
    size_t size = (size_t)st->st_size;
    char *buf = reco_alloc_aligned(size);
    if (!buf)
        return reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory reading %zu bytes", path,
                              size);
    int nthreads = parse_threads(opt, size);
    int failed = 0, saved_errno = 0;
#pragma omp parallel for num_threads(nthreads) schedule(static, 1)
    for (int t = 0; t < nthreads; t++) {
        size_t from = region_start(size, nthreads, t), to = region_start(size, nthreads, t + 1);
        uint64_t nl = 0;
        for (size_t off = from; off < to; off += READ_PIECE) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop)
                break;
            size_t n = to - off < READ_PIECE ? to - off : READ_PIECE;
            int64_t got = reco_pread_full(fd, buf + off, n, off);
            if (got != (int64_t)n) {
#pragma omp critical(reco_ratings_read)
                {
                    failed = 1;
                    saved_errno = got < 0 ? errno : 0;
                }
                break;
            }
            nl += count_newlines(buf + off, buf + off + n);
            /* Thread 0 (the caller's) reports, every 8 MiB. */
            if (t == 0 && ((off - from) / READ_PIECE) % 8 == 7)
                reco_progress_report(&opt->progress, "read",
                                     (uint64_t)(off + n - from) * (uint64_t)nthreads, size);
        }
        src->lines.nl[t] = nl;
    }
    src->lines.n = nthreads;
    reco_status rc = RECO_OK;
    struct stat after;
    if (failed && saved_errno)
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(saved_errno));
    else if (failed)
        rc = changed_while_read(path, err);
    else if (fstat(fd, &after) != 0)
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
    else if (after.st_size != st->st_size || after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
             after.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
        rc = changed_while_read(path, err);
    if (rc) {
        free(buf);
        return rc;
    }
    reco_progress_report(&opt->progress, "read", size, size);
    src->owned = buf;
    src->data = buf;
    src->len = size;
    return RECO_OK;
}

static reco_status open_source(const char *path, const reco_load_options *opt, source *src,
                               reco_error *err)
{
    memset(src, 0, sizeof *src);
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO,
                              "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        if (fd != STDIN_FILENO)
            close(fd);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return reco_error_set(err, RECO_ERR_IO, "%s: is a directory", path);
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        reco_status rc = read_regular(fd, path, &st, opt, src, err);
        if (fd != STDIN_FILENO)
            close(fd);
        return rc;
    }
    /* A pipe, or an empty file: read until the end. */
    char *buf = NULL;
    size_t len = 0;
    int failed = reco_read_all(fd, STDIN_CAP, &buf, &len);
    int e = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    if (failed && e == EFBIG)
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "%s: input larger than 16 GiB", path);
    if (failed && e == ENOMEM)
        return reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory reading input", path);
    if (failed)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(e));
    src->owned = buf;
    src->data = buf;
    src->len = len;
    return RECO_OK;
}

static void close_source(source *src) { free(src->owned); }

/* Distinct-count estimate: the HyperLogLog registers of all threads merged
 * by maximum, with the small-range (linear counting) correction. */
static uint64_t sketch_estimate(chunk *chunks, int nthreads, bool users)
{
    uint8_t *acc = users ? chunks[0].usketch : chunks[0].isketch;
    for (int t = 1; t < nthreads; t++) {
        const uint8_t *o = users ? chunks[t].usketch : chunks[t].isketch;
        for (size_t j = 0; j < SKETCH_REGS; j++)
            if (o[j] > acc[j])
                acc[j] = o[j];
    }
    double m = (double)SKETCH_REGS, sum = 0;
    size_t zeros = 0;
    for (size_t j = 0; j < SKETCH_REGS; j++) {
        sum += ldexp(1.0, -acc[j]);
        zeros += acc[j] == 0;
    }
    double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
    if (e <= 2.5 * m && zeros)
        e = m * log(m / (double)zeros);
    return (uint64_t)e;
}

/* Interns a column of keys. Runs of one repeated key (files sorted by
 * product) are interned once; the rest go through the prefetching batch. */
static reco_status intern_column(reco_idmap *m, uint64_t n, const char **keys,
                                 const uint8_t *lens, const uint32_t *hashes, uint32_t *ids)
{
    enum { B = 1024 };
    const char *bk[B];
    uint8_t bl[B];
    uint32_t bh[B];
    uint32_t bid[B];
    uint64_t start[B + 1];
    uint64_t k = 0;
    while (k < n) {
        size_t nb = 0;
        while (k < n && nb < B) {
            start[nb] = k;
            bk[nb] = keys[k];
            bl[nb] = lens[k];
            bh[nb] = hashes[k];
            nb++;
            k++;
            while (k < n && hashes[k] == bh[nb - 1] && lens[k] == bl[nb - 1] &&
                   memcmp(keys[k], bk[nb - 1], lens[k]) == 0)
                k++;
        }
        start[nb] = k;
        reco_status st = reco_idmap_intern_batch(m, nb, bk, bl, bh, bid);
        if (st)
            return st;
        for (size_t j = 0; j < nb; j++)
            for (uint64_t x = start[j]; x < start[j + 1]; x++)
                ids[x] = bid[j];
    }
    return RECO_OK;
}

static uint64_t count_lines(const char *p, const char *end)
{
    uint64_t n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return n + 1;
        n++;
        p = nl + 1;
    }
    return n;
}

static void free_columns(columns *c)
{
    free(c->ukey);
    free(c->ikey);
    free(c->ulen);
    free(c->ilen);
    free(c->uhash);
    free(c->ihash);
}

/* Cuts [body, end) of buf into n chunks at line boundaries near
 * body + body_len * t / n and sets each chunk's number of lines (an upper
 * bound on its records): from the newline counts taken while reading when
 * there are some for n regions, else by counting. */
static void cut_chunks(const char *buf, size_t len, const char *body, int n,
                       const line_counts *lc, chunk *chunks)
{
    const char *end = buf + len;
    size_t body_len = (size_t)(end - body);
    bool counted = lc && lc->n == n;
    /* With counts, the cuts are made after the region starts (so that each
     * chunk's newlines are its region's, give or take the one at each cut),
     * else at even shares of the body. d[t]: newlines between region t's
     * start and chunk t's first byte. */
    uint64_t d[65];
    const char *cut = body;
    d[0] = counted ? count_newlines(buf, body) : 0;
    for (int t = 0; t < n; t++) {
        chunks[t].begin = cut;
        const char *target = end;
        d[t + 1] = 0;
        if (t < n - 1) {
            target = counted ? buf + region_start(len, n, t + 1)
                             : body + body_len / (size_t)n * (size_t)(t + 1);
            if (target < cut) {
                counted = counted && cut == end; /* an empty chunk still adds up */
                target = cut;
            }
            if (target < end) {
                const char *nl = memchr(target, '\n', (size_t)(end - target));
                target = nl ? nl + 1 : end;
                d[t + 1] = nl != NULL;
                if (counted && nl && target > buf + region_start(len, n, t + 2))
                    counted = false; /* the newline found lies in a later region */
            }
        }
        chunks[t].end = target;
        cut = target;
    }
    if (counted) {
        for (int t = 0; t < n; t++) {
            uint64_t nl = lc->nl[t] + d[t + 1];
            chunks[t].n = nl >= d[t] ? nl - d[t] : 0;
            if (chunks[t].end == end && chunks[t].end > chunks[t].begin && end[-1] != '\n')
                chunks[t].n++; /* the last line has no newline */
        }
        return;
    }
#pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int t = 0; t < n; t++)
        chunks[t].n = count_lines(chunks[t].begin, chunks[t].end);
}

static reco_status parse_buffer(const char *buf, size_t len, const char *name,
                                const reco_load_options *opt_in, const line_counts *lc,
                                const reco_event_weights *w, reco_ratings **out,
                                uint8_t **types, reco_error *err);

reco_status reco_ratings_parse(const char *buf, size_t len, const char *name,
                               const reco_load_options *opt_in, reco_ratings **out,
                               reco_error *err)
{
    return parse_buffer(buf, len, name, opt_in, NULL, NULL, out, NULL, err);
}

reco_status reco_parse_buffer(const char *buf, size_t len, const char *name,
                              const reco_load_options *opt, const reco_event_weights *w,
                              reco_ratings **out, uint8_t **types, reco_error *err)
{
    return parse_buffer(buf, len, name, opt, NULL, w, out, types, err);
}

static reco_status parse_buffer(const char *buf, size_t len, const char *name,
                                const reco_load_options *opt_in, const line_counts *lc,
                                const reco_event_weights *w, reco_ratings **out,
                                uint8_t **types, reco_error *err)
{
    reco_load_options defaults;
    if (!opt_in) {
        reco_load_options_default(&defaults);
        opt_in = &defaults;
    }
    const reco_load_options *opt = opt_in;
    *out = NULL;
    if (!(opt->rating_min <= opt->rating_max))
        return reco_error_set(err, RECO_ERR_INVALID, "rating range %g to %g is empty",
                              opt->rating_min, opt->rating_max);

    parse_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.opt = opt;
    event_layout ev = {w, -1, -1, -1};
    if (types)
        *types = NULL;
    if (w) {
        ctx.ev = &ev;
        ev.rating_type = reco_event_weights_index(w, RECO_EVENT_RATING, strlen(RECO_EVENT_RATING));
    }
    const int max_cols = w ? 5 : 4;
    const char *what = w ? "events" : "ratings";
    ctx.max_fields = w ? EVENT_FIELDS : RATING_FIELDS;
    const char *p = buf, *end = buf + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;

    /* Find the first non-blank line for detection. */
    uint64_t line0 = 0;
    const char *first = p, *first_end = p;
    while (first < end) {
        const char *nl = memchr(first, '\n', (size_t)(end - first));
        first_end = nl ? nl : end;
        line0++;
        const char *fe = first_end;
        if (fe > first && fe[-1] == '\r')
            fe--;
        if (!is_blank(first, fe)) {
            first_end = fe;
            break;
        }
        first = nl ? nl + 1 : end;
    }
    if (first >= end)
        return reco_error_set(err, RECO_ERR_EMPTY, "%s: no %s (the input is empty)", name, what);

    if (opt->sep) {
        if (parse_sep_option(opt->sep, &ctx.sep))
            return reco_error_set(err, RECO_ERR_INVALID, "bad separator \"%s\"", opt->sep);
    } else if (detect_sep(first, first_end, max_cols, &ctx.sep)) {
        return reco_error_set(err, RECO_ERR_PARSE,
                              "%s:%llu: cannot detect the separator: the line does not split "
                              "into 3 %s %d fields on \",\", tab, \"::\", \";\" or \"|\" (use --sep)",
                              name, (unsigned long long)line0, w ? "to" : "or", max_cols);
    }
    field f[MAX_FIELDS];
    const char *why = "";
    int nf = split_line(first, first_end, &ctx.sep, ctx.max_fields, f, &why);
    if (nf < 0)
        return reco_error_set(err, RECO_ERR_PARSE, "%s:%llu: %s", name,
                              (unsigned long long)line0, why);
    if (nf < 3 || nf > max_cols)
        return reco_error_set(err, RECO_ERR_PARSE,
                              "%s:%llu: expected %s, found %s%d", name, (unsigned long long)line0,
                              w ? "3 to 5 fields (user, item, type[, value][, timestamp])"
                                : "3 or 4 fields (user, item, rating[, timestamp])",
                              nf == ctx.max_fields ? "at least " : "", nf);
    ctx.ncols = nf;
    bool header = opt->header == 1;
    if (w) {
        /* Events: a header is recognised by its column names; without one
         * the fourth column is the value and the fifth the timestamp. */
        bool named = event_header(f, nf, &ev);
        if (!named) {
            ev.value = nf >= 4 ? 3 : -1;
            ev.ts = nf >= 5 ? 4 : -1;
        }
        if (opt->header < 0)
            header = named;
    } else if (opt->header < 0) {
        double v;
        int64_t t;
        header = parse_number(f[2].p, f[2].len, &v) != 0 &&
                 (nf == 3 || parse_int64(f[3].p, f[3].len, &t) != 0);
    }
    const char *body = first;
    uint64_t line_base = line0 - 1; /* lines before body */
    if (header) {
        const char *nl = memchr(first, '\n', (size_t)(end - first));
        body = nl ? nl + 1 : end;
        line_base = line0;
    }

    int nthreads = parse_threads(opt, (size_t)(end - body));
    chunk *chunks = calloc((size_t)nthreads, sizeof *chunks);
    if (!chunks)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    /* Record slots: one per line is an upper bound. */
    cut_chunks(buf, len, body, nthreads, lc, chunks);
    uint64_t total = 0;
    for (int t = 0; t < nthreads; t++) {
        chunks[t].base = total;
        chunks[t].slots = chunks[t].n;
        total += chunks[t].n;
        chunks[t].n = 0;
    }
    reco_status rc = RECO_OK;
    reco_ratings *r = NULL;
    columns *col = &ctx.col;
    col->ukey = malloc(total * sizeof *col->ukey + 1);
    col->ikey = malloc(total * sizeof *col->ikey + 1);
    col->ulen = malloc(total + 1);
    col->ilen = malloc(total + 1);
    col->uhash = malloc(total * sizeof *col->uhash + 1);
    col->ihash = malloc(total * sizeof *col->ihash + 1);
    r = reco_ratings_new(opt->users, opt->items);
    if (!col->ukey || !col->ikey || !col->ulen || !col->ilen || !col->uhash || !col->ihash || !r ||
        ratings_reserve(r, total ? total : 1)) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory for %s lines", name,
                            RECO_THOUSANDS(total));
        goto done;
    }
    col->rating = r->rating;
    col->ts = r->ts;
    if (w && !(col->type = malloc(total ? total : 1))) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory for %s lines", name,
                            RECO_THOUSANDS(total));
        goto done;
    }
    bool sketch = total > 200000 && !opt->users && !opt->items;
    for (int t = 0; sketch && t < nthreads; t++) {
        chunks[t].usketch = calloc(SKETCH_REGS, 1);
        chunks[t].isketch = calloc(SKETCH_REGS, 1);
        if (!chunks[t].usketch || !chunks[t].isketch) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
    }

#pragma omp parallel for num_threads(nthreads) schedule(static, 1)
    for (int t = 0; t < nthreads; t++)
        parse_chunk(&ctx, &chunks[t], t == 0 ? &opt->progress : NULL, len, nthreads);

    reco_load_report *rep = &r->report;
    memset(rep, 0, sizeof *rep);
    rep->header = header;
    rep->has_timestamps = w ? ev.ts >= 0 : ctx.ncols == 4;
    memcpy(rep->sep, ctx.sep.s, sizeof rep->sep);
    uint64_t lines = line_base, n = 0;
    for (int t = 0; t < nthreads; t++) {
        chunk *c = &chunks[t];
        if (c->overflow) {
            rc = reco_error_set(err, RECO_ERR_INTERNAL, "%s: more records than lines counted",
                                name);
            goto done;
        }
        if (c->nomem) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
        for (size_t j = 0; j < c->n_msgs; j++) {
            if (c->failed && !opt->skip_bad) {
                rc = reco_error_set(err, RECO_ERR_PARSE, "%s:%llu: %s", name,
                                    (unsigned long long)(lines + c->msg_line[j]), c->msgs[j]);
                goto done;
            }
            if (rep->n_messages < RECO_BAD_LINES_REPORTED)
                snprintf(rep->messages[rep->n_messages++], RECO_BAD_LINE_MSG_MAX, "%s:%llu: %s",
                         name, (unsigned long long)(lines + c->msg_line[j]), c->msgs[j]);
        }
        /* Move the chunk's records down next to the previous chunk's. */
        if (c->base != n && c->n) {
            memmove(col->ukey + n, col->ukey + c->base, c->n * sizeof *col->ukey);
            memmove(col->ikey + n, col->ikey + c->base, c->n * sizeof *col->ikey);
            memmove(col->ulen + n, col->ulen + c->base, c->n);
            memmove(col->ilen + n, col->ilen + c->base, c->n);
            memmove(col->uhash + n, col->uhash + c->base, c->n * sizeof *col->uhash);
            memmove(col->ihash + n, col->ihash + c->base, c->n * sizeof *col->ihash);
            memmove(col->rating + n, col->rating + c->base, c->n * sizeof *col->rating);
            memmove(col->ts + n, col->ts + c->base, c->n * sizeof *col->ts);
            if (col->type)
                memmove(col->type + n, col->type + c->base, c->n);
        }
        n += c->n;
        lines += c->lines;
        rep->blank_lines += c->blank;
        rep->log_records += c->log_records;
        rep->bad_lines += c->bad;
    }
    rep->lines = lines;
    rep->ratings = n;
    if (n == 0) {
        rc = reco_error_set(err, RECO_ERR_EMPTY, "%s: no %s%s", name, what,
                            rep->bad_lines ? " (every data line was bad)" : "");
        if (rep->n_messages && err) {
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof err->msg - used, "; first: %s", rep->messages[0]);
        }
        goto done;
    }
    if (n > UINT32_MAX) {
        rc = reco_error_set(err, RECO_ERR_TOO_LARGE, "%s: more than 2^32 %s", name, what);
        goto done;
    }
    r->n = n;
    r->has_ts = rep->has_timestamps;
    if (sketch) {
        uint64_t ub = 0, ib = 0;
        for (int t = 0; t < nthreads; t++) {
            ub += chunks[t].ubytes;
            ib += chunks[t].ibytes;
        }
        uint64_t nu = sketch_estimate(chunks, nthreads, true);
        uint64_t ni = sketch_estimate(chunks, nthreads, false);
        /* 5% over the estimate; key bytes scaled by the distinct share. */
        nu = nu + nu / 20 + 64;
        ni = ni + ni / 20 + 64;
        if (nu > n)
            nu = n;
        if (ni > n)
            ni = n;
        if (reco_idmap_reserve(r->users, nu, (size_t)(ub / n * nu + nu)) ||
            reco_idmap_reserve(r->items, ni, (size_t)(ib / n * ni + ni))) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory for IDs", name);
            goto done;
        }
        for (int t = 0; t < nthreads; t++) {
            free(chunks[t].usketch);
            free(chunks[t].isketch);
            chunks[t].usketch = chunks[t].isketch = NULL;
        }
    }
    reco_progress_report(&opt->progress, "intern", 0, n);
    reco_status st_u = RECO_OK, st_i = RECO_OK;
    /* Users and items live in separate tables: intern them side by side. */
#pragma omp parallel sections num_threads(nthreads > 1 ? 2 : 1)
    {
#pragma omp section
        st_u = intern_column(r->users, n, col->ukey, col->ulen, col->uhash, r->user);
#pragma omp section
        st_i = intern_column(r->items, n, col->ikey, col->ilen, col->ihash, r->item);
    }
    if (st_u || st_i) {
        rc = reco_error_set(err, st_u ? st_u : st_i, "%s: %s interning IDs", name,
                            reco_status_str(st_u ? st_u : st_i));
        goto done;
    }
    reco_progress_report(&opt->progress, "intern", n, n);

done:
    free_columns(col);
    for (int t = 0; t < nthreads; t++) {
        free(chunks[t].usketch);
        free(chunks[t].isketch);
        key_block *b = chunks[t].keys;
        while (b) {
            key_block *nx = b->next;
            free(b);
            b = nx;
        }
    }
    free(chunks);
    if (rc) {
        free(col->type);
        reco_ratings_free(r);
        return rc;
    }
    if (types)
        *types = col->type;
    *out = r;
    return RECO_OK;
}

reco_status reco_ratings_load(const char *path, const reco_load_options *opt,
                              reco_ratings **out, reco_error *err)
{
    if (reco_pg_is_source(path))
        return reco_pg_ratings_load(path, opt, out, err);
    return reco_parse_file(path, opt, NULL, out, NULL, err);
}

reco_status reco_parse_file(const char *path, const reco_load_options *opt,
                            const reco_event_weights *w, reco_ratings **out, uint8_t **types,
                            reco_error *err)
{
    source src;
    *out = NULL;
    if (types)
        *types = NULL;
    reco_load_options defaults;
    if (!opt) {
        reco_load_options_default(&defaults);
        opt = &defaults;
    }
    reco_status rc = open_source(path, opt, &src, err);
    if (rc)
        return rc;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    rc = parse_buffer(src.data, src.len, name, opt, &src.lines, w, out, types, err);
    close_source(&src);
    return rc;
}
