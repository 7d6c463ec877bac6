/* Trains a recommender on a rating file, saves it, loads it back and prints
 * a user's top 5 products: the whole life of a model through the installed
 * library (docs/library.md walks through it).
 *
 *   cc train_and_recommend.c $(pkg-config --cflags --libs reco) -o train_and_recommend
 *   ./train_and_recommend data/sample.csv shop.model [USER]
 *
 * The rating file is userId,productId,rating[,timestamp] lines (Amazon's
 * format). Without USER, the first user of the file is used. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <reco/reco.h>

static int fail(const char *what, const reco_error *err)
{
    fprintf(stderr, "train_and_recommend: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: train_and_recommend RATINGS MODEL [USER]\n");
        return 2;
    }
    const char *ratings_path = argv[1], *model_path = argv[2];
    reco_error err = {0};
    printf("reco %s (compiled against %s)\n", reco_version(), RECO_VERSION_STRING);

    /* 1. Ratings: parsed on all cores, then deduplicated into the sparse
     *    rating matrix with its user and product ID maps. */
    reco_load_options lopt;
    reco_build_options bopt;
    reco_load_options_default(&lopt);
    reco_build_options_default(&bopt);
    reco_dataset *ds = NULL;
    if (reco_dataset_load(ratings_path, &lopt, &bopt, &ds, &err) != RECO_OK)
        return fail("load", &err);
    printf("%" PRIu32 " users, %" PRIu32 " products, %" PRIu64 " ratings\n",
           reco_dataset_n_users(ds), reco_dataset_n_items(ds), reco_dataset_nnz(ds));

    /* 2. A model: implicit-feedback ALS with a few parameters changed from
     *    their defaults (the same KEY=VALUE words as `reco train --param`). */
    reco_model *m = NULL;
    if (reco_model_new("ials", &m, &err) != RECO_OK)
        return fail("model", &err);
    if (reco_model_set_param_text(m, "factors=16", &err) != RECO_OK ||
        reco_model_set_param_text(m, "iterations=5", &err) != RECO_OK)
        return fail("parameters", &err);
    reco_fit_ctx ctx = {.threads = 0}; /* 0: every core */
    if (reco_model_fit(m, ds, &ctx, &err) != RECO_OK)
        return fail("fit", &err);

    /* 3. Saved, and the training objects freed: the file holds everything
     *    the model answers from, the dataset and ID maps included. */
    if (reco_model_save(m, model_path, &err) != RECO_OK)
        return fail("save", &err);
    reco_model_free(m);
    reco_dataset_free(ds);

    /* 4. Loaded back by mapping the file (no parsing, no copying). */
    reco_model *loaded = NULL;
    if (reco_model_load(model_path, &loaded, &err) != RECO_OK)
        return fail("load model", &err);
    const reco_dataset *train = loaded->train;

    /* 5. A user's top 5, leaving out what they have rated. */
    uint32_t u = 0;
    if (argc == 4) {
        int64_t found = reco_idmap_find(train->users, argv[3], strlen(argv[3]));
        if (found < 0) {
            fprintf(stderr, "train_and_recommend: no user '%s' in the model\n", argv[3]);
            reco_model_free(loaded);
            return 1;
        }
        u = (uint32_t)found;
    }
    reco_profile prof = reco_profile_of_user(train, u);
    reco_scored top[5];
    size_t n = 0;
    bool cold = false;
    if (reco_model_recommend(loaded, &prof, 5, true, top, &n, &cold, NULL, &err) != RECO_OK) {
        reco_model_free(loaded);
        return fail("recommend", &err);
    }
    printf("top %zu for user %s (%" PRIu32 " ratings):\n", n,
           reco_idmap_key(train->users, u, NULL), prof.n);
    for (size_t i = 0; i < n; i++)
        printf("%zu. %s %.4f\n", i + 1, reco_idmap_key(train->items, top[i].id, NULL),
               (double)top[i].score);
    reco_model_free(loaded);
    return 0;
}
