/* test_embedding.c — embedding forward values, the backward against
 * central finite differences of a double reference (fdref.h) with repeated
 * tokens (accumulation), the no-position variant, and known values of the
 * sinusoidal table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/fdref.h"
#include "embedding.h"

enum { B = 2, T = 3, C = 4, V = 5 };
static const int toks[B * T] = {1, 4, 1, 0, 1, 3};

typedef struct { const double *r; int pos; } emb_ctx;

/* th = [wte (V,C) | wpe (T,C)];  L = sum r .* y. */
static double emb_loss(const double *th, const void *c)
{
    const emb_ctx *k = c;
    double L = 0;
    for (int i = 0; i < B * T; i++)
        for (int j = 0; j < C; j++)
            L += k->r[i * C + j] * (th[toks[i] * C + j] + (k->pos ? th[V * C + (i % T) * C + j] : 0));
    return L;
}

static void test_embedding_matches_fd(void **st)
{
    (void)st;
    rng g;
    rng_seed(&g, 1);
    size_t n = (V + T) * C;
    float *th = fdref_randf(&g, n, 1.0f), *r = fdref_randf(&g, B * T * C, 1.0f), y[B * T * C];
    double *thd = fdref_to_d(th, n), *rd = fdref_to_d(r, B * T * C);
    for (int pos = 0; pos < 2; pos++) {
        embedding_forward(y, toks, th, pos ? th + V * C : NULL, B, T, C);
        for (int i = 0; i < B * T; i++)
            for (int j = 0; j < C; j++)
                assert_true(y[i * C + j] == th[toks[i] * C + j] + (pos ? th[V * C + (i % T) * C + j] : 0.0f));
        float *d = calloc(n, sizeof(float));
        embedding_backward(d, pos ? d + V * C : NULL, r, toks, B, T, C);
        emb_ctx k = {rd, pos};
        assert_true(fdref_grad_err(emb_loss, &k, thd, 0, n, d) < FDREF_GRAD_TOL);
        /* token 2 never occurs: its row stays 0 */
        for (int j = 0; j < C; j++) assert_true(d[2 * C + j] == 0.0f);
        free(d);
    }
    free(th); free(r); free(thd); free(rd);
}

static void test_sinusoid_values(void **st)
{
    (void)st;
    float pe[4 * 6];
    embedding_sinusoid(pe, 4, 6);
    for (int c = 0; c < 6; c++) assert_true(pe[c] == (c % 2 ? 1.0f : 0.0f));   /* t = 0 */
    assert_true(fabsf(pe[6 + 0] - sinf(1.0f)) < 1e-6f);
    assert_true(fabsf(pe[6 + 1] - cosf(1.0f)) < 1e-6f);
    double f = pow(10000.0, -2.0 / 6);
    assert_true(fabs(pe[3 * 6 + 2] - sin(3 * f)) < 1e-6);
    assert_true(fabs(pe[3 * 6 + 3] - cos(3 * f)) < 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_matches_fd),
        cmocka_unit_test(test_sinusoid_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
