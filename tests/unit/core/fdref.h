/* fdref.h — helpers shared by the layer tests that check a float backward
 * against central finite differences of an independent double-precision
 * reference forward (test_layers.c, test_layers_conv.c, test_layernorm.c,
 * test_gru.c, test_attention.c, test_embedding.c).
 *
 * Method: the scalar checked is L = sum(r .* outputs) for a fixed random r,
 * so the float backward is fed dL/doutputs = r.  Central differences of the
 * double reference with step FDREF_H (truncation and rounding ~1e-9
 * relative) give the reference gradient; a float gradient must match it
 * within FDREF_GRAD_TOL relative to the largest entry of that tensor's
 * reference gradient, and the float forward the double one within
 * FDREF_FWD_TOL relative to the largest output. */
#ifndef OPTIRS_TEST_FDREF_H
#define OPTIRS_TEST_FDREF_H

#include <math.h>
#include <stdlib.h>
#include "rng.h"

#define FDREF_H 1e-6
#define FDREF_FWD_TOL 1e-5
#define FDREF_GRAD_TOL 1e-4

typedef double (*fdref_fn)(const double *th, const void *ctx);

/* max_i |ana_i - fd_i| / max(max_i |fd_i|, 1e-8) over th[lo..hi). */
static inline double fdref_grad_err(fdref_fn f, const void *ctx, double *th, size_t lo, size_t hi,
                                    const float *ana)
{
    double maxerr = 0, maxfd = 0;
    for (size_t i = lo; i < hi; i++) {
        double s = th[i];
        th[i] = s + FDREF_H; double fp = f(th, ctx);
        th[i] = s - FDREF_H; double fm = f(th, ctx);
        th[i] = s;
        double fd = (fp - fm) / (2 * FDREF_H);
        double e = fabs(fd - (double)ana[i - lo]);
        if (e > maxerr) maxerr = e;
        if (fabs(fd) > maxfd) maxfd = fabs(fd);
    }
    return maxerr / (maxfd > 1e-8 ? maxfd : 1e-8);
}

/* max_i |a_i - b_i| / max(max_i |b_i|, 1e-8). */
static inline double fdref_rel_diff(const float *a, const double *b, size_t n)
{
    double m = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > m) m = fabs(b[i]);
        if (fabs(a[i] - b[i]) > e) e = fabs(a[i] - b[i]);
    }
    return e / (m > 1e-8 ? m : 1e-8);
}

static inline double *fdref_to_d(const float *x, size_t n)
{
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static inline float *fdref_randf(rng *r, size_t n, float sd)
{
    float *x = malloc(sizeof(float) * n);
    rng_normal_fill(r, x, n, 0.0f, sd);
    return x;
}

#endif
