/* store.c — the SQLite store: schema and migrations, the single writer
 * thread with group commit, and pooled read-only connections. */
#include "store.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"

#define BUSY_TIMEOUT_MS   5000
#define CHECKPOINT_EVERY  256      /* commits between PASSIVE WAL checkpoints */

/* ---- schema ---------------------------------------------------------------- */

/* migrations[i] takes the schema from user_version i to i+1. */
static const char *const migrations[] = {
    "CREATE TABLE sessions("
    "  id TEXT PRIMARY KEY, meta_json TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  snapshot BLOB NOT NULL);"
    "CREATE TABLE metrics("
    "  session_id TEXT NOT NULL, step INTEGER NOT NULL, time_ms INTEGER NOT NULL, loss REAL,"
    "  grad_norm REAL, update_norm REAL, param_norm REAL, lr REAL, duration_us REAL,"
    "  PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE feedback("
    "  session_id TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, metrics_json TEXT,"
    "  time_ms INTEGER NOT NULL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- jobs ------------------------------------------------------------------ */

typedef enum { JOB_CREATE, JOB_SNAPSHOT, JOB_UPDATE, JOB_METRIC, JOB_FEEDBACK, JOB_DELETE, JOB_FLUSH } job_kind;

typedef struct job {
    job_kind    kind;
    char        id[64];
    char       *text;          /* meta_json, metrics_json or status */
    char       *text2;         /* meta_json of JOB_UPDATE */
    int64_t     i1, i2;        /* created_ms/step, step, … */
    void       *blob;
    size_t      blob_len;
    step_metric m;
    double      loss;
    int         wait, done, result, skip;
    struct job *next;
} job;

enum { ST_CREATE, ST_SNAPSHOT, ST_UPDATE_STATUS, ST_UPDATE_META, ST_METRIC, ST_FEEDBACK, ST_DEL_METRICS,
       ST_DEL_FEEDBACK, ST_DEL_SESSION, ST_COUNT };

static const char *const stmt_sql[ST_COUNT] = {
    "INSERT INTO sessions(id, meta_json, created_ms, updated_ms, step, snapshot) VALUES(?1, ?2, ?3, ?3, ?4, ?5)",
    "UPDATE sessions SET snapshot = ?2, step = ?3, updated_ms = ?4 WHERE id = ?1",
    "UPDATE sessions SET status = ?2, updated_ms = ?3 WHERE id = ?1",
    "UPDATE sessions SET meta_json = ?2, updated_ms = ?3 WHERE id = ?1",
    "INSERT OR REPLACE INTO metrics(session_id, step, time_ms, loss, grad_norm, update_norm, param_norm, lr,"
    " duration_us) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    "INSERT OR REPLACE INTO feedback(session_id, step, loss, metrics_json, time_ms)"
    " SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    "DELETE FROM metrics WHERE session_id = ?1",
    "DELETE FROM feedback WHERE session_id = ?1",
    "DELETE FROM sessions WHERE id = ?1",
};

struct store {
    char           *path;
    sqlite3        *w;                 /* the only write connection: writer thread */
    sqlite3_stmt   *st[ST_COUNT];
    pthread_t       thread;
    pthread_mutex_t mu;
    pthread_cond_t  cv_work, cv_done;
    job            *head, *tail;
    int             stop;
    store_stats     stats;             /* under mu */
    /* idle read-only connections */
    pthread_mutex_t rmu;
    sqlite3       **idle;
    int             nidle, cap_idle;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void job_free(job *j)
{
    if (!j) return;
    free(j->text);
    free(j->text2);
    free(j->blob);
    free(j);
}

/* Binds v, or NULL when it is not finite (SQLite has no NaN). */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

/* Runs one job's statements on the write connection.  SQLITE_OK or an error. */
static int job_run(store *s, job *j)
{
    int64_t now = wall_ms();
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    switch (j->kind) {
    case JOB_CREATE:
        st = s->st[ST_CREATE];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        bind_text(st, 2, j->text);
        sqlite3_bind_int64(st, 3, j->i1);
        sqlite3_bind_int64(st, 4, j->i2);
        sqlite3_bind_blob64(st, 5, j->blob, j->blob_len, SQLITE_STATIC);
        break;
    case JOB_SNAPSHOT:
        st = s->st[ST_SNAPSHOT];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 2, j->blob, j->blob_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, j->i1);
        sqlite3_bind_int64(st, 4, now);
        break;
    case JOB_UPDATE:
        if (j->text) {
            st = s->st[ST_UPDATE_STATUS];
            sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
            bind_text(st, 2, j->text);
            sqlite3_bind_int64(st, 3, now);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->w);
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            st = NULL;
        }
        if (rc == SQLITE_OK && j->text2) {
            st = s->st[ST_UPDATE_META];
            sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
            bind_text(st, 2, j->text2);
            sqlite3_bind_int64(st, 3, now);
        }
        break;
    case JOB_METRIC:
        st = s->st[ST_METRIC];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, j->m.step);
        sqlite3_bind_int64(st, 3, j->m.time_ms);
        bind_real(st, 4, j->m.loss);
        bind_real(st, 5, j->m.grad_norm);
        bind_real(st, 6, j->m.update_norm);
        bind_real(st, 7, j->m.param_norm);
        bind_real(st, 8, j->m.lr);
        bind_real(st, 9, j->m.duration_us);
        break;
    case JOB_FEEDBACK:
        st = s->st[ST_FEEDBACK];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, j->i1);
        bind_real(st, 3, j->loss);
        bind_text(st, 4, j->text);
        sqlite3_bind_int64(st, 5, now);
        break;
    case JOB_DELETE:
        for (int k = ST_DEL_METRICS; k <= ST_DEL_SESSION && rc == SQLITE_OK; k++) {
            sqlite3_stmt *d = s->st[k];
            sqlite3_bind_text(d, 1, j->id, -1, SQLITE_STATIC);
            rc = sqlite3_step(d) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->w);
            sqlite3_reset(d);
            sqlite3_clear_bindings(d);
        }
        break;
    case JOB_FLUSH:
        break;
    }
    if (st) {
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->w);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return rc;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Runs a batch in one transaction.  On failure, rolls back and runs each job
 * in a transaction of its own, so one bad job fails alone. */
