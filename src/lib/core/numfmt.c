/* Numbers as text in the "C" locale (see numfmt.h): one locale object,
 * made once, used through strtod_l and per-thread uselocale; and counts
 * with thousands separators (reco/thousands.h), the one copy of that
 * formatter for the library and the command. */
#include "numfmt.h"

#include "reco/thousands.h"

#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
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

char *reco_thousands(uint64_t n, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t j = 0;
    for (int i = 0; i < len; i++) {
        bool comma = i > 0 && (len - i) % 3 == 0;
        if (j + 1 + comma >= cap)
            break;
        if (comma)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
    return buf;
}
