/* opt.h — the one interface every optimizer implements, classic or learned.
 *
 * An optimizer instance (`opt`) owns its state (moments, hidden states, …)
 * for one flat float32 parameter vector described by a `layout` (a list of
 * named tensors, row-major, concatenated).  `opt_step` turns gradients into
 * an update and applies it: params[i] += update[i].  Everything here is pure
 * computation: no I/O, no threads, no allocation inside a step.
 *
 * Optimizers are rows of a registry table (opt_registry), each with a table
 * of numeric hyperparameters (name, default, bounds, help).  Hyperparameters
 * common to every optimizer (learning-rate schedule, warmup, clipping) come
 * from one shared table.
 *
 * Thread rules: an `opt` is used by one thread at a time (the session mutex);
 * the registry is immutable. */
#ifndef OPTIRS_OPT_H
#define OPTIRS_OPT_H

#include <stddef.h>
#include <stdint.h>
#include "blob.h"
#include "layout.h"

#define OPT_MAX_HP      24     /* hyperparameters per optimizer, common ones included */
#define OPT_NAME_MAX    48

typedef enum { OPT_KIND_CLASSIC, OPT_KIND_LEARNED, OPT_KIND_HYBRID } opt_kind;

typedef enum {
    SCHEDULE_CONSTANT, SCHEDULE_LINEAR_WARMUP, SCHEDULE_COSINE, SCHEDULE_STEP
} schedule_kind;

typedef struct hparam_def {
    const char *name;
    double def, min, max;
    int    min_open, max_open; /* 1: bound excluded */
    int    integer;            /* 1: must be an integer */
    const char *help;
} hparam_def;

/* An optimizer's own hyperparameter whose values are names (mlp_lopt's
 * activation): opt_config.hp holds the index into values (an integer
 * hyperparameter with bounds [0, count − 1]); the API reads and writes the
 * name (spec.c, GET /v1/optimizers). */
typedef struct hparam_enum {
    const char        *name;     /* the hyperparameter */
    const char *const *values;   /* NULL-terminated */
} hparam_enum;

typedef struct opt opt;

/* Values of every hyperparameter of one optimizer, in the order of
 * opt_hparams(): the common ones first, then the optimizer's own. */
typedef struct opt_config {
    char          name[OPT_NAME_MAX];
    schedule_kind schedule;
    int64_t       total_steps;   /* for cosine decay; 0 = unknown */
    int           nhp;
    double        hp[OPT_MAX_HP];
    const char   *weights;        /* learned: weights record name, or NULL */
    int           film_row;       /* mlp_lopt on a FiLM record: the row the session's domain
                                     picks (lopt_film_row, 1..4), 0 = none (the trunk); lopt.h */
} opt_config;

typedef struct step_info {
    int64_t t;                  /* out: 1-based step number (opt_step sets it to o->t + 1) */
    double  loss;               /* in: loss at these params, NAN when unknown */
    double  lr;                 /* out: learning rate used this step */
    double  grad_norm;          /* out: L2 norm of the gradient (before clipping) */
    double  update_norm;        /* out: L2 norm of the update */
    double  param_norm;         /* out: L2 norm of the parameters after the step */
    int     clipped;            /* out: 1 when clipping scaled the gradient */
} step_info;

/* One named diagnostic scalar (see opt_vtbl.diag); name is static. */
typedef struct opt_diag_value { const char *name; double value; } opt_diag_value;
#define OPT_DIAG_MAX 16

