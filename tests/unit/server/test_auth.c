/* test_auth.c — auth.c on a real SQLite store (a fresh database in a
 * mkdtemp() directory), no socket: the open-mode decision (no key ever and a
 * loopback listener or --allow-open; closed for good once a key existed,
 * revoking the last one included), key checks (the Bearer form, the id and
 * secret's hex, the secret's hash, a revoked key), the per-key rate limit
 * charged only after the secret matched, and the pure helpers (tenant names,
 * loopback addresses, SHA-256 against FIPS 180-2's vector).
 *
 * auth.c keeps process-wide state (its key cache, the sticky "a key has
 * existed" flag, the rate-limit buckets), so the tests run in the order
 * listed: the open-mode ones before the first key is created. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define STORE_TEST_NAME "optirs_test_auth"
#include "storage/store_test_util.h"

#include "app.h"
#include "auth.h"
#include "config.h"
#include "errors.h"
#include "http.h"

static app  g_app;
static char g_path[300];

static int setup(void **state)
{
    (void)state;
    if (group_setup(state)) return -1;
    if (config_load(&g_app.cfg, 0, NULL) != 0) return -1;
    snprintf(g_app.cfg.listen, sizeof g_app.cfg.listen, "127.0.0.1:0");
    g_app.cfg.allow_open = 0;
    g_app.cfg.rate_limit = 0;
    db_path(g_path, sizeof g_path);
    return store_open(g_path, &g_app.db);
}

static int teardown(void **state)
{
    store_close(g_app.db);
    return group_teardown(state);
}

static int request(const char *key, principal *who, int *retry)
{
    char hdr[128];
    if (key) snprintf(hdr, sizeof hdr, "Bearer %s", key);
    *retry = 0;
    return auth_request(&g_app, key ? hdr : NULL, who, retry);
}

/* ---- open mode: no key ever ---------------------------------------------------- */

static void test_open_mode_needs_loopback_or_allow_open(void **st)
{
    (void)st;
    principal who;
    int retry;
    assert_int_equal(auth_keys_ever(&g_app), 0);
    assert_int_equal(auth_open(&g_app), 1);
    assert_int_equal(request(NULL, &who, &retry), 0);
    assert_int_equal(who.admin, 1);
    assert_string_equal(who.tenant, "");
    assert_string_equal(who.key_id, "");

    /* the listener is part of every derivation */
    snprintf(g_app.cfg.listen, sizeof g_app.cfg.listen, "0.0.0.0:8080");
    assert_int_equal(auth_open(&g_app), 0);
    assert_int_equal(request(NULL, &who, &retry), ERR_UNAUTHORIZED);
    assert_int_equal(who.admin, 0);
    g_app.cfg.allow_open = 1;
    assert_int_equal(auth_open(&g_app), 1);
    assert_int_equal(request(NULL, &who, &retry), 0);
    g_app.cfg.allow_open = 0;
    snprintf(g_app.cfg.listen, sizeof g_app.cfg.listen, "127.0.0.1:0");
}

/* ---- keys -------------------------------------------------------------------------- */

static char g_admin_key[AUTH_KEY_LEN + 1], g_user_key[AUTH_KEY_LEN + 1];

