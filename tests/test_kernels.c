/* Unit tests of the shared dense kernels (kernels.h, factors.h) against
 * plain double-precision loops, for factor counts that are and are not
 * multiples of the vector width, and of the thread independence of the
 * Gram matrix. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "factors.h"
#include "kernels.h"
#include "reco/factor_index.h"
#include "reco/topn.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float unif(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0) * 2 - 1);
}

/* n rows of stride ld = k rounded up to 16, random in the first k columns,
 * zero in the padding. */
static float *rows(size_t n, uint32_t k, uint32_t *ld_out)
{
    uint32_t ld = (k + 15) / 16 * 16;
    float *m = aligned_alloc(64, (n * ld * sizeof(float) + 63) / 64 * 64 + 64);
    assert_non_null(m);
    memset(m, 0, n * ld * sizeof(float));
    for (size_t r = 0; r < n; r++)
        for (uint32_t f = 0; f < k; f++)
            m[r * ld + f] = unif();
    *ld_out = ld;
    return m;
}

static const uint32_t KS[] = {1, 3, 15, 16, 17, 33, 64, 100, 200};

static void test_dot_and_rows_dot(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof KS / sizeof *KS; t++) {
        uint32_t k = KS[t], ld;
        float *M = rows(37, k, &ld), *x = rows(1, k, &ld);
        float y[37];
        memset(y, 0, sizeof y);
        reco_rows_dot(M, 37, k, ld, x, y);
        for (int r = 0; r < 37; r++) {
            double ref = 0;
            for (uint32_t f = 0; f < k; f++)
                ref += (double)M[r * ld + f] * x[f];
            assert_float_equal(y[r], ref, 1e-5 * (k + 1));
            assert_float_equal(reco_dot(M + r * ld, x, k), ref, 1e-5 * (k + 1));
            assert_float_equal(reco_dot_inline(M + r * ld, x, k), ref, 1e-5 * (k + 1));
        }
        free(M);
        free(x);
    }
}

static void test_vecmat_and_rotation(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof KS / sizeof *KS; t++) {
        uint32_t k = KS[t], ld;
        float *R = rows(k, k, &ld), *M = rows(11, k, &ld), *orig = rows(11, k, &ld);
        memcpy(orig, M, 11 * ld * sizeof(float));
        reco_rows_vecmat(M, 11, k, ld, R);
        float *y = rows(1, k, &ld);
        for (int r = 0; r < 11; r++) {
            reco_vecmat_inline(R, k, ld, orig + r * ld, y);
            for (uint32_t f = 0; f < ld; f++) {
                double ref = 0;
                for (uint32_t c = 0; c < k && f < k; c++)
                    ref += (double)orig[r * ld + c] * R[c * ld + f];
                assert_float_equal(M[r * ld + f], ref, 1e-5 * (k + 1));
                assert_float_equal(y[f], ref, 1e-5 * (k + 1));
            }
        }
        free(R);
        free(M);
        free(orig);
        free(y);
    }
}

static void test_gram(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof KS / sizeof *KS; t++) {
        uint32_t k = KS[t], ld;
        const uint32_t n = 9000; /* three chunks, the last partial */
        float *M = rows(n, k, &ld);
        float *G1 = aligned_alloc(64, (size_t)k * ld * sizeof(float) + 64);
        float *G2 = aligned_alloc(64, (size_t)k * ld * sizeof(float) + 64);
        assert_int_equal(reco_factors_gram(M, n, k, ld, 1, G1, NULL), RECO_OK);
        assert_int_equal(reco_factors_gram(M, n, k, ld, 2, G2, NULL), RECO_OK);
        assert_memory_equal(G1, G2, (size_t)k * ld * sizeof(float));
        for (uint32_t a = 0; a < k; a++)
            for (uint32_t b = 0; b < ld; b++) {
                double ref = 0;
                for (uint32_t r = 0; r < n && b < k; r++)
                    ref += (double)M[(size_t)r * ld + a] * M[(size_t)r * ld + b];
                assert_float_equal(G1[(size_t)a * ld + b], ref, 1e-4 * (fabs(ref) + 1));
            }
        free(M);
        free(G1);
        free(G2);
    }
}

/* Brute force: the best weighted cosine to row i among the rows with a
 * nonzero inverse norm and at least min_support entries in row_len. */
