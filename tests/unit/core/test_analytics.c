/* test_analytics.c — the analytics math (core/analytics) and hypergradient
 * adaptation (core/adapt) on inputs with known answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "analytics.h"
#include "blob.h"
#include "opt.h"
#include "rng.h"
#include "../../fixtures/trend_curves.h"

/* EMA of a constant is that constant from the first sample on (debiased);
 * without debiasing the first value would be (1 - beta) c. */
static void test_ema_debiased_constant_is_exact(void **st)
{
    (void)st;
    double x[50], out[50];
    for (int i = 0; i < 50; i++) x[i] = 3.5;
    x[7] = NAN;
    analytics_ema(x, 50, 0.98, out);
    for (int i = 0; i < 50; i++) assert_true(fabs(out[i] - 3.5) < 1e-12);
}

static void test_ema_matches_hand_computation(void **st)
{
    (void)st;
    double x[3] = {1, 2, 4}, out[3];
    analytics_ema(x, 3, 0.5, out);
    /* m1 = .5, m2 = 1.25, m3 = 2.625; debias by 1 - .5^k */
    assert_true(fabs(out[0] - 1.0) < 1e-12);
    assert_true(fabs(out[1] - 1.25 / 0.75) < 1e-12);
    assert_true(fabs(out[2] - 2.625 / 0.875) < 1e-12);
}

static void test_window_mean_skips_nan(void **st)
{
    (void)st;
    double x[5] = {1, NAN, 3, 5, 7}, out[5];
    analytics_window_mean(x, 5, 2, out);
    assert_true(out[0] == 1 && out[1] == 1 && out[2] == 3 && out[3] == 4 && out[4] == 6);
}

static void curve(int kind, double noise, int64_t *s, double *y, int n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        s[i] = 1000 + i;
        double base = kind == 0 ? 5 * exp(-0.02 * i) : kind == 1 ? 2.0 : 1.0 * exp(0.01 * i);
        y[i] = base * (1 + noise * rng_normal(&r));
    }
}

static void test_trend_labels_synthetic_curves(void **st)
{
    (void)st;
    int64_t s[200];
    double y[200], work[ANALYTICS_TREND_WORK(200)];
    analytics_trend t;
    curve(0, 0.05, s, y, 200, 1);
    analytics_trend_fit(s, y, 200, 0.02, work, &t);
    assert_int_equal(t.kind, TREND_IMPROVING);
    assert_true(t.confidence > 0.99);
    assert_true(fabs(t.slope + 0.02) < 0.003);   /* log-space slope of exp(-0.02 t) */
    curve(1, 0.05, s, y, 200, 2);
    analytics_trend_fit(s, y, 200, 0.05, work, &t);
    assert_int_equal(t.kind, TREND_PLATEAU);
    assert_true(t.confidence > 0.9);
    curve(2, 0.05, s, y, 200, 3);
    analytics_trend_fit(s, y, 200, 0.02, work, &t);
    assert_int_equal(t.kind, TREND_DIVERGING);
    assert_true(t.confidence > 0.99);
    assert_true(fabs(t.p_improving + t.p_plateau + t.p_diverging - 1) < 1e-9);
    analytics_trend_fit(s, y, 4, 0.02, work, &t);
    assert_int_equal(t.kind, TREND_INSUFFICIENT);
}

/* Pure noise around a level: a plateau, but not with certainty when the
 * noise is large relative to the window (the confidence must say so). */
static void test_trend_confidence_drops_with_noise(void **st)
{
    (void)st;
    int64_t s[40];
    double y[40], work[ANALYTICS_TREND_WORK(40)];
    analytics_trend a, b;
    curve(1, 0.01, s, y, 40, 4);
    analytics_trend_fit(s, y, 40, 0.02, work, &a);
    curve(1, 0.5, s, y, 40, 4);
    analytics_trend_fit(s, y, 40, 0.02, work, &b);
    assert_true(a.kind == TREND_PLATEAU);
    assert_true(b.confidence < a.confidence);
}

