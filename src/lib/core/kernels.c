/* The dense float kernels of kernels.h, each compiled for AVX-512, AVX2 and
 * baseline x86-64 and picked at load time. */
#include "kernels.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES float reco_dot(const float *a, const float *b, uint32_t k)
{
    return reco_dot_inline(a, b, k);
}

/* Each row with the very operations of reco_dot_inline, so a score is
 * the same bit for bit whichever of the two computed it (the pruned top-N
 * mixes them); the rows are independent, so the processor overlaps them. */
CLONES void reco_rows_dot(const float *restrict M, uint32_t n, uint32_t k, uint32_t ld,
                          const float *restrict x, float *restrict y)
{
    for (uint32_t r = 0; r < n; r++)
        y[r] += reco_dot_inline(M + (size_t)r * ld, x, k);
}

/* Four rows of M times columns c0 .. c0 + 16 nq of R, summed in sixteen
 * vector registers, into out (4 rows of stride ld). nq is a constant at
 * each call, so the loops unroll. */
__attribute__((always_inline)) static inline void vecmat_tile(const float *restrict M,
                                                              uint32_t k, uint32_t ld,
                                                              const float *restrict R,
                                                              uint32_t c0, const int nq,
                                                              float *restrict out)
{
    reco_v16 acc[4][4];
    memset(acc, 0, sizeof acc);
    for (uint32_t c = 0; c < k; c++) {
        reco_v16 v[4];
#pragma GCC unroll 4
        for (int q = 0; q < nq; q++)
            v[q] = RECO_V16(R + (size_t)c * ld + c0 + 16 * q);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            const float x = M[(size_t)t * ld + c];
#pragma GCC unroll 4
            for (int q = 0; q < nq; q++)
                acc[t][q] += x * v[q];
        }
    }
    for (int t = 0; t < 4; t++)
        for (int q = 0; q < nq; q++)
            memcpy(out + (size_t)t * ld + c0 + 16 * q, &acc[t][q], sizeof acc[t][q]);
}

/* Four rows at a time, so that each row of R, loaded once, serves four
 * products; the results go through a small buffer because the rows are
 * overwritten. */
CLONES void reco_rows_vecmat(float *restrict M, size_t n, uint32_t k, uint32_t ld,
                             const float *restrict R)
{
    enum { T = 4, MAXLD = 1024 };
    const uint32_t w = ld / 16 * 16;
    float out[T * MAXLD] __attribute__((aligned(64)));
    for (size_t r0 = 0; r0 < n; r0 += T) {
        size_t t_n = n - r0 < T ? n - r0 : T;
        float *m = M + r0 * ld;
        if (t_n < T || w > MAXLD) {
            for (size_t t = 0; t < t_n; t++) {
                reco_vecmat_inline(R, k, ld, m + t * ld, out);
                memcpy(m + t * ld, out, w * sizeof(float));
            }
            continue;
        }
        for (uint32_t c0 = 0; c0 < w; c0 += 64) {
            switch ((w - c0) / 16 < 4 ? (w - c0) / 16 : 4) {
            case 4: vecmat_tile(m, k, ld, R, c0, 4, out); break;
            case 3: vecmat_tile(m, k, ld, R, c0, 3, out); break;
            case 2: vecmat_tile(m, k, ld, R, c0, 2, out); break;
            default: vecmat_tile(m, k, ld, R, c0, 1, out); break;
            }
        }
        memcpy(m, out, (size_t)T * ld * sizeof(float));
    }
}

/* One register tile of the Gram matrix: rows a0..a0+3 of G, columns c0 ..
 * c0 + 16 nq, summed over the n rows of M in sixteen vector registers,
 * then added to G (rows >= k are not stored; their values come from M's
 * zero padding). Called with a constant nq, so the loops unroll. */
__attribute__((always_inline)) static inline void gram_tile(const float *restrict M, size_t n,
                                                            uint32_t k, uint32_t ld, uint32_t a0,
                                                            uint32_t c0, const int nq,
                                                            float *restrict G)
{
    reco_v16 acc[4][4];
    memset(acc, 0, sizeof acc);
    for (size_t r = 0; r < n; r++) {
        const float *m = M + r * ld;
        reco_v16 v[4];
#pragma GCC unroll 4
        for (int q = 0; q < nq; q++)
            v[q] = RECO_V16(m + c0 + 16 * q);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            const float x = m[a0 + t];
#pragma GCC unroll 4
            for (int q = 0; q < nq; q++)
                acc[t][q] += x * v[q];
        }
    }
    for (int t = 0; t < 4 && a0 + t < k; t++)
        for (int q = 0; q < nq; q++) {
            float *g = G + (size_t)(a0 + t) * ld + c0 + 16 * q;
            reco_v16 cur;
            memcpy(&cur, g, sizeof cur);
            cur += acc[t][q];
            memcpy(g, &cur, sizeof cur);
        }
}

/* The upper triangle in tiles of 4 rows by up to 64 columns (columns from
 * the 16-aligned block holding the diagonal on), each tile summed over all
 * n rows of M in registers: M, streamed from cache once per tile, is the
 * only memory traffic. Needs ld a multiple of 16 with zero padding. */
CLONES void reco_gram_add(const float *restrict M, size_t n, uint32_t k, uint32_t ld,
                          float *restrict G)
{
    const uint32_t w = ld / 16 * 16;
    for (uint32_t a0 = 0; a0 < k; a0 += 4)
        for (uint32_t c0 = a0 / 16 * 16; c0 < w; c0 += 64) {
            switch ((w - c0) / 16 < 4 ? (w - c0) / 16 : 4) {
            case 4: gram_tile(M, n, k, ld, a0, c0, 4, G); break;
            case 3: gram_tile(M, n, k, ld, a0, c0, 3, G); break;
            case 2: gram_tile(M, n, k, ld, a0, c0, 2, G); break;
            default: gram_tile(M, n, k, ld, a0, c0, 1, G); break;
            }
        }
}

