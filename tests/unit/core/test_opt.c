/* test_opt.c — the optimizer-independent frame: layouts, hyperparameter
 * bounds, configs, schedules at known points, clipping, non-finite inputs.
 * Schedule values are compared to closed forms with |diff| <= 1e-15 * lr. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "opt.h"
#include "vecmath.h"

#define SHAPES(...) ((const int64_t (*)[LAYOUT_MAX_DIMS])(int64_t[][LAYOUT_MAX_DIMS]){__VA_ARGS__})

static void test_layout_builds_offsets_and_rejects_bad_shapes(void **unused)
{
    (void)unused;
    layout lay;
    const char *names[3] = {"w1", "b1", "w2"};
    int nd[3] = {2, 1, 3};
    assert_int_equal(layout_init(&lay, 3, names, nd, SHAPES({4, 3}, {3}, {2, 2, 2}), 100), 0);
    assert_int_equal(lay.n, 12 + 3 + 8);
    assert_int_equal(lay.tensors[1].offset, 12);
    assert_int_equal(lay.tensors[2].offset, 15);
    assert_int_equal(lay.tensors[2].size, 8);
    assert_string_equal(lay.tensors[2].name, "w2");
    layout cp;
    assert_int_equal(layout_copy(&cp, &lay), 0);
    assert_int_equal(cp.n, lay.n);
    assert_true(cp.tensors != lay.tensors);
    assert_memory_equal(cp.tensors, lay.tensors, 3 * sizeof *lay.tensors);
    layout_deinit(&cp);
    layout_deinit(&lay);
    layout_deinit(&lay);                                   /* twice is harmless */

    int one[1] = {1}, zero[1] = {0}, nine[1] = {LAYOUT_MAX_DIMS + 1}, two[1] = {2};
    assert_int_equal(layout_init(&lay, 0, NULL, one, SHAPES({1}), 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init(&lay, 1, NULL, zero, SHAPES({1}), 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init(&lay, 1, NULL, nine, SHAPES({1}), 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init(&lay, 1, NULL, one, SHAPES({0}), 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init(&lay, 1, NULL, one, SHAPES({-3}), 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init(&lay, 1, NULL, two, SHAPES({4, 0}), 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init(&lay, 1, NULL, two, SHAPES({INT64_MAX, INT64_MAX}), SIZE_MAX),
                     ERR_INVALID_SHAPE);                   /* size overflow */
    assert_int_equal(layout_init(&lay, 1, NULL, one, SHAPES({101}), 100), ERR_TOO_MANY_PARAMS);
    int ones[2] = {1, 1};
    assert_int_equal(layout_init(&lay, 2, NULL, ones, SHAPES({60}, {41}), 100), ERR_TOO_MANY_PARAMS);
    assert_int_equal(layout_init(&lay, 2, NULL, ones, SHAPES({60}, {40}), 100), 0);
    assert_string_equal(lay.tensors[1].name, "t1");        /* unnamed tensors get t<i> */
    layout_deinit(&lay);
    const char *dup[2] = {"w", "w"};
    assert_int_equal(layout_init(&lay, 2, dup, ones, SHAPES({1}, {1}), 100), ERR_INVALID_ARGUMENT);
    assert_null(lay.tensors);

    assert_int_equal(layout_init_flat(&lay, 0, 100), ERR_INVALID_SHAPE);
    assert_int_equal(layout_init_flat(&lay, 101, 100), ERR_TOO_MANY_PARAMS);
    assert_int_equal(layout_init_flat(&lay, 100, 100), 0);
    assert_string_equal(lay.tensors[0].name, "params");
    layout_deinit(&lay);
}

static void test_hparam_bounds_reject_bad_values(void **unused)
{
    (void)unused;
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_true(cfg.hp[HP_LR] == 1e-3);
    assert_int_equal(cfg.nhp, opt_hparam_count(opt_find("adam")));
    assert_int_equal(opt_config_set(&cfg, "lr", -0.1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "lr", 0), 0);                     /* [0, 10], as torch */
    assert_int_equal(opt_config_set(&cfg, "lr", -1e-300), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "lr", 10.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "lr", 10), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", NAN), ERR_NON_FINITE);
    assert_int_equal(opt_config_set(&cfg, "lr", INFINITY), ERR_NON_FINITE);
    assert_int_equal(opt_config_set(&cfg, "lr", -INFINITY), ERR_NON_FINITE);
    assert_true(cfg.hp[HP_LR] == 10);                    /* failures changed nothing */
    assert_int_equal(opt_config_set(&cfg, "beta1", 1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "beta1", 0.999999), 0);
    assert_int_equal(opt_config_set(&cfg, "beta2", 1.0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "eps", 0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "amsgrad", 0.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "amsgrad", 2), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "warmup_steps", 2.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "warmup_steps", 1e9 + 1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "clip_norm", -1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "decay_rate", 0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "momentum", 0.9), ERR_UNKNOWN_HYPERPARAM); /* SGD's */
    assert_int_equal(opt_config_set(&cfg, "LR", 0.1), ERR_UNKNOWN_HYPERPARAM);        /* case matters */
    assert_int_equal(opt_config_set(&cfg, "", 0.1), ERR_UNKNOWN_HYPERPARAM);

    assert_int_equal(opt_config_defaults(&cfg, "sgd"), 0);
    assert_int_equal(opt_config_set(&cfg, "nesterov", 0.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "nesterov", 1), 0);
    assert_int_equal(opt_config_set(&cfg, "momentum", 1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "weight_decay", -1e-9), ERR_OUT_OF_RANGE);

    assert_int_equal(opt_config_defaults(&cfg, "adamax_not_here"), ERR_UNKNOWN_OPTIMIZER);
    assert_null(opt_find("adamax_not_here"));
    assert_null(opt_find(NULL));
    assert_null(opt_registry_at(-1));
    assert_null(opt_registry_at(opt_registry_count()));
    assert_true(opt_registry_count() >= 5);
    assert_null(opt_hparam_at(opt_find("sgd"), opt_hparam_count(opt_find("sgd"))));
    assert_int_equal(opt_hparam_index(opt_find("sgd"), "nope"), -1);
    assert_string_equal(opt_common_hparams()[HP_CLIP_NORM].name, "clip_norm");
}

static void test_opt_init_rejects_bad_config(void **unused)
{
    (void)unused;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 8, 100), 0);
    opt o;
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    cfg.hp[HP_LR] = -1;                                    /* bypassing opt_config_set */
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_OUT_OF_RANGE);
    cfg.hp[HP_LR] = NAN;
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_NON_FINITE);
    cfg.hp[HP_LR] = 1e-3;
    strcpy(cfg.name, "nope");
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_UNKNOWN_OPTIMIZER);
    strcpy(cfg.name, "adam");
    cfg.nhp--;
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_INVALID_ARGUMENT);
    cfg.nhp++;
    cfg.schedule = (schedule_kind)17;
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_INVALID_ARGUMENT);
    cfg.schedule = SCHEDULE_COSINE;
    cfg.total_steps = -1;
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_OUT_OF_RANGE);
    cfg.total_steps = 10;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    opt_deinit(&o);
    opt_deinit(&o);                                        /* twice is harmless */
    layout_deinit(&lay);
}

