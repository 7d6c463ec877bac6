/* The truncated SVD (reco_tsvd_compute, reco_sparse_op) and the "svd"
 * recommender: known singular triplets, agreement with LAPACK's dense SVD,
 * the usermean mode against its dense recipe, fold-in, determinism, top-N,
 * similar products, parameter checks and numerical failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lapacke.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/model.h"
#include "reco/svd.h"
#include "testutil.h"

/* ---- helpers ---- */

static double rnd(uint64_t *s) /* uniform [0, 1) */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* m x k matrix with orthonormal columns (column-major), from the QR of a
 * random matrix. */
static double *orthonormal(int m, int k, uint64_t seed)
{
    double *q = malloc((size_t)m * k * sizeof *q), tau[64];
    for (int i = 0; i < m * k; i++)
        q[i] = rnd(&seed) - 0.5;
    assert_int_equal(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, k, q, m, tau), 0);
    assert_int_equal(LAPACKE_dorgqr(LAPACK_COL_MAJOR, m, k, k, q, m, tau), 0);
    return q;
}

/* A dense row-major matrix as an operator (no gram callback, so
 * reco_tsvd_compute takes its matvec/rmatvec path). */
typedef struct dense {
    int m, n;
    const double *a;
} dense;

static void dense_mv(const void *ctx, const double *x, double *y)
{
    const dense *d = ctx;
    for (int r = 0; r < d->m; r++) {
        double s = 0;
        for (int c = 0; c < d->n; c++)
            s += d->a[(size_t)r * d->n + c] * x[c];
        y[r] = s;
    }
}

static void dense_rmv(const void *ctx, const double *x, double *y)
{
    const dense *d = ctx;
    for (int c = 0; c < d->n; c++) {
        double s = 0;
        for (int r = 0; r < d->m; r++)
            s += d->a[(size_t)r * d->n + c] * x[r];
        y[c] = s;
    }
}

static reco_linop dense_op(const dense *d)
{
    reco_linop A = {(uint32_t)d->m, (uint32_t)d->n, dense_mv, dense_rmv, NULL, d};
    return A;
}

/* CSR and CSC of the nonzeros of a dense row-major matrix. */
static void csr_pair(const double *a, int m, int n, reco_csr *rows, reco_csr *cols)
{
    size_t cap = (size_t)m * n, nnz = 0;
    uint32_t *ri = malloc(cap * sizeof *ri), *ci = malloc(cap * sizeof *ci);
    float *v = malloc(cap * sizeof *v);
    for (int r = 0; r < m; r++)
        for (int c = 0; c < n; c++)
            if (a[(size_t)r * n + c] != 0) {
                ri[nnz] = (uint32_t)r;
                ci[nnz] = (uint32_t)c;
                v[nnz++] = (float)a[(size_t)r * n + c];
            }
    reco_error err;
    if (reco_csr_from_triplets((uint32_t)m, (uint32_t)n, nnz, ri, ci, v, NULL, rows, &err) ||
        reco_csr_transpose(rows, cols, &err))
        fail_msg("%s", err.msg);
    free(ri);
    free(ci);
    free(v);
}

/* Dense SVD by LAPACK: s[min], u (m x min), vt (min x n), column-major. */
static void lapack_svd(const double *a_rowmajor, int m, int n, double *s, double *u, double *vt)
{
    int mn = m < n ? m : n;
    double *a = malloc((size_t)m * n * sizeof *a), *superb = malloc((size_t)mn * sizeof *superb);
    for (int r = 0; r < m; r++)
        for (int c = 0; c < n; c++)
            a[(size_t)c * m + r] = a_rowmajor[(size_t)r * n + c];
    assert_int_equal(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', m, n, a, m, s, u, m, vt, mn,
                                    superb),
                     0);
    free(a);
    free(superb);
}

