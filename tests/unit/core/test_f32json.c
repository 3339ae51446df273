/* test_f32json.c — the float32 JSON codec against glibc's strtof.
 *
 * What must hold: every finite float formats to a JSON number that strtof
 * and f32json both read back to the same bits, in at most F32JSON_FMT_MAX
 * bytes, with no more significant digits than the shortest "%.{p}g" that
 * round-trips; the parser gives strtof's float for random decimal strings
 * (including halfway cases built to break decimal->double->float), rejects
 * malformed input, reports overflow and too many values, and never reads
 * past the end of its input (checked with a guard page). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errors.h"
#include "f32json.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t next_u64(void)
{
    /* xorshift64*: deterministic, independent of the project's rng. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static float from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/* Formats f and checks both readers give its bits back. */
static void check_round_trip(float f)
{
    char buf[F32JSON_FMT_MAX + 8];
    memset(buf, 'x', sizeof buf);
    size_t n = f32json_format(buf, f);
    assert_true(n > 0 && n <= F32JSON_FMT_MAX);
    assert_int_equal(buf[n], 'x');                  /* wrote only n bytes */
    buf[n] = '\0';
    float g = strtof(buf, NULL), h = 0;
    if (to_bits(g) != to_bits(f)) fail_msg("%08x formatted as %s reads back %08x", to_bits(f), buf, to_bits(g));
    assert_int_equal(f32json_parse_number(buf, n, &h), 0);
    if (to_bits(h) != to_bits(f)) fail_msg("%08x formatted as %s parses to %08x", to_bits(f), buf, to_bits(h));
}

static void test_format_round_trips_random_bit_patterns(void **st)
{
    (void)st;
    int done = 0;
    while (done < 2000000) {
        uint32_t b = (uint32_t)next_u64();
        if (((b >> 23) & 0xff) == 0xff) continue;
        check_round_trip(from_bits(b));
        done++;
    }
    /* Floats of gradient-like magnitude, where the plain notation is used. */
    for (int i = 0; i < 500000; i++) {
        uint32_t e = 100 + (uint32_t)(next_u64() % 60);   /* ~1e-8 .. 1e10 */
        uint32_t b = (uint32_t)(next_u64() & 0x807fffffu) | (e << 23);
        check_round_trip(from_bits(b));
    }
}

static void test_format_round_trips_powers_of_two_and_subnormals(void **st)
{
    (void)st;
    for (int e = -149; e <= 127; e++) {
        float f = ldexpf(1.0f, e);
        check_round_trip(f);
        check_round_trip(-f);
        check_round_trip(nextafterf(f, 0.0f));
        check_round_trip(nextafterf(f, INFINITY));
    }
    /* The first and last subnormals, and a stride through all of them. */
    for (uint32_t b = 1; b < 20000; b++) check_round_trip(from_bits(b));
    for (uint32_t b = 0x7fffffu; b > 0x7fffffu - 20000; b--) check_round_trip(from_bits(b | 0x80000000u));
    for (uint32_t b = 1; b < 0x800000u; b += 97) check_round_trip(from_bits(b));
    check_round_trip(FLT_MAX);
    check_round_trip(-FLT_MAX);
    check_round_trip(FLT_MIN);
    check_round_trip(0.0f);
    check_round_trip(-0.0f);
}

/* Significant digits in a formatted number. */
static int sig_digits(const char *s)
{
    int n = 0, started = 0, zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9') continue;
        if (*s == '0' && !started) continue;
        started = 1;
        if (*s == '0') zeros++;
        else { n += zeros + 1; zeros = 0; }
    }
    return n ? n : 1;
}

static void test_format_is_no_longer_than_shortest_printf(void **st)
{
    (void)st;
    for (int i = 0; i < 150000; i++) {
        uint32_t b = (uint32_t)next_u64();
        if (((b >> 23) & 0xff) == 0xff || (b & 0x7fffffffu) == 0) continue;
        float f = from_bits(b);
        int p;
        char ref[64];
        for (p = 1; p <= 9; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, (double)f);
            if (to_bits(strtof(ref, NULL)) == b) break;
        }
        assert_true(p <= 9);
        char buf[F32JSON_FMT_MAX + 1];
        size_t n = f32json_format(buf, f);
        buf[n] = '\0';
        if (sig_digits(buf) > p) fail_msg("%08x: %s is longer than %s", b, buf, ref);
    }
}

