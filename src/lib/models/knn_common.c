/* Shared pieces of usercf and itemcf: parameters, the similarity kernel and
 * the product neighbour table. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/knn.h"
#include "reco/topn.h"

#include "numfmt.h"

/* usercf: k = 40, shrinkage 100, centred, as Surprise's KNNBaseline with
 * pearson_baseline similarity. A `reco tune --metric rmse` search on
 * MovieLens 100K u1.base (bench/defaults.sh) found nothing better on
 * held-out u1.test (0.9328 against 0.9327), so they stay. */
void reco_usercf_params_default(reco_knn_params *p)
{
    memset(p, 0, sizeof *p);
    p->k = 40;
    p->centered = true;
    p->shrinkage = 100;
    p->min_support = 1;
    p->candidates = 50000;
    p->threads = 0;
}

/* itemcf: chosen with `reco tune --metric rmse` (60 random trials,
 * validation a random 20% of MovieLens 100K u1.base, k capped at 100 to
 * keep the neighbour table small): k = 76, shrinkage 439; held-out RMSE on
 * u1.test 0.9416 against 0.9521 with the previous k = 50, shrinkage 100. */
void reco_itemcf_params_default(reco_knn_params *p)
{
    reco_usercf_params_default(p);
    p->k = 76;
    p->shrinkage = 439;
}

reco_status reco_knn_params_check(const reco_knn_params *p, const char *algo, reco_error *err)
{
    if (p->k < 1 || p->k > RECO_KNN_K_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "%s.k must be from 1 to %d, got %d", algo,
                              RECO_KNN_K_MAX, p->k);
    if (!(p->shrinkage >= 0 && p->shrinkage <= 1e9))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.shrinkage must be from 0 to 1e9, got %g", algo, p->shrinkage);
    if (p->min_support < 1)
        return reco_error_set(err, RECO_ERR_INVALID, "%s.min_support must be at least 1, got %d",
                              algo, p->min_support);
    if (p->candidates < 1 || p->candidates > (1 << 26))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.candidates must be from 1 to %d, got %d", algo, 1 << 26,
                              p->candidates);
    if (p->threads < 0 || p->threads > 4096)
        return reco_error_set(err, RECO_ERR_INVALID, "%s.threads must be from 0 to 4096, got %d",
                              algo, p->threads);
    return RECO_OK;
}

float reco_knn_sim_finish(double dot, double saa, double sbb, uint32_t n,
                          const reco_knn_params *p)
{
    if (n == 0 || n < (uint32_t)p->min_support || !(saa > 0) || !(sbb > 0))
        return 0.0f;
    double s = dot / sqrt(saa * sbb);
    /* Rounding can push a perfect match a hair past 1. */
    s = s > 1 ? 1 : s < -1 ? -1 : s;
    return (float)(s * (double)n / ((double)n + p->shrinkage));
}

float reco_knn_similarity(const uint32_t *ia, const float *va, uint32_t na, float ca,
                          const uint32_t *ib, const float *vb, uint32_t nb, float cb,
                          const reco_knn_params *p, uint32_t *n_common)
{
    double dot = 0, saa = 0, sbb = 0;
    uint32_t n = 0, x = 0, y = 0;
    while (x < na && y < nb) {
        if (ia[x] < ib[y]) {
            x++;
        } else if (ia[x] > ib[y]) {
            y++;
        } else {
            double a = (double)va[x] - ca, b = (double)vb[y] - cb;
            dot += a * b;
            saa += a * a;
            sbb += b * b;
            n++;
            x++;
            y++;
        }
    }
    if (n_common)
        *n_common = n;
    return reco_knn_sim_finish(dot, saa, sbb, n, p);
}

static int team_size(int threads)
{
    return threads > 0 ? threads : omp_get_max_threads();
}

void reco_knn_user_means(const reco_dataset *train, int threads, float *mean)
{
    const reco_csr *R = &train->by_user;
#pragma omp parallel for schedule(static) num_threads(team_size(threads))
    for (uint32_t u = 0; u < R->n_rows; u++) {
        double s = 0;
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
            s += R->val[k];
        uint64_t n = R->ptr[u + 1] - R->ptr[u];
        mean[u] = n ? (float)(s / (double)n) : 0.0f;
    }
}

void reco_knn_table_clear(reco_knn_table *t)
{
    if (!t)
        return;
    free(t->offsets);
    free(t->nbr);
    free(t->sim);
    memset(t, 0, sizeof *t);
}

/* One product's running sums {dot, saa, sbb, n} against product j as one
 * 16-byte vector (GCC/Clang vector extension): an update is one load, one
 * add and one store. Float keeps the dense per-thread accumulator at 16
 * bytes a product, so more of it stays in cache; n is exact in float up to
 * 2^24 common raters. */
