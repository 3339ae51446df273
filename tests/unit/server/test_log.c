/* test_log.c — src/server/log.c: the level and format words (others
 * refused), the level filter, a JSON line per event that parses with every
 * field, logfmt text that quotes what could forge a field, and left-out
 * empty fields; the timestamp and the access line's numbers equal
 * snprintf's text.  stderr is redirected to a mkstemp() file for each test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "log.h"

static char path[] = "/tmp/optirs_test_log_XXXXXX";
static int saved = -1, fd = -1;

static void capture_begin(void)
{
    snprintf(path, sizeof path, "/tmp/optirs_test_log_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
}

/* Ends the capture and returns what was written (the caller frees it). */
static char *capture_end(void)
{
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc((size_t)n + 1, 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    close(fd);
    unlink(path);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_setup_words(void **unused)
{
    (void)unused;
    const char *levels[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) assert_int_equal(log_setup(levels[i], "text"), 0);
    assert_int_equal(log_setup("info", "json"), 0);
    const char *bad[][2] = {{"", "text"}, {"INFO", "text"}, {"verbose", "text"}, {"info", ""},
                            {"info", "JSON"}, {"info", "xml"}, {"info ", "text"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(log_setup(bad[i][0], bad[i][1]), -1);
}

static void test_levels_filter(void **unused)
{
    (void)unused;
    assert_int_equal(log_setup("warn", "text"), 0);
    assert_true(log_on(LOG_ERROR) && log_on(LOG_WARN) && !log_on(LOG_INFO) && !log_on(LOG_DEBUG));
    capture_begin();
    log_msg(LOG_DEBUG, "d");
    log_msg(LOG_INFO, "i");
    log_msg(LOG_WARN, "w");
    log_msg(LOG_ERROR, "e");
    log_access(&(log_access_info){.method = "GET", .route = "/livez", .status = 200});
    char *out = capture_end();
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, "level=warn msg=w\n"));
    assert_non_null(strstr(out, "level=error msg=e\n"));
    free(out);
}

static void test_json_lines_parse(void **unused)
{
    (void)unused;
    assert_int_equal(log_setup("debug", "json"), 0);
    capture_begin();
    log_access(&(log_access_info){.method = "POST", .route = "/v1/sessions/{id}/step", .status = 409,
                                  .duration_ms = 1.25, .session = "abc-1", .tenant = "team", .error = "step_conflict"});
    log_access(&(log_access_info){.method = "GET", .route = "unrouted", .status = 404, .session = "",
                                  .tenant = "", .error = NULL});
    log_msg(LOG_DEBUG, "quote \" backslash \\ newline \n tab \t bytes \xff\xfe end");
    char *out = capture_end();
    assert_int_equal(count_lines(out), 3);
    char *save = NULL;
    cJSON *j[3];
    char *line = strtok_r(out, "\n", &save);
    for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        j[i] = cJSON_Parse(line);
        assert_non_null(j[i]);
        assert_non_null(cJSON_GetObjectItem(j[i], "ts"));
    }
    assert_string_equal(cJSON_GetObjectItem(j[0], "msg")->valuestring, "request");
    assert_string_equal(cJSON_GetObjectItem(j[0], "level")->valuestring, "info");
    assert_string_equal(cJSON_GetObjectItem(j[0], "route")->valuestring, "/v1/sessions/{id}/step");
    assert_true(cJSON_GetObjectItem(j[0], "status")->valuedouble == 409);
    assert_true(cJSON_GetObjectItem(j[0], "duration_ms")->valuedouble == 1.25);
    assert_string_equal(cJSON_GetObjectItem(j[0], "session")->valuestring, "abc-1");
    assert_string_equal(cJSON_GetObjectItem(j[0], "tenant")->valuestring, "team");
    assert_string_equal(cJSON_GetObjectItem(j[0], "error")->valuestring, "step_conflict");
    /* empty fields are left out */
    assert_null(cJSON_GetObjectItem(j[1], "session"));
    assert_null(cJSON_GetObjectItem(j[1], "tenant"));
    assert_null(cJSON_GetObjectItem(j[1], "error"));
    /* the hostile message comes back as one string (invalid UTF-8 replaced) */
    const char *m = cJSON_GetObjectItem(j[2], "msg")->valuestring;
    assert_non_null(strstr(m, "quote \" backslash \\ newline \n tab \t bytes "));
    assert_non_null(strstr(m, "\xef\xbf\xbd"));
    assert_string_equal(cJSON_GetObjectItem(j[2], "level")->valuestring, "debug");
    for (int i = 0; i < 3; i++) cJSON_Delete(j[i]);
    free(out);
}

static void test_text_quotes_what_could_forge_a_field(void **unused)
{
    (void)unused;
    assert_int_equal(log_setup("info", "text"), 0);
    capture_begin();
    log_msg(LOG_INFO, "plain");
    log_msg(LOG_INFO, "two words");
    log_msg(LOG_INFO, "a=b");
    log_msg(LOG_INFO, "x\nlevel=error msg=forged");
    log_msg(LOG_INFO, "caf\xc3\xa9");
    log_msg(LOG_INFO, "%s", "");
    log_access(&(log_access_info){.method = "GET", .route = "/v1/sessions", .status = 200, .duration_ms = 0.5});
    char *out = capture_end();
    assert_int_equal(count_lines(out), 7);
    assert_non_null(strstr(out, " level=info msg=plain\n"));
    assert_non_null(strstr(out, " msg=\"two words\"\n"));
    assert_non_null(strstr(out, " msg=\"a=b\"\n"));
    assert_non_null(strstr(out, " msg=\"x\\nlevel=error msg=forged\"\n"));
    assert_non_null(strstr(out, " msg=\"caf\xc3\xa9\"\n"));
    assert_non_null(strstr(out, " msg=\"\"\n"));
    assert_non_null(strstr(out, " msg=request method=GET route=/v1/sessions status=200 duration_ms=0.500\n"));
    assert_null(strstr(out, "\nlevel=error"));
    /* every line starts with its timestamp */
    for (const char *p = out; *p; p = strchr(p, '\n') + 1) assert_int_equal(strncmp(p, "ts=", 3), 0);
    free(out);
}

/* log_timestamp writes what gmtime_r + snprintf write, at every edge of its
 * per-second cache: the first call, a second changing forwards and backwards,
 * the same second again, 0 and 999999999 ns, the epoch, a leap day, the last
 * second of a year and year 10000 (five digits). */
static void ts_same(time_t sec, long nsec)
{
    struct timespec ts = {.tv_sec = sec, .tv_nsec = nsec};
    struct tm tm;
    assert_non_null(gmtime_r(&sec, &tm));
    char want[96], got[LOG_TS_MAX];
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(nsec / 1000000) % 1000);
    int n = log_timestamp(got, &ts);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(got, want);
}

