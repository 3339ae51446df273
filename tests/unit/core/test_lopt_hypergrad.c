/* test_lopt_hypergrad.c — mlp_lopt's hypergradient step scale
 * (hyperparameter `hypergrad`, lopt_hypergrad.c):
 * - on both kernels, each tensor's update is the rule-off update times
 *   e^ℓ, ℓ followed by a double-precision reference of ℓ −= β·cos(g_t,
 *   u_{t−1}) (the network reads no parameter values here, `features` adam,
 *   so both optimizers see the same inputs whatever their steps were);
 * - a persistent gradient grows the scale, a gradient that flips sign every
 *   step (each step overshoots) shrinks it, and the diagnostics say so;
 * - the state saves and loads bit for bit; a blob saved with the rule off
 *   loads into an optimizer with it on as its first step; a blob with the
 *   rule's section loads into one with it off; a cut section is corrupt;
 * - the memory it takes is counted; meta-training runs without it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "lopt_internal.h"
#include "meta.h"
#include "opt.h"
#include "rng.h"

#include "mlp_rules_fixture.h"

#define BETA 0.05

/* The fixture's optimizer with the anneal off (its own test: test_lopt_anneal.c). */
static void make(opt *o, const layout *lay, double beta) { rules_mlp(o, lay, beta, 0); }

static double ref_cos(const float *g, const double *up, size_t n)
{
    double gu = 0, gg = 0, uu = 0;
    for (size_t i = 0; i < n; i++) { gu += g[i] * up[i]; gg += (double)g[i] * g[i]; uu += up[i] * up[i]; }
    return gg > 0 && uu > 0 ? gu / sqrt(gg * uu) : 0;
}

/* g for step t: a fixed direction plus noise (persist = 1), or that
 * direction with its sign flipped every step (persist = 0). */
static void gradient(float *g, const float *dir, size_t n, int t, int persist, rng *r)
{
    float sgn = persist || t % 2 == 0 ? 1.0f : -1.0f;
    for (size_t i = 0; i < n; i++) g[i] = sgn * dir[i] + 0.3f * (float)rng_normal(r);
}

/* The layout and the vectors both tests step with: a gradient, its
 * direction, two updates, two parameter vectors. */
typedef struct bufs {
    layout lay;
    size_t n;
    float *g, *dir, *ua, *ub, *p, *q;
} bufs;

static void bufs_init(bufs *b)
{
    rules_layout(&b->lay);
    size_t n = b->n = b->lay.n;
    float **v[] = {&b->g, &b->dir, &b->ua, &b->ub, &b->p, &b->q};
    for (int k = 0; k < 6; k++) assert_non_null(*v[k] = calloc(n, sizeof(float)));
}

static void bufs_free(bufs *b)
{
    free(b->g); free(b->dir); free(b->ua); free(b->ub); free(b->p); free(b->q);
    layout_deinit(&b->lay);
}

static void test_scale_follows_the_reference_and_the_gradient(void **st)
{
    (void)st;
    bufs B;
    bufs_init(&B);
    double *uprev = calloc(B.n, sizeof(double));
    for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel += LOPT_KERNEL_FAST) {
        lopt_mlp_kernel = kernel;
        for (int persist = 1; persist >= 0; persist--) {
            rng r;
            rng_seed(&r, 7);
            for (size_t i = 0; i < B.n; i++) B.dir[i] = (float)rng_normal(&r);
            opt off, on;
            make(&off, &B.lay, 0);
            make(&on, &B.lay, BETA);
            memset(uprev, 0, B.n * sizeof(double));
            double ls[3] = {0, 0, 0};
            for (int t = 0; t < 120; t++) {
                gradient(B.g, B.dir, B.n, t, persist, &r);
                assert_int_equal(opt_step(&off, B.p, B.g, B.ua, NULL), 0);
                assert_int_equal(opt_step(&on, B.q, B.g, B.ub, NULL), 0);
                for (int k = 0; k < B.lay.ntensors; k++) {
                    size_t o0 = B.lay.tensors[k].offset, nt = B.lay.tensors[k].size;
                    ls[k] = fmin(fmax(ls[k] - BETA * ref_cos(B.g + o0, uprev + o0, nt), LOPT_HG_LOG_MIN), LOPT_HG_LOG_MAX);
                    for (size_t i = o0; i < o0 + nt; i++) {
                        double want = B.ua[i] * exp(ls[k]);
                        assert_true(fabs(B.ub[i] - want) <= 1e-4 * fabs(want) + 1e-30);
                        uprev[i] = want;
                    }
                }
            }
            /* a persistent gradient: every tensor's steps grew; a flipping
             * one: every tensor's shrank */
            for (int k = 0; k < B.lay.ntensors; k++) assert_true(persist ? ls[k] > 1.0 : ls[k] < -1.0);
            opt_diag_value d[OPT_DIAG_MAX];
            int nd = opt_diag(&on, d, OPT_DIAG_MAX);
            assert_int_equal(nd, 3);
            assert_string_equal(d[1].name, "hypergrad_scale_min");
            assert_string_equal(d[2].name, "hypergrad_scale_max");
            double lo = fmin(fmin(ls[0], ls[1]), ls[2]), hi = fmax(fmax(ls[0], ls[1]), ls[2]);
            assert_true(fabs(d[1].value - exp(lo)) <= 1e-4 * exp(lo) && fabs(d[2].value - exp(hi)) <= 1e-4 * exp(hi));
            assert_int_equal(opt_diag(&off, d, OPT_DIAG_MAX), 1);   /* off: no scale diagnostics */
            opt_deinit(&off);
            opt_deinit(&on);
        }
    }
    lopt_mlp_kernel = LOPT_KERNEL_FAST;
    free(uprev);
    bufs_free(&B);
}

