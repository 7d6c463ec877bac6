/* JSON conventions of reco (reco/json.h): finite reals or null, predicted
 * ratings rounded, parameter texts as objects of typed values. Numbers are
 * read in the "C" locale, as the library writes them. */
#include "reco/json.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

json_t *reco_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *reco_json_rating(double v)
{
    if (!isfinite(v))
        return json_null();
    double scale = 1;
    for (int k = 0; k < RECO_JSON_RATING_DECIMALS; k++)
        scale *= 10;
    return json_real(round(v * scale) / scale);
}

/* jansson writes a real with "%.*g" (RECO_JSON_DIGITS), then appends ".0"
 * when there is neither a '.' nor an 'e', and drops the '+' and leading
 * zeros of the exponent ("1e+06" becomes "1e6"). */
static size_t real_text_printf(double v, char *buf)
{
    int len = reco_snprintf_c(buf, RECO_JSON_REAL_MAX, "%.*g", RECO_JSON_DIGITS, v);
    if (len < 0 || len >= RECO_JSON_REAL_MAX - 2) {
        memcpy(buf, "null", 5);
        return 4;
    }
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(buf + len + 1 - end));
            len -= (int)(end - start);
        }
    }
    return (size_t)len;
}

/* The same for a value that is a float of magnitude 1e-15 to 1e15 (every
 * score of a list), without printf: its 6 significant digits rounded
 * exactly (half to even, as the C library rounds) from the float's exact
 * value m * 2^e, as the integer quotient of m * 2^e * 10^k by a power of
 * two or of ten, in 128 bits. false when v is outside that range. */
static bool real_text_fast(double v, char *buf, size_t *len)
{
    float f = (float)v;
    double a = fabs(v);
    if ((double)f != v || !(a >= 1e-15 && a <= 1e15))
        return false;
    int e2;
    float fr = frexpf(fabsf(f), &e2); /* |f| = fr * 2^e2, fr in [0.5, 1) */
    uint64_t m = (uint64_t)ldexpf(fr, 24);
    e2 -= 24; /* |f| = m * 2^e2 */
    int E = (int)floor(log10(a));
    static const unsigned __int128 ten = 10;
    unsigned __int128 q = 0;
    for (int tries = 0; tries < 3; tries++) {
        int k = RECO_JSON_DIGITS - 1 - E;
        unsigned __int128 num = m, den = 1;
        if (e2 >= 0)
            num <<= e2;
        else
            den <<= -e2;
        for (int j = 0; j < k; j++)
            num *= ten;
        for (int j = 0; j < -k; j++)
            den *= ten;
        q = num / den;
        unsigned __int128 r = num % den;
        if (q < 100000) { /* E was one too high */
            E--;
            continue;
        }
        if (q >= 1000000) { /* one too low */
            E++;
            continue;
        }
        if (2 * r > den || (2 * r == den && (q & 1)))
            q++;
        if (q == 1000000) { /* rounded up to the next power of ten */
            q = 100000;
            E++;
        }
        break;
    }
    if (q < 100000 || q >= 1000000)
        return false;
    char d[RECO_JSON_DIGITS];
    uint32_t qq = (uint32_t)q;
    for (int j = RECO_JSON_DIGITS - 1; j >= 0; j--) {
        d[j] = (char)('0' + qq % 10);
        qq /= 10;
    }
    int nd = RECO_JSON_DIGITS; /* significant digits left after trailing zeros */
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    char *p = buf;
    if (signbit(v))
        *p++ = '-';
    if (E >= -4 && E < RECO_JSON_DIGITS) { /* %f form */
        if (E >= 0) {
            for (int j = 0; j <= E; j++)
                *p++ = d[j];
            *p++ = '.';
            if (nd > E + 1) {
                for (int j = E + 1; j < nd; j++)
                    *p++ = d[j];
            } else {
                *p++ = '0'; /* jansson's ".0" */
            }
        } else {
            *p++ = '0';
            *p++ = '.';
            for (int j = 0; j < -E - 1; j++)
                *p++ = '0';
            for (int j = 0; j < nd; j++)
                *p++ = d[j];
        }
    } else { /* %e form, exponent without '+' or leading zeros */
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            for (int j = 1; j < nd; j++)
                *p++ = d[j];
        }
        *p++ = 'e';
        int x = E;
        if (x < 0) {
            *p++ = '-';
            x = -x;
        }
        if (x >= 10)
            *p++ = (char)('0' + x / 10);
        *p++ = (char)('0' + x % 10);
    }
    *p = '\0';
    *len = (size_t)(p - buf);
    return true;
}

size_t reco_json_real_text(double v, char *buf)
{
    if (!isfinite(v)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    size_t len;
    if (v != 0 && real_text_fast(v, buf, &len))
        return len;
    return real_text_printf(v, buf);
}

/* Digits with an optional leading minus: an integer literal. */
static bool integer_text(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s || (*s == '0' && s[1]))
        return false;
    return strspn(s, "0123456789") == strlen(s);
}

json_t *reco_json_param_value(const char *text)
{
    if (!strcmp(text, "true"))
        return json_true();
    if (!strcmp(text, "false"))
        return json_false();
    if (integer_text(text) && strlen(text) < 19)
        return json_integer(strtoll(text, NULL, 10));
    /* A number as JSON would write it: no "inf", "nan", hex or spaces. */
    if (*text && strspn(text, "0123456789+-.eE") == strlen(text)) {
        char *end;
        errno = 0;
        double v = reco_strtod_c(text, &end);
        if (!*end && !errno && isfinite(v))
            return json_real(v);
    }
    return json_string(text);
}

json_t *reco_json_params(const char *text)
{
    json_t *o = json_object();
    const char *p = text ? text : "";
    while (o && *p) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (!len)
            break;
        const char *eq = memchr(p, '=', len);
        if (eq && eq > p) {
            char *key = strndup(p, (size_t)(eq - p));
            char *value = strndup(eq + 1, len - (size_t)(eq - p) - 1);
            json_t *v = key && value ? reco_json_param_value(value) : NULL;
            if (!v || json_object_set_new(o, key, v)) {
                json_decref(o);
                o = NULL;
            }
            free(key);
            free(value);
        }
        p += len;
    }
    return o;
}
