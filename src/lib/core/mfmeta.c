/* reco: metadata sections of model files (reco/modelfile.h): typed
 * key/value text written without the locale (integers in decimal, floats
 * as their bit pattern in hex) and read back with every value checked
 * against the range its reader gives. A malformed, repeated or missing
 * key, a value of another type or out of range, and a section of a newer
 * format are refused with a message naming the file, the section and the
 * key; keys a reader does not know are ignored. Parsing is linear in the
 * section (at most META_MAX bytes) plus a sort of its keys. */
#include "reco/modelfile.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* A metadata section is small (sizes, scalars, names); a larger one is not
 * one reco wrote. */
#define META_MAX ((size_t)1 << 20)

typedef enum meta_type { T_U64, T_I64, T_F64, T_STR } meta_type;

static const char *const TYPE_NAMES[] = {"u64", "i64", "f64", "str"};

typedef struct meta_entry {
    const char *key;
    meta_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        const char *s;
    } v;
} meta_entry;

struct reco_mfile_meta {
    uint64_t format;
    /* Writing: the text so far, and the first failure of a put. */
    char *text;
    size_t len, cap;
    reco_status failed;
    char why[160];
    /* Reading: the section's bytes copied and split in place, the entries
     * sorted by key, and the names for messages. */
    char *buf;
    meta_entry *e;
    size_t n;
    char *path;
    char name[RECO_MFILE_NAME_MAX + 1];
};

/* ---- keys ---- */

static bool key_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (!first && ((c >= '0' && c <= '9') || c == '_' || c == '.'));
}

/* Whether key[0..len) is a well-formed key. */
static bool key_ok(const char *key, size_t len)
{
    if (len == 0 || len > RECO_MFILE_META_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!key_char(key[i], i == 0))
            return false;
    return true;
}

/* ---- writing ---- */

reco_mfile_meta *reco_mfile_meta_new(uint64_t format)
{
    reco_mfile_meta *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->format = format;
    reco_mfile_meta_put_u64(m, "format", format);
    return m;
}

static void put_fail(reco_mfile_meta *m, reco_status code, const char *fmt, const char *key)
{
    if (m->failed)
        return;
    m->failed = code;
    snprintf(m->why, sizeof m->why, fmt, key);
}

static bool append(reco_mfile_meta *m, const char *s, size_t n)
{
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 256;
        while (cap < m->len + n + 1)
            cap *= 2;
        char *t = realloc(m->text, cap);
        if (!t) {
            put_fail(m, RECO_ERR_NOMEM, "out of memory for metadata%s", "");
            return false;
        }
        m->text = t;
        m->cap = cap;
    }
    memcpy(m->text + m->len, s, n);
    m->len += n;
    m->text[m->len] = '\0';
    return true;
}

/* Starts the line of key (checked, and not already written). */
static bool put_key(reco_mfile_meta *m, const char *key, const char *type)
{
    if (!m || m->failed)
        return false;
    size_t kl = strlen(key);
    if (!key_ok(key, kl)) {
        put_fail(m, RECO_ERR_INVALID, "malformed metadata key \"%.64s\"", key);
        return false;
    }
    for (const char *line = m->text; line && *line;) {
        const char *sp = strchr(line, ' ');
        if (sp && (size_t)(sp - line) == kl && !memcmp(line, key, kl)) {
            put_fail(m, RECO_ERR_INVALID, "metadata key \"%s\" given twice", key);
            return false;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return append(m, key, kl) && append(m, " ", 1) && append(m, type, 3) && append(m, " ", 1);
}

void reco_mfile_meta_put_u64(reco_mfile_meta *m, const char *key, uint64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRIu64 "\n", v);
    if (put_key(m, key, "u64"))
        append(m, num, (size_t)n);
}

void reco_mfile_meta_put_i64(reco_mfile_meta *m, const char *key, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRId64 "\n", v);
    if (put_key(m, key, "i64"))
        append(m, num, (size_t)n);
}

void reco_mfile_meta_put_f64(reco_mfile_meta *m, const char *key, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    char num[32];
    int n = snprintf(num, sizeof num, "%016" PRIx64 "\n", bits);
    if (put_key(m, key, "f64"))
        append(m, num, (size_t)n);
}

