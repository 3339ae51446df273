/* test_errors.c — the error table of src/core/errors.c: every code has a
 * distinct snake_case name and a message; codes outside the table
 * (including 0 and the sentinels) map to internal.  (Their HTTP statuses
 * are the server's: tests/unit/server/test_http_status.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "errors.h"

typedef struct { int code; const char *name; const char *message; } expected_row;

static const expected_row table[] = {
#define ROW_(e, c, m) {e, c, m},
    ERR_MAP(ROW_)
#undef ROW_
};
#define NTABLE ((int)(sizeof table / sizeof table[0]))

static int is_snake_case(const char *s)
{
    if (!s || !*s || s[0] < 'a' || s[0] > 'z') return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    return s[strlen(s) - 1] != '_' && strstr(s, "__") == NULL;
}

static void test_errors_codes_are_negative_and_contiguous(void **unused)
{
    (void)unused;
    assert_int_equal(ERR_LAST_ - ERR_FIRST_ - 1, NTABLE);
    for (int i = 0; i < NTABLE; i++) {
        assert_true(table[i].code < 0);
        assert_int_equal(table[i].code, ERR_FIRST_ + 1 + i);
    }
    assert_true(ERR_LAST_ < 0); /* 0 stays "success" */
}

static void test_errors_every_code_has_its_row_name_and_message(void **unused)
{
    (void)unused;
    for (int i = 0; i < NTABLE; i++) {
        int e = table[i].code;
        assert_string_equal(err_name(e), table[i].name);
        assert_string_equal(err_message(e), table[i].message);
        assert_true(is_snake_case(err_name(e)));
        assert_true(strlen(err_message(e)) > 0);
    }
}

static void test_errors_names_are_distinct(void **unused)
{
    (void)unused;
    for (int i = 0; i < NTABLE; i++)
        for (int j = i + 1; j < NTABLE; j++)
            if (strcmp(err_name(table[i].code), err_name(table[j].code)) == 0)
                fail_msg("codes %d and %d share the name %s", table[i].code, table[j].code,
                         err_name(table[i].code));
}

static void test_errors_unknown_codes_map_to_internal(void **unused)
{
    (void)unused;
    const int unknown[] = {0, 1, 42, ERR_FIRST_, ERR_FIRST_ - 1, ERR_LAST_, -1, -2000000000, 2000000000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(err_name(unknown[i]), "internal");
        assert_string_equal(err_message(unknown[i]), err_message(ERR_INTERNAL));
    }
    assert_string_equal(err_name(ERR_INTERNAL), "internal");
}

static void test_errors_spot_checks_of_well_known_names(void **unused)
{
    (void)unused;
    assert_string_equal(err_name(ERR_INVALID_JSON), "invalid_json");
    assert_string_equal(err_name(ERR_SESSION_NOT_FOUND), "session_not_found");
    assert_string_equal(err_name(ERR_STORAGE), "storage_unavailable");
    assert_string_equal(err_name(ERR_NO_MEMORY), "out_of_memory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_codes_are_negative_and_contiguous),
        cmocka_unit_test(test_errors_every_code_has_its_row_name_and_message),
        cmocka_unit_test(test_errors_names_are_distinct),
        cmocka_unit_test(test_errors_unknown_codes_map_to_internal),
        cmocka_unit_test(test_errors_spot_checks_of_well_known_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
