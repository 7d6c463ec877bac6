/* The ratings log: its header, its lines, reading it as a model's training
 * data, and compaction into an archive. The format and the locking
 * protocol are described in include/reco/ratings_log.h. */
#include "reco/ratings_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reco/idmap.h"
#include "reco/utf8.h"

#include "fileio.h"
#include "numfmt.h"

#define HEADER_COLUMNS "user,item,rating,timestamp"
#define HEADER_TAG " #reco-ratings-"
#define COPY_CHUNK ((size_t)4 << 20)

/* ---- header ---- */

size_t reco_log_header_format(const reco_log_header *h, char *buf)
{
    int n;
    if (h->kind == RECO_LOG_KIND_ARCHIVE)
        n = snprintf(buf, RECO_LOG_HEADER_MAX,
                     HEADER_COLUMNS HEADER_TAG "archive v1 id=%s offset=%020llu seq=%020llu "
                     "end=%020llu end_seq=%020llu\n",
                     h->id, (unsigned long long)h->offset, (unsigned long long)h->seq,
                     (unsigned long long)h->end_offset, (unsigned long long)h->end_seq);
    else
        n = snprintf(buf, RECO_LOG_HEADER_MAX,
                     HEADER_COLUMNS HEADER_TAG "log v1 id=%s offset=%020llu seq=%020llu\n", h->id,
                     (unsigned long long)h->offset, (unsigned long long)h->seq);
    return n > 0 ? (size_t)n : 0;
}

