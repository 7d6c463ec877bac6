#include "reco/sparse.h"

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
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for a %u x %u matrix "
                              "with %llu entries", n_rows, n_cols, (unsigned long long)nnz);
    }
    return RECO_OK;
}

/* Turns per-row counts in ptr[1..n] into offsets in place. */
static void counts_to_offsets(uint64_t *ptr, uint32_t n)
{
    for (uint32_t r = 0; r < n; r++)
        ptr[r + 1] += ptr[r];
}

reco_status reco_csr_from_triplets(uint32_t n_rows, uint32_t n_cols, uint64_t n,
                                   const uint32_t *rows, const uint32_t *cols,
                                   const float *vals, const int64_t *ts,
                                   reco_csr *out, reco_error *err)
{
    /* Pass 1 orders the triplets by column into a permutation; pass 2 places
     * them by row in that order. Both passes are stable, so a row comes out
     * sorted by column with duplicates in input order: an LSD radix sort. */
    uint32_t *by_col = malloc(n * sizeof *by_col + 1);
    uint64_t *cptr = calloc((size_t)n_cols + 1, sizeof *cptr);
    if (!by_col || !cptr) {
        free(by_col);
        free(cptr);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory sorting %llu ratings",
                              (unsigned long long)n);
    }
    if (n > UINT32_MAX) {
        free(by_col);
        free(cptr);
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "more than 2^32 ratings");
    }
    for (uint64_t k = 0; k < n; k++)
        cptr[cols[k] + 1]++;
    counts_to_offsets(cptr, n_cols);
    for (uint64_t k = 0; k < n; k++)
        by_col[cptr[cols[k]]++] = (uint32_t)k;
    free(cptr);

    reco_status st = csr_alloc(out, n_rows, n_cols, n, ts != NULL, err);
    if (st) {
        free(by_col);
        return st;
    }
    uint64_t *ptr = out->ptr;
    for (uint64_t k = 0; k < n; k++)
        ptr[rows[k] + 1]++;
    counts_to_offsets(ptr, n_rows);
    /* Walk rows[] in by_col order; `next` is a moving copy of ptr. */
    uint64_t *next = malloc(((size_t)n_rows + 1) * sizeof *next);
    if (!next) {
        free(by_col);
        reco_csr_clear(out);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory sorting ratings");
    }
    memcpy(next, ptr, ((size_t)n_rows + 1) * sizeof *next);
    for (uint64_t j = 0; j < n; j++) {
        uint32_t k = by_col[j];
        uint64_t pos = next[rows[k]]++;
        out->idx[pos] = cols[k];
        out->val[pos] = vals[k];
        if (ts)
            out->ts[pos] = ts[k];
    }
    free(next);
    free(by_col);
    return RECO_OK;
}

reco_status reco_csr_transpose(const reco_csr *a, reco_csr *out, reco_error *err)
{
    reco_status st = csr_alloc(out, a->n_cols, a->n_rows, a->nnz, a->ts != NULL, err);
    if (st)
        return st;
    uint64_t *ptr = out->ptr;
    for (uint64_t k = 0; k < a->nnz; k++)
        ptr[a->idx[k] + 1]++;
    counts_to_offsets(ptr, out->n_rows);
    uint64_t *next = malloc(((size_t)out->n_rows + 1) * sizeof *next);
    if (!next) {
        reco_csr_clear(out);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory transposing ratings");
    }
    memcpy(next, ptr, ((size_t)out->n_rows + 1) * sizeof *next);
    /* Rows of a are visited in order, so each row of out is sorted. */
    for (uint32_t r = 0; r < a->n_rows; r++) {
        for (uint64_t k = a->ptr[r]; k < a->ptr[r + 1]; k++) {
            uint64_t pos = next[a->idx[k]]++;
            out->idx[pos] = r;
            out->val[pos] = a->val[k];
            if (a->ts)
                out->ts[pos] = a->ts[k];
        }
    }
    free(next);
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
