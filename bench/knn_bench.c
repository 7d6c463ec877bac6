/* Benchmark driver for the neighbourhood recommenders (bench/knn_bench.sh
 * builds and runs it). Reports figures; asserts nothing.
 *
 *   knn_bench accuracy ML100K_SPLITS_DIR ALGO [key=value ...]
 *       5-fold RMSE/MAE (u1..u5) and top-10 precision/recall against the
 *       test ratings >= 4.
 *   knn_bench table FILE [key=value ...]
 *       time to build itemcf's neighbour table for every product.
 *   knn_bench recommend FILE ALGO USERS [key=value ...]
 *       fit, then time top-10 recommendations for USERS random users with
 *       at least 5 ratings (fixed seed): median, p99, max.
 *   knn_bench hitrate FILE ALGO USERS [key=value ...]
 *       leave-one-out top-10 hit rate: one random rating of each of USERS
 *       random users with at least 5 ratings is held out, the model is
 *       fitted on the rest, a hit is the held-out product in the user's
 *       top 10. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reco/clock.h"
#include "reco/dataset.h"
#include "reco/knn.h"
#include "reco/model.h"
#include "reco/ratings.h"

static void die(const char *what, const reco_error *e)
{
    fprintf(stderr, "knn_bench: %s: %s\n", what, e->msg);
    exit(1);
}

static void set_params(reco_model *m, int argc, char **argv)
{
    reco_error e;
    for (int a = 0; a < argc; a++)
        if (reco_model_set_param_text(m, argv[a], &e))
            die("parameter", &e);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int accuracy(const char *dir, const char *algo, int argc, char **argv)
{
    double rmse_sum = 0, mae_sum = 0, prec_sum = 0, rec_sum = 0, fit_sum = 0;
    for (int f = 1; f <= 5; f++) {
        char base[1024], test[1024];
        snprintf(base, sizeof base, "%s/u%d.base", dir, f);
        snprintf(test, sizeof test, "%s/u%d.test", dir, f);
        reco_error e;
        reco_dataset *ds;
        reco_ratings *tr;
        if (reco_dataset_load_pair(base, test, NULL, NULL, &ds, &tr, &e))
            die(base, &e);
        reco_model *m;
        if (reco_model_new(algo, &m, &e))
            die("model", &e);
        set_params(m, argc, argv);
        if (reco_model_fit(m, ds, NULL, &e))
            die("fit", &e);
        fit_sum += m->fit_seconds;
        double se = 0, ae = 0;
#pragma omp parallel for reduction(+ : se, ae) schedule(dynamic, 64)
        for (uint64_t k = 0; k < tr->n; k++) {
            double d = reco_model_predict(m, tr->user[k], tr->item[k]) - tr->rating[k];
            se += d * d;
            ae += fabs(d);
        }
        double rmse = sqrt(se / (double)tr->n), mae = ae / (double)tr->n;
        /* Top-10 against each user's test ratings >= 4. */
        uint32_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
        uint32_t *rel_n = calloc(nu, sizeof *rel_n);
        unsigned char *rel = calloc((size_t)nu * ni, 1);
        for (uint64_t k = 0; k < tr->n; k++)
            if (tr->user[k] < nu && tr->item[k] < ni && tr->rating[k] >= 4) {
                rel_n[tr->user[k]]++;
                rel[(size_t)tr->user[k] * ni + tr->item[k]] = 1;
            }
        double prec = 0, rec = 0;
        uint32_t users = 0;
        size_t ss = reco_model_scratch_size(m);
        void *scratch = malloc(ss);
        for (uint32_t u = 0; u < nu; u++) {
            if (!rel_n[u])
                continue;
            reco_profile p = reco_profile_of_user(ds, u);
            reco_scored top[10];
            size_t n;
            if (reco_model_recommend(m, &p, 10, true, top, &n, NULL, scratch, &e))
                die("recommend", &e);
            uint32_t hits = 0;
            for (size_t x = 0; x < n; x++)
                hits += rel[(size_t)u * ni + top[x].id];
            prec += hits / 10.0;
            rec += (double)hits / rel_n[u];
            users++;
        }
        free(scratch);
        free(rel_n);
        free(rel);
        prec /= users;
        rec /= users;
        printf("u%d: RMSE %.4f MAE %.4f P@10 %.4f R@10 %.4f fit %.2fs\n", f, rmse, mae, prec,
               rec, m->fit_seconds);
        rmse_sum += rmse;
        mae_sum += mae;
        prec_sum += prec;
        rec_sum += rec;
        reco_model_free(m);
        reco_ratings_free(tr);
        reco_dataset_free(ds);
    }
    printf("%s mean: RMSE %.4f MAE %.4f P@10 %.4f R@10 %.4f fit %.2fs\n", algo, rmse_sum / 5,
           mae_sum / 5, prec_sum / 5, rec_sum / 5, fit_sum / 5);
    return 0;
}