/* Reads "KEY=" and 20 digits at *p; advances. */
static bool take_u64(const char **p, const char *end, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    if ((size_t)(end - *p) < kl + 20 || memcmp(*p, key, kl))
        return false;
    const char *d = *p + kl;
    uint64_t v = 0;
    for (int k = 0; k < 20; k++) {
        if (d[k] < '0' || d[k] > '9')
            return false;
        uint64_t digit = (uint64_t)(d[k] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    *p = d + 20;
    return true;
}

static bool take(const char **p, const char *end, const char *lit)
{
    size_t l = strlen(lit);
    if ((size_t)(end - *p) < l || memcmp(*p, lit, l))
        return false;
    *p += l;
    return true;
}

int reco_log_header_parse(const char *buf, size_t len, reco_log_header *h)
{
    memset(h, 0, sizeof *h);
    const char *nl = memchr(buf, '\n', len < RECO_LOG_HEADER_MAX ? len : RECO_LOG_HEADER_MAX);
    if (!nl)
        return -1;
    const char *p = buf, *end = nl;
    if (!take(&p, end, HEADER_COLUMNS HEADER_TAG))
        return -1;
    if (take(&p, end, "log v"))
        h->kind = RECO_LOG_KIND_LOG;
    else if (take(&p, end, "archive v"))
        h->kind = RECO_LOG_KIND_ARCHIVE;
    else
        return -1;
    if (!take(&p, end, "1 "))
        return -2;
    if (!take(&p, end, "id="))
        return -1;
    if (end - p < RECO_LOG_ID_LEN)
        return -1;
    for (int k = 0; k < RECO_LOG_ID_LEN; k++) {
        char c = p[k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        h->id[k] = c;
    }
    h->id[RECO_LOG_ID_LEN] = '\0';
    p += RECO_LOG_ID_LEN;
    if (!take_u64(&p, end, " offset=", &h->offset) || !take_u64(&p, end, " seq=", &h->seq))
        return -1;
    if (h->kind == RECO_LOG_KIND_ARCHIVE &&
        (!take_u64(&p, end, " end=", &h->end_offset) ||
         !take_u64(&p, end, " end_seq=", &h->end_seq) || h->end_offset < h->offset ||
         h->end_seq < h->seq))
        return -1;
    if (p != end)
        return -1;
    h->len = (size_t)(nl - buf) + 1;
    return 0;
}

reco_status reco_log_new_id(char id[RECO_LOG_ID_LEN + 1], reco_error *err)
{
    unsigned char raw[RECO_LOG_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return reco_error_set(err, RECO_ERR_IO, "getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t k = 0; k < sizeof raw; k++) {
        id[2 * k] = hex[raw[k] >> 4];
        id[2 * k + 1] = hex[raw[k] & 15];
    }
    id[RECO_LOG_ID_LEN] = '\0';
    return RECO_OK;
}

/* ---- lines ---- */

bool reco_log_valid_id(const char *id, size_t len)
{
    if (len == 0 || len > RECO_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return false;
    return reco_utf8_invalid_at(id, len) == len;
}

size_t reco_log_line_max(size_t user_len, size_t item_len)
{
    /* Every byte doubled in the worst case, two pairs of quotes, two
     * commas, the rating and the timestamp. */
    return 2 * (user_len + item_len) + 4 + 2 + 24 + 24 + 2;
}

/* An ID as one CSV field that every reader gives back byte for byte:
 * quoted when it holds a comma or a quote, or when a reader might trim or
 * strip its first or last bytes (a space, a byte-order mark); and when it
 * starts with '#', so that only record lines do. */
static size_t put_field(char *dst, const char *s, size_t len)
{
    bool quote = memchr(s, ',', len) || memchr(s, '"', len) ||
                 (len && (s[0] == ' ' || s[0] == '#' || s[len - 1] == ' ')) ||
                 (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3));
    size_t j = 0;
    if (quote)
        dst[j++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            dst[j++] = '"';
        dst[j++] = s[i];
    }
    if (quote)
        dst[j++] = '"';
    return j;
}

size_t reco_log_format_line(char *dst, const char *user, size_t user_len, const char *item,
                            size_t item_len, float rating, int64_t ts)
{
    size_t n = put_field(dst, user, user_len);
    dst[n++] = ',';
    n += put_field(dst + n, item, item_len);
    /* Nine significant digits give back the same float; a decimal point
     * whatever the program's locale. */
    int k = reco_snprintf_c(dst + n, 52, ",%.9g,%lld\n", (double)rating, (long long)ts);
    return n + (k > 0 ? (size_t)k : 0);
}

/* ---- records ---- */

bool reco_log_valid_kind(const char *kind, size_t len)
{
    if (len == 0 || len > RECO_LOG_KIND_MAX || kind[0] < 'a' || kind[0] > 'z')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

size_t reco_log_record_max(size_t payload_len) { return payload_len + RECO_LOG_KIND_MAX + 4; }

size_t reco_log_format_record(char *dst, const char *kind, const char *payload,
                              size_t payload_len)
{
    size_t kl = strlen(kind), n = 0;
    dst[n++] = '#';
    memcpy(dst + n, kind, kl);
    n += kl;
    dst[n++] = ' ';
    memcpy(dst + n, payload, payload_len);
    n += payload_len;
    dst[n++] = '\n';
    return n;
}

bool reco_log_is_record(const char *p, size_t len, const char **kind, size_t *kind_len,
                        const char **payload, size_t *payload_len)
{
    if (len < 4 || p[0] != '#' || p[len - 1] != '}')
        return false;
    const char *sp = memchr(p, ' ', len);
    if (!sp || !reco_log_valid_kind(p + 1, (size_t)(sp - p - 1)) || sp + 1 >= p + len ||
        sp[1] != '{')
        return false;
    if (kind)
        *kind = p + 1;
    if (kind_len)
        *kind_len = (size_t)(sp - p - 1);
    if (payload)
        *payload = sp + 1;
    if (payload_len)
        *payload_len = (size_t)(p + len - sp - 1);
    return true;
}

typedef struct parse_state {
    const reco_log_parse_opts *opt;
    reco_log_parse_report *rep;
    reco_error *err;
    uint64_t line;
    const reco_log_records *recs;
} parse_state;

static reco_status bad_line(parse_state *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records a bad line; RECO_OK when it is to be skipped. */
static reco_status bad_line(parse_state *ps, const char *fmt, ...)
{
    char why[RECO_BAD_LINE_MSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    reco_vsnprintf_c(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *name = ps->opt->name ? ps->opt->name : "ratings log";
    ps->rep->bad++;
    if (!ps->opt->skip_bad)
        return reco_error_set(ps->err, RECO_ERR_PARSE, "%s:%llu: %s", name,
                              (unsigned long long)ps->line, why);
    if (ps->rep->n_messages < RECO_BAD_LINES_REPORTED)
        snprintf(ps->rep->messages[ps->rep->n_messages++], RECO_BAD_LINE_MSG_MAX, "%s:%llu: %s",
                 name, (unsigned long long)ps->line, why);
    return RECO_OK;
}

/* A field of [p, end): quoted ("" for a quote) or not. Unescaped into
 * out (cap bytes); *next is after the field's separator, or end. Returns
 * the length, or -1 with *why. */
static long get_field(const char *p, const char *end, char *out, size_t cap, const char **next,
                      bool *last, const char **why)
{
    size_t n = 0;
    if (p < end && *p == '"') {
        p++;
        for (;;) {
            if (p >= end) {
                *why = "unterminated quoted field";
                return -1;
            }
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    if (n < cap)
                        out[n] = '"';
                    n++;
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (n < cap)
                out[n] = *p;
            n++;
            p++;
        }
        if (p < end && *p != ',') {
            *why = "unexpected character after a closing quote";
            return -1;
        }
    } else {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *fe = c ? c : end;
        n = (size_t)(fe - p);
        memcpy(out, p, n < cap ? n : cap);
        p = fe;
    }
    *last = p >= end;
    *next = p < end ? p + 1 : end;
    return (long)n;
}

static const char *excerpt(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < 40 ? len : 40, j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        dst[j++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (n < len && j + 4 < cap) {
        memcpy(dst + j, "...", 3);
        j += 3;
    }
    dst[j] = '\0';
    return dst;
}

static bool parse_rating(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789.eE+-", s[i]) || !s[i])
            return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *e;
    errno = 0;
    double v = reco_strtod_c(tmp, &e);
    if (*e || errno == ERANGE)
        return false;
    *out = v;
    return true;
}

static bool parse_ts(const char *s, size_t len, int64_t *out)
{
    char tmp[32];
    if (len == 0 || len >= sizeof tmp)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-')))
            return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *e;
    errno = 0;
    long long v = strtoll(tmp, &e, 10);
    if (*e || errno)
        return false;
    *out = (int64_t)v;
    return true;
}

static reco_status parse_line(parse_state *ps, const char *p, const char *end,
                              reco_log_rating_fn fn, void *ctx)
{
    char f[4][RECO_ID_MAX + 1];
    size_t fl[4];
    const char *why = NULL;
    int nf = 0;
    bool last = p >= end;
    if (p >= end)
        return bad_line(ps, "empty line (a ratings log has none)");
    const char *kind, *payload;
    size_t kind_len, payload_len;
    if (*p == '#' && end[-1] == '}') {
        /* A record line (a rating line ends with a digit). */
        if (!reco_log_is_record(p, (size_t)(end - p), &kind, &kind_len, &payload, &payload_len))
            return bad_line(ps, "malformed record line (expected #KIND {JSON object})");
        ps->rep->records++;
        if (!ps->recs || !ps->recs->fn)
            return RECO_OK;
        char why[RECO_BAD_LINE_MSG_MAX - 96] = "";
        int r = ps->recs->fn(ps->recs->ctx, kind, kind_len, payload, payload_len,
                                   why, sizeof why);
        if (r < 0)
            return reco_error_set(ps->err, RECO_ERR_NOMEM, "%s:%llu: out of memory",
                                  ps->opt->name ? ps->opt->name : "ratings log",
                                  (unsigned long long)ps->line);
        if (r > 0) {
            ps->rep->bad_records++;
            return bad_line(ps, "%.*s record: %s", (int)kind_len, kind,
                            why[0] ? why : "not valid");
        }
        return RECO_OK;
    }
    while (!last) {
        if (nf == 4)
            return bad_line(ps, "more than 4 fields (user, item, rating, timestamp)");
        long n = get_field(p, end, f[nf], RECO_ID_MAX, &p, &last, &why);
        if (n < 0)
            return bad_line(ps, "%s", why);
        fl[nf++] = (size_t)n;
    }
    if (nf != 4)
        return bad_line(ps, "expected 4 fields (user, item, rating, timestamp), found %d", nf);
    static const char *const what[2] = {"user", "item"};
    for (int k = 0; k < 2; k++)
        if (!reco_log_valid_id(f[k], fl[k]))
            return bad_line(ps, "%s ID %s", what[k],
                            fl[k] == 0 ? "is empty"
                            : fl[k] > RECO_ID_MAX ? "is over 255 bytes"
                                                  : "is not UTF-8 without control characters");
    char ex[64];
    double v;
    if (!parse_rating(f[2], fl[2], &v) || !isfinite(v))
        return bad_line(ps, "rating \"%s\" is not a finite number",
                        excerpt(ex, sizeof ex, f[2], fl[2]));
    float r = (float)v;
    if (!(r >= ps->opt->rating_min && r <= ps->opt->rating_max))
        return bad_line(ps, "rating %s is outside the allowed range %g to %g",
                        excerpt(ex, sizeof ex, f[2], fl[2]), ps->opt->rating_min,
                        ps->opt->rating_max);
    int64_t ts;
    if (!parse_ts(f[3], fl[3], &ts))
        return bad_line(ps, "timestamp \"%s\" is not an integer",
                        excerpt(ex, sizeof ex, f[3], fl[3]));
    if (fn && fn(ctx, f[0], fl[0], f[1], fl[1], r, ts))
        return reco_error_set(ps->err, RECO_ERR_NOMEM, "%s:%llu: out of memory",
                              ps->opt->name ? ps->opt->name : "ratings log",
                              (unsigned long long)ps->line);
    ps->rep->ratings++;
    return RECO_OK;
}

reco_status reco_log_parse(const char *buf, size_t len, const reco_log_parse_opts *opt,
                           reco_log_rating_fn fn, void *ctx, reco_log_parse_report *rep,
                           reco_error *err)
{
    return reco_log_parse_records(buf, len, opt, fn, ctx, NULL, rep, err);
}

reco_status reco_log_parse_records(const char *buf, size_t len, const reco_log_parse_opts *opt,
                                   reco_log_rating_fn fn, void *ctx, const reco_log_records *recs,
                                   reco_log_parse_report *rep, reco_error *err)
{
    reco_log_parse_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    parse_state ps = {opt, rep, err, opt->first_line ? opt->first_line : 1, recs};
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        reco_status rc = parse_line(&ps, p, le, fn, ctx);
        rep->lines++;
        if (rc)
            return rc;
        ps.line++;
        p = nl ? nl + 1 : end;
    }
    return RECO_OK;
}

/* ---- files ---- */

static int lock_fd(int fd, int op)
{
    while (flock(fd, op) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

int reco_fsync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* The end of the last complete line of fd at or after `floor` (a torn
 * tail is left out), given the file's size. */
static int complete_end(int fd, uint64_t floor, uint64_t size, uint64_t *out)
{
    char buf[4096];
    uint64_t pos = size;
    while (pos > floor) {
        size_t n = pos - floor < sizeof buf ? (size_t)(pos - floor) : sizeof buf;
        if (reco_pread_exact(fd, buf, n, pos - n))
            return -1;
        for (size_t k = n; k > 0; k--)
            if (buf[k - 1] == '\n') {
                *out = pos - n + k;
                return 0;
            }
        pos -= n;
    }
    *out = floor;
    return 0;
}

/* Reads and checks the header of fd. */
static reco_status read_header(int fd, const char *path, uint64_t size, reco_log_header *h,
                               reco_error *err)
{
    char buf[RECO_LOG_HEADER_MAX];
    size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
    if (reco_pread_exact(fd, buf, n, 0))
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
    int r = reco_log_header_parse(buf, n, h);
    if (r == -2)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: a ratings log of a later format version than this reco reads",
                              path);
    if (r < 0)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              size == 0 ? "%s is empty: not a reco ratings log (a log starts with "
                                          "its header line)"
                                        : "%s is not a reco ratings log: its first line is not a "
                                          "log header (\"" HEADER_COLUMNS HEADER_TAG "log v1 ...\")",
                              path);
    return RECO_OK;
}

/* A temporary name beside path. */
static void tmp_name(char *buf, size_t cap, const char *path, const char *what)
{
    snprintf(buf, cap, "%s.%s-%ld", path, what, (long)getpid());
}

/* Copies len bytes from src (at sp) to dst (at dp) in chunks, counting
 * newlines. */
static int copy_range(int src, uint64_t sp, int dst, uint64_t dp, uint64_t len, uint64_t *lines)
{
    uint64_t nl = 0;
    char *buf = len ? malloc(len < COPY_CHUNK ? (size_t)len : COPY_CHUNK) : NULL;
    if (len && !buf) {
        errno = ENOMEM;
        return -1;
    }
    while (len) {
        size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
        if (reco_pread_exact(src, buf, n, sp) || reco_pwrite_full(dst, buf, n, dp)) {
            int e = errno;
            free(buf);
            errno = e;
            return -1;
        }
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))); p++)
            nl++;
        sp += n;
        dp += n;
        len -= n;
    }
    free(buf);
    if (lines)
        *lines = nl;
    return 0;
}

/* Writes header + [src_pos, src_pos + len) of src_fd (if len) to a new
 * file tmp, fsynced. Counts the lines copied into *lines. */
static int write_new_file(const char *tmp, const char *hdr, size_t hlen, int src_fd,
                          uint64_t src_pos, uint64_t len, uint64_t *lines)
{
    unlink(tmp); /* a leftover of a run that died */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (reco_pwrite_full(fd, hdr, hlen, 0) || copy_range(src_fd, src_pos, fd, hlen, len, lines) ||
        fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static reco_status file_open(const char *path, bool rw, reco_log_file *f, reco_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (f->fd < 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO, "%s: %s",
                              path, strerror(errno));
    struct stat st;
    reco_status rc = RECO_OK;
    /* The shared lock waits for a batch being written: what is in the
     * file once we hold it is durable. */
    if (lock_fd(f->fd, rw ? LOCK_EX : LOCK_SH) || fstat(f->fd, &st)) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    f->file_bytes = (uint64_t)st.st_size;
    if ((rc = read_header(f->fd, path, f->file_bytes, &f->h, err)))
        goto fail;
    uint64_t end;
    if (complete_end(f->fd, f->h.len, f->file_bytes, &end)) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (rw && f->h.kind != RECO_LOG_KIND_LOG) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s is an archive of a ratings log (reco log compact), not a log",
                            path);
        goto fail;
    }
    if (rw && end < f->file_bytes) {
        if (ftruncate(f->fd, (off_t)end) != 0 || fsync(f->fd) != 0) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: cutting a torn last line: %s", path,
                                strerror(errno));
            goto fail;
        }
        f->file_bytes = end;
    }
    lock_fd(f->fd, LOCK_UN);
    f->end_offset = f->h.offset + (end - f->h.len);
    if (f->h.kind == RECO_LOG_KIND_ARCHIVE) {
        if (f->end_offset < f->h.end_offset) {
            rc = reco_error_set(err, RECO_ERR_FORMAT,
                                  "%s: the archive is shorter than its header says (%llu bytes "
                                  "of ratings, not %llu): it was cut or damaged",
                                  path, (unsigned long long)(f->end_offset - f->h.offset),
                                  (unsigned long long)(f->h.end_offset - f->h.offset));
            goto fail;
        }
        f->end_offset = f->h.end_offset; /* a longer one: an unfinished compaction's lines */
    }
    return RECO_OK;
fail:
    close(f->fd);
    f->fd = -1;
    return rc;
}

reco_status reco_log_file_open(const char *path, reco_log_file *f, reco_error *err)
{
    return file_open(path, false, f, err);
}

reco_status reco_log_file_open_rw(const char *path, reco_log_file *f, reco_error *err)
{
    return file_open(path, true, f, err);
}

static int count_line(void *ctx, const char *u, size_t ul, const char *i, size_t il, float r,
                      int64_t ts)
{
    (void)u, (void)ul, (void)i, (void)il, (void)r, (void)ts;
    (*(uint64_t *)ctx)++;
    return 0;
}

reco_status reco_log_upgrade(const char *path, reco_error *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO, "%s: %s",
                              path, strerror(errno));
    reco_status rc = RECO_OK;
    struct stat st;
    char first[1200];
    uint64_t end;
    char tmp[PATH_MAX];
    if (lock_fd(fd, LOCK_EX) || fstat(fd, &st)) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    size_t n = (uint64_t)st.st_size < sizeof first ? (size_t)st.st_size : sizeof first;
    reco_log_header h;
    if (reco_pread_exact(fd, first, n, 0)) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    int hp = reco_log_header_parse(first, n, &h);
    if (hp == 0)
        goto out; /* it has one */
    if (hp == -2) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: a ratings log of a later format version than this reco reads",
                            path);
        goto out;
    }
    if (complete_end(fd, 0, (uint64_t)st.st_size, &end)) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    /* Only a file that reads as a log of an earlier reco: its first line a
     * rating line as the writer made them (so, for instance, a training
     * file given by mistake with a header is left alone). */
    const char *nl = memchr(first, '\n', end < n ? (size_t)end : n);
    uint64_t one = 0;
    reco_log_parse_opts po = {path, 1, -HUGE_VAL, HUGE_VAL, false};
    if (end == 0 || !nl ||
        reco_log_parse(first, (size_t)(nl - first), &po, count_line, &one, NULL, NULL) ||
        one != 1) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            end == 0 ? "%s is empty: not a reco ratings log (a log starts with "
                                       "its header line; a rotation tool may have made it)"
                                     : "%s is not a reco ratings log: its first line is neither a "
                                       "log header nor a rating line user,item,rating,timestamp",
                            path);
        goto out;
    }
    memset(&h, 0, sizeof h);
    h.kind = RECO_LOG_KIND_LOG;
    if ((rc = reco_log_new_id(h.id, err)))
        goto out;
    char hdr[RECO_LOG_HEADER_MAX];
    h.len = reco_log_header_format(&h, hdr);
    tmp_name(tmp, sizeof tmp, path, "upgrade");
    if (write_new_file(tmp, hdr, h.len, fd, 0, end, NULL) || rename(tmp, path) != 0 ||
        reco_fsync_parent_dir(path) != 0) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    close(fd);
    return rc;
}

