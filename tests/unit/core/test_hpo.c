/* test_hpo.c — the search space, the random and TPE samplers and the median
 * and ASHA pruners of src/core/hpo/ (hpo.h): checks, grids, determinism for a
 * seed and history, TPE against random on a 1-D quadratic over seeds, and
 * pruner decisions on hand-built histories. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "hpo.h"

static hpo_param fparam(const char *name, double lo, double hi, int lg)
{
    hpo_param p = {.kind = HPO_FLOAT, .low = lo, .high = hi, .log = lg};
    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

static hpo_param iparam(const char *name, double lo, double hi, double step, int lg)
{
    hpo_param p = {.kind = HPO_INT, .low = lo, .high = hi, .step = step, .log = lg};
    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

static hpo_param cparam(const char *name, int n)
{
    hpo_param p = {.kind = HPO_CATEGORICAL, .nchoices = n};
    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

static void test_param_checks(void **st)
{
    (void)st;
    char msg[200];
    hpo_param ok[] = {fparam("a", 1e-5, 0.1, 1), fparam("b", -1, 1, 0), iparam("c", 1, 4, 1, 0),
                      iparam("d", 0, 10, 2, 0), iparam("e", 1, 1000, 1, 1), cparam("f", 4), fparam("g", 2, 2, 0)};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) assert_int_equal(hpo_param_check(&ok[i], msg, sizeof msg), 0);
    hpo_param bad[] = {fparam("a", 0, 1, 1),        fparam("b", 2, 1, 0),        fparam("c", -INFINITY, 1, 0),
                       fparam("d", NAN, 1, 0),       iparam("e", 0.5, 3, 1, 0),   iparam("f", 0, 9, 2, 0),
                       iparam("g", 1, 9, 2, 1),      iparam("h", 0, 4, 0, 0),     cparam("i", 0),
                       cparam("j", HPO_MAX_CHOICES + 1)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        assert_int_equal(hpo_param_check(&bad[i], msg, sizeof msg), ERR_INVALID_ARGUMENT);
        assert_true(strstr(msg, bad[i].name) != NULL);
    }
}

static hpo_space mixed_space(void)
{
    hpo_space sp = {.n = 4};
    sp.p[0] = fparam("lr", 1e-5, 0.1, 1);
    sp.p[1] = iparam("layers", 1, 4, 1, 0);
    sp.p[2] = cparam("batch", 4);
    sp.p[3] = iparam("width", 8, 64, 8, 0);
    return sp;
}

static void test_random_in_space_and_deterministic(void **st)
{
    (void)st;
    hpo_space sp = mixed_space();
    int seen_batch[4] = {0};
    for (int64_t t = 0; t < 400; t++) {
        double x[4], y[4];
        assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 7, t, NULL, 0, x), 0);
        assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 7, t, NULL, 0, y), 0);
        assert_memory_equal(x, y, sizeof x);
        for (int i = 0; i < 4; i++) assert_true(hpo_param_contains(&sp.p[i], x[i]));
        seen_batch[(int)x[2]]++;
    }
    for (int c = 0; c < 4; c++) assert_true(seen_batch[c] > 50);   /* each choice ~100 of 400 */
    double a[4], b[4];
    hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 7, 0, NULL, 0, a);
    hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 8, 0, NULL, 0, b);
    assert_true(a[0] != b[0]);   /* another seed, another draw */
}

/* f(x) = (x - 0.3)^2 on [-5, 5], run for n trials; the best value. */
static double run_quadratic(hpo_sampler kind, uint64_t seed, int n, int check_determinism)
{
    hpo_space sp = {.n = 1};
    sp.p[0] = fparam("x", -5, 5, 0);
    double xs[64];
    hpo_trial h[64];
    double best = INFINITY;
    for (int t = 0; t < n; t++) {
        assert_int_equal(hpo_sample(&sp, kind, NULL, 1, seed, t, h, t, &xs[t]), 0);
        if (check_determinism) {
            double again;
            assert_int_equal(hpo_sample(&sp, kind, NULL, 1, seed, t, h, t, &again), 0);
            assert_true(again == xs[t]);
        }
        assert_true(xs[t] >= -5 && xs[t] <= 5);
        double f = (xs[t] - 0.3) * (xs[t] - 0.3);
        h[t] = (hpo_trial){.number = t, .state = HPO_COMPLETE, .x = &xs[t], .value = f};
        if (f < best) best = f;
    }
    return best;
}

static void test_tpe_deterministic_for_seed_and_history(void **st)
{
    (void)st;
    double a = run_quadratic(HPO_SAMPLER_TPE, 3, 30, 1);
    double b = run_quadratic(HPO_SAMPLER_TPE, 3, 30, 1);
    assert_true(a == b);
}

