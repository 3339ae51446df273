/* test_layers_conv.c — conv2d, maxpool2 and gap (layers_conv.h) against
 * independent double-precision references written here from the formulas
 * (direct convolution loops, not im2col), and every backward against
 * central finite differences of those references.
 *
 * Method as in test_layers.c: the scalar checked is L = sum(r .* outputs)
 * with a fixed random r, so the float backward is fed dL/doutputs = r;
 * central differences of the double reference (step 1e-6) give the
 * reference gradient.  Tolerances: forward within 1e-5 relative to the
 * largest output, gradients within 1e-4 relative to the largest entry of
 * each tensor.  Max pooling is piecewise linear: its inputs are made
 * distinct (spaced >= 0.01 apart, far beyond the step) so no window's winner
 * changes under the perturbation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "layers_conv.h"
#include "fdref.h"
#include "rng.h"

/* ---- conv2d ------------------------------------------------------------- */

typedef struct { int B, H, W, C, O, K; const double *r; } conv_ctx;

/* y[n,y,x,o] = b[o] + sum_{ky,kx,c} x[n, y+ky-K/2, x+kx-K/2, c] W[ky,kx,c,o] */
static void ref_conv(double *y, const double *x, const double *w, const double *b, const conv_ctx *k)
{
    int R = k->K / 2;
    for (int n = 0; n < k->B; n++)
        for (int i = 0; i < k->H; i++)
            for (int j = 0; j < k->W; j++)
                for (int o = 0; o < k->O; o++) {
                    double s = b[o];
                    for (int ky = 0; ky < k->K; ky++)
                        for (int kx = 0; kx < k->K; kx++) {
                            int si = i + ky - R, sj = j + kx - R;
                            if (si < 0 || si >= k->H || sj < 0 || sj >= k->W) continue;
                            for (int c = 0; c < k->C; c++)
                                s += x[((n * k->H + si) * k->W + sj) * k->C + c] *
                                     w[((ky * k->K + kx) * k->C + c) * k->O + o];
                        }
                    y[((n * k->H + i) * k->W + j) * k->O + o] = s;
                }
}

/* th = [x (B,H,W,C) | W (K,K,C,O) | b (O)] */
static double conv_loss(const double *th, const void *c)
{
    const conv_ctx *k = c;
    size_t nx = (size_t)k->B * k->H * k->W * k->C, nw = (size_t)k->K * k->K * k->C * k->O;
    size_t ny = (size_t)k->B * k->H * k->W * k->O;
    double *y = malloc(sizeof(double) * ny);
    ref_conv(y, th, th + nx, th + nx + nw, k);
    double L = 0;
    for (size_t i = 0; i < ny; i++) L += k->r[i] * y[i];
    free(y);
    return L;
}

