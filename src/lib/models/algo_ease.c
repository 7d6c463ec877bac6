/* "ease": the embarrassingly shallow autoencoder (Steck 2019). Fitting
 * counts X'X from the sparse ratings (exact integer counts, the same for
 * any thread count), refuses before allocating when the dense n x n
 * matrices would exceed ease.max_memory, inverts X'X + lambda I by Cholesky
 * (LAPACK) and forms B in place; scoring sums the rows of B of a user's
 * products. See include/reco/ease.h for the model and its guarantees. */
#include "reco/clock.h"
#include "reco/thousands.h"
#include "reco/ease.h"

#include <ctype.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem.h"
#include "numfmt.h"

/* ---- parameters ---- */

void reco_ease_params_default(reco_ease_params *p)
{
    p->lambda = 500;
    p->min_rating = -INFINITY;
    p->max_memory = RECO_EASE_DEFAULT_MAX_MEMORY;
    p->precision = RECO_EASE_FLOAT;
    p->threads = 0;
}

static void ease_default(void *p) { reco_ease_params_default(p); }

reco_status reco_ease_parse_bytes(const char *what, const char *text, uint64_t *out,
                                  reco_error *err)
{
    const char *s = text;
    char *end;
    if ((!isdigit((unsigned char)*s) && *s != '.') || strpbrk(s, "xX"))
        goto bad; /* no sign, no "inf", no hexadecimal */
    errno = 0;
    double v = reco_strtod_c(s, &end);
    if (errno || end == s || !isfinite(v))
        goto bad;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    case 'p': case 'P': mult = 1024.0 * 1024 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mult > 1 && *end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        goto bad;
    v *= mult;
    if (!(v >= 1 && v <= (double)RECO_EASE_MAX_MEMORY_LIMIT))
        goto bad;
    *out = (uint64_t)v;
    return RECO_OK;
bad:
    return reco_error_set(err, RECO_ERR_INVALID,
                          "%s wants a size from 1 byte to 1P (bytes, or with a suffix K, M, G, "
                          "T or P: powers of 1024, e.g. 512M or 4G), got \"%s\"",
                          what, text);
}

static reco_status ease_set(void *pp, const char *key, const char *value, reco_error *err)
{
    reco_ease_params *p = pp;
    if (!strcmp(key, "lambda")) {
        double v;
        if (reco_param_double("ease", key, value, 0, 1e9, &v, NULL) || !(v > 0))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "ease.lambda wants a number in (0, 1e9], got \"%s\"", value);
        p->lambda = v;
        return RECO_OK;
    }
    if (!strcmp(key, "min_rating")) {
        if (!strcmp(value, "none")) {
            p->min_rating = -INFINITY;
            return RECO_OK;
        }
        double v;
        if (reco_param_double("ease", key, value, -1e9, 1e9, &v, NULL))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "ease.min_rating wants \"none\" or a number from -1e9 to 1e9, "
                                  "got \"%s\"",
                                  value);
        p->min_rating = v;
        return RECO_OK;
    }
    if (!strcmp(key, "max_memory"))
        return reco_ease_parse_bytes("ease.max_memory", value, &p->max_memory, err);
    if (!strcmp(key, "precision")) {
        if (!strcmp(value, "float"))
            p->precision = RECO_EASE_FLOAT;
        else if (!strcmp(value, "double"))
            p->precision = RECO_EASE_DOUBLE;
        else
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "ease.precision wants float or double, got \"%s\"", value);
        return RECO_OK;
    }
    if (!strcmp(key, "threads"))
        return reco_param_int("ease", key, value, 0, 1024, &p->threads, err);
    return reco_param_unknown("ease", key, err);
}

