/* test_online_es.c — the online PES learner of step scales (online_es.c).
 *
 * What must hold:
 *   - on a synthetic stream whose loss is a known function of the controls
 *     applied at the previous update, ℓ_t = Σ_k (ĉ_k,t−1 − c*_k)² + a decaying
 *     trend + N(0, 0.05²) noise, with ĉ = log(scale) as the learner set it,
 *     the controls' mean over steps 3001..4000 is within 0.1 of c* (from 0,
 *     c* = (0.6, −0.4)) — with the losses sent with each step, and again with every
 *     loss sent 3 steps late (feedback);
 *   - a loss given twice for the same step is used once: a run where every
 *     loss is repeated (the repeat with a different value) ends bit for bit
 *     equal to the run without repeats; losses too old, of steps not begun,
 *     or not finite are ignored;
 *   - save/load mid-run continues bit for bit; a blob of another config is
 *     refused and changes nothing;
 *   - online_es_after_step moves the params by scale × the update;
 *   - bad configs are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "online_es.h"
#include "rng.h"

static layout two_tensors(void)
{
    layout lay;
    const char *names[] = {"a", "b"};
    int nd[] = {1, 1};
    int64_t sh[2][LAYOUT_MAX_DIMS] = {{3}, {5}};
    assert_int_equal(layout_init(&lay, 2, names, nd, (const int64_t(*)[LAYOUT_MAX_DIMS])sh, 100), 0);
    return lay;
}

static online_es_config cfg_default(void)
{
    online_es_config c;
    online_es_config_defaults(&c);
    /* explicit, so that the tests do not follow the tuned defaults */
    c.enabled = 1;
    c.rate = 0.05;
    c.memory = 32;
    c.sigma = 0.1;
    c.window = 4;
    c.per_tensor = 1;
    c.seed = 7;
    return c;
}

static const double CSTAR[2] = {0.6, -0.4};

/* The synthetic loss at step t, given the log scales applied at step t − 1. */
static double synth_loss(const double *chat, int64_t t, rng *noise)
{
    double l = 2.0 / (1.0 + 0.01 * (double)t) + 0.5;
    for (int k = 0; k < 2; k++) l += (chat[k] - CSTAR[k]) * (chat[k] - CSTAR[k]);
    return l + 0.05 * rng_normal(noise);
}

/* Mean of the controls over the last 1000 steps of the last drive(). */
static double c_tail[2];

/* Runs steps from..to: loss of step t observed `delay` steps late (0: with
 * the step).  `repeat`: every loss is offered twice, the repeat altered. */
static void drive(online_es *es, int64_t from, int64_t to, int delay, int repeat, rng *noise, double *chat,
                  double *pending)
{
    c_tail[0] = c_tail[1] = 0;
    for (int64_t t = from; t <= to; t++) {
        double l = synth_loss(chat, t, noise);
        pending[t % 64] = l;
        if (delay == 0) {
            assert_int_equal(online_es_observe(es, t, l), 1);
            if (repeat) assert_int_equal(online_es_observe(es, t, l + 1.0), 0);
        }
        assert_int_equal(online_es_begin_step(es, t), 0);
        if (delay > 0 && t - delay >= 1) assert_int_equal(online_es_observe(es, t - delay, pending[(t - delay) % 64]), 1);
        for (int k = 0; k < 2; k++) chat[k] = log((double)es->scale[k]);
        if (t > to - 1000)
            for (int k = 0; k < 2; k++) c_tail[k] += es->c[k] / 1000.0;
    }
}

static void test_controls_move_to_the_optimum_with_losses_in_the_step(void **st)
{
    (void)st;
    layout lay = two_tensors();
    online_es_config c = cfg_default();
    online_es es;
    assert_int_equal(online_es_init(&es, &c, &lay), 0);
    rng noise;
    rng_seed(&noise, 11);
    double chat[2] = {0, 0}, pend[64];
    drive(&es, 1, 4000, 0, 0, &noise, chat, pend);
    printf("  mean c over the last 1000 steps = (%.3f, %.3f), c* = (%.1f, %.1f), updates %lld\n", c_tail[0],
           c_tail[1], CSTAR[0], CSTAR[1], (long long)es.updates);
    assert_true(fabs(c_tail[0] - CSTAR[0]) < 0.1);
    assert_true(fabs(c_tail[1] - CSTAR[1]) < 0.1);
    assert_int_equal(es.updates, 4000 / (2 * c.window));   /* every block, each once */
    online_es_deinit(&es);
    layout_deinit(&lay);
}

