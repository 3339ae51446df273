/* test_f32scan.c — f32scan_all_finite against isfinite() on every length
 * and position around its vector and block boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "f32scan.h"

static int all_finite_ref(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Finite values of every kind (zeros, subnormals, the largest) pass. */
static void test_finite_values_pass(void **st)
{
    (void)st;
    static const float kinds[] = {0.0f, -0.0f, 1.0f, -3.5f, FLT_MIN, -FLT_MIN, 1e-45f, FLT_MAX, -FLT_MAX};
    float v[100];
    for (size_t i = 0; i < 100; i++) v[i] = kinds[i % (sizeof kinds / sizeof kinds[0])];
    for (size_t n = 0; n <= 100; n++) assert_int_equal(f32scan_all_finite(v, n), 1);
    assert_int_equal(f32scan_all_finite(NULL, 0), 1);
}

/* One NaN, +inf or -inf at any position of any length is found; values
 * past n are not looked at. */
static void test_one_bad_value_anywhere(void **st)
{
    (void)st;
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    enum { N = 70 };
    float v[N];
    for (size_t b = 0; b < 4; b++)
        for (size_t n = 1; n <= N; n++)
            for (size_t at = 0; at < N; at++) {
                for (size_t i = 0; i < N; i++) v[i] = (float)i - 20.0f;
                v[at] = bad[b];
                int want = at >= n;
                assert_int_equal(f32scan_all_finite(v, n), want);
                assert_int_equal(all_finite_ref(v, n), want);
            }
}

/* Past the 4096-float block: a bad value in the first, a middle and the
 * last block, and none, over a length that is not a multiple of anything. */
static void test_long_vectors(void **st)
{
    (void)st;
    size_t n = 3 * 4096 + 37;
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = (float)(i % 997) * 1e30f;
    assert_int_equal(f32scan_all_finite(v, n), 1);
    const size_t at[] = {0, 4095, 4096, 2 * 4096 + 5, n - 1};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        float keep = v[at[k]];
        v[at[k]] = k % 2 ? INFINITY : NAN;
        assert_int_equal(f32scan_all_finite(v, n), 0);
        v[at[k]] = keep;
    }
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finite_values_pass),
        cmocka_unit_test(test_one_bad_value_anywhere),
        cmocka_unit_test(test_long_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
