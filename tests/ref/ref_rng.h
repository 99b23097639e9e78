/* A tiny seeded generator (splitmix64) for the reference models and test signals. Kept separate
 * from the engine's own initialiser so that the two cannot share a mistake. */
#ifndef REF_RNG_H
#define REF_RNG_H

#include <stdint.h>

typedef struct ref_rng {
    uint64_t s;
} ref_rng;

static inline ref_rng ref_rng_seed(uint64_t seed)
{
    ref_rng r = {seed ^ 0x6a09e667f3bcc909ull};
    return r;
}

static inline uint64_t ref_rng_u64(ref_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 bits. */
static inline double ref_rng_unit(ref_rng *r)
{
    return (double)(ref_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [-1, 1). */
static inline double ref_rng_sym(ref_rng *r)
{
    return 2.0 * ref_rng_unit(r) - 1.0;
}

/* Integer in [0, n). The modulo bias is irrelevant for test data. */
static inline int ref_rng_below(ref_rng *r, int n)
{
    return (int)(ref_rng_u64(r) % (uint64_t)n);
}

#endif
