/* test_cmdline.c — src/server/cmdline.c: words split on blanks, quotes and
 * backslashes kept as a shell would without running one, and every line a
 * shell would interpret, or that cannot be split, refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cmdline.h"
#include "errors.h"

static int split(const char *line, char **w, char *buf, char *msg)
{
    int n = -1;
    int rc = cmdline_split(line, buf, CMDLINE_MAX + 1, w, &n, msg, 200);
    return rc ? -1 : n;
}

static void test_cmdline_splits_words_and_quotes(void **unused)
{
    (void)unused;
    char *w[CMDLINE_MAX_WORDS + 1], buf[CMDLINE_MAX + 1], msg[200];
    assert_int_equal(split("mpirun -np 8 --hostfile FILE", w, buf, msg), 5);
    assert_string_equal(w[0], "mpirun");
    assert_string_equal(w[2], "8");
    assert_string_equal(w[4], "FILE");
    assert_null(w[5]);
    assert_int_equal(split("  a\t 'b c'  \"d \\\"e\\\\\" f\\ g 'x'\"y\"z ''", w, buf, msg), 6);
    assert_string_equal(w[0], "a");
    assert_string_equal(w[1], "b c");
    assert_string_equal(w[2], "d \"e\\");
    assert_string_equal(w[3], "f g");
    assert_string_equal(w[4], "xyz");
    assert_string_equal(w[5], "");
    /* what a shell would expand is kept literally when quoted */
    assert_int_equal(split("srun '--export=$HOME;x' \\$y", w, buf, msg), 3);
    assert_string_equal(w[1], "--export=$HOME;x");
    assert_string_equal(w[2], "$y");
}

static void test_cmdline_refuses_what_needs_a_shell_or_cannot_be_split(void **unused)
{
    (void)unused;
    char *w[CMDLINE_MAX_WORDS + 1], buf[CMDLINE_MAX + 1], msg[200];
    const char *bad[] = {"", "   ", "mpirun 'x", "mpirun \"x", "mpirun x\\", "mpirun; rm -rf /", "a | b", "a && b",
                         "a > f", "a < f", "a `id`", "a $(id)", "a $HOME", "a *", "a ~/x", "a # c", "a\nb", "a {b}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        if (split(bad[i], w, buf, msg) != -1) fail_msg("'%s' was accepted", bad[i]);
        assert_true(strlen(msg) > 0);
    }
    assert_non_null(strstr((split("a; b", w, buf, msg), msg), "';'"));
    char many[CMDLINE_MAX + 1];
    size_t k = 0;
    for (int i = 0; i <= CMDLINE_MAX_WORDS; i++) { many[k++] = 'x'; many[k++] = ' '; }
    many[k] = '\0';
    assert_int_equal(split(many, w, buf, msg), -1);   /* one word too many */
    many[2 * CMDLINE_MAX_WORDS] = '\0';
    assert_int_equal(split(many, w, buf, msg), CMDLINE_MAX_WORDS);
    char longl[CMDLINE_MAX + 2];
    memset(longl, 'a', sizeof longl - 1);
    longl[sizeof longl - 1] = '\0';
    assert_int_equal(cmdline_split(longl, buf, sizeof buf, w, &(int){0}, msg, sizeof msg), ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmdline_splits_words_and_quotes),
        cmocka_unit_test(test_cmdline_refuses_what_needs_a_shell_or_cannot_be_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