typedef struct opt_vtbl {
    const char *name;
    opt_kind    kind;
    const char *description;                 /* one line */
    /* Learned and hybrid optimizers: the learned optimizer whose weights
     * records they run on (their own name, or a hybrid's learned part);
     * NULL for classic ones. */
    const char *weights_arch;
    const hparam_def *hparams;               /* own hyperparameters (after the common ones) */
    int         nhparams;
    const hparam_enum *enums;                /* optional: which of them take names; {NULL}-ended */
    /* Allocates state for `lay`; hp[] is the full vector (common + own). */
    int  (*init)(opt *o, const opt_config *cfg, const layout *lay);
    /* Writes update[i] for every parameter from grads (already clipped) at
     * learning rate `lr`.  Must not touch params. */
    int  (*step)(opt *o, const float *params, const float *grads, float *update,
                 double lr, step_info *info);
    /* Optional fused form of step for memory-bound optimizers: takes the
     * gradients as received with the clipping coefficient gscale (exactly 1
     * when clipping does not act; each gradient is gscale * grads[i] in
     * float32, what the clipped copy would hold), applies
     * params[i] += update[i] in the same pass and returns the sums of squares
     * of the update and of the new params.  opt_step prefers it. */
    int  (*step_apply)(opt *o, float *params, const float *grads, float gscale, float *update,
                       double lr, step_info *info, double *usq, double *psq);
    /* Optional, for steps that skip tensors (opt_step_masked): writes
     * update[i] for i in [off, off + len) — one tensor — as `step` would
     * for a tensor at its own 1-based step count t (torch keeps a step per
     * parameter: bias corrections, a momentum buffer's start).  Must not
     * touch params or any state outside the range.  grads may equal update
     * (opt_step_groups clips into the update range): element i of grads is
     * read before element i of update is written, and no other.  Elementwise optimizers
     * (the classic ones) have it; NULL: masks are refused. */
    int  (*step_range)(opt *o, const float *params, const float *grads, float *update,
                       double lr, int64_t t, size_t off, size_t len);
    int  (*save)(const opt *o, blob_writer *w);
    int  (*load)(opt *o, blob_reader *r);
    void (*deinit)(opt *o);
    /* Optional: named scalars that describe the optimizer's current state
     * (e.g. a hybrid's mixing weights), for the session's metrics.  Writes
     * at most `cap` entries and returns how many it wrote. */
    int  (*diag)(const opt *o, opt_diag_value *out, int cap);
    /* Bytes that init allocates for `lay` under `cfg` (state and scratch,
     * the state's own scratch allocated on first use included), computed
     * without allocating anything.  Learned optimizers read the weights
     * table (lopt_weights_resolve_shape): the same lock as init.  0 or the
     * error init would give for a config that does not resolve. */
    int  (*state_bytes)(const opt_config *cfg, const layout *lay, uint64_t *out);
    /* Optional: combinations of hyperparameters (and the layout) that the
     * per-hyperparameter bounds cannot express, e.g. attn_lopt's num_heads
     * dividing hidden_size.  0, or ERR_INVALID_ARGUMENT with the reason in
     * msg (cap bytes).  Reads cfg and lay only (never the weights table);
     * init and state_bytes refuse the same configs (and those a weights
     * record makes invalid); this gives callers the reason first. */
    int  (*check)(const opt_config *cfg, const layout *lay, char *msg, size_t cap);
    /* Optional: an optimizer with an optimization-history memory (mem_lopt,
     * lstm_lopt with memory_size > 0) gives its capacity and the entries it
     * holds and returns 1; 0 when it has none (session GET's `memory`). */
    int  (*memory)(const opt *o, int64_t *size, int64_t *fill);
} opt_vtbl;

struct opt {
    const opt_vtbl *vt;
    opt_config      cfg;
    layout          lay;
    int64_t         t;          /* steps taken */
    float          *scratch;    /* n floats: clipped gradients (clip_norm > 0 without a fused step_apply) */
    void           *state;      /* the optimizer's own */
    /* Per-tensor step counts (lay.ntensors; allocated when vt->step_range
     * is set), valid while lagging == 1: some tensor was skipped by a
     * masked step and has taken fewer steps than t.  lagging == 0: every
     * tensor has taken t steps. */
    int64_t        *tsteps;
    int             lagging;
};

/* Indices of the common hyperparameters in opt_config.hp. */
enum {
    HP_LR = 0, HP_WARMUP_STEPS, HP_DECAY_STEPS, HP_DECAY_RATE, HP_MIN_LR_RATIO,
    HP_CLIP_NORM, HP_COMMON_COUNT
};

/* Number of registered optimizers and the i-th one. */
int               opt_registry_count(void);
const opt_vtbl   *opt_registry_at(int i);
/* The optimizer called `name`, or NULL. */
const opt_vtbl   *opt_find(const char *name);

/* The common hyperparameter table (HP_COMMON_COUNT rows). */
const hparam_def *opt_common_hparams(void);
/* The i-th hyperparameter of `vt` (common ones first); NULL past the end. */
const hparam_def *opt_hparam_at(const opt_vtbl *vt, int i);
int               opt_hparam_count(const opt_vtbl *vt);
/* Index of hyperparameter `name` of `vt`, or -1. */
int               opt_hparam_index(const opt_vtbl *vt, const char *name);
/* The names hyperparameter i of `vt` takes (hparam_enum, NULL-terminated),
 * or NULL for a numeric one. */
const char *const *opt_hparam_values(const opt_vtbl *vt, int i);
/* For such a hyperparameter: the name of value v, NULL when v is not an
 * index of one; and the index of `name` (-1 when it is none of them). */
const char       *opt_hparam_value_name(const opt_vtbl *vt, int i, double v);
int               opt_hparam_value_index(const opt_vtbl *vt, int i, const char *name);
/* Checks `v` against the bounds of `def`: 0 or ERR_OUT_OF_RANGE / ERR_NON_FINITE. */
int               opt_hparam_check(const hparam_def *def, double v);

/* Fills cfg with the defaults of optimizer `name`: 0 or ERR_UNKNOWN_OPTIMIZER. */
int  opt_config_defaults(opt_config *cfg, const char *name);
/* Sets one hyperparameter by name with range checking:
 * 0, ERR_UNKNOWN_HYPERPARAM or ERR_OUT_OF_RANGE/ERR_NON_FINITE. */
int  opt_config_set(opt_config *cfg, const char *hp_name, double v);
/* "constant" | "linear_warmup" | "cosine" | "step" → kind; -1 when unknown. */
int  opt_schedule_parse(const char *s);
const char *opt_schedule_name(schedule_kind k);
/* Learning rate at 1-based step t under cfg's schedule. */
double opt_schedule_lr(const opt_config *cfg, int64_t t);

