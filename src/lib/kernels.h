/* Dense float kernels shared by the factor models (mf, ials, and any other
 * algorithm that scores with dot products): the one copy of the dot
 * product, row-block products, the symmetric matrix-vector product and the
 * Gram matrix accumulation.
 *
 * Written by hand rather than called from OpenBLAS because the vectors are
 * short (k = 8..1024 factors) and the calls many (one per scored item, per
 * CG step of each of millions of users): call overhead and the generic
 * kernel that OpenBLAS 0.3.21 picks on CPUs it does not recognise (SSE3,
 * no FMA) cost more than the arithmetic. The out-of-line functions are
 * compiled for x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and baseline, chosen at
 * load time (target_clones). Summation order is fixed by the code, never by
 * threads, so results are reproducible. */
#ifndef RECO_KERNELS_H
#define RECO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* a . b over k floats. The inline form, for loops that are themselves
 * compiled per target; reco_dot is the out-of-line, per-CPU one. */
static inline float reco_dot_inline(const float *restrict a, const float *restrict b, uint32_t k)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (uint32_t f = 0; f < k; f++)
        s += a[f] * b[f];
    return s;
}

float reco_dot(const float *a, const float *b, uint32_t k);

/* y[r] += M[r] . x for the n rows of M (row stride ld floats, k used). */
void reco_rows_dot(const float *M, uint32_t n, uint32_t k, uint32_t ld, const float *x,
                   float *y);

/* y = G x for a k x k matrix G stored full (both triangles), row stride ld
 * (>= k, a multiple of 16 for the vector paths). y and x must not overlap. */
void reco_symv(const float *G, uint32_t k, uint32_t ld, const float *x, float *y);

/* G += sum over the n rows r of M of M[r]^T M[r] (row stride ld, k used),
 * into a k x k matrix with row stride ld. Only the upper triangle (row <=
 * column) is written; reco_sym_fill_lower copies it down. */
void reco_gram_add(const float *M, size_t n, uint32_t k, uint32_t ld, float *G);

/* Copies the upper triangle of G to the lower. */
void reco_sym_fill_lower(float *G, uint32_t k, uint32_t ld);

#endif
