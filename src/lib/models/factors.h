/* Helpers shared by the factor models (mf, ials): random initial rows, the
 * Gram matrix M^T M of a factor matrix (both independent of the number of
 * threads) and similar rows by cosine. */
#ifndef RECO_FACTORS_H
#define RECO_FACTORS_H

#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/sparse.h"
#include "reco/topn.h"

/* Writes all rows->n_rows + 1 rows of M (row stride ld): std times an
 * approximately normal draw in the first k columns for rows that have
 * entries in `rows`, zero for the others and in the padding. Each row has
 * its own stream keyed by (seed ^ tag, row). */
void reco_factors_init_rows(float *M, const reco_csr *rows, uint32_t k, uint32_t ld, float std,
                            uint64_t seed, uint64_t tag, int threads);

/* G = M^T M over the n rows of M (row stride ld, k used), written full (both
 * triangles) into k rows of stride ld. Rows are summed in fixed chunks whose
 * partial sums are added in order in double precision, so the result is the
 * same with any number of threads. RECO_ERR_NOMEM on allocation failure. */
reco_status reco_factors_gram(const float *M, uint32_t n, uint32_t k, uint32_t ld, int threads,
                              float *G, reco_error *err);

/* The pieces of reco_factors_gram, for a caller that forms the chunks'
 * partial sums itself (e.g. right after writing each chunk's rows, while
 * they are in cache): rows [c RECO_GRAM_CHUNK, (c + 1) RECO_GRAM_CHUNK)
 * make chunk c, whose partial (k rows of stride ld, zeroed, then
 * reco_gram_add) is part + c k ld; reco_factors_gram_reduce adds the
 * partials in order, in double, into G (full). */
#define RECO_GRAM_CHUNK 4096
static inline size_t reco_factors_gram_chunks(uint32_t n)
{
    return ((size_t)n + RECO_GRAM_CHUNK - 1) / RECO_GRAM_CHUNK;
}
reco_status reco_factors_gram_reduce(const float *part, size_t nchunks, uint32_t k, uint32_t ld,
                                     float *G, reco_error *err);

/* The n rows j != i of Q (n_rows rows, stride ld, k used) with the highest
 * cosine to row i, best first, into out; rows with inv_norm[j] == 0 (zero
 * rows, or rows left out) never appear. inv_norm[j] = 1 / |Q[j]|. Returns
 * the count written; 0 if i is out of range or its own inv_norm is 0. */
size_t reco_factors_cosine_topn(const float *Q, const float *inv_norm, uint32_t n_rows,
                                uint32_t k, uint32_t ld, uint32_t i, size_t n, reco_scored *out);

#endif
