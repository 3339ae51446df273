/* store_studies.c — studies, trials and intermediate values (schema version
 * 11).  Writes through store_call on the writer thread, reads on the pooled
 * read-only connections.  See store_studies.h for the contract. */
#include "store_studies.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hpo.h"
#include "store_internal.h"
#include "study_store.h"

/* ---- writes ---------------------------------------------------------------- */

int store_study_insert(store *s, const store_study_row *r)
{
    store_wr w = {.sql = "INSERT INTO studies(id, tenant, name, spec_json, created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
            .types = "tttti"};
    w.t[0] = r->id;
    w.t[1] = r->tenant ? r->tenant : "";
    w.t[2] = r->name;
    w.t[3] = r->spec_json;
    w.i[4] = r->created_ms;
    return store_wr_run(s, &w);
}

int store_study_delete(store *s, const char *id)
{
    store_wr w = {.sql = "DELETE FROM studies WHERE id = ?1", .types = "t", .t = {id}};
    int rc = store_wr_run(s, &w);
    return rc ? rc : w.changed ? 0 : ERR_NOT_FOUND;
}

int store_trial_insert(store *s, const char *study, int64_t number, const char *params_json, const double *x,
                       int nx, int64_t now_ms)
{
    if (nx < 0 || nx > HPO_MAX_PARAMS) return ERR_INVALID_ARGUMENT;
    store_wr w = {.sql = "INSERT INTO trials(study_id, number, state, params_json, x, started_ms, heartbeat_ms)"
                   " VALUES(?1, ?2, 'running', ?3, ?4, ?5, ?5)",
            .types = "titbi"};
    w.t[0] = study;
    w.i[1] = number;
    w.t[2] = params_json;
    w.b[3] = x;
    w.blen[3] = (int)(sizeof(double) * (size_t)nx);
    w.i[4] = now_ms;
    return store_wr_run(s, &w);
}

int store_trial_finish(store *s, const char *study, int64_t number, const char *state, double value, int64_t now_ms)
{
    store_wr w = {.sql = "UPDATE trials SET state = ?3, value = ?4, finished_ms = ?5, heartbeat_ms = ?5"
                   " WHERE study_id = ?1 AND number = ?2 AND state = 'running'",
            .types = "titri"};
    w.t[0] = study;
    w.i[1] = number;
    w.t[2] = state;
    w.r[3] = value;
    w.i[4] = now_ms;
    int rc = store_wr_run(s, &w);
    return rc ? rc : w.changed ? 0 : ERR_NOT_FOUND;
}

typedef struct report_ctx {
    const char *study;
    int64_t     number, step, now_ms;
    double      value;
    int         changed;
} report_ctx;

static int report_fn(sqlite3 *db, void *ctx)
{
    report_ctx *c = ctx;
    store_wr up = {.sql = "UPDATE trials SET heartbeat_ms = ?3 WHERE study_id = ?1 AND number = ?2 AND state = 'running'",
             .types = "tii"};
    up.t[0] = c->study;
    up.i[1] = c->number;
    up.i[2] = c->now_ms;
    int rc = store_wr_fn(db, &up);
    c->changed = up.changed;
    if (rc || !up.changed) return rc;
    store_wr ins = {.sql = "INSERT OR REPLACE INTO trial_values(study_id, number, step, value) VALUES(?1, ?2, ?3, ?4)",
              .types = "tiir"};
    ins.t[0] = c->study;
    ins.i[1] = c->number;
    ins.i[2] = c->step;
    ins.r[3] = c->value;
    return store_wr_fn(db, &ins);
}

int store_trial_report(store *s, const char *study, int64_t number, int64_t step, double value, int64_t now_ms)
{
    if (!s || !isfinite(value)) return ERR_INVALID_ARGUMENT;
    report_ctx c = {study, number, step, now_ms, value, 0};
    int rc = store_call(s, report_fn, &c);
    return rc ? rc : c.changed ? 0 : ERR_NOT_FOUND;
}