static int batch_commit(store *s, job *list)
{
    int rc = exec(s->w, "BEGIN IMMEDIATE");
    for (job *j = list; rc == SQLITE_OK && j; j = j->next)
        if (!j->skip) rc = job_run(s, j);
    if (rc == SQLITE_OK) rc = exec(s->w, "COMMIT");
    if (rc == SQLITE_OK) {
        for (job *j = list; j; j = j->next) j->result = 0;
        return 0;
    }
    exec(s->w, "ROLLBACK");
    int failures = 0;
    for (job *j = list; j; j = j->next) {
        if (j->skip) { j->result = 0; continue; }
        int r = exec(s->w, "BEGIN IMMEDIATE");
        if (r == SQLITE_OK) r = job_run(s, j);
        if (r == SQLITE_OK) r = exec(s->w, "COMMIT");
        if (r != SQLITE_OK) {
            exec(s->w, "ROLLBACK");
            failures++;
        }
        j->result = r == SQLITE_OK ? 0 : ERR_STORAGE;
    }
    return failures ? ERR_STORAGE : 0;
}

/* Only the newest asynchronous snapshot of a session in a batch is written. */
static void coalesce(job *list)
{
    for (job *j = list; j; j = j->next) {
        if (j->kind != JOB_SNAPSHOT) continue;
        for (job *k = j->next; k; k = k->next) {
            if (k->kind == JOB_DELETE && strcmp(k->id, j->id) == 0) break;
            if (k->kind == JOB_SNAPSHOT && !j->wait && strcmp(k->id, j->id) == 0) {
                j->skip = 1;
                free(j->blob);
                j->blob = NULL;
                break;
            }
        }
    }
}

