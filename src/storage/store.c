/* store.c — the SQLite store: schema and migrations, the single writer
 * thread with group commit, and pooled read-only connections.
 *
 * Layout of this file: schema, jobs and the queue, the writer thread (batch
 * run, per-job fallback, checkpoints), open/close, the write API, the read
 * API.  See store.h for the contract. */
#include "store.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "store_internal.h"

#define BUSY_TIMEOUT_MS      5000
#define CKPT_EVERY_COMMITS   256    /* PASSIVE checkpoint after this many commits */
#define CKPT_WAL_FRAMES      4096   /* … or once the WAL holds this many frames (16 MiB at 4 KiB pages) */
#define CKPT_MIN_COMMITS     16     /* … but not more often than this while the WAL stays large */

/* ---- schema ---------------------------------------------------------------- */

/* migrations[i] takes the schema from user_version i to i+1.  Never edit a
 * shipped entry: append a new one. */
static const char *const migrations[] = {
    /* 1: the first schema (as shipped with the backbone). */
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
    /* 2: metrics and feedback reference their session (ON DELETE CASCADE).
     * SQLite cannot add a constraint in place, so the tables are rebuilt;
     * rows of sessions that no longer exist are dropped on the way. */
    "CREATE TABLE metrics_v2("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL, loss REAL, grad_norm REAL, update_norm REAL, param_norm REAL, lr REAL,"
    "  duration_us REAL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "INSERT INTO metrics_v2 SELECT session_id, step, time_ms, loss, grad_norm, update_norm, param_norm, lr,"
    "  duration_us FROM metrics WHERE session_id IN (SELECT id FROM sessions);"
    "DROP TABLE metrics;"
    "ALTER TABLE metrics_v2 RENAME TO metrics;"
    "CREATE TABLE feedback_v2("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  loss REAL, metrics_json TEXT, time_ms INTEGER NOT NULL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "INSERT INTO feedback_v2 SELECT session_id, step, loss, metrics_json, time_ms FROM feedback"
    "  WHERE session_id IN (SELECT id FROM sessions);"
    "DROP TABLE feedback;"
    "ALTER TABLE feedback_v2 RENAME TO feedback;",
    /* 3: API keys (hashes only) and idempotency records, for store_auth.c. */
    "CREATE TABLE api_keys("
    "  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash BLOB NOT NULL, admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL, revoked_ms INTEGER);"
    "CREATE TABLE idempotency("
    "  tenant TEXT NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, body_hash BLOB NOT NULL,"
    "  status INTEGER NOT NULL, response BLOB, created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, key, route)) WITHOUT ROWID;",
    /* 4: learned-optimizer weights records and meta-training jobs with their
     * meta-loss curves, for store_weights.c. */
    "CREATE TABLE weights("
    "  name TEXT NOT NULL, version INTEGER NOT NULL, arch TEXT NOT NULL, hidden INTEGER NOT NULL,"
    "  depth INTEGER NOT NULL, ntheta INTEGER NOT NULL, domain TEXT NOT NULL, provenance_json TEXT NOT NULL,"
    "  eval_json TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL, blob BLOB NOT NULL,"
    "  PRIMARY KEY(name, version)) WITHOUT ROWID;"
    "CREATE TABLE meta_jobs("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,"
    "  config_json TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    "  step INTEGER NOT NULL DEFAULT 0, outer_steps INTEGER NOT NULL, wall_s REAL NOT NULL DEFAULT 0,"
    "  error TEXT, weights_name TEXT, weights_version INTEGER, checkpoint BLOB);"
    "CREATE TABLE meta_curve("
    "  job_id TEXT NOT NULL REFERENCES meta_jobs(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  meta_loss REAL, grad_norm REAL, PRIMARY KEY(job_id, step)) WITHOUT ROWID;",
    /* 5: step analytics (store_analytics.c): per-step extras (cosine between
     * consecutive updates, per-tensor norms, adaptation figures) and a rollup
     * of metrics in buckets of 64 steps for fast downsampling. */
    "CREATE TABLE step_extra("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  update_cos REAL, update_ratio REAL, lr_mult REAL, tensors_json TEXT, extra_json TEXT,"
    "  PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE metrics_rollup("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, bucket INTEGER NOT NULL,"
    "  step_first INTEGER NOT NULL, step_last INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  loss_n INTEGER, loss_sum REAL, loss_min REAL, loss_max REAL,"
    "  grad_n INTEGER, grad_sum REAL, grad_min REAL, grad_max REAL,"
    "  upd_n INTEGER, upd_sum REAL, upd_min REAL, upd_max REAL,"
    "  param_n INTEGER, param_sum REAL, param_min REAL, param_max REAL,"
    "  lr_n INTEGER, lr_sum REAL, lr_min REAL, lr_max REAL,"
    "  cos_n INTEGER, cos_sum REAL, cos_min REAL, cos_max REAL,"
    "  PRIMARY KEY(session_id, bucket)) WITHOUT ROWID;",
    /* 6: the rollup in levels (store_analytics.c): level l holds buckets of
     * 64 * 8^l steps (64, 512, 4096, 32768), each column with the steps where
     * its minimum and maximum occur.  The v5 rollup is dropped; the new one
     * is rebuilt from the metrics by the store (the next analytics write of a
     * session, or its next downsampled read), not here: SQL cannot compute
     * the arg-extremes of 12 columns in one pass. */
    "CREATE TABLE metrics_rollup_v6("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, level INTEGER NOT NULL,"
    "  bucket INTEGER NOT NULL, step_first INTEGER NOT NULL, step_last INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  loss_n INTEGER, loss_sum REAL, loss_min REAL, loss_max REAL, loss_min_step INTEGER, loss_max_step INTEGER,"
    "  grad_n INTEGER, grad_sum REAL, grad_min REAL, grad_max REAL, grad_min_step INTEGER, grad_max_step INTEGER,"
    "  upd_n INTEGER, upd_sum REAL, upd_min REAL, upd_max REAL, upd_min_step INTEGER, upd_max_step INTEGER,"
    "  param_n INTEGER, param_sum REAL, param_min REAL, param_max REAL, param_min_step INTEGER, param_max_step INTEGER,"
    "  lr_n INTEGER, lr_sum REAL, lr_min REAL, lr_max REAL, lr_min_step INTEGER, lr_max_step INTEGER,"
    "  cos_n INTEGER, cos_sum REAL, cos_min REAL, cos_max REAL, cos_min_step INTEGER, cos_max_step INTEGER,"
    "  PRIMARY KEY(session_id, level, bucket)) WITHOUT ROWID;"
    "DROP TABLE metrics_rollup;"
    "ALTER TABLE metrics_rollup_v6 RENAME TO metrics_rollup;",
    /* 7: durable daemon facts (store_auth.c): 'keys_ever' is set in the
     * transaction that inserts the first API key and never cleared, so a
     * daemon whose keys are all revoked stays closed across restarts (set
     * here for a database that has keys already).  Meta-training jobs
     * record the tenant that owns them ('' for the command line and open
     * mode). */
    "CREATE TABLE daemon_facts(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO daemon_facts(name, value) SELECT 'keys_ever', '1' WHERE EXISTS (SELECT 1 FROM api_keys);"
    "ALTER TABLE meta_jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX meta_jobs_by_tenant ON meta_jobs(tenant, created_ms DESC, id);",
    /* 8: snapshots larger than one chunk (store_set_chunk_bytes) are stored
     * as rows of snapshot_chunks in seq order; the session row then holds an
     * empty blob and their count.  The blob's own CRC covers the whole. */
    "CREATE TABLE snapshot_chunks("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
    "  data BLOB NOT NULL, PRIMARY KEY(session_id, seq));"
    "ALTER TABLE sessions ADD COLUMN nchunks INTEGER NOT NULL DEFAULT 0;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- jobs ------------------------------------------------------------------ */

typedef enum { JOB_CREATE, JOB_SNAPSHOT, JOB_UPDATE, JOB_METRIC, JOB_FEEDBACK, JOB_DELETE, JOB_FLUSH,
               JOB_EXEC, JOB_CALL } job_kind;

typedef struct job {
    struct job *next;          /* queue order */
    struct job *snext;         /* list of queued asynchronous snapshots (under mu) */
    job_kind    kind;
    int         wait;          /* a caller waits for the result (it frees the job) */
    int         done, result;  /* set by the writer under mu */
    int         skip;          /* superseded snapshot: nothing to write */
    int64_t     i1, i2;        /* create: created_ms, step; snapshot/feedback: step */
    double      loss;
    step_metric m;
    char       *text;          /* meta_json (create), status (update), metrics_json, SQL (exec) */
    char       *text2;         /* meta_json (update) */
    void       *blob;
    size_t      blob_len;
    int       (*fn)(sqlite3 *db, void *ctx);   /* JOB_CALL */
    void       *ctx;
    char        id[];          /* session id, NUL-terminated */
} job;

enum { ST_CREATE, ST_SNAPSHOT, ST_UPDATE, ST_METRIC, ST_FEEDBACK, ST_CHUNK, ST_DEL_METRICS, ST_DEL_FEEDBACK,
       ST_DEL_CHUNKS, ST_DEL_SESSION, ST_COUNT };

static const char *const stmt_sql[ST_COUNT] = {
    [ST_CREATE] = "INSERT INTO sessions(id, meta_json, created_ms, updated_ms, step, snapshot, nchunks)"
                  " VALUES(?1, ?2, ?3, ?3, ?4, ?5, ?6)",
    [ST_SNAPSHOT] = "UPDATE sessions SET snapshot = ?2, step = ?3, updated_ms = ?4, nchunks = ?5 WHERE id = ?1",
    [ST_UPDATE] = "UPDATE sessions SET status = coalesce(?2, status), meta_json = coalesce(?3, meta_json),"
                  " updated_ms = ?4 WHERE id = ?1",
    /* WHERE EXISTS: a row for a missing session is dropped, not an FK error. */
    [ST_METRIC] = "INSERT OR REPLACE INTO metrics(session_id, step, time_ms, loss, grad_norm, update_norm,"
                  " param_norm, lr, duration_us) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"
                  " WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    [ST_FEEDBACK] = "INSERT OR REPLACE INTO feedback(session_id, step, loss, metrics_json, time_ms)"
                    " SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    /* Explicit child deletes: the session's rows go even if FK enforcement were off. */
    [ST_CHUNK] = "INSERT INTO snapshot_chunks(session_id, seq, data) VALUES(?1, ?2, ?3)",
    [ST_DEL_METRICS] = "DELETE FROM metrics WHERE session_id = ?1",
    [ST_DEL_FEEDBACK] = "DELETE FROM feedback WHERE session_id = ?1",
    [ST_DEL_CHUNKS] = "DELETE FROM snapshot_chunks WHERE session_id = ?1",
    [ST_DEL_SESSION] = "DELETE FROM sessions WHERE id = ?1",
};

/* Read statements, prepared lazily on each read-only connection. */
enum { RQ_LOAD, RQ_LOAD_ONE, RQ_LIST_FIRST, RQ_LIST_AFTER, RQ_METRICS, RQ_FEEDBACK, RQ_CHUNKS_SIZE, RQ_CHUNKS,
       RQ_COUNT };

static const char *const rq_sql[RQ_COUNT] = {
    [RQ_LOAD] = "SELECT id, meta_json, status, created_ms, step, snapshot, nchunks FROM sessions ORDER BY id",
    [RQ_LOAD_ONE] = "SELECT id, meta_json, status, created_ms, step, snapshot, nchunks FROM sessions WHERE id = ?1",
    [RQ_LIST_FIRST] = "SELECT id, meta_json, status, created_ms, step FROM sessions ORDER BY id LIMIT ?2",
    [RQ_LIST_AFTER] = "SELECT id, meta_json, status, created_ms, step FROM sessions WHERE id > ?1"
                      " ORDER BY id LIMIT ?2",
    [RQ_METRICS] = "SELECT step, time_ms, loss, grad_norm, update_norm, param_norm, lr, duration_us"
                   " FROM metrics WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
    [RQ_FEEDBACK] = "SELECT step, loss, metrics_json, time_ms FROM feedback"
                    " WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
    [RQ_CHUNKS_SIZE] = "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(min(seq), 0), coalesce(max(seq), -1)"
                       " FROM snapshot_chunks WHERE session_id = ?1",
    [RQ_CHUNKS] = "SELECT data FROM snapshot_chunks WHERE session_id = ?1 ORDER BY seq",
};

typedef struct reader {
    sqlite3      *db;
    sqlite3_stmt *st[RQ_COUNT];
} reader;

struct store {
    char           *path;
    /* writer side: the connection and its statements belong to the writer
     * thread (and to store_open/store_close before it starts/after it ends). */
    sqlite3        *w;
    sqlite3_stmt   *st[ST_COUNT];
    int             wal_frames;        /* set by the WAL hook after each commit */
    int             since_ckpt;        /* commits since the last checkpoint */
    pthread_t       thread;
    store_files     files;             /* the database and WAL files opened (immutable) */
    atomic_int      write_fault;       /* the newest transaction failed with a full disk or I/O error */
    atomic_int      lost_logged;       /* files_lost's last answer, as reported on stderr */
    /* the queue, under mu */
    pthread_mutex_t mu;
    pthread_cond_t  cv_work, cv_done;
    job            *head, *tail;
    job            *snaps;             /* queued async snapshots, for coalescing */
    size_t          chunk_bytes;       /* snapshots longer than this are stored in chunks */
    int             stop, hold;
    store_stats     stats;
    /* idle read-only connections, under rmu (never mu) */
    pthread_mutex_t rmu;
    reader        **idle;
    int             nidle, cap_idle;
    reader        **lent;              /* lent out raw by store_reader_acquire */
    int             nlent, cap_lent;
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

static job *job_new(job_kind kind, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    job *j = calloc(1, sizeof *j + n + 1);
    if (!j) return NULL;
    j->kind = kind;
    if (id) memcpy(j->id, id, n + 1);
    return j;
}

static void job_free(job *j)
{
    if (!j) return;
    free(j->text);
    free(j->text2);
    free(j->blob);
    free(j);
}

/* Binds v, or NULL when it is not finite: SQLite would turn NaN into NULL
 * anyway, and ±inf would poison aggregates. */
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

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Steps a bound write statement to completion and resets it. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- the writer ------------------------------------------------------------------ */

/* Chunks j's snapshot takes: 0 when it fits in the session row. */
static int64_t snapshot_nchunks(const store *s, const job *j)
{
    return j->blob_len > s->chunk_bytes ? (int64_t)((j->blob_len + s->chunk_bytes - 1) / s->chunk_bytes) : 0;
}

/* Replaces the session's chunks by the nchunks pieces of j's snapshot
 * (none: just drops the old ones).  Runs after the session row is written. */
static int snapshot_put_chunks(store *s, const job *j, int64_t nchunks)
{
    sqlite3_stmt *st = s->st[ST_DEL_CHUNKS];
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    int rc = step_done(st);
    for (int64_t k = 0; rc == SQLITE_OK && k < nchunks; k++) {
        size_t off = (size_t)k * s->chunk_bytes;
        size_t len = j->blob_len - off < s->chunk_bytes ? j->blob_len - off : s->chunk_bytes;
        st = s->st[ST_CHUNK];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, k);
        sqlite3_bind_blob64(st, 3, (const char *)j->blob + off, len, SQLITE_STATIC);
        rc = step_done(st);
    }
    return rc;
}

/* Runs one job's statements on the write connection, inside the caller's
 * transaction.  SQLITE_OK or an SQLite error code. */
static int job_run(store *s, job *j)
{
    int64_t nch;
    int rc;
    sqlite3_stmt *st;
    switch (j->kind) {
    case JOB_CREATE:
        nch = snapshot_nchunks(s, j);
        st = s->st[ST_CREATE];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        bind_text(st, 2, j->text);
        sqlite3_bind_int64(st, 3, j->i1);
        sqlite3_bind_int64(st, 4, j->i2);
        sqlite3_bind_blob64(st, 5, j->blob && !nch ? j->blob : "", nch ? 0 : j->blob_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, nch);
        rc = step_done(st);
        return rc == SQLITE_OK && nch ? snapshot_put_chunks(s, j, nch) : rc;
    case JOB_SNAPSHOT:
        nch = snapshot_nchunks(s, j);
        st = s->st[ST_SNAPSHOT];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 2, j->blob && !nch ? j->blob : "", nch ? 0 : j->blob_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, j->i1);
        sqlite3_bind_int64(st, 4, wall_ms());
        sqlite3_bind_int64(st, 5, nch);
        rc = step_done(st);
        return rc == SQLITE_OK ? snapshot_put_chunks(s, j, nch) : rc;
    case JOB_UPDATE:
        st = s->st[ST_UPDATE];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        bind_text(st, 2, j->text);
        bind_text(st, 3, j->text2);
        sqlite3_bind_int64(st, 4, wall_ms());
        return step_done(st);
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
        return step_done(st);
    case JOB_FEEDBACK:
        st = s->st[ST_FEEDBACK];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, j->i1);
        bind_real(st, 3, j->loss);
        bind_text(st, 4, j->text);
        sqlite3_bind_int64(st, 5, wall_ms());
        return step_done(st);
    case JOB_DELETE:
        for (int k = ST_DEL_METRICS; k <= ST_DEL_SESSION; k++) {
            sqlite3_bind_text(s->st[k], 1, j->id, -1, SQLITE_STATIC);
            rc = step_done(s->st[k]);
            if (rc != SQLITE_OK) return rc;
        }
        return SQLITE_OK;
    case JOB_EXEC:
        return exec(s->w, j->text);
    case JOB_CALL:
        return j->fn(s->w, j->ctx);
    case JOB_FLUSH:
        return SQLITE_OK;
    }
    return SQLITE_MISUSE;
}

