/* test_gru.c — gru_backward against central finite differences of a
 * double reference GRU step written here from the formulas in gru.h
 * (method and tolerances in fdref.h), on loop and BLAS sizes, and a
 * two-step chain (h_prev's gradient carries through). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/fdref.h"
#include "errors.h"
#include "gru.h"

typedef struct { const gru *g; int B; const double *r; } gru_ctx;

static double sig(double x) { return 1 / (1 + exp(-x)); }

/* th = [params | x (B,in) | h_prev (B,H)];  L = sum r .* h. */
static double gru_loss(const double *th, const void *c)
{
    const gru_ctx *k = c;
    const gru *g = k->g;
    int B = k->B, I = g->in, H = g->hidden, G = 3 * H;
    const double *x = th + g->nparams, *hp = x + (size_t)B * I;
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double gx[3], gh[3];
            for (int q = 0; q < 3; q++) {
                int col = q * H + j;
                double sx = th[g->bx_off + col], sh = th[g->bh_off + col];
                for (int p = 0; p < I; p++) sx += x[b * I + p] * th[g->wx_off + (size_t)p * G + col];
                for (int p = 0; p < H; p++) sh += hp[b * H + p] * th[g->wh_off + (size_t)p * G + col];
                gx[q] = sx; gh[q] = sh;
            }
            double r = sig(gx[0] + gh[0]), z = sig(gx[1] + gh[1]);
            double n = tanh(gx[2] + r * gh[2]);
            L += k->r[b * H + j] * ((1 - z) * n + z * hp[b * H + j]);
        }
    return L;
}

static void check_gru(int I, int H, int B, uint64_t seed)
{
    gru g;
    assert_int_equal(gru_init(&g, I, H), 0);
    rng rg;
    rng_seed(&rg, seed);
    size_t nx = (size_t)B * I, nh = (size_t)B * H, n = g.nparams + nx + nh;
    float *th = malloc(sizeof(float) * n);
    gru_init_params(&g, th, &rg, 1.5f);
    rng_normal_fill(&rg, th + g.bx_off, g.nparams - g.bx_off, 0.0f, 0.5f);
    rng_normal_fill(&rg, th + g.nparams, nx + nh, 0.0f, 1.0f);
    const float *x = th + g.nparams, *hp = x + nx;
    float *r = fdref_randf(&rg, nh, 1.0f), *h = malloc(sizeof(float) * nh);
    float *cache = malloc(sizeof(float) * gru_cache_size(&g, B));
    float *scr = malloc(sizeof(float) * gru_scratch_size(&g, B));
    gru_forward(&g, h, cache, th, x, hp, B);
    float *d = calloc(n, sizeof(float));
    gru_backward(&g, d, d + g.nparams, d + g.nparams + nx, scr, r, cache, th, x, hp, B);
    double *thd = fdref_to_d(th, n), *rd = fdref_to_d(r, nh);
    gru_ctx k = {&g, B, rd};
    double Lf = 0;
    for (size_t i = 0; i < nh; i++) Lf += (double)r[i] * h[i];
    double Ld = gru_loss(thd, &k);
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    size_t cuts[] = {g.wx_off, g.wh_off, g.bx_off, g.bh_off, g.nparams, g.nparams + nx, n};
    for (int s = 0; s < 6; s++) {
        double e = fdref_grad_err(gru_loss, &k, thd, cuts[s], cuts[s + 1], d + cuts[s]);
        printf("  I=%d H=%d B=%d part %d rel err %.2e\n", I, H, B, s, e);
        assert_true(e < FDREF_GRAD_TOL);
    }
    free(th); free(r); free(h); free(cache); free(scr); free(d); free(thd); free(rd);
}

static void test_gru_backward_matches_fd(void **st)
{
    (void)st;
    check_gru(3, 4, 2, 1);
    check_gru(1, 1, 1, 2);
    check_gru(20, 16, 8, 3);    /* BLAS path */
}

/* Two steps h1 = GRU(x0, 0), h2 = GRU(x1, h1), L = sum r .* h2: the
 * gradient of x0 flows through dh_prev; checked by finite differences of
 * the float forward itself (step 1e-2, tolerance 2e-3). */
static void test_gru_two_steps_chain(void **st)
{
    (void)st;
    enum { I = 3, H = 5, B = 2 };
    gru g;
    assert_int_equal(gru_init(&g, I, H), 0);
    rng rg;
    rng_seed(&rg, 7);
    float *p = malloc(sizeof(float) * g.nparams);
    gru_init_params(&g, p, &rg, 1.0f);
    float x[2][B * I], h0[B * H] = {0}, h1[B * H], h2[B * H], r[B * H];
    rng_normal_fill(&rg, &x[0][0], 2 * B * I, 0.0f, 1.0f);
    rng_normal_fill(&rg, r, B * H, 0.0f, 1.0f);
    float c1[6 * B * H], c2[6 * B * H], scr[6 * B * H];
    gru_forward(&g, h1, c1, p, x[0], h0, B);
    gru_forward(&g, h2, c2, p, x[1], h1, B);
    float dh1[B * H] = {0}, dx0[B * I] = {0};
    gru_backward(&g, NULL, NULL, dh1, scr, r, c2, p, x[1], h1, B);
    gru_backward(&g, NULL, dx0, NULL, scr, dh1, c1, p, x[0], h0, B);
    double maxe = 0, maxg = 0;
    for (int i = 0; i < B * I; i++) {
        float s = x[0][i];
        double f[2];
        for (int side = 0; side < 2; side++) {
            x[0][i] = s + (side ? -1e-2f : 1e-2f);
            gru_forward(&g, h1, c1, p, x[0], h0, B);
            gru_forward(&g, h2, c2, p, x[1], h1, B);
            f[side] = 0;
            for (int j = 0; j < B * H; j++) f[side] += (double)r[j] * h2[j];
        }
        x[0][i] = s;
        double fd = (f[0] - f[1]) / 2e-2;
        if (fabs(fd - dx0[i]) > maxe) maxe = fabs(fd - dx0[i]);
        if (fabs(fd) > maxg) maxg = fabs(fd);
    }
    assert_true(maxg > 0);
    assert_true(maxe / maxg < 2e-3);
    free(p);
}

static void test_gru_init_rejects_bad_sizes(void **st)
{
    (void)st;
    gru g;
    assert_int_equal(gru_init(&g, 0, 3), ERR_INVALID_ARGUMENT);
    assert_int_equal(gru_init(&g, 3, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(gru_init(&g, 2, 3), 0);
    assert_int_equal((int)g.nparams, 2 * 9 + 3 * 9 + 9 + 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gru_backward_matches_fd),
        cmocka_unit_test(test_gru_two_steps_chain),
        cmocka_unit_test(test_gru_init_rejects_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