static void test_format_known_outputs(void **st)
{
    (void)st;
    static const struct { float v; const char *s; } cases[] = {
        {1.0f, "1"}, {-1.0f, "-1"}, {0.1f, "0.1"}, {0.0f, "0"}, {-0.0f, "-0"},
        {123.456f, "123.456"}, {1e8f, "100000000"}, {1e9f, "1e9"},
        {1e-5f, "0.00001"}, {1e-6f, "1e-6"}, {-1.5e-7f, "-1.5e-7"},
        {FLT_MAX, "3.4028235e38"}, {FLT_MIN, "1.1754944e-38"}, {1.4e-45f, "1e-45"},
        {16777216.0f, "16777216"}, {0.3f, "0.3"}, {2.0f / 3.0f, "0.6666667"},
        {0.00012345678f, "0.00012345678"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[F32JSON_FMT_MAX + 1];
        size_t n = f32json_format(buf, cases[i].v);
        buf[n] = '\0';
        assert_string_equal(buf, cases[i].s);
    }
    char buf[F32JSON_FMT_MAX];
    assert_int_equal(f32json_format(buf, NAN), 0);
    assert_int_equal(f32json_format(buf, INFINITY), 0);
    assert_int_equal(f32json_format(buf, -INFINITY), 0);
}

/* Parses `s` as one number with f32json and compares with strtof. */
static void check_parse_like_strtof(const char *s)
{
    float want = strtof(s, NULL), got = 0;
    int rc = f32json_parse_number(s, strlen(s), &got);
    if (isinf(want)) {
        if (rc != ERR_NON_FINITE) fail_msg("%s: rc %d, strtof gives inf", s, rc);
        return;
    }
    if (rc != 0) fail_msg("%s: rc %d", s, rc);
    if (to_bits(got) != to_bits(want)) fail_msg("%s: got %08x, strtof %08x", s, to_bits(got), to_bits(want));
}

static void test_parse_matches_strtof_on_random_decimals(void **st)
{
    (void)st;
    char s[64];
    for (int i = 0; i < 600000; i++) {
        char *p = s;
        if (next_u64() & 1) *p++ = '-';
        int nd = 1 + (int)(next_u64() % 20);
        int point = (int)(next_u64() % (uint64_t)(nd + 1));   /* digits before '.' */
        if (point == 0) *p++ = '0';
        for (int d = 0; d < nd; d++) {
            if (d == point && point > 0) *p++ = '.';
            if (d == 0 && point == 0) *p++ = '.';
            int dg = (int)(next_u64() % 10);
            if (d == 0 && point > 0 && dg == 0) dg = 1 + (int)(next_u64() % 9);
            *p++ = (char)('0' + dg);
        }
        if (next_u64() % 4 != 0) {
            int e = (int)(next_u64() % 101) - 55;
            p += sprintf(p, "%s%d", (next_u64() & 1) ? "e" : "E", e);
        }
        *p = '\0';
        check_parse_like_strtof(s);
    }
}

/* Decimals that round to a double lying exactly halfway between two floats:
 * converting through double then to float would round wrongly for about
 * half of them. */
static void test_parse_rounds_correctly_at_float_midpoints(void **st)
{
    (void)st;
    int hard = 0, tried = 0;
    char s[64];
    while (tried < 300000) {
        uint32_t e = 110 + (uint32_t)(next_u64() % 120);       /* ~1e-5 .. 1e31 */
        uint32_t b = (uint32_t)(next_u64() & 0x7fffffu) | (e << 23);
        float f = from_bits(b), g = nextafterf(f, INFINITY);
        double mid = ((double)f + (double)g) / 2;              /* exact */
        for (int p = 14; p <= 16; p++) {
            snprintf(s, sizeof s, "%.*e", p, mid);
            if (strtod(s, NULL) != mid) continue;
            tried++;
            if (to_bits((float)strtod(s, NULL)) != to_bits(strtof(s, NULL))) hard++;
            check_parse_like_strtof(s);
        }
    }
    /* The construction must really produce double-rounding cases. */
    assert_true(hard > 1000);
    /* True ties in the fast path's range: 2^30 + 64 + 128j lies exactly
     * between two floats; ties go to the even one. */
    for (uint32_t j = 0; j < 2000; j++) {
        snprintf(s, sizeof s, "%u", (1u << 30) + 64u + 128u * j);
        check_parse_like_strtof(s);
    }
    check_parse_like_strtof("16777217");
    check_parse_like_strtof("16777219");
    check_parse_like_strtof("1.00000005960464477539062");        /* 1 + 2^-24, exact tie */
    check_parse_like_strtof("1.00000005960464477539063");
    check_parse_like_strtof("1.000000059604644775390624999");
    check_parse_like_strtof("340282356779733661637539395458142568447"); /* just below the overflow tie */
}

/* Long significands (the approximate path): float32 values printed as
 * 17-digit doubles, as Python clients send them, and decimals of 17-25
 * digits within a few double ulps of a float midpoint, on both sides. */
static void test_parse_long_significands_near_midpoints(void **st)
{
    (void)st;
    char s[80];
    int hard = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t b;
        do b = (uint32_t)next_u64(); while (((b >> 23) & 0xff) == 0xff);
        snprintf(s, sizeof s, "%.17g", (double)from_bits(b));
        check_parse_like_strtof(s);
        snprintf(s, sizeof s, "%.16g", (double)from_bits(b));
        check_parse_like_strtof(s);

        uint32_t e = 1 + (uint32_t)(next_u64() % 253);
        b = (uint32_t)(next_u64() & 0x807fffffu) | (e << 23);
        float f = from_bits(b), g = nextafterf(f, copysignf(INFINITY, f));
        if (isinf(g)) continue;
        double mid = ((double)f + (double)g) / 2;
        int ulps = (int)(next_u64() % 9) - 4;
        double x = mid;
        for (int k = 0; k < (ulps < 0 ? -ulps : ulps); k++) x = nextafter(x, ulps < 0 ? 0.0 : INFINITY);
        int prec = 16 + (int)(next_u64() % 9);
        snprintf(s, sizeof s, "%.*e", prec, x);
        if (to_bits((float)strtod(s, NULL)) != to_bits(strtof(s, NULL))) hard++;
        check_parse_like_strtof(s);
    }
    assert_true(hard > 100);
}

