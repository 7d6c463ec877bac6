/* Thread-count independent sums over rows (see parsum.h): fixed chunks,
 * one thread per chunk, chunk sums added in order. */
#include "parsum.h"

#include <omp.h>
#include <stdlib.h>

void reco_parallel_sums(uint64_t n, uint64_t chunk, unsigned n_sums, reco_chunk_sums_fn fn,
                        void *ctx, int threads, double *out)
{
    if (n_sums > RECO_PARSUM_MAX)
        n_sums = RECO_PARSUM_MAX;
    for (unsigned s = 0; s < n_sums; s++)
        out[s] = 0;
    if (n == 0)
        return;
    if (chunk == 0)
        chunk = 1;
    const uint64_t nc = (n - 1) / chunk + 1;
    double *part = nc > 1 ? calloc((size_t)nc * n_sums, sizeof *part) : NULL;
    if (!part) {
        /* One chunk, or no memory: the same sums in the same order here. */
        for (uint64_t c = 0; c < nc; c++) {
            double p[RECO_PARSUM_MAX] = {0};
            fn(ctx, c * chunk, c + 1 < nc ? (c + 1) * chunk : n, p);
            for (unsigned s = 0; s < n_sums; s++)
                out[s] += p[s];
        }
        return;
    }
    int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t c = 0; c < (int64_t)nc; c++)
        fn(ctx, (uint64_t)c * chunk, (uint64_t)c + 1 < nc ? ((uint64_t)c + 1) * chunk : n,
           part + (size_t)c * n_sums);
    for (uint64_t c = 0; c < nc; c++)
        for (unsigned s = 0; s < n_sums; s++)
            out[s] += part[c * n_sums + s];
    free(part);
}
