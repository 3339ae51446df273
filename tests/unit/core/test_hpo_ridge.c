/* test_hpo_ridge.c — the architecture search's predictor (hpo_ridge.h):
 * ridge recovers a linear function (small λ), shrinks towards the mean
 * (large λ), ignores a constant column, refuses bad input; Spearman's ρ on
 * monotone, reversed and tied data against hand-computed values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "errors.h"
#include "hpo_ridge.h"

static void test_ridge_linear(void **st)
{
    (void)st;
    double X[20 * 3], y[20];
    for (int i = 0; i < 20; i++) {
        X[i * 3] = i;
        X[i * 3 + 1] = (i * 7) % 5;
        X[i * 3 + 2] = 4.0;   /* constant */
        y[i] = 2.0 * X[i * 3] - 3.0 * X[i * 3 + 1] + 1.0;
    }
    hpo_ridge m;
    assert_int_equal(hpo_ridge_fit(&m, X, y, 20, 3, 1e-9), 0);
    double x[3] = {30, 2, 4};
    assert_true(fabs(hpo_ridge_predict(&m, x) - (60 - 6 + 1)) < 1e-5);
    assert_true(m.w[2] == 0);
    /* a huge λ shrinks every prediction to the mean of y */
    assert_int_equal(hpo_ridge_fit(&m, X, y, 20, 3, 1e12), 0);
    double ybar = 0;
    for (int i = 0; i < 20; i++) ybar += y[i] / 20;
    assert_true(fabs(hpo_ridge_predict(&m, x) - ybar) < 1e-6);
    /* one observation: the constant model */
    assert_int_equal(hpo_ridge_fit(&m, X, y, 1, 3, 1.0), 0);
    assert_true(fabs(hpo_ridge_predict(&m, x) - y[0]) < 1e-12);
}

/* Given scales: the fit is the same function of x when the scales are
 * merely different (λ → 0), a column whose given sd is 0 is dropped, a
 * negative sd refused. */
static void test_ridge_scaled(void **st)
{
    (void)st;
    double X[10 * 2], y[10];
    for (int i = 0; i < 10; i++) {
        X[i * 2] = i;
        X[i * 2 + 1] = (i * 3) % 4;
        y[i] = 0.5 * X[i * 2] + X[i * 2 + 1];
    }
    double sd[2] = {40, 0.1}, x[2] = {20, 1};
    hpo_ridge m;
    assert_int_equal(hpo_ridge_fit_scaled(&m, X, y, 10, 2, 1e-12, sd), 0);
    assert_true(fabs(hpo_ridge_predict(&m, x) - 11) < 1e-6);
    double sd0[2] = {40, 0};
    assert_int_equal(hpo_ridge_fit_scaled(&m, X, y, 10, 2, 1e-12, sd0), 0);
    assert_true(m.w[1] == 0);
    double bad[2] = {1, -1};
    assert_int_equal(hpo_ridge_fit_scaled(&m, X, y, 10, 2, 1, bad), ERR_INVALID_ARGUMENT);
}

static void test_ridge_refuses(void **st)
{
    (void)st;
    double X[4] = {1, 2, 3, 4}, y[2] = {1, 2};
    hpo_ridge m;
    assert_int_equal(hpo_ridge_fit(&m, X, y, 0, 2, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(hpo_ridge_fit(&m, X, y, 2, 0, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(hpo_ridge_fit(&m, X, y, 2, HPO_RIDGE_MAX_FEATURES + 1, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(hpo_ridge_fit(&m, X, y, 2, 2, 0), ERR_INVALID_ARGUMENT);
    X[1] = NAN;
    assert_int_equal(hpo_ridge_fit(&m, X, y, 2, 2, 1), ERR_INVALID_ARGUMENT);
}

static void test_spearman(void **st)
{
    (void)st;
    double a[5] = {1, 2, 3, 4, 5}, up[5] = {10, 20, 25, 100, 1000}, down[5] = {5, 4, 3, 2, 1};
    assert_true(fabs(hpo_spearman(a, up, 5) - 1) < 1e-12);
    assert_true(fabs(hpo_spearman(a, down, 5) + 1) < 1e-12);
    /* d = (0, 0, 1, -1, 0): ρ = 1 − 6·2/(5·24) = 0.9 (no ties) */
    double sw[5] = {1, 2, 4, 3, 5};
    assert_true(fabs(hpo_spearman(a, sw, 5) - 0.9) < 1e-12);
    /* ties: ranks of (1, 1, 2) are (1.5, 1.5, 3); with (1, 2, 3): ρ = 0.866… */
    double t[3] = {1, 1, 2}, u[3] = {1, 2, 3};
    assert_true(fabs(hpo_spearman(t, u, 3) - sqrt(3) / 2) < 1e-12);
    double c[3] = {2, 2, 2};
    assert_true(isnan(hpo_spearman(c, u, 3)));
    assert_true(isnan(hpo_spearman(a, up, 1)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ridge_linear),
        cmocka_unit_test(test_ridge_scaled),
        cmocka_unit_test(test_ridge_refuses),
        cmocka_unit_test(test_spearman),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
