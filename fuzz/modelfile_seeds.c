/* Writes the seed corpus of fuzz_modelfile: a small model of every
 * registered algorithm (reco_algo_list, so a new algorithm gets a seed
 * without an edit here), fitted on 16 users and 10 products, each file
 * preceded by the target's flag byte (0: checksums recomputed).
 * Exits non-zero if any algorithm cannot be fitted and saved.
 * Usage: modelfile_seeds DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/model.h"

/* Parameters that keep the files small (factor counts) and the fits quick;
 * "default" passes them on to its sub-models. */
static const struct {
    const char *algo, *params[8];
} small[] = {
    {"svd", {"k=3", NULL}},
    {"mf", {"factors=4", "epochs=3", NULL}},
    {"ials", {"factors=4", "iterations=2", NULL}},
    {"default", {"ials.factors=4", "ials.iterations=2", "mf.factors=4", "mf.epochs=3", NULL}},
};

static reco_status set_small_params(reco_model *m, const char *algo, reco_error *err)
{
    for (size_t s = 0; s < sizeof small / sizeof small[0]; s++) {
        if (strcmp(small[s].algo, algo))
            continue;
        for (int k = 0; small[s].params[k]; k++) {
            char kv[128];
            snprintf(kv, sizeof kv, "%s", small[s].params[k]);
            char *eq = strchr(kv, '=');
            *eq = '\0';
            reco_status rc = reco_model_set_param(m, kv, eq + 1, err);
            if (rc)
                return rc;
        }
    }
    return RECO_OK;
}

/* Copies file `from` to `to` behind the flag byte. */
static int copy_flagged(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *o = fopen(to, "wb");
    int rc = in && o ? 0 : -1;
    if (!rc && fputc(0, o) == EOF)
        rc = -1;
    char buf[65536];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, o) != n)
            rc = -1;
    if (in)
        fclose(in);
    if (o && fclose(o) != 0)
        rc = -1;
    return rc;
}

static int save_seed(const char *dir, const reco_dataset *ds, const char *algo)
{
    reco_model *m = NULL;
    reco_error err;
    err.msg[0] = '\0';
    char tmp[4096], out[4096];
    snprintf(tmp, sizeof tmp, "%s/.seed-%s.model", dir, algo);
    snprintf(out, sizeof out, "%s/seed-%s", dir, algo);
    int rc = -1;
    if (!reco_model_new(algo, &m, &err) && !set_small_params(m, algo, &err) &&
        !reco_model_fit(m, ds, NULL, &err) && !reco_model_save(m, tmp, &err)) {
        rc = copy_flagged(tmp, out);
        if (rc)
            snprintf(err.msg, sizeof err.msg, "cannot write the seed file");
    }
    if (rc)
        fprintf(stderr, "modelfile_seeds: %s: %s\n", algo, err.msg);
    unlink(tmp);
    reco_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: modelfile_seeds DIR\n");
        return 2;
    }
    char text[8192];
    size_t len = 0;
    for (int u = 0; u < 16; u++)
        for (int i = 0; i < 10; i++)
            if ((u + i) % 3 == 0 || (u * i) % 7 == 1)
                len += (size_t)snprintf(text + len, sizeof text - len, "u%d,i%d,%d,%d\n", u, i,
                                        1 + (u * i) % 5, 1000 + u * 10 + i);
    reco_ratings *r = NULL;
    reco_dataset *ds = NULL;
    reco_error err;
    if (reco_ratings_parse(text, len, "seed", NULL, &r, &err) ||
        reco_dataset_build(r, NULL, &ds, &err)) {
        fprintf(stderr, "modelfile_seeds: %s\n", err.msg);
        reco_ratings_free(r);
        return 1;
    }
    int bad = 0, n = 0;
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++, n++)
        bad |= save_seed(argv[1], ds, (*a)->name);
    reco_dataset_free(ds);
    reco_ratings_free(r);
    return bad || n == 0 ? 1 : 0;
}
