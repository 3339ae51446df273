/* study_spec.h — a study's request (POST /v1/studies): parsed, checked
 * completely and normalised; the normalised JSON is what the store keeps
 * and what parsing it again gives back (so a restarted daemon samples
 * exactly as before).
 *
 *   {"name": "adam-lr", "direction": "minimize" | "maximize",
 *    "space": {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},
 *              "layers": {"type": "int", "low": 1, "high": 4, "step": 1},
 *              "batch": {"type": "categorical", "choices": [16, 32, 64, 128]},
 *              "momentum": {"type": "float", "low": 0, "high": 0.99,
 *                           "when": {"optimizer": ["sgd"]}}, …},   (conditional: hpo.h)
 *    "sampler": "random" | "tpe" | "gp", "pruner": "none" | "median" | "asha",
 *    "max_trials": 100, "parallel": 4, "seed": 0,
 *    "sampler_options": {"n_startup_trials", "n_ei_candidates", "prior_weight", "multivariate"},
 *    "pruner_options": {"n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor"},
 *    "objective": {"task", "steps", "optimizer", "seeds"}}   (study_objective.h; optional)
 *
 * Limits and defaults are in docs/studies.md (one place); the numbers are
 * the STUDY_* constants below and hpo.h's HPO_MAX_*.  Choices are numbers,
 * strings (at most STUDY_CHOICE_MAX bytes), booleans or null, each once.
 * Names are 1 to HPO_NAME_MAX bytes (a study's STUDY_NAME_MAX) of UTF-8
 * without control characters.  A `when` names one categorical parameter
 * of the space (declared before or after) and some of its choices; its
 * chain is acyclic and at most HPO_MAX_DEPTH long; the gp sampler takes no
 * condition and `multivariate` is tpe's only.
 * Errors: ERR_INVALID_ARGUMENT, ERR_MISSING_FIELD, ERR_UNKNOWN_FIELD,
 * ERR_OUT_OF_RANGE, ERR_NON_FINITE, with a message naming the field.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_STUDY_SPEC_H
#define OPTIRS_STUDY_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "hpo.h"
#include "study_objective.h"

#define STUDY_NAME_MAX      128
#define STUDY_CHOICE_MAX    256      /* bytes of a string choice */
#define STUDY_MAX_TRIALS    10000    /* the largest max_trials (and the default) */
#define STUDY_MAX_PARALLEL  1024     /* the largest parallel */
#define STUDY_DEFAULT_PARALLEL 64

typedef struct study_spec {
    char           name[STUDY_NAME_MAX + 1];
    int            direction;                   /* +1 minimize, -1 maximize */
    hpo_sampler    sampler;
    hpo_pruner     pruner;
    int64_t        max_trials;
    int64_t        parallel;
    uint64_t       seed;
    hpo_space      space;
    cJSON         *choices[HPO_MAX_PARAMS];     /* owned: a categorical's choices (an array), else NULL */
    hpo_tpe_opts   tpe;
    hpo_prune_opts prune;
    study_objective objective;                  /* .given: the daemon runs the trials (study_run.h) */
} study_spec;

/* Parses the object `body` into sp (zeroed first).  seed_if_absent is the
 * seed used when the request names none.  0 or an error with msg. */
int    study_spec_parse(study_spec *sp, const cJSON *body, uint64_t seed_if_absent, char *msg, size_t msgcap);
void   study_spec_free(study_spec *sp);
/* The normalised request (every default filled in); NULL without memory. */
cJSON *study_spec_to_json(const study_spec *sp);
/* The parameters of a trial as {"name": value, …}: numbers for float and
 * int, the choice itself for a categorical; absent (NAN) ones left out. */
cJSON *study_spec_params_json(const study_spec *sp, const double *x);
/* "minimize"/"maximize", and the sampler's and pruner's names. */
const char *study_spec_direction_name(int direction);

#endif
