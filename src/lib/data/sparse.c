/* reco: sparse matrices (reco/sparse.h): CSR/CSC built from triples by
 * a parallel stable counting sort, and transposition; results do not
 * depend on the thread count. */
#include "reco/sparse.h"
#include "reco/thousands.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

void reco_csr_clear(reco_csr *m)
{
    if (!m)
        return;
    free(m->ptr);
    free(m->idx);
    free(m->val);
    free(m->ts);
    memset(m, 0, sizeof *m);
}

static reco_status csr_alloc(reco_csr *m, uint32_t n_rows, uint32_t n_cols, uint64_t nnz,
                             int with_ts, reco_error *err)
{
    memset(m, 0, sizeof *m);
    m->n_rows = n_rows;
    m->n_cols = n_cols;
    m->nnz = nnz;
    m->ptr = calloc((size_t)n_rows + 1, sizeof *m->ptr);
    /* +1 keeps malloc(0) from returning NULL on an empty matrix. */
    m->idx = malloc(nnz * sizeof *m->idx + 1);
    m->val = malloc(nnz * sizeof *m->val + 1);
    if (with_ts)
        m->ts = malloc(nnz * sizeof *m->ts + 1);
    if (!m->ptr || !m->idx || !m->val || (with_ts && !m->ts)) {
        reco_csr_clear(m);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for a %s x %s matrix "
                              "with %s entries", RECO_THOUSANDS(n_rows), RECO_THOUSANDS(n_cols),
                              RECO_THOUSANDS(nnz));
    }
    return RECO_OK;
}

/* Parallel stable counting sort, the plan part: T threads each take a
 * contiguous share of the n elements (element j has bucket key[ord(j)],
 * ord(j) = order ? order[j] : j) and count it; then every (thread, bucket)
 * gets its first output position, thread-major within a bucket so that
 * equal keys keep their input order. ptr (nb + 1 entries) receives the
 * bucket offsets and off[t * nb + b] each thread's starting positions.
 * Why hand-written: this is the O(n) core of building CSR/CSC for millions
 * of ratings, and no library offers a stable parallel counting sort. */
static void plan_scatter(uint64_t n, const uint32_t *key, const uint32_t *order, uint32_t nb,
                         int T, uint64_t *ptr, uint32_t *off)
{
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        uint32_t *cnt = off + (size_t)t * nb;
        memset(cnt, 0, (size_t)nb * sizeof *cnt);
        uint64_t lo = n * (uint64_t)t / (uint64_t)T, hi = n * (uint64_t)(t + 1) / (uint64_t)T;
        if (order)
            for (uint64_t j = lo; j < hi; j++)
                cnt[key[order[j]]]++;
        else
            for (uint64_t j = lo; j < hi; j++)
                cnt[key[j]]++;
#pragma omp barrier
        /* Buckets split among threads for the prefix sums. */
        uint64_t blo = (uint64_t)nb * (uint64_t)t / (uint64_t)T;
        uint64_t bhi = (uint64_t)nb * (uint64_t)(t + 1) / (uint64_t)T;
        for (uint64_t b = blo; b < bhi; b++) {
            uint64_t sum = 0;
            for (int u = 0; u < T; u++)
                sum += off[(size_t)u * nb + b];
            ptr[b + 1] = sum;
        }
#pragma omp barrier
#pragma omp single
        {
            ptr[0] = 0;
            for (uint32_t b = 0; b < nb; b++)
                ptr[b + 1] += ptr[b];
        }
        for (uint64_t b = blo; b < bhi; b++) {
            uint64_t pos = ptr[b];
            for (int u = 0; u < T; u++) {
                uint32_t c = off[(size_t)u * nb + b];
                off[(size_t)u * nb + b] = (uint32_t)pos;
                pos += c;
            }
        }
    }
}

static int n_threads(uint64_t work)
{
    int t = omp_get_max_threads();
    if (work < 100000 || t < 1)
        return 1;
    return t > 16 ? 16 : t;
}

static bool is_sorted_u32(const uint32_t *v, uint64_t n)
{
    bool sorted = true;
#pragma omp parallel for reduction(&& : sorted) if (n > 100000)
    for (uint64_t k = 1; k < n; k++)
        sorted = sorted && v[k - 1] <= v[k];
    return sorted;
}

