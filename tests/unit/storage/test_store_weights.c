/* test_store_weights.c — meta-training job rows (store_weights.c) through
 * the store.h API: listing pages newest first, by tenant and across equal
 * timestamps. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

#define STORE_TEST_NAME "test_store_weights"
#include "store_test_util.h"

/* ---- tests ------------------------------------------------------------------ */

typedef struct job_page { int n; char id[8][40]; char tenant[8][16]; int64_t ms[8]; } job_page;

static int job_collect(void *ctx, const store_meta_job_row *j)
{
    job_page *p = ctx;
    assert_true(p->n < 8);
    snprintf(p->id[p->n], sizeof p->id[0], "%s", j->id);
    snprintf(p->tenant[p->n], sizeof p->tenant[0], "%s", j->tenant);
    p->ms[p->n++] = j->created_ms;
    return 0;
}

/* Issue 13, finding 13: jobs carry their tenant; the list filters by tenant
 * and pages by (created_ms descending, id) without repeating or skipping a
 * job, also across equal timestamps. */
static void test_store_meta_jobs_list_pages_by_tenant(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    /* id, tenant, created_ms: j2 and j3 share a millisecond. */
    const struct { const char *id, *tenant; int64_t ms; } jobs[] = {
        {"j1", "a", 10}, {"j2", "b", 20}, {"j3", "a", 20}, {"j4", "", 30}, {"j5", "a", 40}};
    for (int i = 0; i < 5; i++) {
        store_meta_job_row row = {.id = jobs[i].id, .name = "w", .source = "api", .tenant = jobs[i].tenant,
                                  .status = "queued", .config_json = "{}", .created_ms = jobs[i].ms, .outer_steps = 1};
        assert_int_equal(store_meta_job_insert(s, &row), 0);
    }
    store_meta_job_row untenanted = {.id = "j0", .name = "w", .source = "cli", .status = "done",
                                     .config_json = "{}", .created_ms = 5, .outer_steps = 1};
    assert_int_equal(store_meta_job_insert(s, &untenanted), 0);   /* NULL tenant is stored as "" */
    const char *all_order[] = {"j5", "j4", "j2", "j3", "j1", "j0"};

    /* Every tenant, two per page. */
    int seen = 0;
    const char *after = NULL;
    int64_t after_ms = 0;
    char last[40];
    for (int page = 0; page < 4; page++) {
        job_page p = {0};
        assert_int_equal(store_meta_jobs_list(s, NULL, after_ms, after, 2, job_collect, &p), 0);
        for (int i = 0; i < p.n; i++) assert_string_equal(p.id[i], all_order[seen + i]);
        seen += p.n;
        if (p.n < 2) break;
        snprintf(last, sizeof last, "%s", p.id[p.n - 1]);
        after = last;
        after_ms = p.ms[p.n - 1];
    }
    assert_int_equal(seen, 6);

    /* Tenant a only, one per page. */
    const char *a_order[] = {"j5", "j3", "j1"};
    after = NULL;
    seen = 0;
    for (;;) {
        job_page p = {0};
        assert_int_equal(store_meta_jobs_list(s, "a", after_ms, after, 1, job_collect, &p), 0);
        if (p.n == 0) break;
        assert_int_equal(seen < 3, 1);
        assert_string_equal(p.id[0], a_order[seen]);
        assert_string_equal(p.tenant[0], "a");
        seen++;
        snprintf(last, sizeof last, "%s", p.id[0]);
        after = last;
        after_ms = p.ms[0];
    }
    assert_int_equal(seen, 3);

    /* The empty tenant is a tenant like any other; no limit lists all. */
    job_page p = {0};
    assert_int_equal(store_meta_jobs_list(s, "", 0, NULL, 10, job_collect, &p), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.id[0], "j4");
    assert_string_equal(p.id[1], "j0");
    job_page q = {0};
    assert_int_equal(store_meta_jobs_list(s, NULL, 0, NULL, -1, job_collect, &q), 0);
    assert_int_equal(q.n, 6);
    store_close(s);
    check_integrity(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_meta_jobs_list_pages_by_tenant),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
