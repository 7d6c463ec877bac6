/* JSON conventions of reco (reco/json.h): finite reals or null, predicted
 * ratings rounded, parameter texts as objects of typed values. Numbers are
 * read in the "C" locale, as the library writes them. */
#include "reco/json.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
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
