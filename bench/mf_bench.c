/* Benchmark driver for the "mf" algorithm, built by bench/mf_bench.sh
 * against libreco.a (not by CMake).
 *
 *   mf_bench folds DIR [key=value ...]  5-fold RMSE on DIR/u1..u5.{base,test}
 *   mf_bench grid DIR [LRS REGS STDS [key=value ...]]
 *                                       mean RMSE over a grid of comma-separated
 *                                       lr, reg (= reg_bias), init_std values
 *   mf_bench time FILE [key=value ...]  load FILE, fit, report seconds
 *   mf_bench params                     the default parameters
 *   mf_bench gen FILE                   write the "electronics" synthetic
 *                                       file (when `reco gen` is missing)
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reco/clock.h"
#include "reco/dataset.h"
#include "reco/gen.h"
#include "reco/mf.h"
#include "reco/model.h"

static void die(const reco_error *e)
{
    fprintf(stderr, "mf_bench: %s\n", e->msg);
    exit(1);
}

static void set_params(reco_model *m, int argc, char **argv)
{
    reco_error e;
    for (int a = 0; a < argc; a++)
        if (reco_model_set_param_text(m, argv[a], &e))
            die(&e);
}

typedef struct fold {
    reco_dataset *train;
    reco_ratings *test;
} fold;

static void load_folds(const char *dir, fold f[5])
{
    reco_error e;
    for (int k = 0; k < 5; k++) {
        char path[4096];
        char test[4096];
        snprintf(path, sizeof path, "%s/u%d.base", dir, k + 1);
        snprintf(test, sizeof test, "%s/u%d.test", dir, k + 1);
        if (reco_dataset_load_pair(path, test, NULL, NULL, &f[k].train, &f[k].test, &e))
            die(&e);
    }
}

/* Mean test RMSE over the 5 folds; *secs receives the total fit time. */
static double folds_rmse(fold f[5], int argc, char **argv, double rmse[5], double *secs)
{
    reco_error e;
    double mean = 0;
    *secs = 0;
    for (int k = 0; k < 5; k++) {
        reco_model *m;
        if (reco_model_new("mf", &m, &e))
            die(&e);
        set_params(m, argc, argv);
        if (reco_model_fit(m, f[k].train, NULL, &e))
            die(&e);
        *secs += m->fit_seconds;
        double se = 0;
        const reco_ratings *t = f[k].test;
        for (uint64_t j = 0; j < t->n; j++) {
            double d = reco_model_predict(m, t->user[j], t->item[j]) - t->rating[j];
            se += d * d;
        }
        rmse[k] = sqrt(se / (double)t->n);
        mean += rmse[k] / 5;
        reco_model_free(m);
    }
    return mean;
}

static int cmd_folds(const char *dir, int argc, char **argv)
{
    fold f[5];
    load_folds(dir, f);
    double r[5], secs;
    double mean = folds_rmse(f, argc, argv, r, &secs);
    printf("folds RMSE: %.4f %.4f %.4f %.4f %.4f  mean %.4f  (fit %.2f s for 5 folds)\n", r[0],
           r[1], r[2], r[3], r[4], mean, secs);
    for (int k = 0; k < 5; k++) {
        reco_dataset_free(f[k].train);
        reco_ratings_free(f[k].test);
    }
    return 0;
}

