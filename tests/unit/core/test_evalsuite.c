/* test_evalsuite.c — final-loss and held-out definitions, one run serving
 * every horizon (bit for bit), the lr grid and its widening, tuned Adam,
 * non-finite runs, and the ratio rule and summary statistics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "data_cache.h"
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
        assert_true(res.heldout[s] == task_eval_loss(tk, p));   /* at the params after 45 steps */
        opt_deinit(&o);
        task_free(tk);
        free(p); free(g); free(u);
    }
    assert_true(fabs(res.mean - 0.5 * (res.final_loss[0] + res.final_loss[1])) < 1e-12);
    assert_int_equal(res.nonfinite, 0);
}

static void test_grid_is_three_lrs_a_decade(void **st)
{
    (void)st;
    assert_true(fabs(eval_grid_lr(0) - 1e-4) < 1e-16);
    assert_true(fabs(eval_grid_lr(EVAL_GRID - 1) - 1e-1) < 1e-14);
    assert_true(eval_grid_lr(EVAL_GRID_1E3) == 1e-3);           /* Adam@1e-3 is a grid point */
    assert_true(fabs(eval_grid_lr(EVAL_GRID_MIN) - 1e-7) < 1e-20);
    assert_true(fabs(eval_grid_lr(EVAL_GRID_MAX) - 10) < 1e-12);
    for (int i = EVAL_GRID_MIN + 1; i <= EVAL_GRID_MAX; i++)
        assert_true(fabs(eval_grid_lr(i) / eval_grid_lr(i - 1) - pow(10.0, 1.0 / 3)) < 1e-12);
}

/* One run of the longest horizon records each shorter horizon's figures
 * exactly as a separate run of that horizon does: classic and learned
 * optimizers (time features), a data family with a held-out split. */
static void test_one_run_serves_every_horizon(void **st)
{
    (void)st;
    static const char *const opts[] = {"adam", "mlp_lopt", "lstm_lopt", "nn_adam"};
    static const char *const fams[] = {"quadratic", "logistic_regression", "softmax_regression"};
    int64_t hs[3] = {7, 20, 45};
    uint64_t seeds[2] = {5, 6};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++)
        for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
            opt_config cfg;
            assert_int_equal(opt_config_defaults(&cfg, opts[o]), 0);
            eval_result all[3], one;
            assert_int_equal(eval_run_horizons(&cfg, fams[f], NULL, hs, 3, seeds, 2, all), 0);
            for (int j = 0; j < 3; j++) {
                assert_int_equal(eval_run(&cfg, fams[f], NULL, hs[j], seeds, 2, &one), 0);
                assert_int_equal(memcmp(one.final_loss, all[j].final_loss, sizeof one.final_loss), 0);
                assert_int_equal(memcmp(one.heldout, all[j].heldout, sizeof one.heldout), 0);
                assert_true(one.mean == all[j].mean && one.heldout_mean == all[j].heldout_mean);
                assert_int_equal(one.nonfinite, all[j].nonfinite);
                assert_true(isfinite(one.mean) && isfinite(one.heldout_mean));
            }
        }
    /* the data families: held-out split (fmnist test images), held-out sequences (char_rnn) */
    task_params fm = {.width = 8, .batch = 16, .n_train = 2000, .data = &data_cache_source};
    task_params cr = {.width = 8, .batch = 4, .seq_len = 6, .data = &data_cache_source};
    const struct { const char *fam; const task_params *tp; } data_fams[] = {{"fmnist_mlp", &fm}, {"char_rnn", &cr}};
    for (int d = 0; d < 2; d++) {
        opt_config cfg;
        assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
        eval_result all[3], one;
        assert_int_equal(eval_run_horizons(&cfg, data_fams[d].fam, data_fams[d].tp, hs, 3, seeds, 2, all), 0);
        for (int j = 0; j < 3; j++) {
            assert_int_equal(eval_run(&cfg, data_fams[d].fam, data_fams[d].tp, hs[j], seeds, 2, &one), 0);
            assert_int_equal(memcmp(one.final_loss, all[j].final_loss, sizeof one.final_loss), 0);
            assert_int_equal(memcmp(one.heldout, all[j].heldout, sizeof one.heldout), 0);
            assert_true(isfinite(one.heldout_mean));
        }
    }
    /* horizons must increase */
    int64_t bad[2] = {20, 20};
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    eval_result r[2];
    assert_int_equal(eval_run_horizons(&cfg, "quadratic", NULL, bad, 2, seeds, 2, r), ERR_INVALID_ARGUMENT);
    assert_int_equal(eval_run_horizons(&cfg, "quadratic", NULL, hs, 0, seeds, 2, r), ERR_INVALID_ARGUMENT);
}