reco_status reco_ease_params_check(const reco_ease_params *p, reco_error *err)
{
    if (!(p->lambda > 0 && p->lambda <= 1e9))
        return reco_error_set(err, RECO_ERR_INVALID, "ease.lambda must be in (0, 1e9], got %g",
                              p->lambda);
    if (!(p->min_rating == -INFINITY || (p->min_rating >= -1e9 && p->min_rating <= 1e9)))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "ease.min_rating must be none or in [-1e9, 1e9], got %g",
                              p->min_rating);
    if (p->max_memory < 1 || p->max_memory > RECO_EASE_MAX_MEMORY_LIMIT)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "ease.max_memory must be from 1 byte to 1P, got %llu",
                              (unsigned long long)p->max_memory);
    if (p->precision != RECO_EASE_FLOAT && p->precision != RECO_EASE_DOUBLE)
        return reco_error_set(err, RECO_ERR_INVALID, "ease.precision must be float or double");
    if (p->threads < 0 || p->threads > 1024)
        return reco_error_set(err, RECO_ERR_INVALID, "ease.threads must be 0 to 1024, got %d",
                              p->threads);
    return RECO_OK;
}

static const reco_param_field ease_fields[] = {
    RECO_PARAM_FIELD(reco_ease_params, lambda, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ease_params, min_rating, RECO_PT_F64),
    RECO_PARAM_FIELD(reco_ease_params, max_memory, RECO_PT_U64),
    RECO_PARAM_FIELD(reco_ease_params, precision, RECO_PT_INT),
    RECO_PARAM_FIELD(reco_ease_params, threads, RECO_PT_INT),
    {NULL, 0, 0, 0},
};

static reco_status ease_check(const void *p, reco_error *err)
{
    return reco_ease_params_check(p, err);
}

/* "4G", "512M", "1000": the largest unit that divides the value exactly. */
static void format_size(uint64_t b, char *buf, size_t cap)
{
    static const char units[] = "KMGTP";
    int u = -1;
    while (u < 4 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, cap, "%llu", (unsigned long long)b);
    else
        snprintf(buf, cap, "%llu%c", (unsigned long long)b, units[u]);
}

static void ease_format(const void *pp, char *buf, size_t cap)
{
    const reco_ease_params *p = pp;
    char mem[32], minr[32];
    format_size(p->max_memory, mem, sizeof mem);
    if (p->min_rating == -INFINITY)
        snprintf(minr, sizeof minr, "none");
    else
        reco_snprintf_c(minr, sizeof minr, "%g", p->min_rating);
    reco_snprintf_c(buf, cap, "lambda=%g min_rating=%s max_memory=%s precision=%s threads=%d",
             p->lambda, minr, mem, p->precision == RECO_EASE_DOUBLE ? "double" : "float",
             p->threads);
}

/* ---- memory ---- */

uint64_t reco_ease_memory_bytes(uint32_t n_active, reco_ease_precision precision)
{
    uint64_t out;
    reco_mul3_u64(n_active, n_active, precision == RECO_EASE_DOUBLE ? 12u : 4u, &out);
    return out; /* UINT64_MAX when it overflows */
}

/* "11.3 GiB", "1000 B". */
static void human_bytes(uint64_t b, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (b < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)b);
        return;
    }
    double v = (double)b;
    int u = -1;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    reco_snprintf_c(buf, cap, "%.1f %s", v, units[u]);
}

/* ---- state ---- */

typedef reco_ease_state ease_state;

static void ease_free(void *s)
{
    ease_state *st = s;
    if (!st)
        return;
    if (!st->mapped) {
        free(st->active);
        free(st->pos);
        free(st->B);
    }
    free(st);
}

/* ---- fit ---- */

/* X'X + lambda I, upper triangle: row a holds, for columns b >= a, the
 * number of users who rated both a and b (counted among the ratings that
 * count), plus lambda on the diagonal. Each row is counted in a thread's
 * own cnt (n entries, zero before and after) by one thread, in user order,
 * then written to G (float or double): exact and the same for any thread
 * count. One parallel region (a fork and join per progress step costs a
 * scheduler time slice each on a busy machine); the calling thread, team
 * member 0, reports progress in pairs counted. */
