/* reco: the one clock of the library, the command and the benchmarks.
 *
 * Monotonic wall time (never goes back, unaffected by changes of the
 * system date) for durations, and the process's CPU time, both from
 * clock_gettime. Thread-safe, no allocation, cannot fail on Linux. */
#ifndef RECO_CLOCK_H
#define RECO_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic time in nanoseconds since an arbitrary fixed point. */
uint64_t reco_clock_ns(void);

/* The same in seconds. */
double reco_clock_s(void);

/* CPU time used by the whole process (every thread), in seconds. */
double reco_clock_cpu_s(void);

/* CPU time used by the calling thread, in seconds. */
double reco_clock_thread_cpu_s(void);

#ifdef __cplusplus
}
#endif

#endif
