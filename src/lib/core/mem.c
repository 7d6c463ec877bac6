/* Allocation helpers private to the library (see mem.h). */
#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *reco_calloc_huge(size_t n, size_t size)
{
    uint64_t prod;
    if (!reco_mul_u64(n, size, &prod) || prod > SIZE_MAX)
        return NULL;
    size_t bytes = (size_t)prod;
    if (bytes < 2 * HUGE_PAGE)
        return calloc(n ? n : 1, size ? size : 1);
    size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, rounded) != 0)
        return NULL;
    madvise(p, rounded, MADV_HUGEPAGE);
    /* Zeroing faults the pages in; on all cores it takes half the time. */
    const size_t chunk = HUGE_PAGE * 8;
    const long n_chunks = (long)((bytes + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (n_chunks > 4)
    for (long c = 0; c < n_chunks; c++) {
        size_t off = (size_t)c * chunk;
        memset((char *)p + off, 0, bytes - off < chunk ? bytes - off : chunk);
    }
    return p;
}

void *reco_alloc_aligned(size_t bytes)
{
    size_t align = bytes >= 4 * HUGE_PAGE ? HUGE_PAGE : 64;
    if (bytes > (size_t)-1 - 64)
        return NULL;
    bytes = (bytes + 63) / 64 * 64;
    if (bytes == 0)
        bytes = 64;
    void *p = NULL;
    if (posix_memalign(&p, align, bytes))
        return NULL;
    if (align == HUGE_PAGE)
        madvise(p, bytes / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
    return p;
}