static void near(double got, double want, double lr)
{
    if (fabs(got - want) > 1e-15 * lr) fail_msg("lr %.17g, expected %.17g", got, want);
}

static void test_schedules_at_known_points(void **unused)
{
    (void)unused;
    assert_int_equal(opt_schedule_parse("constant"), SCHEDULE_CONSTANT);
    assert_int_equal(opt_schedule_parse("linear_warmup"), SCHEDULE_LINEAR_WARMUP);
    assert_int_equal(opt_schedule_parse("cosine"), SCHEDULE_COSINE);
    assert_int_equal(opt_schedule_parse("step"), SCHEDULE_STEP);
    assert_int_equal(opt_schedule_parse("Cosine"), -1);
    assert_int_equal(opt_schedule_parse(NULL), -1);
    for (int k = 0; k < 4; k++) assert_int_equal(opt_schedule_parse(opt_schedule_name((schedule_kind)k)), k);
    assert_null(opt_schedule_name((schedule_kind)9));

    opt_config c;
    assert_int_equal(opt_config_defaults(&c, "sgd"), 0);
    assert_int_equal(opt_config_set(&c, "lr", 0.1), 0);
    /* constant without warmup */
    near(opt_schedule_lr(&c, 1), 0.1, 0.1);
    near(opt_schedule_lr(&c, 1000), 0.1, 0.1);
    /* linear warmup over 4 steps, then constant; constant honours warmup too */
    assert_int_equal(opt_config_set(&c, "warmup_steps", 4), 0);
    c.schedule = SCHEDULE_LINEAR_WARMUP;
    near(opt_schedule_lr(&c, 1), 0.025, 0.1);
    near(opt_schedule_lr(&c, 2), 0.05, 0.1);
    near(opt_schedule_lr(&c, 4), 0.1, 0.1);
    near(opt_schedule_lr(&c, 5), 0.1, 0.1);
    c.schedule = SCHEDULE_CONSTANT;
    near(opt_schedule_lr(&c, 2), 0.05, 0.1);
    near(opt_schedule_lr(&c, 50), 0.1, 0.1);
    /* cosine: warmup 4, total 14: step 5 at lr, step 10 at the midpoint, >= 15 at min */
    c.schedule = SCHEDULE_COSINE;
    c.total_steps = 14;
    assert_int_equal(opt_config_set(&c, "min_lr_ratio", 0.2), 0);
    near(opt_schedule_lr(&c, 3), 0.075, 0.1);
    near(opt_schedule_lr(&c, 5), 0.1, 0.1);
    near(opt_schedule_lr(&c, 10), 0.02 + 0.08 * 0.5, 0.1);
    near(opt_schedule_lr(&c, 7), 0.02 + 0.08 * (1 + cos(M_PI * 2 / 10)) / 2, 0.1);
    near(opt_schedule_lr(&c, 15), 0.02, 0.1);
    near(opt_schedule_lr(&c, 1000), 0.02, 0.1);
    c.total_steps = 0;                                     /* unknown: constant after warmup */
    near(opt_schedule_lr(&c, 100), 0.1, 0.1);
    c.total_steps = 3;                                     /* shorter than warmup: same */
    near(opt_schedule_lr(&c, 100), 0.1, 0.1);
    /* step: warmup 4, then x0.5 every 3 steps */
    c.schedule = SCHEDULE_STEP;
    assert_int_equal(opt_config_set(&c, "decay_steps", 3), 0);
    assert_int_equal(opt_config_set(&c, "decay_rate", 0.5), 0);
    near(opt_schedule_lr(&c, 4), 0.1, 0.1);
    near(opt_schedule_lr(&c, 5), 0.1, 0.1);
    near(opt_schedule_lr(&c, 7), 0.1, 0.1);
    near(opt_schedule_lr(&c, 8), 0.05, 0.1);
    near(opt_schedule_lr(&c, 11), 0.025, 0.1);
    assert_int_equal(opt_config_set(&c, "decay_steps", 0), 0);  /* 0: never decays */
    near(opt_schedule_lr(&c, 100), 0.1, 0.1);
}

