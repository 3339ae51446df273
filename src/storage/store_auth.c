/* store_auth.c — API keys (hashes only) and idempotency records.  Writes run
 * on the store's writer thread through store_call; reads use the pool.  In
 * cluster mode (store_cluster_open) the key functions answer from the
 * cluster's keys (pg_keys.h) instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "pg_keys.h"
#include "pg_weights.h"
#include "store.h"
#include "store_internal.h"

int store_cluster_open(store *s, const char *target, double grace_s, char *err, size_t errn)
{
    if (s->cluster) return ERR_INVALID_ARGUMENT;
    int rc = pg_keys_open(target, grace_s, &s->cluster, err, errn);
    if (!rc && (rc = pg_weights_open(target, &s->cluster_w, err, errn)) != 0) {
        pg_keys_close(s->cluster);
        s->cluster = NULL;
    }
    return rc;
}

void store_cluster_on_tick(store *s, void (*fn)(void *ctx), void *ctx)
{
    if (s->cluster) pg_keys_on_tick(s->cluster, fn, ctx);
}

int store_cluster_keys_age(store *s, double *age)
{
    if (!s->cluster) return ERR_NOT_FOUND;
    *age = pg_keys_age(s->cluster);
    return 0;
}

void store_cluster_on_change(store *s, void (*fn)(void *ctx), void *ctx)
{
    if (s->cluster) pg_keys_on_change(s->cluster, fn, ctx);
}

static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

static int key_insert_fn(sqlite3 *db, void *ctx)
{
    const store_key *k = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO api_keys(id, tenant, hash, admin, created_ms) VALUES(?1,?2,?3,?4,?5)",
                                -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, k->hash, 32, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, k->admin);
    sqlite3_bind_int64(st, 5, k->created_ms);
    rc = step_done(db, st);
    if (rc) return rc;
    /* In the key's transaction: once a key exists the daemon never serves
     * open again, even after every key is revoked. */
    rc = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO daemon_facts(name, value) VALUES('keys_ever', '1')", -1, &st,
                            NULL);
    if (rc) return rc;
    return step_done(db, st);
}

int store_key_insert(store *s, const store_key *k)
{
    if (s->cluster) return pg_keys_insert(s->cluster, k);
    return store_call(s, key_insert_fn, (void *)k);
}

typedef struct revoke_ctx { const char *id; int64_t now; int changed; } revoke_ctx;

static int key_revoke_fn(sqlite3 *db, void *ctx)
{
    revoke_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL", -1, &st,
                                NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->now);
    rc = step_done(db, st);
    c->changed = sqlite3_changes(db);
    return rc;
}

int store_key_revoke(store *s, const char *id, int64_t now_ms)
{
    if (s->cluster) return pg_keys_revoke(s->cluster, id, now_ms);
    revoke_ctx c = {id, now_ms, 0};
    int rc = store_call(s, key_revoke_fn, &c);
    if (rc) return rc;
    return c.changed ? 0 : ERR_NOT_FOUND;
}

static void key_from_row(sqlite3_stmt *st, store_key *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(k->tenant, sizeof k->tenant, "%s", (const char *)sqlite3_column_text(st, 1));
    if (sqlite3_column_bytes(st, 2) == 32) memcpy(k->hash, sqlite3_column_blob(st, 2), 32);
    k->admin = sqlite3_column_int(st, 3);
    k->created_ms = sqlite3_column_int64(st, 4);
    k->revoked_ms = sqlite3_column_type(st, 5) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 5);
}

#define KEY_COLUMNS "SELECT id, tenant, hash, admin, created_ms, revoked_ms FROM api_keys"

int store_key_get(store *s, const char *id, store_key *out)
{
    if (s->cluster) return pg_keys_get(s->cluster, id, out);
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, KEY_COLUMNS " WHERE id = ?1", -1, &st, NULL) == SQLITE_OK ? 0 : ERR_STORAGE;
    if (!rc) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) key_from_row(st, out);
        else rc = r == SQLITE_DONE ? ERR_NOT_FOUND : ERR_STORAGE;
        sqlite3_finalize(st);
    }
    store_reader_release(s, db);
    return rc;
}