static int has_work(const job *j)
{
    return !j->skip && j->kind != JOB_FLUSH;
}

static void rollback(sqlite3 *db)
{
    /* SQLITE_FULL/IOERR may already have rolled the transaction back. */
    if (!sqlite3_get_autocommit(db)) exec(db, "ROLLBACK");
}

/* Remembers whether the newest transaction failed for want of storage (a
 * full disk, an I/O error, a read-only or vanished file); a constraint
 * failure is a bad job, not a storage fault, and changes nothing. */
static void note_result(store *s, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: atomic_store(&s->write_fault, 0); break;
    case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_READONLY: case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT: case SQLITE_NOTADB: atomic_store(&s->write_fault, 1); break;
    default: break;
    }
}

/* 1 when the database files are no longer the ones opened, or not writable.
 * Each change between the two states is reported once on stderr. */
static int files_lost(store *s)
{
    const char *why;
    int lost = store_files_check(&s->files, &why) != 0;
    if (atomic_exchange(&s->lost_logged, lost) != lost) {
        if (lost) fprintf(stderr, "optirsd: %s: %s: every write is refused (a deleted or replaced database "
                                  "does not come back: restart the daemon)\n", s->files.db, why);
        else fprintf(stderr, "optirsd: %s: writable again\n", s->files.db);
    }
    return lost;
}