/* Real minibatch loss curves (tests/fixtures/gen_trend_curves.py: torch
 * MLPs and a linear regression, SGD and Adam, seeded): every window of the
 * runs that train normally — falling, then noisy at the noise floor — is
 * never "diverging", for windows of 50, 200 (the API's default) and 1000
 * steps, ending every 5 steps; the run whose lr is too high is "diverging"
 * in every window of 200 or 1000 steps that ends past its brief initial
 * fall (step 60), and in 3 of 4 windows of 50 steps (its rise comes in
 * bursts with partial recoveries: 7000 at step 44, 35 at step 71).  The
 * least-squares fit used before fails this: docs/analytics.md#trend. */
static void test_trend_on_real_training_curves(void **st)
{
    (void)st;
    static const size_t windows[] = {50, 200, 1000};
    static int64_t s[1200];
    static double work[ANALYTICS_TREND_WORK(1200)];
    for (int i = 0; i < 1200; i++) s[i] = i + 1;
    for (int c = 0; c < TREND_CURVES_N; c++) {
        const trend_curve *tc = &trend_curves[c];
        assert_true(tc->n <= 1200);
        for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
            int checked = 0, flagged = 0, improving = 0;
            for (int end = 10; end <= tc->n; end += 5) {
                int from = end > (int)windows[w] ? end - (int)windows[w] : 0;
                analytics_trend t;
                analytics_trend_fit(s + from, tc->loss + from, (size_t)(end - from), 0.02, work, &t);
                assert_true(t.kind != TREND_INSUFFICIENT);
                assert_true(fabs(t.p_improving + t.p_plateau + t.p_diverging - 1) < 1e-9);
                checked++;
                flagged += t.kind == TREND_DIVERGING;
                improving += t.kind == TREND_IMPROVING;
                if (!tc->diverging && t.kind == TREND_DIVERGING)
                    fail_msg("%s, window %zu ending at step %d: diverging (change %g, noise %g)", tc->label,
                             windows[w], end, t.change, t.noise);
                if (tc->diverging && windows[w] >= 200 && end >= 60 && t.kind != TREND_DIVERGING)
                    fail_msg("%s, window %zu ending at step %d: %s, not diverging", tc->label, windows[w], end,
                             analytics_trend_name(t.kind));
            }
            assert_true(checked > 0);
            /* the normal runs do fall: most windows that see it say so */
            if (!tc->diverging) assert_true(improving > 0);
            else assert_true(flagged * 4 > checked * 3);
        }
    }
}

static void test_steps_to_fraction(void **st)
{
    (void)st;
    int64_t s[6] = {10, 11, 12, 13, 14, 15};
    double y[6] = {10, 8, 6, 4, 2, 0};
    assert_int_equal(analytics_steps_to_fraction(s, y, 6, 0.5), 3);   /* y <= 5 first at step 13 */
    assert_int_equal(analytics_steps_to_fraction(s, y, 6, 1.0), 5);
    double flat[3] = {1, 1, 1};
    assert_int_equal(analytics_steps_to_fraction(s, flat, 3, 0.5), -1);
}

static void test_stability_counts_spikes(void **st)
{
    (void)st;
    int64_t s[40];
    double loss[40], sm[40], u[40];
    for (int i = 0; i < 40; i++) {
        s[i] = i + 1;
        loss[i] = 1 + (i % 2 ? 0.1 : -0.1);
        sm[i] = 1;
        u[i] = 1;
    }
    u[25] = 10;   /* one spike */
    u[5] = 50;    /* before 10 norms: not judged */
    analytics_stability sb;
    analytics_stability_of(s, loss, sm, u, 40, 3.0, &sb);
    assert_int_equal(sb.spikes, 1);
    assert_int_equal(sb.spike_last_step, 26);
    assert_true(fabs(sb.loss_var - 0.01 * 40 / 39) < 1e-12);
}

static void test_step_stats_cosine_and_per_tensor(void **st)
{
    (void)st;
    const char *names[2] = {"a", "b"};
    int nd[2] = {1, 1};
    int64_t sh[2][LAYOUT_MAX_DIMS] = {{2}, {2}};
    layout lay;
    assert_int_equal(layout_init(&lay, 2, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh, 100), 0);
    float g[4] = {3, 4, 0, 1}, p[4] = {1, 0, 0, 2}, u[4] = {1, 0, 0, 0}, q[4] = {1, 1, 0, 0};
    analytics_step x;
    analytics_step_stats(&lay, g, p, u, q, 1.0, sqrt(5.0), &x);
    assert_true(fabs(x.update_cos - 1 / sqrt(2.0)) < 1e-12);
    assert_true(fabs(x.update_ratio - 1 / sqrt(5.0)) < 1e-12);
    assert_int_equal(x.ntensors, 2);
    assert_true(fabs(x.grad[0] - 5) < 1e-12 && fabs(x.grad[1] - 1) < 1e-12);
    assert_true(fabs(x.param[1] - 2) < 1e-12 && fabs(x.update[0] - 1) < 1e-12);
    analytics_step_stats(&lay, g, p, u, NULL, 1.0, 1.0, &x);
    assert_true(isnan(x.update_cos));
    layout_deinit(&lay);
}

