/* test_meta_outer.c — src/core/meta/meta_outer.c: SGD is θ − lr·g; Adam's
 * first step moves each parameter by lr against the sign of its gradient
 * (and not at all where the gradient is 0), and its later steps follow the
 * moment recursions with their bias corrections, checked against values
 * worked by hand; the names round-trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "meta_outer.h"

static void test_sgd(void **unused)
{
    (void)unused;
    double th[3] = {1, -2, 0.5};
    const double g[3] = {0.5, -1, 0};
    meta_outer_sgd(th, g, 3, 0.1);
    assert_true(th[0] == 1 - 0.1 * 0.5 && th[1] == -2 + 0.1 && th[2] == 0.5);
}

static void test_adam_first_and_second_steps(void **unused)
{
    (void)unused;
    double th[3] = {1, 1, 1}, m[3] = {0}, v[3] = {0};
    const double g1[3] = {4, -0.001, 0};
    meta_outer_adam(th, m, v, g1, 3, 0.01, 1);
    /* step 1: m̂ = g, v̂ = g²: θ − lr·g/(|g| + ε) */
    assert_true(fabs(th[0] - 0.99) < 1e-9 && fabs(th[1] - 1.01) < 1e-6 && th[2] == 1);
    const double g2[3] = {2, 0.001, 0};
    double before = th[0];
    meta_outer_adam(th, m, v, g2, 3, 0.01, 2);
    /* parameter 0 by hand: m = 0.9·0.4 + 0.2 = 0.56, v = 0.999·0.016 + 0.004 = 0.019984,
     * m̂ = 0.56 / 0.19, v̂ = 0.019984 / 0.001999 */
    double mh = 0.56 / (1 - 0.81), vh = 0.019984 / (1 - 0.998001);
    assert_true(fabs(m[0] - 0.56) < 1e-12 && fabs(v[0] - 0.019984) < 1e-12);
    assert_true(fabs(th[0] - (before - 0.01 * mh / (sqrt(vh) + 1e-8))) < 1e-12);
    assert_true(th[2] == 1 && m[2] == 0 && v[2] == 0);
}

static void test_names(void **unused)
{
    (void)unused;
    assert_string_equal(meta_outer_name(META_OUTER_SGD), "sgd");
    assert_string_equal(meta_outer_name(META_OUTER_ADAM), "adam");
    assert_null(meta_outer_name(2));
    assert_int_equal(meta_outer_from_name("adam"), META_OUTER_ADAM);
    assert_int_equal(meta_outer_from_name("rmsprop"), -1);
    assert_int_equal(meta_outer_from_name(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_adam_first_and_second_steps),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
