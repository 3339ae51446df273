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
 * Ownership: functions that take a `void *blob` with `take` or `owned` in
 * their name take ownership of a malloc'd buffer and free it, whatever they
 * return.
 * Strings are copied.
 * Thread rules: every function is safe from any thread, except store_close,
 * which must be the last call. */
#ifndef OPTIRS_STORE_H
#define OPTIRS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "pg_sessions.h"

typedef struct store store;

/* Opens (creating and migrating) the database at `path` and starts the
 * writer thread.  Returns 0 or ERR_STORAGE (also for a database whose
 * user_version is newer than this build's schema: it is never downgraded). */
int  store_open(const char *path, store **out);
/* Snapshots longer than `bytes` are stored as chunks of that size (rows of
 * snapshot_chunks, read back in order and checked by the blob's own CRC),
 * so no snapshot meets SQLite's 1,000,000,000-byte blob limit.  Default
 * STORE_CHUNK_BYTES_DEFAULT; at least STORE_CHUNK_BYTES_MIN.  Call before
 * the first write. */
#define STORE_CHUNK_BYTES_DEFAULT (64u << 20)
#define STORE_CHUNK_BYTES_MIN     1024u
void store_set_chunk_bytes(store *s, size_t bytes);
/* The schema version (PRAGMA user_version) this build migrates databases to. */
int  store_schema_version(void);
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
int  store_snapshot_put_owned(store *s, const char *id, int64_t step,
                              void *snapshot, size_t snapshot_len, int wait);

/* Updates the session's status text (e.g. "active", "diverged") and meta JSON
 * (NULL keeps it).  Asynchronous. */
int  store_session_update(store *s, const char *id, const char *status, const char *meta_json);

/* The lifecycle's write (service/session_life.c): the status (NULL keeps
 * it; a change also sets status_ms to now_ms) and the meta JSON (NULL keeps
 * it), updated_ms = now_ms.  Synchronous.  0, ERR_SESSION_NOT_FOUND or
 * ERR_STORAGE. */
int  store_session_patch(store *s, const char *id, const char *status, const char *meta_json, int64_t now_ms);

#define STORE_GROUP_LR_MAX 256  /* the most parameter groups (the service's GROUPS_MAX) */
typedef struct step_metric {
    int64_t step;
    int64_t time_ms;            /* wall clock when the step was applied */
    double  loss;               /* NAN when the step carried none */
    double  grad_norm, update_norm, param_norm, lr;   /* lr: the first group's */
    double  duration_us;        /* time spent computing the step */
    /* The lr each parameter group used, in the session's group order:
     * ngroup_lr (1..STORE_GROUP_LR_MAX) values, or 0 and NULL (a session
     * without groups, a skipped step).  Writes copy them; on a read they
     * hold for the callback only.  Stored as a JSON array (non-finite: null). */
    int           ngroup_lr;
    const double *group_lr;
} step_metric;

/* Appends one metrics row.  Asynchronous (rides the next group commit). */
int  store_metric(store *s, const char *id, const step_metric *m);

/* Stores feedback for a step: loss and an optional JSON object of metrics.
 * Synchronous: 0 or ERR_STORAGE. */
int  store_feedback(store *s, const char *id, int64_t step, double loss, const char *metrics_json);

/* Deletes a session and everything it owns.  Synchronous. */
int  store_session_delete(store *s, const char *id);

/* Whether the database can take writes now: 0, or ERR_STORAGE with *reason
 * (may be NULL) a stable name — "database_deleted" (the file or its -wal is
 * gone from its path), "database_replaced" (another file is there),
 * "database_read_only", "database_unreachable" — and, with writes=1 only,
 * "storage_write_failed": the newest write transaction failed with a full
 * disk or an I/O error, and a one-page test write run now (on the writer,
 * waited for) fails too; its commit clears the fault.  The file checks are a
 * few stat/access calls.  While the files are deleted, replaced or read-only
 * the writer fails every job with ERR_STORAGE instead of committing into
 * them (a deleted file does not come back: restart the daemon).  Safe from
 * any thread. */
int  store_health(store *s, int writes, const char **reason);

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
    int64_t     updated_ms;     /* last write of the row (loads only) */
    int64_t     status_ms;      /* when the status last changed (loads only) */
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

/* Cluster mode (--cluster-db, pg_keys.h, pg_weights.h): from now on the
 * functions below that read and write keys use the cluster database's keys
 * instead of this file's (idempotency records stay here), and weights
 * records are written to the cluster database too (store_cluster_on_weights).  Call once, before serving.  0,
 * ERR_NO_MEMORY, or ERR_CLUSTER_DB with the reason in err (errn bytes). */
