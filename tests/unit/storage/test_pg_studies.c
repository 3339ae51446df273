/* test_pg_studies.c — the cluster database's studies (pg_studies.c) where no
 * PostgreSQL server answers: opening fails cleanly with ERR_CLUSTER_DB and a
 * reason, a store whose cluster studies could not be opened keeps using its
 * own file (store_study_store), and the sampler numbers' byte codec (8
 * little-endian bytes per double, exact both ways, hostile lengths refused).
 * Against a real server (three daemons, concurrency, a lost database):
 * tests/integration/test_cluster_studies.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "errors.h"
#include "hpo.h"
#include "pg_studies.h"
#include "store.h"
#include "study_store.h"

#define STORE_TEST_NAME "test_pg_studies"
#include "store_test_util.h"

static void test_open_without_a_server_fails_with_a_reason(void **unused)
{
    (void)unused;
    char conninfo[400];
    snprintf(conninfo, sizeof conninfo, "host=%s user=optirs dbname=postgres", g_dir);
    const char *targets[] = {g_dir, conninfo, "host='unterminated"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        pg_studies *ps = (pg_studies *)1;
        char err[256] = "x";
        assert_int_equal(pg_studies_open(targets[i], &ps, err, sizeof err), ERR_CLUSTER_DB);
        assert_null(ps);
        assert_true(strlen(err) > 1);
    }
    pg_studies_close(NULL);   /* a no-op */
}

static int count_study(void *ctx, const store_study_row *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

/* A failed store_cluster_studies_open leaves the studies in the store's file. */
static void test_store_without_its_cluster_keeps_its_own_studies(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s = NULL;
    assert_int_equal(store_open(path, &s), 0);
    char err[256] = "";
    assert_int_equal(store_cluster_studies_open(s, g_dir, err, sizeof err), ERR_CLUSTER_DB);
    study_store ss = store_study_store(s);
    study_store sq = store_studies_store(s);
    assert_ptr_equal(ss.ops, sq.ops);
    assert_ptr_equal(ss.ctx, s);
    store_study_row row = {.id = "st-1", .tenant = "", .name = "n", .spec_json = "{}", .created_ms = 5};
    assert_int_equal(ss.ops->study_insert(ss.ctx, &row), 0);
    int n = 0;
    assert_int_equal(store_studies_list(s, NULL, 10, count_study, &n), 0);
    assert_int_equal(n, 1);
    store_close(s);
}

static void test_x_codec_is_exact_and_little_endian(void **unused)
{
    (void)unused;
    double x[4] = {1.0, -0.0, 1e-300, NAN}, y[HPO_MAX_PARAMS];
    unsigned char b[32];
    pg_studies_x_encode(x, 4, b);
    /* 1.0 is 0x3ff0000000000000: its low byte first */
    static const unsigned char one[8] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    assert_memory_equal(b, one, 8);
    int n = -1;
    assert_int_equal(pg_studies_x_decode(b, sizeof b, y, HPO_MAX_PARAMS, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(x, y, sizeof x);   /* bit for bit, the NaN and the -0 too */
    assert_int_equal(pg_studies_x_decode(b, 0, y, HPO_MAX_PARAMS, &n), 0);
    assert_int_equal(n, 0);
    /* a length that is not 8k, or more numbers than the caller holds */
    assert_int_equal(pg_studies_x_decode(b, 7, y, HPO_MAX_PARAMS, &n), -1);
    assert_int_equal(pg_studies_x_decode(b, 32, y, 3, &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_without_a_server_fails_with_a_reason),
        cmocka_unit_test(test_store_without_its_cluster_keeps_its_own_studies),
        cmocka_unit_test(test_x_codec_is_exact_and_little_endian),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
