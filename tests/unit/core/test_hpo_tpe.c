/* test_hpo_tpe.c — the multivariate TPE (hpo_mtpe.h) and conditional
 * parameters (hpo.h, hpo_cond.c): determinism for a seed and history, the
 * joint estimator against the univariate one on a toy whose good region is
 * correlated across parameters, the checks of conditions (cycles, parents,
 * choices, depth), which parameters a trial's values make present, the
 * groups, and every sampler on a conditional space. */
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

static hpo_param fparam(const char *name, double lo, double hi)
{
    hpo_param p = {.kind = HPO_FLOAT, .low = lo, .high = hi};
    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

static hpo_param cparam(const char *name, int n)
{
    hpo_param p = {.kind = HPO_CATEGORICAL, .nchoices = n};
    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

/* p present when parameter `parent` (an index) takes choice c0 (and c1 >= 0). */
static void cond(hpo_param *p, int parent, int c0, int c1)
{
    p->parent = parent + 1;
    p->when[c0 / 64] |= (uint64_t)1 << (c0 % 64);
    if (c1 >= 0) p->when[c1 / 64] |= (uint64_t)1 << (c1 % 64);
}

/* The diagonal of [0, 1]^2 is optimal: every coordinate's marginal among
 * the good trials is about uniform, so a univariate TPE cannot tell good
 * from bad, while a joint estimator sees the band. */
static double diagonal(const double *x) { return (x[0] - x[1]) * (x[0] - x[1]); }

/* n trials of TPE (multivariate or not) on two_corners; the mean value of
 * trials from..n-1 (how close the sampler stays to the optima). */
static double run_diagonal(int multivariate, uint64_t seed, int from, int n, int check_determinism)
{
    hpo_space sp = {.n = 2};
    sp.p[0] = fparam("x", 0, 1);
    sp.p[1] = fparam("y", 0, 1);
    hpo_tpe_opts o;
    hpo_tpe_defaults(&o);
    o.multivariate = multivariate;
    double xs[80][2];
    hpo_trial h[80];
    double sum = 0;
    for (int t = 0; t < n; t++) {
        assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, &o, 1, seed, t, h, t, xs[t]), 0);
        if (check_determinism) {
            double again[2];
            assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, &o, 1, seed, t, h, t, again), 0);
            assert_true(again[0] == xs[t][0] && again[1] == xs[t][1]);
        }
        assert_true(xs[t][0] >= 0 && xs[t][0] <= 1 && xs[t][1] >= 0 && xs[t][1] <= 1);
        double f = diagonal(xs[t]);
        h[t] = (hpo_trial){.number = t, .state = HPO_COMPLETE, .x = xs[t], .value = f};
        if (t >= from) sum += f;
    }
    return sum / (n - from);
}

static void test_multivariate_deterministic(void **st)
{
    (void)st;
    double a = run_diagonal(1, 5, 0, 40, 1), b = run_diagonal(1, 5, 0, 40, 1);
    assert_true(a == b);
    /* another seed, another run */
    assert_true(run_diagonal(1, 6, 0, 40, 0) != a);
    /* and the joint draws differ from the univariate ones once past the startup */
    assert_true(run_diagonal(0, 5, 0, 40, 0) != a);
}

/* Two equally good optima at (0.2, 0.2) and (0.8, 0.8): with good trials
 * at both, each coordinate's good marginal is bimodal, so the univariate
 * estimator proposes the bad corners (0.2, 0.8) and (0.8, 0.2) about as
 * often as the good ones; the joint one keeps the pairs together. */
static double two_corners(const double *x)
{
    double a = (x[0] - 0.2) * (x[0] - 0.2) + (x[1] - 0.2) * (x[1] - 0.2);
    double b = (x[0] - 0.8) * (x[0] - 0.8) + (x[1] - 0.8) * (x[1] - 0.8);
    return a < b ? a : b;
}

/* Of 400 proposals after a fixed history (60 random trials and 4 near each
 * good corner), how many fall within 0.15 of a good corner and how many
 * within 0.15 of a bad one. */
