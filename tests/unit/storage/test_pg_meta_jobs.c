/* test_pg_meta_jobs.c — the cluster's meta-training jobs (pg_meta_jobs.c)
 * where no PostgreSQL server answers: arguments are checked before any
 * connection, opening fails cleanly with ERR_CLUSTER_DB and a reason, the
 * calls on no module are no-ops, and a store without the module keeps its
 * jobs exactly as before (the cluster calls: no-ops or ERR_NOT_FOUND).  The
 * behaviour against a real server (the shared view, cancels through another
 * daemon, a lost database, the restart's reconcile) is tested by
 * tests/integration/test_cluster_meta_jobs.py, which starts one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "errors.h"
#include "pg_meta_jobs.h"
#include "store.h"

#define STORE_TEST_NAME "test_pg_meta_jobs"
#include "store_test_util.h"

static int g_calls;

static int load_unexpected(void *ctx, const char *id, int64_t after, pg_meta_jobs_sink *k)
{
    (void)ctx;
    (void)id;
    (void)after;
    (void)k;
    g_calls++;
    return ERR_INTERNAL;
}

static void cancel_unexpected(void *ctx, const char *id)
{
    (void)ctx;
    (void)id;
    g_calls++;
}

static int row_unexpected(void *ctx, const store_meta_job_row *j, const char *shard, int cancel_requested)
{
    (void)ctx;
    (void)j;
    (void)shard;
    (void)cancel_requested;
    fail_msg("no row can come without a database");
    return 1;
}

static int point_unexpected(void *ctx, int64_t step, double l, double g)
{
    (void)ctx;
    (void)step;
    (void)l;
    (void)g;
    fail_msg("no point can come without a database");
    return 1;
}

static void test_pg_meta_jobs_refuses_bad_arguments_before_connecting(void **unused)
{
    (void)unused;
    char shard[PG_META_JOBS_SHARD_MAX + 1];
    memset(shard, 'a', sizeof shard - 1);
    shard[sizeof shard - 1] = '\0';
    const char *bad[] = {"", shard, NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pg_meta_jobs *pm = (pg_meta_jobs *)1;
        char err[256] = "";
        assert_int_equal(pg_meta_jobs_open(g_dir, bad[i], load_unexpected, cancel_unexpected, NULL, &pm, err,
                                           sizeof err), ERR_INVALID_ARGUMENT);
        assert_null(pm);
        assert_non_null(strstr(err, "shard address"));
    }
    pg_meta_jobs *pm = (pg_meta_jobs *)1;
    assert_int_equal(pg_meta_jobs_open(g_dir, "h:1", NULL, cancel_unexpected, NULL, &pm, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_null(pm);
    assert_int_equal(pg_meta_jobs_open(g_dir, "h:1", load_unexpected, NULL, NULL, &pm, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(pg_meta_jobs_open(g_dir, "h:1", load_unexpected, cancel_unexpected, NULL, NULL, NULL, 0),
                     ERR_INVALID_ARGUMENT);
    /* The calls on no module refuse or do nothing. */
    store_meta_job_row j = {.id = "mj-0", .name = "n", .source = "api", .status = "queued", .config_json = "{}"};
    assert_int_equal(pg_meta_jobs_insert(NULL, &j), ERR_INVALID_ARGUMENT);
    assert_int_equal(pg_meta_jobs_page(NULL, NULL, 0, NULL, 10, row_unexpected, NULL, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(pg_meta_jobs_get(NULL, "mj-0", row_unexpected, NULL, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(pg_meta_jobs_curve(NULL, "mj-0", point_unexpected, NULL, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(pg_meta_jobs_request_cancel(NULL, "mj-0", NULL, 0), ERR_INVALID_ARGUMENT);
    pg_meta_jobs_touch(NULL, "mj-0", 1, 1);
    pg_meta_jobs_close(NULL);
    pg_meta_jobs_sink_row(NULL, &j);
    pg_meta_jobs_sink_point(NULL, 1, 0.5, 0.5);
    assert_int_equal(g_calls, 0);
}

/* Every form of the target with no server behind it: ERR_CLUSTER_DB and
 * libpq's reason; no callback runs. */
static void test_pg_meta_jobs_open_without_a_server_fails_with_a_reason(void **unused)
{
    (void)unused;
    char conninfo[400], uri[400];
    snprintf(conninfo, sizeof conninfo, "host=%s user=optirs dbname=postgres", g_dir);
    snprintf(uri, sizeof uri, "postgresql://optirs@/postgres?host=%s", g_dir);
    const char *targets[] = {g_dir, conninfo, uri, "host='unterminated"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        pg_meta_jobs *pm = (pg_meta_jobs *)1;
        char err[256] = "x";
        assert_int_equal(pg_meta_jobs_open(targets[i], "127.0.0.1:8080", load_unexpected, cancel_unexpected, NULL, &pm,
                                           err, sizeof err), ERR_CLUSTER_DB);
        assert_null(pm);
        assert_true(strlen(err) > 1);
    }
    assert_int_equal(g_calls, 0);
}

static int count_job(void *ctx, const store_meta_job_row *j)
{
    (void)j;
    (*(int *)ctx)++;
    return 0;
}

/* A store whose module could not be opened keeps its jobs in its file
 * alone, and the cluster calls answer ERR_NOT_FOUND. */
static void test_store_without_the_module(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    char err[256] = "";
    assert_int_equal(store_cluster_meta_open(s, g_dir, "h:1", cancel_unexpected, NULL, err, sizeof err), ERR_CLUSTER_DB);
    assert_true(err[0] != '\0');
    assert_false(store_cluster_meta_on(s));
    store_meta_job_row j = {.id = "mj-1", .name = "n", .source = "api", .status = "queued", .config_json = "{}"};
    assert_int_equal(store_meta_job_insert(s, &j), 0);
    assert_int_equal(store_meta_job_update(s, "mj-1", "running", 1, 0.5, NULL, NULL, 0, NULL, 0), 0);
    assert_int_equal(store_meta_curve_add(s, "mj-1", 1, 0.25, 0.125), 0);
    store_cluster_meta_touch(s, "mj-1", 1, 1);
    int n = 0;
    assert_int_equal(store_meta_jobs_list(s, NULL, 0, NULL, -1, count_job, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_cluster_meta_page(s, NULL, 0, NULL, 10, row_unexpected, NULL, err, sizeof err), ERR_NOT_FOUND);
    assert_int_equal(store_cluster_meta_get(s, "mj-1", row_unexpected, NULL, err, sizeof err), ERR_NOT_FOUND);
    assert_int_equal(store_cluster_meta_curve(s, "mj-1", point_unexpected, NULL, err, sizeof err), ERR_NOT_FOUND);
    assert_int_equal(store_cluster_meta_request_cancel(s, "mj-1", err, sizeof err), ERR_NOT_FOUND);
    store_cluster_meta_close(s);
    store_close(s);
    assert_int_equal(g_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_meta_jobs_refuses_bad_arguments_before_connecting),
        cmocka_unit_test(test_pg_meta_jobs_open_without_a_server_fails_with_a_reason),
        cmocka_unit_test(test_store_without_the_module),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