static void test_parse_overflow_is_non_finite(void **st)
{
    (void)st;
    static const char *const bad[] = {
        "3.5e38", "1e999", "-1e39", "340282356779733661637539395458142568448",
        "3.4028236e38", "1e100000000000000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float f;
        assert_int_equal(f32json_parse_number(bad[i], strlen(bad[i]), &f), ERR_NON_FINITE);
    }
    float f = 0;
    assert_int_equal(f32json_parse_number("3.4028235e38", 12, &f), 0);
    assert_true(f == FLT_MAX);
    assert_int_equal(f32json_parse_number("-1e-999", 7, &f), 0);
    assert_true(f == 0.0f && signbit(f));
    assert_int_equal(f32json_parse_number("0e999999", 8, &f), 0);
    assert_true(f == 0.0f && !signbit(f));

    size_t count = 0, used = 0;
    float out[4];
    const char *a = "[1, 2, 3.5e38, 4]";
    assert_int_equal(f32json_parse_array(a, strlen(a), out, 4, &count, &used), ERR_NON_FINITE);
    assert_int_equal(count, 2);
}

static void test_parse_rejects_malformed_arrays(void **st)
{
    (void)st;
    static const char *const bad[] = {
        "", " ", "[", "[1", "[1,", "[1,]", "[,1]", "[01]", "[-01]", "[1 2]", "[-]",
        "[1e]", "[1e+]", "[.5]", "[5.]", "[+1]", "[NaN]", "[Infinity]", "[-Infinity]",
        "[[1]]", "[1,[2]]", "[\"1\"]", "[0x10]", "[1.5.2]", "[1,,2]", "{}", "1",
        "[true]", "[null]", "[1]]"+3, "[\f1]", "[1\v]", "[- 1]", "[1e5e5]", "[1;2]",
    };
    float out[8];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t count = 99, used = 0;
        int rc = f32json_parse_array(bad[i], strlen(bad[i]), out, 8, &count, &used);
        if (rc != ERR_INVALID_JSON) fail_msg("\"%s\": rc %d, want ERR_INVALID_JSON", bad[i], rc);
    }
}

