/* test_half.c — float32 <-> f16 / bf16 (half.h): every one of the 65536
 * 16-bit patterns of each format decodes exactly and re-encodes to itself
 * (NaNs: to their quiet form); known values and the rounding edges (ties to
 * even, the last finite value and the first that overflows, subnormals,
 * the smallest value that does not round to zero, -0, NaN payloads); and
 * the F16C (f16) and AVX2 (bf16, the overflow scan) paths against the
 * portable loops on all 65536 halves and on a sweep of float32 bit patterns
 * that holds every edge above. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "half.h"

static float F(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static uint32_t U(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* The value of an f16 pattern computed independently, in double. */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 31) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp(m, -24);
    return s * ldexp(1024 + m, e - 25);
}

static void test_half_every_f16_decodes_exactly_and_round_trips(void **unused)
{
    (void)unused;
    for (uint32_t h = 0; h < 65536; h++) {
        float v = half_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(v));
            assert_int_equal(U(v) >> 31, h >> 15);
            assert_int_equal(half_f16_from_f32(v), h | 0x0200); /* quiet */
        } else {
            assert_true((double)v == want);
            assert_int_equal(signbit(v) != 0, (h >> 15) != 0);
            assert_int_equal(half_f16_from_f32(v), h);
        }
    }
}

static void test_half_every_bf16_decodes_exactly_and_round_trips(void **unused)
{
    (void)unused;
    for (uint32_t h = 0; h < 65536; h++) {
        float v = half_bf16_to_f32((uint16_t)h);
        int nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        if (nan) {
            assert_true(isnan(v));
            assert_int_equal(half_bf16_from_f32(v), h | 0x0040);
        } else {
            assert_int_equal(U(v), h << 16);
            assert_int_equal(half_bf16_from_f32(v), h);
        }
    }
}

