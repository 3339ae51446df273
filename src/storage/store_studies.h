/* store_studies.h — hyperparameter studies and their trials (schema version
 * 11), for the study service (src/service/study.c).
 *
 * A study row: id, owning tenant, name, the normalised request as JSON, its
 * creation time.  A trial row: (study, number) → state ("running",
 * "complete", "pruned", "failed", "lost"), parameters as JSON and as the
 * sampler's numbers (hpo.h: one double per parameter), objective value,
 * start, heartbeat and finish times; its intermediate values are rows of
 * trial_values (step → value).  Deleting a study deletes its trials and
 * values (foreign keys, ON DELETE CASCADE).
 *
 * Writes run on the writer thread (store_call) and are synchronous: when
 * one returns 0 the change is committed.  Reads use the pooled read-only
 * connections; store_study_trials reads the trials and the values in one
 * read transaction (a consistent picture).  Non-finite values are refused by
 * the service before they get here (stored as NULL otherwise, store.h).
 * Rows handed to callbacks are valid only during the call.
 * Errors: 0, ERR_NOT_FOUND (named below), ERR_STORAGE, ERR_NO_MEMORY.
 * Thread rules: any thread. */
#ifndef OPTIRS_STORE_STUDIES_H
#define OPTIRS_STORE_STUDIES_H

#include <stdint.h>

#include "store.h"

typedef struct store_study_row {
    const char *id;
    const char *tenant;          /* "" for open mode */
    const char *name;
    const char *spec_json;       /* the normalised request (study_spec.h) */
    int64_t     created_ms;
    int64_t     n_trials, n_running, n_complete;   /* reads only */
} store_study_row;

int store_study_insert(store *s, const store_study_row *r);
/* ERR_NOT_FOUND when no study has that id. */
int store_study_delete(store *s, const char *id);
/* One study; ERR_NOT_FOUND when none has that id. */
int store_study_get(store *s, const char *id, int (*fn)(void *ctx, const store_study_row *r), void *ctx);
/* The studies of `tenant` (NULL: every tenant's), newest first, at most
 * `limit`. */
int store_studies_list(store *s, const char *tenant, int limit, int (*fn)(void *ctx, const store_study_row *r),
                       void *ctx);

typedef struct store_trial_row {
    int64_t       number;
    const char   *state;
    const char   *params_json;
    const double *x;             /* nx numbers (aligned copy) */
    int           nx;
    double        value;         /* NAN unless complete */
    int64_t       started_ms, heartbeat_ms, finished_ms;   /* finished 0: not finished */
} store_trial_row;

/* A new running trial (started = heartbeat = now_ms).  ERR_STORAGE when the
 * number exists. */
int store_trial_insert(store *s, const char *study, int64_t number, const char *params_json, const double *x,
                       int nx, int64_t now_ms);
/* Ends a running trial: its state and value (NAN: none), finished = now.
 * ERR_NOT_FOUND when the trial does not exist or is not running. */
int store_trial_finish(store *s, const char *study, int64_t number, const char *state, double value, int64_t now_ms);
/* Records (or replaces) the value at `step` of a running trial and sets its
 * heartbeat to now.  ERR_NOT_FOUND when it is not running. */
int store_trial_report(store *s, const char *study, int64_t number, int64_t step, double value, int64_t now_ms);
/* Marks "lost" every running trial of the study whose heartbeat is older
 * than before_ms (finished = now); *n (may be NULL) the count. */
int store_trials_lose(store *s, const char *study, int64_t before_ms, int64_t now_ms, int *n);
/* Every trial of the study by number, then every intermediate value by
 * (number, step), in one read transaction.  Either callback may be NULL;
 * a non-zero return stops the read (not an error). */
int store_study_trials(store *s, const char *study, int (*trial_fn)(void *ctx, const store_trial_row *t),
                       int (*value_fn)(void *ctx, int64_t number, int64_t step, double value), void *ctx);

#endif