/* Per-batch counters, folded into store_stats under mu. */
typedef struct batch_stats {
    int64_t commits, errors, jobs_failed, us_total, us_max;
} batch_stats;

static void batch_time(batch_stats *bs, int64_t dt)
{
    bs->us_total += dt;
    if (dt > bs->us_max) bs->us_max = dt;
}

/* Runs `list` in one transaction (group commit).  If that fails, rolls back
 * and runs each job in a transaction of its own, so a bad job fails alone.
 * When no transaction can even begin (the database is locked by another
 * process past busy_timeout), the remaining jobs fail without a retry each:
 * retrying would cost busy_timeout per job.  Sets every job's result. */
static void batch_run(store *s, job *list, batch_stats *bs)
{
    int any = 0;
    for (job *j = list; j; j = j->next) {
        j->result = 0;
        any |= has_work(j);
    }
    if (!any) return;              /* only flushes and superseded snapshots */

    /* A database deleted, replaced or made read-only under the daemon takes
     * no more commits: they would "succeed" into a file nobody will read. */
    int lost = files_lost(s);
    int64_t t0 = mono_us();
    int rc = lost ? SQLITE_IOERR : exec(s->w, "BEGIN IMMEDIATE");
    for (job *j = list; rc == SQLITE_OK && j; j = j->next)
        if (has_work(j)) rc = job_run(s, j);
    if (rc == SQLITE_OK) rc = exec(s->w, "COMMIT");
    batch_time(bs, mono_us() - t0);
    if (!lost) note_result(s, rc);
    if (rc == SQLITE_OK) {
        bs->commits++;
        return;
    }
    rollback(s->w);
    bs->errors++;

    int failed_before = 0, unavailable = lost;
    for (job *j = list; j; j = j->next) {
        if (!has_work(j)) {
            /* A flush reports whether the jobs before it in its batch landed. */
            if (j->kind == JOB_FLUSH && failed_before) j->result = ERR_STORAGE;
            continue;
        }
        if (unavailable) {
            bs->jobs_failed++;
            failed_before = 1;
            j->result = ERR_STORAGE;
            continue;
        }
        t0 = mono_us();
        int r = exec(s->w, "BEGIN IMMEDIATE");
        unavailable = r != SQLITE_OK;
        if (r == SQLITE_OK) r = job_run(s, j);
        if (r == SQLITE_OK) r = exec(s->w, "COMMIT");
        batch_time(bs, mono_us() - t0);
        note_result(s, r);
        if (r == SQLITE_OK) {
            bs->commits++;
        } else {
            rollback(s->w);
            bs->errors++;
            bs->jobs_failed++;
            failed_before = 1;
            j->result = ERR_STORAGE;
        }
    }
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((store *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

/* PASSIVE checkpoints, only ever from the write connection (PITFALLS: the
 * WAL-reset bug of 3.40 needs two connections checkpointing/writing). */
static int maybe_checkpoint(store *s, int64_t commits)
{
    s->since_ckpt += (int)commits;
    int due = s->since_ckpt >= CKPT_EVERY_COMMITS ||
              (s->wal_frames >= CKPT_WAL_FRAMES && s->since_ckpt >= CKPT_MIN_COMMITS);
    if (!due) return 0;
    sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    s->since_ckpt = 0;
    return 1;
}

static void *writer_main(void *arg)
{
    store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while ((!s->head || s->hold) && !s->stop) pthread_cond_wait(&s->cv_work, &s->mu);
        if (!s->head) break;      /* stopping and drained */
        job *list = s->head;
        s->head = s->tail = NULL;
        s->snaps = NULL;          /* taken jobs can no longer be superseded */
        s->stats.queue_depth = 0;
        pthread_mutex_unlock(&s->mu);

        batch_stats bs = {0};
        batch_run(s, list, &bs);
        int ckpt = maybe_checkpoint(s, bs.commits);

        pthread_mutex_lock(&s->mu);
        s->stats.commits += bs.commits;
        s->stats.errors += bs.errors;
        s->stats.jobs_failed += bs.jobs_failed;
        s->stats.commit_us_total += bs.us_total;
        if (bs.us_max > s->stats.commit_us_max) s->stats.commit_us_max = bs.us_max;
        s->stats.checkpoints += ckpt;
        for (job *j = list, *next; j; j = next) {
            next = j->next;       /* a waiter may free j as soon as done is set */
            s->stats.jobs++;
            if (j->wait) j->done = 1;
            else job_free(j);
        }
        pthread_cond_broadcast(&s->cv_done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Drops the queued async snapshot of j->id, if any, from the coalescing
 * list; returns it.  Under mu. */
static job *snaps_take(store *s, const char *id)
{
    for (job **p = &s->snaps; *p; p = &(*p)->snext) {
        if (strcmp((*p)->id, id) == 0) {
            job *k = *p;
            *p = k->snext;
            k->snext = NULL;
            return k;
        }
    }
    return NULL;
}

/* Queues j; with j->wait, waits for its commit and returns its result.
 * Frees j in every case except an async job that was queued. */
static int submit(store *s, job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        return ERR_STORAGE;
    }
    if (j->kind == JOB_SNAPSHOT || j->kind == JOB_CREATE || j->kind == JOB_DELETE) {
        /* An async snapshot still in the queue is superseded by a newer
         * snapshot of the same session: free its buffer now.  The newer job
         * keeps its own place in the queue, so ordering is unchanged. */
        job *old = snaps_take(s, j->id);
        if (old && j->kind == JOB_SNAPSHOT) {
            old->skip = 1;
            free(old->blob);
            old->blob = NULL;
            s->stats.coalesced++;
        }
        if (j->kind == JOB_SNAPSHOT && !j->wait) {
            j->snext = s->snaps;
            s->snaps = j;
        }
    }
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    s->stats.queue_depth++;
    pthread_cond_signal(&s->cv_work);
    int wait = j->wait, rc = 0;
    if (wait) {
        while (!j->done) pthread_cond_wait(&s->cv_done, &s->mu);
        rc = j->result;
    }
    pthread_mutex_unlock(&s->mu);
    if (wait) job_free(j);
    return rc;
}

/* ---- open / close ---------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (!rc) *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Applies migrations[version..] in order, each with its user_version bump
 * in one transaction.  0 or -1 (message on stderr). */
static int migrate(sqlite3 *db)
{
    int version;
    if (pragma_int(db, "PRAGMA user_version", &version)) return -1;
    if (version > SCHEMA_VERSION) {
        fprintf(stderr, "optirsd: database schema %d is newer than this daemon's %d\n", version, SCHEMA_VERSION);
        return -1;
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) return -1;
        if (exec(db, migrations[v]) != SQLITE_OK || exec(db, pragma) != SQLITE_OK ||
            exec(db, "COMMIT") != SQLITE_OK) {
            fprintf(stderr, "optirsd: migration to schema %d failed: %s\n", v + 1, sqlite3_errmsg(db));
            rollback(db);
            return -1;
        }
    }
    return 0;
}

/* journal_mode answers with the mode in force, which may not be WAL. */
static int set_wal(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) return -1;
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

static void writer_close(store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close(s->w);
    s->w = NULL;
}

static void store_free(store *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->cv_work);
    pthread_cond_destroy(&s->cv_done);
    store_files_deinit(&s->files);
    free(s->path);
    free(s);
}

int store_open(const char *path, store **out)
{
    *out = NULL;
    if (!path) return ERR_INVALID_ARGUMENT;
    store *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    s->path = strdup(path);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->cv_work, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    int fk = 0;
    int ok = s->path && sqlite3_open_v2(path, &s->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                       SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK;
    /* WAL + synchronous=NORMAL: a commit survives the death of the process
     * (kill -9); an OS crash or power loss may lose the last commits. */
    ok = ok && sqlite3_busy_timeout(s->w, BUSY_TIMEOUT_MS) == SQLITE_OK && set_wal(s->w) == 0 &&
         exec(s->w, "PRAGMA synchronous = NORMAL") == SQLITE_OK &&
         exec(s->w, "PRAGMA foreign_keys = ON") == SQLITE_OK &&
         pragma_int(s->w, "PRAGMA foreign_keys", &fk) == 0 && fk == 1 && migrate(s->w) == 0 &&
         store_files_init(&s->files, s->w) == 0;
    for (int i = 0; ok && i < ST_COUNT; i++)
        ok = sqlite3_prepare_v3(s->w, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) == SQLITE_OK;
    s->chunk_bytes = STORE_CHUNK_BYTES_DEFAULT;
    if (ok) {
        /* Replaces the automatic checkpoint: the writer decides when. */
        sqlite3_wal_hook(s->w, wal_hook, s);
        ok = pthread_create(&s->thread, NULL, writer_main, s) == 0;
    }
    if (!ok) {
        if (s->w && sqlite3_errcode(s->w) != SQLITE_OK) fprintf(stderr, "optirsd: %s: %s\n", path, sqlite3_errmsg(s->w));
        writer_close(s);
        store_free(s);
        return ERR_STORAGE;
    }
    *out = s;
    return 0;
}

void store_set_chunk_bytes(store *s, size_t bytes)
{
    s->chunk_bytes = bytes < STORE_CHUNK_BYTES_MIN ? STORE_CHUNK_BYTES_MIN : bytes;
}

int store_schema_version(void)
{
    return SCHEMA_VERSION;
}

static void reader_close(reader *r)
{
    if (!r) return;
    for (int i = 0; i < RQ_COUNT; i++) sqlite3_finalize(r->st[i]);
    sqlite3_close(r->db);
    free(r);
}

void store_close(store *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    s->hold = 0;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);   /* the writer drains the queue first */
    for (int i = 0; i < s->nidle; i++) reader_close(s->idle[i]);
    free(s->idle);
    for (int i = 0; i < s->nlent; i++) reader_close(s->lent[i]);   /* not given back: a caller's bug */
    free(s->lent);
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    writer_close(s);
    store_free(s);
}

/* ---- writes -------------------------------------------------------------------- */

static int dup_opt(const char *src, char **dst)
{
    *dst = NULL;
    if (!src) return 0;
    *dst = strdup(src);
    return *dst ? 0 : ERR_NO_MEMORY;
}

int store_session_create_take(store *s, const char *id, const char *meta_json, int64_t created_ms, int64_t step,
                              void *snapshot, size_t snapshot_len)
{
    if (!s || !id || !meta_json) {
        free(snapshot);
        return ERR_INVALID_ARGUMENT;
    }
    job *j = job_new(JOB_CREATE, id);
    if (!j || dup_opt(meta_json, &j->text)) {
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
    if (!s || !id) {
        free(snapshot);
        return ERR_INVALID_ARGUMENT;
    }
    job *j = job_new(JOB_SNAPSHOT, id);
    if (!j) {
        free(snapshot);
        return ERR_NO_MEMORY;
    }
    j->i1 = step;
    j->blob = snapshot;
    j->blob_len = snapshot_len;
    j->wait = wait != 0;
    return submit(s, j);
}

int store_session_update(store *s, const char *id, const char *status, const char *meta_json)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    job *j = job_new(JOB_UPDATE, id);
    if (!j || dup_opt(status, &j->text) || dup_opt(meta_json, &j->text2)) {
        job_free(j);
        return ERR_NO_MEMORY;
    }
    return submit(s, j);
}

int store_metric(store *s, const char *id, const step_metric *m)
{
    if (!s || !id || !m) return ERR_INVALID_ARGUMENT;
    job *j = job_new(JOB_METRIC, id);
    if (!j) return ERR_NO_MEMORY;
    j->m = *m;
    return submit(s, j);
}

int store_feedback(store *s, const char *id, int64_t step, double loss, const char *metrics_json)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    job *j = job_new(JOB_FEEDBACK, id);
    if (!j || dup_opt(metrics_json, &j->text)) {
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
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    job *j = job_new(JOB_DELETE, id);
    if (!j) return ERR_NO_MEMORY;
    j->wait = 1;
    return submit(s, j);
}

int store_flush(store *s)
{
    if (!s) return ERR_INVALID_ARGUMENT;
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

void store_test_hold(store *s, int hold)
{
    pthread_mutex_lock(&s->mu);
    s->hold = hold != 0 && !s->stop;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
}

/* Runs `sql` on the writer thread in its transaction; waits for the commit. */
static int exec_wait(store *s, const char *sql)
{
    if (!s || !sql) return ERR_INVALID_ARGUMENT;
    job *j = job_new(JOB_EXEC, NULL);
    if (!j || dup_opt(sql, &j->text)) {
        job_free(j);
        return ERR_NO_MEMORY;
    }
    j->wait = 1;
    return submit(s, j);
}

int store_health(store *s, int writes, const char **reason)
{
    const char *why = NULL;
    if (!s) return ERR_INVALID_ARGUMENT;
    if (store_files_check(&s->files, &why) == 0 && writes && atomic_load(&s->write_fault)) {
        /* The newest write failed: is there room again?  A one-page write
         * (user_version set to what it is) tells, and clears the fault. */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        exec_wait(s, sql);
        if (atomic_load(&s->write_fault)) why = "storage_write_failed";
    }
    if (reason) *reason = why;
    return why ? ERR_STORAGE : 0;
}

int store_test_exec(store *s, const char *sql)
{
    return exec_wait(s, sql);
}

/* ---- reads ------------------------------------------------------------------------ */

/* A read-only connection for the calling thread: an idle one from the pool
 * or a new one.  NULL when the database cannot be opened. */
static reader *reader_get(store *s)
{
    reader *r = NULL;
    pthread_mutex_lock(&s->rmu);
    if (s->nidle) r = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->rmu);
    if (r) return r;
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        reader_close(r);
        return NULL;
    }
    /* A reader never checkpoints (PITFALLS: only the writer may). */
    sqlite3_db_config(r->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    return r;
}

/* Returns r to the pool; a reader that failed is closed instead. */
static void reader_put(store *s, reader *r, int failed)
{
    if (!failed) {
        pthread_mutex_lock(&s->rmu);
        if (s->nidle == s->cap_idle) {
            int cap = s->cap_idle ? s->cap_idle * 2 : 8;
            reader **v = realloc(s->idle, (size_t)cap * sizeof *v);
            if (v) {
                s->idle = v;
                s->cap_idle = cap;
            }
        }
        if (s->nidle < s->cap_idle) {
            s->idle[s->nidle++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&s->rmu);
    }
    reader_close(r);
}

/* 1 when every statement open on r's connection is one of its own cached
 * ones (so nothing a borrower prepared is left behind). */
static int reader_owns_all(reader *r)
{
    for (sqlite3_stmt *p = sqlite3_next_stmt(r->db, NULL); p; p = sqlite3_next_stmt(r->db, p)) {
        int mine = 0;
        for (int q = 0; q < RQ_COUNT; q++) mine |= p == r->st[q];
        if (!mine) return 0;
    }
    return 1;
}

/* The prepared statement `q` of reader r, prepared on first use. */
static sqlite3_stmt *reader_stmt(reader *r, int q)
{
    if (!r->st[q] && sqlite3_prepare_v3(r->db, rq_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &r->st[q], NULL) != SQLITE_OK)
        return NULL;
    return r->st[q];
}

/* Resets st (ending its read transaction, so it pins no WAL snapshot),
 * returns the reader and maps the last step result to 0/ERR_STORAGE. */
static int query_end(store *s, reader *r, sqlite3_stmt *st, int rc)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int failed = rc != SQLITE_DONE && rc != SQLITE_ROW;
    reader_put(s, r, failed);
    return failed ? ERR_STORAGE : 0;
}

/* Reads the nch chunks of session `id` in seq order into one malloc'd
 * buffer (*out, *len; the caller frees it).  Leaves *out NULL when the
 * chunks are not exactly seq 0 … nch − 1 or memory runs out. */
static void chunks_join(reader *r, const char *id, int64_t nch, void **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    sqlite3_stmt *st = reader_stmt(r, RQ_CHUNKS_SIZE);
    if (!st) return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == nch &&
             sqlite3_column_int64(st, 2) == 0 && sqlite3_column_int64(st, 3) == nch - 1;
    sqlite3_int64 total = ok ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    char *buf = ok && total > 0 && (uint64_t)total <= SIZE_MAX ? malloc((size_t)total) : NULL;
    if (!buf || !(st = reader_stmt(r, RQ_CHUNKS))) {
        free(buf);
        return;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    size_t at = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > (size_t)total - at) break;
        if (n) memcpy(buf + at, p, n);
        at += n;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE || at != (size_t)total) {
        free(buf);
        return;
    }
    *out = buf;
    *len = at;
}

static int session_rows(store *s, int q, const char *after, int limit,
                        int (*fn)(void *, const store_session_row *), void *ctx)
{
    reader *r = reader_get(s);
    if (!r) return ERR_STORAGE;
    sqlite3_stmt *st = reader_stmt(r, q);
    if (!st) {
        reader_put(s, r, 1);
        return ERR_STORAGE;
    }
    if (q == RQ_LOAD_ONE) {
        bind_text(st, 1, after);
    } else if (q != RQ_LOAD) {
        bind_text(st, 1, after);
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
        void *joined = NULL;
        if (q == RQ_LOAD || q == RQ_LOAD_ONE) {
            int64_t nch = sqlite3_column_int64(st, 6);
            if (nch > 0) {
                /* A missing, extra or unreadable chunk leaves an empty
                 * snapshot: the reader's check answers ERR_CORRUPT. */
                chunks_join(r, row.id, nch, &joined, &row.snapshot_len);
                row.snapshot = joined;
            } else {
                row.snapshot = sqlite3_column_blob(st, 5);
                row.snapshot_len = (size_t)sqlite3_column_bytes(st, 5);
            }
        }
        int stop = fn(ctx, &row);
        free(joined);
        if (stop) break;
    }
    return query_end(s, r, st, rc);
}

int store_sessions_load(store *s, int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    return session_rows(s, RQ_LOAD, NULL, -1, fn, ctx);
}

typedef struct one_ctx {
    int found;
    int (*fn)(void *, const store_session_row *);
    void *ctx;
} one_ctx;

static int one_row(void *ctx, const store_session_row *row)
{
    one_ctx *c = ctx;
    c->found = 1;
    c->fn(c->ctx, row);
    return 1;
}

int store_session_load(store *s, const char *id, int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    if (!id) return ERR_INVALID_ARGUMENT;
    one_ctx c = {0, fn, ctx};
    int rc = session_rows(s, RQ_LOAD_ONE, id, 1, one_row, &c);
    if (rc) return rc;
    return c.found ? 0 : ERR_SESSION_NOT_FOUND;
}

int store_sessions_list(store *s, const char *after_id, int limit,
                        int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    return session_rows(s, after_id ? RQ_LIST_AFTER : RQ_LIST_FIRST, after_id, limit < 0 ? -1 : limit, fn, ctx);
}

/* Prepares query q for (id, after, limit) on a pooled reader. */
static sqlite3_stmt *range_begin(store *s, int q, const char *id, int64_t after, int limit, reader **out)
{
    reader *r = reader_get(s);
    if (!r) return NULL;
    sqlite3_stmt *st = reader_stmt(r, q);
    if (!st) {
        reader_put(s, r, 1);
        return NULL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit < 0 ? -1 : limit);
    *out = r;
    return st;
}

int store_metrics_query(store *s, const char *id, int64_t after, int limit,
                        int (*fn)(void *ctx, const step_metric *m), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    reader *r;
    sqlite3_stmt *st = id ? range_begin(s, RQ_METRICS, id, after, limit, &r) : NULL;
    if (!st) return id ? ERR_STORAGE : ERR_INVALID_ARGUMENT;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        step_metric m = {.step = sqlite3_column_int64(st, 0), .time_ms = sqlite3_column_int64(st, 1),
                         .loss = col_real(st, 2), .grad_norm = col_real(st, 3), .update_norm = col_real(st, 4),
                         .param_norm = col_real(st, 5), .lr = col_real(st, 6), .duration_us = col_real(st, 7)};
        if (fn(ctx, &m) != 0) break;
    }
    return query_end(s, r, st, rc);
}