typedef float pair_acc __attribute__((vector_size(16)));

reco_status reco_knn_table_build(const reco_dataset *train, const reco_knn_params *p,
                                 int threads, reco_progress progress, reco_knn_table *out,
                                 reco_error *err)
{
    memset(out, 0, sizeof *out);
    reco_status rc = reco_knn_params_check(p, "itemcf", err);
    if (rc)
        return rc;
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    const uint32_t ni = C->n_rows, nu = R->n_rows, K = (uint32_t)p->k;
    const int nt = team_size(threads);
    float *mean = NULL, *cu = NULL, *ci = NULL;
    uint32_t *cnt = NULL;
    const float *vu = R->val, *vi = C->val;
    if (p->centered) {
        /* Adjusted cosine: every rating minus its user's mean, in both
         * orders, so the inner loops read one sequential array. */
        mean = malloc(((size_t)nu + 1) * sizeof *mean);
        cu = malloc((R->nnz + 1) * sizeof *cu);
        ci = malloc((C->nnz + 1) * sizeof *ci);
        if (!mean || !cu || !ci)
            goto nomem;
        reco_knn_user_means(train, nt, mean);
#pragma omp parallel for schedule(dynamic, 4096) num_threads(nt)
        for (uint32_t u = 0; u < nu; u++)
            for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
                cu[k] = R->val[k] - mean[u];
#pragma omp parallel for schedule(dynamic, 1024) num_threads(nt)
        for (uint32_t i = 0; i < ni; i++)
            for (uint64_t k = C->ptr[i]; k < C->ptr[i + 1]; k++)
                ci[k] = C->val[k] - mean[C->idx[k]];
        vu = cu;
        vi = ci;
    }
    out->n_items = ni;
    out->k = K;
    out->offsets = malloc(((size_t)ni + 1) * sizeof *out->offsets);
    cnt = calloc((size_t)ni + 1, sizeof *cnt);
    /* Each product's list first goes to its own K-slot, then the table is
     * compacted in place (offsets[i] <= i * K, so moves only go left). */
    out->nbr = malloc(((size_t)ni * K + 1) * sizeof *out->nbr);
    out->sim = malloc(((size_t)ni * K + 1) * sizeof *out->sim);
    if (!out->offsets || !cnt || !out->nbr || !out->sim)
        goto nomem;

    int failed = 0;
    uint64_t done = 0;
#pragma omp parallel num_threads(nt)
    {
        pair_acc *acc = calloc((size_t)ni + 1, sizeof *acc);
        uint32_t *touched = malloc(((size_t)ni + 1) * sizeof *touched);
        reco_scored *heap = malloc(((size_t)K + 1) * sizeof *heap);
        if (!acc || !touched || !heap) {
#pragma omp atomic write
            failed = 1;
        }
        bool master = omp_get_thread_num() == 0;
        uint64_t reported = 0;
#pragma omp for schedule(dynamic, 64)
        for (uint32_t i = 0; i < ni; i++) {
            int f;
#pragma omp atomic read
            f = failed;
            if (f)
                continue;
            uint32_t nt_i = 0;
            for (uint64_t ku = C->ptr[i]; ku < C->ptr[i + 1]; ku++) {
                uint32_t u = C->idx[ku];
                float a = vi[ku], aa = a * a;
                const uint32_t *js = R->idx + R->ptr[u];
                const float *bs = vu + R->ptr[u];
                uint32_t len = (uint32_t)(R->ptr[u + 1] - R->ptr[u]);
                for (uint32_t x = 0; x < len; x++) {
                    uint32_t j = js[x];
                    if (j == i)
                        continue;
                    if (acc[j][3] == 0)
                        touched[nt_i++] = j;
                    float b = bs[x];
                    acc[j] += (pair_acc){a * b, aa, b * b, 1.0f};
                }
            }
            reco_topn_heap h;
            reco_topn_init(&h, heap, K);
            for (uint32_t t = 0; t < nt_i; t++) {
                pair_acc e = acc[touched[t]];
                float s = reco_knn_sim_finish(e[0], e[1], e[2], (uint32_t)e[3], p);
                if (s > 0)
                    reco_topn_push(&h, touched[t], s);
                acc[touched[t]] = (pair_acc){0};
            }
            size_t n = reco_topn_finish(&h);
            uint32_t *dn = out->nbr + (size_t)i * K;
            float *ds = out->sim + (size_t)i * K;
            for (size_t t = 0; t < n; t++) {
                dn[t] = heap[t].id;
                ds[t] = heap[t].score;
            }
            cnt[i] = (uint32_t)n;
            uint64_t d;
#pragma omp atomic capture
            d = ++done;
            if (master && d * 200 / (ni ? ni : 1) > reported) {
                reported = d * 200 / ni;
                reco_progress_report(&progress, "itemcf", d, ni);
            }
        }
        free(acc);
        free(touched);
        free(heap);
    }
    if (failed)
        goto nomem;
    uint64_t off = 0;
    for (uint32_t i = 0; i < ni; i++) {
        out->offsets[i] = off;
        if (off != (uint64_t)i * K && cnt[i]) {
            memmove(out->nbr + off, out->nbr + (size_t)i * K, cnt[i] * sizeof *out->nbr);
            memmove(out->sim + off, out->sim + (size_t)i * K, cnt[i] * sizeof *out->sim);
        }
        off += cnt[i];
    }
    out->offsets[ni] = off;
    /* Shrinking never fails in practice; keep the larger block if it does. */
    uint32_t *nb = realloc(out->nbr, (off + 1) * sizeof *nb);
    if (nb)
        out->nbr = nb;
    float *sb = realloc(out->sim, (off + 1) * sizeof *sb);
    if (sb)
        out->sim = sb;
    reco_progress_report(&progress, "itemcf", ni, ni);
    free(cnt);
    free(mean);
    free(cu);
    free(ci);
    return RECO_OK;

nomem:
    free(cnt);
    free(mean);
    free(cu);
    free(ci);
    reco_knn_table_clear(out);
    return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the itemcf neighbour table");
}

