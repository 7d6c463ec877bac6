/* Allocation helpers private to the library, and the one overflow-checked
 * multiplication every array size goes through: a count read from a model
 * file times an element size, or rows times columns, is never allowed to
 * wrap around into a small allocation or a small expected section size. */
#ifndef RECO_MEM_H
#define RECO_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b; false (and *out = UINT64_MAX) when the product does not fit
 * in 64 bits. */
static inline bool reco_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) {
        *out = UINT64_MAX;
        return false;
    }
    return true;
}

/* *out = a * b * c, as reco_mul_u64. */
static inline bool reco_mul3_u64(uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    return reco_mul_u64(a, b, out) && reco_mul_u64(*out, c, out);
}

/* Zeroed memory for a large array read at random (hash tables, factor
 * matrices): aligned to 2 MiB and advised to use transparent huge pages,
 * so that random accesses do not each miss the TLB as well as the cache.
 * Free with free(). NULL on failure. */
void *reco_calloc_huge(size_t n, size_t size);

/* bytes (rounded up to 64) of uninitialised memory aligned to 64 bytes;
 * from 8 MiB on, aligned to 2 MiB and advised to use transparent huge
 * pages (factor matrices touched at random would otherwise miss the TLB on
 * nearly every access). Free with free(). NULL on failure. */
void *reco_alloc_aligned(size_t bytes);

#endif
