/* adam_kern.h — Adam's and AdamW's per-element pass over a range of
 * parameters: the moments, the update, and with `apply` the new params and
 * the sums of squares of the update and of the new params, all in ONE pass
 * over memory (read p, g, m, v; write m, v, update and, applying, p).
 * opt_classic's step, step_apply and step_range all run it.
 *
 * Two builds of the loop, picked at run time: 4-lane SSE (any x86-64, and
 * the plain GCC vector form elsewhere) and 8-lane AVX2 (with FMA).  Each element is
 * computed by the same float32 expressions in both (never contracted into
 * an FMA: -std=c11 turns contraction off for GCC, a pragma for clang), and
 * both fill the sums of squares' 16 partials (vm_sq16) in the same order —
 * the AVX2 build with fused multiply-adds in double, which equal the 4-lane
 * build's multiply then add because a float's square is exact in double —
 * so the two builds give bitwise identical updates, state and norms.
 *
 * The update is written with ordinary stores: non-temporal stores (no
 * read-for-ownership of the write-only update) measured slower on the
 * 2-core AMD machine the benches run on (bench/README.md).
 *
 * Thread rules: pure; safe from any thread on disjoint buffers. */
#ifndef OPTIRS_ADAM_KERN_H
#define OPTIRS_ADAM_KERN_H

#include <stddef.h>
#include "vecmath.h"

/* The per-step scalars, rounded to float32 once as torch rounds a Python
 * number handed to a float32 kernel. */
typedef struct adam_coef {
    float b1, c1;          /* beta1, 1 - beta1 */
    float b2, c2;          /* beta2, 1 - beta2 */
    float nss;             /* -(lr / bias_correction1) */
    float bc2;             /* sqrt(bias_correction2) */
    float eps;
    float wd;              /* L2 weight decay (Adam) */
    float decay;           /* 1 - lr * wd (AdamW) */
    float gscale;          /* gradient scale: the clipping coefficient, else exactly 1 */
    int   l2, shrink;      /* Adam's L2 term / AdamW's decoupled decay are active */
} adam_coef;

/* Runs elements [0, n) of the arrays (each already offset to the range).
 * vmax: AMSGrad's running maximum or NULL.  apply = 0: params are only read
 * (su, sp untouched; may be NULL); apply = 1: params += update, and the
 * squares of the update and of the new params are added to *su and *sp
 * (element i of the range into partial i mod 16). */
void adam_pass(const adam_coef *c, float *p, const float *g, float *m, float *v, float *vmax, float *u,
               size_t n, int apply, vm_sq16 *su, vm_sq16 *sp);

#endif