static reco_dataset *load(const char *path)
{
    reco_error e;
    reco_load_options lo;
    reco_load_options_default(&lo);
    reco_build_options bo;
    reco_build_options_default(&bo);
    reco_dataset *ds;
    double t0 = reco_clock_s();
    if (reco_dataset_load(path, &lo, &bo, &ds, &e))
        die(path, &e);
    printf("loaded %s: %u users, %u products, %llu ratings in %.1f s\n", path,
           reco_dataset_n_users(ds), reco_dataset_n_items(ds),
           (unsigned long long)reco_dataset_nnz(ds), reco_clock_s() - t0);
    return ds;
}

static int table(const char *path, int argc, char **argv)
{
    reco_dataset *ds = load(path);
    reco_model *m;
    reco_error e;
    if (reco_model_new("itemcf", &m, &e))
        die("model", &e);
    set_params(m, argc, argv);
    reco_knn_params *p = m->params;
    reco_knn_table t;
    double t0 = reco_clock_s(), c0 = reco_clock_cpu_s();
    if (reco_knn_table_build(ds, p, p->threads, (reco_progress){0}, &t, &e))
        die("table", &e);
    double secs = reco_clock_s() - t0, cpu = reco_clock_cpu_s() - c0;
    uint32_t empty = 0;
    for (uint32_t i = 0; i < t.n_items; i++)
        empty += reco_knn_table_len(&t, i) == 0;
    printf("itemcf table: %u products, K=%u, %llu neighbours (%.1f per product, %u with "
           "none), %.1f MB, built in %.2f s wall, %.2f s CPU\n",
           t.n_items, t.k, (unsigned long long)t.offsets[t.n_items],
           (double)t.offsets[t.n_items] / t.n_items, empty,
           (t.offsets[t.n_items] * 8.0 + (t.n_items + 1) * 8.0) / 1e6, secs, cpu);
    reco_knn_table_clear(&t);
    reco_model_free(m);
    reco_dataset_free(ds);
    return 0;
}

static int recommend(const char *path, const char *algo, int n_users, int argc, char **argv)
{
    reco_dataset *ds = load(path);
    reco_model *m;
    reco_error e;
    if (reco_model_new(algo, &m, &e))
        die("model", &e);
    set_params(m, argc, argv);
    if (reco_model_fit(m, ds, NULL, &e))
        die("fit", &e);
    printf("%s fitted in %.2f s\n", algo, m->fit_seconds);
    uint32_t nu = reco_dataset_n_users(ds);
    uint32_t *pool = malloc((size_t)nu * sizeof *pool);
    uint32_t np = 0;
    for (uint32_t u = 0; u < nu; u++)
        if (reco_csr_row_len(&ds->by_user, u) >= 5)
            pool[np++] = u;
    if (np == 0) {
        fprintf(stderr, "knn_bench: no user with 5 ratings\n");
        return 1;
    }
    uint64_t seed = 42;
    double *ms = malloc((size_t)n_users * sizeof *ms), *cms = malloc((size_t)n_users * sizeof *cms);
    void *scratch = malloc(reco_model_scratch_size(m));
    double ratings = 0;
    for (int x = 0; x < n_users; x++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = pool[(seed >> 33) % np];
        reco_profile p = reco_profile_of_user(ds, u);
        ratings += p.n;
        reco_scored top[10];
        size_t n;
        double t0 = reco_clock_s(), c0 = reco_clock_thread_cpu_s();
        if (reco_model_recommend(m, &p, 10, true, top, &n, NULL, scratch, &e))
            die("recommend", &e);
        ms[x] = (reco_clock_s() - t0) * 1e3;
        cms[x] = (reco_clock_thread_cpu_s() - c0) * 1e3;
    }
    qsort(ms, (size_t)n_users, sizeof *ms, cmp_double);
    qsort(cms, (size_t)n_users, sizeof *cms, cmp_double);
    size_t p99 = (size_t)ceil(0.99 * n_users) - 1;
    printf("%s top-10 for %d random users with >= 5 ratings (mean %.1f ratings):\n"
           "  wall median %.2f ms, p99 %.2f ms, max %.2f ms\n"
           "  CPU  median %.2f ms, p99 %.2f ms, max %.2f ms\n",
           algo, n_users, ratings / n_users, ms[n_users / 2], ms[p99], ms[n_users - 1],
           cms[n_users / 2], cms[p99], cms[n_users - 1]);
    free(scratch);
    free(ms);
    free(cms);
    free(pool);
    reco_model_free(m);
    reco_dataset_free(ds);
    return 0;
}

