/* test_numfmt.c — numfmt_f64 prints exactly what printf("%.17g") prints (and so
 * reads back to the same double), for random doubles of every kind (any bit
 * pattern, wide and narrow exponent ranges, short decimals, float32 values,
 * near-ties, powers of ten and their neighbours), and null for NaN and ±inf;
 * numfmt_i64 matches %lld including INT64_MIN; numfmt_fixed matches %.*f
 * (0..4 decimals) at ties, signed zeros and its bounds.  Tolerance: none (strings must
 * be identical). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "numfmt.h"

static uint64_t g_s = 88172645463325252ULL;

static uint64_t rnd(void)
{
    g_s ^= g_s << 13;
    g_s ^= g_s >> 7;
    g_s ^= g_s << 17;
    return g_s;
}

static void same_as_printf(double v)
{
    char a[NUMFMT_MAX + 1], b[64];
    int n = numfmt_f64(a, v);
    assert_true(n > 0 && n <= NUMFMT_MAX);
    a[n] = 0;
    snprintf(b, sizeof b, "%.17g", v);
    if (strcmp(a, b) != 0) fail_msg("%a: numfmt %s, printf %s", v, a, b);
    assert_true(strtod(a, NULL) == v || (v == 0 && strtod(a, NULL) == 0));
}

static void test_numfmt_f64_matches_printf_17g(void **unused)
{
    (void)unused;
    for (long i = 0; i < 1000000; i++) {
        double v;
        uint64_t u = rnd();
        switch (i % 5) {
        case 0: memcpy(&v, &u, 8); if (!isfinite(v)) v = 1.5; break;
        case 1: v = ldexp((double)(u >> 11), (int)(rnd() % 160) - 120); break;
        case 2: v = (double)(rnd() % 100000) / pow(10, (double)(rnd() % 14)); break;
        case 3: v = (double)(float)((double)(u >> 11) * 0x1p-53 * pow(10, (double)(rnd() % 24) - 12)); break;
        default: v = nextafter(pow(10, (double)(rnd() % 60) - 15), (rnd() & 1) ? INFINITY : 0); break;
        }
        if (rnd() & 1) v = -v;
        same_as_printf(v);
    }
    static const double fixed[] = {0.0, 1.0, 0.1, 0.001, 1e-5, 1e-4, 123456789.0, 1e16, 1e17, 9.999999999999999e16,
                                   99999999999999999.0, 0.5, 2.5, 1e-11, 1e44, 1e43, 5e-324, 1.7976931348623157e308,
                                   0.30000000000000004, 1e-300, 12345678901234567890.0};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        same_as_printf(fixed[i]);
        if (fixed[i] != 0) same_as_printf(-fixed[i]);
    }
    char a[NUMFMT_MAX + 1];
    int n = numfmt_f64(a, NAN);
    assert_int_equal(n, 4);
    assert_memory_equal(a, "null", 4);
    assert_int_equal(numfmt_f64(a, -INFINITY), 4);
    assert_memory_equal(a, "null", 4);
}

static void test_numfmt_i64_matches_printf(void **unused)
{
    (void)unused;
    static const int64_t fixed[] = {0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, 1000000, -999999999999LL};
    char a[NUMFMT_MAX + 1], b[32];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + 100000; i++) {
        int64_t v = i < sizeof fixed / sizeof fixed[0] ? fixed[i] : (int64_t)rnd() >> (rnd() % 64);
        int n = numfmt_i64(a, v);
        a[n] = 0;
        snprintf(b, sizeof b, "%lld", (long long)v);
        assert_string_equal(a, b);
    }
}

/* numfmt_fixed(v, d) == printf("%.*f", d, v), byte for byte, at the
 * rounding ties (x.xxx5 exactly representable: 0.0625, 2.5, 1.0005 is not),
 * just beside them, at signed zero and tiny negatives ("-0.000"), near the
 * 1e15 bound, and on random durations; -1 outside its domain. */
static void fixed_same(double v, int d)
{
    char a[NUMFMT_MAX + 1], b[64];
    int n = numfmt_fixed(a, v, d);
    assert_true(n > 0 && n <= NUMFMT_MAX);
    a[n] = 0;
    snprintf(b, sizeof b, "%.*f", d, v);
    if (strcmp(a, b) != 0) fail_msg("%.17g at %d decimals: %s, printf %s", v, d, a, b);
}

static void test_numfmt_fixed_matches_printf(void **unused)
{
    (void)unused;
    static const double edge[] = {0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.0625, 0.125, 0.0005, 0.00049999999999999999,
                                  1.0005, 1.2345, 0.00005, 0.99995, 9.9995, 999.9995, 1e-300, -1e-300, 5e-324,
                                  -0.0004, 123456789.123456, 999999999999999.0, 999999999999998.9, 1e14,
                                  4503599627370495.5 / 8, 0.1, 0.7, 1.0 / 3, 2.0 / 3, 65535.99995};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        for (int d = 0; d <= 4; d++) {
            fixed_same(edge[i], d);
            fixed_same(-edge[i], d);
            fixed_same(nextafter(edge[i], INFINITY), d);
            fixed_same(nextafter(edge[i], -INFINITY), d);
        }
    for (long i = 0; i < 300000; i++) {
        double v;
        uint64_t u = rnd();
        switch (i % 3) {
        case 0: v = (double)(u % 100000000) / 1e6; break;                       /* durations in ms */
        case 1: v = (double)(u % 2000001) / 2000.0; break;                        /* many exact ties */
        default: v = ldexp((double)(u >> 11), (int)(rnd() % 90) - 110); break;   /* up to ~1e11 */
        }
        if (rnd() & 1) v = -v;
        fixed_same(v, (int)(i % 5));
    }
    char a[NUMFMT_MAX + 1];
    assert_int_equal(numfmt_fixed(a, NAN, 3), -1);
    assert_int_equal(numfmt_fixed(a, INFINITY, 3), -1);
    assert_int_equal(numfmt_fixed(a, 1e15, 3), -1);
    assert_int_equal(numfmt_fixed(a, -1e300, 0), -1);
    assert_int_equal(numfmt_fixed(a, 1.0, 5), -1);
    assert_int_equal(numfmt_fixed(a, 1.0, -1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numfmt_f64_matches_printf_17g),
        cmocka_unit_test(test_numfmt_i64_matches_printf),
        cmocka_unit_test(test_numfmt_fixed_matches_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