static double col_dot(const double *x, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/* Checks t against reference singular values s_ref and vectors u_ref
 * (column-major, ld m) and v_ref (column j at v_ref + j * ldv_step, entry
 * c at c * ldv_stride): values to tol, |cos| of vectors to 1 - tol, and
 * orthonormal columns. */
static void check_triplets(const reco_tsvd *t, const double *s_ref, const double *u_ref,
                           const double *vt_ref, int ld_vt, double tol)
{
    uint32_t m = t->m, n = t->n;
    double *vr = malloc(n * sizeof *vr);
    for (int j = 0; j < t->k; j++) {
        assert_float_equal(t->s[j], s_ref[j], tol * (1 + s_ref[0]));
        if (j > 0)
            assert_true(t->s[j] <= t->s[j - 1]);
        double cu = col_dot(t->u + (size_t)j * m, u_ref + (size_t)j * m, m);
        for (uint32_t c = 0; c < n; c++)
            vr[c] = vt_ref[(size_t)c * ld_vt + j];
        double cv = col_dot(t->v + (size_t)j * n, vr, n);
        assert_true(fabs(fabs(cu) - 1) < tol);
        assert_true(fabs(fabs(cv) - 1) < tol);
        /* The two sides must agree in sign: A v = s u. */
        assert_true(cu * cv > 0);
        for (int l = 0; l <= j; l++) {
            double uu = col_dot(t->u + (size_t)j * m, t->u + (size_t)l * m, m);
            double vv = col_dot(t->v + (size_t)j * n, t->v + (size_t)l * n, n);
            assert_float_equal(uu, l == j ? 1.0 : 0.0, 1e-8);
            assert_float_equal(vv, l == j ? 1.0 : 0.0, 1e-8);
        }
    }
    free(vr);
}

/* A dataset of n_users x n_items with each rating present with probability
 * density (and every user and item given at least one), ratings 1..5. IDs
 * are interned first so indices are u and i. extra_items IDs get no
 * ratings (kept with keep_ids). */
static reco_dataset *random_dataset(uint32_t nu, uint32_t ni, double density, uint64_t seed,
                                    uint32_t extra_items)
{
    reco_ratings *r = reco_ratings_new(NULL, NULL);
    assert_non_null(r);
    char key[32];
    uint32_t id;
    for (uint32_t u = 0; u < nu; u++) {
        snprintf(key, sizeof key, "u%u", u);
        assert_int_equal(reco_idmap_intern(r->users, key, strlen(key), &id), RECO_OK);
    }
    for (uint32_t i = 0; i < ni + extra_items; i++) {
        snprintf(key, sizeof key, "i%u", i);
        assert_int_equal(reco_idmap_intern(r->items, key, strlen(key), &id), RECO_OK);
    }
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t i = 0; i < ni; i++)
            if (rnd(&seed) < density || i == u % ni || u == i % nu)
                assert_int_equal(reco_ratings_push(r, u, i, (float)(1 + (int)(rnd(&seed) * 5)),
                                                   0, NULL),
                                 RECO_OK);
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *ds = NULL;
    reco_error err;
    if (reco_dataset_build(r, &bo, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static reco_model *fit_svd(const reco_dataset *ds, const char *const *kv)
{
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("svd", &m, &err), RECO_OK);
    for (; kv && kv[0]; kv += 2)
        if (reco_model_set_param(m, kv[0], kv[1], &err))
            fail_msg("%s=%s: %s", kv[0], kv[1], err.msg);
    if (reco_model_fit(m, ds, NULL, &err))
        fail_msg("fit: %s", err.msg);
    return m;
}

/* ---- the generic truncated SVD ---- */

/* A = U S Vᵀ with known orthonormal U, V and distinct singular values,
 * rank 6: tall through the sparse operator (Gram AᵀA), wide through the
 * dense callbacks (Gram AAᵀ, the transposed path). */
static void test_known_rank(void **state)
{
    (void)state;
    const int m = 30, n = 20, r = 6;
    const double s[6] = {9, 7, 5, 3, 2, 1};
    double *u = orthonormal(m, r, 1), *v = orthonormal(n, r, 2);
    double *a = calloc((size_t)m * n, sizeof *a), *at = calloc((size_t)m * n, sizeof *at);
    for (int i = 0; i < m; i++)
        for (int c = 0; c < n; c++) {
            double x = 0;
            for (int j = 0; j < r; j++)
                x += u[(size_t)j * m + i] * s[j] * v[(size_t)j * n + c];
            a[(size_t)i * n + c] = x;
            at[(size_t)c * m + i] = x;
        }
    /* v as a "Vᵀ" with leading dimension r: vt[c * r + j] = V[c][j] */
    double *vt = malloc((size_t)n * r * sizeof *vt), *ut = malloc((size_t)m * r * sizeof *ut);
    for (int j = 0; j < r; j++) {
        for (int c = 0; c < n; c++)
            vt[(size_t)c * r + j] = v[(size_t)j * n + c];
        for (int i = 0; i < m; i++)
            ut[(size_t)i * r + j] = u[(size_t)j * m + i];
    }

    reco_csr rows, cols;
    csr_pair(a, m, n, &rows, &cols);
    reco_sparse_op op = {.rows = &rows, .cols = &cols};
    reco_linop A;
    reco_error err;
    assert_int_equal(reco_sparse_op_bind(&op, &A, &err), RECO_OK);
    reco_tsvd_params p;
    reco_tsvd_params_default(&p);
    for (int k = 3; k <= 6; k += 3) {
        p.k = k;
        reco_tsvd t;
        if (reco_tsvd_compute(&A, &p, &t, &err))
            fail_msg("%s", err.msg);
        assert_true(t.gram_cols);
        check_triplets(&t, s, u, vt, r, 1e-4);
        reco_tsvd_clear(&t);
    }
    /* The transpose: Aᵀ = V S Uᵀ. */
    dense dt = {n, m, at};
    reco_linop At = dense_op(&dt);
    p.k = 5;
    reco_tsvd t;
    if (reco_tsvd_compute(&At, &p, &t, &err))
        fail_msg("%s", err.msg);
    assert_false(t.gram_cols);
    check_triplets(&t, s, v, ut, r, 1e-4);
    reco_tsvd_clear(&t);
    reco_tsvd_clear(NULL);

    reco_sparse_op_clear(&op);
    reco_sparse_op_clear(NULL);
    reco_csr_clear(&rows);
    reco_csr_clear(&cols);

    /* Singular values spanning five orders of magnitude: the projection
     * then takes its QR route (s_k < 1e-3 s_1). */
    const double s2[3] = {5, 2, 1e-4};
    for (int i = 0; i < m; i++)
        for (int c = 0; c < n; c++) {
            double x = 0;
            for (int j = 0; j < 3; j++)
                x += u[(size_t)j * m + i] * s2[j] * v[(size_t)j * n + c];
            a[(size_t)i * n + c] = x;
        }
    dense d2 = {m, n, a};
    reco_linop A2 = dense_op(&d2);
    p.k = 3;
    if (reco_tsvd_compute(&A2, &p, &t, &err))
        fail_msg("%s", err.msg);
    check_triplets(&t, s2, u, vt, r, 1e-4);
    assert_float_equal(t.s[2], 1e-4, 1e-9);
    reco_tsvd_clear(&t);

    free(u);
    free(v);
    free(a);
    free(at);
    free(vt);
    free(ut);
}

/* A random sparse m x n matrix where some rows have a single entry and
 * some none (the shapes of rating data, and what the fused Gram product
 * turns into a diagonal); values rounded to float as stored. */
static double *sparse_matrix(int m, int n, double density, uint64_t seed)
{
    double *a = calloc((size_t)m * n, sizeof *a);
    for (int r = 0; r < m; r++) {
        if (r % 7 == 1)
            continue;
        if (r % 3 == 0) {
            a[(size_t)r * n + (int)(rnd(&seed) * n)] = (float)(1 + 4 * rnd(&seed));
            continue;
        }
        for (int c = 0; c < n; c++)
            if (rnd(&seed) < density)
                a[(size_t)r * n + c] = (float)(1 + 4 * rnd(&seed));
    }
    return a;
}

/* A tall matrix with more than 2^21 rows and singular values five orders
 * apart: the projection's QR route in several row blocks (see TSQR_ROWS
 * in svd.c). U is made orthonormal by Gram-Schmidt here, not by LAPACK,
 * whose QR is what is being checked. */
typedef struct tall {
    uint32_t m;
    double s[3], v[4 * 3]; /* v column-major 4 x 3 */
    double *u;             /* m x 3 column-major */
} tall;

static void dense_tall_mv(const void *ctx, const double *x, double *y)
{
    const tall *t = ctx;
    double c[3];
    for (int j = 0; j < 3; j++) {
        c[j] = 0;
        for (int l = 0; l < 4; l++)
            c[j] += t->v[j * 4 + l] * x[l];
        c[j] *= t->s[j];
    }
    for (uint32_t i = 0; i < t->m; i++)
        y[i] = c[0] * t->u[i] + c[1] * t->u[(size_t)t->m + i] + c[2] * t->u[2 * (size_t)t->m + i];
}

static void dense_tall_rmv(const void *ctx, const double *x, double *y)
{
    const tall *t = ctx;
    double c[3];
    for (int j = 0; j < 3; j++)
        c[j] = col_dot(t->u + (size_t)j * t->m, x, t->m);
    for (int l = 0; l < 4; l++) {
        y[l] = 0;
        for (int j = 0; j < 3; j++)
            y[l] += t->v[j * 4 + l] * t->s[j] * c[j];
    }
}

static void test_tall_blocks(void **state)
{
    (void)state;
    tall t = {.m = (1u << 21) + 3, .s = {5, 2, 1e-4}};
    size_t m = t.m;
    t.u = malloc(3 * m * sizeof *t.u);
    uint64_t seed = 23;
    for (size_t i = 0; i < 3 * m; i++)
        t.u[i] = rnd(&seed) - 0.5;
    for (int pass = 0; pass < 2; pass++) /* Gram-Schmidt, twice for accuracy */
        for (int j = 0; j < 3; j++) {
            double *uj = t.u + j * m;
            for (int l = 0; l < j; l++) {
                double d = col_dot(uj, t.u + l * m, m);
                for (size_t i = 0; i < m; i++)
                    uj[i] -= d * t.u[l * m + i];
            }
            double nn = sqrt(col_dot(uj, uj, m));
            for (size_t i = 0; i < m; i++)
                uj[i] /= nn;
        }
    double *v = orthonormal(4, 3, 9);
    memcpy(t.v, v, sizeof t.v);
    reco_linop A = {t.m, 4, dense_tall_mv, dense_tall_rmv, NULL, &t};
    reco_tsvd_params p;
    reco_tsvd_params_default(&p);
    p.k = 3;
    reco_tsvd r;
    reco_error err;
    if (reco_tsvd_compute(&A, &p, &r, &err))
        fail_msg("%s", err.msg);
    for (int j = 0; j < 3; j++) {
        assert_float_equal(r.s[j], t.s[j], 1e-8);
        double cu = col_dot(r.u + (size_t)j * m, t.u + (size_t)j * m, m);
        double cv = col_dot(r.v + (size_t)j * 4, t.v + j * 4, 4);
        assert_true(fabs(fabs(cu) - 1) < 1e-6);
        assert_true(fabs(fabs(cv) - 1) < 1e-6);
        assert_true(cu * cv > 0);
        for (int l = 0; l < j; l++)
            assert_true(fabs(col_dot(r.u + (size_t)j * m, r.u + (size_t)l * m, m)) < 1e-8);
    }
    reco_tsvd_clear(&r);
    free(t.u);
    free(v);
}

/* Random sparse matrices (square-ish, tall and wide, so both Gram sides
 * and both the fused and the plain Gram products run), alone and plus a
 * rank-one term a·bᵀ (which makes them dense), against LAPACKE_dgesvd for
 * the top k; and the three products against dense arithmetic. */
static void test_against_lapack(void **state)
{
    (void)state;
    const int shapes[3][2] = {{60, 40}, {240, 40}, {40, 240}};
    const int k = 8;
    reco_error err;
    for (int sh = 0; sh < 3; sh++) {
        const int m = shapes[sh][0], n = shapes[sh][1], mn = m < n ? m : n;
        uint64_t seed = 11 + sh;
        double *a = sparse_matrix(m, n, 0.3, seed);
        double *d = malloc((size_t)m * n * sizeof *d), *ra = malloc(m * sizeof *ra),
               *rb = malloc(n * sizeof *rb);
        for (int i = 0; i < m; i++)
            ra[i] = rnd(&seed) - 2;
        for (int c = 0; c < n; c++)
            rb[c] = rnd(&seed);
        reco_csr rows, cols;
        csr_pair(a, m, n, &rows, &cols);
        double *s = malloc(mn * sizeof *s), *u = malloc((size_t)m * mn * sizeof *u),
               *vt = malloc((size_t)mn * n * sizeof *vt);
        int mx = m > n ? m : n;
        double *x = malloc(n * sizeof *x), *y = malloc(m * sizeof *y), *z = malloc(n * sizeof *z),
               *g = malloc(mx * sizeof *g), *tmp = malloc(mx * sizeof *tmp);
        for (int rank_one = 0; rank_one <= 1; rank_one++) {
            for (int i = 0; i < m; i++)
                for (int c = 0; c < n; c++)
                    d[(size_t)i * n + c] = a[(size_t)i * n + c] + (rank_one ? ra[i] * rb[c] : 0);
            lapack_svd(d, m, n, s, u, vt);
            reco_sparse_op op = {.rows = &rows, .cols = &cols};
            if (rank_one) {
                op.a = ra;
                op.b = rb;
            }
            reco_linop A;
            assert_int_equal(reco_sparse_op_bind(&op, &A, &err), RECO_OK);
            /* A x, Aᵀ y, and both Gram products */
            for (int c = 0; c < n; c++)
                x[c] = rnd(&seed) - 0.5;
            A.matvec(A.ctx, x, y);
            for (int i = 0; i < m; i++) {
                double e = 0;
                for (int c = 0; c < n; c++)
                    e += d[(size_t)i * n + c] * x[c];
                assert_float_equal(y[i], e, 1e-9 * (1 + fabs(e)));
            }
            A.rmatvec(A.ctx, y, z);
            for (int c = 0; c < n; c++) {
                double e = 0;
                for (int i = 0; i < m; i++)
                    e += d[(size_t)i * n + c] * y[i];
                assert_float_equal(z[c], e, 1e-9 * (1 + fabs(e)));
            }
            A.gram(A.ctx, true, x, g, tmp); /* AᵀA x = Aᵀ(A x) = z */
            for (int c = 0; c < n; c++)
                assert_float_equal(g[c], z[c], 1e-9 * (1 + fabs(z[c])));
            A.gram(A.ctx, false, y, g, tmp); /* AAᵀ y = A(Aᵀ y) */
            A.matvec(A.ctx, z, tmp);
            for (int i = 0; i < m; i++)
                assert_float_equal(g[i], tmp[i], 1e-9 * (1 + fabs(tmp[i])));

            reco_tsvd_params p;
            reco_tsvd_params_default(&p);
            p.k = k;
            reco_tsvd t;
            if (reco_tsvd_compute(&A, &p, &t, &err))
                fail_msg("%s", err.msg);
            assert_true(t.gram_cols == (n <= m));
            check_triplets(&t, s, u, vt, mn, 1e-5);
            reco_tsvd_clear(&t);
            reco_sparse_op_clear(&op);
        }
        reco_csr_clear(&rows);
        reco_csr_clear(&cols);
        free(a);
        free(d);
        free(ra);
        free(rb);
        free(s);
        free(u);
        free(vt);
        free(x);
        free(y);
        free(z);
        free(g);
        free(tmp);
    }
}

static void nan_mv(const void *ctx, const double *x, double *y)
{
    dense_mv(ctx, x, y);
    y[0] = NAN;
}

/* Failures come back as RECO_ERR_NUMERIC with a message, never an exit. */
static void test_numeric_failures(void **state)
{
    (void)state;
    const int m = 60, n = 40;
    uint64_t seed = 5;
    double *a = malloc((size_t)m * n * sizeof *a);
    for (int i = 0; i < m * n; i++)
        a[i] = rnd(&seed);
    dense d = {m, n, a};
    reco_linop A = dense_op(&d);
    reco_tsvd_params p;
    reco_tsvd_params_default(&p);
    p.k = 10;
    p.maxiter = 1;
    reco_tsvd t;
    reco_error err;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "did not converge"));
    assert_null(t.s);
    /* The next run after an abandoned one starts cleanly. */
    p.maxiter = 0;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_OK);
    reco_tsvd_clear(&t);
    A.matvec = nan_mv;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "NaN"));
    A.matvec = dense_mv;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_OK);
    reco_tsvd_clear(&t);

    /* Bad parameters of the generic call. */
    p.k = 40;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "svd.k = 40 must be below min(rows, columns) = 40"));
    p.k = 10;
    p.ncv = 10;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "svd.ncv"));
    p.ncv = 0;
    p.tol = -1;
    assert_int_equal(reco_tsvd_compute(&A, &p, &t, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "svd.tol"));
    free(a);
}