static void test_step_clips_global_norm_like_torch(void **unused)
{
    (void)unused;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 5, 100), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "sgd"), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 1), 0);
    assert_int_equal(opt_config_set(&cfg, "clip_norm", 2.5), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    float p[5] = {0}, u[5];
    const float g[5] = {3, 4, 0, 0, 0};                    /* norm 5 → scaled by 2.5/(5+1e-6) */
    step_info info = {.loss = NAN};
    assert_int_equal(opt_step(&o, p, g, u, &info), 0);
    assert_int_equal(info.clipped, 1);
    near(info.grad_norm, 5, 1);
    float coef = (float)(2.5 / (5 + 1e-6));
    assert_true(p[0] == -(3 * coef) && p[1] == -(4 * coef));
    assert_true(fabs(info.update_norm - 2.5) < 1e-6);
    near(info.param_norm, sqrt((double)p[0] * p[0] + (double)p[1] * p[1]), 1);
    assert_true(info.lr == 1);
    const float small[5] = {0.3f, 0.4f, 0, 0, 0};          /* norm 0.5 < 2.5: untouched */
    assert_int_equal(opt_step(&o, p, small, u, &info), 0);
    assert_int_equal(info.clipped, 0);
    assert_true(u[0] == -0.3f && u[1] == -0.4f);
    assert_int_equal(info.t, 2);
    opt_deinit(&o);
    layout_deinit(&lay);
}

