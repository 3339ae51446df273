/* test_task_mlp_regression.c — the mlp_regression family: the common family
 * checks (task_family_checks.h), its defaults and layout, that the loss is
 * the MSE to teacher targets (zero weights give mean(y^2) of the held-out
 * rows, recomputed here from synth_teacher with the family's constants),
 * that the seed picks the data, and its refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "layers.h"
#include "synth_teacher.h"
#include "task_family_checks.h"

static void test_regression_checks(void **st)
{
    (void)st;
    task_params a = {.depth = 1, .width = 8, .dim = 4, .batch = 8, .n_train = 100, .activation = ACT_TANH};
    family_check_all("mlp_regression", a, 11, 1e-2f, 3e-3, 1e-2, 100);
    task_params b = {.depth = 3, .width = 8, .dim = 6, .batch = 8, .n_train = 100, .activation = ACT_GELU};
    family_check_all("mlp_regression", b, 12, 1e-2f, 3e-3, 1e-2, 100);
}

static void test_regression_defaults_and_loss(void **st)
{
    (void)st;
    task *t = family_make("mlp_regression", (task_params){0}, 7), *o = family_make("mlp_regression", (task_params){0}, 8);
    assert_int_equal(t->p.dim, 8);
    assert_int_equal(t->p.depth, 2);
    assert_int_equal(t->p.width, 32);
    assert_int_equal(t->p.n_train, 5000);
    assert_int_equal(t->lay.ntensors, 6);
    assert_int_equal(t->lay.tensors[4].shape[1], 1);
    float *p = calloc(t->n, sizeof(float));
    synth_set s;
    assert_int_equal(synth_teacher_make(&s, "test", 7, 8, 1, 5000, 500, 0.1), 0);
    double m = 0;
    for (int i = 0; i < 500; i++) m += (double)s.y[5000 + i] * s.y[5000 + i];
    double e = task_eval_loss(t, p);
    printf("  zero weights: eval %.6f, held-out mean y^2 %.6f\n", e, m / 500);
    assert_true(fabs(e - m / 500) < 1e-6 * (1 + m / 500));
    assert_true(task_eval_loss(o, p) != e);
    synth_free(&s);
    free(p);
    family_check_adam_lowers_loss(t, 3e-3, 150);
    task_free(t); task_free(o);
}

static void test_regression_refusals(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params bad[] = {{.depth = 16}, {.dim = 5000}, {.width = -1}, {.batch = 9000}, {.n_train = 2000000},
                         {.activation = 4}, {.init_scale = -2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(task_create("mlp_regression", &bad[i], 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
        assert_non_null(strstr(tasks_last_error(), "mlp_regression"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regression_refusals),
        cmocka_unit_test(test_regression_checks),
        cmocka_unit_test(test_regression_defaults_and_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
