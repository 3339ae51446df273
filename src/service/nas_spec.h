/* nas_spec.h — an architecture search over learned optimizers (issue #20
 * part 3), from the JSON body of POST /v1/meta/jobs with "method": "nas".
 *
 * Keys (docs/studies.md#architecture-search documents each):
 *   space        {"optimizer": [names], "hidden": [ints], "depth": [ints],
 *                 "num_heads": [ints], "activation": [names],
 *                 "features": [names]} — categorical
 *                lists, each optional (defaults: mlp_lopt and lstm_lopt,
 *                hidden {4, 8, 16}, depth {1, 2}, num_heads {1, 2} for
 *                attn_lopt only, activation {relu} for mlp_lopt only: relu,
 *                gelu, swish; features {full} for mlp_lopt only: lopt.h's
 *                input feature sets).  The architectures are every combination
 *                meta_spec_check accepts (attn_lopt: num_heads divides
 *                hidden; num_heads is ignored for the other families, which
 *                have no heads; activation and features likewise outside
 *                mlp_lopt, whose networks' activations and inputs are fixed).
 *   candidates   how many distinct architectures get the short run (2..64)
 *   full         how many of them get the long run and a score (1..candidates)
 *   outer_steps  the short PES run's outer steps (1..100000)
 *   full_steps   the long run's outer steps (>= outer_steps; default 4×)
 *   eval_steps, eval_seeds  the selection score's unroll and seeds
 *   task         the meta-training task (one task text; default
 *                "quadratic dim=10"), particles, unroll: the base meta-training
 *   seed, name   the rng seed; the weights record the best candidate becomes
 *                (not a learned optimizer's name nor "<optimizer>.<domain>")
 * Every other key is ERR_UNKNOWN_FIELD; values out of bounds
 * ERR_OUT_OF_RANGE; an optimizer outside the six learned families, an
 * unknown activation or feature set, or a value listed twice ERR_INVALID_ARGUMENT; a space with fewer valid architectures than
 * `candidates` ERR_INVALID_ARGUMENT.
 *
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_NAS_SPEC_H
#define OPTIRS_NAS_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "lopt.h"
#include "meta_spec.h"

#define NAS_MAX_CANDIDATES 64
#define NAS_MAX_CHOICES    8
#define NAS_MAX_STEPS      100000
#define NAS_NFAMILIES      6
#define NAS_RECIPE_MAX     8192   /* bytes of a recipe's compact JSON */

typedef struct nas_arch {
    int  family;               /* index into nas_family_names */
    int  hidden, depth, heads; /* heads 0 outside attn_lopt */
    int  act;                  /* LOPT_ACT_*: mlp_lopt's activation; relu (0) for the others */
    int  fset;                 /* LOPT_FSET_*: mlp_lopt's input feature set; full (0) for the others */
} nas_arch;

typedef struct nas_spec {
    int      nfam, fam[NAS_NFAMILIES];
    int      nhidden, hidden[NAS_MAX_CHOICES];
    int      ndepth, depth[NAS_MAX_CHOICES];
    int      nheads, heads[NAS_MAX_CHOICES];
    int      nact, act[NAS_MAX_CHOICES];   /* LOPT_ACT_*, mlp_lopt only */
    int      nfset, fset[LOPT_FSET_COUNT]; /* LOPT_FSET_*, mlp_lopt only */
    int      candidates, full;
    int64_t  outer_steps, full_steps;
    int      eval_steps, eval_seeds;
    int      particles, unroll;
    char     task[META_TASK_TEXT];
    /* the meta-training recipe every candidate runs (keys of nas_recipe_keys, compact JSON;
       "" = none: the one `task` and the meta-training defaults) */
    char     recipe[NAS_RECIPE_MAX];
    int      recipe_tasks;            /* 1: the recipe lists tasks (which replace `task`) */
    uint64_t seed;
    char     name[META_WNAME_MAX];
    /* nas_spec_check's result: the sampled candidates, in sampling order */
    int      ncand;
    nas_arch cand[NAS_MAX_CANDIDATES];
} nas_spec;

extern const char *const nas_family_names[NAS_NFAMILIES];

/* 8 candidates, 3 fully trained, 20 outer steps, full 4×, eval 100 steps
 * × 2 seeds, 8 particles, unroll 10, seed 0, name "nas-best". */
void   nas_spec_defaults(nas_spec *sp);
/* Reads the request (method must be "nas"), then samples the candidates
 * (nas_spec_check).  0 or ERR_* with msg. */
int    nas_spec_from_json(nas_spec *sp, const cJSON *obj, char *msg, size_t cap);
/* Enumerates the valid architectures of the space and draws sp->candidates
 * of them without replacement (seeded).  0 or ERR_* with msg. */
int    nas_spec_check(nas_spec *sp, char *msg, size_t cap);
/* The meta-training request of candidate a with `steps` outer steps. */
int    nas_spec_candidate(const nas_spec *sp, const nas_arch *a, int64_t steps, meta_spec *out, char *msg, size_t cap);
/* 1 when the body asks for an architecture search ("method": "nas"). */
int    nas_spec_is_request(const cJSON *obj);
cJSON *nas_spec_to_json(const nas_spec *sp);
cJSON *nas_arch_to_json(const nas_arch *a);

#endif