reco_status reco_csr_from_triplets(uint32_t n_rows, uint32_t n_cols, uint64_t n,
                                   const uint32_t *rows, const uint32_t *cols,
                                   const float *vals, const int64_t *ts,
                                   reco_csr *out, reco_error *err)
{
    /* Pass 1 orders the triplets by column into a permutation; pass 2 places
     * them by row in that order. Both passes are stable, so a row comes out
     * sorted by column with duplicates in input order: an LSD radix sort.
     * Input already sorted by column (files sorted by product, such as
     * Amazon's) skips pass 1. */
    if (n > UINT32_MAX)
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "more than 2^32 ratings");
    int T = n_threads(n);
    uint32_t *by_col = NULL;
    uint32_t *off = malloc((size_t)T * ((size_t)(n_rows > n_cols ? n_rows : n_cols) + 1) *
                           sizeof *off);
    uint64_t *cptr = calloc((size_t)n_cols + 1, sizeof *cptr);
    if (!off || !cptr)
        goto nomem;
    if (!is_sorted_u32(cols, n)) {
        by_col = malloc(n * sizeof *by_col + 1);
        if (!by_col)
            goto nomem;
        plan_scatter(n, cols, NULL, n_cols, T, cptr, off);
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
            uint32_t *next = off + (size_t)t * n_cols;
            uint64_t lo = n * (uint64_t)t / (uint64_t)T, hi = n * (uint64_t)(t + 1) / (uint64_t)T;
            for (uint64_t k = lo; k < hi; k++)
                by_col[next[cols[k]]++] = (uint32_t)k;
        }
    }
    free(cptr);
    cptr = NULL;

    reco_status st = csr_alloc(out, n_rows, n_cols, n, ts != NULL, err);
    if (st) {
        free(by_col);
        free(off);
        return st;
    }
    plan_scatter(n, rows, by_col, n_rows, T, out->ptr, off);
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        uint32_t *next = off + (size_t)t * n_rows;
        uint64_t lo = n * (uint64_t)t / (uint64_t)T, hi = n * (uint64_t)(t + 1) / (uint64_t)T;
        for (uint64_t j = lo; j < hi; j++) {
            uint32_t k = by_col ? by_col[j] : (uint32_t)j;
            uint32_t pos = next[rows[k]]++;
            out->idx[pos] = cols[k];
            out->val[pos] = vals[k];
            if (ts)
                out->ts[pos] = ts[k];
        }
    }
    free(by_col);
    free(off);
    return RECO_OK;
nomem:
    free(by_col);
    free(off);
    free(cptr);
    return reco_error_set(err, RECO_ERR_NOMEM, "out of memory sorting %s ratings",
                          RECO_THOUSANDS(n));
}

reco_status reco_csr_transpose(const reco_csr *a, reco_csr *out, reco_error *err)
{
    reco_status st = csr_alloc(out, a->n_cols, a->n_rows, a->nnz, a->ts != NULL, err);
    if (st)
        return st;
    int T = n_threads(a->nnz);
    uint32_t *off = malloc((size_t)T * ((size_t)a->n_cols + 1) * sizeof *off);
    if (!off || a->nnz > UINT32_MAX) {
        free(off);
        reco_csr_clear(out);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory transposing ratings");
    }
    /* Element j of a (in row order) goes to column idx[j]; a thread's share
     * of elements is a run of whole rows, found by binary search. */
    plan_scatter(a->nnz, a->idx, NULL, a->n_cols, T, out->ptr, off);
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        uint32_t *next = off + (size_t)t * a->n_cols;
        uint64_t lo = a->nnz * (uint64_t)t / (uint64_t)T;
        uint64_t hi = a->nnz * (uint64_t)(t + 1) / (uint64_t)T;
        /* First row containing element lo. */
        uint32_t rlo = 0, rhi = a->n_rows;
        while (rlo < rhi) {
            uint32_t mid = rlo + (rhi - rlo) / 2;
            if (a->ptr[mid + 1] <= lo)
                rlo = mid + 1;
            else
                rhi = mid;
        }
        for (uint32_t r = rlo; r < a->n_rows && a->ptr[r] < hi; r++) {
            uint64_t b = a->ptr[r] > lo ? a->ptr[r] : lo;
            uint64_t e = a->ptr[r + 1] < hi ? a->ptr[r + 1] : hi;
            for (uint64_t k = b; k < e; k++) {
                uint32_t pos = next[a->idx[k]]++;
                out->idx[pos] = r;
                out->val[pos] = a->val[k];
                if (a->ts)
                    out->ts[pos] = a->ts[k];
            }
        }
    }
    free(off);
    return RECO_OK;
}

int64_t reco_csr_find(const reco_csr *m, uint32_t r, uint32_t c)
{
    uint64_t lo = m->ptr[r], hi = m->ptr[r + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (m->idx[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->ptr[r + 1] && m->idx[lo] == c ? (int64_t)lo : -1;
}