int  store_cluster_open(store *s, const char *target, double grace_s, char *err, size_t errn);
/* In cluster mode, fn(ctx) runs (on another thread) when another daemon
 * changed the keys; without it, nothing. */
void store_cluster_on_change(store *s, void (*fn)(void *ctx), void *ctx);

/* The cluster's session index (pg_sessions.h), in cluster mode: opened once
 * the shard's sessions are loaded (local enumerates them; it must stay valid
 * until store_cluster_sessions_close, which stops the index's thread and
 * must come before what local reads is freed; store_close calls it too).
 * put/del queue an index write (nothing without an index).  page reads one
 * page of the index; ERR_NOT_FOUND without one.  See pg_sessions_open and
 * pg_sessions_page for the codes. */
int  store_cluster_sessions_open(store *s, const char *target, const char *shard, pg_sessions_local local,
                                 void *lctx, char *err, size_t errn);
void store_cluster_sessions_close(store *s);
int  store_cluster_sessions_on(store *s);
void store_cluster_session_put(store *s, const char *id, const char *tenant);
void store_cluster_session_del(store *s, const char *id);
int  store_cluster_sessions_page(store *s, const char *tenant, const char *after, int limit,
                                 void (*fn)(void *ctx, const char *id, const char *tenant, const char *shard),
                                 void *ctx, int *more, char *err, size_t errn);

/* In cluster mode, *age = seconds since the cluster's keys were last read in
 * full; 0, or ERR_NOT_FOUND without a cluster. */
int  store_cluster_keys_age(store *s, double *age);

/* Synchronous writes: 0 or ERR_STORAGE (ERR_NOT_FOUND for an unknown id);
 * ERR_CLUSTER_DB in cluster mode when the cluster database cannot take
 * them.  Reads in cluster mode fail with ERR_CLUSTER_DB once the copy of the
 * keys is older than the grace (pg_keys.h). */
int store_key_insert(store *s, const store_key *k);
int store_key_revoke(store *s, const char *id, int64_t now_ms);
/* Reads: 0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_key_get(store *s, const char *id, store_key *out);
int store_keys_list(store *s, int (*fn)(void *ctx, const store_key *k), void *ctx);
/* Number of keys that are not revoked. */
int store_keys_active(store *s, int64_t *count);
/* *ever = 1 once any key has been created in this database (a durable fact,
 * set with the first key and never cleared; revoking keys does not clear
 * it), or in cluster mode in the cluster database.  0 or ERR_STORAGE
 * (ERR_CLUSTER_DB). */
int store_keys_ever(store *s, int *ever);

/* The first answer given to (tenant, key, route): its body hash, status and
 * body (the caller frees *body).  0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_idem_get(store *s, const char *tenant, const char *key, const char *route, uint8_t body_hash[32],
                   int *status, char **body, size_t *body_len);
/* Records an answer; a record that exists already is kept.  Synchronous. */
int store_idem_put(store *s, const char *tenant, const char *key, const char *route, const uint8_t body_hash[32],
                   int status, const char *body, size_t body_len);

/* ---- learned-optimizer weights and meta-training jobs (store_weights.c) --
 * Weights records: (name, version) → architecture, domain, provenance and
 * evaluation JSON, the BLOB_KIND_WEIGHTS blob.  Meta-training jobs: one row
 * per job (config JSON, status, progress, latest meta-checkpoint) and its
 * meta-loss curve.  Writes run on the writer thread (store_call) and are
 * synchronous; reads use the pool.  Rows passed to callbacks are valid only
 * during the call. */

typedef struct store_weights_row {
    const char *name;
    int64_t     version;
    const char *arch;            /* a learned optimizer's name (lopt_arch_name): "mlp_lopt", "gru_lopt", ... */
    int         hidden, depth;
    int64_t     ntheta;
    const char *domain;          /* "synthetic", "tabular", "vision", "text", "mixed" (service/domain.h); put: NULL = "synthetic" */
    const char *provenance_json; /* object */
    const char *eval_json;       /* object ("{}" when never evaluated) */
    int64_t     created_ms;
    const void *blob;            /* lopt_weights_save; NULL unless asked for */
    size_t      blob_len;
} store_weights_row;

/* Inserts a record.  w->version 0 means "the next version of w->name" (1 for
 * a new name); the version written goes to *version (may be NULL).  With
 * only_if_new = 1 nothing is written when any record of w->name exists
 * (then *version = 0).  0 or ERR_STORAGE (e.g. that version exists). */
