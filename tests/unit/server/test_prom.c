/* test_prom.c — src/server/prom.c: prom_request counts show up in
 * prom_render's text exposition (by route and status, "unrouted", "other"),
 * the step-latency histogram is cumulative with inclusive upper bounds and a
 * +Inf bucket equal to the count, byte counters add up, concurrent updates
 * are not lost, the exposition is well-formed (every sample belongs to a
 * family announced by # HELP and # TYPE), and prom_render works with
 * reg = NULL and db = NULL and, with a real store, reports its commits.
 * The counters are process-global: every check compares before and after. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
#include "prom.h"
#include "store.h"

static app the_app;   /* reg = NULL, db = NULL */

static char *render(void)
{
    size_t len = 0;
    char *t = prom_render(&the_app, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

/* The value of the sample whose text before the value is exactly `series`;
 * 0 when the sample is absent (counters at zero are not printed). */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    }
    return 0;
}

static int route_index(const char *name)
{
    for (int i = 0; i < routes_count; i++)
        if (strcmp(routes_table[i].name, name) == 0) return i;
    fail_msg("no route %s", name);
    return -1;
}

static void test_prom_counts_requests_by_route_and_status(void **unused)
{
    (void)unused;
    int step = route_index("step"), create = route_index("sessions_create");
    char *a = render();
    for (int i = 0; i < 3; i++) prom_request(step, 200, 10, 20, -1);
    prom_request(create, 201, 0, 0, -1);
    prom_request(create, 400, 0, 0, -1);
    prom_request(-1, 404, 0, 0, -1);
    prom_request(-1, 404, 0, 0, -1);
    prom_request(step, 418, 0, 0, -1);      /* not in the status list */
    char *b = render();
    struct { const char *series; double delta; } want[] = {
        {"optirs_requests_total{route=\"step\",status=\"200\"}", 3},
        {"optirs_requests_total{route=\"sessions_create\",status=\"201\"}", 1},
        {"optirs_requests_total{route=\"sessions_create\",status=\"400\"}", 1},
        {"optirs_requests_total{route=\"unrouted\",status=\"404\"}", 2},
        {"optirs_requests_total{route=\"step\",status=\"other\"}", 1},
        {"optirs_requests_total{route=\"step\",status=\"404\"}", 0},
        {"optirs_http_bytes_in_total", 30},
        {"optirs_http_bytes_out_total", 60},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double d = sample(b, want[i].series) - sample(a, want[i].series);
        if (d != want[i].delta) fail_msg("%s moved by %g, want %g", want[i].series, d, want[i].delta);
    }
    assert_non_null(strstr(b, "optirs_requests_total{route=\"step\",status=\"200\"}"));
    free(a);
    free(b);
}

static void test_prom_step_histogram_is_cumulative_with_inclusive_bounds(void **unused)
{
    (void)unused;
    int step = route_index("step");
    char *a = render();
    prom_request(step, 200, 0, 0, 0.001);    /* exactly on a bound: counted in le="0.001" */
    prom_request(step, 200, 0, 0, 0.003);    /* le="0.005" and up */
    prom_request(step, 200, 0, 0, 0);        /* the first bucket */
    prom_request(step, 200, 0, 0, 20);       /* above every bound: +Inf only */
    prom_request(step, 200, 0, 0, -1);       /* no latency: not observed */
    char *b = render();
#define D(series) (sample(b, series) - sample(a, series))
    assert_true(D("optirs_step_seconds_bucket{le=\"0.0001\"}") == 1);
    assert_true(D("optirs_step_seconds_bucket{le=\"0.0005\"}") == 1);
    assert_true(D("optirs_step_seconds_bucket{le=\"0.001\"}") == 2);
    assert_true(D("optirs_step_seconds_bucket{le=\"0.0025\"}") == 2);
    assert_true(D("optirs_step_seconds_bucket{le=\"0.005\"}") == 3);
    assert_true(D("optirs_step_seconds_bucket{le=\"10\"}") == 3);
    assert_true(D("optirs_step_seconds_bucket{le=\"+Inf\"}") == 4);
    assert_true(D("optirs_step_seconds_count") == 4);
    /* sum in seconds, kept in integer nanoseconds: tolerance 1e-8 s */
    assert_true(fabs(D("optirs_step_seconds_sum") - 20.004) < 1e-8);
#undef D
    /* buckets never decrease, and +Inf equals the count */
    double prev = -1;
    const char *p = b;
    int nb = 0;
    while ((p = strstr(p, "optirs_step_seconds_bucket{le=\"")) != NULL) {
        const char *sp = strchr(p, ' ');
        double v = strtod(sp + 1, NULL);
        assert_true(v >= prev);
        prev = v;
        nb++;
        p = sp;
    }
    assert_true(nb >= 2);
    assert_true(prev == sample(b, "optirs_step_seconds_count"));
    free(a);
    free(b);
}

