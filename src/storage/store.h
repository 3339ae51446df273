/* store.h — everything optirsd keeps: sessions, their snapshots, step
 * metrics and feedback, in one SQLite database.
 *
 * SQLite runs in WAL mode with synchronous=NORMAL and busy_timeout set
 * explicitly.  One writer thread owns the only write connection: every write
 * is a job on its queue, and the writer commits whatever is queued in one
 * transaction (group commit).  A caller that needs durability waits for the
 * commit of its job (the *_sync functions); the others return at once.
 * Queries open their own read-only connection per calling thread and never
 * block the writer.  The schema is versioned (PRAGMA user_version) and
 * migrated forward on open.
 *
 * Ownership: functions that take a `void *blob` with `take` in their name
 * take ownership of a malloc'd buffer and free it.  Strings are copied.
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
/* Drains the queue, commits, checkpoints the WAL and closes.  NULL is fine. */
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
 * commit (0 or ERR_STORAGE); with wait=0 returns 0 at once. */
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

/* Blocks until everything queued so far is committed.  0 or ERR_STORAGE. */
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
 * start), at most `limit`.  Rows carry no snapshot.  0 or ERR_STORAGE. */
int  store_sessions_list(store *s, const char *after_id, int limit,
                         int (*fn)(void *ctx, const store_session_row *row), void *ctx);

/* Metrics rows of session `id` with step > after, ascending, at most limit. */
int  store_metrics_query(store *s, const char *id, int64_t after, int limit,
                         int (*fn)(void *ctx, const step_metric *m), void *ctx);

typedef struct store_feedback_row {
    int64_t step; double loss; const char *metrics_json; int64_t time_ms;
} store_feedback_row;
/* Feedback rows of session `id` with step > after, ascending, at most limit. */
int  store_feedback_query(store *s, const char *id, int64_t after, int limit,
                          int (*fn)(void *ctx, const store_feedback_row *f), void *ctx);

typedef struct store_stats {
    int64_t queue_depth;        /* jobs waiting for the writer */
    int64_t commits;            /* transactions committed */
    int64_t commit_us_total;    /* time spent committing */
    int64_t commit_us_max;
    int64_t errors;             /* failed transactions */
} store_stats;
void store_get_stats(store *s, store_stats *out);

#endif