/* Fills point i's mean for every horizon with f(i, h). */
static void put(eval_grid *g, int i, double m0, double m1)
{
    eval_result *r = eval_grid_at(g, i);
    r[0].mean = m0;
    r[1].mean = m1;
}

/* The search on made-up results: interior bests stop it; a best at an edge
 * widens the grid one point at a time to the hard limit, where it is
 * flagged; two horizons can pull at both edges. */
static void test_grid_widens_until_interior(void **st)
{
    (void)st;
    eval_grid g;
    int pts[EVAL_GRID_POINTS];
    /* interior: a valley at i = 4 (horizon 0) and 6 (horizon 1) */
    eval_grid_init(&g, 2);
    assert_int_equal(eval_grid_next(&g, pts), EVAL_GRID);
    for (int k = 0; k < EVAL_GRID; k++) assert_int_equal(pts[k], k);
    for (int i = 0; i < EVAL_GRID; i++) put(&g, i, fabs(i - 4.0), fabs(i - 6.0));
    assert_int_equal(eval_grid_next(&g, pts), 0);
    int edge;
    assert_int_equal(eval_grid_best(&g, 0, &edge), 4);
    assert_false(edge);
    /* horizon 0 keeps improving with lr up to 10^(12/3)... past the limit; horizon 1's
       best is at 1e-4 and is interior once 10^(-13/3) is worse */
    eval_grid_init(&g, 2);
    int n = eval_grid_next(&g, pts), rounds = 0;
    while (n > 0) {
        for (int k = 0; k < n; k++) put(&g, pts[k], -pts[k], pts[k] == -1 ? 5 : fabs((double)pts[k]));
        n = eval_grid_next(&g, pts);
        rounds++;
    }
    assert_int_equal(g.lo, -1);
    assert_int_equal(g.hi, EVAL_GRID_MAX);
    assert_int_equal(rounds, 1 + (EVAL_GRID_MAX - (EVAL_GRID - 1)));
    assert_int_equal(eval_grid_best(&g, 0, &edge), EVAL_GRID_MAX);
    assert_true(edge);                                           /* flagged: best lr at 10 */
    assert_int_equal(eval_grid_best(&g, 1, &edge), 0);
    assert_false(edge);
    /* ties go to the lower lr; a flat grid widens down to 1e-7 */
    eval_grid_init(&g, 2);
    n = eval_grid_next(&g, pts);
    while (n > 0) {
        for (int k = 0; k < n; k++) put(&g, pts[k], 1, 1);
        n = eval_grid_next(&g, pts);
    }
    assert_int_equal(g.lo, EVAL_GRID_MIN);
    assert_int_equal(g.hi, EVAL_GRID - 1);
    assert_int_equal(eval_grid_best(&g, 0, &edge), EVAL_GRID_MIN);
    assert_true(edge);
}

/* Tuned Adam on a real task: every best lr ends interior or at a hard
 * limit, is no worse than Adam at 1e-3, and the search is deterministic. */
static void test_tuned_adam_search(void **st)
{
    (void)st;
    task_params tp = {0};
    uint64_t seeds[2] = {1, 2};
    int64_t hs[2] = {30, 100};
    eval_grid *g = malloc(sizeof *g), *g2 = malloc(sizeof *g2);
    assert_non_null(g);
    assert_non_null(g2);
    assert_int_equal(eval_adam_tuned("quadratic", &tp, hs, 2, seeds, 2, g), 0);
    assert_int_equal(eval_adam_tuned("quadratic", &tp, hs, 2, seeds, 2, g2), 0);
    assert_int_equal(g->lo, g2->lo);
    assert_int_equal(g->hi, g2->hi);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    for (int h = 0; h < 2; h++) {
        int edge;
        int b = eval_grid_best(g, h, &edge);
        if (edge) assert_true(b == EVAL_GRID_MIN || b == EVAL_GRID_MAX);
        eval_result fixed;
        assert_int_equal(eval_run(&cfg, "quadratic", &tp, hs[h], seeds, 2, &fixed), 0);
        assert_true(eval_grid_at(g, b)[h].mean <= fixed.mean);
        assert_true(eval_grid_at(g, EVAL_GRID_1E3)[h].mean == fixed.mean);   /* Adam@1e-3 = grid point 3 */
    }
    /* on this quadratic 0.1 is not the end: the grid went past the old [1e-4, 1e-1] */
    assert_true(g->hi > EVAL_GRID - 1);
    free(g);
    free(g2);
}