void reco_log_file_close(reco_log_file *f)
{
    if (f && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

reco_status reco_log_file_read(const reco_log_file *f, const char *path, uint64_t from,
                               uint64_t to, char **out, reco_error *err)
{
    *out = NULL;
    if (from < f->h.offset || to < from || to > f->end_offset)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s: bytes %llu to %llu of the log are not in this file (it holds "
                              "%llu to %llu)", path, (unsigned long long)from,
                              (unsigned long long)to, (unsigned long long)f->h.offset,
                              (unsigned long long)f->end_offset);
    size_t len = (size_t)(to - from);
    char *buf = malloc(len + 1);
    if (!buf)
        return reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory for %zu bytes", path, len);
    if (reco_pread_exact(f->fd, buf, len, reco_log_file_pos(f, from))) {
        free(buf);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
    }
    buf[len] = '\0';
    *out = buf;
    return RECO_OK;
}

reco_status reco_log_create(const char *path, const reco_log_point *start, reco_log_header *out,
                            reco_error *err)
{
    reco_log_header h;
    memset(&h, 0, sizeof h);
    h.kind = RECO_LOG_KIND_LOG;
    if (start && start->id[0]) {
        memcpy(h.id, start->id, sizeof h.id);
        h.offset = start->offset;
        h.seq = start->seq;
    } else {
        reco_status rc = reco_log_new_id(h.id, err);
        if (rc)
            return rc;
    }
    char hdr[RECO_LOG_HEADER_MAX], tmp[PATH_MAX];
    h.len = reco_log_header_format(&h, hdr);
    tmp_name(tmp, sizeof tmp, path, "new");
    if (write_new_file(tmp, hdr, h.len, -1, 0, 0, NULL))
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", tmp, strerror(errno));
    /* link, unlike rename, never replaces a file that is there. */
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return reco_error_set(err, e == EEXIST ? RECO_ERR_INVALID : RECO_ERR_IO, "%s: %s", path,
                              e == EEXIST ? "already exists" : strerror(e));
    }
    unlink(tmp);
    if (reco_fsync_parent_dir(path))
        return reco_error_set(err, RECO_ERR_IO, "%s: syncing its directory: %s", path,
                              strerror(errno));
    if (out)
        *out = h;
    return RECO_OK;
}

reco_status reco_log_read_all(const char *path, const reco_log_parse_opts *opt,
                              reco_log_rating_fn fn, void *ctx, reco_log_point *start,
                              reco_log_point *end, reco_log_parse_report *rep, reco_error *err)
{
    reco_log_file f;
    reco_status rc = reco_log_file_open(path, &f, err);
    if (rc)
        return rc;
    if (f.h.kind != RECO_LOG_KIND_LOG) {
        reco_log_file_close(&f);
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s is an archive of a ratings log, not a log: give it as a rating "
                              "file", path);
    }
    uint64_t len = f.end_offset - f.h.offset;
    void *map = NULL;
    if (len) {
        /* Mapped from the start of the file: offsets must be page aligned. */
        map = mmap(NULL, (size_t)(f.h.len + len), PROT_READ, MAP_PRIVATE, f.fd, 0);
        if (map == MAP_FAILED) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
            reco_log_file_close(&f);
            return rc;
        }
    }
    reco_log_parse_opts o = *opt;
    o.name = opt->name ? opt->name : path;
    o.first_line = 2;
    reco_log_parse_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (len)
        rc = reco_log_parse((const char *)map + f.h.len, (size_t)len, &o, fn, ctx, rep, err);
    if (map)
        munmap(map, (size_t)(f.h.len + len));
    if (rc == RECO_OK) {
        if (start) {
            memcpy(start->id, f.h.id, sizeof start->id);
            start->offset = f.h.offset;
            start->seq = f.h.seq;
        }
        if (end) {
            memcpy(end->id, f.h.id, sizeof end->id);
            end->offset = f.end_offset;
            end->seq = f.h.seq + rep->lines;
        }
    }
    reco_log_file_close(&f);
    return rc;
}