/* Splits a comma-separated list in place; returns the count. */
static int split_list(char *s, char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

/* Mean RMSE for every (lr, reg, init_std) in the lists, reg_bias = reg;
 * extra key=value arguments apply to every run. */
static int cmd_grid(const char *dir, int argc, char **argv)
{
    char dl[] = "0.005,0.007,0.01,0.015,0.02", dr[] = "0.02,0.05,0.08,0.1,0.15",
         ds[] = "0.01,0.05,0.1";
    char *lrs[16], *regs[16], *stds[16];
    int nl = split_list(argc > 0 ? argv[0] : dl, lrs, 16);
    int nr = split_list(argc > 1 ? argv[1] : dr, regs, 16);
    int ns = split_list(argc > 2 ? argv[2] : ds, stds, 16);
    int nextra = argc > 3 ? argc - 3 : 0;
    fold f[5];
    load_folds(dir, f);
    printf("%-6s %-6s %-8s %-8s %s\n", "lr", "reg", "init_std", "RMSE", "(mean of u1-u5)");
    double best = INFINITY;
    char best_s[128] = "";
    for (int a = 0; a < nl; a++)
        for (int b = 0; b < nr; b++)
            for (int c = 0; c < ns; c++) {
                char kv[4][64];
                char *args[4 + 32] = {kv[0], kv[1], kv[2], kv[3]};
                snprintf(kv[0], 64, "lr=%s", lrs[a]);
                snprintf(kv[1], 64, "reg=%s", regs[b]);
                snprintf(kv[2], 64, "reg_bias=%s", regs[b]);
                snprintf(kv[3], 64, "init_std=%s", stds[c]);
                for (int x = 0; x < nextra && x < 32; x++)
                    args[4 + x] = argv[3 + x];
                double r[5], secs;
                double mean = folds_rmse(f, 4 + (nextra < 32 ? nextra : 32), args, r, &secs);
                printf("%-6s %-6s %-8s %.4f\n", lrs[a], regs[b], stds[c], mean);
                fflush(stdout);
                if (mean < best) {
                    best = mean;
                    snprintf(best_s, sizeof best_s, "lr=%s reg=%s init_std=%s", lrs[a], regs[b],
                             stds[c]);
                }
            }
    printf("best: %s  RMSE %.4f\n", best_s, best);
    for (int k = 0; k < 5; k++) {
        reco_dataset_free(f[k].train);
        reco_ratings_free(f[k].test);
    }
    return 0;
}

/* Wall and CPU seconds since the fit started (the CPU time shows the work
 * done when other processes share the cores). */
static void progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    const double *t0 = ctx;
    fprintf(stderr, "  %-5s %3llu/%llu  wall %6.2f s  cpu %6.2f s\n", stage,
            (unsigned long long)done, (unsigned long long)total, reco_clock_s() - t0[0],
            reco_clock_cpu_s() - t0[1]);
}