/* ---- the recommender ---- */

/* notebook equals the dense recipe: D = R0 - m·1ᵀ (m_u the user's mean
 * rating), its rank-k SVD, prediction U_k Σ_k V_kᵀ + m_u; usermean the same
 * with the mean subtracted on the rated entries only. */
static void test_usermean_dense(void **state)
{
    (void)state;
    const uint32_t nu = 9, ni = 7;
    const int k = 3;
    reco_dataset *ds = random_dataset(nu, ni, 0.45, 21, 0);
    const reco_csr *R = &ds->by_user;
    double d[9 * 7] = {0}, mean[9];
    for (uint32_t u = 0; u < nu; u++) {
        double s = 0;
        for (uint64_t e = R->ptr[u]; e < R->ptr[u + 1]; e++) {
            d[u * ni + R->idx[e]] = R->val[e];
            s += R->val[e];
        }
        mean[u] = s / reco_csr_row_len(R, u);
    }
    for (int variant = 0; variant < 2; variant++) {
    double dd[9 * 7];
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t i = 0; i < ni; i++) {
            bool rated = reco_csr_find(R, u, i) >= 0;
            dd[u * ni + i] = variant == 0 || rated ? d[u * ni + i] - mean[u] : 0;
        }
    double s[7], u[9 * 7], vt[7 * 7];
    lapack_svd(dd, (int)nu, (int)ni, s, u, vt);
    const char *kv[] = {"mode", variant == 0 ? "notebook" : "usermean", "k", "3", NULL};
    reco_model *m = fit_svd(ds, kv);
    const reco_svd_model *st = reco_svd_model_of(m);
    assert_non_null(st);
    assert_int_equal(st->mode, variant == 0 ? RECO_SVD_NOTEBOOK : RECO_SVD_USERMEAN);
    for (int j = 0; j < k; j++)
        assert_float_equal(st->sigma[j], s[j], 1e-4);
    for (uint32_t uu = 0; uu < nu; uu++)
        for (uint32_t i = 0; i < ni; i++) {
            double e = mean[uu];
            for (int j = 0; j < k; j++)
                e += u[(size_t)j * nu + uu] * s[j] * vt[(size_t)i * ni + j];
            float got = m->ops->predict(m->state, ds, &m->baseline, uu, i);
            assert_float_equal(got, e, 1e-4);
            double clamped = e < m->rating_lo ? m->rating_lo : e > m->rating_hi ? m->rating_hi : e;
            assert_float_equal(reco_model_predict(m, uu, i), clamped, 1e-4);
        }
    reco_model_free(m);
    }
    reco_dataset_free(ds);
}

