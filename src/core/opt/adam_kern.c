/* adam_kern.c — see adam_kern.h.  The 4-lane loop is the reference (its
 * per-element arithmetic is the loop opt_classic ran before); the AVX2 loop
 * does the same per element on 8 lanes, 16 elements per iteration, and
 * hands its tail (n mod 16) and its partial sums to the 4-lane loop. */
#include "adam_kern.h"

/* The AVX2 build enables FMA for the sums of squares only (a float's square
 * is exact in double, so fma(a, a, s) == s + a * a); no float expression
 * may be contracted.  GCC under -std=c11 does not contract; clang must be
 * told. */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

/* One 4-lane vector of the pass: elements [i, i + k) (k <= 4; missing
 * lanes are zero and add exact zeros to the sums). */
static inline void step4(const adam_coef *c, float *p, const float *g, float *m, float *v, float *vmax,
                         float *u, size_t i, size_t k, int apply, vm_sq16 *su, vm_sq16 *sp)
{
    const int need_p = c->l2 || c->shrink || apply;
    vm_f32 gi = vm_load(g + i, k);
    if (c->gscale != 1.0f) gi = vm_splat(c->gscale) * gi;   /* vm_scale's product: clipping in this pass */
    vm_f32 pi = need_p ? vm_load(p + i, k) : vm_splat(0);
    if (c->l2) gi = gi + vm_splat(c->wd) * pi;
    vm_f32 mi = vm_load(m + i, k) * vm_splat(c->b1) + vm_splat(c->c1) * gi;
    vm_f32 vi = vm_load(v + i, k) * vm_splat(c->b2) + (vm_splat(c->c2) * gi) * gi;
    vm_store(m + i, mi, k);
    vm_store(v + i, vi, k);
    if (vmax) {
        vi = vm_max(vm_load(vmax + i, k), vi);
        vm_store(vmax + i, vi, k);
    }
    vm_f32 delta = (vm_splat(c->nss) * mi) / (vm_sqrt(vi) / vm_splat(c->bc2) + vm_splat(c->eps));
    /* torch: param.mul_(1 - lr*wd) then addcdiv_; report the difference */
    if (c->shrink) delta = (pi * vm_splat(c->decay) + delta) - pi;
    vm_store(u + i, delta, k);
    if (apply) {
        vm_f32 pn = pi + delta;   /* exactly what vm_add would store */
        vm_store(p + i, pn, k);
        vm_sq16_add(su, i, delta);
        vm_sq16_add(sp, i, pn);
    }
}

/* The 4-lane loop over [i0, n); i0 is a multiple of 16. */
static void pass_sse(const adam_coef *c, float *p, const float *g, float *m, float *v, float *vmax, float *u,
                     size_t i0, size_t n, int apply, vm_sq16 *su, vm_sq16 *sp)
{
    const adam_coef cc = *c;   /* a local copy: stores through the float pointers cannot change it */
    c = &cc;
    size_t i = i0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j += VM_W) step4(c, p, g, m, v, vmax, u, i + j, VM_W, apply, su, sp);
    for (; i < n; i += VM_W) step4(c, p, g, m, v, vmax, u, i, n - i < VM_W ? n - i : VM_W, apply, su, sp);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ADAM_HAVE_AVX2 1

typedef float  v8f __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

/* AVX2 and FMA: vm_use_avx2() checks both. */
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline v8f ld8(const float *q) { return (v8f)_mm256_loadu_ps(q); }
AVX2 static inline void st8(float *q, v8f x) { _mm256_storeu_ps(q, (__m256)x); }
AVX2 static inline v8f splat8(float x) { return (v8f)_mm256_set1_ps(x); }
/* acc + x's lanes 0-3 (lo) or 4-7 (hi) squared, in double: exact squares,
 * one rounding, the same as the 4-lane build's multiply then add. */
AVX2 static inline v4d fsq_lo(v4d acc, v8f x)
{
    __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128((__m256)x));
    return (v4d)_mm256_fmadd_pd(a, a, (__m256d)acc);
}
AVX2 static inline v4d fsq_hi(v4d acc, v8f x)
{
    __m256d a = _mm256_cvtps_pd(_mm256_extractf128_ps((__m256)x, 1));
    return (v4d)_mm256_fmadd_pd(a, a, (__m256d)acc);
}
/* vm_max on 8 lanes: a where a > b, else b (b's NaN): the same bits. */
AVX2 static inline v8f max8(v8f a, v8f b)
{
    __m256 take_a = _mm256_cmp_ps((__m256)a, (__m256)b, _CMP_GT_OQ);
    return (v8f)_mm256_blendv_ps((__m256)b, (__m256)a, take_a);
}

