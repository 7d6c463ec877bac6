/* reco: counts written for people, with thousands separators ("50,698"),
 * as the library's messages and the command's tables print them.
 *
 * The separator is always a comma, whatever the locale (the library's
 * numbers are written in the "C" locale; see src/lib/core/numfmt.h), and
 * the result is always NUL-terminated. Thread-safe, no allocation. */
#ifndef RECO_THOUSANDS_H
#define RECO_THOUSANDS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes that hold any uint64_t so written: 20 digits, 6 commas, a NUL. */
#define RECO_THOUSANDS_MAX 27

/* n with a comma every three digits into buf (cap bytes; cut short if
 * smaller than RECO_THOUSANDS_MAX and the number needs more); returns buf. */
char *reco_thousands(uint64_t n, char *buf, size_t cap);

/* The same in a buffer of its own (a compound literal, which lives until
 * the end of the enclosing block), for use inside an argument list:
 *   reco_error_set(err, ..., "only %s ratings", RECO_THOUSANDS(n)); */
#define RECO_THOUSANDS(n) \
    reco_thousands((uint64_t)(n), (char[RECO_THOUSANDS_MAX]){0}, RECO_THOUSANDS_MAX)

#ifdef __cplusplus
}
#endif
#endif
