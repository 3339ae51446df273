/* meta_jobs.h — meta-training jobs and the weights registry, for the daemon
 * (POST /v1/meta/jobs, /v1/weights) and the command line (`optirsd
 * meta-train`, `optirsd eval`).
 *
 * A meta-training request (meta_spec) is a set of `key = value` settings —
 * the same keys in a config file and in the JSON body of POST /v1/meta/jobs
 * (deploy/meta/README.md documents each).  meta_run executes one job: outer
 * steps of core/meta with the particles spread over `threads` threads (only
 * the scalar meta-losses are combined), a meta-loss curve point per outer
 * step and a meta-checkpoint every `checkpoint_every` steps in SQLite, a
 * cancel flag checked between outer steps, and at the end a weights record
 * with its provenance in the store, published into core's named-weights
 * table.
 *
 * Weights registry: every stored record (name, version) is in core's table
 * (lopt_registry) as "name@version", and the newest version of each name as
 * "name" too.  meta_weights_bootstrap inserts the built-in weights into a
 * database that has no record of their name and loads every record; the
 * daemon calls it before restoring sessions.  Every change of core's table
 * holds sessions_weights_lock.
 *
 * The job queue (daemon only): each job belongs to the tenant of the key
 * that created it (stored with the job); jobs are queued from HTTP worker threads
 * (meta_jobs_submit wakes the loop with uv_async_send), and the libuv loop
 * thread runs one at a time with uv_queue_work, so meta-training occupies
 * one threadpool thread (plus at most one helper thread: `threads` is capped
 * at META_JOBS_MAX_THREADS) and never an HTTP worker.  Jobs persist in SQLite;
 * one that was queued or running when the daemon died is "interrupted" on
 * the next start.
 *
 * Thread rules: meta_spec functions are pure.  meta_jobs_start/stop on the
 * loop thread (stop after uv_run has returned, before the store closes);
 * submit/cancel/running from any thread. */
#ifndef OPTIRS_META_JOBS_H
#define OPTIRS_META_JOBS_H

#include <stdatomic.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <uv.h>

#include "meta.h"
#include "store.h"

#define META_WNAME_MAX       48     /* weights record name: [A-Za-z0-9._-]{1,47} */
#define META_TASK_TEXT       160
#define META_JOBS_MAX_THREADS 2
#define META_MAX_OUTER_STEPS 1000000

typedef struct meta_spec {
    meta_config mc;
    char    name[META_WNAME_MAX];          /* the weights record to produce */
    char    domain[16];                    /* "" = derived from the tasks */
    char    init_weights[64];              /* start from this record ("" = default init) */
    char    task_text[META_MAX_TASKS][META_TASK_TEXT]; /* each task as written (normalised) */
    int64_t outer_steps;
    int64_t checkpoint_every;
    int     keep_checkpoints;              /* 1: each checkpoint is also a weights record NAME.stepN */
    int     threads;                       /* 0 = every core */
    int     tasks_given;                   /* a "task" key was set */
} meta_spec;

void   meta_spec_defaults(meta_spec *sp);
/* Sets one key from its text value ("task" appends a task; the first "task"
 * replaces the default one).  0 or ERR_UNKNOWN_FIELD / ERR_INVALID_ARGUMENT /
 * ERR_OUT_OF_RANGE with a message in msg. */
int    meta_spec_set(meta_spec *sp, const char *key, const char *value, char *msg, size_t cap);
/* Reads `key = value` lines (# comments) from a file. */
int    meta_spec_load_file(meta_spec *sp, const char *path, char *msg, size_t cap);
/* Reads a JSON object of the same keys (strings, numbers, booleans; "tasks"
 * an array of task strings). */
int    meta_spec_from_json(meta_spec *sp, const cJSON *obj, char *msg, size_t cap);
/* Final checks (the job can be created).  0 or ERR_* with msg. */
int    meta_spec_check(meta_spec *sp, char *msg, size_t cap);
/* The init_weights record sp names (if any) exists in the weights table and
 * fits the job (optimizer, hidden, depth): the daemon checks it when a job is
 * submitted, not when it runs.  0, ERR_NOT_FOUND or ERR_INVALID_ARGUMENT
 * (and the like from meta_job_new) with msg.  Takes sessions_weights_lock. */
int    meta_spec_check_weights(const meta_spec *sp, char *msg, size_t cap);
/* The normalised request (every key but `threads`); the caller frees it. */
cJSON *meta_spec_to_json(const meta_spec *sp);
/* Parses one task text "family [key=value ...]" into *t. */
int    meta_task_parse(const char *text, meta_task_spec *t, char *msg, size_t cap);

/* Progress and cancellation of meta_run.  cancel: 0 = go on, 1 = cancel
 * (status "cancelled"), 2 = the daemon stops (status "interrupted"). */
typedef struct meta_run_io {
    _Atomic int *cancel;
    void (*progress)(void *ctx, const meta_report *rep, double wall_s);
    void *ctx;
    const char *out_path;               /* also write the weights blob here (or NULL) */
} meta_run_io;

/* Runs job `id` (its row inserted already) from the checkpoint `ckpt`
 * (NULL: from the start; wall0 = seconds already spent) until outer_steps,
 * cancellation or an error, and records everything in the store.  On
 * success *wversion gets the version of the weights record sp->name.
 * Returns 0 (done), 1 (cancelled or interrupted), or an ERR_* (the row says
 * "failed" with msg). */
int    meta_run(store *db, const char *id, const meta_spec *sp, const void *ckpt, size_t ckpt_len, double wall0,
                const meta_run_io *io, int64_t *wversion, char *msg, size_t cap);

/* ---- weights registry ---- */

/* Inserts built-in weights missing from the store, then loads every record
 * into core's table.  Returns the number of records loaded, or an ERR_*. */
int    meta_weights_bootstrap(store *db);
/* Decodes a stored record's blob and publishes it (see above).  0 or ERR_*. */
int    meta_weights_publish(const store_weights_row *w);
/* "name" or "name@version" → name and version (0 = newest).  0 or
 * ERR_INVALID_ARGUMENT. */
int    meta_weights_parse_ref(const char *ref, char *name, size_t cap, int64_t *version);
/* 1 when `name` is a valid record name. */
int    meta_weights_valid_name(const char *name);
/* The record as JSON (metadata, no blob); the caller frees it. */
cJSON *meta_weights_to_json(const store_weights_row *w);

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
/* Cancels a queued job at once or asks a running one to stop after its
 * current outer step.  *state: the job's status afterwards ("cancelled",
 * "cancelling", or its final status when it had ended).  0, ERR_NOT_FOUND. */
int    meta_jobs_cancel(const char *id, char *state, size_t cap);
/* 1 when job `id` is the running one and asked to cancel. */
int    meta_jobs_cancelling(const char *id);

#endif