static void *writer_main(void *arg)
{
    store *s = arg;
    int commits_since_ckpt = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop) pthread_cond_wait(&s->cv_work, &s->mu);
        if (!s->head && s->stop) break;
        job *list = s->head;
        s->head = s->tail = NULL;
        s->stats.queue_depth = 0;
        pthread_mutex_unlock(&s->mu);

        coalesce(list);
        int64_t t0 = mono_us();
        int rc = batch_commit(s, list);
        int64_t dt = mono_us() - t0;
        if (++commits_since_ckpt >= CHECKPOINT_EVERY) {
            sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            commits_since_ckpt = 0;
        }

        pthread_mutex_lock(&s->mu);
        s->stats.commits++;
        s->stats.commit_us_total += dt;
        if (dt > s->stats.commit_us_max) s->stats.commit_us_max = dt;
        if (rc) s->stats.errors++;
        for (job *j = list, *next; j; j = next) {
            next = j->next;
            if (j->wait) j->done = 1; /* the waiter frees it */
            else job_free(j);
        }
        pthread_cond_broadcast(&s->cv_done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queues j; with j->wait waits for its commit and returns its result. */
static int submit(store *s, job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        return ERR_STORAGE;
    }
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    s->stats.queue_depth++;
    pthread_cond_signal(&s->cv_work);
    int rc = 0;
    if (j->wait) {
        while (!j->done) pthread_cond_wait(&s->cv_done, &s->mu);
        rc = j->result;
    }
    pthread_mutex_unlock(&s->mu);
    if (j->wait) job_free(j);
    return rc;
}

static job *job_new(job_kind kind, const char *id)
{
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    if (id) snprintf(j->id, sizeof j->id, "%s", id);
    return j;
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

/* ---- open / close ---------------------------------------------------------- */

static int migrate(sqlite3 *db)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        fprintf(stderr, "optirsd: database schema %d is newer than this daemon's %d\n", version, SCHEMA_VERSION);
        return -1;
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) return -1;
        if (exec(db, migrations[v]) != SQLITE_OK || exec(db, pragma) != SQLITE_OK) {
            fprintf(stderr, "optirsd: migration to schema %d failed: %s\n", v + 1, sqlite3_errmsg(db));
            exec(db, "ROLLBACK");
            return -1;
        }
        if (exec(db, "COMMIT") != SQLITE_OK) return -1;
    }
    return 0;
}

int store_open(const char *path, store **out)
{
    store *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    s->path = strdup(path);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->cv_work, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    int ok = s->path && sqlite3_open_v2(path, &s->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                       SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK;
    /* WAL + synchronous=NORMAL: a commit survives the death of the process
     * (kill -9); an OS crash or power loss may lose the last commits. */
    ok = ok && sqlite3_busy_timeout(s->w, BUSY_TIMEOUT_MS) == SQLITE_OK &&
         exec(s->w, "PRAGMA journal_mode = WAL") == SQLITE_OK &&
         exec(s->w, "PRAGMA synchronous = NORMAL") == SQLITE_OK &&
         exec(s->w, "PRAGMA foreign_keys = ON") == SQLITE_OK && migrate(s->w) == 0;
    for (int i = 0; ok && i < ST_COUNT; i++)
        ok = sqlite3_prepare_v3(s->w, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) == SQLITE_OK;
    if (ok) ok = pthread_create(&s->thread, NULL, writer_main, s) == 0;
    if (!ok) {
        if (s->w) fprintf(stderr, "optirsd: %s: %s\n", path, sqlite3_errmsg(s->w));
        for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
        sqlite3_close(s->w);
        free(s->path);
        free(s);
        return ERR_STORAGE;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->nidle; i++) sqlite3_close(s->idle[i]);
    free(s->idle);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close(s->w);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->cv_work);
    pthread_cond_destroy(&s->cv_done);
    free(s->path);
    free(s);
}