int store_weights_put(store *s, const store_weights_row *w, int only_if_new, int64_t *version);
/* Replaces a record's evaluation JSON.  0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_weights_set_eval(store *s, const char *name, int64_t version, const char *eval_json);
/* Every record ordered by (name, version); with_blob includes the blob. */
int store_weights_list(store *s, int with_blob, int (*fn)(void *ctx, const store_weights_row *w), void *ctx);
/* One record: version 0 = the newest of that name.  0, ERR_NOT_FOUND or
 * ERR_STORAGE. */
int store_weights_get(store *s, const char *name, int64_t version, int with_blob,
                      int (*fn)(void *ctx, const store_weights_row *w), void *ctx);
/* Cluster mode (store_cluster_open, pg_weights.h): store_weights_put writes
 * the record to the cluster database first (it allocates the version;
 * ERR_CLUSTER_DB when it cannot take the write, and then nothing is written
 * here) and keeps a copy in this file; the reads above answer from this
 * file.  store_cluster_on_weights copies into this file every record of the
 * cluster that it does not hold yet (the cluster's copy replaces a local
 * record of the same name and version) and hands each to fn(ctx, w): now,
 * then on the keys' refresh thread after each notification or re-read.
 * Returns the number of records handed over now, or an ERR_* (the refresh
 * thread tries again); 0 without a cluster.  Call once, before serving.
 * store_weights_set_eval stays local. */
int store_cluster_on_weights(store *s, int (*fn)(void *ctx, const store_weights_row *w), void *ctx);

typedef struct store_meta_job_row {
    const char *id;
    const char *name;            /* the weights record the job produces */
    const char *source;          /* "api" | "cli" */
    const char *tenant;          /* the owning tenant ("" for the command line and open mode; NULL = "") */
    const char *status;          /* queued, running, done, failed, cancelled, interrupted */
    const char *config_json;     /* the normalised request */
    int64_t     created_ms, updated_ms;
    int64_t     step, outer_steps;
    double      wall_s;          /* seconds of meta-training so far */
    const char *error;           /* NULL unless failed */
    const char *weights_name;    /* NULL until done */
    int64_t     weights_version;
    const void *checkpoint;      /* latest meta_save blob; NULL unless asked for / none */
    size_t      checkpoint_len;
} store_meta_job_row;

/* A new job row (status, step, wall_s, etc. from the row).  0 or ERR_STORAGE. */
int store_meta_job_insert(store *s, const store_meta_job_row *j);
/* Progress: status (NULL keeps), step, wall_s, error (NULL keeps), the
 * produced weights (wname NULL keeps), and optionally the checkpoint (NULL
 * keeps; copied).  0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_meta_job_update(store *s, const char *id, const char *status, int64_t step, double wall_s,
                          const char *error, const char *wname, int64_t wversion,
                          const void *checkpoint, size_t checkpoint_len);
/* Appends (or replaces) one point of the meta-loss curve.  0 or ERR_STORAGE. */
int store_meta_curve_add(store *s, const char *id, int64_t step, double meta_loss, double grad_norm);
/* Marks every job still "queued" or "running" as "interrupted" (start-up).
 * *count (may be NULL) receives how many.  0 or ERR_STORAGE. */
int store_meta_jobs_interrupt(store *s, int64_t *count);
/* Jobs newest first (created_ms descending, then id), no checkpoints: those
 * of `tenant` (NULL: every tenant's), after the job (after_ms, after_id) in
 * that order (after_id NULL: from the newest), at most `limit` (negative: no
 * limit).  0 or ERR_STORAGE. */
int store_meta_jobs_list(store *s, const char *tenant, int64_t after_ms, const char *after_id, int limit,
                         int (*fn)(void *ctx, const store_meta_job_row *j), void *ctx);
/* One job; with_checkpoint includes the blob.  0, ERR_NOT_FOUND, ERR_STORAGE. */
int store_meta_job_get(store *s, const char *id, int with_checkpoint,
                       int (*fn)(void *ctx, const store_meta_job_row *j), void *ctx);
/* The newest CLI job of `name` with the same config_json that is not done
 * (what `meta-train --resume` continues), with its checkpoint.
 * 0, ERR_NOT_FOUND or ERR_STORAGE. */
int store_meta_job_find_resumable(store *s, const char *name, const char *config_json,
                                  int (*fn)(void *ctx, const store_meta_job_row *j), void *ctx);
/* Curve points of job `id` in step order. */
int store_meta_curve(store *s, const char *id, int (*fn)(void *ctx, int64_t step, double meta_loss, double grad_norm),
                     void *ctx);

