/* Random numbers private to the library: splitmix64 (Steele, Lea, Flood
 * 2014). Our own rather than rand(), whose sequence differs between C
 * libraries and which has global state; every user keys its own streams
 * from a seed, so results repeat exactly. */
#ifndef RECO_RNG_H
#define RECO_RNG_H

#include <stdint.h>

/* The splitmix64 finaliser: a bijection of 64-bit values. */
static inline uint64_t reco_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Next value of the splitmix64 stream whose state is *s. */
static inline uint64_t reco_splitmix64(uint64_t *s)
{
    return reco_mix64(*s += 0x9e3779b97f4a7c15ULL);
}

#endif
