/* test_http_status.c — src/server/http_status.c: every code of core's
 * ERR_MAP has a 4xx/5xx status and a non-empty HTTP message; codes outside
 * the table (including 0 and the sentinels) answer internal's 500; the
 * well-known statuses hold, and the codes core words without HTTP keep
 * their HTTP wording in an answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "errors.h"
#include "http_status.h"

static void test_every_code_has_a_4xx_or_5xx_status_and_a_message(void **unused)
{
    (void)unused;
    for (int e = ERR_FIRST_ + 1; e < ERR_LAST_; e++) {
        int st = http_status_of(e);
        if (st < 400 || st > 599) fail_msg("%s (%d) has HTTP status %d", err_name(e), e, st);
        assert_non_null(http_status_message(e));
        assert_true(strlen(http_status_message(e)) > 0);
    }
}

static void test_unknown_codes_answer_internal_500(void **unused)
{
    (void)unused;
    const int unknown[] = {0, 1, 42, ERR_FIRST_, ERR_FIRST_ - 1, ERR_LAST_, -1, -2000000000, 2000000000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(http_status_of(unknown[i]), 500);
        assert_string_equal(http_status_message(unknown[i]), err_message(ERR_INTERNAL));
    }
    assert_int_equal(http_status_of(ERR_INTERNAL), 500);
}

static void test_well_known_statuses(void **unused)
{
    (void)unused;
    assert_int_equal(http_status_of(ERR_INVALID_JSON), 400);
    assert_int_equal(http_status_of(ERR_UNAUTHORIZED), 401);
    assert_int_equal(http_status_of(ERR_FORBIDDEN), 403);
    assert_int_equal(http_status_of(ERR_SESSION_NOT_FOUND), 404);
    assert_int_equal(http_status_of(ERR_METHOD_NOT_ALLOWED), 405);
    assert_int_equal(http_status_of(ERR_NOT_ACCEPTABLE), 406);
    assert_int_equal(http_status_of(ERR_STEP_CONFLICT), 409);
    assert_int_equal(http_status_of(ERR_LENGTH_REQUIRED), 411);
    assert_int_equal(http_status_of(ERR_BODY_TOO_LARGE), 413);
    assert_int_equal(http_status_of(ERR_TOO_MANY_QUERY), 414);
    assert_int_equal(http_status_of(ERR_UNSUPPORTED_MEDIA), 415);
    assert_int_equal(http_status_of(ERR_NON_FINITE), 422);
    assert_int_equal(http_status_of(ERR_RATE_LIMITED), 429);
    assert_int_equal(http_status_of(ERR_NOT_IMPLEMENTED), 501);
    assert_int_equal(http_status_of(ERR_STORAGE), 503);
    assert_int_equal(http_status_of(ERR_STEP_TIMEOUT), 504);
}

static void test_messages_keep_their_http_wording(void **unused)
{
    (void)unused;
    assert_string_equal(http_status_message(ERR_LENGTH_REQUIRED), "the request needs a Content-Length");
    assert_string_equal(http_status_message(ERR_NOT_ACCEPTABLE),
                        "the Accept header names no encoding this route can produce");
    /* codes without an HTTP wording answer with core's message */
    assert_string_equal(http_status_message(ERR_STEP_CONFLICT), err_message(ERR_STEP_CONFLICT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_4xx_or_5xx_status_and_a_message),
        cmocka_unit_test(test_unknown_codes_answer_internal_500),
        cmocka_unit_test(test_well_known_statuses),
        cmocka_unit_test(test_messages_keep_their_http_wording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