static int hitrate(const char *path, const char *algo, int n_users, int argc, char **argv)
{
    reco_dataset *full = load(path);
    reco_error e;
    reco_ratings *r;
    if (reco_dataset_to_ratings(full, &r, &e))
        die("to_ratings", &e);
    const reco_csr *R = &full->by_user;
    uint32_t nu = reco_dataset_n_users(full);
    uint32_t *pool = malloc((size_t)nu * sizeof *pool);
    uint32_t np = 0;
    for (uint32_t u = 0; u < nu; u++)
        if (reco_csr_row_len(R, u) >= 5)
            pool[np++] = u;
    if (np < (uint32_t)n_users) {
        fprintf(stderr, "knn_bench: only %u users with 5 ratings\n", np);
        return 1;
    }
    /* Distinct users (partial Fisher-Yates), one held-out rating each; the
     * ratings come back in CSR order, so position k of R is triplet k. */
    uint64_t seed = 7;
    uint32_t *held_u = malloc((size_t)n_users * sizeof *held_u);
    uint32_t *held_i = malloc((size_t)n_users * sizeof *held_i);
    unsigned char *drop = calloc(r->n, 1);
    for (int x = 0; x < n_users; x++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t y = x + (uint32_t)((seed >> 33) % (np - (uint32_t)x));
        uint32_t u = pool[y];
        pool[y] = pool[x];
        pool[x] = u;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t k = R->ptr[u] + (seed >> 33) % reco_csr_row_len(R, u);
        held_u[x] = u;
        held_i[x] = R->idx[k];
        drop[k] = 1;
    }
    uint64_t w = 0;
    for (uint64_t k = 0; k < r->n; k++) {
        if (drop[k])
            continue;
        r->user[w] = r->user[k];
        r->item[w] = r->item[k];
        r->rating[w] = r->rating[k];
        r->ts[w] = r->ts[k];
        w++;
    }
    r->n = w;
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *train;
    if (reco_dataset_build(r, &bo, &train, &e))
        die("build", &e);
    reco_model *m;
    if (reco_model_new(algo, &m, &e))
        die("model", &e);
    set_params(m, argc, argv);
    if (reco_model_fit(m, train, NULL, &e))
        die("fit", &e);
    void *scratch = malloc(reco_model_scratch_size(m));
    int hits = 0;
    for (int x = 0; x < n_users; x++) {
        reco_profile p = reco_profile_of_user(train, held_u[x]);
        reco_scored top[10];
        size_t n;
        if (reco_model_recommend(m, &p, 10, true, top, &n, NULL, scratch, &e))
            die("recommend", &e);
        for (size_t y = 0; y < n; y++)
            hits += top[y].id == held_i[x];
    }
    char buf[256];
    m->ops->params_format(m->params, buf, sizeof buf);
    printf("%s (%s): leave-one-out HR@10 over %d users with >= 5 ratings: %.4f\n", algo, buf,
           n_users, (double)hits / n_users);
    free(scratch);
    reco_model_free(m);
    reco_dataset_free(train);
    reco_ratings_free(r);
    free(drop);
    free(held_u);
    free(held_i);
    free(pool);
    reco_dataset_free(full);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "accuracy"))
        return accuracy(argv[2], argv[3], argc - 4, argv + 4);
    if (argc >= 3 && !strcmp(argv[1], "table"))
        return table(argv[2], argc - 3, argv + 3);
    if (argc >= 5 && !strcmp(argv[1], "recommend"))
        return recommend(argv[2], argv[3], atoi(argv[4]), argc - 5, argv + 5);
    if (argc >= 5 && !strcmp(argv[1], "hitrate"))
        return hitrate(argv[2], argv[3], atoi(argv[4]), argc - 5, argv + 5);
    fprintf(stderr, "usage: knn_bench accuracy SPLITS_DIR ALGO [k=v...]\n"
                    "       knn_bench table FILE [k=v...]\n"
                    "       knn_bench recommend FILE ALGO USERS [k=v...]\n"
                    "       knn_bench hitrate FILE ALGO USERS [k=v...]\n");
    return 2;
}
