/* The "svd" recommender: a truncated SVD of the rating matrix (in one of
 * three forms, see reco/svd.h) computed by reco_tsvd_compute without ever
 * forming a dense users x products matrix. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/svd.h"

#include "numfmt.h"


static const char *const mode_names[] = {"baseline", "usermean", "pure", "notebook"};

const char *reco_svd_mode_name(reco_svd_mode mode)
{
    return (unsigned)mode < 4 ? mode_names[mode] : "?";
}

void reco_svd_params_default(reco_svd_params *p)
{
    reco_tsvd_params t;
    reco_tsvd_params_default(&t);
    p->k = t.k;
    p->mode = RECO_SVD_BASELINE;
    /* Not SciPy's 0 (machine precision): 1e-4 means ARPACK residuals below
     * 1e-8 of each eigenvalue, which changed no prediction by more than
     * float rounding (5e-7, measured on MovieLens and the benchmark data)
     * but needs 3-4x fewer Lanczos restarts on large data (7 instead of 31
     * on the Amazon-size file). */
    p->tol = 1e-4;
    p->maxiter = t.maxiter;
    p->ncv = t.ncv;
    p->seed = t.seed;
    p->threads = 0;
}

static void svd_default(void *p) { reco_svd_params_default(p); }

static reco_status svd_set(void *pp, const char *key, const char *value, reco_error *err)
{
    reco_svd_params *p = pp;
    if (!strcmp(key, "k") || !strcmp(key, "factors"))
        return reco_param_int("svd", "k", value, 1, 100000, &p->k, err);
    if (!strcmp(key, "mode")) {
        for (int m = 0; m < 4; m++)
            if (!strcmp(value, mode_names[m])) {
                p->mode = (reco_svd_mode)m;
                return RECO_OK;
            }
        return reco_error_set(err, RECO_ERR_INVALID,
                              "svd.mode wants baseline, usermean, pure or notebook, got \"%s\"",
                              value);
    }
    if (!strcmp(key, "tol"))
        return reco_param_double("svd", key, value, 0, 0.5, &p->tol, err);
    if (!strcmp(key, "maxiter"))
        return reco_param_int("svd", key, value, 0, 1 << 30, &p->maxiter, err);
    if (!strcmp(key, "ncv"))
        return reco_param_int("svd", key, value, 0, 1 << 20, &p->ncv, err);
    if (!strcmp(key, "threads"))
        return reco_param_int("svd", key, value, 0, 4096, &p->threads, err);
    if (!strcmp(key, "seed"))
        return reco_param_u64("svd", key, value, &p->seed, err);
    return reco_param_unknown("svd", key, err);
}

static void to_tsvd(const reco_svd_params *p, reco_tsvd_params *t)
{
    t->k = p->k;
    t->tol = p->tol;
    t->maxiter = p->maxiter;
    t->ncv = p->ncv;
    t->seed = p->seed;
}

static reco_status svd_check(const void *pp, reco_error *err)
{
    const reco_svd_params *p = pp;
    if ((unsigned)p->mode > RECO_SVD_NOTEBOOK)
        return reco_error_set(err, RECO_ERR_INVALID, "svd.mode is not a known mode");
    if (p->threads < 0)
        return reco_error_set(err, RECO_ERR_INVALID, "svd.threads = %d must be >= 0",
                              p->threads);
    /* The bound k < min(n_users, n_items) needs the data: checked in fit. */
    reco_tsvd_params t;
    to_tsvd(p, &t);
    return reco_tsvd_params_check(&t, 0, 0, "svd", "n_users", "n_items", err);
}

static void svd_format(const void *pp, char *buf, size_t cap)
{
    const reco_svd_params *p = pp;
    reco_snprintf_c(buf, cap, "k=%d mode=%s tol=%g maxiter=%d ncv=%d seed=%llu threads=%d", p->k,
             reco_svd_mode_name(p->mode), p->tol, p->maxiter, p->ncv,
             (unsigned long long)p->seed, p->threads);
}

