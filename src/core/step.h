/* step.h — one session step as a single pure call: adaptation → optimizer
 * step → online learner → analytics → diagnostics, in that order, returning
 * numbers only (no JSON, no I/O, no clock of its own).
 *
 * The caller owns every buffer and keeps the policy: divergence of the loss,
 * rollback, persistence, the live feed and the answer stay with it.  Given
 * the same state, gradient and loss, step_run does exactly what the
 * hand-sequenced calls did (online_es_observe/begin_step, adapt_before_step,
 * opt_step, adapt_after_step, online_es_after_step, analytics_step_stats,
 * online_es_diag, opt_diag, the multiplier), bit for bit.
 *
 * Invariants: on an error nothing after the failing call runs (no learner
 * step, no analytics); a non-finite update is flagged in the result
 * (non_finite) and returned as ERR_NON_FINITE_UPDATE, with the caveat of
 * opt_step: the optimizer's state, and for fused optimizers (Adam, AdamW)
 * the params, may have moved — the caller restores from its last snapshot.
 *
 * Thread rules: like the opt it drives (one thread at a time, the session's
 * lock). */
#ifndef OPTIRS_STEP_H
#define OPTIRS_STEP_H

#include <stdint.h>
#include "adapt.h"
#include "analytics.h"
#include "online_es.h"
#include "opt.h"

/* A session's core state for one step: pointers only, the caller owns them. */
typedef struct step_state {
    opt          *o;
    adapt        *ad;            /* NULL or ad->nmult == 0: no lr adaptation */
    online_es    *es;            /* NULL or es->K == 0: no online learner */
    const layout *lay;           /* the session's layout (learner, analytics) */
    float        *params;        /* (n) updated in place */
    const float  *prev_update;   /* (n) the previous step's update (adaptation, update cosine) */
    float        *update;        /* (n) out: this step's update (all zero when skipped) */
    /* (lay->ntensors) or NULL: tensors with skip_tensors[j] != 0 have no
     * gradient this step (opt_step_masked).  Only without adaptation and
     * learner (the caller refuses the combination). */
    const uint8_t *skip_tensors;
    /* (lay->ntensors) or NULL: tensor j steps with the hyperparameter
     * vector tensor_hp[j] (opt_step_groups; parameter groups and a step's
     * hyperparameters).  Same restriction as skip_tensors. */
    const double *const *tensor_hp;
    /* NULL, or vm_sumsq of the gradients computed by the caller in a pass
     * it makes over them anyway (opt_step_gsq), so that the step does not
     * read them once more for it.  Ignored with skip_tensors or
     * tensor_hp. */
    const double *gsq;
    /* Optional monotonic clock in seconds, read around the optimizer part
     * (learner start → learner end) for result.duration; NULL: NAN. */
    double      (*clock)(void);
} step_state;

/* What a step produced: numbers for the caller's metric row, live feed and
 * answer. */
typedef struct step_result {
    step_info      info;         /* lr, grad/update/param norms after adaptation and learner */
    double         duration;     /* seconds of the optimizer part (step_state.clock), NAN without one */
    int            non_finite;   /* 1: the update was not finite (ERR_NON_FINITE_UPDATE) */
    int            has_stats;    /* 1: stats filled (an applied step, not a skipped one) */
    analytics_step stats;        /* per-tensor norms, update cosine and ratio */
    double         lr_mult;      /* learner's mean scale, else adaptation's mean multiplier, else NAN */
    int            ndiag;        /* entries of diag: the learner's figures, then opt_diag's */
    opt_diag_value diag[2 * OPT_DIAG_MAX];
} step_result;

/* Runs step k with gradients g (as received) and the loss sent with it
 * (NAN: none); skip: counts the step, applies nothing (update zeroed; the
 * learner still sees the loss and begins step k).  Fills *out.  0,
 * ERR_INTERNAL when k is not the learner's next (or last) step, or
 * opt_step's error (ERR_NON_FINITE_UPDATE sets out->non_finite). */
int step_run(const step_state *st, int64_t k, const float *g, double loss, int skip, step_result *out);

#endif
