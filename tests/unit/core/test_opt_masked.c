/* test_opt_masked.c — masked and grouped steps (opt_step_masked,
 * opt_step_groups, opt_group_hp_check):
 *  - nothing skipped and no groups is bit for bit opt_step, and the state
 *    blob stays version 1 (sessions that never skip keep their format);
 *  - a skipped tensor gets a zero update and keeps its state and its own
 *    step count: each tensor equals an optimizer of that tensor alone,
 *    stepped only when it was not skipped (Adam, SGD with momentum);
 *  - the lagging state (per-tensor step counts) saves and loads exactly;
 *  - a group's vector equals an optimizer configured with it;
 *  - clipping in a masked step equals the step on gradients clipped by hand;
 *  - opt_group_hp_check refuses what the state depends on. */
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

#define NT 3
static const int64_t SIZES[NT] = {5, 3, 2};
#define N 10
static const size_t OFF[NT] = {0, 5, 8};

static void make_layout(layout *lay, int nt, const int64_t *sizes)
{
    const char *names[NT] = {"a", "b", "c"};
    int ndims[NT] = {1, 1, 1};
    int64_t shapes[NT][LAYOUT_MAX_DIMS] = {{0}};
    for (int i = 0; i < nt; i++) shapes[i][0] = sizes[i];
    assert_int_equal(layout_init(lay, nt, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 1000), 0);
}

static void grads_at(int k, float *g)
{
    for (int i = 0; i < N; i++) g[i] = (float)sin(0.7 * i + 1.3 * k) * (1.0f + 0.1f * (float)k);
}

static void config(opt_config *cfg, const char *name)
{
    assert_int_equal(opt_config_defaults(cfg, name), 0);
    assert_int_equal(opt_config_set(cfg, "lr", 0.01), 0);
    assert_int_equal(opt_config_set(cfg, "weight_decay", 0.1), 0);
    if (strcmp(name, "sgd") == 0) assert_int_equal(opt_config_set(cfg, "momentum", 0.9), 0);
}

static void test_nothing_skipped_is_opt_step(void **unused)
{
    (void)unused;
    layout lay;
    make_layout(&lay, NT, SIZES);
    opt_config cfg;
    config(&cfg, "adam");
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    assert_int_equal(opt_init(&b, &cfg, &lay), 0);
    float pa[N] = {0}, pb[N] = {0}, g[N], ua[N], ub[N];
    uint8_t none[NT] = {0};
    for (int k = 1; k <= 5; k++) {
        grads_at(k, g);
        assert_int_equal(opt_step(&a, pa, g, ua, NULL), 0);
        assert_int_equal(opt_step_masked(&b, pb, g, ub, none, NULL), 0);
        assert_memory_equal(ua, ub, sizeof ua);
    }
    assert_int_equal(b.lagging, 0);
    uint8_t *sa, *sb;
    size_t la, lb;
    assert_int_equal(opt_save(&a, &sa, &la), 0);
    assert_int_equal(opt_save(&b, &sb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    free(sa);
    free(sb);
    opt_deinit(&a);
    opt_deinit(&b);
    layout_deinit(&lay);
}

/* skip[k-1][j]: tensor j skipped at step k */
static const uint8_t PLAN[6][NT] = {{0, 1, 0}, {0, 0, 0}, {1, 0, 1}, {0, 1, 0}, {0, 0, 0}, {0, 0, 1}};

static void check_against_single_tensors(const char *name)
{
    layout lay;
    make_layout(&lay, NT, SIZES);
    opt_config cfg;
    config(&cfg, name);
    opt o, one[NT];
    layout lone[NT];
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    for (int j = 0; j < NT; j++) {
        make_layout(&lone[j], 1, &SIZES[j]);
        assert_int_equal(opt_init(&one[j], &cfg, &lone[j]), 0);
    }
    float p[N], pone[N], g[N], u[N], uone[N];
    for (int i = 0; i < N; i++) p[i] = pone[i] = 0.1f * (float)(i - 4);
    for (int k = 1; k <= 6; k++) {
        grads_at(k, g);
        memset(uone, 0, sizeof uone);
        for (int j = 0; j < NT; j++)
            if (!PLAN[k - 1][j])
                assert_int_equal(opt_step(&one[j], pone + OFF[j], g + OFF[j], uone + OFF[j], NULL), 0);
        /* garbage where a tensor is skipped: never read */
        for (int j = 0; j < NT; j++)
            if (PLAN[k - 1][j])
                for (size_t i = OFF[j]; i < OFF[j] + (size_t)SIZES[j]; i++) g[i] = 1e30f;
        step_info info;
        assert_int_equal(opt_step_masked(&o, p, g, u, PLAN[k - 1], &info), 0);
        assert_int_equal(info.t, k);
        assert_memory_equal(u, uone, sizeof u);
        assert_memory_equal(p, pone, sizeof p);
    }
    assert_int_equal(o.lagging, 1);
    assert_int_equal(o.tsteps[0], 5);
    assert_int_equal(o.tsteps[1], 4);
    assert_int_equal(o.tsteps[2], 4);

    /* the lagging state saves and loads exactly; a plain opt_step continues it */
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&o, &blob, &len), 0);
    opt back;
    assert_int_equal(opt_init(&back, &cfg, &lay), 0);
    assert_int_equal(opt_load(&back, blob, len), 0);
    assert_int_equal(back.lagging, 1);
    float p2[N];
    memcpy(p2, p, sizeof p);
    grads_at(7, g);
    float u2[N];
    assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
    assert_int_equal(opt_step(&back, p2, g, u2, NULL), 0);
    assert_memory_equal(u, u2, sizeof u);
    /* a layout of another tensor count does not take it */
    layout other;
    int64_t s2[2] = {5, 5};   /* the same size in two tensors */
    make_layout(&other, 2, s2);
    opt wrong;
    assert_int_equal(opt_init(&wrong, &cfg, &other), 0);
    assert_int_equal(opt_load(&wrong, blob, len), ERR_CORRUPT);
    opt_deinit(&wrong);
    layout_deinit(&other);
    free(blob);
    opt_deinit(&back);
    opt_deinit(&o);
    for (int j = 0; j < NT; j++) {
        opt_deinit(&one[j]);
        layout_deinit(&lone[j]);
    }
    layout_deinit(&lay);
}

