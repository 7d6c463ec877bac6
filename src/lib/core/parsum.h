/* Sums over many rows, formed on threads, with the same bits on any number
 * of threads (private to the library).
 *
 * OpenMP's reduction clause adds per-thread partial sums whose split
 * depends on the thread count (and, with a dynamic schedule, on timing),
 * so the last bits of a floating-point total vary from run to run. Here the
 * rows are cut into chunks of a size the caller fixes, each chunk's sums
 * are formed by one thread in row order, and the chunks' sums are added in
 * chunk order. */
#ifndef RECO_PARSUM_H
#define RECO_PARSUM_H

#include <stdint.h>

/* Adds the contributions of rows [begin, end) to sums[0..n_sums). */
typedef void (*reco_chunk_sums_fn)(void *ctx, uint64_t begin, uint64_t end, double *sums);

#define RECO_PARSUM_MAX 4

/* out[0..n_sums) (n_sums <= RECO_PARSUM_MAX): for each chunk [c chunk,
 * (c + 1) chunk) of [0, n) in order, the sums fn adds to a zeroed array.
 * threads <= 0: OpenMP's default count. Never fails: without memory for the
 * chunks' sums it runs on the calling thread, with the same result. */
void reco_parallel_sums(uint64_t n, uint64_t chunk, unsigned n_sums, reco_chunk_sums_fn fn,
                        void *ctx, int threads, double *out);

#endif
