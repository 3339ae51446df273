/* test_store_weights.c — store_weights.c through the store.h API: weights
 * records keep their domain (a record without one is "synthetic"), the newest
 * version of a name is the one a version-0 get returns, and the list is in
 * (name, version) order; meta-training job rows list in pages newest first,
 * by tenant and across equal timestamps. */
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

typedef struct wrows { int n; char ref[8][64]; char domain[8][16]; } wrows;

static int w_collect(void *ctx, const store_weights_row *w)
{
    wrows *r = ctx;
    assert_true(r->n < 8);
    snprintf(r->ref[r->n], sizeof r->ref[0], "%s@%lld", w->name, (long long)w->version);
    snprintf(r->domain[r->n++], sizeof r->domain[0], "%s", w->domain);
    return 0;
}

/* Issue 15: the domain column is what domain defaults are chosen by. */
static void test_store_weights_keep_their_domain(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    static const char blob[] = "opaque to the store";
    store_weights_row w = {.name = "mlp_lopt.vision", .arch = "mlp_lopt", .hidden = 8, .depth = 1, .ntheta = 3,
                           .domain = "vision", .blob = blob, .blob_len = sizeof blob};
    int64_t v = 0;
    assert_int_equal(store_weights_put(s, &w, 0, &v), 0);
    assert_int_equal(v, 1);
    w.domain = "text";   /* a later version may say otherwise: the store keeps what it is told */
    assert_int_equal(store_weights_put(s, &w, 0, &v), 0);
    assert_int_equal(v, 2);
    w.name = "general";
    w.domain = NULL;
    assert_int_equal(store_weights_put(s, &w, 0, &v), 0);
    wrows r = {0};
    assert_int_equal(store_weights_get(s, "mlp_lopt.vision", 0, 0, w_collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ref[0], "mlp_lopt.vision@2");
    assert_string_equal(r.domain[0], "text");
    memset(&r, 0, sizeof r);
    assert_int_equal(store_weights_get(s, "mlp_lopt.vision", 1, 0, w_collect, &r), 0);
    assert_string_equal(r.domain[0], "vision");
    memset(&r, 0, sizeof r);
    assert_int_equal(store_weights_list(s, 0, w_collect, &r), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ref[0], "general@1");
    assert_string_equal(r.domain[0], "synthetic");
    assert_string_equal(r.ref[1], "mlp_lopt.vision@1");
    assert_string_equal(r.ref[2], "mlp_lopt.vision@2");
    assert_int_equal(store_weights_get(s, "absent", 0, 0, w_collect, &r), ERR_NOT_FOUND);
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM weights WHERE domain = 'vision'"), 1);
    check_integrity(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_meta_jobs_list_pages_by_tenant),
        cmocka_unit_test(test_store_weights_keep_their_domain),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