static void test_adam_skips_like_single_tensors(void **unused) { (void)unused; check_against_single_tensors("adam"); }
static void test_sgd_skips_like_single_tensors(void **unused) { (void)unused; check_against_single_tensors("sgd"); }

static void test_group_vectors_equal_configured_optimizers(void **unused)
{
    (void)unused;
    layout lay, l0, l12;
    make_layout(&lay, NT, SIZES);
    make_layout(&l0, 1, &SIZES[0]);
    int64_t s12 = SIZES[1] + SIZES[2];
    make_layout(&l12, 1, &s12);
    opt_config cfg, c2;
    config(&cfg, "adam");
    c2 = cfg;
    assert_int_equal(opt_config_set(&c2, "lr", 0.5), 0);
    assert_int_equal(opt_config_set(&c2, "beta1", 0.7), 0);
    int bad;
    assert_int_equal(opt_group_hp_check(&cfg, c2.hp, &bad), 0);
    const double *thp[NT] = {NULL, c2.hp, c2.hp};
    opt o, a, b;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    assert_int_equal(opt_init(&a, &cfg, &l0), 0);
    assert_int_equal(opt_init(&b, &c2, &l12), 0);
    float p[N] = {0}, pr[N] = {0}, g[N], u[N], ur[N];
    for (int k = 1; k <= 4; k++) {
        grads_at(k, g);
        step_info info;
        assert_int_equal(opt_step_groups(&o, p, g, u, NULL, thp, &info), 0);
        assert_true(info.lr == 0.01);
        assert_int_equal(opt_step(&a, pr, g, ur, NULL), 0);
        assert_int_equal(opt_step(&b, pr + 5, g + 5, ur + 5, NULL), 0);
        assert_memory_equal(u, ur, sizeof u);
    }
    assert_true(o.cfg.hp[HP_LR] == 0.01);   /* restored after each tensor */
    opt_deinit(&o);
    opt_deinit(&a);
    opt_deinit(&b);
    layout_deinit(&lay);
    layout_deinit(&l0);
    layout_deinit(&l12);
}

