/* test_pg_weights.c — the cluster database's weights records (pg_weights.c)
 * where no PostgreSQL server answers: opening fails cleanly with
 * ERR_CLUSTER_DB and a reason, and a store whose cluster could not be
 * opened keeps its weights records in its own file (versions allocated
 * there, nothing handed to a callback).  The behaviour against a real server
 * (sharing, concurrent imports of one name, a lost database) is tested by
 * tests/integration/test_cluster_weights.py, which starts one. */
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
#include "pg_weights.h"
#include "store.h"

#define STORE_TEST_NAME "test_pg_weights"
#include "store_test_util.h"

static void test_pg_weights_open_without_a_server_fails_with_a_reason(void **unused)
{
    (void)unused;
    char conninfo[400];
    snprintf(conninfo, sizeof conninfo, "host=%s user=optirs dbname=postgres", g_dir);
    const char *targets[] = {g_dir, conninfo, "host='unterminated"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        pg_weights *pw = (pg_weights *)1;
        char err[256] = "x";
        assert_int_equal(pg_weights_open(targets[i], &pw, err, sizeof err), ERR_CLUSTER_DB);
        assert_null(pw);
        assert_true(strlen(err) > 1);
    }
    pg_weights_close(NULL);   /* a no-op */
}

static int handed(void *ctx, const store_weights_row *w)
{
    (void)w;
    (*(int *)ctx)++;
    return 0;
}

static int count_rows(void *ctx, const store_weights_row *w)
{
    (void)w;
    (*(int *)ctx)++;
    return 0;
}

/* A failed store_cluster_open leaves the weights in the store's own file. */
static void test_store_without_its_cluster_keeps_its_own_weights(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    char err[256] = "";
    assert_int_equal(store_cluster_open(s, g_dir, 60, err, sizeof err), ERR_CLUSTER_DB);
    int n = 0;
    assert_int_equal(store_cluster_on_weights(s, handed, &n), 0);   /* no cluster: nothing */
    static const unsigned char blob[4] = {1, 2, 3, 4};
    store_weights_row w = {.name = "w", .arch = "mlp_lopt", .hidden = 4, .depth = 1, .ntheta = 1,
                           .blob = blob, .blob_len = sizeof blob};
    int64_t v = 0;
    assert_int_equal(store_weights_put(s, &w, 0, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(store_weights_put(s, &w, 0, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(store_weights_put(s, &w, 1, &v), 0);   /* only_if_new: the name exists */
    assert_int_equal(v, 0);
    int rows = 0;
    assert_int_equal(store_weights_list(s, 1, count_rows, &rows), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(n, 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_weights_open_without_a_server_fails_with_a_reason),
        cmocka_unit_test(test_store_without_its_cluster_keeps_its_own_weights),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