/* Scoring a known user's unchanged row by fold-in (updated, or as an
 * unknown user) gives the trained scores, in every mode; and scores equal
 * predict(). */
static void test_fold_in(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(40, 30, 0.3, 8, 2);
    uint32_t ni = reco_dataset_n_items(ds);
    const char *modes[] = {"baseline", "usermean", "pure", "notebook"};
    float *s1 = malloc(ni * sizeof *s1), *s2 = malloc(ni * sizeof *s2);
    for (int mo = 0; mo < 4; mo++) {
        const char *kv[] = {"mode", modes[mo], "k", "6", NULL};
        reco_model *m = fit_svd(ds, kv);
        void *scratch = malloc(m->ops->scratch_size(m->state, ds));
        reco_error err;
        for (uint32_t u = 0; u < 40; u += 7) {
            reco_profile p = reco_profile_of_user(ds, u);
            assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, s1, scratch, &err),
                             RECO_OK);
            for (uint32_t i = 0; i < ni; i++) {
                if (i >= 30) { /* products without ratings: no opinion */
                    assert_true(s1[i] == -INFINITY);
                    continue;
                }
                assert_float_equal(s1[i], m->ops->predict(m->state, ds, &m->baseline, u, i),
                                   1e-4);
            }
            p.updated = true;
            assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, s2, scratch, &err),
                             RECO_OK);
            for (uint32_t i = 0; i < 30; i++)
                assert_float_equal(s2[i], s1[i], 2e-4);
            p.user = RECO_NO_USER;
            assert_int_equal(m->ops->score(m->state, ds, &m->baseline, &p, s2, scratch, &err),
                             RECO_OK);
            for (uint32_t i = 0; i < 30; i++)
                assert_float_equal(s2[i], s1[i], 2e-4);
        }
        free(scratch);
        reco_model_free(m);
    }
    free(s1);
    free(s2);
    reco_dataset_free(ds);
}

