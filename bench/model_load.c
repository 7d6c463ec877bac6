/* Times reco_model_load (map, validate, checksum every byte) of a model
 * file, and one recommendation from it, with the file in the page cache
 * (warm) and, when the process may write /proc/sys/vm/drop_caches (root),
 * after dropping the page cache before every run (cold: the file is read
 * from the disk). Warm runs also time the private copy that `reco serve`
 * makes after the load, while the model already serves
 * (reco_mfile_make_private). Usage: model_load MODEL [RUNS] [warm|cold|both] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "reco/clock.h"
#include "reco/model.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Drops the page cache (after writing back dirty pages); false when the
 * process may not. */
static int drop_page_cache(void)
{
    sync();
    FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
    if (!f)
        return 0;
    int ok = fputs("3\n", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* RUNS loads; prints the median, min and max, and the first
 * recommendation after the last load. Returns 0, or 1 on an error. */
static int time_loads(const char *path, int runs, int cold)
{
    double t[100], first[100], copy[100];
    for (int r = 0; r < runs; r++) {
        if (cold && !drop_page_cache()) {
            printf("cold: not measured (cannot write /proc/sys/vm/drop_caches; run as root)\n");
            return 0;
        }
        reco_model *m = NULL;
        reco_error err;
        double t0 = reco_clock_s();
        if (reco_model_load(path, &m, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[r] = reco_clock_s() - t0;
        reco_profile p = reco_profile_of_user(m->train, 0);
        reco_scored out[10];
        size_t n;
        double t1 = reco_clock_s();
        reco_model_recommend(m, &p, 10, true, out, &n, NULL, NULL, &err);
        first[r] = reco_clock_s() - t1;
        if (!cold) {
            t1 = reco_clock_s();
            if (reco_mfile_make_private(m->file, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                reco_model_free(m);
                return 1;
            }
            copy[r] = reco_clock_s() - t1;
        }
        if (r == runs - 1 && !cold)
            printf("model: %s, %u users, %u items, file %.0f MB\n", m->ops->name,
                   reco_dataset_n_users(m->train), reco_dataset_n_items(m->train),
                   reco_mfile_size(m->file) / 1e6);
        reco_model_free(m);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    qsort(first, (size_t)runs, sizeof first[0], cmp);
    printf("%s: reco_model_load median %.0f ms (min %.0f, max %.0f) over %d runs; "
           "first recommendation after it median %.1f ms\n",
           cold ? "cold page cache" : "warm page cache", t[runs / 2] * 1e3, t[0] * 1e3,
           t[runs - 1] * 1e3, runs, first[runs / 2] * 1e3);
    if (!cold) {
        qsort(copy, (size_t)runs, sizeof copy[0], cmp);
        printf("then the private copy reco serve makes while serving: median %.0f ms (min %.0f, "
               "max %.0f)\n", copy[runs / 2] * 1e3, copy[0] * 1e3, copy[runs - 1] * 1e3);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: model_load MODEL [RUNS] [warm|cold|both]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 100)
        runs = 5;
    const char *mode = argc > 3 ? argv[3] : "both";
    int rc = 0;
    if (strcmp(mode, "cold") != 0)
        rc |= time_loads(argv[1], runs, 0);
    if (strcmp(mode, "warm") != 0)
        rc |= time_loads(argv[1], runs < 3 ? runs : 3, 1);
    return rc;
}
