/* test_task_conv_net.c — the conv_net family: the common family checks
 * (task_family_checks.h: gradient vs finite differences, determinism, the
 * rng contract, non-finite params, Adam lowers the held-out loss) at 8x8 and
 * 28x28, its defaults and layout, and its refusals.
 *
 * Gradient checks use smooth activations (tanh, gelu) at small sizes: with
 * relu a +-h step can cross a kink, and with max pooling a step can change
 * the winner of a window.  h = 1e-2 at 8x8; at 28x28 (gelu, more windows)
 * the error grows with h (measured 1.6e-4 at h = 3e-3, 1.9e-3 at 1e-2,
 * 4.1e-3 at 3e-2: truncation, not rounding), so h = 3e-3 there.  Tolerance
 * 3e-3 as for the other float32 networks (test_tasks.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "layers.h"
#include "task_family_checks.h"

static void test_conv_net_checks_8x8(void **st)
{
    (void)st;
    task_params p = {.width = 3, .batch = 4, .activation = ACT_TANH};
    family_check_all("conv_net", p, 11, 1e-2f, 3e-3, 1e-2, 60);
}

static void test_conv_net_checks_28x28(void **st)
{
    (void)st;
    task_params p = {.width = 4, .batch = 8, .image_side = 28, .activation = ACT_GELU};
    family_check_all("conv_net", p, 12, 3e-3f, 3e-3, 2e-2, 100);
}

static void test_conv_net_defaults(void **st)
{
    (void)st;
    task *t = family_make("conv_net", (task_params){0}, 1);
    assert_int_equal(t->p.width, 8);
    assert_int_equal(t->p.batch, 16);
    assert_int_equal(t->p.image_side, 8);
    assert_int_equal(t->p.activation, ACT_RELU);
    assert_int_equal(t->lay.ntensors, 6);
    /* conv1.w (3,3,1,8), conv2.w (3,3,8,16), fc.w (16,10) */
    assert_int_equal(t->lay.tensors[0].shape[3], 8);
    assert_int_equal(t->lay.tensors[2].shape[2], 8);
    assert_int_equal(t->lay.tensors[2].shape[3], 16);
    assert_int_equal(t->lay.tensors[4].shape[0], 16);
    assert_int_equal(t->n, 9 * 8 + 8 + 9 * 8 * 16 + 16 + 16 * 10 + 10);
    family_check_adam_lowers_loss(t, 1e-2, 100);
    task_free(t);
}

static void test_conv_net_refusals(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params bad[] = {{.image_side = 13}, {.width = 300}, {.width = -1}, {.batch = -2},
                         {.activation = 9}, {.init_scale = -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bad[i].data = &data_cache_source;
        assert_int_equal(task_create("conv_net", &bad[i], 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
        assert_non_null(strstr(tasks_last_error(), "conv_net"));
    }
    assert_int_equal(task_create("conv_net", NULL, 1, &t), ERR_NOT_FOUND);
    assert_non_null(strstr(tasks_last_error(), "conv_net"));
    task_params missing = {.data_path = "/nonexistent/fmnist", .data = &data_cache_source};
    assert_int_equal(task_create("conv_net", &missing, 1, &t), ERR_NOT_FOUND);
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_net_refusals),
        cmocka_unit_test(test_conv_net_checks_8x8),
        cmocka_unit_test(test_conv_net_checks_28x28),
        cmocka_unit_test(test_conv_net_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
