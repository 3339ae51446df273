/* test_http_strict.c — src/server/http_strict.c: the raw path refuses %00,
 * %2F (either case) and malformed escapes and takes every other escape as
 * is; the query count matches libmicrohttpd's split at '&' (empty pieces
 * count); only "chunked" is an implemented transfer coding; HTTP/1.1 needs
 * exactly one Host, HTTP/1.0 at most one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "errors.h"
#include "http_strict.h"

static int path(const char *p) { return http_strict_path(p, strlen(p), NULL, 0); }

static void test_path_refuses_encoded_nul_and_slash(void **state)
{
    (void)state;
    static const char *bad[] = {"/v1/sessions/abc%00/params", "/v1/sessions/abc%00", "/v1/sessions%2Fabc",
                                "/v1/sessions%2fabc", "%00", "/a%2F", "/a%", "/a%4", "/a%zz", "/a%4g", "/a%%41"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (path(bad[i]) != ERR_BAD_PATH) fail_msg("'%s' should be refused", bad[i]);
    static const char *good[] = {"", "/", "/v1/sessions/abc/params", "/v1/sessions/bad%20id", "/%41%7e%2e",
                                 "/a%01", "/a%2E", "/a%25"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (path(good[i]) != 0) fail_msg("'%s' should pass", good[i]);
    char msg[128];
    assert_int_equal(http_strict_path("/x%00", 5, msg, sizeof msg), ERR_BAD_PATH);
    assert_non_null(strstr(msg, "NUL"));
}

static void test_path_reads_only_len_bytes(void **state)
{
    (void)state;
    /* the escape is cut by len: "%0" is malformed, whatever follows */
    assert_int_equal(http_strict_path("/a%00", 4, NULL, 0), ERR_BAD_PATH);
    assert_int_equal(http_strict_path("/a%00", 2, NULL, 0), 0);
}

static void test_query_count_matches_the_split_at_ampersands(void **state)
{
    (void)state;
    assert_int_equal(http_strict_query_count("", 0), 0);
    assert_int_equal(http_strict_query_count("a=1", 3), 1);
    assert_int_equal(http_strict_query_count("a=1&b=2", 7), 2);
    assert_int_equal(http_strict_query_count("a&&b", 4), 3);
    assert_int_equal(http_strict_query_count("&", 1), 2);
    assert_int_equal(http_strict_query_count("a=1&b=2", 3), 1);
}

static void test_only_chunked_is_implemented(void **state)
{
    (void)state;
    assert_int_equal(http_strict_transfer_coding("chunked", NULL, 0), 0);
    assert_int_equal(http_strict_transfer_coding("Chunked", NULL, 0), 0);
    assert_int_equal(http_strict_transfer_coding(" \tCHUNKED ", NULL, 0), 0);
    static const char *bad[] = {"gzip, chunked", "chunked, gzip", "gzip", "identity", "", "chunked;x=1",
                                "chunkedx", "chunke"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_strict_transfer_coding(bad[i], NULL, 0) != ERR_NOT_IMPLEMENTED) fail_msg("'%s' should be refused", bad[i]);
}

static void test_host_rules(void **state)
{
    (void)state;
    assert_int_equal(http_strict_host("HTTP/1.1", 1, NULL, 0), 0);
    assert_int_equal(http_strict_host("HTTP/1.1", 0, NULL, 0), ERR_BAD_HEADER);
    assert_int_equal(http_strict_host("HTTP/1.1", 2, NULL, 0), ERR_BAD_HEADER);
    assert_int_equal(http_strict_host("HTTP/1.0", 0, NULL, 0), 0);
    assert_int_equal(http_strict_host("HTTP/1.0", 1, NULL, 0), 0);
    assert_int_equal(http_strict_host("HTTP/1.0", 2, NULL, 0), ERR_BAD_HEADER);
    assert_int_equal(http_strict_host("HTTP/1.2", 0, NULL, 0), ERR_BAD_HEADER);
    assert_int_equal(http_strict_host("", 0, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_refuses_encoded_nul_and_slash),
        cmocka_unit_test(test_path_reads_only_len_bytes),
        cmocka_unit_test(test_query_count_matches_the_split_at_ampersands),
        cmocka_unit_test(test_only_chunked_is_implemented),
        cmocka_unit_test(test_host_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