static void test_parse_accepts_json_forms_and_stops_after_bracket(void **st)
{
    (void)st;
    const char *s = " \t\n[ 0 , -0.0,1E2,\r-2.5e-3 , 0.000001e+6,12345678901234567890123]xyz";
    float out[8];
    size_t count = 0, used = 0;
    assert_int_equal(f32json_parse_array(s, strlen(s), out, 8, &count, &used), 0);
    assert_int_equal(count, 6);
    assert_int_equal(used, strlen(s) - 3);
    assert_true(out[0] == 0.0f && !signbit(out[0]));
    assert_true(out[1] == 0.0f && signbit(out[1]));
    assert_true(out[2] == 100.0f);
    assert_true(out[3] == -2.5e-3f);
    assert_true(out[4] == 1.0f);
    assert_true(out[5] == 12345678901234567890123.0f);

    assert_int_equal(f32json_parse_array("[]", 2, NULL, 0, &count, &used), 0);
    assert_int_equal(count, 0);
    assert_int_equal(used, 2);
    assert_int_equal(f32json_parse_array("[ ]", 3, out, 8, &count, &used), 0);
    assert_int_equal(count, 0);
}

static void test_parse_more_than_cap_is_length_mismatch(void **st)
{
    (void)st;
    float out[3];
    size_t count = 0, used = 0;
    assert_int_equal(f32json_parse_array("[1,2,3]", 7, out, 2, &count, &used), ERR_LENGTH_MISMATCH);
    assert_int_equal(f32json_parse_array("[1]", 3, NULL, 0, &count, &used), ERR_LENGTH_MISMATCH);
    assert_int_equal(f32json_parse_array("[1,2,3]", 7, out, 3, &count, &used), 0);
    assert_int_equal(count, 3);
    /* A malformed tail past the cap is still malformed, not too long. */
    assert_int_equal(f32json_parse_array("[1,2,]", 6, out, 2, &count, &used), ERR_INVALID_JSON);
}

/* Places s at the very end of a readable page followed by an inaccessible
 * one, so that any read past len faults even without a sanitizer. */
static void test_parse_never_reads_past_len(void **st)
{
    (void)st;
    long pg = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
    static const struct { const char *s; int rc; } cases[] = {
        {"[1,2]", 0}, {"[1,2", ERR_INVALID_JSON}, {"[1.5", ERR_INVALID_JSON},
        {"[1e", ERR_INVALID_JSON}, {"[1e5", ERR_INVALID_JSON}, {"[-", ERR_INVALID_JSON},
        {"[0", ERR_INVALID_JSON}, {"[0.", ERR_INVALID_JSON}, {"[", ERR_INVALID_JSON},
        {"  ", ERR_INVALID_JSON}, {"[1,", ERR_INVALID_JSON}, {"[1 ", ERR_INVALID_JSON},
        {"[123456789012345678901234567890", ERR_INVALID_JSON},
        {"[1e-99999", ERR_INVALID_JSON}, {"[3.5e38]", ERR_NON_FINITE},
        {"[0.1000000000000000000000000000001]", 0},
    };
    float out[4];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s), count, used;
        char *p = map + pg - n;
        memcpy(p, cases[i].s, n);
        assert_int_equal(f32json_parse_array(p, n, out, 4, &count, &used), cases[i].rc);
        if (cases[i].rc == 0) assert_int_equal(used, n);
    }
    static const char *const nums[] = {"0", "-0", "1", "12345", "1.5", "1e5", "1e-5", "-7.25E+3",
                                       "0.1000000000000000000000000000001", "1e-60"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        size_t n = strlen(nums[i]);
        char *p = map + pg - n;
        memcpy(p, nums[i], n);
        float f;
        assert_int_equal(f32json_parse_number(p, n, &f), 0);
        assert_true(f == strtof(nums[i], NULL));
    }
    munmap(map, (size_t)pg * 2);
}

