/* meta_jobs.h — the daemon's queue of meta-training jobs (POST
 * /v1/meta/jobs).  The request, the run and the weights registry are the
 * service layer's (meta_spec.h, meta_run.h, meta_weights.h; included here
 * for the handlers; the command line, src/cli/cli.c, includes them itself).
 *
 * Each job belongs to the tenant of the key that created it (stored with
 * the job); jobs are queued from HTTP worker threads (meta_jobs_submit wakes
 * the loop with uv_async_send), and the libuv loop thread runs one at a
 * time with uv_queue_work, so meta-training occupies one threadpool thread
 * (plus at most one helper thread: `threads` is capped at
 * META_JOBS_MAX_THREADS) and never an HTTP worker.  Jobs persist in SQLite;
 * one that was queued or running when the daemon died is "interrupted" on
 * the next start — but a study the daemon runs that was queued or running
 * is resumed: its running trials lost, its run queued again, outside the
 * queue's bounds (study_run_resumable, study_run.h; not in cluster mode).
 * In cluster mode (--cluster-db) every job is also recorded
 * in PostgreSQL by the store (pg_meta_jobs.h: a submit it cannot record
 * fails with ERR_CLUSTER_DB; a job's end is copied there) and a cancel asked
 * through another daemon arrives as meta_jobs_cancel.  With --meta-launcher set, a learned optimizer's job (not
 * a few-shot one) runs instead as the launcher's child processes, MPI ranks
 * that write its row themselves, the queue's thread waiting for them
 * (meta_launch.h); cancelling it stops them.
 *
 * Thread rules: meta_jobs_start/stop on the loop thread (stop after uv_run
 * has returned, before the store closes); submit/cancel/running from any
 * thread. */
#ifndef OPTIRS_META_JOBS_H
#define OPTIRS_META_JOBS_H

#include <stddef.h>
#include <uv.h>

#include "fewshot_run.h"
#include "fewshot_spec.h"
#include "nas_run.h"
#include "nas_spec.h"
#include "meta_run.h"
#include "meta_spec.h"
#include "meta_weights.h"
#include "study_run.h"

/* ---- the daemon's job queue ---- */
typedef struct app app;
int    meta_jobs_start(app *a, uv_loop_t *loop);
void   meta_jobs_stop(void);
/* Queues a checked spec for `tenant` (the job's owner; "" in open mode):
 * inserts the row ("queued") and wakes the loop.  The queue is bounded:
 * ERR_QUEUE_FULL when --max-queued-jobs jobs are waiting, or
 * --tenant-max-queued-jobs of this tenant's (the running job does not
 * count); the check and the enqueue are atomic.  id_out receives the job id
 * (40 bytes).  0 or ERR_*. */
int    meta_jobs_submit(const meta_spec *sp, const char *tenant, char *id_out);
/* The same for a checked few-shot request (fewshot_spec.h; run by
 * fewshot_run.h on the same queue, one job at a time). */
int    meta_jobs_submit_fewshot(const fewshot_spec *fs, const char *tenant, char *id_out);
/* The same for a checked architecture search (nas_spec.h; run by nas_run.h
 * on the same queue, one job at a time; one thread). */
int    meta_jobs_submit_nas(const nas_spec *ns, const char *tenant, char *id_out);
/* Queues the run of study `study_id` (one with an objective: study_run.h)
 * on the same queue, under the same bounds; it keeps no job row (the study
 * is its record).  id_out: the job's id. */
int    meta_jobs_submit_study(const char *study_id, const char *tenant, char *id_out);
/* "queued", "running" or "cancelling" while study `study_id`'s run is in
 * the queue; NULL otherwise (a static string). */
const char *meta_jobs_study_state(const char *study_id);
/* Drops the study's queued run, or asks its running one to stop after the
 * current step. */
void   meta_jobs_cancel_study(const char *study_id);
/* Cancels a queued job at once or asks a running one to stop after its
 * current outer step.  *state: the job's status afterwards ("cancelled",
 * "cancelling", or its final status when it had ended).  0, ERR_NOT_FOUND. */
int    meta_jobs_cancel(const char *id, char *state, size_t cap);
/* The jobs waiting in the queue and running now (0 or 1), for /metrics. */
void   meta_jobs_counts(int64_t *queued, int64_t *running);
/* 1 when job `id` is the running one and asked to cancel. */
int    meta_jobs_cancelling(const char *id);

#endif
