/* libFuzzer target for the body of POST /v1/ratings
 * (reco_http_parse_ratings): whatever the bytes, either ratings that the
 * service would accept as to form (IDs of 1..255 bytes of UTF-8 without
 * control characters, a finite rating within the range, a timestamp >= 0)
 * or a 400/413/503 status with a message; never a crash or a leak.
 * Seeds: fuzz/corpus/json. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "reco/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL;
    reco_new_rating *r = NULL;
    size_t n = 0;
    char msg[768];
    msg[0] = '\0';
    unsigned st = reco_http_parse_ratings((const char *)data, size, 0.5, 5.0, 100, &doc, &r, &n,
                                          msg, sizeof msg);
    if (st != 0) {
        if ((st != 400 && st != 413 && st != 503) || !msg[0] || doc || r || n)
            abort();
        return 0;
    }
    if (!doc || !r || n == 0 || n > 100)
        abort();
    for (size_t k = 0; k < n; k++) {
        if (!reco_service_valid_id(r[k].user, r[k].user_len) ||
            !reco_service_valid_id(r[k].item, r[k].item_len))
            abort();
        if (!isfinite(r[k].rating) || r[k].rating < 0.5 || r[k].rating > 5.0 || r[k].timestamp < 0)
            abort();
    }
    free(r);
    json_decref(doc);
    return 0;
}
