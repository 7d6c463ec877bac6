/* reco: monotonic and CPU clocks (reco/clock.h), one copy for every
 * module that times something. */
#include "reco/clock.h"

#include <time.h>

static uint64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t reco_clock_ns(void) { return read_ns(CLOCK_MONOTONIC); }

double reco_clock_s(void) { return (double)read_ns(CLOCK_MONOTONIC) * 1e-9; }

double reco_clock_cpu_s(void) { return (double)read_ns(CLOCK_PROCESS_CPUTIME_ID) * 1e-9; }

double reco_clock_thread_cpu_s(void) { return (double)read_ns(CLOCK_THREAD_CPUTIME_ID) * 1e-9; }