/* The ratio rule: LO non-finite is +inf; non-positive losses (or
 * differences to the known minimum) have no ratio. */
static void test_ratio_rule(void **st)
{
    (void)st;
    double r = 0;
    assert_int_equal(eval_ratio(1.0, 2.0, 0, 0, &r), 1);
    assert_true(r == 0.5);
    assert_int_equal(eval_ratio(INFINITY, 2.0, 0, 0, &r), 1);
    assert_true(isinf(r));
    assert_int_equal(eval_ratio(1.0, INFINITY, 0, 0, &r), 0);
    assert_int_equal(eval_ratio(-39.0, -39.1, 0, 0, &r), 0);           /* negative losses: undefined */
    assert_int_equal(eval_ratio(0.0, 1.0, 0, 0, &r), 0);
    assert_int_equal(eval_ratio(-39.0, -38.0, 1, -40.0, &r), 1);       /* with the known minimum */
    assert_true(r == 0.5);
    assert_int_equal(eval_ratio(-40.0, -38.0, 1, -40.0, &r), 0);       /* at the minimum: no ratio */
}

static void test_summary(void **st)
{
    (void)st;
    eval_entry e[5] = {
        {.lo = 1, .tuned = 2, .a3 = 4, .lo_heldout = 1, .tuned_heldout = 1},           /* ratio 0.5 */
        {.lo = 3, .tuned = 2, .a3 = 2, .lo_heldout = 3, .tuned_heldout = 1},           /* 1.5 */
        {.lo = 2, .tuned = 2, .a3 = 8, .lo_heldout = 2, .tuned_heldout = 1, .lr_at_edge = 1},   /* 1.0, a tie */
        {.lo = -5, .tuned = -4, .a3 = -3, .lo_heldout = -5, .tuned_heldout = -4},      /* no ratio, a win */
        {.lo = INFINITY, .tuned = 1, .a3 = 1, .lo_heldout = INFINITY, .tuned_heldout = 1, .lo_nonfinite = 2},
    };
    eval_summary s;
    assert_int_equal(eval_summarize(e, 5, &s), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.win_tuned, 2);
    assert_int_equal(s.win_1e3, 3);
    assert_int_equal(s.nonfinite_runs, 2);
    assert_int_equal(s.lr_at_edge, 1);
    assert_int_equal(s.nratio, 4);                  /* 0.5, 1.0, 1.5, inf */
    assert_int_equal(s.nratio_skipped, 1);
    assert_true(s.ratio_median == 1.25);
    assert_true(isinf(s.ratio_worst));
    assert_int_equal(s.nheld, 4);                   /* 1, 2, 3, inf */
    assert_true(s.held_median == 2.5);
    assert_int_equal(s.nrel13, 3);
    assert_true(fabs(s.rel13_mean - (0.25 + 1.5 + 0.25) / 3) < 1e-15);
    assert_int_equal(eval_summarize(e, 3, &s), 0);
    assert_true(s.ratio_median == 1.0 && s.ratio_worst == 1.5);
    assert_int_equal(eval_summarize(e, 0, &s), 0);
    assert_true(isnan(s.ratio_median) && s.nratio == 0);
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
    assert_true(isinf(res.heldout_mean));
    assert_int_equal(eval_run(&cfg, "quadratic", NULL, 20, seeds, 0, &res), ERR_INVALID_ARGUMENT);
    lopt_registry_clear();
    lopt_weights_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_final_loss_is_mean_of_last_tenth),
        cmocka_unit_test(test_grid_is_three_lrs_a_decade),
        cmocka_unit_test(test_one_run_serves_every_horizon),
        cmocka_unit_test(test_grid_widens_until_interior),
        cmocka_unit_test(test_tuned_adam_search),
        cmocka_unit_test(test_ratio_rule),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_non_finite_runs_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