/* The cluster's meta-training jobs (pg_meta_jobs.h), in cluster mode: opened
 * once meta_jobs' start-up marked this file's unfinished jobs (the open
 * reconciles this shard's rows with them); cancel(ctx, id) runs on the
 * module's thread for a job of this shard whose cancel was asked through
 * the database.  From then on store_meta_job_insert records a job in the
 * cluster database first (ERR_CLUSTER_DB, and nothing here, when it cannot)
 * and store_meta_job_update / store_meta_curve_add queue the job's copy
 * (touch: state = a status change, cancel = a cancel asked here).  The
 * reads and the cancel request are pg_meta_jobs_*'s, ERR_NOT_FOUND without
 * the module.  store_close closes it first. */
typedef int (*store_cluster_job_fn)(void *ctx, const store_meta_job_row *j, const char *shard, int cancel_requested);
int  store_cluster_meta_open(store *s, const char *target, const char *shard,
                             void (*cancel)(void *ctx, const char *id), void *ctx, char *err, size_t errn);
void store_cluster_meta_close(store *s);
int  store_cluster_meta_on(store *s);
void store_cluster_meta_touch(store *s, const char *id, int state, int cancel);
int  store_cluster_meta_page(store *s, const char *tenant, int64_t after_ms, const char *after_id, int limit,
                             store_cluster_job_fn fn, void *ctx, char *err, size_t errn);
int  store_cluster_meta_get(store *s, const char *id, store_cluster_job_fn fn, void *ctx, char *err, size_t errn);
int  store_cluster_meta_curve(store *s, const char *id,
                              int (*fn)(void *ctx, int64_t step, double meta_loss, double grad_norm), void *ctx,
                              char *err, size_t errn);
int  store_cluster_meta_request_cancel(store *s, const char *id, char *err, size_t errn);

/* ---- step analytics (store_analytics.c) ---------------------------------
 * Per-step extras (the cosine between consecutive updates, the
 * update/parameter ratio, the learned lr multiplier, per-tensor norms and
 * other figures as JSON) and a rollup of the metrics in STORE_ROLLUP_LEVELS
 * levels: level l holds buckets of STORE_ROLLUP_WIDTH * STORE_ROLLUP_FANOUT^l
 * steps (64, 512, 4096, 32768), each with the count, sum, minimum and maximum
 * of every column and the steps where the minimum and maximum occur.
 * Invariant: for each session, every rollup bucket holds exactly the metrics
 * rows of its steps up to the newest level-0 bucket's step_last ("top");
 * rows after top (a batch whose analytics write was lost in a crash, or not
 * written yet) are read raw.  Every store_analytics_write refreshes the
 * buckets its rows touch from the old top on (so it repairs what a lost
 * write left out), level 0 from the metrics and each coarser level from the
 * one below.  Writes are synchronous (store_call) and meant for batches;
 * reads use the pool. */

#define STORE_ROLLUP_WIDTH  64
#define STORE_ROLLUP_FANOUT 8
#define STORE_ROLLUP_LEVELS 4
/* Downsampled columns, in this order: loss, grad_norm, update_norm,
 * param_norm, lr, update_cos. */
enum { STORE_AN_LOSS, STORE_AN_GRAD, STORE_AN_UPDATE, STORE_AN_PARAM, STORE_AN_LR, STORE_AN_COS, STORE_AN_NCOLS };

typedef struct store_analytics_row {
    const char *id;
    int64_t     step;
    double      update_cos, update_ratio, lr_mult;   /* NAN when unknown */
    const char *tensors_json;   /* NULL or an array */
    const char *extra_json;     /* NULL or an object */
} store_analytics_row;

typedef struct store_metric_bucket {
    int64_t step_first, step_last, count;            /* steps in the bucket */
    struct {
        int64_t count;                               /* rows with a (finite) value */
        double  mean, min, max;                      /* NAN when count == 0 */
        int64_t min_step, max_step;                  /* first step holding min / max; -1 when count == 0 */
    } col[STORE_AN_NCOLS];
} store_metric_bucket;

/* Writes extras rows (rows of sessions that do not exist are dropped) and
 * refreshes the rollup.  Call it after the metrics rows of those steps were
 * queued (store_metric).  0 or ERR_STORAGE. */
