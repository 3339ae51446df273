/* adapt.c — hypergradient learning-rate adaptation; see adapt.h. */
#include "adapt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "vecmath.h"

#define ADAPT_STATE_VERSION 1u

void adapt_config_defaults(adapt_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->lr = ADAPT_LR_NONE;
    cfg->beta = ADAPT_BETA_DEFAULT;
    cfg->lr_min = ADAPT_LR_MIN_DEFAULT;
    cfg->lr_max = ADAPT_LR_MAX_DEFAULT;
}

int adapt_config_check(const adapt_config *cfg)
{
    if (!isfinite(cfg->beta) || !isfinite(cfg->lr_min) || !isfinite(cfg->lr_max)) return ERR_NON_FINITE;
    if (cfg->lr != ADAPT_LR_NONE && cfg->lr != ADAPT_LR_HYPERGRADIENT) return ERR_OUT_OF_RANGE;
    if (!(cfg->beta > 0 && cfg->beta <= 1)) return ERR_OUT_OF_RANGE;
    if (!(cfg->lr_min > 0 && cfg->lr_min < cfg->lr_max && cfg->lr_max <= 10)) return ERR_OUT_OF_RANGE;
    if (cfg->per_tensor != 0 && cfg->per_tensor != 1) return ERR_OUT_OF_RANGE;
    return 0;
}

int adapt_init(adapt *a, const adapt_config *cfg, const opt *o)
{
    memset(a, 0, sizeof *a);
    int rc = adapt_config_check(cfg);
    if (rc) return rc;
    if (!o->vt || o->vt->kind != OPT_KIND_CLASSIC) return ERR_INVALID_ARGUMENT;
    a->cfg = *cfg;
    a->base_lr = o->cfg.hp[HP_LR];
    a->nmult = cfg->per_tensor ? o->lay.ntensors : 1;
    a->mult = malloc((size_t)a->nmult * sizeof *a->mult);
    a->prev_lr = calloc((size_t)a->nmult, sizeof *a->prev_lr);
    a->hg = calloc((size_t)a->nmult, sizeof *a->hg);
    if (!a->mult || !a->prev_lr || !a->hg) {
        adapt_deinit(a);
        return ERR_NO_MEMORY;
    }
    for (int k = 0; k < a->nmult; k++) a->mult[k] = 1.0;
    return 0;
}

void adapt_deinit(adapt *a)
{
    if (!a) return;
    free(a->mult);
    free(a->prev_lr);
    free(a->hg);
    memset(a, 0, sizeof *a);
}

static double dot(const float *x, const float *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * y[i];
    return s;
}

void adapt_before_step(adapt *a, opt *o, const float *grads, const float *prev_update)
{
    if (a->cfg.lr != ADAPT_LR_HYPERGRADIENT) return;
    int64_t t = o->t + 1;
    /* The schedule's own rate at the previous step, per unit multiplier. */
    o->cfg.hp[HP_LR] = a->base_lr;
    double sched_prev = opt_schedule_lr(&o->cfg, t > 1 ? t - 1 : 1);
    a->last_h = 0;
    for (int k = 0; k < a->nmult; k++) {
        size_t off = 0, len = o->lay.n;
        if (a->cfg.per_tensor) {
            off = o->lay.tensors[k].offset;
            len = o->lay.tensors[k].size;
        }
        a->hg[k] = 0;
        if (!prev_update || a->prev_lr[k] <= 0 || sched_prev <= 0) continue;
        double h = dot(grads + off, prev_update + off, len) / a->prev_lr[k];
        if (!isfinite(h)) continue;
        double alpha = a->prev_lr[k] - a->cfg.beta * h;
        if (alpha < a->cfg.lr_min) alpha = a->cfg.lr_min;
        if (alpha > a->cfg.lr_max) alpha = a->cfg.lr_max;
        a->mult[k] = alpha / sched_prev;
        a->hg[k] = h;
        a->last_h += h;
    }
    /* Global: the kernel runs at the adapted rate directly.  Per tensor: it
     * runs at the schedule's rate and adapt_after_step rescales. */
    double lr = a->base_lr * (a->cfg.per_tensor ? 1.0 : a->mult[0]);
    if (lr > 10) lr = 10;
    o->cfg.hp[HP_LR] = lr;
}

void adapt_after_step(adapt *a, opt *o, float *params, float *update, step_info *info)
{
    if (a->cfg.lr != ADAPT_LR_HYPERGRADIENT) return;
    double used = info->lr;   /* the kernel's rate */
    o->cfg.hp[HP_LR] = a->base_lr;
    if (!a->cfg.per_tensor) {
        a->prev_lr[0] = used;
        return;
    }
    double usq = 0, psq = 0, wsum = 0;
    for (int k = 0; k < a->nmult; k++) {
        const layout_tensor *tn = &o->lay.tensors[k];
        vm_rescale_applied(params + tn->offset, update + tn->offset, tn->size, (float)a->mult[k], &usq, &psq);
        a->prev_lr[k] = used * a->mult[k];
        wsum += a->prev_lr[k] * (double)tn->size;
    }
    info->lr = wsum / (double)o->lay.n;
    info->update_norm = sqrt(usq);
    info->param_norm = sqrt(psq);
}

double adapt_mean_multiplier(const adapt *a, const opt *o)
{
    if (!a->cfg.per_tensor) return a->mult[0];
    double s = 0;
    for (int k = 0; k < a->nmult; k++) s += a->mult[k] * (double)o->lay.tensors[k].size;
    return s / (double)o->lay.n;
}

int adapt_save(const adapt *a, blob_writer *w)
{
    blob_put_u32(w, ADAPT_STATE_VERSION);
    blob_put_u32(w, (uint32_t)a->nmult);
    for (int k = 0; k < a->nmult; k++) {
        blob_put_f64(w, a->mult[k]);
        blob_put_f64(w, a->prev_lr[k]);
        blob_put_f64(w, a->hg[k]);
    }
    blob_put_f64(w, a->last_h);
    return 0;
}

int adapt_load(adapt *a, blob_reader *r)
{
    if (blob_get_u32(r) != ADAPT_STATE_VERSION) return ERR_CORRUPT;
    if (blob_get_u32(r) != (uint32_t)a->nmult || blob_reader_status(r)) return ERR_CORRUPT;
    for (int k = 0; k < a->nmult; k++) {
        a->mult[k] = blob_get_f64(r);
        a->prev_lr[k] = blob_get_f64(r);
        a->hg[k] = blob_get_f64(r);
    }
    a->last_h = blob_get_f64(r);
    return blob_reader_status(r) ? ERR_CORRUPT : 0;
}
