/* step.c — a session step as one call; see step.h.  The order of the calls
 * is the contract (the online learner's loss before its step begins,
 * adaptation around opt_step, the learner's scales after it): changing it
 * changes every answer. */
#include "step.h"

#include <math.h>
#include <string.h>
#include "errors.h"

static double clock_or_nan(const step_state *st) { return st->clock ? st->clock() : NAN; }

int step_run(const step_state *st, int64_t k, const float *g, double loss, int skip, step_result *out)
{
    online_es *es = st->es && st->es->K ? st->es : NULL;
    adapt *ad = st->ad && st->ad->nmult ? st->ad : NULL;
    out->info = (step_info){.loss = loss, .grad_norm = NAN, .update_norm = 0, .param_norm = NAN, .lr = NAN};
    out->duration = NAN;
    out->non_finite = 0;
    out->has_stats = 0;
    out->stats.ntensors = 0;
    out->lr_mult = NAN;
    out->ndiag = 0;

    double t0 = clock_or_nan(st);
    int rc = 0;
    if (es) {
        /* The loss sent with step k is the loss at the params before update
         * k: the learner's ℓ_k (a repeat of it as feedback is ignored). */
        if (isfinite(loss)) online_es_observe(es, k, loss);
        /* k is the learner's next step, or its last when a failed step is
         * retried; anything else is a bug, not a client error. */
        if (online_es_begin_step(es, k) != 0) return ERR_INTERNAL;
    }
    if (skip) memset(st->update, 0, st->lay->n * sizeof(float));
    else {
        if (ad) adapt_before_step(ad, st->o, g, st->prev_update);
        rc = st->skip_tensors || st->tensor_hp
                 ? opt_step_groups(st->o, st->params, g, st->update, st->skip_tensors, st->tensor_hp, &out->info)
                 : st->gsq ? opt_step_gsq(st->o, st->params, g, *st->gsq, st->update, &out->info)
                 : opt_step(st->o, st->params, g, st->update, &out->info);
        if (!rc && ad) adapt_after_step(ad, st->o, st->params, st->update, &out->info);
        if (!rc && es) online_es_after_step(es, st->lay, st->params, st->update, &out->info);
    }
    out->duration = clock_or_nan(st) - t0;
    if (rc) {
        out->non_finite = rc == ERR_NON_FINITE_UPDATE;
        return rc;
    }

    if (!skip) {
        analytics_step_stats(st->lay, g, st->params, st->update, st->prev_update, out->info.update_norm,
                             out->info.param_norm, &out->stats);
        out->has_stats = 1;
    }
    if (es) out->ndiag += online_es_diag(es, st->lay, out->diag, OPT_DIAG_MAX);
    out->ndiag += opt_diag(st->o, out->diag + out->ndiag, OPT_DIAG_MAX);
    out->lr_mult = es ? online_es_mean_scale(es, st->lay) : ad ? adapt_mean_multiplier(ad, st->o) : NAN;
    return 0;
}