/* SGD with hypergradient on f(x) = x^2 / 2 from x = 1: by hand,
 * step 1: u1 = -a0 g1 = -0.1 (a0 = 0.1), x = 0.9;
 * step 2: g2 = 0.9, h = g2 u1 / a0 = -0.9, a1 = 0.1 + beta 0.9 = 0.109,
 *         u2 = -0.109 * 0.9. */
static void test_hypergradient_sgd_by_hand(void **st)
{
    (void)st;
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "sgd"), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 0.1), 0);
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 1, 10), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    adapt a;
    adapt_config ac;
    adapt_config_defaults(&ac);
    ac.lr = ADAPT_LR_HYPERGRADIENT;
    ac.beta = 0.01;
    assert_int_equal(adapt_init(&a, &ac, &o), 0);
    float x = 1, g, u = 0, prev = 0;
    step_info info;
    for (int k = 0; k < 2; k++) {
        g = x;
        adapt_before_step(&a, &o, &g, &prev);
        assert_int_equal(opt_step(&o, &x, &g, &u, &info), 0);
        adapt_after_step(&a, &o, &x, &u, &info);
        prev = u;
    }
    assert_true(fabs(info.lr - 0.109) < 1e-9);
    assert_true(fabs(u - (-0.109 * 0.9)) < 1e-6);
    assert_true(o.cfg.hp[HP_LR] == 0.1);   /* the configured rate is restored */
    /* save → load into a fresh instance gives the same state, bit for bit */
    blob_writer w;
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_OPT_STATE, 1), 0);
    adapt_save(&a, &w);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_writer_finish(&w, &buf, &len), 0);
    adapt b;
    assert_int_equal(adapt_init(&b, &ac, &o), 0);
    blob_reader r;
    uint32_t ver;
    assert_int_equal(blob_reader_init(&r, buf, len, BLOB_KIND_OPT_STATE, &ver), 0);
    assert_int_equal(adapt_load(&b, &r), 0);
    assert_memory_equal(a.mult, b.mult, sizeof(double));
    assert_memory_equal(a.prev_lr, b.prev_lr, sizeof(double));
    free(buf);
    adapt_deinit(&a);
    adapt_deinit(&b);
    opt_deinit(&o);
    layout_deinit(&lay);
}

static void test_adapt_rejects_bad_config_and_learned(void **st)
{
    (void)st;
    adapt_config ac;
    adapt_config_defaults(&ac);
    ac.lr = ADAPT_LR_HYPERGRADIENT;
    ac.beta = 0;
    assert_int_not_equal(adapt_config_check(&ac), 0);
    ac.beta = 1e-4;
    ac.lr_min = 1;
    ac.lr_max = 0.5;
    assert_int_not_equal(adapt_config_check(&ac), 0);
    ac.lr_min = 1e-8;
    ac.lr_max = 10;
    ac.beta = NAN;
    assert_int_not_equal(adapt_config_check(&ac), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ema_debiased_constant_is_exact),
        cmocka_unit_test(test_ema_matches_hand_computation),
        cmocka_unit_test(test_window_mean_skips_nan),
        cmocka_unit_test(test_trend_labels_synthetic_curves),
        cmocka_unit_test(test_trend_confidence_drops_with_noise),
        cmocka_unit_test(test_trend_on_real_training_curves),
        cmocka_unit_test(test_steps_to_fraction),
        cmocka_unit_test(test_stability_counts_spikes),
        cmocka_unit_test(test_step_stats_cosine_and_per_tensor),
        cmocka_unit_test(test_hypergradient_sgd_by_hand),
        cmocka_unit_test(test_adapt_rejects_bad_config_and_learned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