/* The sparse products round the same on any number of threads (per-row
 * sums, dots summed per fixed block, the fused Gram product's fixed
 * partitions), so the SVD is bit-identical on 1, 2 and 3 threads; for
 * both Gram sides, with a rank-one term. */
static void test_threads_bitwise(void **state)
{
    (void)state;
    const int shapes[2][2] = {{600, 100}, {100, 600}};
    reco_error err;
    for (int sh = 0; sh < 2; sh++) {
        const int m = shapes[sh][0], n = shapes[sh][1];
        uint64_t seed = 17;
        double *a = sparse_matrix(m, n, 0.1, seed);
        double *ra = malloc(m * sizeof *ra), *rb = malloc(n * sizeof *rb);
        for (int i = 0; i < m; i++)
            ra[i] = rnd(&seed) - 0.5;
        for (int c = 0; c < n; c++)
            rb[c] = rnd(&seed);
        reco_csr rows, cols;
        csr_pair(a, m, n, &rows, &cols);
        reco_tsvd t[3];
        for (int th = 0; th < 3; th++) {
            reco_sparse_op op = {.rows = &rows, .cols = &cols, .a = ra, .b = rb,
                                 .threads = th + 1, .min_parallel_work = 1};
            reco_linop A;
            assert_int_equal(reco_sparse_op_bind(&op, &A, &err), RECO_OK);
            reco_tsvd_params p;
            reco_tsvd_params_default(&p);
            p.k = 12;
            if (reco_tsvd_compute(&A, &p, &t[th], &err))
                fail_msg("%s", err.msg);
            reco_sparse_op_clear(&op);
        }
        for (int th = 1; th < 3; th++) {
            assert_memory_equal(t[0].s, t[th].s, 12 * sizeof(double));
            assert_memory_equal(t[0].u, t[th].u, (size_t)m * 12 * sizeof(double));
            assert_memory_equal(t[0].v, t[th].v, (size_t)n * 12 * sizeof(double));
        }
        for (int th = 0; th < 3; th++)
            reco_tsvd_clear(&t[th]);
        reco_csr_clear(&rows);
        reco_csr_clear(&cols);
        free(a);
        free(ra);
        free(rb);
    }
}

