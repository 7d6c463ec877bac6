/* Numbers as text in the "C" locale, whatever locale the program runs in
 * (private to the library).
 *
 * strtod, printf's %g and %f and the rest follow LC_NUMERIC: a program that
 * embeds reco and calls setlocale(LC_ALL, "de_DE.UTF-8") would write the
 * ratings log as "u,p,4,5,1700000000" and read "reg=0.05" as 0. Everything
 * the library writes that is read back (the ratings log, parameter texts,
 * split specs, search spaces) and everything it reads goes through here,
 * and so do its messages and reports, so that a decimal point is always a
 * point.
 *
 * Built on glibc's locale objects (strtod_l, uselocale) rather than a
 * formatter and parser of our own: correctly rounded conversions in both
 * directions are hard to get right, and the C library's are. The "C"
 * locale object is created once; glibc returns a static one for "C", so
 * creating it does not allocate and cannot fail (were it ever to, the
 * program's locale would be used). uselocale changes only the calling
 * thread's locale, so other threads of the program are not disturbed. */
#ifndef RECO_NUMFMT_H
#define RECO_NUMFMT_H

#include <stdarg.h>
#include <stddef.h>

/* The value of a hexadecimal digit (either case), or -1: for
 * percent-decoding (URIs, query strings). */
static inline int reco_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* strtod in the "C" locale: same contract (end, errno). */
double reco_strtod_c(const char *s, char **end);

/* snprintf and vsnprintf in the "C" locale: same contract. */
int reco_snprintf_c(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int reco_vsnprintf_c(char *buf, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* For a stretch of formatting (a report with its charts, written through
 * stdio and PLplot): the calling thread runs in the "C" locale from
 * reco_c_locale_begin until reco_c_locale_end(the value it returned). */
void *reco_c_locale_begin(void);
void reco_c_locale_end(void *saved);

#endif