static void test_tpe_beats_random_on_quadratic(void **st)
{
    (void)st;
    int wins = 0;
    double sum_tpe = 0, sum_rand = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        double bt = run_quadratic(HPO_SAMPLER_TPE, seed, 40, 0);
        double br = run_quadratic(HPO_SAMPLER_RANDOM, seed, 40, 0);
        wins += bt < br;
        sum_tpe += bt;
        sum_rand += br;
    }
    print_message("TPE vs random, best after 40 trials, 20 seeds: TPE better on %d, mean %.3g vs %.3g\n", wins,
                  sum_tpe / 20, sum_rand / 20);
    /* the first 10 trials of both are the same random draws (TPE's startup),
     * so a seed whose best came early is a tie, not a loss */
    assert_true(wins >= 12);
    assert_true(sum_tpe < 0.25 * sum_rand);
}

static void test_tpe_concentrates_on_categorical_and_int(void **st)
{
    (void)st;
    /* choice 3 of 6 and width 40 are best; after the startup trials TPE
     * should propose them far more often than 1 in 6 / 1 in 8 */
    hpo_space sp = {.n = 2};
    sp.p[0] = cparam("c", 6);
    sp.p[1] = iparam("w", 8, 64, 8, 0);
    double xs[60][2];
    hpo_trial h[60];
    int hits_c = 0, hits_w = 0;
    for (int t = 0; t < 60; t++) {
        assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, NULL, -1, 11, t, h, t, xs[t]), 0);
        assert_true(hpo_param_contains(&sp.p[0], xs[t][0]) && hpo_param_contains(&sp.p[1], xs[t][1]));
        double v = (xs[t][0] == 3 ? 1.0 : 0.0) - fabs(xs[t][1] - 40) / 56.0;   /* maximized */
        h[t] = (hpo_trial){.number = t, .state = HPO_COMPLETE, .x = xs[t], .value = v};
        if (t >= 30) {
            hits_c += xs[t][0] == 3;
            hits_w += fabs(xs[t][1] - 40) <= 8;
        }
    }
    assert_true(hits_c >= 15);   /* random: 5 of 30 */
    assert_true(hits_w >= 15);   /* random: 3 grid points of 8, ~11 of 30 */
}

static void test_tpe_ignores_running_failed_and_startup(void **st)
{
    (void)st;
    hpo_space sp = {.n = 1};
    sp.p[0] = fparam("x", 0, 1, 0);
    double xs[12];
    hpo_trial h[12];
    for (int t = 0; t < 12; t++) {
        xs[t] = t / 12.0;
        h[t] = (hpo_trial){.number = t, .state = t < 3 ? HPO_COMPLETE : HPO_FAILED, .x = &xs[t], .value = t};
    }
    /* 3 finished trials < 10 startup trials: TPE draws exactly what random draws */
    double a, b;
    assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, NULL, 1, 5, 12, h, 12, &a), 0);
    assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 5, 12, h, 12, &b), 0);
    assert_true(a == b);
    assert_int_equal(hpo_tpe_gamma(0), 0);
    assert_int_equal(hpo_tpe_gamma(10), 1);
    assert_int_equal(hpo_tpe_gamma(11), 2);
    assert_int_equal(hpo_tpe_gamma(1000), 25);
}

static void test_tpe_on_a_large_history(void **st)
{
    (void)st;
    /* 5000 finished trials (many equal int and categorical values: ties in
     * the estimators' sorts); the draw stays in the space and repeats */
    enum { N = 5000 };
    hpo_space sp = mixed_space();
    static double xs[N][4];
    static hpo_trial h[N];
    for (int t = 0; t < N; t++) {
        assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 9, t, NULL, 0, xs[t]), 0);
        h[t] = (hpo_trial){.number = t, .state = t % 7 ? HPO_COMPLETE : HPO_PRUNED, .x = xs[t],
                           .value = fabs(log10(xs[t][0]) + 3) + xs[t][1]};
    }
    double a[4], b[4];
    assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, NULL, 1, 9, N, h, N, a), 0);
    assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, NULL, 1, 9, N, h, N, b), 0);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < 4; i++) assert_true(hpo_param_contains(&sp.p[i], a[i]));
    assert_true(a[1] <= 2);   /* layers is part of the objective: the good group holds small ones */
}

/* ---- pruners ---------------------------------------------------------------- */

typedef struct htrial {
    int64_t steps[8];
    double  values[8];
} htrial;

static hpo_trial mk(htrial *s, hpo_state state, int n, const double *vals)
{
    for (int i = 0; i < n; i++) {
        s->steps[i] = i + 1;
        s->values[i] = vals[i];
    }
    return (hpo_trial){.state = state, .nsteps = n, .steps = s->steps, .values = s->values, .value = vals[n - 1]};
}