/* The same seed gives bit-identical models. */
static void test_deterministic(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(300, 100, 0.1, 99, 0);
    const char *kv1[] = {"k", "10", "seed", "7", "threads", "1", NULL};
    const char *kv2[] = {"k", "10", "seed", "7", "threads", "2", NULL};
    reco_model *a = fit_svd(ds, kv1), *b = fit_svd(ds, kv1), *c = fit_svd(ds, kv2);
    const reco_svd_model *sa = reco_svd_model_of(a), *sb = reco_svd_model_of(b),
                         *sc = reco_svd_model_of(c);
    size_t nu = reco_dataset_n_users(ds), ni = reco_dataset_n_items(ds);
    for (int r = 0; r < 2; r++) {
        const reco_svd_model *o = r ? sc : sb;
        assert_memory_equal(sa->sigma, o->sigma, 10 * sizeof(float));
        assert_memory_equal(sa->user_f, o->user_f, nu * 10 * sizeof(float));
        assert_memory_equal(sa->item_f, o->item_f, ni * 10 * sizeof(float));
    }
    reco_model_free(a);
    reco_model_free(b);
    reco_model_free(c);
    reco_dataset_free(ds);
}

/* Recommendations never include a product the profile rated, for known
 * users, folded-in users and users never seen. */
