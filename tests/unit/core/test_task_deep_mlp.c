/* test_task_deep_mlp.c — the deep_mlp family: the common family checks
 * (task_family_checks.h) at depths 2 and 6 with each activation, its
 * defaults and layout, that the seed picks the data, and its refusals.
 * Tolerance 3e-3 as for the other float32 networks; the relu case uses a
 * small h (1e-3) so a step rarely crosses a kink. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "layers.h"
#include "task_family_checks.h"

static void test_deep_mlp_checks(void **st)
{
    (void)st;
    task_params a = {.depth = 2, .width = 8, .dim = 5, .classes = 3, .batch = 8, .n_train = 100,
                     .activation = ACT_TANH};
    family_check_all("deep_mlp", a, 11, 1e-2f, 3e-3, 1e-2, 100);
    task_params b = {.depth = 6, .width = 8, .dim = 5, .classes = 4, .batch = 8, .n_train = 100,
                     .activation = ACT_GELU};
    family_check_all("deep_mlp", b, 12, 1e-2f, 3e-3, 1e-2, 100);
    task_params c = {.depth = 4, .width = 8, .dim = 6, .classes = 5, .batch = 8, .n_train = 100,
                     .activation = ACT_RELU};
    family_check_all("deep_mlp", c, 13, 1e-3f, 3e-3, 1e-2, 100);
}

static void test_deep_mlp_defaults_and_seed(void **st)
{
    (void)st;
    task *t = family_make("deep_mlp", (task_params){0}, 1), *o = family_make("deep_mlp", (task_params){0}, 2);
    assert_int_equal(t->p.depth, 3);
    assert_int_equal(t->p.width, 32);
    assert_int_equal(t->p.dim, 16);
    assert_int_equal(t->p.classes, 10);
    assert_int_equal(t->lay.ntensors, 8);
    assert_int_equal(t->lay.tensors[0].shape[0], 16);
    assert_int_equal(t->lay.tensors[6].shape[1], 10);
    assert_int_equal(t->n, 16 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10);
    float *p = malloc(sizeof(float) * t->n);
    task_init_params(t, 3, p);
    /* another seed, other data */
    assert_true(task_eval_loss(t, p) != task_eval_loss(o, p));
    free(p);
    family_check_adam_lowers_loss(t, 3e-3, 150);
    task_free(t); task_free(o);
}

static void test_deep_mlp_refusals(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params bad[] = {{.depth = 1}, {.depth = 7}, {.classes = 1}, {.dim = -1}, {.width = 5000},
                         {.n_train = -5}, {.activation = 9}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(task_create("deep_mlp", &bad[i], 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
        assert_non_null(strstr(tasks_last_error(), "deep_mlp"));
    }
    /* a data size beyond the scratch limit is refused before allocating */
    task_params huge = {.dim = 4096, .n_train = 1000000};
    assert_int_equal(task_create("deep_mlp", &huge, 1, &t), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(tasks_last_error(), "MiB"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_mlp_refusals),
        cmocka_unit_test(test_deep_mlp_checks),
        cmocka_unit_test(test_deep_mlp_defaults_and_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
