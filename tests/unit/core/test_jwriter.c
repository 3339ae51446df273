/* test_jwriter.c — the JSON/text writer: strings come out escaped and as
 * valid JSON and UTF-8 for any bytes (checked by parsing them back with
 * cJSON and by the UTF-8 validator), invalid UTF-8 is replaced by U+FFFD,
 * numbers are finite or refused, the hard maximum holds to the byte and fails
 * cleanly (sticky error, NULL from jw_take).  (The live formatters' hostile
 * tensor names are in tests/unit/server/test_live.c.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "errors.h"
#include "jwriter.h"
#include "utf8.h"

/* Writes s[0..n) with jw_str, parses it back, returns the decoded string
 * (freed by the caller). */
static char *roundtrip(const char *s, size_t n)
{
    jwriter w;
    jw_init(&w, 1 << 20);
    jw_str(&w, s, n);
    size_t len;
    char *t = jw_take(&w, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    assert_true(utf8_valid(t, len));
    cJSON *v = cJSON_ParseWithLengthOpts(t, len + 1, NULL, 1);   /* + 1: the NUL */
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    char *out = strdup(v->valuestring);
    cJSON_Delete(v);
    free(t);
    return out;
}

static void test_jwriter_escapes_quotes_backslashes_and_controls(void **unused)
{
    (void)unused;
    const char in[] = "a\"b\\c\nd\te\x01\x1f/\x7f";
    jwriter w;
    jw_init(&w, 1024);
    jw_str(&w, in, sizeof in - 1);
    char *t = jw_take(&w, NULL);
    assert_string_equal(t, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f/\x7f\"");
    free(t);
    char *back = roundtrip(in, sizeof in - 1);
    assert_string_equal(back, in);
    free(back);
}

static void test_jwriter_63_quotes_and_63_backslashes_fit_and_parse(void **unused)
{
    (void)unused;
    char q[64], b[64];
    memset(q, '"', 63), q[63] = 0;
    memset(b, '\\', 63), b[63] = 0;
    char *x = roundtrip(q, 63), *y = roundtrip(b, 63);
    assert_string_equal(x, q);
    assert_string_equal(y, b);
    free(x);
    free(y);
}

static void test_jwriter_replaces_invalid_utf8_with_fffd(void **unused)
{
    (void)unused;
    const char in[] = "ok\xC3\xA9 \xFF \xED\xA0\x80 \xC0\x80 \xF0\x9F\x98";
    jwriter w;
    jw_init(&w, 1024);
    jw_str(&w, in, sizeof in - 1);
    char *t = jw_take(&w, NULL);
    assert_true(utf8_valid(t, strlen(t)));
    /* é kept; FF, ED A0 80 (3 bytes), C0 80 (2), F0 9F 98 (3): one U+FFFD per byte */
    assert_string_equal(t, "\"ok\xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
                           "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    free(t);
    /* a NUL byte is escaped, not cut */
    jw_init(&w, 64);
    jw_str(&w, "a\0b", 3);
    t = jw_take(&w, NULL);
    assert_string_equal(t, "\"a\\u0000b\"");
    free(t);
}

static void test_jwriter_random_bytes_always_give_valid_json_and_utf8(void **unused)
{
    (void)unused;
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    char buf[256];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(s % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[i] = (char)(s >> 24);
        }
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        free(roundtrip(buf, n));
    }
}

static void test_jwriter_numbers_are_finite_or_refused(void **unused)
{
    (void)unused;
    jwriter w;
    jw_init(&w, 1024);
    jw_num(&w, 0.25, 0);
    jw_lit(&w, ",");
    jw_num(&w, 1.0 / 3.0, 9);
    jw_lit(&w, ",");
    jw_num_or_null(&w, NAN, 9);
    jw_lit(&w, ",");
    jw_num_or_null(&w, -INFINITY, 0);
    jw_lit(&w, ",");
    jw_i64(&w, INT64_MIN);
    jw_lit(&w, ",");
    jw_u64(&w, UINT64_MAX);
    char *t = jw_take(&w, NULL);
    assert_string_equal(t, "0.25,0.333333333,null,null,-9223372036854775808,18446744073709551615");
    free(t);
    /* sig 0: the text reads back as exactly the double */
    jw_init(&w, 64);
    jw_num(&w, 0.1, 0);
    t = jw_take(&w, NULL);
    assert_true(strtod(t, NULL) == 0.1);
    free(t);
    jw_init(&w, 1024);
    assert_int_equal(jw_num(&w, INFINITY, 0), ERR_NON_FINITE);
    assert_int_equal(jw_lit(&w, "x"), ERR_NON_FINITE);   /* sticky */
    assert_null(jw_take(&w, NULL));
}

static void test_jwriter_stops_at_its_maximum_to_the_byte(void **unused)
{
    (void)unused;
    jwriter w;
    jw_init(&w, 10);
    assert_int_equal(jw_lit(&w, "0123456789"), 0);      /* exactly max */
    assert_int_equal(w.len, 10);
    assert_int_equal(jw_lit(&w, "x"), ERR_OUTPUT_TOO_LARGE);
    assert_int_equal(w.len, 10);
    assert_int_equal(jw_printf(&w, "%d", 1), ERR_OUTPUT_TOO_LARGE);
    assert_null(jw_take(&w, NULL));
    /* a string whose escapes pass the maximum fails, never writes past it */
    jw_init(&w, 100);
    char q[64];
    memset(q, '"', sizeof q);
    assert_int_equal(jw_str(&w, q, sizeof q), ERR_OUTPUT_TOO_LARGE);
    assert_true(w.len <= 100 && w.len < w.cap);
    jw_deinit(&w);
    /* a length that would wrap size_t is refused before any allocation */
    jw_init(&w, SIZE_MAX);
    assert_int_equal(w.max, JW_MAX_LIMIT);
    assert_int_equal(jw_raw(&w, "", SIZE_MAX), ERR_OUTPUT_TOO_LARGE);
    assert_null(w.p);
    jw_deinit(&w);
    /* printf output longer than the first growth step */
    jw_init(&w, 1 << 20);
    char big[1000];
    memset(big, 'a', sizeof big - 1), big[sizeof big - 1] = 0;
    jw_printf(&w, "%s-%s", big, big);
    size_t len;
    char *t = jw_take(&w, &len);
    assert_int_equal(len, 2 * 999 + 1);
    assert_int_equal(t[999], '-');
    free(t);
    /* bulk writing: a claim past the maximum fails; a claim is committed in part */
    jw_init(&w, 16);
    jw_lit(&w, "[");
    assert_null(jw_claim(&w, 16));
    assert_int_equal(jw_error(&w), ERR_OUTPUT_TOO_LARGE);
    jw_deinit(&w);
    jw_init(&w, 16);
    jw_lit(&w, "[");
    char *o = jw_claim(&w, 15);
    assert_non_null(o);
    memcpy(o, "1,2", 3);
    jw_commit(&w, 3);
    jw_lit(&w, "]");
    t = jw_take(&w, &len);
    assert_string_equal(t, "[1,2]");
    free(t);
    /* an empty writer gives "" */
    jw_init(&w, 0);
    t = jw_take(&w, &len);
    assert_non_null(t);
    assert_int_equal(len, 0);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwriter_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_jwriter_63_quotes_and_63_backslashes_fit_and_parse),
        cmocka_unit_test(test_jwriter_replaces_invalid_utf8_with_fffd),
        cmocka_unit_test(test_jwriter_random_bytes_always_give_valid_json_and_utf8),
        cmocka_unit_test(test_jwriter_numbers_are_finite_or_refused),
        cmocka_unit_test(test_jwriter_stops_at_its_maximum_to_the_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