/* Row-oriented (Cholesky-Crout): entry (i, j) of L needs the dot product
 * of the first j entries of rows i and j, which are contiguous. */
CLONES int reco_cholesky(float *A, uint32_t k, uint32_t ld)
{
    for (uint32_t j = 0; j < k; j++) {
        float *rj = A + (size_t)j * ld;
        float d = rj[j] - reco_dot_inline(rj, rj, j);
        if (!(d > 0))
            return -1;
        float l = sqrtf(d), inv = 1.0f / l;
        rj[j] = l;
        for (uint32_t i = j + 1; i < k; i++) {
            float *ri = A + (size_t)i * ld;
            ri[j] = (ri[j] - reco_dot_inline(ri, rj, j)) * inv;
        }
    }
    return 0;
}

CLONES void reco_cholesky_solve(const float *L, uint32_t k, uint32_t ld, float *b)
{
    /* L y = b: forward, a dot product with each row's prefix. */
    for (uint32_t i = 0; i < k; i++) {
        const float *ri = L + (size_t)i * ld;
        b[i] = (b[i] - reco_dot_inline(ri, b, i)) / ri[i];
    }
    /* L^T x = y: backward; once x_i is known, it leaves row i's prefix. */
    for (uint32_t i = k; i-- > 0;) {
        const float *ri = L + (size_t)i * ld;
        b[i] /= ri[i];
        const float xi = b[i];
#pragma omp simd
        for (uint32_t p = 0; p < i; p++)
            b[p] -= xi * ri[p];
    }
}

CLONES void reco_q8_dots(const uint8_t *restrict g, uint32_t nc, const int8_t *restrict x8,
                         int32_t *restrict acc)
{
    for (int j = 0; j < 16; j++)
        acc[j] = 0;
    for (uint32_t d = 0; d < nc; d++) {
        const uint8_t *c = g + (size_t)d * 64;
        const int32_t x0 = x8[4 * d], x1 = x8[4 * d + 1], x2 = x8[4 * d + 2],
                      x3 = x8[4 * d + 3];
        for (int j = 0; j < 16; j++)
            acc[j] += c[4 * j] * x0 + c[4 * j + 1] * x1 + c[4 * j + 2] * x2 + c[4 * j + 3] * x3;
    }
}

#if defined(__x86_64__)
/* vpdpbusd multiplies 64 unsigned bytes by 64 signed ones and adds each 4
 * products into 16 int32 lanes: one lane per row of the group. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
void reco_q8_dots_vnni(const uint8_t *restrict g, uint32_t nc, const int8_t *restrict x8,
                       int32_t *restrict acc)
{
    __m512i a = _mm512_setzero_si512();
    for (uint32_t d = 0; d < nc; d++) {
        int32_t xs;
        memcpy(&xs, x8 + 4 * d, 4);
        a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512((const void *)(g + (size_t)d * 64)),
                                _mm512_set1_epi32(xs));
    }
    _mm512_storeu_si512((void *)acc, a);
}
#else
void reco_q8_dots_vnni(const uint8_t *g, uint32_t nc, const int8_t *x8, int32_t *acc)
{
    reco_q8_dots(g, nc, x8, acc);
}
#endif

reco_q8_dots_fn reco_q8_dots_pick(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
        return reco_q8_dots_vnni;
#endif
    return reco_q8_dots;
}

/* Branch-free: the index is always written, the count advances only when
 * the value passes. */
uint32_t reco_select_ge(const float *restrict v, uint32_t n, float thr, uint16_t *restrict idx)
{
    uint32_t m = 0;
    for (uint32_t j = 0; j < n; j++) {
        idx[m] = (uint16_t)j;
        m += v[j] >= thr;
    }
    return m;
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
uint32_t reco_select_ge_avx512(const float *restrict v, uint32_t n, float thr,
                               uint16_t *restrict idx)
{
    uint32_t m = 0, j = 0;
    const __m512 t = _mm512_set1_ps(thr);
    __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sixteen = _mm512_set1_epi32(16);
    for (; j + 16 <= n; j += 16) {
        __mmask16 k = _mm512_cmp_ps_mask(_mm512_loadu_ps(v + j), t, _CMP_GE_OQ);
        if (k) {
            /* 16-bit indices: compress the 32-bit lanes, then narrow. */
            uint32_t tmp[16];
            _mm512_mask_compressstoreu_epi32(tmp, k, ids);
            uint32_t c = (uint32_t)__builtin_popcount(k);
            for (uint32_t q = 0; q < c; q++)
                idx[m + q] = (uint16_t)tmp[q];
            m += c;
        }
        ids = _mm512_add_epi32(ids, sixteen);
    }
    for (; j < n; j++) {
        idx[m] = (uint16_t)j;
        m += v[j] >= thr;
    }
    return m;
}
#else
uint32_t reco_select_ge_avx512(const float *v, uint32_t n, float thr, uint16_t *idx)
{
    return reco_select_ge(v, n, thr, idx);
}
#endif

reco_select_ge_fn reco_select_ge_pick(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f"))
        return reco_select_ge_avx512;
#endif
    return reco_select_ge;
}

void reco_sym_fill_lower(float *G, uint32_t k, uint32_t ld)
{
    for (uint32_t a = 0; a < k; a++)
        for (uint32_t b = 0; b < a; b++)
            G[(size_t)a * ld + b] = G[(size_t)b * ld + a];
}
