/* Initial factor rows, deterministic Gram matrices and the cosine index of
 * similar products (see factors.h). */
#include "factors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "mem.h"
#include "rng.h"

void reco_factors_init_rows(float *M, const reco_csr *rows, uint32_t k, uint32_t ld, float std,
                            uint64_t seed, uint64_t tag, int threads)
{
    int64_t n = rows->n_rows;
#pragma omp parallel for schedule(static, 4096) num_threads(threads)
    for (int64_t r = 0; r <= n; r++) {
        float *row = M + (size_t)r * ld;
        memset(row, 0, ld * sizeof *row);
        if (r == n || rows->ptr[r + 1] == rows->ptr[r])
            continue;
        reco_xoshiro g;
        reco_xoshiro_seed(&g, seed ^ tag, (uint64_t)r);
        for (uint32_t f = 0; f < k; f++)
            row[f] = std * reco_xoshiro_normalish(&g);
    }
}

/* A chunk of RECO_GRAM_CHUNK rows of 64 floats is 1 MB: it stays in L2
 * while the Gram kernel passes over it once per tile of G. */
reco_status reco_factors_gram_reduce(const float *part, size_t nchunks, uint32_t k, uint32_t ld,
                                     float *G, reco_error *err)
{
    const size_t gsz = (size_t)k * ld;
    double *acc = calloc(gsz, sizeof *acc);
    if (!acc)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for a %u x %u Gram matrix", k,
                              k);
    for (size_t c = 0; c < nchunks; c++) {
        const float *p = part + c * gsz;
        for (uint32_t a = 0; a < k; a++)
            for (uint32_t b = a; b < k; b++)
                acc[(size_t)a * ld + b] += p[(size_t)a * ld + b];
    }
    memset(G, 0, gsz * sizeof *G);
    for (uint32_t a = 0; a < k; a++)
        for (uint32_t b = a; b < k; b++)
            G[(size_t)a * ld + b] = (float)acc[(size_t)a * ld + b];
    reco_sym_fill_lower(G, k, ld);
    free(acc);
    return RECO_OK;
}

reco_status reco_factors_gram(const float *M, uint32_t n, uint32_t k, uint32_t ld, int threads,
                              float *G, reco_error *err)
{
    const size_t nchunks = reco_factors_gram_chunks(n);
    const size_t gsz = (size_t)k * ld;
    /* One float partial per chunk: a few MB even for millions of rows. */
    float *part = calloc(nchunks ? nchunks * gsz : 1, sizeof *part);
    if (!part)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for a %u x %u Gram matrix", k,
                              k);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t c = 0; c < nchunks; c++) {
        size_t r0 = c * RECO_GRAM_CHUNK, rn = n - r0 < RECO_GRAM_CHUNK ? n - r0 : RECO_GRAM_CHUNK;
        reco_gram_add(M + r0 * ld, rn, k, ld, part + c * gsz);
    }
    reco_status rc = reco_factors_gram_reduce(part, nchunks, k, ld, G, err);
    free(part);
    return rc;
}

/* Row j of f as a unit vector in the weighted space, into u (k floats
 * used; the rest of ld left as they are). */
static void unit_row(const reco_item_factors *f, uint32_t j, float *u)
{
    const float *q = f->rows + (size_t)j * f->ld;
    for (uint32_t t = 0; t < f->k; t++)
        u[t] = q[t] * (f->weights ? sqrtf(f->weights[t]) : 1.0f) * f->inv_norm[j];
}

reco_status reco_cosine_index_build(reco_cosine_index *ix, const reco_item_factors *f,
                                    const reco_csr *C, uint32_t min_support, reco_error *err)
{
    memset(ix, 0, sizeof *ix);
    const uint32_t k = f->k, ld = (k + 15) / 16 * 16;
    ix->ids = malloc(((size_t)f->n_rows + 1) * sizeof *ix->ids);
    if (!ix->ids)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the similarity index");
    for (uint32_t j = 0; j < f->n_rows; j++)
        if (f->inv_norm[j] != 0 &&
            (!C || (j < C->n_rows && C->ptr[j + 1] - C->ptr[j] >= min_support)))
            ix->ids[ix->n++] = j;
    if (ix->n == 0)
        return RECO_OK;
    float *U = reco_alloc_aligned((size_t)ix->n * ld * sizeof *U);
    if (!U) {
        reco_cosine_index_clear(ix);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the similarity index");
    }
    memset(U, 0, (size_t)ix->n * ld * sizeof *U);
    for (uint32_t p = 0; p < ix->n; p++)
        unit_row(f, ix->ids[p], U + (size_t)p * ld);
    reco_status rc = reco_factor_index_build_unit(&ix->index, U, ix->n, k, ld, err);
    free(U);
    if (rc) {
        reco_cosine_index_clear(ix);
        return rc;
    }
    /* The walk orders name products by index row; rename them by product
     * (ids ascends, so ties still go to the lower one), so that a search
     * answers in products and a filter reads them as they are. */
    for (uint32_t o = 0; o < ix->index.n_orders; o++)
        for (uint32_t p = 0; p < ix->index.ord[o].n; p++)
            ix->index.ord[o].order[p] = ix->ids[ix->index.ord[o].order[p]];
    return RECO_OK;
}

void reco_cosine_index_clear(reco_cosine_index *ix)
{
    if (!ix)
        return;
    free(ix->ids);
    reco_factor_index_clear(&ix->index);
    memset(ix, 0, sizeof *ix);
}

reco_status reco_cosine_index_topn(const reco_cosine_index *ix, const reco_item_factors *f,
                                   uint32_t i, size_t n, const reco_item_filter *rules,
                                   reco_scored *out, size_t *n_out, reco_error *err)
{
    *n_out = 0;
    if (i >= f->n_rows || f->inv_norm[i] == 0 || n == 0 || ix->n == 0)
        return RECO_OK;
    const uint32_t ld = (f->k + 15) / 16 * 16;
    float stackbuf[1024];
    float *x = ld <= 1024 ? stackbuf : malloc((size_t)ld * sizeof *x);
    /* The rules' exclude list with i added (ascending); without one (most
     * searches) just i, with no allocation. */
    reco_item_filter fl = rules ? *rules : (reco_item_filter){0};
    uint32_t self;
    uint32_t *ex = fl.n_exclude ? malloc((fl.n_exclude + 1) * sizeof *ex) : &self;
    if (!x || !ex) {
        if (x != stackbuf)
            free(x);
        if (ex != &self)
            free(ex);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    size_t ne = 0, t = 0;
    for (; t < fl.n_exclude && fl.exclude[t] < i; t++)
        ex[ne++] = fl.exclude[t];
    ex[ne++] = i;
    for (; t < fl.n_exclude; t++)
        if (fl.exclude[t] != i)
            ex[ne++] = fl.exclude[t];
    fl.exclude = ex;
    fl.n_exclude = ne;
    memset(x, 0, (size_t)ld * sizeof *x);
    unit_row(f, i, x);
    *n_out = reco_factor_index_topn_filter(&ix->index, x, 0.0f, n, &fl, out);
    if (x != stackbuf)
        free(x);
    if (ex != &self)
        free(ex);
    return RECO_OK;
}
