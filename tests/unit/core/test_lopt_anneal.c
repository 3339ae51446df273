/* test_lopt_anneal.c — mlp_lopt's anneal (hyperparameter `anneal`,
 * lopt_mlp.c): on every kernel, each tensor's update is the anneal-off
 * update times min(1, k·q^¼), q = mean(g²) / mean(v) over the tensor, with
 * v recomputed here from the network's decay: bit for bit the off update
 * while the gradient keeps its scale, and a fraction of it once the
 * gradient has fallen 1e4-fold; the diagnostic counts the scaled tensors;
 * it is on by default and meta-training runs without it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "lopt_internal.h"
#include "meta.h"
#include "opt.h"
#include "rng.h"

#include "mlp_rules_fixture.h"

#define K 3.0

/* The fixture's optimizer with the hypergradient scale off: the anneal alone. */
static void make(opt *o, const layout *lay, double anneal) { rules_mlp(o, lay, 0, anneal); }

static double diag_value(const opt *o, const char *name)
{
    opt_diag_value d[OPT_DIAG_MAX];
    int nd = opt_diag(o, d, OPT_DIAG_MAX);
    for (int k = 0; k < nd; k++)
        if (strcmp(d[k].name, name) == 0) return d[k].value;
    return NAN;
}

static void test_update_is_scaled_by_the_quarter_power(void **st)
{
    (void)st;
    const int kernels[] = {LOPT_KERNEL_LOOP, LOPT_KERNEL_BLAS, LOPT_KERNEL_FAST};
    layout lay;
    rules_layout(&lay);
    size_t n = lay.n;
    float *g = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    float *p = calloc(n, sizeof(float)), *q = calloc(n, sizeof(float));
    float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
    assert_true(g && v && p && q && ua && ub);
    for (size_t kk = 0; kk < sizeof kernels / sizeof kernels[0]; kk++) {
        lopt_mlp_kernel = kernels[kk];
        opt off, on;
        make(&off, &lay, 0);
        make(&on, &lay, K);
        float bv = lopt_sigmoidf(lopt_opt_weights(&on)->theta[3]), cv = 1 - bv;   /* v's decay, as the kernels */
        memset(v, 0, n * sizeof(float));
        rng r;
        rng_seed(&r, 11);
        double smallest = 1;
        for (int t = 0; t < 80; t++) {
            float scale = t < 40 ? 1.0f : 1e-4f;   /* the gradient falls 1e4-fold at step 40 */
            for (size_t i = 0; i < n; i++) g[i] = scale * (float)rng_normal(&r);
            assert_int_equal(opt_step(&off, p, g, ua, NULL), 0);
            assert_int_equal(opt_step(&on, q, g, ub, NULL), 0);
            int scaled = 0;
            for (int k = 0; k < lay.ntensors; k++) {
                size_t o0 = lay.tensors[k].offset, nt = lay.tensors[k].size;
                double sg = 0, sv = 0;
                for (size_t i = o0; i < o0 + nt; i++) {
                    v[i] = bv * v[i] + cv * g[i] * g[i];
                    sg += (double)g[i] * g[i];
                    sv += v[i];
                }
                double c = fmin(1.0, K * pow(sg / sv, 0.25));
                if (c < 1 - 1e-4) {
                    scaled++;
                    for (size_t i = o0; i < o0 + nt; i++)
                        assert_true(fabs(ub[i] - c * ua[i]) <= 1e-4 * fabs(c * ua[i]) + 1e-30);
                } else if (c == 1) {
                    assert_memory_equal(ub + o0, ua + o0, nt * sizeof(float));
                }
                smallest = fmin(smallest, c);
            }
            assert_true(diag_value(&on, "anneal_scaled") == scaled);
            assert_true(t < 40 ? scaled == 0 : scaled == lay.ntensors);
        }
        assert_true(smallest < 0.2);   /* the fallen gradient's steps are a fraction of the network's */
        assert_true(isnan(diag_value(&off, "anneal_scaled")));   /* off: no diagnostic */
        /* a step whose gradient is exactly zero gives finite updates, zero
         * (the hold) */
        memset(g, 0, n * sizeof(float));
        assert_int_equal(opt_step(&on, q, g, ub, NULL), 0);
        for (size_t i = 0; i < n; i++) assert_true(ub[i] == 0.0f);
        opt_deinit(&off);
        opt_deinit(&on);
    }
    lopt_mlp_kernel = LOPT_KERNEL_FAST;
    free(g); free(v); free(p); free(q); free(ua); free(ub);
    layout_deinit(&lay);
}

static void test_on_by_default_and_off_in_meta_training(void **st)
{
    (void)st;
    int ai = opt_hparam_index(opt_find("mlp_lopt"), "anneal");
    assert_true(ai >= 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_true(cfg.hp[ai] == 3);
    assert_int_equal(opt_config_set(&cfg, "anneal", -1), ERR_OUT_OF_RANGE);
    assert_int_not_equal(opt_config_set(&cfg, "anneal", NAN), 0);
    meta_config mc;
    meta_config_defaults(&mc);
    strcpy(mc.optimizer, "mlp_lopt");
    opt_config inner;
    assert_int_equal(meta_inner_config(&mc, &inner), 0);
    assert_true(inner.hp[ai] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_is_scaled_by_the_quarter_power),
        cmocka_unit_test(test_on_by_default_and_off_in_meta_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
