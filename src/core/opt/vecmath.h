/* vecmath.h — small float32 vector kernels shared by the optimizers: sums of
 * squares (accumulated in double), scaling, and the check/apply pair that
 * opt_step uses to add an update to the parameters.  vm_sumsq also has an
 * AVX2 build (picked at run time) that sums in the same order, bit for bit.
 *
 * It also exposes a 4-lane float vector type (GCC/Clang vector extensions)
 * with loads, stores and lane-wise sqrt/max, so that optimizer kernels can be
 * written once per lane and run at memory speed.  GCC 12 at -O2 does not
 * vectorize plain loops of unknown length (its "very cheap" cost model), nor
 * any loop that calls sqrtf without -fno-math-errno, so the hot loops use
 * these explicitly.  Lane-wise operations are plain IEEE float32 operations
 * (no FMA contraction under -std=c11), so a vector lane computes exactly what
 * the same scalar C expression computes.
 *
 * Thread rules: pure functions, safe from any thread. */
#ifndef OPTIRS_VECMATH_H
#define OPTIRS_VECMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define VM_W 4
typedef float   vm_f32 __attribute__((vector_size(16)));
typedef int32_t vm_i32 __attribute__((vector_size(16)));
typedef double  vm_f64 __attribute__((vector_size(16)));

/* A sum of squares over a pass in 16 double partial sums: element i of the
 * pass (counted from its start) adds into partial i mod 16, in increasing
 * i; a[q] holds partials 2q and 2q + 1.  Sixteen partials, so that a
 * wide loop has four independent chains of vector additions: with one
 * chain (4 partials) its latency, not memory, bounded Adam's fused pass.  Every
 * build fills the same partials in the same order, and vm_sq16_total adds
 * them in one fixed order.  Zero-initialise it. */
typedef struct vm_sq16 { vm_f64 a[8]; } vm_sq16;

/* Adds x's lanes, elements i .. i + 3 of the pass with i a multiple of 4. */
static inline void vm_sq16_add(vm_sq16 *s, size_t i, vm_f32 x)
{
    vm_f64 lo = {x[0], x[1]}, hi = {x[2], x[3]};
    size_t q = (i >> 1) & 6;
    s->a[q] += lo * lo;
    s->a[q + 1] += hi * hi;
}

static inline double vm_sq16_total(const vm_sq16 *s)
{
    vm_f64 t = ((s->a[0] + s->a[2]) + (s->a[4] + s->a[6])) + ((s->a[1] + s->a[3]) + (s->a[5] + s->a[7]));
    return t[0] + t[1];
}

static inline vm_f32 vm_splat(float x) { return (vm_f32){x, x, x, x}; }

/* Loads/stores k <= VM_W floats; missing lanes read as 0. */
static inline vm_f32 vm_load(const float *p, size_t k)
{
    vm_f32 v = {0, 0, 0, 0};
    if (k == VM_W) memcpy(&v, p, sizeof v);
    else memcpy(&v, p, k * sizeof(float));
    return v;
}

static inline void vm_store(float *p, vm_f32 v, size_t k)
{
    if (k == VM_W) memcpy(p, &v, sizeof v);
    else memcpy(p, &v, k * sizeof(float));
}

static inline vm_f32 vm_sqrt(vm_f32 x)
{
#if defined(__SSE__)
    return (vm_f32)_mm_sqrt_ps((__m128)x);
#else
    for (int i = 0; i < VM_W; i++) x[i] = sqrtf(x[i]);
    return x;
#endif
}

/* Lane-wise max(a, b), returning a NaN of `b` (like torch.maximum's NaN
 * propagation when b is the new value). */
static inline vm_f32 vm_max(vm_f32 a, vm_f32 b)
{
    vm_i32 take_a = a > b;
    return (vm_f32)((take_a & (vm_i32)a) | (~take_a & (vm_i32)b));
}

/* Which build of the wider kernels (vm_sumsq, adam_kern.h) runs: the CPU's
 * best (AVX2 with FMA where it has them; FMA only for sums of squares in
 * double, where a float's square is exact and fma changes nothing) unless
 * vm_force_generic is 1 (tests and
 * benches compare the builds; the results are bitwise identical). */
extern int vm_force_generic;
int    vm_use_avx2(void);

/* Sum of x[i]^2 in double, in vm_sq16's order (element i into partial
 * i mod 16).  Non-finite when any x[i] is non-finite (a sum of squares of
 * finite floats cannot overflow a double). */
double vm_sumsq(const float *x, size_t n);
/* Sum of a[i] * b[i] into *ab and of b[i]^2 into *bb, in double, one pass
 * (eight partials each: element i into partial i mod 8, four independent
 * addition chains per sum). */
void   vm_dot_sumsq(const float *a, const float *b, size_t n, double *ab, double *bb);
/* y[i] = a * x[i]. */
void   vm_scale(float *restrict y, const float *restrict x, float a, size_t n);
/* Sum of u[i]^2 into *usq and of (p[i] + u[i])^2 (float32 sum, as applied)
 * into *psq, in double, without writing anything. */
void   vm_add_sumsq(const float *p, const float *u, size_t n, double *usq, double *psq);
/* p[i] += u[i]. */
void   vm_add(float *restrict p, const float *restrict u, size_t n);
/* Rescales an update that was already applied: p[i] += (s - 1) u[i], then
 * u[i] *= s (nothing changes when s == 1); adds the sums of squares of the
 * new u and p to *usq and *psq, element by element in order, in double. */
void   vm_rescale_applied(float *restrict p, float *restrict u, size_t n, float s, double *usq, double *psq);

#endif
