/* groups.h — parameter groups, as torch's param_groups: a session may give
 * groups of tensors their own hyperparameters ("groups" in the create
 * request), and a step may carry this step's values ("hyperparams" in the
 * step) so torch's lr schedulers and param_groups edits take effect.
 *
 * Create: "groups": [{"tensors": [name, …], "lr": x, <own hyperparameter>: y,
 * …}, …] — every tensor in exactly one group; a value left out is the
 * session's.  Step: "hyperparams": [{…}, …] — one object per group (one
 * object for a session without groups: all its tensors), the values for
 * this step only, over the group's own.  A group or step may set lr and the
 * optimizer's own hyperparameters, within their bounds, except where the
 * optimizer's state depends on them (opt_group_hp_check: integer flags such
 * as amsgrad or nesterov, initial_accumulator_value, momentum's being 0);
 * the schedule and clipping stay the session's.  Only optimizers with
 * masked steps (core's opt_step_groups: the classic ones) take groups or
 * step hyperparameters.
 *
 * Invariants: a parsed spec_groups has n >= 1 groups, every tensor's group
 * in [0, n), every group's vector passing opt_group_hp_check.
 * Ownership: groups_deinit frees what groups_parse allocated.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_GROUPS_H
#define OPTIRS_GROUPS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "layout.h"
#include "opt.h"

#define GROUPS_MAX 256

typedef struct spec_groups {
    int     n;                    /* 0: no groups */
    int    *of_tensor;            /* (lay.ntensors) each tensor's group */
    double (*hp)[OPT_MAX_HP];     /* (n) each group's full vector */
} spec_groups;

/* Parses "groups" (v) for a session configured by cfg over lay.  0, or
 * ERR_INVALID_ARGUMENT / ERR_UNKNOWN_HYPERPARAM / ERR_OUT_OF_RANGE /
 * ERR_NON_FINITE / ERR_NO_MEMORY with msg. */
int    groups_parse(const cJSON *v, const opt_config *cfg, const layout *lay, spec_groups *g, char *msg, size_t cap);
/* The normalized "groups" (every hyperparameter a group may set, filled
 * in); NULL on ERR_NO_MEMORY. */
cJSON *groups_to_json(const spec_groups *g, const opt_config *cfg, const layout *lay);
void   groups_deinit(spec_groups *g);
/* 1 when an optimizer of this config can have groups and step hyperparameters. */
int    groups_supported(const opt_config *cfg);
/* This step's vectors from a step's "hyperparams" (v): out has
 * max(g->n, 1) rows, each the group's vector (cfg's without groups) with
 * v's values over it.  0 or the errors of groups_parse, with msg. */
int    groups_step_hp(const cJSON *v, const spec_groups *g, const opt_config *cfg, double (*out)[OPT_MAX_HP],
                      char *msg, size_t cap);
/* The lr each of g's n groups runs at, at the schedule's step t, when
 * tensor j runs with the vector tensor_hp[j] (as opt_step_groups computes
 * it: the schedule of cfg under the group's vector); out has g->n entries.
 * Returns g->n (0 without groups or tensor_hp). */
int    groups_step_lr(const spec_groups *g, const layout *lay, const opt_config *cfg,
                      const double *const *tensor_hp, int64_t t, double *out);

#endif