static void gram(const reco_dataset *train, const ease_state *st, double thr, int threads,
                 uint32_t *counters, void *G, bool dbl, const reco_progress *prog)
{
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    const uint32_t n = st->n_active;
    const bool all = thr == -INFINITY;
    const float lambda = (float)st->params.lambda;
    const uint64_t total = st->gram_pairs, report_every = total / 100 + 1;
    uint64_t done = 0, reported = 0;
    reco_progress_report(prog, "gram", 0, total);
#pragma omp parallel num_threads(threads)
    {
        uint32_t *cnt = counters + (size_t)omp_get_thread_num() * n;
        const bool caller = omp_get_thread_num() == 0;
#pragma omp for schedule(dynamic, 1)
        for (int64_t a = 0; a < (int64_t)n; a++) {
            uint32_t ia = st->active[a];
            uint64_t row_pairs = 0;
            for (uint64_t x = C->ptr[ia]; x < C->ptr[ia + 1]; x++) {
                if (!all && !(C->val[x] >= thr))
                    continue;
                int64_t y0 = reco_csr_find(R, C->idx[x], ia);
                if (y0 < 0)
                    continue; /* cannot happen: CSR and CSC hold the same ratings */
                uint64_t end = R->ptr[C->idx[x] + 1];
                for (uint64_t y = (uint64_t)y0; y < end; y++) {
                    if (!all && !(R->val[y] >= thr))
                        continue;
                    cnt[st->pos[R->idx[y]]]++;
                    row_pairs++;
                }
            }
            size_t row = (size_t)a * n;
            if (dbl) {
                double *g = (double *)G + row;
                for (uint32_t b = (uint32_t)a; b < n; b++) {
                    g[b] = (double)cnt[b];
                    cnt[b] = 0;
                }
                g[a] += st->params.lambda;
            } else {
                float *g = (float *)G + row;
                for (uint32_t b = (uint32_t)a; b < n; b++) {
                    g[b] = (float)cnt[b];
                    cnt[b] = 0;
                }
                g[a] += lambda;
            }
            uint64_t now = __atomic_add_fetch(&done, row_pairs, __ATOMIC_RELAXED);
            if (caller && now - reported >= report_every) {
                reported = now;
                reco_progress_report(prog, "gram", now, total);
            }
        }
    }
    reco_progress_report(prog, "gram", done, total);
}

enum { TILE = 64 };

/* B from P = G^-1 in place (float): P's upper triangle (row-major) holds
 * the inverse; B_ab = -P_ab / P_bb, written to both triangles, diagonal 0.
 * Tiles (ti, tj >= ti) and their mirrors (tj, ti) are disjoint across row bands,
 * so bands run in parallel; every element is computed the same way on any
 * thread. */
static void form_b_float(float *P, uint32_t n, float *inv, int threads)
{
    for (uint32_t b = 0; b < n; b++)
        inv[b] = (float)(1.0 / (double)P[(size_t)b * n + b]);
    const int64_t nt = ((int64_t)n + TILE - 1) / TILE;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t ti = 0; ti < nt; ti++) {
        uint32_t a0 = (uint32_t)ti * TILE, a1 = a0 + TILE < n ? a0 + TILE : n;
        for (int64_t tj = ti; tj < nt; tj++) {
            uint32_t b0 = (uint32_t)tj * TILE, b1 = b0 + TILE < n ? b0 + TILE : n;
            for (uint32_t a = a0; a < a1; a++) {
                float *pa = P + (size_t)a * n;
                const float ia = -inv[a];
                for (uint32_t b = b0 > a + 1 ? b0 : a + 1; b < b1; b++) {
                    float v = pa[b];
                    P[(size_t)b * n + a] = v * ia;
                    pa[b] = -v * inv[b];
                }
            }
        }
        for (uint32_t a = a0; a < a1; a++)
            P[(size_t)a * n + a] = 0;
    }
}

/* The same from a double inverse into a separate float B. */
static void form_b_double(const double *P, uint32_t n, float *B, int threads)
{
    const int64_t nt = ((int64_t)n + TILE - 1) / TILE;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t ti = 0; ti < nt; ti++) {
        uint32_t a0 = (uint32_t)ti * TILE, a1 = a0 + TILE < n ? a0 + TILE : n;
        for (int64_t tj = ti; tj < nt; tj++) {
            uint32_t b0 = (uint32_t)tj * TILE, b1 = b0 + TILE < n ? b0 + TILE : n;
            for (uint32_t a = a0; a < a1; a++) {
                const double *pa = P + (size_t)a * n;
                const double da = pa[a];
                for (uint32_t b = b0 > a + 1 ? b0 : a + 1; b < b1; b++) {
                    double v = pa[b];
                    B[(size_t)b * n + a] = (float)(-v / da);
                    B[(size_t)a * n + b] = (float)(-v / P[(size_t)b * n + b]);
                }
            }
        }
        for (uint32_t a = a0; a < a1; a++)
            B[(size_t)a * n + a] = 0;
    }
}