static void test_timestamp_matches_snprintf(void **unused)
{
    (void)unused;
    static const time_t secs[] = {1796601600, 1796601600, 1796601601, 1796601599, 0, 951782400, 1704067199,
                                  1704067200, 253402300799, 253402300800, 1796601600};
    static const long nsecs[] = {0, 999999999, 1000000, 999999, 500000000, 123456789};
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++)
        for (size_t k = 0; k < sizeof nsecs / sizeof nsecs[0]; k++) ts_same(secs[i], nsecs[k]);
    for (time_t t = 1796601590; t < 1796601610; t++) ts_same(t, (long)(t % 7) * 142857142);
}

/* The access line's numbers are printf's: status as %d, duration_ms as %.3f
 * (rounding ties to even, a negative zero, a large value). */
static void test_access_numbers_as_printf(void **unused)
{
    (void)unused;
    static const double d[] = {0.0005, 0.0015, 2.0625, 1234567.8915, 0.0, -0.0, 1e20, 9.999999};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        assert_int_equal(log_setup("info", "text"), 0);
        capture_begin();
        log_access(&(log_access_info){.method = "POST", .route = "/r", .status = 503, .duration_ms = d[i]});
        char *out = capture_end();
        char want[400];
        snprintf(want, sizeof want, " status=503 duration_ms=%.3f\n", d[i]);
        assert_non_null(strstr(out, want));
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_words),
        cmocka_unit_test(test_levels_filter),
        cmocka_unit_test(test_json_lines_parse),
        cmocka_unit_test(test_text_quotes_what_could_forge_a_field),
        cmocka_unit_test(test_timestamp_matches_snprintf),
        cmocka_unit_test(test_access_numbers_as_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