void reco_mfile_meta_put_bool(reco_mfile_meta *m, const char *key, bool v)
{
    reco_mfile_meta_put_u64(m, key, v ? 1 : 0);
}

void reco_mfile_meta_put_str(reco_mfile_meta *m, const char *key, const char *v)
{
    size_t vl = strlen(v);
    if (vl > RECO_MFILE_META_STR_MAX) {
        if (m)
            put_fail(m, RECO_ERR_INVALID, "metadata string \"%s\" too long", key);
        return;
    }
    if (!put_key(m, key, "str"))
        return;
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)v[i];
        char esc[5];
        if (c == '\\') {
            append(m, "\\\\", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            append(m, esc, 4);
        } else {
            append(m, (const char *)&v[i], 1);
        }
    }
    append(m, "\n", 1);
}

reco_status reco_mfile_add_meta(reco_mfile_writer *w, const char *name, reco_mfile_meta *m,
                                reco_error *err)
{
    if (!m)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for metadata \"%s\"", name);
    reco_status rc;
    if (m->failed)
        rc = reco_error_set(err, m->failed, "section \"%s\": %s", name, m->why);
    else
        rc = reco_mfile_add_copy(w, name, m->text, m->len, err);
    reco_mfile_meta_free(m);
    return rc;
}

void reco_mfile_meta_free(reco_mfile_meta *m)
{
    if (!m)
        return;
    free(m->text);
    free(m->buf);
    free(m->e);
    free(m->path);
    free(m);
}

/* ---- reading ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decimal digits [p, end) without a leading zero, into *v. */
static bool parse_digits(const char *p, const char *end, uint64_t *v)
{
    if (p == end || (*p == '0' && end - p > 1))
        return false;
    uint64_t x = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || !reco_mul_u64(x, 10, &x) ||
            __builtin_add_overflow(x, (uint64_t)(*p - '0'), &x))
            return false;
    }
    *v = x;
    return true;
}

/* Unescapes the str value [p, end) in place into dst (dst <= p); returns
 * its length, or -1 if malformed. */
static long unescape(char *dst, const char *p, const char *end)
{
    char *d = dst;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (c != '\\') {
            *d++ = *p++;
            continue;
        }
        if (end - p >= 2 && p[1] == '\\') {
            *d++ = '\\';
            p += 2;
            continue;
        }
        if (end - p < 4 || p[1] != 'x')
            return -1;
        int hi = hexval(p[2]), lo = hexval(p[3]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -1;
        *d++ = (char)(hi * 16 + lo);
        p += 4;
    }
    *d = '\0';
    return (long)(d - dst);
}

/* Parses one line [p, end) into e; the key is NUL-terminated in place. On
 * failure *bad_key is the key if it was well-formed, else NULL. */
static bool parse_line(char *p, char *end, meta_entry *e, const char **bad_key)
{
    *bad_key = NULL;
    char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp || !key_ok(p, (size_t)(sp - p)))
        return false;
    *sp = '\0';
    e->key = p;
    *bad_key = p;
    char *t = sp + 1;
    if (end - t < 4 || t[3] != ' ')
        return false;
    int type = -1;
    for (int k = 0; k < 4; k++)
        if (!memcmp(t, TYPE_NAMES[k], 3))
            type = k;
    if (type < 0)
        return false;
    e->type = (meta_type)type;
    char *v = t + 4;
    switch (e->type) {
    case T_U64:
        return parse_digits(v, end, &e->v.u);
    case T_I64: {
        bool neg = v < end && *v == '-';
        uint64_t mag;
        if (!parse_digits(v + neg, end, &mag) || (neg && mag == 0) ||
            mag > (uint64_t)INT64_MAX + neg)
            return false;
        e->v.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        return true;
    }
    case T_F64: {
        if (end - v != 16)
            return false;
        uint64_t bits = 0;
        for (int k = 0; k < 16; k++) {
            int h = hexval(v[k]);
            if (h < 0)
                return false;
            bits = bits << 4 | (uint64_t)h;
        }
        memcpy(&e->v.f, &bits, sizeof bits);
        return true;
    }
    case T_STR: {
        long n = unescape(v, v, end);
        if (n < 0 || (size_t)n > RECO_MFILE_META_STR_MAX)
            return false;
        e->v.s = v;
        return true;
    }
    }
    return false;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const meta_entry *)a)->key, ((const meta_entry *)b)->key);
}

