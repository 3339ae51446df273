/* store.h — everything optirsd keeps: sessions, their snapshots, step
 * metrics and feedback, in one SQLite database.
 *
 * SQLite runs in WAL mode with synchronous=NORMAL and busy_timeout set
 * explicitly on every connection, foreign keys on.  Durability promise: a
 * write whose commit has returned survives the death of the process (kill -9,
 * crash); an OS crash or power loss may lose the last commits (WAL+NORMAL
 * syncs at checkpoints, not at every commit).  One writer thread owns the
 * only write connection: every write is a job on its queue, and the writer
 * commits whatever is queued in one transaction (group commit).  If that
 * transaction fails, each of its jobs is retried in a transaction of its own,
 * so a bad job fails alone.  A caller that needs durability waits for the
 * commit of its job (the synchronous functions); the others return at once.
 * Jobs are applied in the order they were queued, so a synchronous call
 * returns only after every job queued before it has been processed.  The
 * writer also runs the PASSIVE WAL checkpoints (every 256 commits, or sooner
 * when the WAL is large); no other connection ever checkpoints.
 * Queries use read-only connections (one per concurrent caller, pooled,
 * opened lazily, closed by store_close) and never block the writer.  The
 * schema is versioned (PRAGMA user_version) and migrated forward on open.
 *
 * Values: doubles that are not finite are stored as NULL and read back as
 * NAN — a NaN loss comes back as NaN, while ±inf in a metric or feedback
 * comes back as NaN too (SQLite has no NaN and ±inf would poison aggregates).
 * Rows for a session that does not exist (never created, or deleted, even by
 * a delete queued before them) — snapshots, metrics, feedback, updates — are
 * dropped silently.
 *
 * Errors: 0 or a negative ERR_*; ERR_STORAGE when the database could not be
 * written or read (disk full, I/O error, constraint such as a duplicate
 * session id), ERR_INVALID_ARGUMENT for a NULL store/id, ERR_NO_MEMORY.  The
 * writer keeps running after any error.  Asynchronous jobs have no waiter:
 * their failures show in store_stats.jobs_failed.
 *
 * Ownership: functions that take a `void *blob` with `take` in their name
 * take ownership of a malloc'd buffer and free it, whatever they return.
 * Strings are copied.
 * Thread rules: every function is safe from any thread, except store_close,
 * which must be the last call. */
#ifndef OPTIRS_STORE_H
#define OPTIRS_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* Opens (creating and migrating) the database at `path` and starts the
 * writer thread.  Returns 0 or ERR_STORAGE. */
int  store_open(const char *path, store **out);
/* Drains the queue, commits, checkpoints the WAL (TRUNCATE) and closes every
 * connection.  NULL is fine. */
void store_close(store *s);

/* ---- writes ---------------------------------------------------------- */

/* A new session: its id, its config/description as JSON text (returned
 * by GET), creation time, and its first snapshot.  Synchronous.
 * Takes ownership of `snapshot`.  0 or ERR_STORAGE. */
int  store_session_create_take(store *s, const char *id, const char *meta_json,
                               int64_t created_ms, int64_t step,
                               void *snapshot, size_t snapshot_len);

/* Replaces the session's snapshot (params, optimizer state, last answer) as
 * of `step`.  Takes ownership of `snapshot`.  With wait=1 returns after the
 * commit (0 or ERR_STORAGE); with wait=0 returns 0 at once.  An asynchronous
 * snapshot still waiting in the queue when a newer snapshot of the same
 * session is queued is never written: its buffer is freed at once and only
 * the newest is written (counted in store_stats.coalesced). */
int  store_snapshot_take(store *s, const char *id, int64_t step,
                         void *snapshot, size_t snapshot_len, int wait);

/* Updates the session's status text (e.g. "active", "diverged") and meta JSON
 * (NULL keeps it).  Asynchronous. */
int  store_session_update(store *s, const char *id, const char *status, const char *meta_json);

typedef struct step_metric {
    int64_t step;
    int64_t time_ms;            /* wall clock when the step was applied */
    double  loss;               /* NAN when the step carried none */
    double  grad_norm, update_norm, param_norm, lr;
    double  duration_us;        /* time spent computing the step */
} step_metric;

/* Appends one metrics row.  Asynchronous (rides the next group commit). */
int  store_metric(store *s, const char *id, const step_metric *m);

/* Stores feedback for a step: loss and an optional JSON object of metrics.
 * Synchronous: 0 or ERR_STORAGE. */
int  store_feedback(store *s, const char *id, int64_t step, double loss, const char *metrics_json);

/* Deletes a session and everything it owns.  Synchronous. */
int  store_session_delete(store *s, const char *id);

/* Blocks until everything queued so far is processed.  0, or ERR_STORAGE when
 * a job queued before it in the same transaction batch failed. */
