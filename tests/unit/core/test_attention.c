/* test_attention.c — attention_backward against central finite
 * differences of a double reference causal attention written here from
 * the formulas in attention.h (method and tolerances in fdref.h), for one
 * and several heads; causality (an output never depends on later
 * positions); rows of P sum to 1 with the masked part 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "attention.h"
#include "core/fdref.h"

typedef struct { int B, T, C, NH; const double *r; } att_ctx;

/* th = qkv (B,T,3C);  L = sum r .* out. */
static double att_loss(const double *th, const void *c)
{
    const att_ctx *k = c;
    int B = k->B, T = k->T, C = k->C, NH = k->NH, D = C / NH;
    double L = 0, s[64];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *q = th + ((size_t)b * T + t) * 3 * C + h * D;
                double mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    const double *kk = th + ((size_t)b * T + u) * 3 * C + C + h * D;
                    s[u] = 0;
                    for (int d = 0; d < D; d++) s[u] += q[d] * kk[d];
                    s[u] /= sqrt((double)D);
                    if (s[u] > mx) mx = s[u];
                }
                for (int u = 0; u <= t; u++) { s[u] = exp(s[u] - mx); sum += s[u]; }
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int u = 0; u <= t; u++) o += s[u] / sum * th[((size_t)b * T + u) * 3 * C + 2 * C + h * D + d];
                    L += k->r[((size_t)b * T + t) * C + h * D + d] * o;
                }
            }
    return L;
}

static void check_att(int B, int T, int C, int NH, uint64_t seed)
{
    rng g;
    rng_seed(&g, seed);
    size_t n = (size_t)B * T * 3 * C, no = (size_t)B * T * C;
    float *qkv = fdref_randf(&g, n, 1.0f), *r = fdref_randf(&g, no, 1.0f), *out = malloc(sizeof(float) * no);
    float *cache = malloc(sizeof(float) * attention_cache_size(B, T, NH));
    attention_forward(out, cache, qkv, B, T, C, NH);
    double *thd = fdref_to_d(qkv, n), *rd = fdref_to_d(r, no);
    att_ctx k = {B, T, C, NH, rd};
    double Lf = 0;
    for (size_t i = 0; i < no; i++) Lf += (double)r[i] * out[i];
    double Ld = att_loss(thd, &k);
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    /* every row of P sums to 1, the masked upper triangle is 0 */
    for (int bh = 0; bh < B * NH; bh++)
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int u = 0; u < T; u++) {
                float pv = cache[((size_t)bh * T + t) * T + u];
                if (u > t) assert_true(pv == 0.0f);
                s += pv;
            }
            assert_true(fabs(s - 1) < 1e-5);
        }
    float *d = calloc(n, sizeof(float));
    attention_backward(d, r, qkv, cache, B, T, C, NH);
    double e = fdref_grad_err(att_loss, &k, thd, 0, n, d);
    printf("  B=%d T=%d C=%d heads=%d dqkv rel err %.2e\n", B, T, C, NH, e);
    assert_true(e < FDREF_GRAD_TOL);
    free(qkv); free(r); free(out); free(cache); free(thd); free(rd); free(d);
}

static void test_attention_backward_matches_fd(void **st)
{
    (void)st;
    check_att(1, 1, 2, 1, 1);
    check_att(2, 4, 6, 1, 2);
    check_att(2, 5, 8, 2, 3);
    check_att(1, 6, 12, 4, 4);
}

/* Changing q, k or v at position 3 leaves the outputs at 0..2 bit for bit
 * unchanged and changes the output at 3. */
static void test_attention_is_causal(void **st)
{
    (void)st;
    enum { B = 1, T = 6, C = 4, NH = 2 };
    rng g;
    rng_seed(&g, 9);
    float *qkv = fdref_randf(&g, B * T * 3 * C, 1.0f), a[B * T * C], b[B * T * C];
    float cache[B * NH * T * T];
    attention_forward(a, cache, qkv, B, T, C, NH);
    for (int j = 0; j < 3 * C; j++) qkv[3 * 3 * C + j] += 0.5f;
    attention_forward(b, cache, qkv, B, T, C, NH);
    assert_memory_equal(a, b, sizeof(float) * 3 * C);
    assert_memory_not_equal(a + 3 * C, b + 3 * C, sizeof(float) * C);
    free(qkv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_backward_matches_fd),
        cmocka_unit_test(test_attention_is_causal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
