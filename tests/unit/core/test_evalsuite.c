/* test_evalsuite.c — final-loss definition, the lr grid, tuned Adam, and
 * non-finite runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "evalsuite.h"
#include "lopt.h"
#include "lopt_internal.h"

/* eval_run's final loss equals the mean of the last 10% of minibatch losses
 * of the same run driven by hand (exactly: same float computation). */
static void test_final_loss_is_mean_of_last_tenth(void **st)
{
    (void)st;
    task_params tp = {0};
    tp.dim = 6;
    tp.noise = 0.1;
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 1e-2), 0);
    uint64_t seeds[2] = {3, 4};
    eval_result res;
    assert_int_equal(eval_run(&cfg, "quadratic", &tp, 45, seeds, 2, &res), 0);
    for (int s = 0; s < 2; s++) {
        task *tk;
        assert_int_equal(task_create("quadratic", &tp, seeds[s], &tk), 0);
        float *p = malloc(tk->n * sizeof(float)), *g = malloc(tk->n * sizeof(float)), *u = malloc(tk->n * sizeof(float));
        task_init_params(tk, seeds[s], p);
        opt o;
        assert_int_equal(opt_init(&o, &cfg, &tk->lay), 0);
        rng r;
        rng_seed(&r, seeds[s] + 1);
        double sum = 0;
        for (int t = 0; t < 45; t++) {
            double l = task_loss_grad(tk, p, g, &r);
            if (t >= 40) sum += l;                 /* ceil(45/10) = 5 last steps */
            assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
        }
        assert_true(res.final_loss[s] == sum / 5);
        opt_deinit(&o);
        task_free(tk);
        free(p); free(g); free(u);
    }
    assert_true(fabs(res.mean - 0.5 * (res.final_loss[0] + res.final_loss[1])) < 1e-12);
    assert_int_equal(res.nonfinite, 0);
}

static void test_grid_is_ten_log_spaced_lrs(void **st)
{
    (void)st;
    assert_true(fabs(eval_grid_lr(0) - 1e-4) < 1e-16);
    assert_true(fabs(eval_grid_lr(9) - 1e-1) < 1e-14);
    for (int i = 1; i < EVAL_GRID; i++)
        assert_true(fabs(eval_grid_lr(i) / eval_grid_lr(i - 1) - pow(1000.0, 1.0 / 9)) < 1e-12);
}

/* Tuned Adam is no worse than Adam at 1e-3 (a grid point neighbour) and
 * lowers the loss below the initial loss. */
static void test_tuned_adam_beats_fixed_lr(void **st)
{
    (void)st;
    task_params tp = {0};
    uint64_t seeds[2] = {1, 2};
    double lr;
    eval_result best, fixed;
    assert_int_equal(eval_adam_tuned("quadratic", &tp, 100, seeds, 2, &lr, &best), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_int_equal(eval_run(&cfg, "quadratic", &tp, 100, seeds, 2, &fixed), 0);
    assert_true(best.mean <= fixed.mean);
    assert_true(lr >= 1e-4 && lr <= 1e-1);
}

/* A learned optimizer whose weights overflow: every run is non-finite. */
static void test_non_finite_runs_are_counted(void **st)
{
    (void)st;
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 8, 1, 1), 0);
    w.theta[w.ntheta - LOPT_MLP_NSCALE - 1] = 1e38f;   /* bo[1]: exp(λ₂·m) overflows */
    assert_int_equal(lopt_registry_put("bad@1", &w), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "guard", 0), 0);   /* the safeguard would catch it */
    cfg.weights = "bad@1";
    uint64_t seeds[3] = {1, 2, 3};
    eval_result res;
    assert_int_equal(eval_run(&cfg, "quadratic", NULL, 20, seeds, 3, &res), 0);
    assert_int_equal(res.nonfinite, 3);
    assert_true(isinf(res.mean));
    assert_int_equal(eval_run(&cfg, "quadratic", NULL, 20, seeds, 0, &res), ERR_INVALID_ARGUMENT);
    lopt_registry_clear();
    lopt_weights_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_final_loss_is_mean_of_last_tenth),
        cmocka_unit_test(test_grid_is_ten_log_spaced_lrs),
        cmocka_unit_test(test_tuned_adam_beats_fixed_lr),
        cmocka_unit_test(test_non_finite_runs_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