static const meta_entry *find(const reco_mfile_meta *m, const char *key)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->e[mid].key, key);
        if (c == 0)
            return &m->e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

reco_status reco_mfile_meta_parse(const void *bytes, size_t len, const char *path,
                                  const char *name, uint64_t max_format, reco_mfile_meta **out,
                                  reco_error *err)
{
    *out = NULL;
    if (len > META_MAX)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: metadata section \"%s\" is too large (%zu bytes)", path, name,
                              len);
    reco_mfile_meta *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path)) || !(m->buf = malloc(len + 1))) {
        reco_mfile_meta_free(m);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    memcpy(m->buf, bytes, len);
    m->buf[len] = '\0';
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += m->buf[i] == '\n';
    m->e = malloc((lines ? lines : 1) * sizeof *m->e);
    if (!m->e) {
        reco_mfile_meta_free(m);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    reco_status rc = RECO_OK;
    char *p = m->buf, *end = m->buf + len;
    for (size_t line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            rc = reco_error_set(err, RECO_ERR_FORMAT,
                                "%s: section \"%s\", line %zu: no end of line", path, name, line);
            break;
        }
        const char *key;
        if (!parse_line(p, nl, &m->e[m->n], &key)) {
            rc = key ? reco_error_set(err, RECO_ERR_FORMAT,
                                      "%s: section \"%s\", line %zu: key \"%s\" has a malformed "
                                      "type or value", path, name, line, key)
                     : reco_error_set(err, RECO_ERR_FORMAT,
                                      "%s: section \"%s\", line %zu: malformed key", path, name,
                                      line);
            break;
        }
        *nl = '\0';
        m->n++;
        p = nl + 1;
    }
    if (!rc) {
        qsort(m->e, m->n, sizeof *m->e, entry_cmp);
        for (size_t i = 1; i < m->n && !rc; i++)
            if (!strcmp(m->e[i].key, m->e[i - 1].key))
                rc = reco_error_set(err, RECO_ERR_FORMAT,
                                    "%s: section \"%s\": key \"%s\" appears twice", path, name,
                                    m->e[i].key);
    }
    if (!rc)
        rc = reco_mfile_meta_get_u64(m, "format", 1, UINT64_MAX, &m->format, err);
    if (!rc && m->format > max_format)
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: section \"%s\" is of format %" PRIu64 ", written by a newer "
                            "reco (this one reads up to format %" PRIu64 "): use that reco, or "
                            "retrain the model with this one", path, name, m->format, max_format);
    if (rc) {
        reco_mfile_meta_free(m);
        return rc;
    }
    *out = m;
    return RECO_OK;
}

reco_status reco_mfile_meta_read(const reco_mfile *f, const char *name, uint64_t max_format,
                                 reco_mfile_meta **out, reco_error *err)
{
    *out = NULL;
    uint64_t size = 0;
    const void *p = reco_mfile_section(f, name, &size);
    if (!p)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: missing section \"%s\"",
                              reco_mfile_path(f), name);
    return reco_mfile_meta_parse(p, (size_t)size, reco_mfile_path(f), name, max_format, out, err);
}

uint64_t reco_mfile_meta_format(const reco_mfile_meta *m) { return m->format; }

bool reco_mfile_meta_has(const reco_mfile_meta *m, const char *key) { return find(m, key) != NULL; }

/* The entry of key if present and of type t; otherwise an error. */
static reco_status lookup(const reco_mfile_meta *m, const char *key, meta_type t,
                          const meta_entry **out, reco_error *err)
{
    const meta_entry *e = find(m, key);
    if (!e)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: section \"%s\" has no key \"%s\"",
                              m->path, m->name, key);
    if (e->type != t)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": key \"%s\" is a %s, expected a %s", m->path,
                              m->name, key, TYPE_NAMES[e->type], TYPE_NAMES[t]);
    *out = e;
    return RECO_OK;
}