static void check_conv(int B, int H, int W, int C, int O, int K, uint64_t seed)
{
    conv2d cv;
    assert_int_equal(layer_conv2d_init(&cv, H, W, C, O, K), 0);
    size_t nx = (size_t)B * H * W * C, nw = (size_t)K * K * C * O, ny = (size_t)B * H * W * O;
    assert_int_equal(cv.nparams, nw + O);
    rng g;
    rng_seed(&g, seed);
    float *x = malloc(sizeof(float) * nx), *prm = malloc(sizeof(float) * cv.nparams);
    float *r = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
    rng_normal_fill(&g, x, nx, 0.0f, 1.0f);
    rng_normal_fill(&g, prm, cv.nparams, 0.0f, 0.5f);
    rng_normal_fill(&g, r, ny, 0.0f, 1.0f);
    float *cache = malloc(sizeof(float) * layer_conv2d_cache_size(&cv, B));
    float *scratch = malloc(sizeof(float) * layer_conv2d_scratch_size(&cv, B));
    layer_conv2d_forward(&cv, y, cache, prm, x, B);
    /* th = [x | W | b] in double */
    size_t n = nx + cv.nparams;
    double *th = malloc(sizeof(double) * n), *yd = malloc(sizeof(double) * ny), *rd = fdref_to_d(r, ny);
    for (size_t i = 0; i < nx; i++) th[i] = x[i];
    for (size_t i = 0; i < cv.nparams; i++) th[nx + i] = prm[i];
    conv_ctx k = {B, H, W, C, O, K, rd};
    ref_conv(yd, th, th + nx, th + nx + nw, &k);
    assert_true(fdref_rel_diff(y, yd, ny) < FDREF_FWD_TOL);
    float *dx = calloc(nx, sizeof(float)), *dp = calloc(cv.nparams, sizeof(float));
    layer_conv2d_backward(&cv, dp, dx, scratch, r, cache, prm, B);
    double ex = fdref_grad_err(conv_loss, &k, th, 0, nx, dx);
    double ew = fdref_grad_err(conv_loss, &k, th, nx, nx + nw, dp + cv.w_off);
    double eb = fdref_grad_err(conv_loss, &k, th, nx + nw, n, dp + cv.b_off);
    printf("  conv2d B%d %dx%d %d->%d k%d: dx %.1e dW %.1e db %.1e\n", B, H, W, C, O, K, ex, ew, eb);
    assert_true(ex < FDREF_GRAD_TOL && ew < FDREF_GRAD_TOL && eb < FDREF_GRAD_TOL);
    /* backward accumulates; dx = NULL leaves the parameter gradient the same */
    float *dp2 = calloc(cv.nparams, sizeof(float));
    layer_conv2d_backward(&cv, dp2, NULL, NULL, r, cache, prm, B);
    assert_memory_equal(dp, dp2, sizeof(float) * cv.nparams);
    layer_conv2d_backward(&cv, dp2, NULL, NULL, r, cache, prm, B);
    for (size_t i = 0; i < cv.nparams; i++) assert_true(fabsf(dp2[i] - 2 * dp[i]) <= 1e-5f * (1 + fabsf(dp[i])));
    free(x); free(prm); free(r); free(y); free(cache); free(scratch); free(th); free(yd); free(rd);
    free(dx); free(dp); free(dp2);
}

static void test_conv2d_matches_reference_and_fd(void **st)
{
    (void)st;
    check_conv(1, 1, 1, 1, 1, 1, 1);
    check_conv(2, 5, 4, 3, 2, 3, 2);   /* non-square, edges on every side */
    check_conv(3, 8, 8, 1, 4, 3, 3);   /* the conv_net first layer's shape */
    check_conv(2, 4, 4, 6, 5, 5, 4);   /* kernel wider than half the image */
    check_conv(4, 6, 6, 8, 16, 3, 5);  /* large enough for the BLAS path */
}

static void test_conv2d_init_refusals_and_init_params(void **st)
{
    (void)st;
    conv2d c;
    assert_int_equal(layer_conv2d_init(&c, 8, 8, 1, 4, 2), ERR_INVALID_ARGUMENT);   /* even kernel */
    assert_int_equal(layer_conv2d_init(&c, 0, 8, 1, 4, 3), ERR_INVALID_ARGUMENT);
    assert_int_equal(layer_conv2d_init(&c, 8, 8, 1, -4, 3), ERR_INVALID_ARGUMENT);
    assert_int_equal(layer_conv2d_init(&c, 1 << 16, 1 << 16, 1, 1, 3), ERR_INVALID_ARGUMENT);
    assert_int_equal(layer_conv2d_init(&c, 8, 8, 1 << 20, 1 << 12, 3), ERR_INVALID_ARGUMENT);
    /* He init: sample std of W within 5% of sqrt(2/fan_in), biases zero */
    assert_int_equal(layer_conv2d_init(&c, 4, 4, 32, 64, 3), 0);
    float *p = malloc(sizeof(float) * c.nparams);
    rng r;
    rng_seed(&r, 9);
    layer_conv2d_init_params(&c, p, &r, 1.0f, 2.0f);
    double s2 = 0;
    for (size_t i = 0; i < c.b_off; i++) s2 += (double)p[i] * p[i];
    double sd = sqrt(s2 / c.b_off), want = sqrt(2.0 / (9 * 32));
    assert_true(fabs(sd / want - 1) < 0.05);
    for (int i = 0; i < 64; i++) assert_true(p[c.b_off + i] == 0.0f);
    free(p);
}

/* ---- pooling ------------------------------------------------------------ */

typedef struct { int B, H, W, C; const double *r; int max; } pool_ctx;

