/* Allocation helpers private to the library. */
#ifndef RECO_MEM_H
#define RECO_MEM_H

#include <stddef.h>

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
