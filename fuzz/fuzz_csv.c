/* libFuzzer target for the rating-file parser and the dataset build. */
#include <stddef.h>
#include <stdint.h>

#include "reco/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reco_load_options opt;
    reco_load_options_default(&opt);
    opt.threads = 1;
    /* Exercise both bad-line modes; the first byte picks. */
    opt.skip_bad = size > 0 && (data[0] & 1);
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_parse((const char *)data, size, "fuzz", &opt, &r, &err) == RECO_OK) {
        reco_build_options b;
        reco_build_options_default(&b);
        b.min_user_ratings = size > 1 ? data[1] % 4 : 0;
        b.k_core = size > 2 && (data[2] & 1);
        reco_dataset *ds = NULL;
        if (reco_dataset_build(r, &b, &ds, &err) == RECO_OK)
            reco_dataset_free(ds);
        reco_ratings_free(r);
    }
    return 0;
}
