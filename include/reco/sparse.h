/* reco: compressed sparse row matrices of ratings.
 *
 * The rating matrix is kept twice: by user (CSR, rows = users) and by item
 * (the CSR of the transpose, i.e. CSC). Both have 32-bit column indices,
 * sorted within each row, float ratings and optional int64 timestamps.
 * Nothing in reco ever builds a dense users x items matrix. */
#ifndef RECO_SPARSE_H
#define RECO_SPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct reco_csr {
    uint32_t n_rows, n_cols;
    uint64_t nnz;
    uint64_t *ptr; /* n_rows + 1 offsets; row r is [ptr[r], ptr[r+1]) */
    uint32_t *idx; /* nnz column indices, ascending within a row */
    float *val;    /* nnz values */
    int64_t *ts;   /* nnz timestamps, or NULL when the data has none */
} reco_csr;

/* Builds a CSR from n triplets (rows[k], cols[k], vals[k], ts[k]) with a
 * stable two-pass counting sort (by column, then by row): O(n + rows + cols),
 * no comparison sort. Entries of one row end up sorted by column, and equal
 * (row, col) pairs keep their input order. ts may be NULL. Indices must be
 * below n_rows / n_cols. out is overwritten; free it with reco_csr_clear. */
reco_status reco_csr_from_triplets(uint32_t n_rows, uint32_t n_cols, uint64_t n,
                                   const uint32_t *rows, const uint32_t *cols,
                                   const float *vals, const int64_t *ts,
                                   reco_csr *out, reco_error *err);

/* out = transpose of a (rows become columns), each row of out sorted. */
reco_status reco_csr_transpose(const reco_csr *a, reco_csr *out, reco_error *err);

/* Frees the arrays of m and zeroes it. NULL is a no-op. */
void reco_csr_clear(reco_csr *m);

/* Number of entries in row r. */
static inline uint32_t reco_csr_row_len(const reco_csr *m, uint32_t r)
{
    return (uint32_t)(m->ptr[r + 1] - m->ptr[r]);
}

/* Position of column c in row r, or -1 (binary search in the sorted row). */
int64_t reco_csr_find(const reco_csr *m, uint32_t r, uint32_t c);

#ifdef __cplusplus
}
#endif

#endif