static int best_cosine(const float *Q, uint32_t ld, uint32_t k, const float *inv,
                       const float *w, const uint32_t *row_len, uint32_t min_support, int i,
                       double *best)
{
    int best_j = -1;
    *best = -2;
    for (int j = 0; j < 600; j++) {
        if (j == i || inv[j] == 0 || (row_len && row_len[j] < min_support))
            continue;
        double d = 0;
        for (uint32_t f = 0; f < k; f++)
            d += (double)Q[i * ld + f] * (w ? w[f] : 1.0) * Q[j * ld + f];
        d *= (double)inv[i] * inv[j];
        if (d > *best)
            *best = d, best_j = j;
    }
    return best_j;
}

/* The cosine index against brute force: plain and weighted (svd's V·Σ)
 * cosines, rows without factors and rows under the support floor left
 * out, the query never listed, even when it is not indexed itself. */
static void test_cosine_index(void **state)
{
    (void)state;
    uint32_t k = 20, ld;
    float *Q = rows(600, k, &ld);
    float inv[600], winv[600], w[20];
    for (uint32_t f = 0; f < k; f++)
        w[f] = 1.0f / (1.0f + (float)f);
    uint64_t ptr[601];
    uint32_t row_len[600];
    ptr[0] = 0;
    for (int i = 0; i < 600; i++) {
        double s = 0, ws = 0;
        for (uint32_t f = 0; f < k; f++) {
            s += (double)Q[i * ld + f] * Q[i * ld + f];
            ws += (double)Q[i * ld + f] * w[f] * Q[i * ld + f];
        }
        inv[i] = i % 50 == 7 ? 0.0f : (float)(1 / sqrt(s)); /* some rows left out */
        winv[i] = i % 50 == 7 ? 0.0f : (float)(1 / sqrt(ws));
        row_len[i] = (uint32_t)(i * 7 % 11); /* ratings per row: 0..10 */
        ptr[i + 1] = ptr[i] + row_len[i];
    }
    reco_csr C = {.n_rows = 600, .ptr = ptr};
    const struct {
        const float *inv, *w;
        const reco_csr *C;
        uint32_t floor;
    } cases[] = {{inv, NULL, NULL, 0}, {winv, w, &C, 6}, {inv, NULL, &C, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        reco_item_factors fac = {Q, cases[c].inv, cases[c].w, 600, k, ld};
        reco_cosine_index ix;
        assert_int_equal(reco_cosine_index_build(&ix, &fac, cases[c].C, cases[c].floor, NULL),
                         RECO_OK);
        for (int i = 0; i < 600; i += 37) {
            reco_scored out[5];
            size_t n;
            assert_int_equal(reco_cosine_index_topn(&ix, &fac, (uint32_t)i, 5, NULL, out, &n, NULL),
                             RECO_OK);
            if (i % 50 == 7) {
                assert_int_equal(n, 0);
                continue;
            }
            assert_int_equal(n, 5);
            double best;
            int best_j = best_cosine(Q, ld, k, cases[c].inv, cases[c].w,
                                     cases[c].C ? row_len : NULL, cases[c].floor, i, &best);
            assert_int_equal(out[0].id, best_j);
            assert_float_equal(out[0].score, best, 1e-5);
            for (size_t j = 0; j < n; j++) {
                assert_int_not_equal(out[j].id, i);
                assert_int_not_equal(out[j].id % 50, 7);
                if (cases[c].C)
                    assert_true(row_len[out[j].id] >= cases[c].floor);
                if (j)
                    assert_true(out[j].score <= out[j - 1].score);
            }
        }
        reco_scored out[5];
        size_t n;
        assert_int_equal(reco_cosine_index_topn(&ix, &fac, 600, 5, NULL, out, &n, NULL), RECO_OK);
        assert_int_equal(n, 0);
        reco_cosine_index_clear(&ix);
    }
    reco_cosine_index_clear(NULL);
    free(Q);
}

/* Cholesky against the matrix it factors: L L^T = A, and the solve. */
static void test_cholesky(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof KS / sizeof *KS; t++) {
        uint32_t k = KS[t], ld;
        float *B = rows(k, k, &ld), *A = rows(k, k, &ld), *L = rows(k, k, &ld);
        /* A = B B^T + k I: well conditioned, positive definite. */
        for (uint32_t i = 0; i < k; i++)
            for (uint32_t j = 0; j < k; j++) {
                double v = i == j ? k : 0;
                for (uint32_t f = 0; f < k; f++)
                    v += (double)B[i * ld + f] * B[j * ld + f];
                A[i * ld + j] = (float)v;
            }
        memcpy(L, A, (size_t)k * ld * sizeof(float));
        assert_int_equal(reco_cholesky(L, k, ld), 0);
        for (uint32_t i = 0; i < k; i++)
            for (uint32_t j = 0; j <= i; j++) {
                double v = 0;
                for (uint32_t f = 0; f <= j; f++)
                    v += (double)L[i * ld + f] * L[j * ld + f];
                assert_float_equal(v, A[i * ld + j], 1e-4 * (fabs(A[i * ld + j]) + k));
            }
        float b[256], x[256];
        for (uint32_t i = 0; i < k; i++)
            b[i] = x[i] = unif();
        reco_cholesky_solve(L, k, ld, x);
        for (uint32_t i = 0; i < k; i++) {
            double v = 0;
            for (uint32_t j = 0; j < k; j++)
                v += (double)A[i * ld + j] * x[j];
            assert_float_equal(v, b[i], 1e-3);
        }
        /* Not positive definite: refused. */
        A[0] = -1;
        assert_int_not_equal(reco_cholesky(A, k, ld), 0);
        free(B);
        free(A);
        free(L);
    }
}

