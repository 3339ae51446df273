/* test_task_switch_quadratic.c — the switch_quadratic family: the common
 * family checks (task_family_checks.h, with the switch beyond their calls),
 * the switch itself (the loss and gradient at a fixed point are multiplied
 * by switch_scale from the switch_step-th loss_grad call of a run on, and
 * init_params starts the count again), runs on two streams interleaved as
 * meta-training's + and − paths are (each switches at its own step), its
 * defaults and its refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "task_family_checks.h"

static void test_switch_checks(void **st)
{
    (void)st;
    task_params a = {.dim = 12, .switch_step = 1000000};
    family_check_all("switch_quadratic", a, 5, 1e-2f, 1e-3, 1e-1, 100);
}

static void test_switch_multiplies_curvature(void **st)
{
    (void)st;
    task_params p = {.dim = 6, .switch_step = 3, .switch_scale = 100};
    task *t = family_make("switch_quadratic", p, 9);
    float x[6], g0[6], g[6];
    rng r, ri;
    rng_seed(&ri, 1);
    rng_seed(&r, 2);
    for (int run = 0; run < 2; run++) {
        task_init_params(t, 4, x);
        double l0 = task_loss_grad(t, x, g0, &r);
        assert_true(l0 > 0);
        assert_true(task_loss_grad(t, x, g, &r) == l0);
        assert_true(task_loss_grad(t, x, g, &r) == l0);   /* calls 0..2: before the switch */
        double l3 = task_loss_grad(t, x, g, &r);          /* call 3: after it */
        assert_true(fabs(l3 / l0 - 100) < 1e-9);
        for (int i = 0; i < 6; i++) assert_true(fabsf(g[i] - 100 * g0[i]) <= 1e-4f * fabsf(100 * g0[i]) + 1e-30f);
        assert_true(fabs(task_eval_loss(t, x) / l0 - 100) < 1e-9);
    }
    task_free(t);
    task_params d = {0};
    t = family_make("switch_quadratic", d, 1);
    assert_int_equal(t->n, 100);
    assert_int_equal(t->p.switch_step, 1000);
    assert_true(t->p.switch_scale == 100);
    task_free(t);
}

/* Two paths on one task instance, reset one after the other and then
 * stepped in turns of 2 calls: each path's loss jumps at its own 4th call. */
static void test_switch_counts_each_stream(void **st)
{
    (void)st;
    task_params p = {.dim = 5, .switch_step = 4, .switch_scale = 10};
    task *t = family_make("switch_quadratic", p, 3);
    float x[5], g[5];
    rng a, b;
    rng_seed(&a, 1);
    rng_seed(&b, 2);
    task_init_params(t, 4, x);
    double l0 = task_loss_grad(t, x, g, &a);   /* path a: call 0 */
    task_init_params(t, 4, x);
    assert_true(task_loss_grad(t, x, g, &b) == l0);   /* path b: call 0 */
    double la[4], lb[4];
    for (int k = 0; k < 2; k++) {
        la[2 * k] = task_loss_grad(t, x, g, &a);
        la[2 * k + 1] = task_loss_grad(t, x, g, &a);
        lb[2 * k] = task_loss_grad(t, x, g, &b);
        lb[2 * k + 1] = task_loss_grad(t, x, g, &b);
    }
    /* calls 1..4 of each: 1, 2, 3 before the switch, 4 after */
    for (int i = 0; i < 3; i++) assert_true(la[i] == l0 && lb[i] == l0);
    assert_true(fabs(la[3] / l0 - 10) < 1e-9 && fabs(lb[3] / l0 - 10) < 1e-9);
    task_free(t);
}

static void test_switch_refusals(void **st)
{
    (void)st;
    task *t = NULL;
    task_params bad[] = {{.switch_step = -1}, {.switch_scale = -2}, {.switch_scale = 1e7}, {.dim = -3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(task_create("switch_quadratic", &bad[i], 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_checks),
        cmocka_unit_test(test_switch_multiplies_curvature),
        cmocka_unit_test(test_switch_counts_each_stream),
        cmocka_unit_test(test_switch_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