static int is_metric_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':'; }

static void test_prom_exposition_is_well_formed_without_registry_or_store(void **unused)
{
    (void)unused;
    prom_request(route_index("livez"), 200, 1, 1, -1);
    char *t = render();
    assert_true(t[strlen(t) - 1] == '\n');
    char typed[64][80];
    int ntyped = 0, nsamples = 0;
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0) continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[80], type[32];
            assert_int_equal(sscanf(line + 7, "%79s %31s", name, type), 2);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 || strcmp(type, "histogram") == 0);
            assert_true(ntyped < 64);
            snprintf(typed[ntyped++], sizeof typed[0], "%s", name);
            continue;
        }
        assert_true(line[0] != '#');
        size_t n = 0;
        while (is_metric_char(line[n])) n++;
        assert_true(n > 0);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        /* the sample belongs to the most recently announced family */
        assert_true(ntyped > 0);
        const char *fam = typed[ntyped - 1];
        size_t fl = strlen(fam);
        if (!(strcmp(name, fam) == 0 ||
              (strncmp(name, fam, fl) == 0 && (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
                                                !strcmp(name + fl, "_count")))))
            fail_msg("sample %s outside its family %s", name, fam);
        const char *rest = line + n;
        if (*rest == '{') {
            rest = strchr(rest, '}');
            assert_non_null(rest);
            rest++;
        }
        assert_true(*rest == ' ');
        char *end;
        strtod(rest + 1, &end);
        assert_true(end != rest + 1 && *end == '\0');
        nsamples++;
    }
    assert_true(nsamples > 20);
    free(t);
    t = render();
    assert_true(sample(t, "optirs_sessions_open") == 0);             /* no registry */
    assert_non_null(strstr(t, "\noptirs_sessions_open 0\n"));
    assert_non_null(strstr(t, "\noptirs_storage_commits_total 0\n")); /* no store */
    assert_non_null(strstr(t, "\noptirs_http_requests_inflight "));
    free(t);
}

typedef struct { int route; int n; } hammer_arg;
static void *hammer(void *p)
{
    hammer_arg *h = p;
    for (int i = 0; i < h->n; i++) prom_request(h->route, 503, 1, 2, -1);
    return NULL;
}

static void test_prom_concurrent_updates_are_not_lost(void **unused)
{
    (void)unused;
    const char *series = "optirs_requests_total{route=\"readyz\",status=\"503\"}";
    char *a = render();
    pthread_t th[4];
    hammer_arg h = {route_index("readyz"), 20000};
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, hammer, &h), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    char *b = render();
    assert_true(sample(b, series) - sample(a, series) == 80000);
    assert_true(sample(b, "optirs_http_bytes_out_total") - sample(a, "optirs_http_bytes_out_total") == 160000);
    free(a);
    free(b);
}

static void test_prom_reports_the_store_stats(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/optirs_test_prom_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.db", dir);
    store *s = NULL;
    assert_int_equal(store_open(path, &s), 0);
    void *blob = malloc(4);
    assert_non_null(blob);
    memset(blob, 0, 4);
    assert_int_equal(store_session_create_take(s, "p1", "{}", 1, 0, blob, 4), 0);
    assert_int_equal(store_feedback(s, "p1", 1, 0.5, NULL), 0);
    store_stats st;
    store_get_stats(s, &st);
    assert_true(st.commits >= 2);
    the_app.db = s;
    char *t = render();
    the_app.db = NULL;
    char want[96];
    snprintf(want, sizeof want, "\noptirs_storage_commits_total %lld\n", (long long)st.commits);
    if (!strstr(t, want)) fail_msg("want%s", want);
    assert_true(sample(t, "optirs_storage_errors_total") == (double)st.errors);
    free(t);
    store_close(s);
    char f[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", path, suffix[i]);
        unlink(f);
    }
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_counts_requests_by_route_and_status),
        cmocka_unit_test(test_prom_step_histogram_is_cumulative_with_inclusive_bounds),
        cmocka_unit_test(test_prom_exposition_is_well_formed_without_registry_or_store),
        cmocka_unit_test(test_prom_concurrent_updates_are_not_lost),
        cmocka_unit_test(test_prom_reports_the_store_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
