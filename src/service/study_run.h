/* study_run.h — runs a study the daemon runs itself (a study with an
 * "objective", study_objective.h; docs/studies.md#studies-the-daemon-runs).
 *
 * The run asks the study for trials and trains each one on the objective's
 * task with the trial's hyperparameters (or, for a meta-training objective,
 * meta-trains a job of the trial's request: study_meta.h, one outer step
 * being a trial's step, its meta-loss the value reported, its score the
 * final value): `parallel` trials at a time,
 * advanced in turn one step each (on the one thread that runs the job, so a
 * run is deterministic for the study's seed), every report_every-th step's
 * value (study_objective.h: the mean over the seeds of the step's minibatch
 * loss, or of the held-out loss) reported to the study, where the pruner
 * decides: a pruned trial stops at once.  A trial that reaches
 * `steps` is told its value: the mean over the seeds of the task's held-out
 * loss (eval_loss) after the last step.  A trial whose setting the task or
 * the optimizer refuses, or whose loss turns non-finite, is told failed.
 * The run ends when the study is exhausted (max_trials) and every trial it
 * runs has ended, when the study is deleted, or when *cancel becomes
 * nonzero (then the trials it runs are left running: they become lost
 * after the study's heartbeat timeout and give their budget back, or at
 * once when a restarted daemon resumes the study, below).
 *
 * Memory: the trials it holds at once take at most STUDY_RUN_MAX_BYTES
 * (each trial's task, parameters, gradients, updates and optimizer state
 * per seed, checked before the buffers are allocated); a trial that would
 * pass it is told failed.
 *
 * Returns 0 (finished or cancelled; *st says which and how much ran),
 * ERR_NOT_FOUND (the study is gone), or the error that stopped it with msg.
 * Thread rules: any thread; one run per study (the daemon's job queue). */
#ifndef OPTIRS_STUDY_RUN_H
#define OPTIRS_STUDY_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "study.h"
#include "study_objective.h"

#define STUDY_RUN_MAX_BYTES (1ull << 30)

typedef struct study_run_stats {
    int64_t trials;       /* trials it asked */
    int64_t steps;        /* optimizer steps it ran, over every seed's run */
    int     cancelled;
} study_run_stats;

int study_run(study_svc *sv, const char *tenant, const char *id, const _Atomic int *cancel, study_run_stats *st,
              char *msg, size_t cap);

/* One trial of a built-in task's objective (ob: study_objective_parse or
 * study_objective_parse_trial) with `params`, outside any study: what
 * study_run does to a trial, with the same final value bit for bit.
 * 0 with *value, or with *value NAN and *failed_step the step (1-based)
 * whose loss or held-out value was not finite (study_run tells such a
 * trial failed); or the ERR_* with msg of a setting the task or the
 * optimizer refuses.  A learned optimizer reads the weights table under
 * its lock (meta_weights.h).  Memory: STUDY_RUN_MAX_BYTES, as a run's. */
int study_run_trial(const study_objective *ob, const cJSON *params, double *value, int64_t *failed_step, char *msg,
                    size_t cap);

/* Resumption after a restart (docs/studies.md#studies-the-daemon-runs):
 * for every study of db with an objective, oldest first, every running
 * trial is marked lost (study_lose_running: their runs died with the last
 * process; their slots and budget return), and when the study then holds
 * fewer than max_trials trials that are not lost, resume(ctx, id, tenant)
 * queues its run again (tenant "" in open mode; 0 or an ERR_*).  A resumed
 * run asks as any run does: trial n's parameters are hpo_sample's for the
 * study's seed, n and the history recorded so far.  *n: the studies
 * resumed.  0, or the first error (the listing's stops everything; one
 * study's does not keep the others from resuming) with msg.
 * Call it before anything else can ask or report on those studies. */
int study_run_resumable(study_svc *sv, store *db, int (*resume)(void *ctx, const char *id, const char *tenant),
                        void *ctx, int *n, char *msg, size_t cap);

#endif
