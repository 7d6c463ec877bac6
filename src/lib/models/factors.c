/* Initial factor rows and deterministic Gram matrices (see factors.h). */
#include "factors.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"
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

/* Dot products a chunk at a time (on the stack, so nothing is allocated)
 * into the top-n heap. */
size_t reco_factors_cosine_topn(const float *Q, const float *inv_norm, uint32_t n_rows,
                                uint32_t k, uint32_t ld, uint32_t i, size_t n, reco_scored *out)
{
    if (i >= n_rows || inv_norm[i] == 0)
        return 0;
    const float *qi = Q + (size_t)i * ld;
    const float inv_i = inv_norm[i];
    reco_topn_heap h;
    reco_topn_init(&h, out, n);
    enum { CHUNK = 256 };
    float dots[CHUNK];
    for (uint32_t j0 = 0; j0 < n_rows; j0 += CHUNK) {
        uint32_t c = n_rows - j0 < CHUNK ? n_rows - j0 : CHUNK;
        memset(dots, 0, c * sizeof *dots);
        reco_rows_dot(Q + (size_t)j0 * ld, c, k, ld, qi, dots);
        for (uint32_t j = 0; j < c; j++) {
            float inv_j = inv_norm[j0 + j];
            if (j0 + j != i && inv_j != 0)
                reco_topn_push(&h, j0 + j, dots[j] * inv_i * inv_j);
        }
    }
    return reco_topn_finish(&h);
}
