/* pg_meta_jobs.h — meta-training jobs shared by a cluster of daemons through
 * PostgreSQL (`--cluster-db`, docs/operations.md "A cluster of daemons").
 *
 * A job runs on the daemon it was submitted to (its shard: that daemon's
 * --cluster-advertise address) and that daemon's SQLite file stays its
 * authority; the table optirs_meta_jobs (pg_conn.c, schema step 4) holds a
 * copy of every job's row, and optirs_meta_curve its meta-loss curve, so
 * that any daemon can list, read and cancel any job.
 * - pg_meta_jobs_insert writes a new row at once (the submit path: a job
 *   the cluster cannot record is not started).
 * - pg_meta_jobs_touch marks a job of this shard changed and returns at once
 *   (the job's thread never waits on the network).  The module's thread
 *   writes it later, reading the job back through the `load` callback (this
 *   daemon's file): a status change at once, progress at most once per
 *   PG_META_JOBS_FLUSH_S per job; the curve points after the last one
 *   written, at most PG_META_JOBS_CURVE_BATCH per write.  A write the
 *   database refuses stays due and is retried after a reconnection, so a
 *   job that ends while PostgreSQL is away reaches it when it is back.
 * - Cancels: pg_meta_jobs_request_cancel (any daemon) sets cancel_requested
 *   on a job that has not ended and notifies optirs_meta_jobs; the owner's
 *   thread LISTENs and, on each notification and at least every
 *   PG_META_JOBS_REREAD_S seconds (the fallback for a lost notification),
 *   reads its shard's unfinished rows: it hands each one with
 *   cancel_requested to the `cancel` callback, and marks changed those it
 *   does not track or has not written for PG_META_JOBS_REREAD_S (at open:
 *   the restart's reconcile, which writes the state this daemon's file
 *   gives them, e.g. "interrupted"; later: the progress that other
 *   processes write into that file, the MPI ranks of a launched job).
 * - Reads (page, get, curve) go to the database on a connection of their
 *   own and fail with ERR_CLUSTER_DB when it does not answer: no copy.
 * Limits: PG_META_JOBS_TRACK_MAX jobs tracked at once (a touch beyond it is
 * dropped with a log line; the periodic re-read brings an unfinished job
 * back), a page at most PG_META_JOBS_PAGE_MAX rows, a curve read at most
 * PG_META_JOBS_CURVE_MAX points, ids 1 .. PG_META_JOBS_ID_MAX bytes.
 * Thread rules: every function is safe from any thread except
 * pg_meta_jobs_close; `load` and `cancel` run on the module's thread under
 * no lock of this module (they must not call pg_meta_jobs_close). */
#ifndef OPTIRS_PG_META_JOBS_H
#define OPTIRS_PG_META_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PG_META_JOBS_FLUSH_S      1.0
#define PG_META_JOBS_REREAD_S     5.0
#define PG_META_JOBS_TRACK_MAX    4096
#define PG_META_JOBS_PAGE_MAX     1000
#define PG_META_JOBS_CURVE_MAX    100000
#define PG_META_JOBS_CURVE_BATCH  5000
#define PG_META_JOBS_ID_MAX       39
#define PG_META_JOBS_SHARD_MAX    256      /* bytes of a shard address, with its NUL */

/* What the load callback hands back: the job's row as this daemon's file
 * holds it, then its curve points after `after_step` in step order. */
typedef struct pg_meta_jobs_sink pg_meta_jobs_sink;
void pg_meta_jobs_sink_row(pg_meta_jobs_sink *k, const store_meta_job_row *j);
void pg_meta_jobs_sink_point(pg_meta_jobs_sink *k, int64_t step, double meta_loss, double grad_norm);
/* Loads job `id`: 0 (row given), ERR_NOT_FOUND (this file has no such
 * job: it is written "interrupted" with a reason) or another ERR_* (tried
 * again later).  At most PG_META_JOBS_CURVE_BATCH points are kept. */
typedef int (*pg_meta_jobs_load)(void *ctx, const char *id, int64_t after_step, pg_meta_jobs_sink *k);
/* Cancels job `id` of this shard (asked through the database). */
typedef void (*pg_meta_jobs_cancel)(void *ctx, const char *id);

typedef struct pg_meta_jobs pg_meta_jobs;

/* Connects, creates or migrates the schema and starts the thread (which
 * reconciles this shard's unfinished rows at once).  shard: 1 ..
 * PG_META_JOBS_SHARD_MAX - 1 bytes.  0, ERR_INVALID_ARGUMENT, ERR_NO_MEMORY,
 * or ERR_CLUSTER_DB with the reason in err (errn bytes). */
int  pg_meta_jobs_open(const char *target, const char *shard, pg_meta_jobs_load load, pg_meta_jobs_cancel cancel,
                       void *ctx, pg_meta_jobs **out, char *err, size_t errn);
/* Writes what is due and the database takes (one attempt), stops the
 * thread, closes the connections.  NULL is a no-op. */
void pg_meta_jobs_close(pg_meta_jobs *pm);

/* Records a new job of this shard (j->tenant NULL = "").  0,
 * ERR_INVALID_ARGUMENT, ERR_STORAGE (that id exists), or ERR_CLUSTER_DB. */
int  pg_meta_jobs_insert(pg_meta_jobs *pm, const store_meta_job_row *j);
/* Job `id` of this shard changed; state = 1 for a status change (written
 * at once), 0 for progress (coalesced); cancel = 1 also sets its
 * cancel_requested (a cancel asked on this daemon). */
void pg_meta_jobs_touch(pg_meta_jobs *pm, const char *id, int state, int cancel);

/* fn's view of a row: the row (no checkpoint), its shard, whether a cancel
 * was asked. */
typedef store_cluster_job_fn pg_meta_jobs_row_fn;
/* The jobs newest first (created_ms descending, then id), of `tenant` only
 * when it is not NULL, after (after_ms, after_id) in that order (after_id
 * NULL: from the newest), at most limit (1 .. PG_META_JOBS_PAGE_MAX).  0,
 * ERR_INVALID_ARGUMENT or ERR_CLUSTER_DB with the reason in err. */
int  pg_meta_jobs_page(pg_meta_jobs *pm, const char *tenant, int64_t after_ms, const char *after_id, int limit,
                       pg_meta_jobs_row_fn fn, void *ctx, char *err, size_t errn);
/* One job: 0, ERR_NOT_FOUND, ERR_INVALID_ARGUMENT or ERR_CLUSTER_DB. */
int  pg_meta_jobs_get(pg_meta_jobs *pm, const char *id, pg_meta_jobs_row_fn fn, void *ctx, char *err, size_t errn);
/* Its curve in step order (at most PG_META_JOBS_CURVE_MAX points).  0 or
 * ERR_CLUSTER_DB. */
int  pg_meta_jobs_curve(pg_meta_jobs *pm, const char *id,
                        int (*fn)(void *ctx, int64_t step, double meta_loss, double grad_norm), void *ctx,
                        char *err, size_t errn);
/* Asks the owner of job `id` to cancel it: sets cancel_requested when the
 * job has not ended and notifies.  0 (also for a job that had ended),
 * ERR_NOT_FOUND, or ERR_CLUSTER_DB. */
int  pg_meta_jobs_request_cancel(pg_meta_jobs *pm, const char *id, char *err, size_t errn);

#endif