static const reco_param_field svd_fields[] = {
    RECO_PARAM_FIELD(reco_svd_params, k, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_svd_params, mode, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_svd_params, tol, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_svd_params, maxiter, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_svd_params, ncv, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_svd_params, seed, RECO_PT_U64),
    RECO_PARAM_FIELD(reco_svd_params, threads, RECO_PT_INT),
    {NULL, 0, 0, 0},
};

static void svd_free(void *s)
{
    reco_svd_model *st = s;
    if (!st)
        return;
    free(st->sim_weight);
    free(st->item_inv_norm);
    if (st->mapped) {
        free(st);
        return;
    }
    free(st->sigma);
    free(st->user_f);
    free(st->item_f);
    free(st->item_norm);
    free(st->user_mean);
    free(st->fold_sum);
    free(st);
}

/* The weights σ² and inverse norms of similar products (svd_item_factors),
 * derived from sigma and item_norm after a fit or a load. A product whose
 * row of V·Σ is shorter than tol σ_1 gets none: ARPACK's singular vectors
 * are accurate to about tol σ_1 (its residual test is tol² on σ²), so such
 * a row is Lanczos residue, not a direction. On sparse data most products
 * are like that (the Electronics head: 3,000 of 3,529, rows of 1e-7 to
 * 1e-16 σ_1), and their cosines to each other came out 1.0000. tol 0
 * (machine precision) counts as 1e-6, float rounding of the rows. */
static bool derive_similarity(reco_svd_model *st, double tol)
{
    st->sim_weight = malloc(((size_t)st->k + 1) * sizeof(float));
    st->item_inv_norm = malloc(((size_t)st->n_items + 1) * sizeof(float));
    if (!st->sim_weight || !st->item_inv_norm)
        return false;
    for (uint32_t j = 0; j < st->k; j++)
        st->sim_weight[j] = st->sigma[j] * st->sigma[j];
    const double floor = (tol > 1e-6 ? tol : 1e-6) * (st->k ? st->sigma[0] : 0.0);
    for (uint32_t i = 0; i < st->n_items; i++)
        st->item_inv_norm[i] =
            st->item_norm[i] > 0 && st->item_norm[i] > floor ? 1.0f / st->item_norm[i] : 0.0f;
    return true;
}

/* Residuals r - mu - b_u - b_i of every stored entry of m, whose rows are
 * users (by_user) or items (by_item). */
static void residuals(const reco_csr *m, bool rows_are_users, const reco_baseline *b, int threads,
                      float *out)
{
#pragma omp parallel for schedule(dynamic, 4096) num_threads(threads)
    for (uint32_t r = 0; r < m->n_rows; r++) {
        double br = b->mu + (rows_are_users ? b->bu[r] : b->bi[r]);
        const float *bc = rows_are_users ? b->bi : b->bu;
        for (uint64_t e = m->ptr[r]; e < m->ptr[r + 1]; e++)
            out[e] = (float)(m->val[e] - br - bc[m->idx[e]]);
    }
}