/* Clipping in a masked step sees only the stepped tensors' norm, and the
 * clipped tensor is written into its update range and read there in place:
 * equal, bit for bit, to the same masked step without clipping on gradients
 * clipped by hand (vm_scale's float32 product), for every classic optimizer
 * with step_range. */
static void test_masked_clipping_equals_clipped_gradients(void **unused)
{
    (void)unused;
    const char *names[] = {"adam", "adamw", "sgd", "rmsprop", "adagrad"};
    for (int w = 0; w < 5; w++) {
        layout lay;
        make_layout(&lay, NT, SIZES);
        opt_config cfg, cfg_clip;
        config(&cfg, names[w]);
        cfg_clip = cfg;
        assert_int_equal(opt_config_set(&cfg_clip, "clip_norm", 0.5), 0);
        opt a, b;
        assert_int_equal(opt_init(&a, &cfg_clip, &lay), 0);
        assert_int_equal(opt_init(&b, &cfg, &lay), 0);
        float pa[N] = {0}, pb[N] = {0}, g[N], gc[N], ua[N], ub[N];
        for (int k = 1; k <= 4; k++) {
            const uint8_t skip[NT] = {0, (uint8_t)(k % 2), 0};
            grads_at(k, g);
            double sq = 0;
            for (int j = 0; j < NT; j++)
                if (!skip[j])
                    for (size_t i = OFF[j]; i < OFF[j] + (size_t)SIZES[j]; i++) sq += (double)g[i] * g[i];
            float coef = (float)(0.5 / (sqrt(sq) + 1e-6));
            for (int i = 0; i < N; i++) gc[i] = coef * g[i];
            step_info ia = {.loss = NAN}, ib = {.loss = NAN};
            assert_int_equal(opt_step_masked(&a, pa, g, ua, skip, &ia), 0);
            assert_int_equal(opt_step_masked(&b, pb, gc, ub, skip, &ib), 0);
            assert_int_equal(ia.clipped, 1);
            assert_memory_equal(ua, ub, sizeof ua);
            assert_memory_equal(pa, pb, sizeof pa);
        }
        opt_deinit(&a);
        opt_deinit(&b);
        layout_deinit(&lay);
    }
}

static void test_group_check_refuses_what_the_state_depends_on(void **unused)
{
    (void)unused;
    opt_config cfg;
    double hp[OPT_MAX_HP];
    int bad;
    config(&cfg, "adam");
    memcpy(hp, cfg.hp, sizeof hp);
    hp[opt_hparam_index(opt_find("adam"), "amsgrad")] = 1;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), ERR_INVALID_ARGUMENT);
    assert_int_equal(bad, opt_hparam_index(opt_find("adam"), "amsgrad"));
    memcpy(hp, cfg.hp, sizeof hp);
    hp[HP_WARMUP_STEPS] = 3;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), ERR_INVALID_ARGUMENT);
    memcpy(hp, cfg.hp, sizeof hp);
    hp[opt_hparam_index(opt_find("adam"), "beta1")] = 1.5;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), ERR_OUT_OF_RANGE);
    memcpy(hp, cfg.hp, sizeof hp);
    hp[HP_LR] = 3;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), 0);
    /* SGD: momentum's being 0 is the state's shape; Nesterov needs dampening 0 */
    config(&cfg, "sgd");
    assert_int_equal(opt_config_set(&cfg, "nesterov", 1), 0);
    int im = opt_hparam_index(opt_find("sgd"), "momentum"), id = opt_hparam_index(opt_find("sgd"), "dampening");
    memcpy(hp, cfg.hp, sizeof hp);
    hp[im] = 0;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), ERR_INVALID_ARGUMENT);
    memcpy(hp, cfg.hp, sizeof hp);
    hp[im] = 0.5;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), 0);
    hp[id] = 0.1;
    assert_int_equal(opt_group_hp_check(&cfg, hp, &bad), ERR_OUT_OF_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_skipped_is_opt_step),
        cmocka_unit_test(test_adam_skips_like_single_tensors),
        cmocka_unit_test(test_sgd_skips_like_single_tensors),
        cmocka_unit_test(test_group_vectors_equal_configured_optimizers),
        cmocka_unit_test(test_masked_clipping_equals_clipped_gradients),
        cmocka_unit_test(test_group_check_refuses_what_the_state_depends_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