reco_status reco_mfile_meta_get_u64(const reco_mfile_meta *m, const char *key, uint64_t min,
                                    uint64_t max, uint64_t *out, reco_error *err)
{
    const meta_entry *e;
    reco_status rc = lookup(m, key, T_U64, &e, err);
    if (rc)
        return rc;
    if (e->v.u < min || e->v.u > max)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": key \"%s\" is %" PRIu64 ", outside %" PRIu64
                              " to %" PRIu64, m->path, m->name, key, e->v.u, min, max);
    *out = e->v.u;
    return RECO_OK;
}

reco_status reco_mfile_meta_get_u32(const reco_mfile_meta *m, const char *key, uint32_t min,
                                    uint32_t max, uint32_t *out, reco_error *err)
{
    uint64_t v = 0;
    reco_status rc = reco_mfile_meta_get_u64(m, key, min, max, &v, err);
    if (!rc)
        *out = (uint32_t)v;
    return rc;
}

reco_status reco_mfile_meta_get_bool(const reco_mfile_meta *m, const char *key, bool *out,
                                     reco_error *err)
{
    uint64_t v = 0;
    reco_status rc = reco_mfile_meta_get_u64(m, key, 0, 1, &v, err);
    if (!rc)
        *out = v != 0;
    return rc;
}

reco_status reco_mfile_meta_get_i64(const reco_mfile_meta *m, const char *key, int64_t min,
                                    int64_t max, int64_t *out, reco_error *err)
{
    const meta_entry *e;
    reco_status rc = lookup(m, key, T_I64, &e, err);
    if (rc)
        return rc;
    if (e->v.i < min || e->v.i > max)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": key \"%s\" is %" PRId64 ", outside %" PRId64
                              " to %" PRId64, m->path, m->name, key, e->v.i, min, max);
    *out = e->v.i;
    return RECO_OK;
}

reco_status reco_mfile_meta_get_int(const reco_mfile_meta *m, const char *key, int min, int max,
                                    int *out, reco_error *err)
{
    int64_t v = 0;
    reco_status rc = reco_mfile_meta_get_i64(m, key, min, max, &v, err);
    if (!rc)
        *out = (int)v;
    return rc;
}

static reco_status get_f64(const reco_mfile_meta *m, const char *key, double min, double max,
                           bool nan_ok, double *out, reco_error *err)
{
    const meta_entry *e;
    reco_status rc = lookup(m, key, T_F64, &e, err);
    if (rc)
        return rc;
    double v = e->v.f;
    if (isnan(v) ? !nan_ok : (v < min || v > max))
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": key \"%s\" is %.17g, outside %g to %g",
                              m->path, m->name, key, v, min, max);
    *out = v;
    return RECO_OK;
}

reco_status reco_mfile_meta_get_f64(const reco_mfile_meta *m, const char *key, double min,
                                    double max, double *out, reco_error *err)
{
    return get_f64(m, key, min, max, false, out, err);
}

reco_status reco_mfile_meta_get_f64_nan(const reco_mfile_meta *m, const char *key, double min,
                                        double max, double *out, reco_error *err)
{
    return get_f64(m, key, min, max, true, out, err);
}

reco_status reco_mfile_meta_get_f32(const reco_mfile_meta *m, const char *key, float min,
                                    float max, float *out, reco_error *err)
{
    double v = 0;
    reco_status rc = get_f64(m, key, min, max, false, &v, err);
    if (!rc)
        *out = (float)v;
    return rc;
}

reco_status reco_mfile_meta_get_str(const reco_mfile_meta *m, const char *key, size_t max_len,
                                    const char **out, reco_error *err)
{
    const meta_entry *e;
    reco_status rc = lookup(m, key, T_STR, &e, err);
    if (rc)
        return rc;
    size_t n = strlen(e->v.s);
    if (n > max_len)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": key \"%s\" is %zu bytes long, over %zu",
                              m->path, m->name, key, n, max_len);
    *out = e->v.s;
    return RECO_OK;
}

reco_status reco_mfile_meta_get_strbuf(const reco_mfile_meta *m, const char *key, char *buf,
                                       size_t cap, reco_error *err)
{
    const char *s;
    reco_status rc = reco_mfile_meta_get_str(m, key, cap ? cap - 1 : 0, &s, err);
    if (!rc)
        memcpy(buf, s, strlen(s) + 1);
    return rc;
}
