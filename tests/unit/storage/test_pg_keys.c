/* test_pg_keys.c — the cluster database's keys (pg_keys.c, pg_conn.c) where
 * no PostgreSQL server answers: opening fails cleanly with ERR_CLUSTER_DB
 * and a reason, for each form of --cluster-db, and a store whose cluster
 * could not be opened keeps its own keys.  The behaviour against a real
 * server (sharing, revocation, a lost database) is tested by
 * tests/integration/test_cluster_keys.py, which starts one. */
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
#include "pg_conn.h"
#include "pg_keys.h"
#include "store.h"

#define STORE_TEST_NAME "test_pg_keys"
#include "store_test_util.h"

/* Every form of the target: a socket directory with no server in it, its
 * conninfo, its URI, and a malformed conninfo. */
static void test_pg_keys_open_without_a_server_fails_with_a_reason(void **unused)
{
    (void)unused;
    char conninfo[400], uri[400];
    snprintf(conninfo, sizeof conninfo, "host=%s user=optirs dbname=postgres", g_dir);
    snprintf(uri, sizeof uri, "postgresql://optirs@/postgres?host=%s", g_dir);
    const char *targets[] = {g_dir, conninfo, uri, "host='unterminated"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        pg_keys *pk = (pg_keys *)1;
        char err[256] = "x";
        assert_int_equal(pg_keys_open(targets[i], 60, &pk, err, sizeof err), ERR_CLUSTER_DB);
        assert_null(pk);
        assert_true(strlen(err) > 1);   /* libpq's reason, not the placeholder */
        assert_null(pg_conn_open(targets[i], NULL, 0));
    }
    pg_keys_close(NULL);   /* a no-op */
}

/* A failed store_cluster_open leaves the store on its own SQLite keys. */
static void test_store_without_its_cluster_keeps_its_own_keys(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    char err[256] = "";
    assert_int_equal(store_cluster_open(s, g_dir, 60, err, sizeof err), ERR_CLUSTER_DB);
    assert_true(err[0] != '\0');
    store_cluster_on_change(s, NULL, NULL);   /* no cluster: nothing to register */
    double age = -1;
    assert_int_equal(store_cluster_keys_age(s, &age), ERR_NOT_FOUND);
    assert_true(age == -1);
    store_key k = {.id = "0123456789abcdef", .tenant = "t", .admin = 1, .created_ms = 5};
    memset(k.hash, 7, sizeof k.hash);
    assert_int_equal(store_key_insert(s, &k), 0);
    store_key got;
    assert_int_equal(store_key_get(s, "0123456789abcdef", &got), 0);
    assert_string_equal(got.tenant, "t");
    assert_memory_equal(got.hash, k.hash, 32);
    int ever = 0;
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    assert_int_equal(store_key_revoke(s, "0123456789abcdef", 9), 0);
    assert_int_equal(store_key_revoke(s, "0123456789abcdef", 9), ERR_NOT_FOUND);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_keys_open_without_a_server_fails_with_a_reason),
        cmocka_unit_test(test_store_without_its_cluster_keeps_its_own_keys),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
