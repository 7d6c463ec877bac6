/* Benchmark driver for serving a model: top-N latency per request for
 * random users and for the heaviest users (the hard case: the most ratings
 * to exclude and, folded in, to solve), with the trained vector and with a
 * fold-in of the user's ratings (what a user who just rated something
 * costs), for any model file; and for ials models the fold-in alone.
 * Built by bench/ials_bench.sh against libreco.a (not by CMake).
 *
 *   topn_bench MODEL [N_USERS]   one pass as loaded (cold if the caller
 *                                dropped the page cache), then a warm pass
 *
 * Prints median, 90th and 99th percentiles in microseconds, one thread
 * (a server runs one request per thread; both cores serve two at once). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reco/clock.h"
#include "reco/ials.h"
#include "reco/model.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *t, size_t n)
{
    qsort(t, n, sizeof *t, cmp_double);
    printf("  %-44s median %8.1f us  p90 %8.1f  p99 %8.1f  (%zu users)\n", what, t[n / 2],
           t[n * 9 / 10], t[n * 99 / 100], n);
}

typedef struct user_count {
    uint32_t u, n;
} user_count;

static int by_count_desc(const void *a, const void *b)
{
    const user_count *x = a, *y = b;
    return (x->n < y->n) - (x->n > y->n);
}

/* Times one recommend per user of us[0..n-1]. */
static void pass(const reco_model *m, const uint32_t *us, size_t n, bool fold, double *t,
                 void *scratch)
{
    reco_scored out[10];
    reco_error err;
    for (size_t j = 0; j < n; j++) {
        reco_profile prof = reco_profile_of_user(m->train, us[j]);
        prof.updated = fold;
        size_t got;
        double t0 = (reco_clock_s() * 1e6);
        if (reco_model_recommend(m, &prof, 10, true, out, &got, NULL, scratch, &err)) {
            fprintf(stderr, "topn_bench: %s\n", err.msg);
            exit(1);
        }
        t[j] = (reco_clock_s() * 1e6) - t0;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: topn_bench MODEL [N_USERS]\n");
        return 2;
    }
    size_t want = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000;
    reco_error err;
    double t0 = (reco_clock_s() * 1e6);
    reco_model *m = NULL;
    if (reco_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "topn_bench: %s\n", err.msg);
        return 1;
    }
    printf("%s: %s, loaded in %.1f ms\n", argv[1], m->ops->name, ((reco_clock_s() * 1e6) - t0) / 1e3);
    const reco_csr *R = &m->train->by_user;
    user_count *uc = malloc((size_t)R->n_rows * sizeof *uc);
    size_t nu = 0;
    for (uint32_t u = 0; u < R->n_rows; u++)
        if (R->ptr[u + 1] > R->ptr[u])
            uc[nu++] = (user_count){u, (uint32_t)(R->ptr[u + 1] - R->ptr[u])};
    if (want > nu)
        want = nu;
    uint32_t *rnd = malloc(want * sizeof *rnd), *heavy = malloc(want * sizeof *heavy);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t j = 0; j < want; j++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rnd[j] = uc[x % nu].u;
    }
    qsort(uc, nu, sizeof *uc, by_count_desc);
    for (size_t j = 0; j < want; j++)
        heavy[j] = uc[j].u;
    printf("  heaviest users: %u to %u ratings; random users: median %u\n", uc[want - 1].n,
           uc[0].n, uc[nu / 2].n);
    void *scratch = malloc(reco_model_scratch_size(m));
    double *t = malloc(want * sizeof *t);
    const char *names[2] = {"as loaded", "warm"};
    for (int round = 0; round < 2; round++) {
        printf(" %s:\n", names[round]);
        pass(m, rnd, want, false, t, scratch);
        report("top 10, random users", t, want);
        pass(m, heavy, want, false, t, scratch);
        report("top 10, heaviest users", t, want);
        pass(m, rnd, want, true, t, scratch);
        report("top 10 with fold-in, random users", t, want);
        pass(m, heavy, want, true, t, scratch);
        report("top 10 with fold-in, heaviest users", t, want);
    }
    const reco_ials_state *is = reco_ials_state_of(m);
    if (is) {
        void *fs = malloc(reco_ials_fold_in_scratch_size(is));
        float *xv = malloc(is->ld * sizeof *xv);
        for (int h = 0; h < 2; h++) {
            const uint32_t *us = h ? heavy : rnd;
            for (size_t j = 0; j < want; j++) {
                reco_profile prof = reco_profile_of_user(m->train, us[j]);
                double a = (reco_clock_s() * 1e6);
                reco_ials_fold_in(is, prof.items, prof.ratings, prof.n, xv, fs, &err);
                t[j] = (reco_clock_s() * 1e6) - a;
            }
            report(h ? "ials fold-in alone, heaviest users" : "ials fold-in alone, random users",
                   t, want);
        }
        free(fs);
        free(xv);
    }
    free(t);
    free(scratch);
    free(rnd);
    free(heavy);
    free(uc);
    reco_model_free(m);
    return 0;
}