static reco_status lapack_failed(const ease_state *st, const reco_dataset *train, const char *fn,
                                 lapack_int info, reco_error *err)
{
    if (info < 0)
        return reco_error_set(err, info == LAPACK_WORK_MEMORY_ERROR ? RECO_ERR_NOMEM
                                                                    : RECO_ERR_INTERNAL,
                              "ease: LAPACK %s failed (%d)", fn, (int)info);
    size_t len = 0;
    const char *key = NULL;
    if ((uint32_t)info <= st->n_active)
        key = reco_idmap_key(train->items, st->active[info - 1], &len);
    return reco_error_set(err, RECO_ERR_NUMERIC,
                          "ease: X'X + lambda I is not positive definite in %s precision (%s "
                          "stopped at product %.*s); raise ease.lambda (now %g) or set "
                          "ease.precision=double",
                          st->params.precision == RECO_EASE_DOUBLE ? "double" : "float", fn,
                          key ? (int)len : 1, key ? key : "?", st->params.lambda);
}

static reco_status ease_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                            void **state, reco_error *err)
{
    const reco_ease_params *p = pp;
    reco_status rc = reco_ease_params_check(p, err);
    if (rc)
        return rc;
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    const double thr = p->min_rating;
    const bool all = thr == -INFINITY;
    const uint32_t n_items = reco_dataset_n_items(train);
    int threads = p->threads           ? p->threads
                  : ctx && ctx->threads ? ctx->threads
                                        : omp_get_max_threads();
    const reco_progress *prog = ctx ? &ctx->progress : NULL;

    /* Count the active products and the pairs: nothing allocated yet. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        bool counted = all ? C->ptr[i + 1] > C->ptr[i] : false;
        for (uint64_t x = C->ptr[i]; !all && !counted && x < C->ptr[i + 1]; x++)
            counted = C->val[x] >= thr;
        n += counted;
    }
    if (n == 0) {
        if (all)
            return reco_error_set(err, RECO_ERR_EMPTY, "ease: no training ratings");
        return reco_error_set(err, RECO_ERR_EMPTY,
                              "ease: no training rating is at least ease.min_rating=%g", thr);
    }
    uint64_t pairs = 0;
    for (uint32_t u = 0; u < R->n_rows; u++) {
        uint64_t k = 0;
        for (uint64_t y = R->ptr[u]; y < R->ptr[u + 1]; y++)
            k += all || R->val[y] >= thr;
        pairs += k * (k + 1) / 2;
    }
    uint64_t need = reco_ease_memory_bytes(n, p->precision);
    if (need > p->max_memory) {
        char nb[32], lb[32], items[RECO_THOUSANDS_MAX];
        human_bytes(need, nb, sizeof nb);
        human_bytes(p->max_memory, lb, sizeof lb);
        reco_thousands(n, items, sizeof items);
        return reco_error_set(
            err, RECO_ERR_TOO_LARGE,
            "ease needs %s for %s products (%s; limit %s, set with --param "
            "ease.max_memory=SIZE); use mf for catalogues this large, or keep fewer products "
            "with --min-item-ratings",
            nb, items,
            p->precision == RECO_EASE_DOUBLE ? "12 bytes x products^2 in double precision"
                                             : "4 bytes x products^2",
            lb);
    }

    ease_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *p;
    st->n_items = n_items;
    st->n_active = n;
    st->gram_pairs = pairs;
    const bool dbl = p->precision == RECO_EASE_DOUBLE;
    const size_t nn = (size_t)n * n;
    st->active = reco_alloc_aligned((size_t)n * sizeof *st->active);
    st->pos = reco_alloc_aligned(((size_t)n_items + 1) * sizeof *st->pos);
    uint32_t *counters = calloc((size_t)threads * n, sizeof *counters);
    void *G = reco_alloc_aligned(nn * (dbl ? sizeof(double) : sizeof(float)));
    if (!st->active || !st->pos || !counters || !G) {
        free(counters);
        free(G);
        ease_free(st);
        char nb[32];
        human_bytes(need, nb, sizeof nb);
        return reco_error_set(err, RECO_ERR_NOMEM, "ease: out of memory for %s (%s products)",
                              nb, RECO_THOUSANDS(n));
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        bool counted = all ? C->ptr[i + 1] > C->ptr[i] : false;
        for (uint64_t x = C->ptr[i]; !all && !counted && x < C->ptr[i + 1]; x++)
            counted = C->val[x] >= thr;
        st->pos[i] = counted ? k : RECO_EASE_NONE;
        if (counted)
            st->active[k++] = i;
    }

    double t0 = reco_clock_s();
    gram(train, st, thr, threads, counters, G, dbl, prog);
    free(counters);
    double t1 = reco_clock_s();
    st->gram_seconds = t1 - t0;

    /* G is row-major upper = column-major lower: LAPACK works on it in
     * place without the transposed copy LAPACKE makes for row-major. */
    reco_progress_report(prog, "inverse", 0, 3);
    lapack_int info;
    if (dbl) {
        double *Gd = G;
        info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, Gd, (lapack_int)n);
        if (info) {
            rc = lapack_failed(st, train, "dpotrf", info, err);
            goto fail;
        }
        reco_progress_report(prog, "inverse", 1, 3);
        info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, Gd, (lapack_int)n);
        if (info) {
            rc = lapack_failed(st, train, "dpotri", info, err);
            goto fail;
        }
        reco_progress_report(prog, "inverse", 2, 3);
        st->B = reco_alloc_aligned(nn * sizeof(float));
        if (!st->B) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "ease: out of memory for B (%s products)",
                                RECO_THOUSANDS(n));
            goto fail;
        }
        form_b_double(Gd, n, st->B, threads);
        free(G);
    } else {
        float *Gf = G;
        info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, Gf, (lapack_int)n);
        if (info) {
            rc = lapack_failed(st, train, "spotrf", info, err);
            goto fail;
        }
        reco_progress_report(prog, "inverse", 1, 3);
        info = LAPACKE_spotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, Gf, (lapack_int)n);
        if (info) {
            rc = lapack_failed(st, train, "spotri", info, err);
            goto fail;
        }
        reco_progress_report(prog, "inverse", 2, 3);
        float *inv = malloc(((size_t)n + 1) * sizeof *inv);
        if (!inv) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            goto fail;
        }
        form_b_float(Gf, n, inv, threads);
        free(inv);
        st->B = Gf;
    }
    G = NULL;
    reco_progress_report(prog, "inverse", 3, 3);
    st->inverse_seconds = reco_clock_s() - t1;
    *state = st;
    return RECO_OK;