static void test_half_f16_known_values_and_edges(void **unused)
{
    (void)unused;
    assert_int_equal(half_f16_from_f32(1.0f), 0x3C00);
    assert_int_equal(half_f16_from_f32(-2.0f), 0xC000);
    assert_int_equal(half_f16_from_f32(0.5f), 0x3800);
    assert_int_equal(half_f16_from_f32(0.1f), 0x2E66);          /* 0.0999755859375 */
    assert_int_equal(half_f16_from_f32(-0.0f), 0x8000);
    assert_int_equal(half_f16_from_f32(65504.0f), 0x7BFF);      /* the largest finite */
    assert_int_equal(half_f16_from_f32(65519.996f), 0x7BFF);    /* below the midpoint */
    assert_int_equal(half_f16_from_f32(65520.0f), 0x7C00);      /* the midpoint: ties to even = Inf */
    assert_int_equal(half_f16_from_f32(-1e9f), 0xFC00);
    assert_int_equal(half_f16_from_f32(INFINITY), 0x7C00);
    assert_int_equal(half_f16_from_f32(-INFINITY), 0xFC00);
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: to even (1); 1 + 3·2^-11 up */
    assert_int_equal(half_f16_from_f32(1.0f + 0x1p-11f), 0x3C00);
    assert_int_equal(half_f16_from_f32(1.0f + 3 * 0x1p-11f), 0x3C02);
    assert_int_equal(half_f16_from_f32(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    /* normals and subnormals */
    assert_int_equal(half_f16_from_f32(0x1p-14f), 0x0400);      /* the smallest normal */
    assert_int_equal(half_f16_from_f32(0x1p-24f), 0x0001);      /* the smallest subnormal */
    assert_int_equal(half_f16_from_f32(0x1p-25f), 0x0000);      /* a tie: to even, 0 */
    assert_int_equal(half_f16_from_f32(F(0x33000001)), 0x0001); /* just over the tie */
    assert_int_equal(half_f16_from_f32(-0x1p-26f), 0x8000);     /* signed zero */
    assert_int_equal(half_f16_from_f32(3 * 0x1p-25f), 0x0002);  /* 1.5 units: tie up to even 2 */
    assert_int_equal(half_f16_from_f32(5 * 0x1p-25f), 0x0002);  /* 2.5 units: tie down to 2 */
    assert_int_equal(half_f16_from_f32(0x1p-14f - 0x1p-25f), 0x0400); /* rounds up into the normals */
    assert_int_equal(half_f16_from_f32(1e-30f), 0x0000);
    /* NaN: quiet, sign and top payload kept */
    assert_int_equal(half_f16_from_f32(F(0x7FC00000)), 0x7E00);
    assert_int_equal(half_f16_from_f32(F(0xFF800001)), 0xFE00); /* signalling, low payload: still NaN */
    assert_int_equal(half_f16_from_f32(F(0x7FA02000)), 0x7F01);
    assert_true(isnan(half_f16_to_f32(0x7C01)));
    assert_int_equal(U(half_f16_to_f32(0x7C01)), 0x7FC02000);
}

static void test_half_bf16_known_values_and_edges(void **unused)
{
    (void)unused;
    assert_int_equal(half_bf16_from_f32(1.0f), 0x3F80);
    assert_int_equal(half_bf16_from_f32(-2.0f), 0xC000);
    assert_int_equal(half_bf16_from_f32(0.1f), 0x3DCD);          /* 0x3DCCCCCD rounds up */
    assert_int_equal(half_bf16_from_f32(F(0x3F808000)), 0x3F80); /* a tie: to even */
    assert_int_equal(half_bf16_from_f32(F(0x3F818000)), 0x3F82); /* a tie: up to even */
    assert_int_equal(half_bf16_from_f32(F(0x3F808001)), 0x3F81);
    assert_int_equal(half_bf16_from_f32(-0.0f), 0x8000);
    assert_int_equal(half_bf16_from_f32(F(0x00000001)), 0x0000); /* the smallest subnormal: to 0 */
    assert_int_equal(half_bf16_from_f32(F(0x00008000)), 0x0000); /* a tie: to even */
    assert_int_equal(half_bf16_from_f32(F(0x00018000)), 0x0002);
    assert_int_equal(half_bf16_from_f32(F(0x7F7F7FFF)), 0x7F7F); /* below the last midpoint */
    assert_int_equal(half_bf16_from_f32(F(0x7F7F8000)), 0x7F80); /* at it: Inf */
    assert_int_equal(half_bf16_from_f32(F(0xFF7FFFFF)), 0xFF80); /* -FLT_MAX: -Inf */
    assert_int_equal(half_bf16_from_f32(INFINITY), 0x7F80);
    assert_int_equal(half_bf16_from_f32(F(0x7F800001)), 0x7FC0); /* a NaN never becomes Inf */
    assert_int_equal(half_bf16_from_f32(F(0xFFFFFFFF)), 0xFFFF);
    assert_int_equal(U(half_bf16_to_f32(0x7F81)), 0x7FC10000);
}

static void test_half_first_overflow(void **unused)
{
    (void)unused;
    float v[5] = {1.0f, -65504.0f, NAN, INFINITY, -65520.0f};
    assert_int_equal(half_first_overflow(v, 5, 0), 4);
    assert_int_equal(half_first_overflow(v, 4, 0), 4);
    assert_int_equal(half_first_overflow(v, 5, 1), 5);
    float w[3] = {F(0x7F7F7FFF), -INFINITY, F(0xFF7F8000)};
    assert_int_equal(half_first_overflow(w, 3, 1), 2);
    assert_int_equal(half_first_overflow(w, 2, 1), 2);
    assert_int_equal(half_first_overflow(w, 3, 0), 0);
}

/* The array functions (F16C for f16, AVX2 for bf16 and the overflow scan,
 * when the CPU has them) against the scalar ones with the portable switch
 * on, bit for bit; n = 13 leaves a scalar tail. */
static void check_f16_arrays(const float *src, size_t n)
{
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    float *x = malloc(n * 4), *y = malloc(n * 4);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(x);
    assert_non_null(y);
    half_force_portable = 0;
    half_f16_encode(src, a, n);
    half_force_portable = 1;
    half_f16_encode(src, b, n);
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) fail_msg("f16 encode of 0x%08x: F16C 0x%04x, portable 0x%04x", U(src[i]), a[i], b[i]);
        assert_int_equal(b[i], half_f16_from_f32(src[i]));
    }
    half_force_portable = 0;
    half_f16_decode(a, x, n);
    half_force_portable = 1;
    half_f16_decode(a, y, n);
    half_force_portable = 0;
    for (size_t i = 0; i < n; i++)
        if (U(x[i]) != U(y[i])) fail_msg("f16 decode of 0x%04x: F16C 0x%08x, portable 0x%08x", a[i], U(x[i]), U(y[i]));
    /* bf16: AVX2 against the portable loop, both ways */
    half_bf16_encode(src, a, n);
    half_force_portable = 1;
    half_bf16_encode(src, b, n);
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) fail_msg("bf16 encode of 0x%08x: AVX2 0x%04x, portable 0x%04x", U(src[i]), a[i], b[i]);
        assert_int_equal(b[i], half_bf16_from_f32(src[i]));
    }
    half_bf16_decode(a, y, n);
    half_force_portable = 0;
    half_bf16_decode(a, x, n);
    for (size_t i = 0; i < n; i++)
        if (U(x[i]) != U(y[i])) fail_msg("bf16 decode of 0x%04x: AVX2 0x%08x, portable 0x%08x", a[i], U(x[i]), U(y[i]));
    /* the overflow scan, over every window start 0..15 */
    for (int bf = 0; bf < 2; bf++)
        for (size_t off = 0; off < 16 && off < n; off++) {
            half_force_portable = 0;
            size_t fast = half_first_overflow(src + off, n - off, bf);
            half_force_portable = 1;
            size_t slow = half_first_overflow(src + off, n - off, bf);
            half_force_portable = 0;
            assert_int_equal(fast, slow);
        }
    free(a);
    free(b);
    free(x);
    free(y);
}

