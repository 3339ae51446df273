/* test_meta_jobs.c — the daemon's meta-training job queue (meta_jobs.c) on a
 * real libuv loop driven by the test and a real SQLite store, with real
 * (tiny) meta-training runs: jobs left queued or running by the last
 * process become "interrupted" at start; submit is refused before start and
 * after stop; the queue bounds (--max-queued-jobs, --tenant-max-queued-jobs)
 * count waiting jobs only; cancelling a queued job removes it and commits
 * "cancelled", cancelling the running one asks it to stop ("cancelling",
 * then "cancelled" in the store); a job runs to "done" and its weights
 * record exists; stop interrupts the running job and every queued one.
 *
 * The queue is process-wide (one per daemon), so the tests run in the order
 * listed.  The loop runs only where a test calls run_until(): until then a
 * submitted job stays queued, which is what the bound tests need.  No
 * assertion depends on timing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define STORE_TEST_NAME "optirs_test_meta_jobs"
#include "storage/store_test_util.h"

#include "app.h"
#include "config.h"
#include "errors.h"
#include "meta_jobs.h"

static app       g_app;
static uv_loop_t g_loop;
static char      g_path[300];

static int setup(void **state)
{
    if (group_setup(state)) return -1;
    if (config_load(&g_app.cfg, 0, NULL) != 0) return -1;
    g_app.cfg.max_queued_jobs = 3;
    g_app.cfg.tenant_max_queued_jobs = 2;
    db_path(g_path, sizeof g_path);
    if (store_open(g_path, &g_app.db) != 0) return -1;
    return uv_loop_init(&g_loop);
}

static int teardown(void **state)
{
    uv_run(&g_loop, UV_RUN_DEFAULT);    /* the closed async handle */
    uv_loop_close(&g_loop);
    store_close(g_app.db);
    return group_teardown(state);
}

/* A checked spec of a tiny job ("quadratic dim=5") of `steps` outer steps. */
static meta_spec spec(const char *name, int64_t steps)
{
    char json[256], msg[300];
    snprintf(json, sizeof json,
             "{\"name\": \"%s\", \"tasks\": [\"quadratic dim=5\"], \"particles\": 4, \"unroll\": 5, "
             "\"outer_steps\": %lld}", name, (long long)steps);
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    meta_spec sp;
    meta_spec_defaults(&sp);
    if (meta_spec_from_json(&sp, j, msg, sizeof msg) != 0) fail_msg("spec: %s", msg);
    cJSON_Delete(j);
    if (meta_spec_check(&sp, msg, sizeof msg) != 0) fail_msg("check: %s", msg);
    sp.threads = 1;
    return sp;
}

typedef struct job_view {
    char    status[16], tenant[64], weights[64];
    int64_t step;
} job_view;

static int view_cb(void *ctx, const store_meta_job_row *j)
{
    job_view *v = ctx;
    snprintf(v->status, sizeof v->status, "%s", j->status);
    snprintf(v->tenant, sizeof v->tenant, "%s", j->tenant ? j->tenant : "");
    snprintf(v->weights, sizeof v->weights, "%s", j->weights_name ? j->weights_name : "");
    v->step = j->step;
    return 1;
}

static job_view job(const char *id)
{
    job_view v;
    memset(&v, 0, sizeof v);
    assert_int_equal(store_meta_job_get(g_app.db, id, 0, view_cb, &v), 0);
    return v;
}

static int final(const char *status)
{
    return strcmp(status, "done") == 0 || strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0 ||
           strcmp(status, "interrupted") == 0;
}

/* Runs the loop (as serve.c's loop thread does) until job `id` has the
 * status `want` (NULL: any final one).  Polls without a time limit. */
static job_view run_until(const char *id, const char *want)
{
    for (;;) {
        job_view v = job(id);
        if (want ? strcmp(v.status, want) == 0 : final(v.status)) return v;
        uv_run(&g_loop, UV_RUN_NOWAIT);
        sleep_ms(1);
    }
}
static job_view run_until_final(const char *id) { return run_until(id, NULL); }