static reco_status svd_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                           void **state, reco_error *err)
{
    const reco_svd_params *p = pp;
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    uint32_t nu = R->n_rows, ni = C->n_rows;
    int threads = p->threads > 0 ? p->threads
                  : ctx && ctx->threads > 0 ? ctx->threads
                                            : omp_get_max_threads();
    reco_tsvd_params tp;
    to_tsvd(p, &tp);
    reco_status rc = reco_tsvd_params_check(&tp, nu, ni, "svd", "n_users", "n_items", err);
    if (rc)
        return rc;
    const reco_baseline *base = ctx ? ctx->baseline : NULL;
    if (p->mode == RECO_SVD_BASELINE &&
        (!base || base->n_users != nu || base->n_items != ni))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "svd.mode=baseline needs the fitted baseline (fit through "
                              "reco_model_fit)");
    const reco_progress *prog = ctx ? &ctx->progress : NULL;
    reco_progress_report(prog, "svd", 0, 1);

    int k = p->k;
    reco_svd_model *st = calloc(1, sizeof *st);
    float *row_val = NULL, *col_val = NULL;
    double *a = NULL, *b = NULL;
    reco_sparse_op op = {0};
    reco_tsvd t = {0};
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->n_users = nu;
    st->n_items = ni;
    st->k = (uint32_t)k;
    st->mode = p->mode;

    op.rows = R;
    op.cols = C;
    op.threads = threads;
    if (p->mode == RECO_SVD_BASELINE) {
        row_val = malloc((R->nnz + 1) * sizeof *row_val);
        col_val = malloc((C->nnz + 1) * sizeof *col_val);
        if (!row_val || !col_val)
            goto nomem;
        residuals(R, true, base, threads, row_val);
        residuals(C, false, base, threads, col_val);
        op.row_val = row_val;
        op.col_val = col_val;
    } else if (p->mode == RECO_SVD_USERMEAN || p->mode == RECO_SVD_NOTEBOOK) {
        st->user_mean = malloc(((size_t)nu + 1) * sizeof *st->user_mean);
        if (!st->user_mean)
            goto nomem;
        for (uint32_t u = 0; u < nu; u++) {
            double s = 0;
            for (uint64_t e = R->ptr[u]; e < R->ptr[u + 1]; e++)
                s += R->val[e];
            uint32_t n = reco_csr_row_len(R, u);
            st->user_mean[u] = n ? (float)(s / n) : 0.0f;
        }
    }
    if (p->mode == RECO_SVD_USERMEAN) {
        /* Each rating minus its user's mean, on the rated entries only: the
         * sparse pattern stays, the missing entries stay unknown (zero). */
        row_val = malloc((R->nnz + 1) * sizeof *row_val);
        col_val = malloc((C->nnz + 1) * sizeof *col_val);
        if (!row_val || !col_val)
            goto nomem;
        for (uint32_t u = 0; u < nu; u++)
            for (uint64_t e = R->ptr[u]; e < R->ptr[u + 1]; e++)
                row_val[e] = R->val[e] - st->user_mean[u];
        for (uint32_t i = 0; i < ni; i++)
            for (uint64_t e = C->ptr[i]; e < C->ptr[i + 1]; e++)
                col_val[e] = C->val[e] - st->user_mean[C->idx[e]];
        op.row_val = row_val;
        op.col_val = col_val;
    } else if (p->mode == RECO_SVD_NOTEBOOK) {
        /* The notebook recipe on the zero-filled matrix: R0 - m·1ᵀ, the mean
         * subtracted from every entry, missing ones too. Kept sparse as
         * S + a·bᵀ with a = -m and b = 1 on the products that have training
         * ratings (a product that exists only in the ID map is not part of
         * the recipe's pivot table). */
        a = malloc(((size_t)nu + 1) * sizeof *a);
        b = malloc(((size_t)ni + 1) * sizeof *b);
        if (!a || !b)
            goto nomem;
        for (uint32_t u = 0; u < nu; u++)
            a[u] = -(double)st->user_mean[u];
        for (uint32_t i = 0; i < ni; i++)
            b[i] = reco_csr_row_len(C, i) ? 1.0 : 0.0;
        op.a = a;
        op.b = b;
    }
    reco_linop A;
    rc = reco_sparse_op_bind(&op, &A, err);
    if (rc)
        goto fail;
    rc = reco_tsvd_compute(&A, &tp, &t, err);
    if (rc)
        goto fail;
    free(row_val);
    free(col_val);
    row_val = col_val = NULL;
    st->restarts = (uint32_t)t.restarts;
    st->products = (uint32_t)t.products;
    st->lanczos_seconds = (float)t.lanczos_seconds;
    st->product_seconds = (float)t.product_seconds;
    st->finish_seconds = (float)t.finish_seconds;

    st->sigma = malloc((size_t)k * sizeof(float));
    st->user_f = malloc(((size_t)nu * k + 1) * sizeof(float));
    st->item_f = malloc(((size_t)ni * k + 1) * sizeof(float));
    st->item_norm = malloc(((size_t)ni + 1) * sizeof(float));
    if (!st->sigma || !st->user_f || !st->item_f || !st->item_norm)
        goto nomem;
    for (int j = 0; j < k; j++)
        st->sigma[j] = (float)t.s[j];
    /* Column-major doubles to row-major floats: each user's and item's
     * factors contiguous for the dot products of predict and score. */
    const double *su = t.s;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (uint32_t u = 0; u < nu; u++)
        for (int j = 0; j < k; j++)
            st->user_f[(size_t)u * k + j] = (float)(t.u[(size_t)j * nu + u] * su[j]);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (uint32_t i = 0; i < ni; i++) {
        double nn = 0;
        for (int j = 0; j < k; j++) {
            double v = t.v[(size_t)j * ni + i];
            st->item_f[(size_t)i * k + j] = (float)v;
            nn += v * su[j] * v * su[j];
        }
        st->item_norm[i] = (float)sqrt(nn);
    }
    if (p->mode == RECO_SVD_NOTEBOOK) {
        st->fold_sum = calloc((size_t)k, sizeof(float));
        if (!st->fold_sum)
            goto nomem;
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (uint32_t i = 0; i < ni; i++)
                s += b[i] * t.v[(size_t)j * ni + i];
            st->fold_sum[j] = (float)s;
        }
    }
    if (!derive_similarity(st, p->tol))
        goto nomem;
    reco_tsvd_clear(&t);
    reco_sparse_op_clear(&op);
    free(a);
    free(b);
    reco_progress_report(prog, "svd", 1, 1);
    *state = st;
    return RECO_OK;

