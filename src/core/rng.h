/* rng.h — the seeded, splittable, deterministic random number generator.
 *
 * xoshiro256** (Blackman & Vigna) whose 256-bit state is filled from a 64-bit
 * seed with splitmix64.  The same seed gives the same stream on every machine
 * and every run; nothing here reads the clock or the OS entropy pool.
 * rng_split derives an independent child stream from (parent state, stream
 * id) without advancing the parent, so a meta-trainer can hand worker k the
 * stream rng_split(&root, k, &child) and every worker reproduces the same
 * numbers from the same root.
 *
 * Normal draws use Box–Muller in double precision; the second value of each
 * pair is kept in the state (has_spare/spare), so the state is a plain value:
 * copying the struct copies the stream exactly.
 *
 * Thread rules: an rng is used by one thread at a time; there is no global
 * state. */
#ifndef OPTIRS_RNG_H
#define OPTIRS_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    uint64_t s[4];     /* xoshiro256** state, never all zero */
    int      has_spare;
    double   spare;    /* the cached second Box–Muller value */
} rng;

/* Sets the state from `seed` (any value, 0 included). */
void     rng_seed(rng *r, uint64_t seed);
/* Derives child stream number `stream` from parent's current state.  The
 * parent is not advanced: the same (parent state, stream) always gives the
 * same child, and different stream ids give unrelated streams. */
void     rng_split(const rng *parent, uint64_t stream, rng *child);
/* Next 64 random bits. */
uint64_t rng_u64(rng *r);
/* Uniform integer in [0, n), unbiased (rejection); returns 0 when n == 0. */
uint64_t rng_below(rng *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double   rng_uniform(rng *r);
/* Uniform float in [0, 1) with 24 random bits. */
float    rng_uniformf(rng *r);
/* Standard normal draw (mean 0, variance 1). */
double   rng_normal(rng *r);
/* x[i] = mean + std * N(0,1) for i < n. */
void     rng_normal_fill(rng *r, float *x, size_t n, float mean, float std);
/* x[i] uniform in [lo, hi) for i < n. */
void     rng_uniform_fill(rng *r, float *x, size_t n, float lo, float hi);

#endif