int store_trials_lose(store *s, const char *study, int64_t before_ms, int64_t now_ms, int *n)
{
    store_wr w = {.sql = "UPDATE trials SET state = 'lost', finished_ms = ?3"
                   " WHERE study_id = ?1 AND state = 'running' AND heartbeat_ms < ?2",
            .types = "tii"};
    w.t[0] = study;
    w.i[1] = before_ms;
    w.i[2] = now_ms;
    int rc = store_wr_run(s, &w);
    if (n) *n = rc ? 0 : w.changed;
    return rc;
}

/* ---- reads ------------------------------------------------------------------- */

#define STUDY_COLS                                                                                               \
    "s.id, s.tenant, s.name, s.spec_json, s.created_ms,"                                                       \
    " (SELECT COUNT(*) FROM trials t WHERE t.study_id = s.id),"                                                 \
    " (SELECT COUNT(*) FROM trials t WHERE t.study_id = s.id AND t.state = 'running'),"                         \
    " (SELECT COUNT(*) FROM trials t WHERE t.study_id = s.id AND t.state = 'complete')"

static int study_rows(store *s, const char *sql, const char *a1, int limit,
                      int (*fn)(void *, const store_study_row *), void *ctx, int *found)
{
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_reader_release(s, db);
        return ERR_STORAGE;
    }
    if (a1) sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    int rc;
    *found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_study_row r = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .tenant = (const char *)sqlite3_column_text(st, 1),
            .name = (const char *)sqlite3_column_text(st, 2),
            .spec_json = (const char *)sqlite3_column_text(st, 3),
            .created_ms = sqlite3_column_int64(st, 4),
            .n_trials = sqlite3_column_int64(st, 5),
            .n_running = sqlite3_column_int64(st, 6),
            .n_complete = sqlite3_column_int64(st, 7),
        };
        (*found)++;
        if (fn(ctx, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return rc == SQLITE_DONE ? 0 : ERR_STORAGE;
}

int store_study_get(store *s, const char *id, int (*fn)(void *ctx, const store_study_row *r), void *ctx)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    int found;
    int rc = study_rows(s, "SELECT " STUDY_COLS " FROM studies s WHERE s.id = ?1 LIMIT ?2", id, 1, fn, ctx, &found);
    return rc ? rc : found ? 0 : ERR_NOT_FOUND;
}

int store_studies_list(store *s, const char *tenant, int limit, int (*fn)(void *ctx, const store_study_row *r),
                       void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    int found;
    return study_rows(s,
                      tenant ? "SELECT " STUDY_COLS " FROM studies s WHERE s.tenant = ?1"
                               " ORDER BY s.created_ms DESC, s.id LIMIT ?2"
                             : "SELECT " STUDY_COLS " FROM studies s ORDER BY s.created_ms DESC, s.id LIMIT ?2",
                      tenant, limit, fn, ctx, &found);
}

