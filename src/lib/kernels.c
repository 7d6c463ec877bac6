/* The dense float kernels of kernels.h, each compiled for AVX-512, AVX2 and
 * baseline x86-64 and picked at load time. */
#include "kernels.h"

#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES float reco_dot(const float *a, const float *b, uint32_t k)
{
    return reco_dot_inline(a, b, k);
}

/* Four rows at a time keep four independent sums in flight. */
CLONES void reco_rows_dot(const float *restrict M, uint32_t n, uint32_t k, uint32_t ld,
                          const float *restrict x, float *restrict y)
{
    uint32_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *m0 = M + (size_t)r * ld, *m1 = m0 + ld, *m2 = m1 + ld, *m3 = m2 + ld;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (uint32_t f = 0; f < k; f++) {
            s0 += m0[f] * x[f];
            s1 += m1[f] * x[f];
            s2 += m2[f] * x[f];
            s3 += m3[f] * x[f];
        }
        y[r] += s0;
        y[r + 1] += s1;
        y[r + 2] += s2;
        y[r + 3] += s3;
    }
    for (; r < n; r++)
        y[r] += reco_dot_inline(M + (size_t)r * ld, x, k);
}

/* As a sum of columns (G is symmetric, so column c is row c): y += x[c] *
 * G[c], an axpy per column with y held in registers, and no horizontal
 * reductions. */
CLONES void reco_symv(const float *restrict G, uint32_t k, uint32_t ld, const float *restrict x,
                      float *restrict y)
{
    memset(y, 0, k * sizeof *y);
    uint32_t c = 0;
    for (; c + 2 <= k; c += 2) {
        const float *g0 = G + (size_t)c * ld, *g1 = g0 + ld;
        const float x0 = x[c], x1 = x[c + 1];
#pragma omp simd
        for (uint32_t f = 0; f < k; f++)
            y[f] += x0 * g0[f] + x1 * g1[f];
    }
    for (; c < k; c++) {
        const float *g = G + (size_t)c * ld;
        const float xc = x[c];
#pragma omp simd
        for (uint32_t f = 0; f < k; f++)
            y[f] += xc * g[f];
    }
}

/* Rows of G in tiles of four: for each row r of M, G[a..a+3][a..k) +=
 * M[r][a..a+3] (outer) M[r][a..k). The tile of G stays in cache across
 * the rows of M, which are streamed once per tile. */
CLONES void reco_gram_add(const float *restrict M, size_t n, uint32_t k, uint32_t ld,
                          float *restrict G)
{
    uint32_t a = 0;
    for (; a + 4 <= k; a += 4) {
        float *g0 = G + (size_t)a * ld, *g1 = g0 + ld, *g2 = g1 + ld, *g3 = g2 + ld;
        for (size_t r = 0; r < n; r++) {
            const float *m = M + r * ld;
            const float m0 = m[a], m1 = m[a + 1], m2 = m[a + 2], m3 = m[a + 3];
#pragma omp simd
            for (uint32_t f = a; f < k; f++) {
                g0[f] += m0 * m[f];
                g1[f] += m1 * m[f];
                g2[f] += m2 * m[f];
                g3[f] += m3 * m[f];
            }
        }
    }
    for (; a < k; a++) {
        float *g = G + (size_t)a * ld;
        for (size_t r = 0; r < n; r++) {
            const float *m = M + r * ld;
            const float ma = m[a];
#pragma omp simd
            for (uint32_t f = a; f < k; f++)
                g[f] += ma * m[f];
        }
    }
}

void reco_sym_fill_lower(float *G, uint32_t k, uint32_t ld)
{
    for (uint32_t a = 0; a < k; a++)
        for (uint32_t b = 0; b < a; b++)
            G[(size_t)a * ld + b] = G[(size_t)b * ld + a];
}
