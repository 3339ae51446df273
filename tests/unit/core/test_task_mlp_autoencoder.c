/* test_task_mlp_autoencoder.c — the mlp_autoencoder family: the common
 * family checks (task_family_checks.h) at 8x8 and 28x28, its defaults and
 * layout, that the loss is the reconstruction MSE (zero weights give the
 * mean of x^2 over the held-out images, computed here from the data), and
 * its refusals.  Tolerance 3e-3 as for the other float32 networks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "layers.h"
#include "task_family_checks.h"

static void test_autoencoder_checks_8x8(void **st)
{
    (void)st;
    task_params p = {.width = 6, .bottleneck = 3, .batch = 8, .activation = ACT_TANH};
    family_check_all("mlp_autoencoder", p, 11, 1e-2f, 3e-3, 1e-2, 60);
}

static void test_autoencoder_checks_28x28(void **st)
{
    (void)st;
    task_params p = {.width = 8, .bottleneck = 4, .batch = 4, .image_side = 28, .activation = ACT_GELU};
    family_check_all("mlp_autoencoder", p, 12, 1e-2f, 3e-3, 1e-2, 60);
}

static void test_autoencoder_defaults_and_loss(void **st)
{
    (void)st;
    task *t = family_make("mlp_autoencoder", (task_params){0}, 1);
    assert_int_equal(t->p.width, 32);
    assert_int_equal(t->p.bottleneck, 8);
    assert_int_equal(t->p.batch, 32);
    assert_int_equal(t->lay.ntensors, 8);
    assert_int_equal(t->lay.tensors[0].shape[0], 64);
    assert_int_equal(t->lay.tensors[2].shape[1], 8);
    assert_int_equal(t->lay.tensors[6].shape[1], 64);
    /* all-zero parameters reconstruct 0: the loss is mean(x^2) */
    float *p = calloc(t->n, sizeof(float));
    const task_fmnist_data *d;
    assert_int_equal(data_cache_source.fmnist(data_cache_source.ctx, NULL, &d), 0);
    double s = 0;
    for (int i = 0; i < 1000 * 64; i++) s += (double)d->test8[i] * d->test8[i];
    double e = task_eval_loss(t, p);
    printf("  zero weights: eval %.6f, mean x^2 %.6f\n", e, s / 64000);
    assert_true(fabs(e - s / 64000) < 1e-6);
    free(p);
    family_check_adam_lowers_loss(t, 3e-3, 100);
    task_free(t);
}

static void test_autoencoder_refusals(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params bad[] = {{.image_side = 16}, {.bottleneck = -1}, {.bottleneck = 5000},
                         {.width = 5000}, {.batch = -2}, {.activation = 7}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bad[i].data = &data_cache_source;
        assert_int_equal(task_create("mlp_autoencoder", &bad[i], 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
        assert_non_null(strstr(tasks_last_error(), "mlp_autoencoder"));
    }
    assert_int_equal(task_create("mlp_autoencoder", NULL, 1, &t), ERR_NOT_FOUND);
    assert_non_null(strstr(tasks_last_error(), "mlp_autoencoder"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autoencoder_refusals),
        cmocka_unit_test(test_autoencoder_checks_8x8),
        cmocka_unit_test(test_autoencoder_checks_28x28),
        cmocka_unit_test(test_autoencoder_defaults_and_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