/* Elements [i, i + 8): step4's arithmetic on 8 lanes; *dn and *pn get the
 * update and the new params (for the sums). */
AVX2 static inline void step8(const adam_coef *c, float *p, const float *g, float *m, float *v, float *vmax,
                              float *u, size_t i, int apply, v8f *dn, v8f *pn)
{
    const int need_p = c->l2 || c->shrink || apply;
    v8f gi = ld8(g + i);
    if (c->gscale != 1.0f) gi = splat8(c->gscale) * gi;
    v8f pi = need_p ? ld8(p + i) : splat8(0);
    if (c->l2) gi = gi + splat8(c->wd) * pi;
    v8f mi = ld8(m + i) * splat8(c->b1) + splat8(c->c1) * gi;
    v8f vi = ld8(v + i) * splat8(c->b2) + (splat8(c->c2) * gi) * gi;
    st8(m + i, mi);
    st8(v + i, vi);
    if (vmax) {
        vi = max8(ld8(vmax + i), vi);
        st8(vmax + i, vi);
    }
    v8f delta = (splat8(c->nss) * mi) / ((v8f)_mm256_sqrt_ps((__m256)vi) / splat8(c->bc2) + splat8(c->eps));
    if (c->shrink) delta = (pi * splat8(c->decay) + delta) - pi;
    st8(u + i, delta);
    if (apply) {
        *pn = pi + delta;
        st8(p + i, *pn);
    }
    *dn = delta;
}

/* Elements [0, n - n mod 16); returns how many it did.  The four
 * accumulators are partials 0-3, 4-7, 8-11 and 12-15 of vm_sq16. */
AVX2 static size_t pass_avx2(const adam_coef *c, float *p, const float *g, float *m, float *v, float *vmax,
                             float *u, size_t n, int apply, vm_sq16 *su, vm_sq16 *sp)
{
    const adam_coef cc = *c;   /* a local copy: stores through the float pointers cannot change it */
    c = &cc;
    v4d u0 = {0, 0, 0, 0}, u1 = u0, u2 = u0, u3 = u0, p0 = u0, p1 = u0, p2 = u0, p3 = u0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f d0, d1, q0 = {0}, q1 = {0};
        step8(c, p, g, m, v, vmax, u, i, apply, &d0, &q0);
        step8(c, p, g, m, v, vmax, u, i + 8, apply, &d1, &q1);
        if (apply) {
            u0 = fsq_lo(u0, d0), u1 = fsq_hi(u1, d0), u2 = fsq_lo(u2, d1), u3 = fsq_hi(u3, d1);
            p0 = fsq_lo(p0, q0), p1 = fsq_hi(p1, q0), p2 = fsq_lo(p2, q1), p3 = fsq_hi(p3, q1);
        }
    }
    if (apply) {
        const v4d us[4] = {u0, u1, u2, u3}, ps[4] = {p0, p1, p2, p3};
        for (int q = 0; q < 4; q++) {
            su->a[2 * q] += (vm_f64){us[q][0], us[q][1]}, su->a[2 * q + 1] += (vm_f64){us[q][2], us[q][3]};
            sp->a[2 * q] += (vm_f64){ps[q][0], ps[q][1]}, sp->a[2 * q + 1] += (vm_f64){ps[q][2], ps[q][3]};
        }
    }
    return i;
}
#endif

void adam_pass(const adam_coef *c, float *p, const float *g, float *m, float *v, float *vmax, float *u,
               size_t n, int apply, vm_sq16 *su, vm_sq16 *sp)
{
    vm_sq16 zu = {0}, zp = {0};
    if (!apply) su = &zu, sp = &zp;
    size_t done = 0;
#ifdef ADAM_HAVE_AVX2
    if (vm_use_avx2()) done = pass_avx2(c, p, g, m, v, vmax, u, n, apply, su, sp);
#endif
    pass_sse(c, p, g, m, v, vmax, u, done, n, apply, su, sp);
}
