/* study.h — hyperparameter studies: create, ask, report, tell, describe,
 * list, delete, over the store (store_studies.h) with core's samplers and
 * pruners (hpo.h).  Decoded inputs in, cJSON answers or an error code out;
 * no HTTP.
 *
 * Trials.  Numbers count from 0 in ask order.  States: running → complete
 * (tell with a value), failed (tell with "state": "failed"), pruned (a report
 * the pruner stopped, or tell with "state": "pruned"), lost (no heartbeat —
 * an ask, a report — for the service's heartbeat timeout: its worker is
 * taken for dead).  A trial ends once; its number is never reused.
 * An ask is refused with ERR_STUDY_EXHAUSTED when the study holds max_trials
 * trials that are not lost (a lost trial gives its budget back), then with
 * ERR_STUDY_PARALLEL_LIMIT when `parallel` trials run.  Trials are marked
 * lost lazily: by every call that reads or changes the study, before it
 * counts.
 *
 * Tenants: `tenant` NULL sees every study (an admin key); otherwise another
 * tenant's study is ERR_NOT_FOUND, exactly like a missing one.
 *
 * Durability: every change is committed before the call returns (the
 * store's synchronous writes); the study and its trials are read back from
 * the store on every call, so a restarted daemon carries on where it was —
 * and, over the cluster's store, every daemon serves every study.
 *
 * Units of work: a call that changes a study (ask, report, tell, delete,
 * and the reads that mark stale trials lost first) runs under the service's
 * mutex inside one hold of the study (study_store.h): over PostgreSQL one
 * transaction that locks the study's row, so `parallel`, `max_trials` and
 * trial numbers hold across daemons.  A sampler's draw depends on the seed
 * and the stored history only, whichever daemon asks.
 *
 * Errors: 0 or ERR_* with a message in msg: those of study_spec.h,
 * ERR_NOT_FOUND, ERR_STUDY_EXHAUSTED, ERR_STUDY_PARALLEL_LIMIT,
 * ERR_TRIAL_FINISHED, ERR_OUT_OF_RANGE, ERR_NON_FINITE, ERR_STORAGE,
 * ERR_NO_MEMORY, and ERR_CLUSTER_DB over the cluster's store (reads too:
 * nothing is answered from a partial view).
 * Thread rules: any thread; calls that change a study run one at a time
 * (one mutex per service: an ask's count, draw and insert are one step). */
#ifndef OPTIRS_STUDY_H
#define OPTIRS_STUDY_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "study_store.h"
#include "study_objective.h"

#define STUDY_MAX_REPORTS 10000   /* intermediate values of one trial */
#define STUDY_MAX_VALUES  1000000 /* intermediate values of one study (a call reads them all: ~24 MB) */
#define STUDY_LIST_MAX    1000    /* studies one list returns */

typedef struct study_svc study_svc;

/* A service over the study store ss (study_store.h: this daemon's SQLite,
 * or the cluster's PostgreSQL; not owned, it outlives the service).  heartbeat_ms: a running trial without an ask or a
 * report for longer is lost (> 0).  now_ms: the wall clock in ms (NULL: the
 * real one; tests pass their own).  0 or ERR_NO_MEMORY/ERR_INVALID_ARGUMENT. */
int  study_svc_new(study_store ss, int64_t heartbeat_ms, int64_t (*now_ms)(void), study_svc **out);
void study_svc_free(study_svc *sv);

/* A new study of `tenant` from the request object; *out the study as GET
 * shows it. */
int study_create(study_svc *sv, const char *tenant, const cJSON *body, cJSON **out, char *msg, size_t cap);
/* A new trial: *out {"study", "trial", "params", "state"}. */
int study_ask(study_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap);
/* An intermediate value of running trial `number` at step (0 .. 2^53) —
 * its heartbeat; the pruner's answer in *prune (a pruned trial ends).  A
 * trial that is not running is ERR_TRIAL_FINISHED, with *prune = 1 when it
 * was pruned. */
int study_report(study_svc *sv, const char *tenant, const char *id, int64_t number, int64_t step, double value,
                 int *prune, char *msg, size_t cap);
/* Ends running trial `number`: state "complete" with a finite value,
 * "failed" or "pruned" (value NAN).  *out: the trial. */
int study_tell(study_svc *sv, const char *tenant, const char *id, int64_t number, const char *state, double value,
               cJSON **out, char *msg, size_t cap);
/* The parameters ({"name": value, …}) of running trial `number`
 * (ERR_TRIAL_FINISHED when it is not running). */
int study_trial_params(study_svc *sv, const char *tenant, const char *id, int64_t number, cJSON **params,
                       char *msg, size_t cap);
/* The state of trial `number` ("running", "complete", "pruned", "failed" or
 * "lost": a static string) in *state, stale trials marked lost first. */
int study_trial_state(study_svc *sv, const char *tenant, const char *id, int64_t number, const char **state,
                      char *msg, size_t cap);
/* The study's objective and parallelism (o->given 0: the study has none). */
int study_objective_of(study_svc *sv, const char *tenant, const char *id, study_objective *o, int64_t *parallel,
                       char *msg, size_t cap);
/* Marks every running trial of the study lost now, whatever its heartbeat
 * (*n: how many) — a restarted daemon's first step before it resumes a
 * study it runs (study_run.h), whose trials died with the last process. */
int study_lose_running(study_svc *sv, const char *tenant, const char *id, int *n, char *msg, size_t cap);
/* The study with its counts, "steps_run" (intermediate values reported) and "best" ({"trial", "value", "params"} or
 * null). */
int study_get(study_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap);
/* {"trials": [...]}: every trial with its intermediate values. */
int study_trials(study_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap);
/* {"studies": [...]}: the tenant's studies, newest first (no "best"). */
int study_list(study_svc *sv, const char *tenant, cJSON **out, char *msg, size_t cap);
int study_delete(study_svc *sv, const char *tenant, const char *id, char *msg, size_t cap);

#endif
