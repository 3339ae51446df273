/* test_layernorm.c — layernorm_backward against central finite differences
 * of a double reference LayerNorm written here from the formula (method and
 * tolerances in fdref.h); the affine-free variant (gain, bias NULL); a row
 * with a large common offset; and that the backward accumulates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/fdref.h"
#include "layernorm.h"

typedef struct { int R, D, affine; const double *r; } ln_ctx;

/* th = [x (R,D) | gain (D) | bias (D)]; L = sum r .* y. */
static double ln_loss(const double *th, const void *c)
{
    const ln_ctx *k = c;
    const double *x = th, *g = th + k->R * k->D, *b = g + k->D;
    double L = 0;
    for (int i = 0; i < k->R; i++) {
        double mu = 0, v = 0;
        for (int j = 0; j < k->D; j++) mu += x[i * k->D + j];
        mu /= k->D;
        for (int j = 0; j < k->D; j++) v += (x[i * k->D + j] - mu) * (x[i * k->D + j] - mu);
        double rstd = 1 / sqrt(v / k->D + (double)LAYERNORM_EPS);
        for (int j = 0; j < k->D; j++) {
            double y = (x[i * k->D + j] - mu) * rstd;
            if (k->affine) y = g[j] * y + b[j];
            L += k->r[i * k->D + j] * y;
        }
    }
    return L;
}

static void check_ln(int R, int D, int affine, float offset, uint64_t seed)
{
    rng g;
    rng_seed(&g, seed);
    size_t nx = (size_t)R * D, n = nx + 2 * (size_t)D;
    float *th = fdref_randf(&g, n, 1.0f), *r = fdref_randf(&g, nx, 1.0f);
    for (size_t i = 0; i < nx; i++) th[i] += offset;
    for (int j = 0; j < D; j++) th[nx + j] += 1.0f;       /* gains near 1 */
    const float *gain = affine ? th + nx : NULL, *bias = affine ? th + nx + D : NULL;
    float *y = malloc(sizeof(float) * nx), *cache = malloc(sizeof(float) * layernorm_cache_size(R));
    layernorm_forward(y, cache, th, gain, bias, R, D);
    double *thd = fdref_to_d(th, n), *rd = fdref_to_d(r, nx);
    ln_ctx k = {R, D, affine, rd};
    double Lf = 0;
    for (size_t i = 0; i < nx; i++) Lf += (double)r[i] * y[i];
    double Ld = ln_loss(thd, &k);
    printf("  R=%d D=%d affine=%d offset=%g: L float %.8f double %.8f\n", R, D, affine, offset, Lf, Ld);
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)) * (offset > 0 ? 10 : 1));
    float *d = calloc(n, sizeof(float));
    layernorm_backward(d, affine ? d + nx : NULL, affine ? d + nx + D : NULL, r, th, cache, gain, R, D);
    double tol = offset > 0 ? 1e-3 : FDREF_GRAD_TOL;
    double ex = fdref_grad_err(ln_loss, &k, thd, 0, nx, d);
    printf("    dx rel err %.2e\n", ex);
    assert_true(ex < tol);
    if (affine) {
        assert_true(fdref_grad_err(ln_loss, &k, thd, nx, nx + D, d + nx) < tol);
        assert_true(fdref_grad_err(ln_loss, &k, thd, nx + D, n, d + nx + D) < tol);
        /* accumulates: a second call doubles every gradient */
        float *d2 = malloc(sizeof(float) * n);
        memcpy(d2, d, sizeof(float) * n);
        layernorm_backward(d2, d2 + nx, d2 + nx + D, r, th, cache, gain, R, D);
        for (size_t i = 0; i < n; i++) assert_true(fabsf(d2[i] - 2 * d[i]) <= 1e-5f * (1 + fabsf(d[i])));
        free(d2);
    }
    free(th); free(r); free(y); free(cache); free(thd); free(rd); free(d);
}

static void test_layernorm_matches_fd(void **st)
{
    (void)st;
    check_ln(3, 5, 1, 0, 1);
    check_ln(1, 3, 1, 0, 2);   /* (D = 2 has dx ~ 0: xhat is +-1 whatever x) */
    check_ln(4, 7, 0, 0, 3);
    check_ln(8, 32, 1, 0, 4);
}

/* A common offset of 100 (float spacing 8e-6) still gives zero-mean,
 * unit-variance rows and a gradient matching the reference. */
static void test_layernorm_large_offset(void **st)
{
    (void)st;
    check_ln(2, 16, 1, 100.0f, 5);
    float x[4] = {1000.0f, 1001.0f, 1002.0f, 1003.0f}, y[4], cache[2];
    layernorm_forward(y, cache, x, NULL, NULL, 1, 4);
    double s = 0, s2 = 0;
    for (int j = 0; j < 4; j++) { s += y[j]; s2 += (double)y[j] * y[j]; }
    assert_true(fabs(s) < 1e-5);
    assert_true(fabs(s2 / 4 - 1) < 1e-4);
    assert_true(fabsf(cache[0] - 1001.5f) < 1e-4f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_matches_fd),
        cmocka_unit_test(test_layernorm_large_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