static double pool_loss(const double *x, const void *c)
{
    const pool_ctx *k = c;
    double L = 0;
    if (k->max) {
        int ho = k->H / 2, wo = k->W / 2;
        for (int n = 0; n < k->B; n++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                    for (int ch = 0; ch < k->C; ch++) {
                        double m = -INFINITY;
                        for (int a = 0; a < 2; a++)
                            for (int b = 0; b < 2; b++)
                                m = fmax(m, x[((n * k->H + 2 * i + a) * k->W + 2 * j + b) * k->C + ch]);
                        L += k->r[((n * ho + i) * wo + j) * k->C + ch] * m;
                    }
    } else {
        for (int n = 0; n < k->B; n++)
            for (int ch = 0; ch < k->C; ch++) {
                double s = 0;
                for (int p = 0; p < k->H * k->W; p++) s += x[(n * k->H * k->W + p) * k->C + ch];
                L += k->r[n * k->C + ch] * s / (k->H * k->W);
            }
    }
    return L;
}

static void check_pool(int B, int H, int W, int C, int max, uint64_t seed)
{
    rng g;
    rng_seed(&g, seed);
    size_t nx = (size_t)B * H * W * C, ny = max ? (size_t)B * (H / 2) * (W / 2) * C : (size_t)B * C;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *r = malloc(sizeof(float) * ny);
    /* distinct values 0.01 apart, shuffled */
    for (size_t i = 0; i < nx; i++) x[i] = 0.01f * (float)i - 0.005f * (float)nx;
    for (size_t i = nx - 1; i > 0; i--) {
        size_t j = (size_t)rng_below(&g, i + 1);
        float tmp = x[i]; x[i] = x[j]; x[j] = tmp;
    }
    rng_normal_fill(&g, r, ny, 0.0f, 1.0f);
    int *idx = malloc(sizeof(int) * (ny ? ny : 1));
    if (max) layer_maxpool2_forward(y, idx, x, B, H, W, C);
    else layer_gap_forward(y, x, B, H, W, C);
    double *xd = fdref_to_d(x, nx), *rd = fdref_to_d(r, ny);
    pool_ctx k = {B, H, W, C, rd, max};
    /* forward: L(x) of the reference equals sum r .* y */
    double L = 0;
    for (size_t i = 0; i < ny; i++) L += (double)r[i] * y[i];
    double Lref = pool_loss(xd, &k);
    assert_true(fabs(L - Lref) <= 1e-5 * (1 + fabs(Lref)));
    float *dx = calloc(nx, sizeof(float));
    if (max) layer_maxpool2_backward(dx, r, idx, B, H, W, C);
    else layer_gap_backward(dx, r, B, H, W, C);
    double e = fdref_grad_err(pool_loss, &k, xd, 0, nx, dx);
    printf("  %s B%d %dx%d c%d: dx %.1e\n", max ? "maxpool2" : "gap", B, H, W, C, e);
    assert_true(e < FDREF_GRAD_TOL);
    free(x); free(y); free(r); free(idx); free(xd); free(rd); free(dx);
}

static void test_pooling_matches_reference_and_fd(void **st)
{
    (void)st;
    check_pool(1, 2, 2, 1, 1, 1);
    check_pool(2, 8, 6, 3, 1, 2);
    check_pool(3, 4, 4, 8, 1, 3);
    check_pool(1, 1, 1, 1, 0, 4);
    check_pool(2, 5, 3, 4, 0, 5);
    check_pool(3, 4, 4, 16, 0, 6);
}

/* Ties go to the first element in row-major order; a NaN in a window is
 * passed on (never hidden by a larger neighbour). */
static void test_maxpool_ties_and_nan(void **st)
{
    (void)st;
    float x[4] = {1.0f, 1.0f, 1.0f, 1.0f}, y[1];
    int idx[1];
    layer_maxpool2_forward(y, idx, x, 1, 2, 2, 1);
    assert_int_equal(idx[0], 0);
    float z[4] = {5.0f, NAN, 1.0f, 2.0f};
    layer_maxpool2_forward(y, idx, z, 1, 2, 2, 1);
    assert_true(isnan(y[0]));
    assert_int_equal(idx[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_matches_reference_and_fd),
        cmocka_unit_test(test_conv2d_init_refusals_and_init_params),
        cmocka_unit_test(test_pooling_matches_reference_and_fd),
        cmocka_unit_test(test_maxpool_ties_and_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
