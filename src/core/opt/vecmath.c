/* vecmath.c — see vecmath.h. */
#include "vecmath.h"

static inline vm_f64 lo64(vm_f32 x) { return (vm_f64){x[0], x[1]}; }
static inline vm_f64 hi64(vm_f32 x) { return (vm_f64){x[2], x[3]}; }

static double hsum(vm_f64 a, vm_f64 b, vm_f64 c, vm_f64 d)
{
    vm_f64 s = (a + b) + (c + d);
    return s[0] + s[1];
}

int vm_force_generic = 0;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define VM_HAVE_AVX2 1

int vm_use_avx2(void)
{
    return !vm_force_generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

typedef double vm_f64x4 __attribute__((vector_size(32)));

/* vm_sumsq's whole blocks of 16 on AVX2 from i: four accumulators, partials
 * 0-3, 4-7, 8-11 and 12-15 of the 4-lane loop's vm_sq16, each adding the
 * same elements in the same order (fma of an exact square = add).
 * Returns where it stopped. */
__attribute__((target("avx2,fma"))) static size_t sumsq_avx2(const float *x, size_t i, size_t n, vm_sq16 *s)
{
    vm_f64x4 A[4];
    for (int q = 0; q < 4; q++) A[q] = (vm_f64x4){s->a[2 * q][0], s->a[2 * q][1], s->a[2 * q + 1][0], s->a[2 * q + 1][1]};
    vm_f64x4 A0 = A[0], A1 = A[1], A2 = A[2], A3 = A[3];
    for (; i + 16 <= n; i += 16) {
        __m256d v0 = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), v1 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        __m256d v2 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)), v3 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12));
        A0 = (vm_f64x4)_mm256_fmadd_pd(v0, v0, (__m256d)A0);
        A1 = (vm_f64x4)_mm256_fmadd_pd(v1, v1, (__m256d)A1);
        A2 = (vm_f64x4)_mm256_fmadd_pd(v2, v2, (__m256d)A2);
        A3 = (vm_f64x4)_mm256_fmadd_pd(v3, v3, (__m256d)A3);
    }
    A[0] = A0, A[1] = A1, A[2] = A2, A[3] = A3;
    for (int q = 0; q < 4; q++) {
        s->a[2 * q] = (vm_f64){A[q][0], A[q][1]};
        s->a[2 * q + 1] = (vm_f64){A[q][2], A[q][3]};
    }
    return i;
}
#else
int vm_use_avx2(void) { return 0; }
#endif

double vm_sumsq(const float *x, size_t n)
{
    vm_sq16 s = {0};
    size_t i = 0;
#ifdef VM_HAVE_AVX2
    if (vm_use_avx2()) i = sumsq_avx2(x, 0, n, &s);
#endif
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j += VM_W) vm_sq16_add(&s, j, vm_load(x + i + j, VM_W));
    for (; i < n; i += VM_W) vm_sq16_add(&s, i, vm_load(x + i, n - i < VM_W ? n - i : VM_W));
    return vm_sq16_total(&s);
}

void vm_dot_sumsq(const float *a, const float *b, size_t n, double *ab, double *bb)
{
    vm_f64 d0 = {0, 0}, d1 = d0, d2 = d0, d3 = d0, q0 = d0, q1 = d0, q2 = d0, q3 = d0;
    size_t i = 0;
    for (; i < n; i += 2 * VM_W) {
        size_t k = n - i < 2 * VM_W ? n - i : 2 * VM_W;   /* missing lanes load as 0 */
        size_t k0 = k < VM_W ? k : VM_W, k1 = k - k0;
        vm_f32 x = vm_load(a + i, k0), y = vm_load(b + i, k0);
        vm_f32 z = k1 ? vm_load(a + i + VM_W, k1) : vm_splat(0), w = k1 ? vm_load(b + i + VM_W, k1) : vm_splat(0);
        vm_f64 y0 = lo64(y), y1 = hi64(y), w0 = lo64(w), w1 = hi64(w);
        d0 += lo64(x) * y0, d1 += hi64(x) * y1, d2 += lo64(z) * w0, d3 += hi64(z) * w1;
        q0 += y0 * y0, q1 += y1 * y1, q2 += w0 * w0, q3 += w1 * w1;
    }
    *ab = hsum(d0, d1, d2, d3);
    *bb = hsum(q0, q1, q2, q3);
}

void vm_scale(float *restrict y, const float *restrict x, float a, size_t n)
{
    vm_f32 va = vm_splat(a);
    for (size_t i = 0; i < n; i += VM_W) {
        size_t k = n - i < VM_W ? n - i : VM_W;
        vm_store(y + i, va * vm_load(x + i, k), k);
    }
}

void vm_add_sumsq(const float *p, const float *u, size_t n, double *usq, double *psq)
{
    vm_f64 u0 = {0, 0}, u1 = {0, 0}, q0 = {0, 0}, q1 = {0, 0};
    size_t i = 0;
    for (; i + VM_W <= n; i += VM_W) {
        vm_f32 vu = vm_load(u + i, VM_W);
        vm_f32 vp = vm_load(p + i, VM_W) + vu;
        vm_f64 a = lo64(vu), b = hi64(vu), c = lo64(vp), d = hi64(vp);
        u0 += a * a;
        u1 += b * b;
        q0 += c * c;
        q1 += d * d;
    }
    vm_f64 z = {0, 0};
    double su = hsum(u0, u1, z, z), sp = hsum(q0, q1, z, z);
    for (; i < n; i++) {
        float pn = p[i] + u[i];
        su += (double)u[i] * (double)u[i];
        sp += (double)pn * (double)pn;
    }
    *usq = su;
    *psq = sp;
}

void vm_add(float *restrict p, const float *restrict u, size_t n)
{
    for (size_t i = 0; i < n; i += VM_W) {
        size_t k = n - i < VM_W ? n - i : VM_W;
        vm_store(p + i, vm_load(p + i, k) + vm_load(u + i, k), k);
    }
}

void vm_rescale_applied(float *restrict p, float *restrict u, size_t n, float s, double *usq, double *psq)
{
    if (s != 1.0f) {
        float ds = s - 1.0f;
        for (size_t i = 0; i < n; i++) {
            p[i] += ds * u[i];
            u[i] *= s;
        }
    }
    double su = *usq, sp = *psq;
    for (size_t i = 0; i < n; i++) {
        su += (double)u[i] * u[i];
        sp += (double)p[i] * p[i];
    }
    *usq = su;
    *psq = sp;
}