/* Steps o `steps` times on persistent gradients from r. */
static void walk(opt *o, float *p, float *g, const float *dir, float *u, size_t n, int steps, rng *r)
{
    for (int t = 0; t < steps; t++) {
        gradient(g, dir, n, t, 1, r);
        assert_int_equal(opt_step(o, p, g, u, NULL), 0);
    }
}

static void test_state_saves_and_loads(void **st)
{
    (void)st;
    bufs B;
    bufs_init(&B);
    rng r;
    rng_seed(&r, 9);
    for (size_t i = 0; i < B.n; i++) B.dir[i] = (float)rng_normal(&r);
    opt a, b, off;
    make(&a, &B.lay, BETA);
    walk(&a, B.p, B.g, B.dir, B.ua, B.n, 40, &r);
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    /* bit for bit: a and a fresh b loaded from a's state */
    make(&b, &B.lay, BETA);
    assert_int_equal(opt_load(&b, blob, len), 0);
    memcpy(B.q, B.p, B.n * sizeof(float));
    for (int t = 0; t < 5; t++) {
        gradient(B.g, B.dir, B.n, t, 1, &r);
        assert_int_equal(opt_step(&a, B.p, B.g, B.ua, NULL), 0);
        assert_int_equal(opt_step(&b, B.q, B.g, B.ub, NULL), 0);
        assert_memory_equal(B.ua, B.ub, B.n * sizeof(float));
    }
    /* a cut section is corrupt */
    uint8_t *cut = malloc(len);
    memcpy(cut, blob, len);
    assert_int_equal(opt_load(&b, cut, len - 4), ERR_CORRUPT);
    free(cut);
    /* the rule's section loads into an optimizer with the rule off: it
     * then steps as a rule-off optimizer of the same accumulators */
    make(&off, &B.lay, 0);
    assert_int_equal(opt_load(&off, blob, len), 0);
    free(blob);
    /* a rule-off blob loads into a rule-on optimizer as its first step:
     * scale 1 and no last update, so the same update as the rule off */
    assert_int_equal(opt_save(&off, &blob, &len), 0);
    assert_int_equal(opt_load(&b, blob, len), 0);
    free(blob);
    memcpy(B.q, B.p, B.n * sizeof(float));
    gradient(B.g, B.dir, B.n, 0, 1, &r);
    assert_int_equal(opt_step(&off, B.p, B.g, B.ua, NULL), 0);
    assert_int_equal(opt_step(&b, B.q, B.g, B.ub, NULL), 0);
    assert_memory_equal(B.ua, B.ub, B.n * sizeof(float));
    opt_deinit(&a); opt_deinit(&b); opt_deinit(&off);
    bufs_free(&B);
}

static void test_memory_is_counted_and_meta_training_runs_without_it(void **st)
{
    (void)st;
    layout lay;
    rules_layout(&lay);
    opt_config on, off;
    assert_int_equal(opt_config_defaults(&on, "mlp_lopt"), 0);
    off = on;
    assert_true(on.hp[opt_hparam_index(opt_find("mlp_lopt"), "hypergrad")] > 0);   /* on by default */
    assert_int_equal(opt_config_set(&off, "hypergrad", 0), 0);
    uint64_t bon, boff;
    assert_int_equal(opt_bytes(&on, &lay, &bon), 0);
    assert_int_equal(opt_bytes(&off, &lay, &boff), 0);
    assert_true(bon - boff == (lay.n + (uint64_t)lay.ntensors) * sizeof(float));
    meta_config mc;
    meta_config_defaults(&mc);
    strcpy(mc.optimizer, "mlp_lopt");
    opt_config inner;
    assert_int_equal(meta_inner_config(&mc, &inner), 0);
    assert_true(inner.hp[opt_hparam_index(opt_find("mlp_lopt"), "hypergrad")] == 0);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_follows_the_reference_and_the_gradient),
        cmocka_unit_test(test_state_saves_and_loads),
        cmocka_unit_test(test_memory_is_counted_and_meta_training_runs_without_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