/* ---- writes -------------------------------------------------------------------- */

int store_session_create_take(store *s, const char *id, const char *meta_json, int64_t created_ms, int64_t step,
                              void *snapshot, size_t snapshot_len)
{
    job *j = job_new(JOB_CREATE, id);
    int oom = !j;
    if (j) j->text = dup_or_null(meta_json, &oom);
    if (oom) {
        job_free(j);
        free(snapshot);
        return ERR_NO_MEMORY;
    }
    j->i1 = created_ms;
    j->i2 = step;
    j->blob = snapshot;
    j->blob_len = snapshot_len;
    j->wait = 1;
    return submit(s, j);
}

int store_snapshot_take(store *s, const char *id, int64_t step, void *snapshot, size_t snapshot_len, int wait)
{
    job *j = job_new(JOB_SNAPSHOT, id);
    if (!j) {
        free(snapshot);
        return ERR_NO_MEMORY;
    }
    j->i1 = step;
    j->blob = snapshot;
    j->blob_len = snapshot_len;
    j->wait = wait;
    return submit(s, j);
}

int store_session_update(store *s, const char *id, const char *status, const char *meta_json)
{
    job *j = job_new(JOB_UPDATE, id);
    int oom = !j;
    if (j) {
        j->text = dup_or_null(status, &oom);
        j->text2 = dup_or_null(meta_json, &oom);
    }
    if (oom) {
        job_free(j);
        return ERR_NO_MEMORY;
    }
    return submit(s, j);
}

int store_metric(store *s, const char *id, const step_metric *m)
{
    job *j = job_new(JOB_METRIC, id);
    if (!j) return ERR_NO_MEMORY;
    j->m = *m;
    return submit(s, j);
}

int store_feedback(store *s, const char *id, int64_t step, double loss, const char *metrics_json)
{
    job *j = job_new(JOB_FEEDBACK, id);
    int oom = !j;
    if (j) j->text = dup_or_null(metrics_json, &oom);
    if (oom) {
        job_free(j);
        return ERR_NO_MEMORY;
    }
    j->i1 = step;
    j->loss = loss;
    j->wait = 1;
    return submit(s, j);
}

int store_session_delete(store *s, const char *id)
{
    job *j = job_new(JOB_DELETE, id);
    if (!j) return ERR_NO_MEMORY;
    j->wait = 1;
    return submit(s, j);
}

int store_flush(store *s)
{
    job *j = job_new(JOB_FLUSH, NULL);
    if (!j) return ERR_NO_MEMORY;
    j->wait = 1;
    return submit(s, j);
}

void store_get_stats(store *s, store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- reads ------------------------------------------------------------------------ */

static sqlite3 *reader_get(store *s)
{
    sqlite3 *db = NULL;
    pthread_mutex_lock(&s->rmu);
    if (s->nidle) db = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->rmu);
    if (db) return db;
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* A reader never checkpoints (PITFALLS: only the writer may). */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    return db;
}

static void reader_put(store *s, sqlite3 *db)
{
    pthread_mutex_lock(&s->rmu);
    if (s->nidle == s->cap_idle) {
        int cap = s->cap_idle ? s->cap_idle * 2 : 8;
        sqlite3 **v = realloc(s->idle, (size_t)cap * sizeof *v);
        if (v) { s->idle = v; s->cap_idle = cap; }
    }
    if (s->nidle < s->cap_idle) {
        s->idle[s->nidle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&s->rmu);
    sqlite3_close(db);
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Prepares sql on a pooled reader; the caller finishes with query_end. */
static sqlite3_stmt *query_begin(store *s, const char *sql, sqlite3 **db)
{
    *db = reader_get(s);
    if (!*db) return NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK) {
        reader_put(s, *db);
        return NULL;
    }
    return st;
}

static int query_end(store *s, sqlite3 *db, sqlite3_stmt *st, int rc)
{
    sqlite3_finalize(st);
    reader_put(s, db);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : ERR_STORAGE;
}

static int session_rows(store *s, const char *sql, const char *after, int limit, int with_snapshot,
                        int (*fn)(void *, const store_session_row *), void *ctx)
{
    sqlite3 *db;
    sqlite3_stmt *st = query_begin(s, sql, &db);
    if (!st) return ERR_STORAGE;
    if (limit >= 0) {
        bind_text(st, 1, after ? after : "");
        sqlite3_bind_int(st, 2, limit);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_session_row row = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .meta_json = (const char *)sqlite3_column_text(st, 1),
            .status = (const char *)sqlite3_column_text(st, 2),
            .created_ms = sqlite3_column_int64(st, 3),
            .step = sqlite3_column_int64(st, 4),
        };
        if (with_snapshot) {
            row.snapshot = sqlite3_column_blob(st, 5);
            row.snapshot_len = (size_t)sqlite3_column_bytes(st, 5);
        }
        if (fn(ctx, &row) != 0) break;
    }
    return query_end(s, db, st, rc);
}