static void test_step_with_non_finite_grads_changes_nothing(void **unused)
{
    (void)unused;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 9, 100), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    float p[9], u[9], g[9];
    for (int i = 0; i < 9; i++) { p[i] = (float)i * 0.1f; g[i] = 0.5f - (float)i * 0.1f; }
    assert_int_equal(opt_step(&o, p, g, u, NULL), 0);      /* info may be NULL */
    uint8_t *before;
    size_t blen;
    assert_int_equal(opt_save(&o, &before, &blen), 0);
    float p0[9];
    memcpy(p0, p, sizeof p);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        for (int pos = 0; pos < 9; pos += 4) {
            float gb[9];
            memcpy(gb, g, sizeof g);
            gb[pos] = bad[b];
            step_info info = {.loss = NAN};
            assert_int_equal(opt_step(&o, p, gb, u, &info), ERR_NON_FINITE);
            assert_memory_equal(p, p0, sizeof p);
            assert_int_equal(o.t, 1);
            uint8_t *after;
            size_t alen;
            assert_int_equal(opt_save(&o, &after, &alen), 0);
            assert_int_equal(alen, blen);
            assert_memory_equal(after, before, blen);
            free(after);
        }
    }
    free(before);
    opt_deinit(&o);
    layout_deinit(&lay);
}

static void test_step_with_non_finite_update_leaves_params(void **unused)
{
    (void)unused;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 3, 100), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "sgd"), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 10), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    /* finite gradient, but lr * g overflows float32 */
    float p[3] = {1, 2, 3}, u[3];
    const float g[3] = {0, 3e38f, 0};
    assert_int_equal(opt_step(&o, p, g, u, NULL), ERR_NON_FINITE_UPDATE);
    assert_true(p[0] == 1 && p[1] == 2 && p[2] == 3);
    assert_int_equal(o.t, 0);
    /* finite update whose sum with the parameter overflows */
    float q[3] = {-3e38f, 0, 0};
    const float g2[3] = {3e37f, 0, 0};
    assert_int_equal(opt_step(&o, q, g2, u, NULL), ERR_NON_FINITE_UPDATE);
    assert_true(q[0] == -3e38f);
    assert_int_equal(o.t, 0);
    opt_deinit(&o);
    layout_deinit(&lay);
}

static void test_opt_load_rejects_foreign_blobs(void **unused)
{
    (void)unused;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 4, 100), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "rmsprop"), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    uint8_t *b;
    size_t len;
    assert_int_equal(opt_save(&o, &b, &len), 0);
    assert_int_equal(opt_load(&o, b, len), 0);
    b[len / 2] ^= 1;
    assert_int_equal(opt_load(&o, b, len), ERR_CORRUPT);
    free(b);
    blob_writer w;                                         /* right kind, wrong content */
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_OPT_STATE, 1), 0);
    blob_put_str(&w, "rmsprop");
    blob_put_u64(&w, 4);
    assert_int_equal(blob_writer_finish(&w, &b, &len), 0);
    assert_int_equal(opt_load(&o, b, len), ERR_CORRUPT);
    free(b);
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_SESSION, 1), 0);   /* wrong kind */
    assert_int_equal(blob_writer_finish(&w, &b, &len), 0);
    assert_int_equal(opt_load(&o, b, len), ERR_CORRUPT);
    free(b);
    opt_deinit(&o);
    layout_deinit(&lay);
}

