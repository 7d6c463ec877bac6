/* Helpers shared by the factor models (mf, ials, svd): random initial
 * rows, the Gram matrix M^T M of a factor matrix (both independent of the
 * number of threads) and similar products by cosine. */
#ifndef RECO_FACTORS_H
#define RECO_FACTORS_H

#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/factor_index.h"
#include "reco/item_filter.h"
#include "reco/model.h"
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

/* Similar products by factor cosine (see reco_item_factors), without a
 * pass over every factor row per query: the unit vectors (weighted, for
 * svd) of the products that qualify, in a reco_factor_index whose 8-bit
 * first pass bounds each cosine so that only the few that can enter the
 * top n are computed exactly. The answer is what scoring every qualifying
 * product and selecting would give (same products, cosines equal up to
 * float rounding). Built once per model; read-only afterwards. */
typedef struct reco_cosine_index {
    uint32_t n;              /* qualifying products */
    uint32_t *ids;           /* n, ascending: the product of each index row */
    reco_factor_index index; /* over the n unit vectors; its orders name products */
} reco_cosine_index;

/* Builds ix over the products j of f with inv_norm[j] != 0 and, when C is
 * not NULL, at least min_support entries in C (their training ratings).
 * ix is overwritten; free with reco_cosine_index_clear. */
reco_status reco_cosine_index_build(reco_cosine_index *ix, const reco_item_factors *f,
                                    const reco_csr *C, uint32_t min_support, reco_error *err);

/* Frees ix and zeroes it; NULL or zeroed is a no-op. */
void reco_cosine_index_clear(reco_cosine_index *ix);

/* The n indexed products j != i with the highest cosine to product i of f
 * (the factors ix was built from) that rules admits (reco/item_filter.h;
 * NULL: every one), best first, into out; *n_out their count, 0 if i is
 * out of range or has no factors. RECO_ERR_NOMEM when out of memory. */
reco_status reco_cosine_index_topn(const reco_cosine_index *ix, const reco_item_factors *f,
                                   uint32_t i, size_t n, const reco_item_filter *rules,
                                   reco_scored *out, size_t *n_out, reco_error *err);

#endif