static void corner_proposals(int multivariate, int *good, int *bad)
{
    hpo_space sp = {.n = 2};
    sp.p[0] = fparam("x", 0, 1);
    sp.p[1] = fparam("y", 0, 1);
    hpo_tpe_opts o;
    hpo_tpe_defaults(&o);
    o.multivariate = multivariate;
    enum { N = 68 };
    double xs[N][2];
    hpo_trial h[N];
    for (int t = 0; t < N; t++) {
        if (t < 60) assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_RANDOM, NULL, 1, 11, t, NULL, 0, xs[t]), 0);
        else {
            double c = t % 2 ? 0.2 : 0.8, d = 0.01 * (t - 60);
            xs[t][0] = c + d;
            xs[t][1] = c - d;
        }
        h[t] = (hpo_trial){.number = t, .state = HPO_COMPLETE, .x = xs[t], .value = two_corners(xs[t])};
    }
    *good = *bad = 0;
    for (int k = 0; k < 400; k++) {
        double x[2];
        assert_int_equal(hpo_sample(&sp, HPO_SAMPLER_TPE, &o, 1, 11, N + k, h, N, x), 0);
        double g = two_corners(x);
        double b1 = (x[0] - 0.2) * (x[0] - 0.2) + (x[1] - 0.8) * (x[1] - 0.8);
        double b2 = (x[0] - 0.8) * (x[0] - 0.8) + (x[1] - 0.2) * (x[1] - 0.2);
        *good += g < 0.15 * 0.15;
        *bad += b1 < 0.15 * 0.15 || b2 < 0.15 * 0.15;
    }
}

static void test_multivariate_keeps_correlated_optima_together(void **st)
{
    (void)st;
    int mg, mb, ug, ub;
    corner_proposals(1, &mg, &mb);
    corner_proposals(0, &ug, &ub);
    print_message("two corners, 400 proposals near a good / a bad corner: multivariate %d / %d, univariate %d / %d\n",
                  mg, mb, ug, ub);
    /* the univariate estimator cannot tell the corners apart; the joint one can */
    assert_true(ub * 2 > ug);
    assert_true(mb * 5 < mg);
    assert_true(mg > ug);
}

