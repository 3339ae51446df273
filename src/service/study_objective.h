/* study_objective.h — the objective of a study the daemon runs itself
 * (docs/studies.md#studies-the-daemon-runs): a built-in task trained by a
 * classic optimizer for a number of steps, over one or more seeds.
 *
 *   "objective": {"task": "mlp_regression width=16", "steps": 100,
 *                 "optimizer": "adam", "seeds": [0, 1],
 *                 "report": "train" | "heldout", "report_every": 1}
 *
 * What the pruner sees (study_run.h): every `report_every`-th step's value
 * (and the last step's) — the mean over the seeds of that step's minibatch
 * loss ("train", the default) or of the task's held-out loss after it
 * ("heldout": the same measure as the trial's final value).
 *
 * What a trial's parameters mean to it (checked against the space when the
 * study is created: a parameter it cannot use is refused):
 *   - a hyperparameter name of the optimizer (lr, beta1, weight_decay, …):
 *     sets it (a value outside the optimizer's range fails the trial);
 *   - "batch" (int or numeric categorical): the task's minibatch size;
 *   - "width", "depth" (int): the task's hidden units and layers;
 *   - "architecture" (categorical of "small", "medium", "large"): the
 *     task's width scaled by 1/2, 1, 2 (the width the task text names,
 *     else STUDY_OBJ_BASE_WIDTH); with "width" in the space too it is
 *     refused (two parameters for one size).
 * Or trials that meta-train a learned optimizer (study_meta.h):
 *   "objective": {"meta": {a meta-training request}, "score": {...},
 *                 "report_every": 1}
 * — "meta" excludes task, steps, optimizer, seeds and report (those are
 * the built-in task's); every report_every-th outer step's meta-loss (and
 * the last's) is reported, the final value is the score.
 * "optimizer" is any optimizer of opt_find (default adam): a learned or
 * hybrid one runs on its weights record of the registry (meta_weights.h;
 * e.g. mlp_lopt's "lr", the scale of its step).
 * The normalised form is part of the study's stored request, so a
 * restarted daemon reads it back unchanged.
 * Errors: ERR_INVALID_ARGUMENT, ERR_MISSING_FIELD, ERR_UNKNOWN_FIELD,
 * ERR_OUT_OF_RANGE, with a message naming the field.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_STUDY_OBJECTIVE_H
#define OPTIRS_STUDY_OBJECTIVE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "hpo.h"
#include "meta_spec.h"
#include "opt.h"
#include "study_meta.h"

#define STUDY_OBJ_MAX_STEPS  100000   /* steps of one trial */
#define STUDY_OBJ_MAX_SEEDS  8        /* seeds a trial trains on (its value: their mean) */
#define STUDY_OBJ_BASE_WIDTH 32       /* "architecture" scales this when the task names no width */

typedef struct study_objective {
    int            given;                      /* 0: no objective (clients run the trials) */
    char           task_text[META_TASK_TEXT];  /* as written, blanks collapsed */
    meta_task_spec task;
    int64_t        steps;
    char           optimizer[OPT_NAME_MAX];
    int            nseeds;
    uint64_t       seeds[STUDY_OBJ_MAX_SEEDS];
    int            report_heldout;             /* 1: "heldout", 0: "train" */
    int64_t        report_every;               /* 1 .. steps (meta: 1 .. META_MAX_OUTER_STEPS) */
    int            is_meta;                    /* 1: trials meta-train (meta below; the fields above unused
                                                  but report_every) */
    study_meta     meta;
} study_objective;

/* Parses "objective" (v) for a study over `space` (choices[i]: parameter
 * i's choices, a JSON array, for a categorical) into *o. */
int    study_objective_parse(study_objective *o, const cJSON *v, const hpo_space *space, cJSON *const *choices,
                             char *msg, size_t cap);
/* One trial's objective outside a study (`optirsd objective`): parses the
 * built-in task's objective v as study_objective_parse does for a space
 * holding exactly the parameters of `params` (a number: that value, an int
 * for batch, width and depth; a string: a categorical of that one choice),
 * so a parameter the objective cannot use is refused as at a study's
 * creation.  A meta-training objective is refused (ERR_INVALID_ARGUMENT). */
int    study_objective_parse_trial(study_objective *o, const cJSON *v, const cJSON *params, char *msg, size_t cap);
/* The checks a study's creation adds to the parse (study_meta_check for a
 * meta-training objective: tasks and jobs are created, the cost bounded,
 * and the direction must be minimize (+1: a meta-loss and a score are
 * better lower); nothing for a built-in task's). */
int    study_objective_check(const study_objective *o, const hpo_space *space, cJSON *const *choices,
                             int64_t max_trials, int direction, char *msg, size_t cap);
/* The normalised object; NULL without memory. */
cJSON *study_objective_to_json(const study_objective *o);
/* One trial's setting: the optimizer's config and the task's parameters
 * from the trial's `params` ({"name": value}).  ERR_OUT_OF_RANGE (a value
 * the optimizer or the task cannot take) with msg. */
int    study_objective_apply(const study_objective *o, const cJSON *params, opt_config *cfg, task_params *tp,
                             char *msg, size_t cap);

#endif
