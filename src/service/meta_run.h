/* meta_run.h — one meta-training job, run to its end in the calling thread.
 *
 * meta_run executes one job: outer steps of core/meta with the particles
 * spread over `threads` threads (only the scalar meta-losses are combined),
 * a meta-loss curve point per outer step and a meta-checkpoint every
 * `checkpoint_every` steps in SQLite, a cancel flag checked between outer
 * steps, and at the end a weights record with its provenance in the store,
 * published into core's named-weights table (meta_weights.h).  The daemon
 * runs it from its job queue (server/meta_jobs.c), the command line directly.
 *
 * Thread rules: any thread; one job per call.  Each job's row must exist in
 * the store before meta_run. */
#ifndef OPTIRS_META_RUN_H
#define OPTIRS_META_RUN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "meta_spec.h"
#include "store.h"

/* The init_weights record sp names (if any) exists in the weights table and
 * fits the job (optimizer, hidden, depth): the daemon checks it when a job is
 * submitted, not when it runs.  0, ERR_NOT_FOUND or ERR_INVALID_ARGUMENT
 * (and the like from meta_job_new) with msg.  Takes the weights lock. */
int    meta_run_check_weights(const meta_spec *sp, char *msg, size_t cap);

/* The job of sp (meta_job_free frees it), starting from its init_weights
 * record when it names one (takes the weights lock).  0, or ERR_NOT_FOUND
 * (no such record) or meta_job_new's error, with msg. */
int    meta_run_job_new(const meta_spec *sp, meta_job **out, char *msg, size_t cap);
/* One outer step of job j made from sp, as meta_run takes it: plain, or
 * Reptile's over families (maml_inner_steps > 0, meta_reptile.h), the
 * particles spread over nthreads threads (1: the calling thread alone).
 * The engine's error code (tasks_last_error() may say more). */
int    meta_run_step(const meta_spec *sp, meta_job *j, int nthreads, meta_report *rep);

/* Progress and cancellation of meta_run.  cancel: 0 = go on, 1 = cancel
 * (status "cancelled"), 2 = the daemon stops (status "interrupted"). */
typedef struct meta_run_io {
    _Atomic int *cancel;
    void (*progress)(void *ctx, const meta_report *rep, double wall_s);
    void *ctx;
    const char *out_path;               /* also write the weights blob here (or NULL) */
    /* Staged runs with stage_eval_steps > 0: after each stage's last step,
       every family's meta_family_loss of theta goes into the record's
       provenance ("stage_losses", with "stage_losses_from_step": a resumed
       run has only the stages that ended after its start) and, when this is
       set, to this as one line "stage S/N end (step X): FAMILY=LOSS ...". */
    void (*stage_end)(void *ctx, const char *line);
    /* A transport that spreads the particles over processes (the MPI driver,
     * src/cli/mpi/) replaces how a step is run and a checkpoint made; each
     * NULL = this process alone.  begin: once, after the job is created
     * (and loaded from ckpt), before the first step; step: one outer step in
     * place of the threads' (its report in rep); save: the meta-checkpoint
     * in place of meta_save.  Each returns 0 or an ERR_* with a message in
     * msg (the job is then "failed", resumable from its last checkpoint). */
    int  (*begin)(void *tctx, meta_job *j, char *msg, size_t cap);
    int  (*step)(void *tctx, meta_job *j, meta_report *rep, char *msg, size_t cap);
    int  (*save)(void *tctx, const meta_job *j, uint8_t **out, size_t *out_len, char *msg, size_t cap);
    void *tctx;
} meta_run_io;

/* Runs job `id` (its row inserted already) from the checkpoint `ckpt`
 * (NULL: from the start; wall0 = seconds already spent) until outer_steps,
 * cancellation or an error, and records everything in the store.  On
 * success *wversion gets the version of the weights record sp->name.
 * Returns 0 (done), 1 (cancelled or interrupted), or an ERR_* (the row says
 * "failed" with msg). */
int    meta_run(store *db, const char *id, const meta_spec *sp, const void *ckpt, size_t ckpt_len, double wall0,
                const meta_run_io *io, int64_t *wversion, char *msg, size_t cap);
/* A job's pace, for its progress reports (GET /v1/meta/jobs, the
 * meta-train progress line): *rate = step / wall_s, outer steps per second
 * of meta-training (the mean over the job so far, a resumed run's earlier
 * time and steps included); *eta = (outer_steps - step) / *rate seconds,
 * 0 once step >= outer_steps.  Both NAN when not measurable: no step done
 * yet, no time measured, or inputs that are negative or not finite (a
 * damaged row), or a rate that overflows.  Pure. */
void   meta_run_pace(int64_t step, int64_t outer_steps, double wall_s, double *rate, double *eta);

#endif
