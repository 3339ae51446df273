/* half.h — float32 to and from the two 16-bit floats of compact step bodies:
 * IEEE-754 binary16 ("f16": 1 sign, 5 exponent, 10 fraction bits) and
 * bfloat16 ("bf16": the top 16 bits of a float32: 1, 8, 7).
 *
 * Invariants:
 *  - float32 -> 16 bits rounds to nearest, ties to even (RNE), exactly:
 *    f16 subnormals are produced (and rounded) exactly, values that round
 *    past the largest finite value become ±Inf (f16: |x| >= 65520; bf16:
 *    |x| >= 0x1.ff p+127, i.e. float32 bits >= 0x7F7F8000), ±Inf stay ±Inf,
 *    -0 stays -0.  A NaN stays a NaN with its sign, the top fraction bits
 *    it has room for, and the quiet bit set (what the x86 F16C instructions
 *    do), so no NaN becomes an infinity.
 *  - 16 bits -> float32 is exact for every value (both formats are subsets
 *    of float32); a NaN gets the quiet bit set, as F16C does.
 *  - The array functions give bit-for-bit the results of the scalar ones;
 *    f16 arrays use F16C and bf16 arrays (and the overflow scan) AVX2 when
 *    the CPU has them (half_force_portable = 1 turns that off, for tests),
 *    portable loops otherwise.
 *  - Nothing allocates; no global state but the test switch.
 *
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_HALF_H
#define OPTIRS_HALF_H

#include <stddef.h>
#include <stdint.h>

/* 1: the array functions skip F16C and AVX2 (tests compare the paths). */
extern int half_force_portable;

uint16_t half_f16_from_f32(float x);
float    half_f16_to_f32(uint16_t h);
uint16_t half_bf16_from_f32(float x);
float    half_bf16_to_f32(uint16_t h);

/* n values from src to dst (the arrays must not overlap). */
void half_f16_encode(const float *src, uint16_t *dst, size_t n);
void half_f16_decode(const uint16_t *src, float *dst, size_t n);
void half_bf16_encode(const float *src, uint16_t *dst, size_t n);
void half_bf16_decode(const uint16_t *src, float *dst, size_t n);

/* The index of the first finite value of v[0..n) that rounds to ±Inf in
 * f16 (bf16 = 0) or bf16 (bf16 = 1); n when every finite value fits. */
size_t half_first_overflow(const float *v, size_t n, int bf16);

/* 1 when the f16 array functions use F16C on this CPU (for the tests' log). */
int half_have_f16c(void);

#endif