/* ---- compaction ---- */

/* Extends the archive at apath with the log's lines [from, upto) (or
 * creates it with the log's lines from its start). */
static reco_status archive_lines(const char *lpath, const reco_log_file *lf,
                                 const reco_log_point *upto, const char *apath,
                                 reco_log_compact_result *res, reco_error *err)
{
    char hdr[RECO_LOG_HEADER_MAX], tmp[PATH_MAX];
    reco_log_header a;
    int fd = open(apath, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", apath, strerror(errno));
    if (fd < 0) {
        /* A new archive: the log's lines from its start to the point. */
        memset(&a, 0, sizeof a);
        a.kind = RECO_LOG_KIND_ARCHIVE;
        memcpy(a.id, lf->h.id, sizeof a.id);
        a.offset = lf->h.offset;
        a.seq = lf->h.seq;
        a.end_offset = upto->offset;
        a.end_seq = upto->seq;
        a.len = reco_log_header_format(&a, hdr);
        uint64_t lines = 0, len = upto->offset - lf->h.offset;
        tmp_name(tmp, sizeof tmp, apath, "new");
        if (write_new_file(tmp, hdr, a.len, lf->fd, reco_log_file_pos(lf, lf->h.offset), len,
                           &lines))
            return reco_error_set(err, RECO_ERR_IO, "%s: %s", tmp, strerror(errno));
        if (lines != upto->seq - lf->h.seq) {
            unlink(tmp);
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "%s: the model's point (rating #%llu) is not where this log "
                                  "has it (%llu ratings before it, not %llu): the log was "
                                  "changed by hand, or the model was trained on another copy",
                                  lpath, (unsigned long long)upto->seq,
                                  (unsigned long long)lines,
                                  (unsigned long long)(upto->seq - lf->h.seq));
        }
        if (link(tmp, apath) != 0) {
            int e = errno;
            unlink(tmp);
            return reco_error_set(err, RECO_ERR_IO, "%s: %s", apath, strerror(e));
        }
        unlink(tmp);
        if (reco_fsync_parent_dir(apath))
            return reco_error_set(err, RECO_ERR_IO, "%s: syncing its directory: %s", apath,
                                  strerror(errno));
        res->archived_ratings = lines;
        res->archived_bytes = len;
        return RECO_OK;
    }
    reco_status rc = RECO_OK;
    struct stat st;
    if (lock_fd(fd, LOCK_EX) || fstat(fd, &st)) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", apath, strerror(errno));
        goto out;
    }
    if ((rc = read_header(fd, apath, (uint64_t)st.st_size, &a, err)))
        goto out;
    if (a.kind != RECO_LOG_KIND_ARCHIVE || strcmp(a.id, lf->h.id)) {
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            a.kind != RECO_LOG_KIND_ARCHIVE
                                ? "%s is a ratings log, not an archive: give another file"
                                : "%s is the archive of another log (%s), not of %s: give "
                                  "another file",
                            apath, a.id, lpath);
        goto out;
    }
    uint64_t declared = a.len + (a.end_offset - a.offset);
    if ((uint64_t)st.st_size < declared) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: the archive is shorter than its header says: it was cut or "
                            "damaged", apath);
        goto out;
    }
    /* Lines past the header's end are an unfinished compaction's: cut. */
    if ((uint64_t)st.st_size > declared && ftruncate(fd, (off_t)declared) != 0) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", apath, strerror(errno));
        goto out;
    }
    if (a.end_offset < lf->h.offset) {
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%s ends at rating #%llu, but %s starts at rating #%llu: the ratings "
                            "between are in another archive; give that one, or a new file",
                            apath, (unsigned long long)a.end_seq, lpath,
                            (unsigned long long)lf->h.seq);
        goto out;
    }
    if (a.end_offset < upto->offset) {
        uint64_t lines = 0, len = upto->offset - a.end_offset;
        if (copy_range(lf->fd, reco_log_file_pos(lf, a.end_offset), fd, declared, len, &lines) ||
            fsync(fd) != 0) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", apath, strerror(errno));
            goto out;
        }
        if (lines != upto->seq - a.end_seq) {
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "%s: the model's point (rating #%llu) is not where this log has "
                                "it: the log was changed by hand, or the model was trained on "
                                "another copy", lpath, (unsigned long long)upto->seq);
            if (ftruncate(fd, (off_t)declared) != 0) {
                /* The header still says where the archive ends. */
            }
            goto out;
        }
        a.end_offset = upto->offset;
        a.end_seq = upto->seq;
        size_t hl = reco_log_header_format(&a, hdr);
        if (hl != a.len || reco_pwrite_full(fd, hdr, hl, 0) || fsync(fd) != 0) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", apath, strerror(errno));
            goto out;
        }
        res->archived_ratings = lines;
        res->archived_bytes = len;
    }