reco_status reco_knn_param_set(reco_knn_params *p, const char *algo, const char *key,
                               const char *value, reco_error *err)
{
    if (!strcmp(key, "k"))
        return reco_param_int(algo, key, value, 1, RECO_KNN_K_MAX, &p->k, err);
    if (!strcmp(key, "centered"))
        return reco_param_bool(algo, key, value, &p->centered, err);
    if (!strcmp(key, "shrinkage"))
        return reco_param_double(algo, key, value, 0, 1e9, &p->shrinkage, err);
    if (!strcmp(key, "min_support"))
        return reco_param_int(algo, key, value, 1, 1 << 30, &p->min_support, err);
    if (!strcmp(key, "threads"))
        return reco_param_int(algo, key, value, 0, 4096, &p->threads, err);
    if (!strcmp(key, "candidates") && !strcmp(algo, "usercf"))
        return reco_param_int(algo, key, value, 1, 1 << 26, &p->candidates, err);
    return reco_param_unknown(algo, key, err);
}

const reco_param_field reco_knn_param_fields[] = {
    RECO_PARAM_FIELD(reco_knn_params, k, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_knn_params, centered, RECO_PT_BOOL),
    RECO_PARAM_FIELD(reco_knn_params, shrinkage, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_knn_params, min_support, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_knn_params, candidates, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_knn_params, threads, RECO_PT_INT),
    {NULL, 0, 0, 0},
};

void reco_knn_params_format(const reco_knn_params *p, const char *algo, char *buf, size_t cap)
{
    int n = reco_snprintf_c(buf, cap, "k=%d centered=%s shrinkage=%g min_support=%d", p->k,
                     p->centered ? "true" : "false", p->shrinkage, p->min_support);
    if (n >= 0 && (size_t)n < cap && !strcmp(algo, "usercf"))
        n += snprintf(buf + n, cap - (size_t)n, " candidates=%d", p->candidates);
    if (n >= 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " threads=%d", p->threads);
}

void reco_knn_rank_finish(const reco_dataset *train, const reco_baseline *base, float *scores,
                          const float *den)
{
    const reco_csr *C = &train->by_item;
    uint32_t ni = C->n_rows;
    float lo = INFINITY, bimax = -INFINITY;
    for (uint32_t i = 0; i < ni; i++) {
        float bi = i < base->n_items ? base->bi[i] : 0.0f;
        if (den[i] > 0 && scores[i] < lo)
            lo = scores[i];
        if (bi > bimax && C->ptr[i + 1] > C->ptr[i])
            bimax = bi;
    }
    if (lo == INFINITY)
        lo = 0;
    /* The rest follow in item-bias order, all strictly below lo. */
    for (uint32_t i = 0; i < ni; i++) {
        if (den[i] > 0)
            continue;
        if (C->ptr[i + 1] == C->ptr[i])
            scores[i] = -INFINITY;
        else
            scores[i] = lo - 1.0f - (bimax - (i < base->n_items ? base->bi[i] : 0.0f));
    }
}
