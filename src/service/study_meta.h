/* study_meta.h — the objective of a study whose trials are meta-training
 * runs (docs/studies.md#trials-that-meta-train), and one such trial's run.
 *
 *   "objective": {"meta":  {a meta-training request as POST /v1/meta/jobs
 *                           takes it: "optimizer", "estimator", "tasks",
 *                           "outer_steps", "particles", "unroll", ...},
 *                 "score": {"suite": "selection", "tasks": 3, "horizon": 100,
 *                           "seeds": 2},
 *                 "report_every": 1}
 *
 * "meta" is read by meta_spec_from_json over meta_spec_defaults, except the
 * keys that concern a weights record a trial never stores (name, domain,
 * checkpoint_every, keep_checkpoints, stage_eval_steps, stage_eval_seeds):
 * ERR_INVALID_ARGUMENT naming the key.  A trial meta-trains a fresh job of
 * that request with the trial's parameters set over it, on the calling
 * thread (meta_run_job_new, meta_run_step: the engine of meta jobs); each
 * outer step's meta-loss is its intermediate value at that step (steps
 * count from 1); its final value is the score of its theta on the named
 * subset (meta_score.h: "selection", its first `tasks` tasks, `horizon`
 * inner steps, `seeds` seeds).  Nothing is stored in the weights registry.
 *
 * The space's parameters: each must be a numeric key of meta_spec
 * (meta_spec_num_key: outer_lr, sigma, unroll, particles, hidden, depth,
 * outer_steps, ...; not the keys refused above, nor threads), an int or a
 * numeric categorical for an integer key (a float is refused), its range or
 * every choice within the key's bounds; anything else is
 * ERR_INVALID_ARGUMENT naming the parameter.  study_meta_check (at
 * creation) also meta_spec_checks the base request and the base with each
 * parameter alone at its lowest and at its highest value (a parameter the
 * optimizer cannot take at all, e.g. trust with lstm_lopt, is refused,
 * naming it; so is one whose particles alone take more than a run holds,
 * STUDY_RUN_MAX_BYTES: ERR_OUT_OF_RANGE), and bounds the total cost:
 *     max_trials × (outer_steps × particles × 2 × unroll × max(1, maml_inner_steps)
 *                   + tasks × seeds × horizon)  ≤  STUDY_META_MAX_INNER_STEPS,
 * each factor at the largest value the request or the space allows: the
 * inner optimizer steps of the antithetic unrolls and of the score, an
 * upper bound of the trials' work (PES's burn-in and the reference paths of
 * objective=ref are not counted).  Over it: ERR_OUT_OF_RANGE.  A trial whose
 * combination of values meta_spec_check refuses is told failed at run time.
 *
 * Errors: ERR_INVALID_ARGUMENT, ERR_MISSING_FIELD, ERR_UNKNOWN_FIELD,
 * ERR_OUT_OF_RANGE, ERR_NOT_FOUND (init_weights), with a message naming the
 * field.  Thread rules: any thread (a trial's run takes the weights lock
 * once, when it names init_weights). */
#ifndef OPTIRS_STUDY_META_H
#define OPTIRS_STUDY_META_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "hpo.h"
#include "meta_spec.h"

#define STUDY_META_MAX_INNER_STEPS 100000000.0   /* the total cost above: 1e8 inner steps */
#define STUDY_META_MAX_HORIZON     10000
#define STUDY_META_MAX_SEEDS       16

typedef struct study_meta {
    meta_spec ms;              /* the base request (meta_spec_check not applied) */
    int       score_tasks;     /* 1 .. META_SCORE_SELECTION_N (default: all) */
    int       score_horizon;   /* 1 .. STUDY_META_MAX_HORIZON (100) */
    int       score_seeds;     /* 1 .. STUDY_META_MAX_SEEDS (2) */
} study_meta;

/* Parses "meta" (required) and "score" (may be NULL) for a study over
 * `space` (choices[i]: a categorical's choices) into *m: the light checks
 * (keys, values, the space's parameters); no task or job is created. */
int    study_meta_parse(study_meta *m, const cJSON *meta, const cJSON *score, const hpo_space *space,
                        cJSON *const *choices, char *msg, size_t cap);
/* The normalised "meta" and "score" objects added to `obj`; 0 or ERR_NO_MEMORY. */
int    study_meta_to_json(const study_meta *m, cJSON *obj);
/* The creation's checks (see above): the request, each parameter alone,
 * the init_weights record, the cost of max_trials trials. */
int    study_meta_check(const study_meta *m, const hpo_space *space, cJSON *const *choices, int64_t max_trials,
                        char *msg, size_t cap);
/* The meta-training request of one trial: the base with `params` set, checked
 * (meta_spec_check).  ERR_* with msg: the trial cannot run. */
int    study_meta_apply(const study_meta *m, const cJSON *params, meta_spec *out, char *msg, size_t cap);

/* ---- one trial's run ---- */
typedef struct study_meta_trial study_meta_trial;

/* The trial of `params`: its request and its fresh job, when its particles
 * (meta_spec_job_bytes) fit in `room` bytes (*bytes: what it takes).
 * ERR_OUT_OF_RANGE past room, or the request's or the job's error, with msg. */
int     study_meta_trial_new(const study_meta *m, const cJSON *params, uint64_t room, study_meta_trial **out,
                             uint64_t *bytes, char *msg, size_t cap);
/* Its outer steps (the trial's outer_steps). */
int64_t study_meta_trial_steps(const study_meta_trial *t);
/* One outer step on the calling thread: its meta-loss in *loss (0 or the
 * engine's ERR_*). */
int     study_meta_trial_step(study_meta_trial *t, double *loss);
/* The score of the trial's theta now (meta_score.h). */
int     study_meta_trial_score(const study_meta_trial *t, const study_meta *m, double *value, char *msg, size_t cap);
void    study_meta_trial_free(study_meta_trial *t);

#endif