static void test_controls_move_to_the_optimum_with_late_feedback(void **st)
{
    (void)st;
    layout lay = two_tensors();
    online_es_config c = cfg_default();
    online_es es;
    assert_int_equal(online_es_init(&es, &c, &lay), 0);
    rng noise;
    rng_seed(&noise, 12);
    double chat[2] = {0, 0}, pend[64];
    drive(&es, 1, 4000, 3, 0, &noise, chat, pend);
    printf("  late: mean c over the last 1000 steps = (%.3f, %.3f), updates %lld, dropped %lld\n", c_tail[0],
           c_tail[1], (long long)es.updates, (long long)es.dropped);
    assert_true(fabs(c_tail[0] - CSTAR[0]) < 0.1);
    assert_true(fabs(c_tail[1] - CSTAR[1]) < 0.1);
    assert_int_equal(es.dropped, 0);
    online_es_deinit(&es);
    layout_deinit(&lay);
}

static void test_a_loss_given_twice_is_used_once(void **st)
{
    (void)st;
    layout lay = two_tensors();
    online_es_config c = cfg_default();
    online_es a, b;
    assert_int_equal(online_es_init(&a, &c, &lay), 0);
    assert_int_equal(online_es_init(&b, &c, &lay), 0);
    rng na, nb;
    rng_seed(&na, 5);
    rng_seed(&nb, 5);
    double ca[2] = {0, 0}, cb[2] = {0, 0}, pa[64], pb[64];
    drive(&a, 1, 600, 0, 0, &na, ca, pa);
    drive(&b, 1, 600, 0, 1, &nb, cb, pb);
    assert_int_equal(a.used, 600);
    assert_int_equal(b.used, 600);
    assert_int_equal(b.ignored, 600);
    for (int k = 0; k < 2; k++) {
        assert_memory_equal(&a.c[k], &b.c[k], sizeof(double));
        assert_memory_equal(&a.scale[k], &b.scale[k], sizeof(float));
    }
    assert_true(a.c[0] != 0 || a.c[1] != 0);
    /* too old (M = 32 steps), not begun yet, not finite, before step 1 */
    assert_int_equal(online_es_observe(&a, 600 - c.memory, 1.0), 0);
    assert_int_equal(online_es_observe(&a, 602, 1.0), 0);
    assert_int_equal(online_es_observe(&a, 601, NAN), 0);
    assert_int_equal(online_es_observe(&a, 0, 1.0), 0);
    assert_int_equal(a.used, 600);
    /* a step out of sequence */
    assert_int_equal(online_es_begin_step(&a, 603), ERR_INVALID_ARGUMENT);
    /* repeating the last step changes nothing but the scales' recomputation */
    float s0 = a.scale[0];
    double c0 = a.c[0];
    assert_int_equal(online_es_begin_step(&a, 600), 0);
    assert_true(a.scale[0] == s0 && a.c[0] == c0);
    online_es_deinit(&a);
    online_es_deinit(&b);
    layout_deinit(&lay);
}

static void test_save_load_continues_bit_for_bit(void **st)
{
    (void)st;
    layout lay = two_tensors();
    online_es_config c = cfg_default();
    online_es a, b;
    assert_int_equal(online_es_init(&a, &c, &lay), 0);
    rng na;
    rng_seed(&na, 9);
    double ca[2] = {0, 0}, pa[64];
    /* 3 steps late: the ring holds losses of unused blocks at save time */
    drive(&a, 1, 517, 3, 0, &na, ca, pa);
    blob_writer w;
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_OPT_STATE, 1), 0);
    assert_int_equal(online_es_save(&a, &w), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_writer_finish(&w, &buf, &len), 0);

    /* a learner of another memory refuses the blob and is unchanged */
    online_es_config c2 = c;
    c2.memory = 16;
    online_es other;
    assert_int_equal(online_es_init(&other, &c2, &lay), 0);
    blob_reader r;
    uint32_t ver;
    assert_int_equal(blob_reader_init(&r, buf, len, BLOB_KIND_OPT_STATE, &ver), 0);
    assert_int_equal(online_es_load(&other, &r), ERR_CORRUPT);
    assert_true(other.last_step == 0 && other.c[0] == 0);
    online_es_deinit(&other);

    assert_int_equal(online_es_init(&b, &c, &lay), 0);
    assert_int_equal(blob_reader_init(&r, buf, len, BLOB_KIND_OPT_STATE, &ver), 0);
    assert_int_equal(online_es_load(&b, &r), 0);
    free(buf);
    rng nb = na;
    double cb[2] = {ca[0], ca[1]}, pb[64];
    memcpy(pb, pa, sizeof pa);
    drive(&a, 518, 1300, 3, 0, &na, ca, pa);
    drive(&b, 518, 1300, 3, 0, &nb, cb, pb);
    for (int k = 0; k < 2; k++) {
        assert_memory_equal(&a.c[k], &b.c[k], sizeof(double));
        assert_memory_equal(&a.m[k], &b.m[k], sizeof(double));
        assert_memory_equal(&a.scale[k], &b.scale[k], sizeof(float));
    }
    assert_int_equal(a.updates, b.updates);
    assert_int_equal(a.used, b.used);
    online_es_deinit(&a);
    online_es_deinit(&b);
    layout_deinit(&lay);
}