/* vm_sumsq is the same on both builds at every length, is the sum of the
 * squares, and is non-finite exactly when an element is (the decoders'
 * finite check); opt_step_gsq with it is opt_step bit for bit, while a
 * non-finite sum is ERR_NON_FINITE and changes nothing. */
static void test_sumsq_and_step_with_known_sum(void **unused)
{
    (void)unused;
    size_t n = 1037;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)sin((double)i * 0.37) * (float)(1 + i % 7);
    for (size_t len = 0; len <= n; len += len < 40 ? 1 : 97) {
        double s[2], ref = 0;
        for (int build = 0; build < 2; build++) {
            vm_force_generic = build;
            s[build] = vm_sumsq(x, len);
        }
        vm_force_generic = 0;
        for (size_t i = 0; i < len; i++) ref += (double)x[i] * x[i];
        assert_memory_equal(&s[0], &s[1], sizeof s[0]);
        assert_true(fabs(s[0] - ref) <= 1e-13 * ref);
    }
    /* vm_dot_sumsq (analytics' cosine) against the plain loop, every tail length */
    for (size_t len = 0; len <= 40; len++) {
        double d, q, rd = 0, rq = 0;
        vm_dot_sumsq(x + 3, x, len, &d, &q);
        for (size_t i = 0; i < len; i++) {
            rd += (double)x[i + 3] * x[i];
            rq += (double)x[i] * x[i];
        }
        assert_true(fabs(d - rd) <= 1e-13 * rq && fabs(q - rq) <= 1e-13 * rq);
    }
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        float keep = x[n - 2];
        x[n - 2] = bad[b];
        for (int build = 0; build < 2; build++) {
            vm_force_generic = build;
            assert_false(isfinite(vm_sumsq(x, n)));
        }
        vm_force_generic = 0;
        x[n - 2] = keep;
    }

    layout lay;
    assert_int_equal(layout_init_flat(&lay, n, 1u << 20), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_int_equal(opt_config_set(&cfg, "clip_norm", 1.0), 0);
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    assert_int_equal(opt_init(&b, &cfg, &lay), 0);
    float *pa = calloc(n, sizeof *pa), *pb = calloc(n, sizeof *pb), *ua = malloc(n * 4), *ub = malloc(n * 4);
    for (int k = 0; k < 3; k++) {
        step_info ia = {.loss = NAN}, ib = {.loss = NAN};
        assert_int_equal(opt_step(&a, pa, x, ua, &ia), 0);
        assert_int_equal(opt_step_gsq(&b, pb, x, vm_sumsq(x, n), ub, &ib), 0);
        assert_memory_equal(pa, pb, n * sizeof *pa);
        assert_memory_equal(ua, ub, n * sizeof *ua);
        assert_memory_equal(&ia, &ib, sizeof ia);
    }
    float p0 = pb[0];
    assert_int_equal(opt_step_gsq(&b, pb, x, NAN, ub, NULL), ERR_NON_FINITE);
    assert_int_equal(opt_step_gsq(&b, pb, x, INFINITY, ub, NULL), ERR_NON_FINITE);
    assert_true(pb[0] == p0);
    assert_int_equal(b.t, 3);
    free(x); free(pa); free(pb); free(ua); free(ub);
    opt_deinit(&a);
    opt_deinit(&b);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_builds_offsets_and_rejects_bad_shapes),
        cmocka_unit_test(test_hparam_bounds_reject_bad_values),
        cmocka_unit_test(test_opt_init_rejects_bad_config),
        cmocka_unit_test(test_schedules_at_known_points),
        cmocka_unit_test(test_step_clips_global_norm_like_torch),
        cmocka_unit_test(test_step_with_non_finite_grads_changes_nothing),
        cmocka_unit_test(test_step_with_non_finite_update_leaves_params),
        cmocka_unit_test(test_opt_load_rejects_foreign_blobs),
        cmocka_unit_test(test_sumsq_and_step_with_known_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