nomem:
    rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the svd model");
fail:
    reco_tsvd_clear(&t);
    reco_sparse_op_clear(&op);
    free(row_val);
    free(col_val);
    free(a);
    free(b);
    svd_free(st);
    return rc;
}

static float fdot(const float *x, const float *y, uint32_t k)
{
    double s = 0;
    for (uint32_t j = 0; j < k; j++)
        s += (double)x[j] * y[j];
    return (float)s;
}

static float svd_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                         uint32_t u, uint32_t i)
{
    (void)train;
    const reco_svd_model *st = s;
    if (u >= st->n_users || i >= st->n_items)
        return NAN;
    float d = fdot(st->user_f + (size_t)u * st->k, st->item_f + (size_t)i * st->k, st->k);
    switch (st->mode) {
    case RECO_SVD_BASELINE: return reco_baseline_predict(base, u, i) + d;
    case RECO_SVD_USERMEAN:
    case RECO_SVD_NOTEBOOK: return st->user_mean[u] + d;
    default: return d;
    }
}

static size_t svd_scratch_size(const void *s, const reco_dataset *train)
{
    (void)train;
    const reco_svd_model *st = s;
    return (size_t)st->k * (sizeof(double) + sizeof(float)) + 64;
}

/* Fold-in: the user's row r' of the mode's matrix projected on V,
 * p = r'·V = u·Σ for the user's least-squares fit u = r'·V·Σ⁻¹ (what the
 * trained rows U·Σ = A·V are). Writes p[k] and the user's offset (bias or
 * mean). */
static void fold_in(const reco_svd_model *st, const reco_baseline *base, const reco_profile *prof,
                    double *acc, float *p, double *bu_out)
{
    uint32_t k = st->k;
    memset(acc, 0, k * sizeof *acc);
    double bu = 0, mean = 0;
    if (st->mode == RECO_SVD_BASELINE) {
        double sum = 0;
        for (uint32_t e = 0; e < prof->n; e++) {
            uint32_t i = prof->items[e];
            sum += prof->ratings[e] - base->mu - (i < base->n_items ? base->bi[i] : 0);
        }
        /* The baseline's own closed form for a user bias (its last ALS
         * step): an unchanged training row gets its trained bias back. */
        bu = reco_baseline_bias(sum, prof->n, base->reg_u);
    } else if (st->mode == RECO_SVD_USERMEAN || st->mode == RECO_SVD_NOTEBOOK) {
        for (uint32_t e = 0; e < prof->n; e++)
            mean += prof->ratings[e];
        mean = prof->n ? mean / prof->n : 0;
    }
    for (uint32_t e = 0; e < prof->n; e++) {
        uint32_t i = prof->items[e];
        if (i >= st->n_items)
            continue;
        double r = prof->ratings[e];
        if (st->mode == RECO_SVD_BASELINE)
            r -= base->mu + bu + base->bi[i];
        else if (st->mode == RECO_SVD_USERMEAN)
            r -= mean;
        const float *v = st->item_f + (size_t)i * k;
        for (uint32_t j = 0; j < k; j++)
            acc[j] += r * v[j];
    }
    for (uint32_t j = 0; j < k; j++) {
        double x = acc[j];
        if (st->mode == RECO_SVD_NOTEBOOK)
            x -= mean * st->fold_sum[j];
        p[j] = (float)x;
    }
    *bu_out = st->mode == RECO_SVD_BASELINE ? bu : mean;
}