static void test_after_step_applies_the_scales(void **st)
{
    (void)st;
    layout lay = two_tensors();
    online_es_config c = cfg_default();
    c.per_tensor = 1;
    online_es es;
    assert_int_equal(online_es_init(&es, &c, &lay), 0);
    assert_int_equal(online_es_begin_step(&es, 1), 0);
    assert_true(es.scale[0] != 1.0f && es.scale[1] != 1.0f);   /* σ·e ≠ 0 */
    float p0[8], u0[8], p[8], u[8];
    for (int i = 0; i < 8; i++) {
        p0[i] = 0.1f * (float)i - 0.3f;
        u0[i] = 0.01f * (float)(i + 1);
        u[i] = u0[i];
        p[i] = p0[i] + u0[i];   /* opt_step applied the unscaled update */
    }
    step_info info = {.lr = 1e-3};
    online_es_after_step(&es, &lay, p, u, &info);
    double usq = 0;
    for (int i = 0; i < 8; i++) {
        float s = es.scale[i < 3 ? 0 : 1];
        assert_float_equal(u[i], s * u0[i], 1e-7);
        assert_float_equal(p[i], p0[i] + s * u0[i], 1e-6);
        usq += (double)u[i] * u[i];
    }
    assert_float_equal(info.update_norm, sqrt(usq), 1e-9);
    assert_float_equal(info.lr, 1e-3 * (3.0 * es.scale[0] + 5.0 * es.scale[1]) / 8.0, 1e-12);
    /* one control for every tensor */
    online_es g;
    c.per_tensor = 0;
    assert_int_equal(online_es_init(&g, &c, &lay), 0);
    assert_int_equal(g.K, 1);
    opt_diag_value d[OPT_DIAG_MAX];
    int nd = online_es_diag(&g, &lay, d, OPT_DIAG_MAX);
    assert_true(nd >= 4);
    assert_string_equal(d[0].name, "es_scale_mean");
    assert_float_equal(d[0].value, 1.0, 0);
    online_es_deinit(&g);
    online_es_deinit(&es);
    layout_deinit(&lay);
}

static void test_bad_configs_are_refused(void **st)
{
    (void)st;
    layout lay = two_tensors();
    online_es es;
    online_es_config c;
#define BAD(field, val, want)                                   \
    do {                                                        \
        c = cfg_default();                                      \
        c.field = val;                                          \
        assert_int_equal(online_es_init(&es, &c, &lay), want);  \
    } while (0)
    BAD(rate, 0.0, ERR_OUT_OF_RANGE);
    BAD(rate, 1.5, ERR_OUT_OF_RANGE);
    BAD(rate, NAN, ERR_NON_FINITE);
    BAD(sigma, 0.0, ERR_OUT_OF_RANGE);
    BAD(sigma, INFINITY, ERR_NON_FINITE);
    BAD(memory, 0, ERR_OUT_OF_RANGE);
    BAD(memory, ONLINE_ES_MEMORY_MAX + 1, ERR_OUT_OF_RANGE);
    BAD(window, 0, ERR_OUT_OF_RANGE);
    BAD(per_tensor, 2, ERR_OUT_OF_RANGE);
    BAD(seed, (uint64_t)1 << 60, ERR_OUT_OF_RANGE);
#undef BAD
    c = cfg_default();
    assert_int_equal(online_es_init(&es, &c, &lay), 0);
    online_es_deinit(&es);
    online_es_deinit(NULL);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controls_move_to_the_optimum_with_losses_in_the_step),
        cmocka_unit_test(test_controls_move_to_the_optimum_with_late_feedback),
        cmocka_unit_test(test_a_loss_given_twice_is_used_once),
        cmocka_unit_test(test_save_load_continues_bit_for_bit),
        cmocka_unit_test(test_after_step_applies_the_scales),
        cmocka_unit_test(test_bad_configs_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
