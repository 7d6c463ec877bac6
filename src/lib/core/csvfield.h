/* RFC 4180 field splitting of one line, the one copy shared by the rating
 * files (ratings.c) and the catalogue (catalogue.c).
 *
 * A field is either unquoted (every byte up to the next separator) or
 * quoted: "..." with "" inside for one quote, followed by a separator or
 * the end of the line. A quoted field may not span lines. Fields point
 * into the line; a quoted field with "" inside is marked `escaped` and
 * reco_csv_unescape gives its bytes. Private to the library. */
#ifndef RECO_CSVFIELD_H
#define RECO_CSVFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct reco_csv_field {
    const char *p;
    size_t len;
    bool escaped; /* quoted with "" inside: needs unescaping */
} reco_csv_field;

typedef struct reco_csv_sep {
    char s[8];
    size_t len;
} reco_csv_sep;

/* Splits [p, end) into at most max fields. Returns the field count (max
 * means "max or more"), or -1 with *why set on a quoting error. */
static inline int reco_csv_split(const char *p, const char *end, const reco_csv_sep *sep,
                                 reco_csv_field *f, int max, const char **why)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return n;
        reco_csv_field *cur = &f[n++];
        cur->escaped = false;
        if (p < end && *p == '"') {
            const char *q = p + 1;
            for (;;) {
                const char *c = memchr(q, '"', (size_t)(end - q));
                if (!c) {
                    *why = "unterminated quoted field (a field may not span lines)";
                    return -1;
                }
                if (c + 1 < end && c[1] == '"') {
                    cur->escaped = true;
                    q = c + 2;
                    continue;
                }
                cur->p = p + 1;
                cur->len = (size_t)(c - p - 1);
                p = c + 1;
                break;
            }
            if (p == end)
                return n;
            if ((size_t)(end - p) >= sep->len && memcmp(p, sep->s, sep->len) == 0) {
                p += sep->len;
                continue;
            }
            *why = "unexpected character after a closing quote";
            return -1;
        }
        const char *q = p;
        for (;;) {
            const char *c = memchr(q, sep->s[0], (size_t)(end - q));
            if (!c) {
                cur->p = p;
                cur->len = (size_t)(end - p);
                return n;
            }
            if (sep->len == 1 ||
                ((size_t)(end - c) >= sep->len && memcmp(c, sep->s, sep->len) == 0)) {
                cur->p = p;
                cur->len = (size_t)(c - p);
                p = c + sep->len;
                break;
            }
            q = c + 1;
        }
    }
}

/* Copies the bytes of an escaped field (len bytes at p, "" for each
 * quote) to dst, which has room for len bytes; returns the length
 * written. */
static inline size_t reco_csv_unescape(char *dst, const char *p, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        dst[j++] = p[i];
        if (p[i] == '"')
            i++; /* skip the second quote of "" */
    }
    return j;
}

#endif