static int weights_cb(void *ctx, const store_weights_row *w)
{
    *(int64_t *)ctx = w->ntheta;
    return 1;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_start_interrupts_what_the_last_process_left(void **st)
{
    (void)st;
    char id[40];
    meta_spec sp = spec("w0", 2);
    assert_int_equal(meta_jobs_submit(&sp, "", id), ERR_SHUTTING_DOWN);     /* not started */

    store_meta_job_row q = {.id = "mj-old-queued", .name = "w0", .source = "api", .tenant = "",
                            .status = "queued", .config_json = "{}", .outer_steps = 2};
    store_meta_job_row r = q;
    r.id = "mj-old-running";
    r.status = "running";
    store_meta_job_row d = q;
    d.id = "mj-old-done";
    d.status = "done";
    assert_int_equal(store_meta_job_insert(g_app.db, &q), 0);
    assert_int_equal(store_meta_job_insert(g_app.db, &r), 0);
    assert_int_equal(store_meta_job_insert(g_app.db, &d), 0);
    assert_int_equal(store_flush(g_app.db), 0);

    assert_int_equal(meta_jobs_start(&g_app, &g_loop), 0);
    assert_string_equal(job("mj-old-queued").status, "interrupted");
    assert_string_equal(job("mj-old-running").status, "interrupted");
    assert_string_equal(job("mj-old-done").status, "done");
}

static char g_a1[40], g_a2[40], g_b1[40];

static void test_queue_bounds_total_and_per_tenant(void **st)
{
    (void)st;
    meta_spec sp = spec("w1", 2);
    char id[40] = "";
    assert_int_equal(meta_jobs_submit(&sp, "a", g_a1), 0);
    assert_int_equal(meta_jobs_submit(&sp, "a", g_a2), 0);
    assert_int_equal(meta_jobs_submit(&sp, "a", id), ERR_QUEUE_FULL);      /* tenant a: 2 waiting */
    assert_string_equal(id, "");
    assert_int_equal(meta_jobs_submit(&sp, "b", g_b1), 0);
    assert_int_equal(meta_jobs_submit(&sp, "c", id), ERR_QUEUE_FULL);      /* 3 waiting in all */
    char too_long[80];
    memset(too_long, 't', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(meta_jobs_submit(&sp, too_long, id), ERR_INVALID_ARGUMENT);

    assert_memory_equal(g_a1, "mj-", 3);
    assert_int_equal(strlen(g_a1), 3 + 16);
    assert_true(strcmp(g_a1, g_a2) != 0);
    job_view v = job(g_a1);
    assert_string_equal(v.status, "queued");
    assert_string_equal(v.tenant, "a");
    assert_string_equal(job(g_b1).tenant, "b");
}

static void test_cancel_a_queued_job(void **st)
{
    (void)st;
    char state[32] = "";
    assert_int_equal(meta_jobs_cancel(g_a2, state, sizeof state), 0);
    assert_string_equal(state, "cancelled");
    assert_string_equal(job(g_a2).status, "cancelled");
    assert_int_equal(meta_jobs_cancelling(g_a2), 0);
    /* it left the queue: tenant a may queue one more */
    meta_spec sp = spec("w1", 2);
    char id[40];
    assert_int_equal(meta_jobs_submit(&sp, "a", id), 0);
    assert_int_equal(meta_jobs_cancel(id, state, sizeof state), 0);
    /* an ended job answers its status; an unknown one is not found */
    assert_int_equal(meta_jobs_cancel(g_a2, state, sizeof state), 0);
    assert_string_equal(state, "cancelled");
    assert_int_equal(meta_jobs_cancel("mj-old-done", state, sizeof state), 0);
    assert_string_equal(state, "done");
    assert_int_equal(meta_jobs_cancel("mj-nope", state, sizeof state), ERR_NOT_FOUND);
}

static void test_jobs_run_in_order_to_done(void **st)
{
    (void)st;
    /* g_a1 then g_b1 (FIFO), one at a time, on the loop's threadpool */
    job_view a = run_until_final(g_a1);
    assert_string_equal(a.status, "done");
    assert_int_equal(a.step, 2);
    assert_string_equal(a.weights, "w1");
    job_view b = run_until_final(g_b1);
    assert_string_equal(b.status, "done");
    assert_int_equal(b.step, 2);
    /* two versions of the record "w1", with their theta */
    int64_t ntheta = 0;
    assert_int_equal(store_weights_get(g_app.db, "w1", 2, 0, weights_cb, &ntheta), 0);
    assert_true(ntheta > 0);
    assert_int_equal(store_weights_get(g_app.db, "w1", 3, 0, weights_cb, &ntheta), ERR_NOT_FOUND);
}

static void test_cancel_the_running_job(void **st)
{
    (void)st;
    meta_spec sp = spec("w2", META_MAX_OUTER_STEPS);      /* would take hours */
    char id[40], state[32];
    assert_int_equal(meta_jobs_submit(&sp, "a", id), 0);
    run_until(id, "running");
    assert_int_equal(meta_jobs_cancelling(id), 0);
    assert_int_equal(meta_jobs_cancel(id, state, sizeof state), 0);
    assert_string_equal(state, "cancelling");
    assert_int_equal(meta_jobs_cancelling(id), 1);
    job_view v = run_until_final(id);
    assert_string_equal(v.status, "cancelled");
    assert_true(v.step < META_MAX_OUTER_STEPS);
    /* the loop's after_cb frees the running slot */
    while (meta_jobs_cancelling(id)) {
        uv_run(&g_loop, UV_RUN_NOWAIT);
        sleep_ms(1);
    }
}

static void test_stop_interrupts_running_and_queued(void **st)
{
    (void)st;
    meta_spec big = spec("w3", META_MAX_OUTER_STEPS);
    char run_id[40], q1[40], q2[40];
    assert_int_equal(meta_jobs_submit(&big, "a", run_id), 0);
    run_until(run_id, "running");
    assert_int_equal(meta_jobs_submit(&big, "b", q1), 0);
    assert_int_equal(meta_jobs_submit(&big, "c", q2), 0);
    meta_jobs_stop();                                   /* waits for the running job to stop */
    assert_string_equal(job(run_id).status, "interrupted");
    assert_string_equal(job(q1).status, "interrupted");
    assert_string_equal(job(q2).status, "interrupted");
    char id[40];
    assert_int_equal(meta_jobs_submit(&big, "a", id), ERR_SHUTTING_DOWN);
    meta_jobs_stop();                                   /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_interrupts_what_the_last_process_left),
        cmocka_unit_test(test_queue_bounds_total_and_per_tenant),
        cmocka_unit_test(test_cancel_a_queued_job),
        cmocka_unit_test(test_jobs_run_in_order_to_done),
        cmocka_unit_test(test_cancel_the_running_job),
        cmocka_unit_test(test_stop_interrupts_running_and_queued),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