int store_analytics_write(store *s, const store_analytics_row *rows, size_t n);
/* A step's extras as numbers (core's types; their definitions are in
 * analytics.h, layout.h and opt.h).  store_step_record copies them into its
 * job and the writer thread formats the JSON of the extras row when the job
 * runs, so that the step path builds no text:
 *   tensors_json: [[name, grad, update, param], ...] of stats' first
 *     ntensors tensors, named by lay (names escaped by jwriter; figures with 9
 *     significant digits), when stats has 1..min(lay->ntensors,
 *     ANALYTICS_MAX_TENSORS) tensors; else NULL;
 *   extra_json: {"name": value, ...} of the diagnostics (values exact, as
 *     %.17g), when ndiag > 0 (NULL: none).
 * Non-finite figures are null; a text past STORE_TENSORS_JSON_MAX or
 * STORE_EXTRA_JSON_MAX bytes is stored as NULL.  The diagnostics' names are
 * string literals of core (opt_diag, online_es_diag) and are not copied; at
 * most STORE_DIAG_MAX of them are kept. */
typedef struct analytics_step analytics_step;
typedef struct layout layout;
typedef struct opt_diag_value opt_diag_value;
#define STORE_TENSORS_JSON_MAX (64u << 10)  /* ANALYTICS_MAX_TENSORS 63-byte names, every byte escaped: ~30 KB */
#define STORE_EXTRA_JSON_MAX   4096
#define STORE_DIAG_MAX         32
typedef struct store_step_extras {
    double                update_cos, update_ratio, lr_mult;   /* NAN when unknown */
    const analytics_step *stats;      /* per-tensor figures; NULL: none */
    const layout         *lay;        /* the names of stats' tensors */
    const opt_diag_value *diag;       /* the step's diagnostics (ndiag of them) */
    int                   ndiag;
} store_step_extras;

/* A step's record as ONE queued job: its metrics row and, when `extra` is
 * not NULL, its extras row (of session `id` at m->step).  Asynchronous like
 * store_metric: it rides the next group commit, rows of a session that does
 * not exist are dropped, and everything `extra` points to is copied (a few
 * KiB at most).  The rollup is left alone: refresh it over these steps
 * later, in batches, with store_analytics_refresh.
 * 0, ERR_INVALID_ARGUMENT or ERR_NO_MEMORY. */
int store_step_record(store *s, const char *id, const step_metric *m, const store_step_extras *extra);
/* The two texts the writer thread stores for `extra` (see store_step_extras;
 * NULL for none or past the limit); the caller frees them.  For the tests and
 * the fuzz target: the same code as the writer's.  0 or ERR_NO_MEMORY. */
int store_step_extras_json(const store_step_extras *extra, char **tensors_json, char **extra_json);
/* Refreshes the rollup over the steps of `rows` (only id and step are read)
 * exactly as store_analytics_write does after writing its rows; call it
 * after those steps were queued (store_step_record).  0 or ERR_STORAGE. */
int store_analytics_refresh(store *s, const store_analytics_row *rows, size_t n);
/* One entry per non-empty bucket (step / width) of steps in [from, to], in
 * step order, with each column's count, mean, min and max and the first
 * steps where they occur: exactly those of the metrics rows in it (the mean
 * up to rounding of the sum).  Any from, to and width >= 1; the coarsest
 * rollup level whose width divides `width` serves the buckets whole inside
 * [from, to] and the rollup's range, finer levels and raw rows the rest.
 * When more than STORE_ROLLUP_WIDTH * STORE_ROLLUP_FANOUT^2 rows lie after
 * the rollup's top (a database migrated from schema 5, or lost writes), it
 * first brings the rollup up to date on the writer thread (store_call), so
 * the first read of such a session can take a while.  fn returns non-zero
 * to stop.  0 or ERR_STORAGE. */
int store_metrics_downsample(store *s, const char *id, int64_t from, int64_t to, int64_t width,
                             int (*fn)(void *ctx, const store_metric_bucket *b), void *ctx);
/* The bucket width for at most max_points (>= 2) buckets step / width over
 * [lo, hi]: the plain width w0 = ceil((hi - lo + 1) / max_points) rounded up
 * to a multiple of the coarsest rollup level width L (64, 512, 4096, 32768,
 * or 1: raw rows) for which that still gives at least max_points / 2 buckets,
 * then grown by L while the aligned buckets number more than max_points.  So
 * a request reads at most ~2 * FANOUT * max_points rollup rows. */
int64_t store_metrics_bucket_width(int64_t lo, int64_t hi, int64_t max_points);
/* Number of metric rows and the first and last step (0, 0, 0 when none). */
int store_metrics_span(store *s, const char *id, int64_t *count, int64_t *first, int64_t *last);
/* The newest extras row (fn not called when none). */
int store_analytics_last(store *s, const char *id, int (*fn)(void *ctx, const store_analytics_row *r), void *ctx);
/* The last n metric rows, ascending. */
int store_metrics_tail(store *s, const char *id, int n, int (*fn)(void *ctx, const step_metric *m), void *ctx);

#endif