static int cmd_time(const char *file, int argc, char **argv)
{
    reco_error e;
    reco_load_options lo;
    reco_build_options bo;
    reco_load_options_default(&lo);
    reco_build_options_default(&bo);
    double t0 = reco_clock_s();
    reco_dataset *ds;
    if (reco_dataset_load(file, &lo, &bo, &ds, &e))
        die(&e);
    double t1 = reco_clock_s();
    printf("loaded %s: %llu ratings, %u users, %u items in %.2f s\n", file,
           (unsigned long long)reco_dataset_nnz(ds), reco_dataset_n_users(ds),
           reco_dataset_n_items(ds), t1 - t0);
    reco_model *m;
    if (reco_model_new("mf", &m, &e))
        die(&e);
    set_params(m, argc, argv);
    char pbuf[512];
    m->ops->params_format(m->params, pbuf, sizeof pbuf);
    double tfit[2] = {reco_clock_s(), reco_clock_cpu_s()};
    reco_fit_ctx ctx = {0};
    ctx.progress.fn = progress;
    ctx.progress.ctx = tfit;
    if (reco_model_fit(m, ds, &ctx, &e))
        die(&e);
    const reco_mf_state *st = reco_mf_state_of(m);
    printf("mf %s\n", pbuf);
    printf("fit (baseline + popularity + mf): %.2f s wall, %.2f s cpu, training RMSE %.4f\n",
           m->fit_seconds, reco_clock_cpu_s() - tfit[1], st->train_rmse);
    /* One recommendation and one similar-items query, for scale. */
    size_t scr = reco_model_scratch_size(m);
    void *scratch = malloc(scr);
    reco_scored top[10];
    size_t n_out;
    reco_profile prof = reco_profile_of_user(ds, 0);
    double t2 = reco_clock_s();
    int reps = 20;
    for (int r = 0; r < reps; r++)
        if (reco_model_recommend(m, &prof, 10, true, top, &n_out, NULL, scratch, &e))
            die(&e);
    double t3 = reco_clock_s();
    prof.updated = true;
    for (int r = 0; r < reps; r++)
        if (reco_model_recommend(m, &prof, 10, true, top, &n_out, NULL, scratch, &e))
            die(&e);
    double t4 = reco_clock_s();
    if (reco_model_similar(m, top[0].id, 10, top, &n_out, &e))
        die(&e);
    double t5 = reco_clock_s();
    printf("recommend (known user): %.2f ms, with fold-in: %.2f ms, similar: %.2f ms\n",
           (t3 - t2) / reps * 1e3, (t4 - t3) / reps * 1e3, (t5 - t4) * 1e3);
    /* The scoring product written out (mf's score) against OpenBLAS's, on
     * all threads and on one; the fastest of `reps` runs each. */
    float *scores = malloc(((size_t)st->n_items + 1) * sizeof *scores);
    prof.updated = false;
    double best[3] = {INFINITY, INFINITY, INFINITY};
    int blas_threads = openblas_get_num_threads();
    for (int r = 0; r < reps; r++) {
        double s0 = reco_clock_s();
        m->ops->score(st, ds, &m->baseline, &prof, scores, (char *)scratch + 64, &e);
        double s1 = reco_clock_s();
        best[0] = fmin(best[0], s1 - s0);
        for (int v = 1; v <= 2; v++) {
            openblas_set_num_threads(v == 1 ? blas_threads : 1);
            s0 = reco_clock_s();
            float base = st->mu + st->bu[0];
            for (uint32_t i = 0; i < st->n_items; i++)
                scores[i] = base + st->bi[i];
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)st->n_items, (int)st->k, 1.0f, st->Q,
                        (int)st->ld, st->P, 1, 1.0f, scores, 1);
            best[v] = fmin(best[v], reco_clock_s() - s0);
        }
    }
    openblas_set_num_threads(blas_threads);
    printf("scores of every product: mf score %.2f ms; cblas_sgemv (%s kernel) %.2f ms on %d "
           "threads, %.2f ms on 1\n",
           best[0] * 1e3, openblas_get_corename(), best[1] * 1e3, blas_threads, best[2] * 1e3);
    free(scores);
    free(scratch);
    reco_model_free(m);
    reco_dataset_free(ds);
    return 0;
}

static int cmd_gen(const char *file)
{
    reco_error e;
    reco_gen_params p;
    reco_gen_params_default(&p);
    if (reco_gen_params_preset(&p, "electronics", &e))
        die(&e);
    FILE *f = fopen(file, "w");
    if (!f) {
        perror(file);
        return 1;
    }
    reco_progress none = {0};
    if (reco_gen_write(&p, f, none, &e))
        die(&e);
    if (fclose(f)) {
        perror(file);
        return 1;
    }
    return 0;
}

static int cmd_params(void)
{
    reco_model *m;
    reco_error e;
    if (reco_model_new("mf", &m, &e))
        die(&e);
    char buf[512];
    m->ops->params_format(m->params, buf, sizeof buf);
    printf("%s\n", buf);
    reco_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "params"))
        return cmd_params();
    if (argc >= 3 && !strcmp(argv[1], "folds"))
        return cmd_folds(argv[2], argc - 3, argv + 3);
    if (argc >= 3 && !strcmp(argv[1], "grid"))
        return cmd_grid(argv[2], argc - 3, argv + 3);
    if (argc >= 3 && !strcmp(argv[1], "time"))
        return cmd_time(argv[2], argc - 3, argv + 3);
    if (argc == 3 && !strcmp(argv[1], "gen"))
        return cmd_gen(argv[2]);
    fprintf(stderr, "usage: mf_bench params | folds DIR [k=v ...] |\n"
                    "       grid DIR [LRS REGS STDS [k=v ...]] | time FILE [k=v ...] | gen FILE\n");
    return 2;
}
