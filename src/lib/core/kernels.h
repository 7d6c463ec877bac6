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
#include <string.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

/* Sixteen floats as one value of GCC's generic vector type: lowered to one
 * AVX-512 register, two AVX ones or four SSE ones as the target allows.
 * Reductions are written with it because `omp simd reduction` leaves the
 * final horizontal sum to a chain of sixteen scalar additions, which for
 * the short dot products here costs more than the products. */
typedef float reco_v16 __attribute__((vector_size(64)));
typedef float reco_v8 __attribute__((vector_size(32)));
typedef float reco_v4 __attribute__((vector_size(16)));
/* The same, readable at any float-aligned address and through any pointer. */
typedef float reco_v16u __attribute__((vector_size(64), aligned(4), may_alias));

/* Sixteen floats at p (an expression, so no vector crosses a call). */
#define RECO_V16(p) (*(const reco_v16u *)(p))

/* The sum of the sixteen lanes of *v, as a tree. */
__attribute__((always_inline)) static inline float reco_v16_sum(const reco_v16 *v)
{
    reco_v8 h = __builtin_shufflevector(*v, *v, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(*v, *v, 8, 9, 10, 11, 12, 13, 14, 15);
    reco_v4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    return (q[0] + q[2]) + (q[1] + q[3]);
}

/* a . b over k floats. The inline form, for loops that are themselves
 * compiled per target; reco_dot is the out-of-line, per-CPU one. */
__attribute__((always_inline)) static inline float reco_dot_inline(const float *restrict a,
                                                                   const float *restrict b,
                                                                   uint32_t k)
{
    reco_v16 acc0 = {0}, acc1 = {0};
    uint32_t f = 0;
    for (; f + 32 <= k; f += 32) {
        acc0 += RECO_V16(a + f) * RECO_V16(b + f);
        acc1 += RECO_V16(a + f + 16) * RECO_V16(b + f + 16);
    }
    if (f + 16 <= k) {
        acc0 += RECO_V16(a + f) * RECO_V16(b + f);
        f += 16;
    }
    acc0 += acc1;
    float s = reco_v16_sum(&acc0);
    for (; f < k; f++)
        s += a[f] * b[f];
    return s;
}

float reco_dot(const float *a, const float *b, uint32_t k);

/* y[r] += M[r] . x for the n rows of M (row stride ld floats, k used);
 * each product is computed exactly as reco_dot computes it. */
void reco_rows_dot(const float *M, uint32_t n, uint32_t k, uint32_t ld, const float *x,
                   float *y);

/* y[0..ld) = x^T R: the sum of the k rows of R (stride ld, a multiple of
 * 16) weighted by x[0..k). For a symmetric R this is R x. Four rows at a
 * time, no horizontal reductions. y and x must not overlap. */
__attribute__((always_inline)) static inline void reco_vecmat_inline(const float *restrict R,
                                                                     uint32_t k, uint32_t ld,
                                                                     const float *restrict x,
                                                                     float *restrict y)
{
    const uint32_t w = ld / 16 * 16; /* tells the compiler: no remainder */
    for (uint32_t f = 0; f < w; f++)
        y[f] = 0;
    uint32_t c = 0;
    for (; c + 4 <= k; c += 4) {
        const float *g0 = R + (size_t)c * ld, *g1 = g0 + ld, *g2 = g1 + ld, *g3 = g2 + ld;
        const float x0 = x[c], x1 = x[c + 1], x2 = x[c + 2], x3 = x[c + 3];
#pragma omp simd
        for (uint32_t f = 0; f < w; f++)
            y[f] += (x0 * g0[f] + x1 * g1[f]) + (x2 * g2[f] + x3 * g3[f]);
    }
    for (; c < k; c++) {
        const float *g = R + (size_t)c * ld;
        const float xc = x[c];
#pragma omp simd
        for (uint32_t f = 0; f < w; f++)
            y[f] += xc * g[f];
    }
}

/* M[r] = M[r]^T R for the n rows of M (stride ld, k used, padding zero
 * and kept zero): a change of basis of every row by the k x k matrix R
 * (rows of stride ld, padding columns zero). In place. */
void reco_rows_vecmat(float *M, size_t n, uint32_t k, uint32_t ld, const float *R);

/* G += sum over the n rows r of M of M[r]^T M[r] (row stride ld, a multiple
 * of 16, k used, padding zero), into a k x k matrix with row stride ld. The
 * upper triangle (row <= column) and some entries below it are written;
 * reco_sym_fill_lower makes the lower triangle right. */
void reco_gram_add(const float *M, size_t n, uint32_t k, uint32_t ld, float *G);

/* Integer dot products of 16 quantised rows at once, for the first pass of
 * the pruned top-N: g holds nc chunks of 64 bytes, chunk d being the
 * unsigned bytes of factors 4d..4d+3 of each of the 16 rows (4 bytes a
 * row); acc[j] = sum over f of x8[f] * (byte of row j, factor f), x8 holding
 * nc * 4 signed bytes. reco_q8_dots_pick gives the fastest version the CPU
 * runs (AVX-512 VNNI: one instruction a chunk); every version gives the
 * same integers. */
typedef void (*reco_q8_dots_fn)(const uint8_t *g, uint32_t nc, const int8_t *x8, int32_t *acc);
void reco_q8_dots(const uint8_t *g, uint32_t nc, const int8_t *x8, int32_t *acc);
void reco_q8_dots_vnni(const uint8_t *g, uint32_t nc, const int8_t *x8, int32_t *acc);
reco_q8_dots_fn reco_q8_dots_pick(void);

/* The indices j < n with v[j] >= thr, ascending, into idx; returns their
 * count. reco_select_ge_pick gives the fastest version the CPU runs
 * (AVX-512: a compare and a compressed store for 16 values). */
typedef uint32_t (*reco_select_ge_fn)(const float *v, uint32_t n, float thr, uint16_t *idx);
uint32_t reco_select_ge(const float *v, uint32_t n, float thr, uint16_t *idx);
uint32_t reco_select_ge_avx512(const float *v, uint32_t n, float thr, uint16_t *idx);
reco_select_ge_fn reco_select_ge_pick(void);

/* Cholesky factorisation in place of a k x k symmetric positive definite
 * matrix A (rows of stride ld, the lower triangle read): A = L L^T with L
 * written to the lower triangle. Returns nonzero if A is not positive
 * definite. Written here rather than called from LAPACK because the
 * systems are small (k = 8..256) and solved once per request: OpenBLAS
 * 0.3.21 runs its generic kernels on this CPU and its call overhead
 * alone cost several times the arithmetic (measured: 20% of a server's
 * time on ials explanations). */
int reco_cholesky(float *A, uint32_t k, uint32_t ld);

/* Solves L L^T x = b in place (b becomes x) with the factor made by
 * reco_cholesky. */
void reco_cholesky_solve(const float *L, uint32_t k, uint32_t ld, float *b);

/* Copies the upper triangle of G to the lower. */
void reco_sym_fill_lower(float *G, uint32_t k, uint32_t ld);

/* Flush-to-zero for the calling thread, for the duration of a numerical
 * loop: values that decay towards zero (factors of a heavily regularised
 * model) would otherwise become subnormal, and each operation on a
 * subnormal float costs a hundred times more. Returns the previous mode
 * for reco_ftz_end. */
static inline unsigned reco_ftz_begin(void)
{
#if defined(__x86_64__)
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040); /* FTZ and DAZ */
    return old;
#else
    return 0;
#endif
}

static inline void reco_ftz_end(unsigned old)
{
#if defined(__x86_64__)
    _mm_setcsr(old);
#else
    (void)old;
#endif
}

#endif
