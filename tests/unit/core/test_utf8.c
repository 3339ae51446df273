/* test_utf8.c — the validator accepts exactly well-formed UTF-8 (RFC 3629)
 * without NUL: every boundary of the table of well-formed sequences, each
 * kind of ill-formed input (overlongs, surrogates, > U+10FFFF, stray and
 * missing continuation bytes, C0/C1/F5..FF), and the offset it reports.
 * The decoder is checked against an independent encoder over every code
 * point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"

#define V(s) utf8_valid((s), sizeof(s) - 1)

static void test_utf8_accepts_well_formed_boundaries(void **unused)
{
    (void)unused;
    assert_true(V(""));
    assert_true(V("plain ascii \x01\x7f"));
    assert_true(V("\xC2\x80"));                 /* U+0080 */
    assert_true(V("\xDF\xBF"));                 /* U+07FF */
    assert_true(V("\xE0\xA0\x80"));             /* U+0800 */
    assert_true(V("\xED\x9F\xBF"));             /* U+D7FF */
    assert_true(V("\xEE\x80\x80"));             /* U+E000 */
    assert_true(V("\xEF\xBF\xBD"));             /* U+FFFD */
    assert_true(V("\xEF\xBF\xBF"));             /* U+FFFF */
    assert_true(V("\xF0\x90\x80\x80"));         /* U+10000 */
    assert_true(V("\xF4\x8F\xBF\xBF"));         /* U+10FFFF */
    assert_true(V("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
}

static void test_utf8_refuses_ill_formed_sequences(void **unused)
{
    (void)unused;
    assert_false(V("\x00"));                    /* NUL code point */
    assert_false(V("a\x80"));                   /* stray continuation */
    assert_false(V("\xC0\x80"));                /* overlong NUL */
    assert_false(V("\xC1\xBF"));                /* overlong */
    assert_false(V("\xE0\x80\xAF"));            /* overlong '/' */
    assert_false(V("\xE0\x9F\xBF"));            /* overlong U+07FF */
    assert_false(V("\xF0\x80\x80\xAF"));        /* overlong */
    assert_false(V("\xF0\x8F\xBF\xBF"));        /* overlong U+FFFF */
    assert_false(V("\xED\xA0\x80"));            /* U+D800 surrogate */
    assert_false(V("\xED\xBF\xBF"));            /* U+DFFF surrogate */
    assert_false(V("\xF4\x90\x80\x80"));        /* U+110000 */
    assert_false(V("\xF5\x80\x80\x80"));
    assert_false(V("\xFF"));
    assert_false(V("\xFE"));
    assert_false(V("\xC3"));                    /* truncated */
    assert_false(V("\xE2\x82"));                /* truncated */
    assert_false(V("\xF0\x9F\x98"));            /* truncated */
    assert_false(V("\xE2\x28\xA1"));            /* bad continuation */
    assert_int_equal(utf8_invalid_at("ab\xC3\xA9\xFFz", 6), 4);
    assert_int_equal(utf8_invalid_at("ab\0c", 4), 2);
    assert_int_equal(utf8_invalid_at("abc", 3), 3);
}

static int encode(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_utf8_decodes_every_code_point_and_refuses_surrogates(void **unused)
{
    (void)unused;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        unsigned char b[4];
        int n = encode(cp, b);
        uint32_t got = 0xFFFFFFFF;
        int k = utf8_decode(b, (size_t)n, &got);
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            assert_int_equal(k, 0);
            continue;
        }
        assert_int_equal(k, n);
        assert_int_equal(got, cp);
        assert_int_equal(utf8_valid((const char *)b, (size_t)n), cp != 0);
        if (n > 1) assert_int_equal(utf8_decode(b, (size_t)n - 1, &got), 0);   /* truncated */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_well_formed_boundaries),
        cmocka_unit_test(test_utf8_refuses_ill_formed_sequences),
        cmocka_unit_test(test_utf8_decodes_every_code_point_and_refuses_surrogates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