fail:
    free(G);
    ease_free(st);
    return rc;
}

/* ---- scoring ---- */

static float ease_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                          uint32_t u, uint32_t i)
{
    (void)s;
    (void)train;
    (void)base;
    (void)u;
    (void)i;
    return NAN; /* EASE scores are not ratings: the baseline predicts */
}

/* acc[j] += r0[j] + r1[j] + r2[j] + r3[j]: four rows per pass over acc. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void add_rows4(float *restrict acc, const float *restrict r0, const float *restrict r1,
                      const float *restrict r2, const float *restrict r3, uint32_t n)
{
#pragma omp simd
    for (uint32_t j = 0; j < n; j++)
        acc[j] += (r0[j] + r1[j]) + (r2[j] + r3[j]);
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void add_row(float *restrict acc, const float *restrict r, uint32_t n)
{
#pragma omp simd
    for (uint32_t j = 0; j < n; j++)
        acc[j] += r[j];
}

static inline bool counts(const ease_state *st, float rating)
{
    return st->params.min_rating == -INFINITY || rating >= st->params.min_rating;
}

/* The compact index of prof's x-th product if it takes part, else NONE. */
static inline uint32_t profile_pos(const ease_state *st, const reco_profile *prof, uint32_t x)
{
    uint32_t i = prof->items[x];
    if (i >= st->n_items || !counts(st, prof->ratings[x]))
        return RECO_EASE_NONE;
    return st->pos[i];
}

static size_t ease_scratch_size(const void *s, const reco_dataset *train)
{
    (void)train;
    const ease_state *st = s;
    return ((size_t)st->n_active + 16) * sizeof(float);
}