out:
    close(fd);
    return rc;
}

reco_status reco_log_compact(const char *log_path, const reco_log_point *upto,
                             const char *archive_path, reco_log_compact_result *res,
                             reco_error *err)
{
    memset(res, 0, sizeof *res);
    if (!upto->id[0])
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the model was trained without a ratings log (reco train "
                              "--ratings-log): it covers no part of %s", log_path);
    for (int attempt = 0; attempt < 8; attempt++) {
        reco_log_file f;
        reco_status rc = reco_log_file_open(log_path, &f, err);
        if (rc)
            return rc;
        if (f.h.kind != RECO_LOG_KIND_LOG) {
            reco_log_file_close(&f);
            return reco_error_set(err, RECO_ERR_INVALID, "%s is an archive, not a ratings log",
                                  log_path);
        }
        if (strcmp(f.h.id, upto->id)) {
            reco_log_file_close(&f);
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "%s is log %s, but the model was trained on log %s", log_path,
                                  f.h.id, upto->id);
        }
        res->log_start.offset = f.h.offset;
        res->log_start.seq = f.h.seq;
        memcpy(res->log_start.id, f.h.id, sizeof f.h.id);
        if (upto->offset <= f.h.offset) {
            res->nothing_to_do = true;
            res->kept_bytes = f.end_offset - f.h.offset;
            reco_log_file_close(&f);
            return RECO_OK;
        }
        if (upto->offset > f.end_offset) {
            reco_log_file_close(&f);
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "the model covers %s up to rating #%llu (byte %llu), past its "
                                  "end (byte %llu): the log lost its end, or is an older copy",
                                  log_path, (unsigned long long)upto->seq,
                                  (unsigned long long)upto->offset,
                                  (unsigned long long)f.end_offset);
        }
        char c;
        if (reco_pread_exact(f.fd, &c, 1, reco_log_file_pos(&f, upto->offset) - 1) || c != '\n') {
            reco_log_file_close(&f);
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "%s: the model's point (byte %llu) is not at the end of a "
                                  "line: the model was trained on another log", log_path,
                                  (unsigned long long)upto->offset);
        }
        /* The archive first, outside the log's lock: the lines before the
         * point never change. */
        if ((rc = archive_lines(log_path, &f, upto, archive_path, res, err))) {
            reco_log_file_close(&f);
            return rc;
        }
        /* Then the log, under its lock: no batch is appended while its tail
         * is copied, and a server waiting for the lock finds the new file. */
        struct stat ls, ps;
        if (lock_fd(f.fd, LOCK_EX) || fstat(f.fd, &ls)) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", log_path, strerror(errno));
            reco_log_file_close(&f);
            return rc;
        }
        if (stat(log_path, &ps) != 0 || ps.st_ino != ls.st_ino || ps.st_dev != ls.st_dev) {
            reco_log_file_close(&f); /* compacted meanwhile: again, with the new file */
            continue;
        }
        uint64_t end;
        if (complete_end(f.fd, f.h.len, (uint64_t)ls.st_size, &end)) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", log_path, strerror(errno));
            reco_log_file_close(&f);
            return rc;
        }
        reco_log_header nh = f.h;
        nh.offset = upto->offset;
        nh.seq = upto->seq;
        char hdr[RECO_LOG_HEADER_MAX], tmp[PATH_MAX];
        nh.len = reco_log_header_format(&nh, hdr);
        uint64_t from = reco_log_file_pos(&f, upto->offset), kept_lines = 0;
        tmp_name(tmp, sizeof tmp, log_path, "compact");
        if (write_new_file(tmp, hdr, nh.len, f.fd, from, end - from, &kept_lines) ||
            rename(tmp, log_path) != 0 || reco_fsync_parent_dir(log_path) != 0) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", log_path, strerror(errno));
            unlink(tmp);
            reco_log_file_close(&f);
            return rc;
        }
        reco_log_file_close(&f); /* releases the lock */
        res->kept_ratings = kept_lines;
        res->kept_bytes = end - from;
        res->log_start = *upto;
        return RECO_OK;
    }
    return reco_error_set(err, RECO_ERR_IO,
                          "%s kept being replaced while it was compacted: is another compaction "
                          "running?", log_path);
}