int store_study_trials(store *s, const char *study, int (*trial_fn)(void *ctx, const store_trial_row *t),
                       int (*value_fn)(void *ctx, int64_t number, int64_t step, double value), void *ctx)
{
    if (!s || !study) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st = NULL, *sv = NULL;
    int ok = store_exec(db, "BEGIN") == SQLITE_OK &&
             sqlite3_prepare_v2(db,
                                "SELECT number, state, params_json, x, value, started_ms, heartbeat_ms,"
                                " COALESCE(finished_ms, 0) FROM trials WHERE study_id = ?1 ORDER BY number",
                                -1, &st, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db,
                                "SELECT number, step, value FROM trial_values WHERE study_id = ?1"
                                " ORDER BY number, step",
                                -1, &sv, NULL) == SQLITE_OK;
    int rc = SQLITE_DONE, stop = 0;
    if (ok) {
        sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
        sqlite3_bind_text(sv, 1, study, -1, SQLITE_STATIC);
        while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            double x[HPO_MAX_PARAMS];
            int bytes = sqlite3_column_bytes(st, 3);
            const void *b = sqlite3_column_blob(st, 3);
            int nx = bytes / (int)sizeof(double);
            if (nx > HPO_MAX_PARAMS || bytes % (int)sizeof(double)) {
                rc = SQLITE_CORRUPT;
                break;
            }
            if (nx) memcpy(x, b, sizeof(double) * (size_t)nx);
            store_trial_row t = {
                .number = sqlite3_column_int64(st, 0),
                .state = (const char *)sqlite3_column_text(st, 1),
                .params_json = (const char *)sqlite3_column_text(st, 2),
                .x = x,
                .nx = nx,
                .value = store_col_real(st, 4),
                .started_ms = sqlite3_column_int64(st, 5),
                .heartbeat_ms = sqlite3_column_int64(st, 6),
                .finished_ms = sqlite3_column_int64(st, 7),
            };
            if (trial_fn && trial_fn(ctx, &t)) stop = 1;
        }
        if (rc == SQLITE_DONE || stop) rc = SQLITE_DONE;
        while (!stop && rc == SQLITE_DONE && value_fn && (rc = sqlite3_step(sv)) == SQLITE_ROW) {
            if (value_fn(ctx, sqlite3_column_int64(sv, 0), sqlite3_column_int64(sv, 1), store_col_real(sv, 2)))
                stop = 1;
            rc = SQLITE_DONE;   /* a row read: go on (or stop) */
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(sv);
    if (ok || !sqlite3_get_autocommit(db)) store_exec(db, "COMMIT");
    store_reader_release(s, db);
    return ok && rc == SQLITE_DONE ? 0 : ERR_STORAGE;
}

/* ---- behind the study-store interface (study_store.h) -------------------------- */

static int sq_insert(void *c, const store_study_row *r) { return store_study_insert(c, r); }
static int sq_delete(void *c, const char *id) { return store_study_delete(c, id); }
static int sq_get(void *c, const char *id, int (*fn)(void *, const store_study_row *), void *f)
{
    return store_study_get(c, id, fn, f);
}
static int sq_list(void *c, const char *tenant, int limit, int (*fn)(void *, const store_study_row *), void *f)
{
    return store_studies_list(c, tenant, limit, fn, f);
}
static int sq_trial_insert(void *c, const char *study, int64_t number, const char *params_json, const double *x,
                           int nx, int64_t now_ms)
{
    return store_trial_insert(c, study, number, params_json, x, nx, now_ms);
}
static int sq_trial_finish(void *c, const char *study, int64_t number, const char *state, double value,
                           int64_t now_ms)
{
    return store_trial_finish(c, study, number, state, value, now_ms);
}
static int sq_trial_report(void *c, const char *study, int64_t number, int64_t step, double value, int64_t now_ms)
{
    return store_trial_report(c, study, number, step, value, now_ms);
}
static int sq_lose(void *c, const char *study, int64_t before_ms, int64_t now_ms, int *n)
{
    return store_trials_lose(c, study, before_ms, now_ms, n);
}
static int sq_trials(void *c, const char *study, int (*tf)(void *, const store_trial_row *),
                     int (*vf)(void *, int64_t, int64_t, double), void *f)
{
    return store_study_trials(c, study, tf, vf, f);
}
/* One daemon per file, the service's mutex around each unit of work: nothing
 * more to hold (study_store.h). */
static int sq_hold(void *c, const char *id)
{
    (void)c;
    (void)id;
    return 0;
}
static int sq_release(void *c)
{
    (void)c;
    return 0;
}

static const study_store_ops SQLITE_OPS = {sq_insert, sq_delete, sq_get, sq_list, sq_trial_insert, sq_trial_finish,
                                           sq_trial_report, sq_lose, sq_trials, sq_hold, sq_release};

study_store store_studies_store(store *db)
{
    return (study_store){&SQLITE_OPS, db};
}
