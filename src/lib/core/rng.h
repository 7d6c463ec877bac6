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

/* xoshiro256** (Blackman, Vigna 2018): a fast stream for bulk draws
 * (initial factors, shuffles), seeded through splitmix64 from (seed,
 * stream) so that every row or purpose has its own reproducible stream. */
typedef struct reco_xoshiro {
    uint64_t s[4];
} reco_xoshiro;

static inline void reco_xoshiro_seed(reco_xoshiro *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int j = 0; j < 4; j++)
        r->s[j] = reco_splitmix64(&x);
}

static inline uint64_t reco_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t reco_xoshiro_next(reco_xoshiro *r)
{
    uint64_t *s = r->s;
    uint64_t out = reco_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = reco_rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, n) by multiply-shift (the bias, under n / 2^32, does not
 * matter here). */
static inline uint32_t reco_xoshiro_below(reco_xoshiro *r, uint32_t n)
{
    return (uint32_t)((reco_xoshiro_next(r) >> 32) * n >> 32);
}

/* An approximately normal draw of std dev 1: the sum of four 16-bit
 * uniforms (Irwin-Hall). Box-Muller costs a log and a cosine per value,
 * which for the 270 million values of a 4.2M x 64 factor matrix takes
 * seconds. */
static inline float reco_xoshiro_normalish(reco_xoshiro *r)
{
    uint64_t x = reco_xoshiro_next(r);
    uint32_t s = (uint32_t)(x & 0xFFFF) + (uint32_t)((x >> 16) & 0xFFFF) +
                 (uint32_t)((x >> 32) & 0xFFFF) + (uint32_t)(x >> 48);
    /* Each uniform has mean 32767.5 and variance 65536^2 / 12. */
    return ((float)s - 131070.0f) * (1.7320508f / 65536.0f);
}

#endif