int  store_flush(store *s);

/* ---- reads (read-only connections; safe from any thread) -------------- */

typedef struct store_session_row {
    const char *id;
    const char *meta_json;
    const char *status;
    int64_t     created_ms;
    int64_t     step;           /* step of the snapshot */
    const void *snapshot;       /* only for store_sessions_load */
    size_t      snapshot_len;
} store_session_row;

/* Calls fn for every session with its snapshot (used at start-up).  The row
 * is valid only during the call.  fn returns 0 to go on.  0 or ERR_STORAGE. */
int  store_sessions_load(store *s, int (*fn)(void *ctx, const store_session_row *row), void *ctx);

/* Calls fn once with session `id` and its snapshot (for a rollback).
 * 0, ERR_SESSION_NOT_FOUND or ERR_STORAGE. */
int  store_session_load(store *s, const char *id, int (*fn)(void *ctx, const store_session_row *row), void *ctx);

/* Lists sessions ordered by id, those with id > after_id (NULL = from the
 * start), at most `limit` (negative = no limit).  Rows carry no snapshot.
 * 0 or ERR_STORAGE.  (For every query: fn returning non-zero stops it early,
 * which is not an error; rows are valid only during the call.) */
int  store_sessions_list(store *s, const char *after_id, int limit,
                         int (*fn)(void *ctx, const store_session_row *row), void *ctx);

/* Metrics rows of session `id` with step > after, ascending, at most limit
 * (negative = no limit).  NULL columns come back as NAN.  0 or ERR_STORAGE. */
int  store_metrics_query(store *s, const char *id, int64_t after, int limit,
                         int (*fn)(void *ctx, const step_metric *m), void *ctx);

typedef struct store_feedback_row {
    int64_t step; double loss; const char *metrics_json; int64_t time_ms;
} store_feedback_row;
/* Feedback rows of session `id` with step > after, ascending, at most limit
 * (negative = no limit).  A later feedback for a step replaced the earlier. */
int  store_feedback_query(store *s, const char *id, int64_t after, int limit,
                          int (*fn)(void *ctx, const store_feedback_row *f), void *ctx);

typedef struct store_stats {
    int64_t queue_depth;        /* jobs waiting for the writer */
    int64_t commits;            /* transactions committed */
    int64_t commit_us_total;    /* time spent committing */
    int64_t commit_us_max;
    int64_t errors;             /* failed transactions (a failed batch, then each failed retry) */
    /* added by the storage task: */
    int64_t jobs;               /* jobs processed (written, dropped, coalesced or failed) */
    int64_t jobs_failed;        /* jobs that could not be written (their waiters got ERR_STORAGE) */
    int64_t coalesced;          /* asynchronous snapshots superseded before being written */
    int64_t checkpoints;        /* PASSIVE WAL checkpoints run by the writer */
} store_stats;
void store_get_stats(store *s, store_stats *out);

/* ---- test hooks (not for the daemon) ------------------------------------ */

/* hold=1 makes the writer leave the queue alone until hold=0, so a test can
 * build one batch deterministically.  Synchronous calls made meanwhile block.
 * store_close releases the hold. */
void store_test_hold(store *s, int hold);
/* Runs `sql` on the write connection inside the writer's transaction and
 * waits for the commit (e.g. "PRAGMA max_page_count = 1" to simulate a full
 * disk).  0 or ERR_STORAGE. */
int  store_test_exec(store *s, const char *sql);


/* ---- API keys and idempotency records (store_auth.c) ------------------- */

typedef struct store_key {
    char    id[32];             /* public key id, the part before the secret */
    char    tenant[64];
    uint8_t hash[32];           /* SHA-256 of the whole key */
    int     admin;
    int64_t created_ms;
    int64_t revoked_ms;         /* 0 while valid */
} store_key;

/* Synchronous writes: 0 or ERR_STORAGE (ERR_NOT_FOUND for an unknown id). */
int store_key_insert(store *s, const store_key *k);
int store_key_revoke(store *s, const char *id, int64_t now_ms);
/* Reads: 0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_key_get(store *s, const char *id, store_key *out);
int store_keys_list(store *s, int (*fn)(void *ctx, const store_key *k), void *ctx);
/* Number of keys that are not revoked. */
int store_keys_active(store *s, int64_t *count);

/* The first answer given to (tenant, key, route): its body hash, status and
 * body (the caller frees *body).  0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_idem_get(store *s, const char *tenant, const char *key, const char *route, uint8_t body_hash[32],
                   int *status, char **body, size_t *body_len);
/* Records an answer; a record that exists already is kept.  Synchronous. */
int store_idem_put(store *s, const char *tenant, const char *key, const char *route, const uint8_t body_hash[32],
                   int status, const char *body, size_t body_len);

#endif