static void test_write_array_reads_back_exactly(void **st)
{
    (void)st;
    enum { N = 10000 };
    float *v = malloc(N * sizeof *v), *back = malloc(N * sizeof *back);
    assert_non_null(v);
    assert_non_null(back);
    for (int i = 0; i < N; i++) {
        uint32_t b;
        do b = (uint32_t)next_u64(); while (((b >> 23) & 0xff) == 0xff);
        v[i] = (i % 2) ? from_bits(b) : (float)((double)(int64_t)next_u64() * 1e-22);
    }
    f32json_buf b;
    f32json_buf_init(&b);
    assert_int_equal(f32json_buf_append(&b, "{\"update\":", 10), 0);
    assert_int_equal(f32json_write_array(&b, v, N), 0);
    assert_int_equal(f32json_buf_append(&b, "}", 1), 0);
    assert_int_equal(strlen(b.data), b.len);
    size_t count = 0, used = 0;
    assert_int_equal(f32json_parse_array(b.data + 10, b.len - 10, back, N, &count, &used), 0);
    assert_int_equal(count, N);
    assert_int_equal(used, b.len - 11);
    assert_memory_equal(v, back, N * sizeof *v);

    size_t before = b.len;
    float bad[3] = {1.0f, NAN, 2.0f};
    assert_int_equal(f32json_write_array(&b, bad, 3), ERR_NON_FINITE);
    assert_int_equal(b.len, before);
    assert_int_equal(strlen(b.data), before);

    f32json_buf e;
    f32json_buf_init(&e);
    assert_int_equal(f32json_write_array(&e, NULL, 0), 0);
    assert_string_equal(e.data, "[]");
    f32json_buf_deinit(&e);
    f32json_buf_deinit(&b);
    f32json_buf_deinit(&b);                  /* deinit twice is harmless */
    free(v);
    free(back);
}

/* f32json_number_len accepts exactly the tokens f32json_parse_number accepts
 * (the one grammar the server also checks cJSON's numbers with). */
static void test_number_len_is_the_parsers_grammar(void **state)
{
    (void)state;
    static const char *tok[] = {"0", "-0", "7", "10", "-12.5", "0.0", "1e5", "1E+5", "1e-05", "-0.5e3", "123456789",
                                "007", "00", "-01", "01.5", "1.", "1.e5", ".5", "-.5", "-", "+1", "1e", "1e+",
                                "1.5e", "e5", "0x10", "", "1.2.3", "1e5e5", "--1", "Infinity", "NaN", "1 "};
    for (size_t i = 0; i < sizeof tok / sizeof tok[0]; i++) {
        size_t n = strlen(tok[i]);
        float f;
        int parsed = f32json_parse_number(tok[i], n, &f) == 0;
        int whole = n > 0 && f32json_number_len(tok[i], n) == n;
        if (parsed != whole) fail_msg("'%s': parse %d, number_len covers it %d", tok[i], parsed, whole);
    }
    /* the length of the number at the start, 0 when there is none */
    assert_int_equal(f32json_number_len("12,3", 4), 2);
    assert_int_equal(f32json_number_len("-0.5]", 5), 4);
    assert_int_equal(f32json_number_len("1e5x", 4), 3);
    assert_int_equal(f32json_number_len("007", 3), 1);     /* "0", then digits: the caller refuses */
    assert_int_equal(f32json_number_len("1.", 2), 0);
    assert_int_equal(f32json_number_len("12", 1), 1);     /* only len bytes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_round_trips_random_bit_patterns),
        cmocka_unit_test(test_format_round_trips_powers_of_two_and_subnormals),
        cmocka_unit_test(test_format_is_no_longer_than_shortest_printf),
        cmocka_unit_test(test_format_known_outputs),
        cmocka_unit_test(test_parse_matches_strtof_on_random_decimals),
        cmocka_unit_test(test_parse_rounds_correctly_at_float_midpoints),
        cmocka_unit_test(test_parse_long_significands_near_midpoints),
        cmocka_unit_test(test_parse_overflow_is_non_finite),
        cmocka_unit_test(test_parse_rejects_malformed_arrays),
        cmocka_unit_test(test_parse_accepts_json_forms_and_stops_after_bracket),
        cmocka_unit_test(test_number_len_is_the_parsers_grammar),
        cmocka_unit_test(test_parse_more_than_cap_is_length_mismatch),
        cmocka_unit_test(test_parse_never_reads_past_len),
        cmocka_unit_test(test_write_array_reads_back_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