static reco_status ease_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                              const reco_profile *prof, float *scores, void *scratch,
                              reco_error *err)
{
    (void)err;
    const ease_state *st = s;
    const uint32_t n = st->n_active, ni = reco_dataset_n_items(train);
    const bool identity = n == st->n_items && n == ni;
    float *acc = identity ? scores : scratch;
    memset(acc, 0, (size_t)n * sizeof *acc);
    const float *rows[4];
    int c = 0;
    uint32_t used = 0;
    for (uint32_t x = 0; x < prof->n; x++) {
        uint32_t k = profile_pos(st, prof, x);
        if (k == RECO_EASE_NONE)
            continue;
        used++;
        rows[c++] = st->B + (size_t)k * n;
        if (c == 4) {
            add_rows4(acc, rows[0], rows[1], rows[2], rows[3], n);
            c = 0;
        }
    }
    for (int r = 0; r < c; r++)
        add_row(acc, rows[r], n);
    if (used == 0) {
        /* Nothing to go on: the baseline's product ranking. */
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = st->active[k];
            acc[k] = base && i < base->n_items ? (float)(base->mu + base->bi[i]) : 0.0f;
        }
    }
    if (!identity) {
        for (uint32_t j = 0; j < ni; j++)
            scores[j] = -INFINITY;
        for (uint32_t k = 0; k < n; k++)
            if (st->active[k] < ni)
                scores[st->active[k]] = acc[k];
    }
    return RECO_OK;
}

/* Row i of B: the products whose score rises most for users who rated i
 * (the co_rated source of similar products). */
static reco_status ease_co_rated(const void *s, const reco_dataset *train, uint32_t i, size_t n,
                                const reco_item_filter *rules, reco_scored *out, size_t *n_out,
                                reco_error *err)
{
    (void)train;
    (void)err;
    const ease_state *st = s;
    *n_out = 0;
    if (i >= st->n_items || st->pos[i] == RECO_EASE_NONE || n == 0)
        return RECO_OK;
    const uint32_t k = st->pos[i];
    const float *row = st->B + (size_t)k * st->n_active;
    reco_topn_heap h;
    reco_topn_init(&h, out, n);
    for (uint32_t j = 0; j < st->n_active; j++)
        if (j != k && row[j] > 0 && reco_item_filter_admits(rules, st->active[j]))
            reco_topn_push(&h, st->active[j], row[j]);
    *n_out = reco_topn_finish(&h);
    return RECO_OK;
}

static const char *ease_co_rated_kind(const void *s)
{
    (void)s;
    return "item_regression_weight";
}

/* The user's products i with the largest positive B_ij: what put j up. */
static size_t ease_explain(const void *s, const reco_dataset *train, const reco_profile *prof,
                           uint32_t j, uint32_t *out, size_t max)
{
    (void)train;
    const ease_state *st = s;
    if (max == 0 || j >= st->n_items || st->pos[j] == RECO_EASE_NONE)
        return 0;
    const uint32_t kj = st->pos[j];
    reco_scored stackbuf[16];
    reco_scored *buf = max <= 16 ? stackbuf : malloc(max * sizeof *buf);
    if (!buf)
        return 0;
    reco_topn_heap h;
    reco_topn_init(&h, buf, max);
    for (uint32_t x = 0; x < prof->n; x++) {
        uint32_t k = profile_pos(st, prof, x);
        if (k == RECO_EASE_NONE || k == kj)
            continue;
        float w = st->B[(size_t)k * st->n_active + kj];
        if (w > 0)
            reco_topn_push(&h, prof->items[x], w);
    }
    size_t got = reco_topn_finish(&h);
    for (size_t x = 0; x < got; x++)
        out[x] = buf[x].id;
    if (buf != stackbuf)
        free(buf);
    return got;
}

/* ---- model files ---- */

/* Contents version of ease.meta. */
#define EASE_FORMAT 1

