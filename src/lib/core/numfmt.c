/* Numbers as text in the "C" locale (see numfmt.h): one locale object,
 * made once, used through strtod_l and per-thread uselocale. */
#include "numfmt.h"

#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale;
}

double reco_strtod_c(const char *s, char **end)
{
    locale_t c = get_c_locale();
    return c ? strtod_l(s, end, c) : strtod(s, end);
}

void *reco_c_locale_begin(void)
{
    locale_t c = get_c_locale();
    return c ? (void *)uselocale(c) : NULL;
}

void reco_c_locale_end(void *saved)
{
    if (saved)
        uselocale((locale_t)saved);
}

int reco_vsnprintf_c(char *buf, size_t cap, const char *fmt, va_list ap)
{
    void *saved = reco_c_locale_begin();
    int n = vsnprintf(buf, cap, fmt, ap);
    reco_c_locale_end(saved);
    return n;
}

int reco_snprintf_c(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = reco_vsnprintf_c(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}
