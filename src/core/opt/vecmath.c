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

/* vm_sumsq's blocks of 8 on AVX2, [i, n - (n - i) mod 8): A = {a0, a1} and
 * B = {a2, a3} of the 4-lane loop, each lane adding the same elements in
 * the same order.  Returns where it stopped. */
__attribute__((target("avx2,fma"))) static size_t sumsq_avx2(const float *x, size_t i, size_t n, vm_f64 acc[4])
{
    vm_f64x4 A = {acc[0][0], acc[0][1], acc[1][0], acc[1][1]}, B = {acc[2][0], acc[2][1], acc[3][0], acc[3][1]};
    for (; i + 2 * VM_W <= n; i += 2 * VM_W) {
        vm_f64x4 v = (vm_f64x4)_mm256_cvtps_pd(_mm_loadu_ps(x + i));
        vm_f64x4 w = (vm_f64x4)_mm256_cvtps_pd(_mm_loadu_ps(x + i + VM_W));
        A = (vm_f64x4)_mm256_fmadd_pd((__m256d)v, (__m256d)v, (__m256d)A);   /* exact square: = A + v * v */
        B = (vm_f64x4)_mm256_fmadd_pd((__m256d)w, (__m256d)w, (__m256d)B);
    }
    acc[0] = (vm_f64){A[0], A[1]}, acc[1] = (vm_f64){A[2], A[3]};
    acc[2] = (vm_f64){B[0], B[1]}, acc[3] = (vm_f64){B[2], B[3]};
    return i;
}
#else
int vm_use_avx2(void) { return 0; }
#endif

void vm_sumsq_feed(vm_sumsq_run *r, const float *x, size_t avail)
{
    size_t i = r->done;
#ifdef VM_HAVE_AVX2
    if (vm_use_avx2()) i = sumsq_avx2(x, i, avail, r->a);
#endif
    vm_f64 a0 = r->a[0], a1 = r->a[1], a2 = r->a[2], a3 = r->a[3];
    for (; i + 2 * VM_W <= avail; i += 2 * VM_W) {
        vm_f32 v = vm_load(x + i, VM_W), w = vm_load(x + i + VM_W, VM_W);
        vm_f64 v0 = lo64(v), v1 = hi64(v), w0 = lo64(w), w1 = hi64(w);
        a0 += v0 * v0;
        a1 += v1 * v1;
        a2 += w0 * w0;
        a3 += w1 * w1;
    }
    r->a[0] = a0, r->a[1] = a1, r->a[2] = a2, r->a[3] = a3;
    r->done = i;
}

double vm_sumsq_end(vm_sumsq_run *r, const float *x, size_t n)
{
    vm_sumsq_feed(r, x, n);
    double s = hsum(r->a[0], r->a[1], r->a[2], r->a[3]);
    for (size_t i = r->done; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

double vm_sumsq(const float *x, size_t n)
{
    vm_sumsq_run r = {0};
    return vm_sumsq_end(&r, x, n);
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