int store_sessions_load(store *s, int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    return session_rows(s, "SELECT id, meta_json, status, created_ms, step, snapshot FROM sessions ORDER BY id",
                        NULL, -1, 1, fn, ctx);
}

typedef struct one_ctx { int found; int (*fn)(void *, const store_session_row *); void *ctx; } one_ctx;

static int one_row(void *ctx, const store_session_row *row)
{
    one_ctx *c = ctx;
    c->found = 1;
    c->fn(c->ctx, row);
    return 1;
}

int store_session_load(store *s, const char *id, int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    one_ctx c = {0, fn, ctx};
    /* The "after" slot of session_rows carries the id; limit 1 ends it. */
    int rc = session_rows(s, "SELECT id, meta_json, status, created_ms, step, snapshot FROM sessions WHERE id = ?1 "
                             "LIMIT ?2", id, 1, 1, one_row, &c);
    if (rc) return rc;
    return c.found ? 0 : ERR_SESSION_NOT_FOUND;
}

int store_sessions_list(store *s, const char *after_id, int limit,
                        int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    return session_rows(s,
                        "SELECT id, meta_json, status, created_ms, step FROM sessions WHERE id > ?1 "
                        "ORDER BY id LIMIT ?2",
                        after_id, limit, 0, fn, ctx);
}

int store_metrics_query(store *s, const char *id, int64_t after, int limit,
                        int (*fn)(void *ctx, const step_metric *m), void *ctx)
{
    sqlite3 *db;
    sqlite3_stmt *st = query_begin(s,
                                   "SELECT step, time_ms, loss, grad_norm, update_norm, param_norm, lr, duration_us "
                                   "FROM metrics WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
                                   &db);
    if (!st) return ERR_STORAGE;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        step_metric m = {.step = sqlite3_column_int64(st, 0), .time_ms = sqlite3_column_int64(st, 1),
                         .loss = col_real(st, 2), .grad_norm = col_real(st, 3), .update_norm = col_real(st, 4),
                         .param_norm = col_real(st, 5), .lr = col_real(st, 6), .duration_us = col_real(st, 7)};
        if (fn(ctx, &m) != 0) break;
    }
    return query_end(s, db, st, rc);
}

int store_feedback_query(store *s, const char *id, int64_t after, int limit,
                         int (*fn)(void *ctx, const store_feedback_row *f), void *ctx)
{
    sqlite3 *db;
    sqlite3_stmt *st = query_begin(s,
                                   "SELECT step, loss, metrics_json, time_ms FROM feedback "
                                   "WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
                                   &db);
    if (!st) return ERR_STORAGE;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_feedback_row f = {.step = sqlite3_column_int64(st, 0), .loss = col_real(st, 1),
                                .metrics_json = (const char *)sqlite3_column_text(st, 2),
                                .time_ms = sqlite3_column_int64(st, 3)};
        if (fn(ctx, &f) != 0) break;
    }
    return query_end(s, db, st, rc);
}