static void test_topn_excludes_rated(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(60, 50, 0.25, 4, 3);
    uint32_t ni = reco_dataset_n_items(ds);
    const char *modes[] = {"baseline", "usermean", "pure", "notebook"};
    reco_scored *out = malloc(ni * sizeof *out);
    for (int mo = 0; mo < 4; mo++) {
        const char *kv[] = {"mode", modes[mo], "k", "5", NULL};
        reco_model *m = fit_svd(ds, kv);
        reco_error err;
        for (uint32_t u = 0; u < 60; u++) {
            for (int variant = 0; variant < 3; variant++) {
                reco_profile p = reco_profile_of_user(ds, u);
                p.updated = variant >= 1;
                if (variant == 2)
                    p.user = RECO_NO_USER;
                size_t n = 0;
                bool cold = true;
                assert_int_equal(reco_model_recommend(m, &p, ni, true, out, &n, &cold, NULL,
                                                      &err),
                                 RECO_OK);
                assert_false(cold);
                /* every product with ratings that the user did not rate */
                assert_int_equal(n, 50 - p.n);
                for (size_t j = 0; j < n; j++) {
                    assert_true(out[j].id < 50);
                    for (uint32_t e = 0; e < p.n; e++)
                        assert_int_not_equal(out[j].id, p.items[e]);
                    if (j)
                        assert_true(out[j].score <= out[j - 1].score);
                }
            }
        }
        reco_model_free(m);
    }
    free(out);
    reco_dataset_free(ds);
}

/* The factors source of similar products: cosines in the V·Σ space, best
 * first, never the item itself. */