static reco_status svd_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                             const reco_profile *prof, float *scores, void *scratch,
                             reco_error *err)
{
    (void)err;
    const reco_svd_model *st = s;
    const reco_csr *C = &train->by_item;
    uint32_t k = st->k, ni = st->n_items;
    const float *p;
    double off; /* user bias (baseline) or mean (usermean) */
    if (prof->user < st->n_users && !prof->updated) {
        p = st->user_f + (size_t)prof->user * k;
        off = st->mode == RECO_SVD_BASELINE ? base->bu[prof->user]
              : st->mode == RECO_SVD_USERMEAN || st->mode == RECO_SVD_NOTEBOOK
                  ? st->user_mean[prof->user]
                                              : 0;
    } else {
        double *acc = scratch;
        float *pf = (float *)(acc + k);
        fold_in(st, base, prof, acc, pf, &off);
        p = pf;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)ni, (int)k, 1.0f, st->item_f, (int)k, p, 1,
                0.0f, scores, 1);
    /* Products without training ratings have no factors: no opinion. */
    if (st->mode == RECO_SVD_BASELINE) {
        float o = (float)(base->mu + off);
        for (uint32_t i = 0; i < ni; i++)
            scores[i] = C->ptr[i + 1] > C->ptr[i] ? scores[i] + o + base->bi[i] : -INFINITY;
    } else {
        float o = (float)off;
        for (uint32_t i = 0; i < ni; i++)
            scores[i] = C->ptr[i + 1] > C->ptr[i] ? scores[i] + o : -INFINITY;
    }
    return RECO_OK;
}

/* The product vectors for similar products: the rows of V·Σ, compared as
 * rows of V under the weights σ². */
static bool svd_item_factors(const void *s, reco_item_factors *f)
{
    const reco_svd_model *st = s;
    *f = (reco_item_factors){st->item_f, st->item_inv_norm, st->sim_weight, st->n_items, st->k,
                             st->k};
    return true;
}

/* ---- model files ---- */

/* Contents version of svd.meta. */
#define SVD_FORMAT 1

static reco_status svd_save(const void *params, const void *s, const reco_dataset *train,
                            reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    (void)train;
    const reco_svd_model *st = s;
    reco_mfile_meta *meta = reco_mfile_meta_new(SVD_FORMAT);
    reco_mfile_meta_put_u64(meta, "n_users", st->n_users);
    reco_mfile_meta_put_u64(meta, "n_items", st->n_items);
    reco_mfile_meta_put_u64(meta, "k", st->k);
    reco_mfile_meta_put_u64(meta, "mode", (uint64_t)st->mode);
    reco_mfile_meta_put_u64(meta, "restarts", st->restarts);
    reco_mfile_meta_put_u64(meta, "products", st->products);
    uint64_t k = st->k;
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, "svd.meta", meta, err)) ||
        (rc = reco_mfile_add(w, "svd.sigma", st->sigma, k * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "svd.user_f", st->user_f, st->n_users * k * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "svd.item_f", st->item_f, st->n_items * k * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "svd.item_norm", st->item_norm,
                             (uint64_t)st->n_items * sizeof(float), err)))
        return rc;
    if (st->user_mean &&
        (rc = reco_mfile_add(w, "svd.user_mean", st->user_mean,
                             (uint64_t)st->n_users * sizeof(float), err)))
        return rc;
    if (st->fold_sum && (rc = reco_mfile_add(w, "svd.fold_sum", st->fold_sum,
                                             k * sizeof(float), err)))
        return rc;
    return RECO_OK;
}