static void test_half_f16c_agrees_on_all_halves(void **unused)
{
    (void)unused;
    print_message("F16C %s\n", half_have_f16c() ? "in use: compared with the portable loop" : "absent: portable only");
    size_t n = 65536;
    uint16_t *h = malloc(n * 2), *back = malloc(n * 2);
    float *v = malloc(n * 4), *w = malloc(n * 4);
    assert_non_null(h);
    assert_non_null(back);
    assert_non_null(v);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)i;
    half_force_portable = 0;
    half_f16_decode(h, v, n);
    half_force_portable = 1;
    half_f16_decode(h, w, n);
    half_force_portable = 0;
    for (size_t i = 0; i < n; i++) {
        if (U(v[i]) != U(w[i])) fail_msg("f16 0x%04zx: F16C 0x%08x, portable 0x%08x", i, U(v[i]), U(w[i]));
        assert_int_equal(U(v[i]), U(half_f16_to_f32((uint16_t)i)));
    }
    check_f16_arrays(v, n);         /* and back */
    check_f16_arrays(v + 7, 13);
    /* every bf16 pattern widened, and back */
    for (size_t i = 0; i < n; i++) v[i] = half_bf16_to_f32((uint16_t)i);
    check_f16_arrays(v, n);
    free(h);
    free(back);
    free(v);
    free(w);
}

static void test_half_f16c_agrees_on_edge_floats(void **unused)
{
    (void)unused;
    /* every float whose bits are a multiple of 251 (a prime: all low
     * patterns are met), plus every float within ±4096 ulps of each edge:
     * each f16 rounding boundary of both signs, ties, and the specials */
    size_t cap = (size_t)(0x100000000ull / 251) + 2 * 64 * 8193 + 64;
    float *v = malloc(cap * 4);
    assert_non_null(v);
    size_t n = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 251) v[n++] = F((uint32_t)u);
    const uint32_t edges[] = {0x00000000, 0x33000000, 0x33400000, 0x387FC000, 0x38800000, 0x3F801000, 0x3F803000,
                              0x477FE000, 0x477FF000, 0x47800000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000, 0x7FFFFFFF,
                              0x3C000000, 0x34000000, 0x7F7F8000, 0x3F808000, 0x00008000};
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++)
        for (int s = 0; s < 2; s++)
            for (int64_t d = -4096; d <= 4096; d++) {
                int64_t u = (int64_t)edges[e] + d;
                if (u < 0 || u > 0x7FFFFFFF) continue;
                v[n++] = F((uint32_t)u | (s ? 0x80000000u : 0));
            }
    check_f16_arrays(v, n);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_every_f16_decodes_exactly_and_round_trips),
        cmocka_unit_test(test_half_every_bf16_decodes_exactly_and_round_trips),
        cmocka_unit_test(test_half_f16_known_values_and_edges),
        cmocka_unit_test(test_half_bf16_known_values_and_edges),
        cmocka_unit_test(test_half_first_overflow),
        cmocka_unit_test(test_half_f16c_agrees_on_all_halves),
        cmocka_unit_test(test_half_f16c_agrees_on_edge_floats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
