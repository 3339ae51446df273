/* store_schema.c — opening and closing the store: the pragmas every write
 * connection gets (WAL, synchronous=NORMAL, busy_timeout, foreign keys), the
 * schema as a list of forward migrations applied on open (PRAGMA
 * user_version), and the start and end of the writer thread.
 *
 * Invariants: migrations[] entries are never edited once shipped, only
 * appended; a database newer than this build is refused, never downgraded.
 * See store.h for the contract. */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "pg_keys.h"
#include "pg_studies.h"
#include "pg_weights.h"
#include "store_internal.h"

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
    /* 9: the session lifecycle (service/session_life.c): status_ms is when
     * the status last changed (the retention policy deletes an archived
     * session --session-ttl after it), taken as updated_ms for the sessions
     * already there; the list is sorted by creation time, newest first. */
    "ALTER TABLE sessions ADD COLUMN status_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE sessions SET status_ms = updated_ms;"
    "CREATE INDEX sessions_by_created ON sessions(created_ms DESC, id DESC);",
    /* 10: the lr each parameter group used at a step (a JSON array in the
     * session's group order; NULL without groups), beside the first
     * group's in lr. */
    "ALTER TABLE metrics ADD COLUMN group_lr TEXT;",
    /* 11: hyperparameter studies (store_studies.c): a study's normalised
     * request, its trials (state, parameters as JSON and as the sampler's
     * numbers, objective, heartbeat) and their intermediate values. */
    "CREATE TABLE studies("
    "  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, spec_json TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX studies_by_tenant ON studies(tenant, created_ms DESC, id);"
    "CREATE TABLE trials("
    "  study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE, number INTEGER NOT NULL,"
    "  state TEXT NOT NULL, params_json TEXT NOT NULL, x BLOB NOT NULL, value REAL,"
    "  started_ms INTEGER NOT NULL, heartbeat_ms INTEGER NOT NULL, finished_ms INTEGER,"
    "  PRIMARY KEY(study_id, number)) WITHOUT ROWID;"
    "CREATE TABLE trial_values("
    "  study_id TEXT NOT NULL, number INTEGER NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL,"
    "  PRIMARY KEY(study_id, number, step),"
    "  FOREIGN KEY(study_id, number) REFERENCES trials(study_id, number) ON DELETE CASCADE) WITHOUT ROWID;",
    /* 12: meta-sessions (store_metasess.c): a session's normalised request,
     * its round, its state (θ and the outer optimizer's moments as doubles)
     * and the tasks of the last round applied; the current round's
     * contributions (one row per task, its outer gradient as float32). */
    "CREATE TABLE meta_sessions("
    "  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, spec_json TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, round INTEGER NOT NULL, state BLOB NOT NULL, last_tasks TEXT NOT NULL);"
    "CREATE TABLE meta_contribs("
    "  session_id TEXT NOT NULL REFERENCES meta_sessions(id) ON DELETE CASCADE, round INTEGER NOT NULL,"
    "  task TEXT NOT NULL, grad BLOB NOT NULL, PRIMARY KEY(session_id, task)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

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
        if (store_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) return -1;
        if (store_exec(db, migrations[v]) != SQLITE_OK || store_exec(db, pragma) != SQLITE_OK ||
            store_exec(db, "COMMIT") != SQLITE_OK) {
            fprintf(stderr, "optirsd: migration to schema %d failed: %s\n", v + 1, sqlite3_errmsg(db));
            store_rollback(db);
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
    store_analytics_close(s);
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
    /* cv_work's timed wait (the writer's linger) counts on the monotonic clock. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv_work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->cv_done, NULL);
    int fk = 0;
    int ok = s->path && sqlite3_open_v2(path, &s->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                       SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK;
    /* WAL + synchronous=NORMAL: a commit survives the death of the process
     * (kill -9); an OS crash or power loss may lose the last commits. */
    ok = ok && sqlite3_busy_timeout(s->w, STORE_BUSY_TIMEOUT_MS) == SQLITE_OK && set_wal(s->w) == 0 &&
         store_exec(s->w, "PRAGMA synchronous = NORMAL") == SQLITE_OK &&
         store_exec(s->w, "PRAGMA foreign_keys = ON") == SQLITE_OK &&
         pragma_int(s->w, "PRAGMA foreign_keys", &fk) == 0 && fk == 1 && migrate(s->w) == 0 &&
         store_files_init(&s->files, s->w) == 0;
    for (int i = 0; ok && i < ST_COUNT; i++)
        ok = sqlite3_prepare_v3(s->w, store_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) == SQLITE_OK;
    s->chunk_bytes = STORE_CHUNK_BYTES_DEFAULT;
    if (ok) {
        /* Replaces the automatic checkpoint: the writer decides when. */
        sqlite3_wal_hook(s->w, store_wal_hook, s);
        ok = pthread_create(&s->thread, NULL, store_writer_main, s) == 0;
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

void store_close(store *s)
{
    if (!s) return;
    store_cluster_sessions_close(s);
    store_cluster_meta_close(s);   /* its thread reads this file */
    pg_studies_close(s->cstudies);
    s->cstudies = NULL;
    pg_keys_close(s->cluster);   /* first: its thread runs the weights' sync */
    s->cluster = NULL;
    pg_weights_close(s->cluster_w);
    s->cluster_w = NULL;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    s->hold = 0;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);   /* the writer drains the queue first */
    store_readers_close(s);
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    writer_close(s);
    store_free(s);
}
