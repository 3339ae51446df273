/* f32scan.h — whether a float32 vector holds only finite values, at memory
 * speed: the check a binary step body gets before the session sees it.
 *
 * x - x is 0 for a finite x and NaN for an infinity or a NaN, and a NaN
 * stays in a running sum; four vector lanes (vecmath.h) carry independent
 * sums, so the pass is branch-free and vectorized at -O2 (a loop of
 * isfinite() with an early exit is neither).  The answer is exact: no
 * finite value can make a sum of zeros non-zero.
 * Thread rules: pure, any thread. */
#ifndef OPTIRS_F32SCAN_H
#define OPTIRS_F32SCAN_H

#include <stddef.h>

/* 1 when every v[i] (i < n) is finite (also for n == 0), else 0. */
int f32scan_all_finite(const float *v, size_t n);

#endif
