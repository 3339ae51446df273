/* store_metasess.c — meta-sessions and their contributions (schema version
 * 12).  Writes through store_call on the writer thread, reads on a pooled
 * read-only connection.  See store_metasess.h for the contract. */
#include "store_metasess.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store_internal.h"

int store_msess_insert(store *s, const store_msess_row *r)
{
    if (r->state_len > (size_t)INT32_MAX) return ERR_INVALID_ARGUMENT;
    store_wr w = {.sql = "INSERT INTO meta_sessions(id, tenant, name, spec_json, created_ms, round, state, last_tasks)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  .types = "ttttiibt"};
    w.t[0] = r->id;
    w.t[1] = r->tenant ? r->tenant : "";
    w.t[2] = r->name;
    w.t[3] = r->spec_json;
    w.i[4] = r->created_ms;
    w.i[5] = r->round;
    w.b[6] = r->state;
    w.blen[6] = (int)r->state_len;
    w.t[7] = r->last_tasks;
    return store_wr_run(s, &w);
}

int store_msess_delete(store *s, const char *id)
{
    store_wr w = {.sql = "DELETE FROM meta_sessions WHERE id = ?1", .types = "t", .t = {id}};
    int rc = store_wr_run(s, &w);
    return rc ? rc : w.changed ? 0 : ERR_NOT_FOUND;
}

int store_msess_contrib_put(store *s, const char *id, int64_t round, const char *task, const float *grad, size_t n)
{
    if (n > (size_t)INT32_MAX / sizeof(float)) return ERR_INVALID_ARGUMENT;
    store_wr w = {.sql = "INSERT OR REPLACE INTO meta_contribs(session_id, round, task, grad) VALUES(?1, ?2, ?3, ?4)",
                  .types = "titb"};
    w.t[0] = id;
    w.i[1] = round;
    w.t[2] = task;
    w.b[3] = grad;
    w.blen[3] = (int)(n * sizeof(float));
    return store_wr_run(s, &w);
}

typedef struct adv_ctx {
    store_wr up, del;
} adv_ctx;

static int advance_fn(sqlite3 *db, void *ctx)
{
    adv_ctx *c = ctx;
    if (store_exec(db, "SAVEPOINT msess_advance") != SQLITE_OK) return sqlite3_errcode(db);
    int rc = store_wr_fn(db, &c->up);
    if (!rc && c->up.changed) rc = store_wr_fn(db, &c->del);
    if (rc) {
        store_exec(db, "ROLLBACK TO msess_advance");
        store_exec(db, "RELEASE msess_advance");
        return rc;
    }
    return store_exec(db, "RELEASE msess_advance");
}

int store_msess_advance(store *s, const char *id, int64_t round, const void *state, size_t state_len,
                        const char *last_tasks)
{
    if (state_len > (size_t)INT32_MAX) return ERR_INVALID_ARGUMENT;
    adv_ctx c = {
        .up = {.sql = "UPDATE meta_sessions SET round = ?2, state = ?3, last_tasks = ?4 WHERE id = ?1",
               .types = "tibt"},
        .del = {.sql = "DELETE FROM meta_contribs WHERE session_id = ?1", .types = "t"},
    };
    c.up.t[0] = id;
    c.up.i[1] = round;
    c.up.b[2] = state;
    c.up.blen[2] = (int)state_len;
    c.up.t[3] = last_tasks;
    c.del.t[0] = id;
    int rc = s ? store_call(s, advance_fn, &c) : ERR_INVALID_ARGUMENT;
    return rc ? rc : c.up.changed ? 0 : ERR_NOT_FOUND;
}

int store_msess_load(store *s, int (*sess_fn)(void *ctx, const store_msess_row *r),
                     int (*contrib_fn)(void *ctx, const char *id, int64_t round, const char *task,
                                       const float *grad, size_t n),
                     void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *ss = NULL, *sc = NULL;
    int ok = store_exec(db, "BEGIN") == SQLITE_OK &&
             sqlite3_prepare_v2(db,
                                "SELECT id, tenant, name, spec_json, created_ms, round, state, last_tasks"
                                " FROM meta_sessions ORDER BY created_ms, id",
                                -1, &ss, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, "SELECT session_id, round, task, grad FROM meta_contribs ORDER BY session_id, task",
                                -1, &sc, NULL) == SQLITE_OK;
    int rc = ok ? 0 : ERR_STORAGE, step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(ss)) == SQLITE_ROW) {
        store_msess_row r = {
            .id = (const char *)sqlite3_column_text(ss, 0),
            .tenant = (const char *)sqlite3_column_text(ss, 1),
            .name = (const char *)sqlite3_column_text(ss, 2),
            .spec_json = (const char *)sqlite3_column_text(ss, 3),
            .created_ms = sqlite3_column_int64(ss, 4),
            .round = sqlite3_column_int64(ss, 5),
            .state = sqlite3_column_blob(ss, 6),
            .state_len = (size_t)sqlite3_column_bytes(ss, 6),
            .last_tasks = (const char *)sqlite3_column_text(ss, 7),
        };
        rc = sess_fn(ctx, &r);
    }
    if (!rc && step != SQLITE_DONE) rc = ERR_STORAGE;
    float *buf = NULL;
    while (!rc && (step = sqlite3_step(sc)) == SQLITE_ROW) {
        size_t bytes = (size_t)sqlite3_column_bytes(sc, 3);
        if (bytes % sizeof(float)) {
            rc = ERR_CORRUPT;
            break;
        }
        /* an aligned copy of the blob */
        free(buf);
        buf = malloc(bytes ? bytes : 1);
        if (!buf) {
            rc = ERR_NO_MEMORY;
            break;
        }
        if (bytes) memcpy(buf, sqlite3_column_blob(sc, 3), bytes);
        rc = contrib_fn(ctx, (const char *)sqlite3_column_text(sc, 0), sqlite3_column_int64(sc, 1),
                        (const char *)sqlite3_column_text(sc, 2), buf, bytes / sizeof(float));
    }
    if (!rc && step != SQLITE_DONE) rc = ERR_STORAGE;
    free(buf);
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    if (!sqlite3_get_autocommit(db)) store_exec(db, "COMMIT");
    store_reader_release(s, db);
    return rc;
}