/* Bytes opt_init(cfg, lay) allocates: the optimizer's state_bytes plus the
 * clipping scratch and the layout copy.  Pure: nothing is allocated, so it
 * is the check before a session is built.  Saturates at UINT64_MAX.  0,
 * ERR_UNKNOWN_OPTIMIZER, or the error init would give. */
int  opt_bytes(const opt_config *cfg, const layout *lay, uint64_t *out);
/* a + b and a * b saturating at UINT64_MAX (byte counts). */
uint64_t opt_bytes_add(uint64_t a, uint64_t b);
uint64_t opt_bytes_mul(uint64_t a, uint64_t b);

/* Creates an optimizer for `lay` (copied).  Returns 0 or an error. */
int  opt_init(opt *o, const opt_config *cfg, const layout *lay);
void opt_deinit(opt *o);
/* One step: check the gradients are finite, clip (if clip_norm > 0), compute
 * the update, check it is finite, then params += update and t += 1, and fill
 * info.  ERR_NON_FINITE (a non-finite gradient) changes nothing.
 * ERR_NON_FINITE_UPDATE leaves t unchanged, but the optimizer's own state
 * may have advanced and, for optimizers with a fused step_apply (Adam,
 * AdamW), the params too: the caller restores both from its last snapshot,
 * as sessions do. */
int  opt_step(opt *o, float *params, const float *grads, float *update, step_info *info);
/* opt_step with the gradients' sum of squares already known: gsq must be
 * vm_sumsq(grads, n), computed by a caller that makes a pass over the
 * gradients anyway (a request decoder's finite check: a sum of squares is
 * non-finite exactly when a gradient is, and vm_sumsq is faster than a
 * per-element isfinite loop); opt_step then skips its own pass over them
 * (for Adam and AdamW one pass over memory remains).
 * A non-finite gsq is ERR_NON_FINITE.  A lagging optimizer (masked steps)
 * ignores gsq and sums per tensor. */
int  opt_step_gsq(opt *o, float *params, const float *grads, double gsq, float *update, step_info *info);
/* opt_step for a step in which the tensors with skip[j] != 0 (skip has
 * lay.ntensors entries) have no gradient, as torch skips a parameter whose
 * grad is None: their update is 0 and their state (moments, momentum, their
 * own step count) does not change, their gradient values are not read, and
 * they count neither in grad_norm nor in clipping.  The other tensors step
 * at their own step counts.  t, the schedule's step, still advances.  Once
 * a tensor has been skipped, opt_step runs this way too (with no tensor
 * skipped).  ERR_INVALID_ARGUMENT for an optimizer without step_range;
 * else opt_step's results and caveats. */
int  opt_step_masked(opt *o, float *params, const float *grads, float *update, const uint8_t *skip,
                     step_info *info);
/* opt_step_masked where tensor j runs with the hyperparameter vector
 * tensor_hp[j] (a full vector in opt_hparams() order, checked by
 * opt_group_hp_check; NULL entries, or tensor_hp NULL: o->cfg.hp), as torch's
 * parameter groups do: its learning rate is the schedule's at t under that
 * vector.  info->lr is tensor 0's.  The kernels read o->cfg, so o->cfg.hp
 * is set to the tensor's vector around its call and restored. */
int  opt_step_groups(opt *o, float *params, const float *grads, float *update, const uint8_t *skip,
                     const double *const *tensor_hp, step_info *info);
/* Checks hp as the hyperparameters of a group of tensors of an optimizer
 * configured by cfg: every value in its bounds, and equal to cfg's wherever
 * the optimizer's state or the common schedule depends on it (the common
 * hyperparameters other than lr, the integer flags such as amsgrad or
 * nesterov, initial_accumulator_value, and whether momentum is 0); *bad
 * gets the offending index.  0, ERR_OUT_OF_RANGE, ERR_NON_FINITE or
 * ERR_INVALID_ARGUMENT (may not differ per group). */
int  opt_group_hp_check(const opt_config *cfg, const double *hp, int *bad);
/* 1 when `o` can take masked steps (its optimizer has step_range). */
int  opt_can_mask(const opt *o);
/* The optimizer's diagnostics (opt_vtbl.diag): how many written to out
 * (at most cap); 0 for an optimizer without any. */
int  opt_diag(const opt *o, opt_diag_value *out, int cap);
/* opt_vtbl.memory: 1 and *size, *fill when o has a memory, else 0. */
int  opt_memory(const opt *o, int64_t *size, int64_t *fill);
/* Serializes t and the optimizer's state as a BLOB_KIND_OPT_STATE blob. */
int  opt_save(const opt *o, uint8_t **out, size_t *out_len);
/* Restores from opt_save's blob into an opt already initialised with the same
 * config and layout.  ERR_CORRUPT when the blob does not fit. */
int  opt_load(opt *o, const void *data, size_t len);

#endif
