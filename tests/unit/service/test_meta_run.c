/* test_meta_run.c — src/service/meta_run.c's pace of a job (meta_run_pace):
 * the rate is step / wall_s, the ETA the steps left at that rate, 0 once
 * every step is done; both NAN, never inf or a crash, whenever they cannot
 * be measured (no step yet, no time, damaged inputs, an overflowing rate). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>

#include "meta_run.h"

static void test_pace_is_the_mean_rate_and_the_time_left_at_it(void **st)
{
    (void)st;
    double rate, eta;
    meta_run_pace(10, 110, 4.0, &rate, &eta);
    assert_true(rate == 2.5 && eta == 40.0);
    meta_run_pace(1, 3, 0.5, &rate, &eta);
    assert_true(rate == 2.0 && eta == 1.0);
    meta_run_pace(110, 110, 4.0, &rate, &eta);     /* done: nothing left */
    assert_true(rate == 27.5 && eta == 0.0);
    meta_run_pace(120, 110, 4.0, &rate, &eta);     /* past the end (a damaged row): still 0 left */
    assert_true(rate == 30.0 && eta == 0.0);
    meta_run_pace(INT64_MAX, INT64_MAX, 1e-3, &rate, &eta);
    assert_true(isfinite(rate) && eta == 0.0);
}

static void test_pace_is_nan_until_it_can_be_measured(void **st)
{
    (void)st;
    static const struct { int64_t step, outer; double wall; } cases[] = {
        {0, 10, 5.0},          /* no step yet */
        {3, 10, 0.0},          /* no time measured */
        {3, 10, -1.0},
        {3, 10, NAN},
        {3, 10, INFINITY},
        {-2, 10, 5.0},
        {3, 0, 5.0},
        {3, -5, 5.0},
        {1000, 2000, 1e-320},  /* overflows to inf */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double rate = 0, eta = 0;
        meta_run_pace(cases[i].step, cases[i].outer, cases[i].wall, &rate, &eta);
        assert_true(isnan(rate));
        assert_true(isnan(eta));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pace_is_the_mean_rate_and_the_time_left_at_it),
        cmocka_unit_test(test_pace_is_nan_until_it_can_be_measured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
