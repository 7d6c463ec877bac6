/* reco: progress reporting. The library never prints; long operations call
 * the caller's function instead, which may draw a progress bar. */
#ifndef RECO_PROGRESS_H
#define RECO_PROGRESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called with the name of the stage ("read", "build"), the work done so far
 * and the total (both in the stage's own unit, e.g. bytes). Calls are made
 * from the calling thread only, at most a few hundred times per stage. */
typedef void (*reco_progress_fn)(void *ctx, const char *stage, uint64_t done,
                                 uint64_t total);

typedef struct reco_progress {
    reco_progress_fn fn; /* NULL: no reporting */
    void *ctx;
} reco_progress;

static inline void reco_progress_report(const reco_progress *p, const char *stage,
                                        uint64_t done, uint64_t total)
{
    if (p && p->fn)
        p->fn(p->ctx, stage, done, total);
}

#ifdef __cplusplus
}
#endif

#endif