static void test_first_key_closes_the_daemon(void **st)
{
    (void)st;
    store_key rec;
    assert_int_equal(auth_key_create(g_app.db, "bad tenant", 0, g_user_key, &rec), ERR_INVALID_ARGUMENT);
    assert_int_equal(auth_open(&g_app), 1);     /* a refused key is no key */

    assert_int_equal(auth_key_create(g_app.db, "ops", 1, g_admin_key, &rec), 0);
    assert_int_equal(strlen(g_admin_key), AUTH_KEY_LEN);
    assert_memory_equal(g_admin_key, "ok_", 3);
    assert_int_equal(g_admin_key[19], '_');
    assert_memory_equal(rec.id, g_admin_key + 3, 16);
    uint8_t h[32];
    auth_sha256(g_admin_key, AUTH_KEY_LEN, h);
    assert_memory_equal(rec.hash, h, 32);       /* only the hash is stored */

    /* auth_key_create invalidates the cache: closed at once, even on loopback */
    assert_int_equal(auth_keys_ever(&g_app), 1);
    assert_int_equal(auth_open(&g_app), 0);
    principal who;
    int retry;
    assert_int_equal(request(NULL, &who, &retry), ERR_UNAUTHORIZED);
    g_app.cfg.allow_open = 1;
    assert_int_equal(auth_open(&g_app), 0);     /* --allow-open does not reopen it */
    g_app.cfg.allow_open = 0;

    assert_int_equal(request(g_admin_key, &who, &retry), 0);
    assert_int_equal(who.admin, 1);
    assert_string_equal(who.tenant, "ops");
    assert_string_equal(who.key_id, rec.id);

    assert_int_equal(auth_key_create(g_app.db, "team-a.b_c", 0, g_user_key, &rec), 0);
    assert_int_equal(request(g_user_key, &who, &retry), 0);
    assert_int_equal(who.admin, 0);
    assert_string_equal(who.tenant, "team-a.b_c");
    assert_true(strcmp(g_user_key, g_admin_key) != 0);
}

static void test_malformed_and_wrong_keys_are_refused(void **st)
{
    (void)st;
    principal who;
    int retry;
    char k[AUTH_KEY_LEN + 8];
    char hdr[160];

    /* not "Bearer <key>" */
    snprintf(hdr, sizeof hdr, "Basic %s", g_user_key);
    assert_int_equal(auth_request(&g_app, hdr, &who, &retry), ERR_UNAUTHORIZED);
    snprintf(hdr, sizeof hdr, "bearer %s", g_user_key);
    assert_int_equal(auth_request(&g_app, hdr, &who, &retry), ERR_UNAUTHORIZED);
    assert_int_equal(auth_request(&g_app, "", &who, &retry), ERR_UNAUTHORIZED);

    /* wrong length, prefix, separator, hex case */
    snprintf(k, sizeof k, "%.*s", AUTH_KEY_LEN - 1, g_user_key);
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);
    snprintf(k, sizeof k, "%sa", g_user_key);
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);
    snprintf(k, sizeof k, "%s", g_user_key);
    k[0] = 'O';
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);
    snprintf(k, sizeof k, "%s", g_user_key);
    k[19] = '-';
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);
    snprintf(k, sizeof k, "%s", g_user_key);
    for (char *p = k + 3; *p; p++)
        if (*p >= 'a' && *p <= 'f') { *p = (char)(*p - 'a' + 'A'); break; }
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);

    /* the right id with another secret; an unknown id with the right secret */
    snprintf(k, sizeof k, "%s", g_user_key);
    k[AUTH_KEY_LEN - 1] = k[AUTH_KEY_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);
    snprintf(k, sizeof k, "%s", g_user_key);
    k[3] = k[3] == '0' ? '1' : '0';
    assert_int_equal(request(k, &who, &retry), ERR_UNAUTHORIZED);
    assert_string_equal(who.tenant, "");        /* nothing leaks into *who */

    /* the real key still works after all that */
    assert_int_equal(request(g_user_key, &who, &retry), 0);
}

static void test_revoked_key_is_refused_and_the_daemon_stays_closed(void **st)
{
    (void)st;
    principal who;
    int retry;
    char id[17];
    memcpy(id, g_user_key + 3, 16);
    id[16] = '\0';
    assert_int_equal(request(g_user_key, &who, &retry), 0);      /* cached now */
    assert_int_equal(store_key_revoke(g_app.db, id, http_now_ms()), 0);
    auth_invalidate();                                          /* what h_keys does after revoking */
    assert_int_equal(request(g_user_key, &who, &retry), ERR_UNAUTHORIZED);

    /* revoke the last active key too: no key is active, the daemon stays closed */
    char aid[17];
    memcpy(aid, g_admin_key + 3, 16);
    aid[16] = '\0';
    assert_int_equal(store_key_revoke(g_app.db, aid, http_now_ms()), 0);
    auth_invalidate();
    int64_t active = -1;
    assert_int_equal(store_keys_active(g_app.db, &active), 0);
    assert_int_equal(active, 0);
    assert_int_equal(auth_open(&g_app), 0);
    assert_int_equal(request(NULL, &who, &retry), ERR_UNAUTHORIZED);
    assert_int_equal(request(g_admin_key, &who, &retry), ERR_UNAUTHORIZED);
}

