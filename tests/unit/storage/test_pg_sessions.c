/* test_pg_sessions.c — the cluster's session index (pg_sessions.c) where no
 * PostgreSQL server answers: its arguments are checked before any
 * connection, opening fails cleanly with ERR_CLUSTER_DB and a reason, and a
 * store without an index takes the index calls as no-ops (page:
 * ERR_NOT_FOUND).  The behaviour against a real server (the list across
 * shards, the reconcile, a lost database) is tested by
 * tests/integration/test_cluster_front.py, which starts one. */
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
#include "pg_sessions.h"
#include "store.h"

#define STORE_TEST_NAME "test_pg_sessions"
#include "store_test_util.h"

static int g_local_calls;

static int local_none(void *ctx, pg_sessions_emit emit, void *ectx)
{
    (void)ctx;
    (void)emit;
    (void)ectx;
    g_local_calls++;
    return 0;
}

static void row_unexpected(void *ctx, const char *id, const char *tenant, const char *shard)
{
    (void)ctx;
    (void)id;
    (void)tenant;
    (void)shard;
    fail_msg("no row can come without a database");
}

static void test_pg_sessions_refuses_bad_arguments_before_connecting(void **unused)
{
    (void)unused;
    char shard[PG_SESSIONS_SHARD_MAX + 1];
    memset(shard, 'a', sizeof shard - 1);
    shard[sizeof shard - 1] = '\0';
    const char *bad[] = {"", shard};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pg_sessions *ps = (pg_sessions *)1;
        char err[256] = "";
        assert_int_equal(pg_sessions_open(g_dir, bad[i], local_none, NULL, &ps, err, sizeof err), ERR_INVALID_ARGUMENT);
        assert_null(ps);
        assert_non_null(strstr(err, "shard address"));
    }
    pg_sessions *ps = (pg_sessions *)1;
    assert_int_equal(pg_sessions_open(g_dir, "h:1", NULL, NULL, &ps, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_null(ps);
    assert_int_equal(pg_sessions_open(g_dir, "h:1", local_none, NULL, NULL, NULL, 0), ERR_INVALID_ARGUMENT);
    int more = 7;
    assert_int_equal(pg_sessions_page(NULL, NULL, NULL, 10, row_unexpected, NULL, &more, NULL, 0),
                     ERR_INVALID_ARGUMENT);
    assert_int_equal(g_local_calls, 0);
}

/* Every form of the target with no server behind it: ERR_CLUSTER_DB and
 * libpq's reason; the local sessions are not enumerated. */
static void test_pg_sessions_open_without_a_server_fails_with_a_reason(void **unused)
{
    (void)unused;
    char conninfo[400], uri[400];
    snprintf(conninfo, sizeof conninfo, "host=%s user=optirs dbname=postgres", g_dir);
    snprintf(uri, sizeof uri, "postgresql://optirs@/postgres?host=%s", g_dir);
    const char *targets[] = {g_dir, conninfo, uri, "host='unterminated"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        pg_sessions *ps = (pg_sessions *)1;
        char err[256] = "x";
        assert_int_equal(pg_sessions_open(targets[i], "127.0.0.1:8080", local_none, NULL, &ps, err, sizeof err),
                         ERR_CLUSTER_DB);
        assert_null(ps);
        assert_true(strlen(err) > 1);
    }
    assert_int_equal(g_local_calls, 0);
    pg_sessions_close(NULL);                 /* no-ops on no index */
    pg_sessions_put(NULL, "a", "t");
    pg_sessions_del(NULL, "a");
    pg_sessions_reconcile_soon(NULL);
}

/* A store whose index could not be opened: the index calls change nothing. */
static void test_store_without_an_index(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    char err[256] = "";
    assert_int_equal(store_cluster_sessions_open(s, g_dir, "h:1", local_none, NULL, err, sizeof err), ERR_CLUSTER_DB);
    assert_true(err[0] != '\0');
    assert_false(store_cluster_sessions_on(s));
    store_cluster_session_put(s, "a", "t");
    store_cluster_session_del(s, "a");
    int more = 0;
    assert_int_equal(store_cluster_sessions_page(s, NULL, NULL, 10, row_unexpected, NULL, &more, err, sizeof err),
                     ERR_NOT_FOUND);
    store_cluster_sessions_close(s);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_sessions_refuses_bad_arguments_before_connecting),
        cmocka_unit_test(test_pg_sessions_open_without_a_server_fails_with_a_reason),
        cmocka_unit_test(test_store_without_an_index),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