/* The pruned top-N against selecting over every product, on random factors
 * (directions spread over every dimension, so Cauchy-Schwarz prunes
 * little and the quantised pass does the work), with and without biases,
 * for factor counts that are and are not multiples of 4 and 16. */
static void test_factor_index_exact(void **state)
{
    (void)state;
    const uint32_t ks[] = {3, 16, 37, 64, 130};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        uint32_t k = ks[t], ld, n = 3000;
        float *Q = rows(n, k, &ld), *X = rows(20, k, &ld);
        float *b = malloc(n * sizeof *b), *scores = malloc(n * sizeof *scores);
        for (uint32_t i = 0; i < n; i++)
            b[i] = 0.3f * unif();
        for (int with_b = 0; with_b < 2; with_b++) {
            reco_factor_index ix;
            assert_int_equal(reco_factor_index_build(&ix, Q, with_b ? b : NULL, NULL, n, k, ld,
                                                     1.0f, NULL),
                             RECO_OK);
            assert_int_equal(ix.n_orders, 2);
            assert_non_null(ix.ord[0].q8);
            assert_non_null(ix.ord[1].q8);
            for (int u = 0; u < 20; u++) {
                /* Short and long user vectors: both orders are walked. */
                float xs[256];
                for (uint32_t f = 0; f < ld; f++)
                    xs[f] = X[(size_t)u * ld + f] * (u % 2 ? 30.0f : 0.05f);
                const float *x = xs;
                for (uint32_t i = 0; i < n; i++)
                    scores[i] = (with_b ? b[i] : 0) + reco_dot(Q + (size_t)i * ld, x, k);
                uint32_t ex[3] = {5, 77, 2999};
                reco_scored fast[50], full[50];
                size_t nf = reco_factor_index_topn(&ix, x, 0.0f, 50, ex, 3, fast);
                size_t ng = reco_topn_select(scores, n, ex, 3, 50, full);
                assert_int_equal(nf, ng);
                for (size_t j = 0; j < nf; j++) {
                    assert_int_equal(fast[j].id, full[j].id);
                    assert_true(fast[j].score == full[j].score);
                }
            }
            reco_factor_index_clear(&ix);
        }
        free(Q);
        free(X);
        free(b);
        free(scores);
    }
}

/* Every version of the quantised dot products gives the same integers as
 * a plain loop. */
static void test_q8_dots(void **state)
{
    (void)state;
    uint8_t g[64 * 40];
    int8_t x8[160];
    for (size_t j = 0; j < sizeof g; j++)
        g[j] = (uint8_t)(128 + (int)(unif() * 127.9)); /* 1..255 */
    for (size_t j = 0; j < sizeof x8; j++)
        x8[j] = (int8_t)((int)(unif() * 127));
    for (uint32_t nc = 1; nc <= 40; nc += 13) {
        int32_t a[16], b[16], ref[16];
        for (int r = 0; r < 16; r++) {
            ref[r] = 0;
            for (uint32_t f = 0; f < nc * 4; f++)
                ref[r] += (int32_t)g[(f / 4) * 64 + r * 4 + f % 4] * x8[f];
        }
        reco_q8_dots(g, nc, x8, a);
        reco_q8_dots_pick()(g, nc, x8, b);
        assert_memory_equal(a, ref, sizeof ref);
        assert_memory_equal(b, ref, sizeof ref);
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
            reco_q8_dots_vnni(g, nc, x8, b);
            assert_memory_equal(b, ref, sizeof ref);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_and_rows_dot),
        cmocka_unit_test(test_vecmat_and_rotation),
        cmocka_unit_test(test_gram),
        cmocka_unit_test(test_cosine_index),
        cmocka_unit_test(test_cholesky),
        cmocka_unit_test(test_factor_index_exact),
        cmocka_unit_test(test_q8_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
