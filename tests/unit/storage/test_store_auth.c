/* test_store_auth.c — API keys and idempotency records (store_auth.c)
 * through the store.h API, against real database files: they persist across
 * a reopen, a duplicate key id or a second idempotency record changes
 * nothing, and the "keys ever" fact survives revoking every key. */
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

#define STORE_TEST_NAME "test_store_auth"
#include "store_test_util.h"

/* ---- tests ------------------------------------------------------------------ */

/* store_auth.c through the store.h API: keys and idempotency records persist,
 * a duplicate key id or a second idempotency record changes nothing. */
typedef struct key_rows { int n; store_key k[16]; } key_rows;

static int key_collect(void *ctx, const store_key *k)
{
    key_rows *c = ctx;
    assert_true(c->n < 16);
    c->k[c->n++] = *k;
    return 0;
}

static void test_store_keys_and_idempotency_records_persist(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    store_key k = {.id = "k_a", .tenant = "acme", .admin = 1, .created_ms = 10};
    for (int i = 0; i < 32; i++) k.hash[i] = (uint8_t)(i * 7);
    assert_int_equal(store_key_insert(s, &k), 0);
    store_key k2 = {.id = "k_b", .tenant = "beta", .admin = 0, .created_ms = 20};
    assert_int_equal(store_key_insert(s, &k2), 0);
    store_key dup = k2;
    snprintf(dup.tenant, sizeof dup.tenant, "other");
    assert_int_equal(store_key_insert(s, &dup), ERR_STORAGE);       /* the id is taken */

    store_key got;
    assert_int_equal(store_key_get(s, "k_a", &got), 0);
    assert_string_equal(got.tenant, "acme");
    assert_memory_equal(got.hash, k.hash, 32);
    assert_int_equal(got.admin, 1);
    assert_int_equal(got.created_ms, 10);
    assert_int_equal(got.revoked_ms, 0);
    assert_int_equal(store_key_get(s, "k_b", &got), 0);
    assert_string_equal(got.tenant, "beta");                        /* the duplicate changed nothing */
    assert_int_equal(store_key_get(s, "k_zz", &got), ERR_NOT_FOUND);
    int64_t active = -1;
    assert_int_equal(store_keys_active(s, &active), 0);
    assert_int_equal(active, 2);
    assert_int_equal(store_key_revoke(s, "k_b", 99), 0);
    assert_int_equal(store_key_revoke(s, "k_b", 100), ERR_NOT_FOUND);   /* already revoked: kept at 99 */
    assert_int_equal(store_key_revoke(s, "k_zz", 100), ERR_NOT_FOUND);
    assert_int_equal(store_keys_active(s, &active), 0);
    assert_int_equal(active, 1);

    uint8_t h1[32], h2[32], hout[32];
    memset(h1, 0x11, 32);
    memset(h2, 0x22, 32);
    const char body[] = "{\"a\":1}\0tail";                   /* binary-safe, embedded NUL */
    assert_int_equal(store_idem_put(s, "acme", "idem-1", "sessions_create", h1, 201, body, sizeof body), 0);
    assert_int_equal(store_idem_put(s, "acme", "idem-1", "sessions_create", h2, 500, "x", 1), 0); /* kept first */
    assert_int_equal(store_idem_put(s, "acme", "idem-2", "sessions_create", h2, 400, NULL, 0), 0);
    store_close(s);

    /* everything survives a reopen */
    assert_int_equal(store_open(path, &s), 0);
    key_rows keys = {0};
    assert_int_equal(store_keys_list(s, key_collect, &keys), 0);
    assert_int_equal(keys.n, 2);
    assert_string_equal(keys.k[0].id, "k_a");               /* ordered by created_ms */
    assert_int_equal(keys.k[0].revoked_ms, 0);
    assert_memory_equal(keys.k[0].hash, k.hash, 32);
    assert_string_equal(keys.k[1].id, "k_b");
    assert_int_equal(keys.k[1].revoked_ms, 99);
    int status = 0;
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(store_idem_get(s, "acme", "idem-1", "sessions_create", hout, &status, &out, &out_len), 0);
    assert_int_equal(status, 201);
    assert_memory_equal(hout, h1, 32);
    assert_int_equal(out_len, sizeof body);
    assert_memory_equal(out, body, sizeof body);
    free(out);
    out = NULL;
    assert_int_equal(store_idem_get(s, "acme", "idem-2", "sessions_create", hout, &status, &out, &out_len), 0);
    assert_int_equal(status, 400);
    assert_int_equal(out_len, 0);
    assert_string_equal(out, "");
    free(out);
    out = NULL;
    /* the record is scoped by tenant and route */
    assert_int_equal(store_idem_get(s, "beta", "idem-1", "sessions_create", hout, &status, &out, &out_len),
                     ERR_NOT_FOUND);
    assert_int_equal(store_idem_get(s, "acme", "idem-1", "step", hout, &status, &out, &out_len), ERR_NOT_FOUND);
    assert_null(out);
    store_close(s);
    check_integrity(path);
}

/* Issue 13, finding 2: "a key has existed" is durable and survives revoking
 * (or even deleting) every key row, and a key row alone counts as well. */
static void test_store_keys_ever_survives_revoking_every_key(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    int ever = -1;
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 0);
    store_key k = {.id = "k_only", .tenant = "ops", .admin = 1, .created_ms = 1};
    assert_int_equal(store_key_insert(s, &k), 0);
    assert_int_equal(store_key_revoke(s, "k_only", 2), 0);
    int64_t active = -1;
    assert_int_equal(store_keys_active(s, &active), 0);
    assert_int_equal(active, 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    store_close(s);
    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    /* Either sign is enough: the fact without key rows… */
    assert_int_equal(store_test_exec(s, "DELETE FROM api_keys"), 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    /* …and a key row without the fact (a database keyed before schema 7). */
    assert_int_equal(store_key_insert(s, &k), 0);
    assert_int_equal(store_test_exec(s, "DELETE FROM daemon_facts"), 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    store_close(s);
    check_integrity(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_keys_and_idempotency_records_persist),
        cmocka_unit_test(test_store_keys_ever_survives_revoking_every_key),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