int store_keys_list(store *s, int (*fn)(void *ctx, const store_key *k), void *ctx)
{
    if (s->cluster) return pg_keys_list(s->cluster, fn, ctx);
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, KEY_COLUMNS " ORDER BY created_ms, id", -1, &st, NULL) == SQLITE_OK ? 0 : ERR_STORAGE;
    if (!rc) {
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            store_key k;
            key_from_row(st, &k);
            if (fn(ctx, &k)) break;
        }
        if (r != SQLITE_ROW && r != SQLITE_DONE) rc = ERR_STORAGE;
        sqlite3_finalize(st);
    }
    store_reader_release(s, db);
    return rc;
}

int store_keys_active(store *s, int64_t *count)
{
    if (s->cluster) return pg_keys_active(s->cluster, count);
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM api_keys WHERE revoked_ms IS NULL", -1, &st, NULL) == SQLITE_OK
                 ? 0 : ERR_STORAGE;
    if (!rc) {
        if (sqlite3_step(st) == SQLITE_ROW) *count = sqlite3_column_int64(st, 0);
        else rc = ERR_STORAGE;
        sqlite3_finalize(st);
    }
    store_reader_release(s, db);
    return rc;
}

int store_keys_ever(store *s, int *ever)
{
    if (s->cluster) {
        int rc = pg_keys_ever(s->cluster, ever);
        /* Or this file's fact: a daemon closed by its own keys stays closed
         * when it joins a cluster that has none yet. */
        if (rc || *ever) return rc;
    }
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    /* Either sign counts: the fact row, or any key row (revoked or not). */
    int rc = sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM daemon_facts WHERE name = 'keys_ever')"
                                    " OR EXISTS (SELECT 1 FROM api_keys)", -1, &st, NULL) == SQLITE_OK
                 ? 0 : ERR_STORAGE;
    if (!rc) {
        if (sqlite3_step(st) == SQLITE_ROW) *ever = sqlite3_column_int(st, 0) != 0;
        else rc = ERR_STORAGE;
        sqlite3_finalize(st);
    }
    store_reader_release(s, db);
    return rc;
}

int store_idem_get(store *s, const char *tenant, const char *key, const char *route, uint8_t body_hash[32],
                   int *status, char **body, size_t *body_len)
{
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT body_hash, status, response FROM idempotency "
                                    "WHERE tenant = ?1 AND key = ?2 AND route = ?3", -1, &st, NULL) == SQLITE_OK
                 ? 0 : ERR_STORAGE;
    if (!rc) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, route, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 0) == 32) memcpy(body_hash, sqlite3_column_blob(st, 0), 32);
            *status = sqlite3_column_int(st, 1);
            size_t n = (size_t)sqlite3_column_bytes(st, 2);
            *body = malloc(n + 1);
            if (!*body) rc = ERR_NO_MEMORY;
            else {
                if (n) memcpy(*body, sqlite3_column_blob(st, 2), n);
                (*body)[n] = '\0';
                *body_len = n;
            }
        } else rc = r == SQLITE_DONE ? ERR_NOT_FOUND : ERR_STORAGE;
        sqlite3_finalize(st);
    }
    store_reader_release(s, db);
    return rc;
}

typedef struct idem_ctx {
    const char *tenant, *key, *route; const uint8_t *hash; int status; const char *body; size_t len; int64_t now;
} idem_ctx;

static int idem_put_fn(sqlite3 *db, void *ctx)
{
    idem_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO idempotency(tenant, key, route, body_hash, status, response,"
                                    " created_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)", -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, c->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->route, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, c->hash, 32, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, c->status);
    sqlite3_bind_blob64(st, 6, c->body, c->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, c->now);
    return step_done(db, st);
}

int store_idem_put(store *s, const char *tenant, const char *key, const char *route, const uint8_t body_hash[32],
                   int status, const char *body, size_t body_len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    idem_ctx c = {tenant, key, route, body_hash, status, body ? body : "", body_len,
                  (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    return store_call(s, idem_put_fn, &c);
}