static void test_median_pruner(void **st)
{
    (void)st;
    htrial s[8];
    hpo_trial h[8];
    double c[5][3] = {{1.0, 0.8, 0.6}, {1.2, 0.9, 0.7}, {1.1, 1.0, 0.9}, {0.9, 0.7, 0.5}, {1.3, 1.2, 1.1}};
    for (int i = 0; i < 5; i++) h[i] = mk(&s[i], HPO_COMPLETE, 3, c[i]);
    /* step 2 values of the complete trials: 0.8 0.9 1.0 0.7 1.2 -> median 0.9 */
    double worse[2] = {1.0, 0.95}, better[2] = {1.0, 0.85};
    int prune = -1;
    h[5] = mk(&s[5], HPO_RUNNING, 2, worse);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 1);
    h[5] = mk(&s[5], HPO_RUNNING, 2, better);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    /* maximize: the best so far (the largest) against the median */
    double low_max[2] = {0.6, 0.85};
    h[5] = mk(&s[5], HPO_RUNNING, 2, low_max);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, -1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 1);
    h[5] = mk(&s[5], HPO_RUNNING, 2, worse);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, -1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    /* the best value so far counts: 0.5 at step 1 keeps a later 2.0 alive */
    double early_best[2] = {0.5, 2.0};
    h[5] = mk(&s[5], HPO_RUNNING, 2, early_best);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    /* fewer than 5 complete trials: never */
    h[4].state = HPO_PRUNED;
    h[5] = mk(&s[5], HPO_RUNNING, 2, worse);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    /* warm-up steps */
    h[4].state = HPO_COMPLETE;
    hpo_prune_opts o;
    hpo_prune_defaults(&o);
    o.n_warmup_steps = 3;
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, &o, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    /* a step no complete trial reported: no basis, no pruning */
    double far[1] = {9.0};
    h[5] = mk(&s[5], HPO_RUNNING, 1, far);
    s[5].steps[0] = 7;
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_NONE, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_MEDIAN, NULL, 1, h, 6, 6, &prune), ERR_INVALID_ARGUMENT);
}

static void test_asha_pruner(void **st)
{
    (void)st;
    /* rungs at steps 1, 3, 9 (min_resource 1, eta 3) */
    htrial s[8];
    hpo_trial h[8];
    double a[3] = {0.5, 0.4, 0.3}, b[3] = {0.7, 0.6, 0.5}, c[3] = {0.9, 0.8, 0.7};
    h[0] = mk(&s[0], HPO_COMPLETE, 3, a);
    h[1] = mk(&s[1], HPO_COMPLETE, 3, b);
    h[2] = mk(&s[2], HPO_RUNNING, 3, c);
    int prune = -1;
    /* the first trial at rung 0 always goes on (only competitor itself) */
    double one[1] = {5.0};
    hpo_trial solo = mk(&s[3], HPO_RUNNING, 1, one);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, &solo, 1, 0, &prune), 0);
    assert_int_equal(prune, 0);
    /* rung 0 (step 1): competitors 0.5 0.7 0.9 + ours; 4 values, top 1/3 -> index 0: 0.5 */
    double good[1] = {0.45}, bad[1] = {0.6};
    h[3] = mk(&s[3], HPO_RUNNING, 1, good);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, h, 4, 3, &prune), 0);
    assert_int_equal(prune, 0);
    h[3] = mk(&s[3], HPO_RUNNING, 1, bad);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, h, 4, 3, &prune), 0);
    assert_int_equal(prune, 1);
    /* step 2 is between rungs: nothing to decide, whatever the value */
    double between[2] = {0.45, 99};
    h[3] = mk(&s[3], HPO_RUNNING, 2, between);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, h, 4, 3, &prune), 0);
    assert_int_equal(prune, 0);
    /* rung 1 (step 3): competitors 0.3 0.5 0.7 + ours 0.4: top index 0 = 0.3 -> 0.4 stops */
    double r1[3] = {0.45, 0.42, 0.4};
    h[3] = mk(&s[3], HPO_RUNNING, 3, r1);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, h, 4, 3, &prune), 0);
    assert_int_equal(prune, 1);
    /* maximize: 0.4 is below the top value 0.7 of rung 1 too */
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, -1, h, 4, 3, &prune), 0);
    assert_int_equal(prune, 1);
    double r1b[3] = {0.45, 0.42, 0.8};
    h[3] = mk(&s[3], HPO_RUNNING, 3, r1b);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, -1, h, 4, 3, &prune), 0);
    assert_int_equal(prune, 0);
    /* with 6 at a rung, the top 2 go on (6 / 3 = 2) */
    double v[6][1] = {{0.1}, {0.2}, {0.3}, {0.4}, {0.5}};
    for (int i = 0; i < 5; i++) h[i] = mk(&s[i], HPO_COMPLETE, 1, v[i]);
    double second[1] = {0.15}, third[1] = {0.25};
    h[5] = mk(&s[5], HPO_RUNNING, 1, second);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 0);
    h[5] = mk(&s[5], HPO_RUNNING, 1, third);
    assert_int_equal(hpo_should_prune(HPO_PRUNER_ASHA, NULL, 1, h, 6, 5, &prune), 0);
    assert_int_equal(prune, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_checks),
        cmocka_unit_test(test_random_in_space_and_deterministic),
        cmocka_unit_test(test_tpe_deterministic_for_seed_and_history),
        cmocka_unit_test(test_tpe_beats_random_on_quadratic),
        cmocka_unit_test(test_tpe_concentrates_on_categorical_and_int),
        cmocka_unit_test(test_tpe_ignores_running_failed_and_startup),
        cmocka_unit_test(test_tpe_on_a_large_history),
        cmocka_unit_test(test_median_pruner),
        cmocka_unit_test(test_asha_pruner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