static reco_status svd_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                            void **state, reco_error *err)
{
    const reco_svd_params *p = params;
    const uint32_t nu = reco_dataset_n_users(train), ni = reco_dataset_n_items(train);
    const uint32_t k = (uint32_t)p->k, mode = (uint32_t)p->mode;
    reco_mfile_meta *meta = NULL;
    uint32_t restarts = 0, products = 0, ignored;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "svd.meta", SVD_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_users", nu, nu, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_items", ni, ni, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "k", k, k, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "mode", mode, mode, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "restarts", 0, INT32_MAX, &restarts, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "products", 0, INT32_MAX, &products, err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    const void *sigma, *uf, *itf, *norm, *mean = NULL, *fold = NULL;
    if ((rc = reco_mfile_array(f, "svd.sigma", k, sizeof(float), &sigma, err)) ||
        (rc = reco_mfile_matrix(f, "svd.user_f", nu, k, sizeof(float), &uf, err)) ||
        (rc = reco_mfile_matrix(f, "svd.item_f", ni, k, sizeof(float), &itf, err)) ||
        (rc = reco_mfile_array(f, "svd.item_norm", ni, sizeof(float), &norm, err)))
        return rc;
    if ((mode == RECO_SVD_USERMEAN || mode == RECO_SVD_NOTEBOOK) &&
        (rc = reco_mfile_array(f, "svd.user_mean", nu, sizeof(float), &mean, err)))
        return rc;
    if (mode == RECO_SVD_NOTEBOOK &&
        (rc = reco_mfile_array(f, "svd.fold_sum", k, sizeof(float), &fold, err)))
        return rc;
    reco_svd_model *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->n_users = nu;
    st->n_items = ni;
    st->k = k;
    st->mode = (reco_svd_mode)mode;
    st->restarts = restarts;
    st->products = products;
    st->sigma = (float *)sigma;
    st->user_f = (float *)uf;
    st->item_f = (float *)itf;
    st->item_norm = (float *)norm;
    st->user_mean = (float *)mean;
    st->fold_sum = (float *)fold;
    st->mapped = true;
    if (!derive_similarity(st, p->tol)) {
        svd_free(st);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    *state = st;
    return RECO_OK;
}

/* PureSVD reconstructs the zero-filled matrix: its values rank, but are
 * not on the rating scale. The other modes add back a mean or biases. */
static bool svd_predicts_ratings(const void *pp)
{
    return ((const reco_svd_params *)pp)->mode != RECO_SVD_PURE;
}

static const char *svd_score_kind(const void *pp, const void *state)
{
    (void)state;
    return svd_predicts_ratings(pp) ? "rating_estimate" : "low_rank_reconstruction";
}

const reco_algo_ops reco_algo_svd = {
    .scores_are_ratings = true,
    .predicts_ratings = svd_predicts_ratings,
    .score_kind = svd_score_kind,
    .name = "svd",
    .summary = "truncated SVD (ARPACK Lanczos) of the rating residuals",
    .params_size = sizeof(reco_svd_params),
    .params_default = svd_default,
    .param_set = svd_set,
    .params_check = svd_check,
    .params_format = svd_format,
    .param_fields = svd_fields,
    .fit = svd_fit,
    .free_state = svd_free,
    .predict = svd_predict,
    .score = svd_score,
    .scratch_size = svd_scratch_size,
    .item_factors = svd_item_factors,
    .save = svd_save,
    .load = svd_load,
};

const reco_svd_model *reco_svd_model_of(const reco_model *m)
{
    return m && m->ops == &reco_algo_svd ? m->state : NULL;
}