int store_feedback_query(store *s, const char *id, int64_t after, int limit,
                         int (*fn)(void *ctx, const store_feedback_row *f), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    reader *r;
    sqlite3_stmt *st = id ? range_begin(s, RQ_FEEDBACK, id, after, limit, &r) : NULL;
    if (!st) return id ? ERR_STORAGE : ERR_INVALID_ARGUMENT;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_feedback_row f = {.step = sqlite3_column_int64(st, 0), .loss = col_real(st, 1),
                                .metrics_json = (const char *)sqlite3_column_text(st, 2),
                                .time_ms = sqlite3_column_int64(st, 3)};
        if (fn(ctx, &f) != 0) break;
    }
    return query_end(s, r, st, rc);
}

/* ---- for the other files of the module (store_internal.h) ------------------------- */

int store_call(store *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx)
{
    if (!s || !fn) return ERR_INVALID_ARGUMENT;
    job *j = job_new(JOB_CALL, NULL);
    if (!j) return ERR_NO_MEMORY;
    j->fn = fn;
    j->ctx = ctx;
    j->wait = 1;
    return submit(s, j);
}

sqlite3 *store_reader_acquire(store *s)
{
    if (!s) return NULL;
    reader *r = reader_get(s);
    if (!r) return NULL;
    pthread_mutex_lock(&s->rmu);
    if (s->nlent == s->cap_lent) {
        int cap = s->cap_lent ? s->cap_lent * 2 : 8;
        reader **v = realloc(s->lent, (size_t)cap * sizeof *v);
        if (v) {
            s->lent = v;
            s->cap_lent = cap;
        }
    }
    int ok = s->nlent < s->cap_lent;
    if (ok) s->lent[s->nlent++] = r;
    pthread_mutex_unlock(&s->rmu);
    if (!ok) {
        reader_close(r);
        return NULL;
    }
    return r->db;
}

void store_reader_release(store *s, sqlite3 *db)
{
    if (!db) return;
    reader *r = NULL;
    pthread_mutex_lock(&s->rmu);
    for (int i = 0; i < s->nlent; i++) {
        if (s->lent[i]->db == db) {
            r = s->lent[i];
            s->lent[i] = s->lent[--s->nlent];
            break;
        }
    }
    pthread_mutex_unlock(&s->rmu);
    /* A caller may have left a statement open; such a reader is not reused. */
    if (r) reader_put(s, r, !reader_owns_all(r));
}