static reco_status ease_save(const void *params, const void *s, const reco_dataset *train,
                             reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    (void)train;
    const ease_state *st = s;
    reco_mfile_meta *meta = reco_mfile_meta_new(EASE_FORMAT);
    reco_mfile_meta_put_u64(meta, "n_items", st->n_items);
    reco_mfile_meta_put_u64(meta, "n_active", st->n_active);
    reco_mfile_meta_put_u64(meta, "gram_pairs", st->gram_pairs);
    reco_mfile_meta_put_f64(meta, "gram_seconds", st->gram_seconds);
    reco_mfile_meta_put_f64(meta, "inverse_seconds", st->inverse_seconds);
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, "ease.meta", meta, err)) ||
        (rc = reco_mfile_add(w, "ease.active", st->active,
                             (uint64_t)st->n_active * sizeof(uint32_t), err)) ||
        (rc = reco_mfile_add(w, "ease.pos", st->pos, (uint64_t)st->n_items * sizeof(uint32_t),
                             err)))
        return rc;
    return reco_mfile_add(w, "ease.B", st->B,
                          (uint64_t)st->n_active * st->n_active * sizeof(float), err);
}

static reco_status ease_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                             void **state, reco_error *err)
{
    const uint32_t ni = reco_dataset_n_items(train);
    reco_mfile_meta *meta = NULL;
    uint32_t n = 0, ignored;
    uint64_t gram_pairs = 0;
    double gram_seconds = 0, inverse_seconds = 0;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "ease.meta", EASE_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_items", ni, ni, &ignored, err)) ||
        (rc = reco_mfile_meta_get_u32(meta, "n_active", 1, ni ? ni : 1, &n, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "gram_pairs", 0, UINT64_MAX, &gram_pairs, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "gram_seconds", 0, INFINITY, &gram_seconds, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "inverse_seconds", 0, INFINITY, &inverse_seconds,
                                      err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    if (n > ni)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: ease model does not match the data",
                              reco_mfile_path(f));
    const void *act, *pos, *B;
    if ((rc = reco_mfile_array(f, "ease.active", n, sizeof(uint32_t), &act, err)) ||
        (rc = reco_mfile_array(f, "ease.pos", ni, sizeof(uint32_t), &pos, err)) ||
        (rc = reco_mfile_matrix(f, "ease.B", n, n, sizeof(float), &B, err)))
        return rc;
    /* active ascending and in range; pos its exact inverse. */
    const uint32_t *a = act, *ps = pos;
    bool ok = true;
    for (uint32_t k = 0; ok && k < n; k++)
        ok = a[k] < ni && (k == 0 || a[k] > a[k - 1]);
    uint32_t mapped = 0;
    for (uint32_t i = 0; ok && i < ni; i++) {
        if (ps[i] == RECO_EASE_NONE)
            continue;
        ok = ps[i] < n && a[ps[i]] == i;
        mapped++;
    }
    if (!ok || mapped != n)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt ease product map",
                              reco_mfile_path(f));
    ease_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *(const reco_ease_params *)params;
    st->n_items = ni;
    st->n_active = n;
    st->active = (uint32_t *)act;
    st->pos = (uint32_t *)pos;
    st->B = (float *)B;
    st->gram_pairs = gram_pairs;
    st->gram_seconds = gram_seconds;
    st->inverse_seconds = inverse_seconds;
    st->mapped = true;
    *state = st;
    return RECO_OK;
}

static const char *ease_score_kind(const void *p, const void *state)
{
    (void)state;
    (void)p;
    return "item_regression";
}

const reco_algo_ops reco_algo_ease = {
    .name = "ease",
    .summary = "EASE: closed-form item-item regression on who rated what (Steck 2019)",
    .scores_are_ratings = false,
    .score_kind = ease_score_kind, /* predicts_ratings NULL: the baseline predicts */
    .params_size = sizeof(reco_ease_params),
    .params_default = ease_default,
    .param_set = ease_set,
    .params_check = ease_check,
    .params_format = ease_format,
    .param_fields = ease_fields,
    .fit = ease_fit,
    .free_state = ease_free,
    .predict = ease_predict,
    .score = ease_score,
    .scratch_size = ease_scratch_size,
    .co_rated_kind = ease_co_rated_kind,
    .co_rated = ease_co_rated,
    .explain = ease_explain,
    .save = ease_save,
    .load = ease_load,
};

const reco_ease_state *reco_ease_state_of(const reco_model *m)
{
    if (!m || m->ops != &reco_algo_ease)
        return NULL;
    return m->state;
}