static void test_similar(void **state)
{
    (void)state;
    reco_dataset *ds = random_dataset(50, 40, 0.3, 6, 1);
    const char *kv[] = {"k", "4", NULL};
    reco_model *m = fit_svd(ds, kv);
    const reco_svd_model *st = reco_svd_model_of(m);
    reco_scored out[10];
    size_t n;
    reco_error err;
    for (uint32_t i = 0; i < 40; i += 5) {
        assert_int_equal(
            reco_model_similar_source(m, RECO_SIMILAR_FACTORS, i, 10, out, &n, NULL, &err),
            RECO_OK);
        assert_int_equal(n, 10);
        for (size_t j = 0; j < n; j++) {
            assert_int_not_equal(out[j].id, i);
            assert_true(out[j].id < 40);
            if (j)
                assert_true(out[j].score <= out[j - 1].score);
            double dot = 0, ni2 = 0, nj2 = 0;
            for (uint32_t l = 0; l < st->k; l++) {
                double a = st->item_f[i * st->k + l] * st->sigma[l];
                double b = st->item_f[out[j].id * st->k + l] * st->sigma[l];
                dot += a * b;
                ni2 += a * a;
                nj2 += b * b;
            }
            assert_float_equal(out[j].score, dot / sqrt(ni2 * nj2), 1e-4);
        }
    }
    /* A product without ratings has no factors (the chain still lists the
     * popular ones for it); an unknown one is an error. */
    assert_int_equal(
        reco_model_similar_source(m, RECO_SIMILAR_FACTORS, 40, 10, out, &n, NULL, &err), RECO_OK);
    assert_int_equal(n, 0);
    reco_similar full[10];
    assert_int_equal(reco_model_similar(m, 40, 10, full, &n, NULL, &err), RECO_OK);
    assert_int_equal(n, 10);
    for (size_t j = 0; j < n; j++)
        assert_int_equal(full[j].source, RECO_SIMILAR_POPULAR);
    assert_int_equal(reco_model_similar(m, 41, 10, full, &n, NULL, &err), RECO_ERR_NOT_FOUND);
    reco_model_free(m);
    reco_dataset_free(ds);
}

static void expect_param_error(reco_model *m, const char *key, const char *value,
                               const char *needle)
{
    reco_error err;
    assert_int_equal(reco_model_set_param(m, key, value, &err), RECO_ERR_INVALID);
    if (!strstr(err.msg, needle))
        fail_msg("%s=%s: message \"%s\" lacks \"%s\"", key, value, err.msg, needle);
}

static void test_bad_params(void **state)
{
    (void)state;
    reco_model *m;
    reco_error err;
    assert_int_equal(reco_model_new("svd", &m, &err), RECO_OK);
    assert_null(reco_svd_model_of(m)); /* not fitted */
    char buf[256];
    m->ops->params_format(m->params, buf, sizeof buf);
    assert_non_null(strstr(buf, "k=20 mode=baseline"));
    expect_param_error(m, "k", "0", "svd.k");
    expect_param_error(m, "k", "many", "svd.k");
    expect_param_error(m, "mode", "fancy", "svd.mode");
    expect_param_error(m, "tol", "-1", "svd.tol");
    expect_param_error(m, "maxiter", "-3", "svd.maxiter");
    expect_param_error(m, "seed", "-1", "svd.seed");
    expect_param_error(m, "threads", "x", "svd.threads");
    expect_param_error(m, "bogus", "1", "svd.bogus");

    /* Bounds that need the data are checked by fit. */
    reco_dataset *ds = random_dataset(12, 6, 0.5, 3, 0);
    assert_int_equal(reco_model_set_param(m, "k", "6", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "svd.k = 6 must be below min(n_users, n_items) = 6"));
    assert_int_equal(reco_model_set_param(m, "k", "3", &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "ncv", "3", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "svd.ncv"));
    assert_int_equal(reco_model_set_param(m, "ncv", "0", &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    assert_non_null(reco_svd_model_of(m));
    reco_model_free(m);

    /* Not an svd model. */
    assert_int_equal(reco_model_new("baseline", &m, &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    assert_null(reco_svd_model_of(m));
    reco_model_free(m);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_rank),
        cmocka_unit_test(test_tall_blocks),
        cmocka_unit_test(test_against_lapack),
        cmocka_unit_test(test_numeric_failures),
        cmocka_unit_test(test_usermean_dense),
        cmocka_unit_test(test_fold_in),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_topn_excludes_rated),
        cmocka_unit_test(test_similar),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