static void test_rate_limit_charges_verified_keys_only(void **st)
{
    (void)st;
    char key[AUTH_KEY_LEN + 1], other[AUTH_KEY_LEN + 1];
    store_key rec;
    assert_int_equal(auth_key_create(g_app.db, "rl", 0, key, &rec), 0);
    assert_int_equal(auth_key_create(g_app.db, "rl", 0, other, &rec), 0);
    g_app.cfg.rate_limit = 1e-6;        /* one token per ~11 days: no refill during the test */
    g_app.cfg.rate_burst = 2;
    principal who;
    int retry;

    /* bad secrets for the key's id never touch its bucket */
    char bad[AUTH_KEY_LEN + 1];
    snprintf(bad, sizeof bad, "%s", key);
    bad[AUTH_KEY_LEN - 1] = bad[AUTH_KEY_LEN - 1] == '0' ? '1' : '0';
    for (int i = 0; i < 5; i++) assert_int_equal(request(bad, &who, &retry), ERR_UNAUTHORIZED);

    assert_int_equal(request(key, &who, &retry), 0);
    assert_int_equal(request(key, &who, &retry), 0);
    assert_int_equal(request(key, &who, &retry), ERR_RATE_LIMITED);
    assert_true(retry >= 1);
    /* one bucket per key: another key of the same tenant is not limited */
    assert_int_equal(request(other, &who, &retry), 0);
    assert_string_equal(who.tenant, "rl");
    /* no limit configured: no charge */
    g_app.cfg.rate_limit = 0;
    assert_int_equal(request(key, &who, &retry), 0);
}

/* ---- helpers ------------------------------------------------------------------------ */

static void test_tenant_names(void **st)
{
    (void)st;
    assert_true(auth_tenant_valid("a"));
    assert_true(auth_tenant_valid("Team_1.prod-eu"));
    char longest[AUTH_TENANT_MAX];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_true(auth_tenant_valid(longest));
    char too_long[AUTH_TENANT_MAX + 1];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_false(auth_tenant_valid(too_long));
    assert_false(auth_tenant_valid(""));
    assert_false(auth_tenant_valid("a b"));
    assert_false(auth_tenant_valid("a/b"));
    assert_false(auth_tenant_valid("caf\xc3\xa9"));
    assert_false(auth_tenant_valid("x\"y"));
}

static void test_loopback_addresses(void **st)
{
    (void)st;
    assert_true(auth_loopback("127.0.0.1:8080"));
    assert_true(auth_loopback("127.1.2.3:1"));
    assert_true(auth_loopback("localhost:8080"));
    assert_true(auth_loopback("unix:/run/optirs/optirs.sock"));
    assert_false(auth_loopback("unixfoo:8080"));
    assert_false(auth_loopback("0.0.0.0:8080"));
    assert_false(auth_loopback("10.0.0.1:8080"));
    assert_false(auth_loopback("localhost.example.com:80"));
    assert_false(auth_loopback("128.0.0.1:80"));
    assert_false(auth_loopback("[::1]:8080"));     /* IPv6 loopback is not recognised: closed, the safe side */
}

static void test_sha256_known_vector(void **st)
{
    (void)st;
    static const uint8_t abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t out[32];
    auth_sha256("abc", 3, out);
    assert_memory_equal(out, abc, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_mode_needs_loopback_or_allow_open),
        cmocka_unit_test(test_first_key_closes_the_daemon),
        cmocka_unit_test(test_malformed_and_wrong_keys_are_refused),
        cmocka_unit_test(test_revoked_key_is_refused_and_the_daemon_stays_closed),
        cmocka_unit_test(test_rate_limit_charges_verified_keys_only),
        cmocka_unit_test(test_tenant_names),
        cmocka_unit_test(test_loopback_addresses),
        cmocka_unit_test(test_sha256_known_vector),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
