/* reco: JSON as every part of reco writes it (the commands' --json, the
 * report's stats.json, the REST API), by the conventions of docs/json.md.
 *
 * Numbers: a real is written with at most RECO_JSON_DIGITS significant
 * digits (what a model computing in single precision carries, and more
 * than the noise of any metric allows), never with the 17 digits a double
 * can hold; every dump passes RECO_JSON_FLAGS. Predicted ratings are also
 * rounded to RECO_JSON_RATING_DECIMALS decimals. Non-finite values are
 * null. Parameters are objects of typed values, not "k=v" text. */
#ifndef RECO_JSON_H
#define RECO_JSON_H

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_JSON_DIGITS 6
#define RECO_JSON_RATING_DECIMALS 4

/* The flags of every json_dump* of reco (add JSON_INDENT(2) or
 * JSON_COMPACT). */
#define RECO_JSON_FLAGS (JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(RECO_JSON_DIGITS))

/* A real, or null when v is NaN or infinite. */
json_t *reco_json_real(double v);

/* A rating-scale value (a predicted rating) rounded to
 * RECO_JSON_RATING_DECIMALS decimals; null when not finite. */
json_t *reco_json_rating(double v);

/* The text json_dumps writes for json_real(v) under RECO_JSON_FLAGS
 * ("4.0", "0.0459124", "1e6", "-2.5e-7"), or "null" when v is not finite,
 * into buf (at least RECO_JSON_REAL_MAX bytes, NUL-terminated); returns
 * its length. For writers of JSON text by hand (the batch export), whose
 * numbers must read exactly as the rest of reco's. */
#define RECO_JSON_REAL_MAX 32
size_t reco_json_real_text(double v, char *buf);

/* A parameter's value as text ("64", "0.05", "true", "ials,ease") as a
 * typed JSON value: an integer, a real, a boolean, or else the string. */
json_t *reco_json_param_value(const char *text);

/* Parameters written as "k=v k=v" (an algorithm's params_format, or
 * several such texts) as an object {"k": typed value, ...} in their order;
 * a later repeat of a key wins. NULL only when out of memory. */
json_t *reco_json_params(const char *text);

#ifdef __cplusplus
}
#endif
#endif
