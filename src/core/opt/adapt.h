/* adapt.h — online adaptation of a classic optimizer's learning rate from
 * its own gradients: hypergradient descent (Baydin et al. 2018, "Online
 * Learning Rate Adaptation with Hypergradient Descent").
 *
 * The update of a classic optimizer is linear in its learning rate:
 * u_{t-1} = alpha_{t-1} d_{t-1}.  The derivative of the loss after step t-1
 * with respect to alpha_{t-1} is h_t = g_t . u_{t-1} / alpha_{t-1}, where g_t
 * is the gradient that arrives at step t (the gradient at the parameters
 * u_{t-1} produced).  Gradient descent on alpha gives
 *     alpha_t = alpha_{t-1} - beta h_t,
 * the paper's additive rule (for SGD: alpha_t = alpha_{t-1} + beta g_t . g_{t-1}).
 * It uses only gradients of steps already taken.  Per tensor, each tensor k
 * has its own alpha_k and h_k sums over that tensor only; globally one alpha.
 * With a learning-rate schedule, alpha is the schedule's rate times a learned
 * multiplier m: m_t = alpha_t / lr_sched(t - 1), applied as lr_sched(t) m_t;
 * with the constant schedule this is exactly the paper's rule.  alpha is kept
 * in [lr_min, lr_max].
 *
 * Use: adapt_before_step, then opt_step, then adapt_after_step (which must
 * run only when opt_step succeeded).  The state (multipliers, the previous
 * step's rates) is saved with adapt_save so that a restored session
 * continues bit for bit.
 *
 * Ownership: adapt_init allocates, adapt_deinit frees.  Thread rules: like
 * the opt it adapts (one thread at a time). */
#ifndef OPTIRS_ADAPT_H
#define OPTIRS_ADAPT_H

#include <stddef.h>
#include "blob.h"
#include "opt.h"

typedef enum { ADAPT_LR_NONE = 0, ADAPT_LR_HYPERGRADIENT = 1 } adapt_lr_kind;

typedef struct adapt_config {
    adapt_lr_kind lr;
    double beta;          /* hypergradient learning rate, > 0 */
    int    per_tensor;    /* 1: one rate per tensor */
    double lr_min, lr_max;/* bounds on the adapted rate (0 < lr_min < lr_max <= 10) */
} adapt_config;

#define ADAPT_BETA_DEFAULT   1e-4
#define ADAPT_LR_MIN_DEFAULT 1e-8
#define ADAPT_LR_MAX_DEFAULT 10.0

typedef struct adapt {
    adapt_config cfg;
    double  base_lr;      /* the configured lr (hp[HP_LR]) */
    int     nmult;        /* 1 (global) or ntensors */
    double *mult;         /* (nmult) learned multipliers of the schedule's rate */
    double *prev_lr;      /* (nmult) rate used at the previous step; 0 = none yet */
    double *hg;           /* (nmult) last hypergradient */
    double  last_h;       /* last hypergradient, summed over tensors */
} adapt;

/* Fills cfg with defaults (no adaptation). */
void adapt_config_defaults(adapt_config *cfg);
/* Checks a config: 0 or ERR_OUT_OF_RANGE / ERR_NON_FINITE. */
int  adapt_config_check(const adapt_config *cfg);
/* Sets up adaptation for optimizer `o` (already initialised).  Classic
 * optimizers only (ERR_INVALID_ARGUMENT otherwise).  0 or ERR_*. */
int  adapt_init(adapt *a, const adapt_config *cfg, const opt *o);
void adapt_deinit(adapt *a);
/* Updates the rates from grads (as received) and the previous update
 * (prev_update, the answer of step o->t; NULL or all zero = none), then sets
 * the rate opt_step will use. */
void adapt_before_step(adapt *a, opt *o, const float *grads, const float *prev_update);
/* After a successful opt_step: per tensor, rescales each tensor's update (and
 * the parameters it moved) by its multiplier; records the rates used; sets
 * info->lr to the size-weighted mean rate and recomputes info's update and
 * parameter norms when they changed.  Restores o's configured lr. */
void adapt_after_step(adapt *a, opt *o, float *params, float *update, step_info *info);
/* Mean rate multiplier (size-weighted) — 1 when nothing was learned yet. */
double adapt_mean_multiplier(const adapt *a, const opt *o);
int  adapt_save(const adapt *a, blob_writer *w);
/* ERR_CORRUPT when the stored state does not fit this config. */
int  adapt_load(adapt *a, blob_reader *r);

#endif
