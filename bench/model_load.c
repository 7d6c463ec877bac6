/* Times reco_model_load (map, validate, checksum every byte) of a model
 * file, and one recommendation from it. Usage: model_load MODEL [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "reco/model.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: model_load MODEL [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 100)
        runs = 5;
    double t[100];
    for (int r = 0; r < runs; r++) {
        reco_model *m = NULL;
        reco_error err;
        double t0 = now();
        if (reco_model_load(argv[1], &m, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[r] = now() - t0;
        if (r == runs - 1) {
            reco_profile p = reco_profile_of_user(m->train, 0);
            reco_scored out[10];
            size_t n;
            double t1 = now();
            reco_model_recommend(m, &p, 10, true, out, &n, NULL, NULL, &err);
            printf("first recommendation after load: %.1f ms\n", (now() - t1) * 1e3);
            printf("model: %s, %u users, %u items, file %.0f MB\n", m->ops->name,
                   reco_dataset_n_users(m->train), reco_dataset_n_items(m->train),
                   reco_mfile_size(m->file) / 1e6);
        }
        reco_model_free(m);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    printf("reco_model_load: median %.0f ms, min %.0f ms, max %.0f ms over %d runs\n",
           t[runs / 2] * 1e3, t[0] * 1e3, t[runs - 1] * 1e3, runs);
    return 0;
}