static void test_condition_checks(void **st)
{
    (void)st;
    char msg[200];
    hpo_space ok = {.n = 4};
    ok.p[0] = fparam("momentum", 0, 0.99);
    ok.p[1] = cparam("optimizer", 3);
    ok.p[2] = cparam("schedule", 2);
    ok.p[3] = fparam("decay", 0, 1);
    cond(&ok.p[0], 1, 0, -1);   /* momentum when optimizer is choice 0 (declared after it) */
    cond(&ok.p[2], 1, 0, 2);    /* schedule when optimizer is 0 or 2 */
    cond(&ok.p[3], 2, 1, -1);   /* decay when schedule is 1: a chain of two */
    assert_int_equal(hpo_space_check_conditions(&ok, msg, sizeof msg), 0);
    assert_true(hpo_space_conditional(&ok));

    hpo_space bad = ok;   /* a parent that is not a categorical */
    bad.p[3].parent = 1;
    assert_int_equal(hpo_space_check_conditions(&bad, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "decay"));
    bad = ok;             /* itself */
    memset(bad.p[2].when, 0, sizeof bad.p[2].when);
    bad.p[2].parent = 3;
    bad.p[2].when[0] = 1;
    assert_int_equal(hpo_space_check_conditions(&bad, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "schedule"));
    bad = ok;             /* a choice the parent does not have */
    bad.p[0].when[0] |= 1u << 3;
    assert_int_equal(hpo_space_check_conditions(&bad, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "momentum"));
    bad = ok;             /* no choice */
    memset(bad.p[0].when, 0, sizeof bad.p[0].when);
    assert_int_equal(hpo_space_check_conditions(&bad, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    bad = ok;             /* no parameter */
    bad.p[0].parent = 9;
    assert_int_equal(hpo_space_check_conditions(&bad, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    bad = ok;             /* choices without a parent */
    bad.p[1].when[0] = 1;
    assert_int_equal(hpo_space_check_conditions(&bad, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "optimizer"));

    /* a cycle: a when b, b when a */
    hpo_space cyc = {.n = 3};
    cyc.p[0] = cparam("a", 2);
    cyc.p[1] = cparam("b", 2);
    cyc.p[2] = fparam("x", 0, 1);
    cond(&cyc.p[0], 1, 0, -1);
    cond(&cyc.p[1], 0, 0, -1);
    assert_int_equal(hpo_space_check_conditions(&cyc, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "cycle"));

    /* a chain of HPO_MAX_DEPTH conditions is fine, one more is not */
    hpo_space deep = {.n = HPO_MAX_DEPTH + 2};
    for (int i = 0; i < deep.n; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "c%d", i);
        deep.p[i] = cparam(nm, 2);
        if (i) cond(&deep.p[i], i - 1, 0, -1);
    }
    deep.n = HPO_MAX_DEPTH + 1;
    assert_int_equal(hpo_space_check_conditions(&deep, msg, sizeof msg), 0);
    deep.n = HPO_MAX_DEPTH + 2;
    assert_int_equal(hpo_space_check_conditions(&deep, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "chain"));

    /* the samplers refuse a space with a bad condition; the GP any condition */
    double x[HPO_MAX_PARAMS];
    assert_int_equal(hpo_sample(&cyc, HPO_SAMPLER_RANDOM, NULL, 1, 0, 0, NULL, 0, x), ERR_INVALID_ARGUMENT);
    hpo_space gp = {.n = 2};
    gp.p[0] = fparam("x", 0, 1);
    gp.p[1] = fparam("y", 0, 1);
    gp.p[1].parent = 1;   /* a float parent: refused before the GP is asked */
    assert_int_equal(hpo_sample(&gp, HPO_SAMPLER_GP, NULL, 1, 0, 0, NULL, 0, x), ERR_INVALID_ARGUMENT);
    assert_int_equal(hpo_sample(&ok, HPO_SAMPLER_GP, NULL, 1, 0, 0, NULL, 0, x), ERR_INVALID_ARGUMENT);
}

static void test_activation_and_groups(void **st)
{
    (void)st;
    hpo_space sp = {.n = 6};
    sp.p[0] = fparam("momentum", 0, 0.99);
    sp.p[1] = cparam("optimizer", 3);
    sp.p[2] = cparam("schedule", 2);
    sp.p[3] = fparam("decay", 0, 1);
    sp.p[4] = fparam("nesterov_gain", 0, 1);
    sp.p[5] = fparam("lr", 0, 1);
    cond(&sp.p[0], 1, 0, -1);
    cond(&sp.p[2], 1, 0, 2);
    cond(&sp.p[3], 2, 1, -1);
    cond(&sp.p[4], 1, 0, -1);   /* with momentum: one group */
    int act[6];
    double x[6] = {0.5, 0, 1, 0.5, 0.5, 0.5};   /* optimizer 0, schedule 1 */
    hpo_space_active(&sp, x, act);
    assert_true(act[0] && act[1] && act[2] && act[3] && act[4] && act[5]);
    x[2] = 0;                                     /* schedule 0: no decay */
    hpo_space_active(&sp, x, act);
    assert_true(act[0] && act[2] && !act[3] && act[4]);
    x[1] = 1;                                     /* optimizer 1: no momentum, no schedule, so no decay */
    x[2] = 1;
    hpo_space_active(&sp, x, act);
    assert_true(!act[0] && act[1] && !act[2] && !act[3] && !act[4] && act[5]);
    x[1] = 2;                                     /* optimizer 2: schedule and (schedule 1) decay */
    hpo_space_active(&sp, x, act);
    assert_true(!act[0] && act[2] && act[3] && !act[4]);
    x[2] = NAN;                                   /* an absent parent: its children are absent */
    hpo_space_active(&sp, x, act);
    assert_true(!act[3]);

    int g[6];
    assert_int_equal(hpo_space_groups(&sp, g), 4);
    assert_int_equal(g[0], 0);   /* momentum, nesterov_gain */
    assert_int_equal(g[4], 0);
    assert_int_equal(g[1], 1);   /* the unconditional: optimizer, lr */
    assert_int_equal(g[5], 1);
    assert_int_equal(g[2], 2);
    assert_int_equal(g[3], 3);
    /* a `when` holding every choice is its parent's condition */
    cond(&sp.p[3], 2, 0, 1);
    assert_int_equal(hpo_space_groups(&sp, g), 3);
    assert_int_equal(g[3], 2);
}

/* A branch: optimizer a (0) costs at least 0.5 with x_a; b (1) is best at
 * x_b = 0.7; lr matters on both.  x: {optimizer, x_a, x_b, lr}. */
static double branch(const double *x)
{
    double lr = (x[3] - 0.4) * (x[3] - 0.4);
    if (x[0] == 0) return 0.5 + (x[1] - 0.3) * (x[1] - 0.3) + lr;
    return (x[2] - 0.7) * (x[2] - 0.7) + lr;
}

static double run_branch(hpo_sampler kind, int multivariate, uint64_t seed, int n)
{
    hpo_space sp = {.n = 4};
    sp.p[0] = cparam("optimizer", 2);
    sp.p[1] = fparam("x_a", 0, 1);
    sp.p[2] = fparam("x_b", 0, 1);
    sp.p[3] = fparam("lr", 0, 1);
    cond(&sp.p[1], 0, 0, -1);
    cond(&sp.p[2], 0, 1, -1);
    hpo_tpe_opts o;
    hpo_tpe_defaults(&o);
    o.multivariate = multivariate;
    double xs[60][4], best = INFINITY;
    hpo_trial h[60];
    for (int t = 0; t < n; t++) {
        assert_int_equal(hpo_sample(&sp, kind, &o, 1, seed, t, h, t, xs[t]), 0);
        double *x = xs[t];
        /* exactly the active parameters */
        assert_true(x[0] == 0 || x[0] == 1);
        assert_true(x[0] == 0 ? (x[1] >= 0 && x[1] <= 1 && isnan(x[2])) : (isnan(x[1]) && x[2] >= 0 && x[2] <= 1));
        assert_true(x[3] >= 0 && x[3] <= 1);
        double again[4];
        assert_int_equal(hpo_sample(&sp, kind, &o, 1, seed, t, h, t, again), 0);
        assert_memory_equal(again, x, sizeof again);
        double f = branch(x);
        h[t] = (hpo_trial){.number = t, .state = HPO_COMPLETE, .x = x, .value = f};
        if (f < best) best = f;
    }
    return best;
}

static void test_samplers_on_conditional_space(void **st)
{
    (void)st;
    double sr = 0, su = 0, sm = 0;
    int wu = 0, wm = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        double r = run_branch(HPO_SAMPLER_RANDOM, 0, seed, 50);
        double u = run_branch(HPO_SAMPLER_TPE, 0, seed, 50);
        double m = run_branch(HPO_SAMPLER_TPE, 1, seed, 50);
        sr += r;
        su += u;
        sm += m;
        wu += u <= r;
        wm += m <= r;
    }
    print_message("branch, best after 50 trials, mean over 20 seeds: random %.4g, TPE %.4g (as good or better on %d), "
                  "multivariate TPE %.4g (%d)\n", sr / 20, su / 20, wu, sm / 20, wm);
    assert_true(su < 0.5 * sr && sm < 0.5 * sr);
    assert_true(wu >= 14 && wm >= 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multivariate_deterministic),
        cmocka_unit_test(test_multivariate_keeps_correlated_optima_together),
        cmocka_unit_test(test_condition_checks),
        cmocka_unit_test(test_activation_and_groups),
        cmocka_unit_test(test_samplers_on_conditional_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
