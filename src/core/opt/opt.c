/* opt.c — the optimizer-independent half of opt.h: the common
 * hyperparameters, configs, learning-rate schedules, and opt_step's frame
 * (finite checks, clipping, apply, metrics) around each optimizer's kernel.
 *
 * Learning-rate schedules, at 1-based step t with W = warmup_steps:
 *   - every schedule first warms up linearly when W > 0: lr * t / W for t <= W
 *     ("constant" honours warmup_steps too; with W > 0 it equals
 *     "linear_warmup");
 *   - constant, linear_warmup: lr after the warmup;
 *   - cosine: with T = total_steps > W, s = min(t - 1 - W, T - W),
 *     lr_min + (lr - lr_min) * (1 + cos(pi * s / (T - W))) / 2 with
 *     lr_min = lr * min_lr_ratio: step W+1 runs at lr, step T at one decay
 *     step above lr_min (torch's CosineAnnealingLR with T_max = T - W), and
 *     every step after T at lr_min.  With T == 0 (unknown) or T <= W: lr.
 *   - step: lr * decay_rate^floor((t - 1 - W) / decay_steps) (torch's StepLR
 *     with step_size = decay_steps); decay_steps == 0 means no decay.
 *
 * opt_step makes two passes over memory for optimizers with a fused
 * step_apply (Adam, AdamW): the gradient's sum of squares (finite check,
 * norm and the clipping coefficient, all needed before any state changes),
 * then one pass that clips, updates the state, writes the update, applies
 * it and sums the squares of the update and of the new params.  Others make
 * up to five: the sum of squares, clipping into o->scratch when it acts, the
 * kernel, a read-only pass that checks the update and the new parameters
 * are finite (so that a failure leaves params untouched), and the apply. */
#include "opt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "vecmath.h"

/* 1; 2 adds the per-tensor step counts (written only while lagging, so a
 * session that never skipped a tensor keeps writing version 1). */
#define OPT_STATE_VERSION 1u
#define OPT_STATE_VERSION_LAGGING 2u

/* ---- hyperparameters ---------------------------------------------------- */

static const hparam_def common_hparams[HP_COMMON_COUNT] = {
    [HP_LR]           = {"lr", 1e-3, 0, 10, 0, 0, 0,
                         "base learning rate (0 allowed, as torch.optim allows it: no movement)"},
    [HP_WARMUP_STEPS] = {"warmup_steps", 0, 0, 1e9, 0, 0, 1,
                         "steps of linear warmup from lr/warmup_steps to lr (every schedule)"},
    [HP_DECAY_STEPS]  = {"decay_steps", 0, 0, 1e9, 0, 0, 1,
                         "step schedule: multiply lr by decay_rate every decay_steps steps (0 = never)"},
    [HP_DECAY_RATE]   = {"decay_rate", 0.1, 0, 1, 1, 0, 0, "step schedule: factor applied every decay_steps"},
    [HP_MIN_LR_RATIO] = {"min_lr_ratio", 0, 0, 1, 0, 0, 0,
                         "cosine schedule: final lr as a fraction of lr, reached at total_steps"},
    [HP_CLIP_NORM]    = {"clip_norm", 0, 0, 1e9, 0, 0, 0,
                         "clip the gradient's global L2 norm to this (0 = off)"},
};

const hparam_def *opt_common_hparams(void) { return common_hparams; }

int opt_hparam_count(const opt_vtbl *vt)
{
    return HP_COMMON_COUNT + (vt ? vt->nhparams : 0);
}

const hparam_def *opt_hparam_at(const opt_vtbl *vt, int i)
{
    if (i < 0 || i >= opt_hparam_count(vt)) return NULL;
    if (i < HP_COMMON_COUNT) return &common_hparams[i];
    return &vt->hparams[i - HP_COMMON_COUNT];
}

int opt_hparam_index(const opt_vtbl *vt, const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < opt_hparam_count(vt); i++)
        if (strcmp(opt_hparam_at(vt, i)->name, name) == 0) return i;
    return -1;
}

const char *const *opt_hparam_values(const opt_vtbl *vt, int i)
{
    const hparam_def *def = vt ? opt_hparam_at(vt, i) : NULL;
    for (const hparam_enum *e = def && i >= HP_COMMON_COUNT ? vt->enums : NULL; e && e->name; e++)
        if (strcmp(e->name, def->name) == 0) return e->values;
    return NULL;
}

const char *opt_hparam_value_name(const opt_vtbl *vt, int i, double v)
{
    const char *const *names = opt_hparam_values(vt, i);
    for (int k = 0; names && names[k]; k++)
        if (v == (double)k) return names[k];
    return NULL;
}

int opt_hparam_value_index(const opt_vtbl *vt, int i, const char *name)
{
    const char *const *names = opt_hparam_values(vt, i);
    for (int k = 0; names && name && names[k]; k++)
        if (strcmp(names[k], name) == 0) return k;
    return -1;
}

int opt_hparam_check(const hparam_def *def, double v)
{
    if (!isfinite(v)) return ERR_NON_FINITE;
    if (def->min_open ? !(v > def->min) : !(v >= def->min)) return ERR_OUT_OF_RANGE;
    if (def->max_open ? !(v < def->max) : !(v <= def->max)) return ERR_OUT_OF_RANGE;
    if (def->integer && v != floor(v)) return ERR_OUT_OF_RANGE;
    return 0;
}

int opt_config_defaults(opt_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof *cfg);
    const opt_vtbl *vt = opt_find(name);
    if (!vt) return ERR_UNKNOWN_OPTIMIZER;
    int n = opt_hparam_count(vt);
    if (n > OPT_MAX_HP || strlen(vt->name) >= OPT_NAME_MAX) return ERR_INTERNAL;
    strcpy(cfg->name, vt->name);
    cfg->schedule = SCHEDULE_CONSTANT;
    cfg->total_steps = 0;
    cfg->nhp = n;
    for (int i = 0; i < n; i++) cfg->hp[i] = opt_hparam_at(vt, i)->def;
    cfg->weights = NULL;
    return 0;
}

int opt_config_set(opt_config *cfg, const char *hp_name, double v)
{
    const opt_vtbl *vt = opt_find(cfg->name);
    if (!vt) return ERR_UNKNOWN_OPTIMIZER;
    int i = opt_hparam_index(vt, hp_name);
    if (i < 0 || i >= cfg->nhp) return ERR_UNKNOWN_HYPERPARAM;
    int rc = opt_hparam_check(opt_hparam_at(vt, i), v);
    if (rc) return rc;
    cfg->hp[i] = v;
    return 0;
}

/* ---- schedules ---------------------------------------------------------- */

static const char *const schedule_names[] = {
    [SCHEDULE_CONSTANT] = "constant",
    [SCHEDULE_LINEAR_WARMUP] = "linear_warmup",
    [SCHEDULE_COSINE] = "cosine",
    [SCHEDULE_STEP] = "step",
};
#define NSCHEDULES ((int)(sizeof schedule_names / sizeof schedule_names[0]))

int opt_schedule_parse(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < NSCHEDULES; i++)
        if (strcmp(schedule_names[i], s) == 0) return i;
    return -1;
}

const char *opt_schedule_name(schedule_kind k)
{
    if ((int)k < 0 || (int)k >= NSCHEDULES) return NULL;
    return schedule_names[k];
}

double opt_schedule_lr(const opt_config *cfg, int64_t t)
{
    double lr = cfg->hp[HP_LR];
    double w = cfg->hp[HP_WARMUP_STEPS];
    if (t < 1) t = 1;
    if (w > 0 && (double)t <= w) return lr * (double)t / w;
    double after = (double)t - 1.0 - w;   /* steps completed since the warmup */
    switch (cfg->schedule) {
    case SCHEDULE_COSINE: {
        double span = (double)cfg->total_steps - w;
        if (cfg->total_steps <= 0 || span <= 0) return lr;
        double s = after < span ? after : span;
        double lo = lr * cfg->hp[HP_MIN_LR_RATIO];
        return lo + (lr - lo) * (1.0 + cos(M_PI * s / span)) / 2.0;
    }
    case SCHEDULE_STEP: {
        double d = cfg->hp[HP_DECAY_STEPS];
        if (d <= 0) return lr;
        return lr * pow(cfg->hp[HP_DECAY_RATE], floor(after / d));
    }
    case SCHEDULE_CONSTANT:
    case SCHEDULE_LINEAR_WARMUP:
    default:
        return lr;
    }
}

/* ---- instances ---------------------------------------------------------- */

/* 1 when opt_step needs o->scratch for clipped gradients. */
static int opt_needs_scratch(const opt_vtbl *vt, const opt_config *cfg)
{
    return cfg->hp[HP_CLIP_NORM] > 0 && !vt->step_apply;
}

int opt_init(opt *o, const opt_config *cfg, const layout *lay)
{
    memset(o, 0, sizeof *o);
    const opt_vtbl *vt = opt_find(cfg->name);
    if (!vt) return ERR_UNKNOWN_OPTIMIZER;
    if (cfg->nhp != opt_hparam_count(vt)) return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < cfg->nhp; i++) {
        int rc = opt_hparam_check(opt_hparam_at(vt, i), cfg->hp[i]);
        if (rc) return rc;
    }
    if (!opt_schedule_name(cfg->schedule)) return ERR_INVALID_ARGUMENT;
    if (cfg->total_steps < 0) return ERR_OUT_OF_RANGE;
    if (!lay || lay->n == 0) return ERR_INVALID_SHAPE;
    if (lay->n > SIZE_MAX / sizeof(float)) return ERR_TOO_MANY_PARAMS;

    o->vt = vt;
    o->cfg = *cfg;
    int rc = layout_copy(&o->lay, lay);
    if (rc) { memset(o, 0, sizeof *o); return rc; }
    /* Clipped gradients need a buffer of their own for the plain step;
     * without clipping the caller's gradients are used as they are, a fused
     * step_apply clips in its pass, and masked steps clip into the update. */
    if (opt_needs_scratch(vt, cfg)) {
        o->scratch = malloc(lay->n * sizeof(float));
        if (!o->scratch) { layout_deinit(&o->lay); memset(o, 0, sizeof *o); return ERR_NO_MEMORY; }
    }
    if (vt->step_range && !(o->tsteps = calloc((size_t)lay->ntensors, sizeof(int64_t)))) {
        free(o->scratch);
        layout_deinit(&o->lay);
        memset(o, 0, sizeof *o);
        return ERR_NO_MEMORY;
    }
    rc = vt->init(o, &o->cfg, &o->lay);
    if (rc) {
        if (vt->deinit) vt->deinit(o);
        free(o->tsteps);
        free(o->scratch);
        layout_deinit(&o->lay);
        memset(o, 0, sizeof *o);
        return rc;
    }
    return 0;
}

uint64_t opt_bytes_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
uint64_t opt_bytes_mul(uint64_t a, uint64_t b) { return a && b > UINT64_MAX / a ? UINT64_MAX : a * b; }

int opt_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    const opt_vtbl *vt = opt_find(cfg->name);
    if (!vt) return ERR_UNKNOWN_OPTIMIZER;
    if (!lay || lay->n == 0) return ERR_INVALID_SHAPE;
    uint64_t state = 0;
    int rc = vt->state_bytes ? vt->state_bytes(cfg, lay, &state) : ERR_INTERNAL;
    if (rc) return rc;
    /* The allocator's share: block headers and the page rounding of the
     * few dozen blocks an optimizer holds. */
    uint64_t b = opt_bytes_add(16384, opt_bytes_mul((uint64_t)lay->ntensors, sizeof(layout_tensor)));
    if (opt_needs_scratch(vt, cfg)) b = opt_bytes_add(b, opt_bytes_mul(lay->n, sizeof(float)));
    if (vt->step_range) b = opt_bytes_add(b, opt_bytes_mul((uint64_t)lay->ntensors, sizeof(int64_t)));
    *out = opt_bytes_add(b, state);
    return 0;
}

void opt_deinit(opt *o)
{
    if (!o) return;
    if (o->vt && o->vt->deinit) o->vt->deinit(o);
    free(o->tsteps);
    free(o->scratch);
    layout_deinit(&o->lay);
    memset(o, 0, sizeof *o);
}

/* info->t is set to o->t + 1 (the step this call takes) whatever the caller
 * put there; info->loss is passed through to the kernel; info may be NULL. */
int opt_step(opt *o, float *params, const float *grads, float *update, step_info *info)
{
    return o->lagging ? opt_step_masked(o, params, grads, update, NULL, info)
                      : opt_step_gsq(o, params, grads, vm_sumsq(grads, o->lay.n), update, info);
}

int opt_step_gsq(opt *o, float *params, const float *grads, double gsq, float *update, step_info *info)
{
    if (o->lagging) return opt_step_masked(o, params, grads, update, NULL, info);
    step_info local = {.loss = NAN};
    if (!info) info = &local;
    size_t n = o->lay.n;
    int64_t t = o->t + 1;
    info->t = t;
    info->clipped = 0;

    if (!isfinite(gsq)) return ERR_NON_FINITE;
    double gnorm = sqrt(gsq);
    info->grad_norm = gnorm;

    const float *g = grads;
    float gscale = 1.0f;
    double clip = o->cfg.hp[HP_CLIP_NORM];
    if (clip > 0) {
        /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when below 1 */
        double coef = clip / (gnorm + 1e-6);
        if (coef < 1.0) {
            gscale = (float)coef;
            info->clipped = 1;
        }
    }

    double lr = opt_schedule_lr(&o->cfg, t);
    info->lr = lr;
    double usq, psq;
    if (o->vt->step_apply) {
        /* One pass: clipping, update, apply and norms (params change even
         * when the update turns out non-finite; see opt.h). */
        int rc = o->vt->step_apply(o, params, grads, gscale, update, lr, info, &usq, &psq);
        if (rc) return rc;
        if (!isfinite(usq) || !isfinite(psq)) return ERR_NON_FINITE_UPDATE;
    } else {
        if (info->clipped) {
            vm_scale(o->scratch, grads, gscale, n);
            g = o->scratch;
        }
        int rc = o->vt->step(o, params, g, update, lr, info);
        if (rc) return rc;
        vm_add_sumsq(params, update, n, &usq, &psq);
        if (!isfinite(usq) || !isfinite(psq)) return ERR_NON_FINITE_UPDATE;
        vm_add(params, update, n);
    }
    o->t = t;
    info->update_norm = sqrt(usq);
    info->param_norm = sqrt(psq);
    return 0;
}

int opt_can_mask(const opt *o) { return o->vt && o->vt->step_range != NULL; }

int opt_group_hp_check(const opt_config *cfg, const double *hp, int *bad)
{
    const opt_vtbl *vt = opt_find(cfg->name);
    if (!vt) return ERR_UNKNOWN_OPTIMIZER;
    for (int i = 0; i < cfg->nhp; i++) {
        const hparam_def *def = opt_hparam_at(vt, i);
        *bad = i;
        int rc = opt_hparam_check(def, hp[i]);
        if (rc) return rc;
        int fixed = (i < HP_COMMON_COUNT && i != HP_LR) || def->integer
                    || strcmp(def->name, "initial_accumulator_value") == 0;
        if (fixed && hp[i] != cfg->hp[i]) return ERR_INVALID_ARGUMENT;
        if (strcmp(def->name, "momentum") == 0 && (hp[i] != 0) != (cfg->hp[i] != 0)) return ERR_INVALID_ARGUMENT;
    }
    /* the optimizer's own combination rules (e.g. Nesterov needs dampening 0) */
    opt_config c = *cfg;
    memcpy(c.hp, hp, (size_t)cfg->nhp * sizeof(double));
    uint64_t bytes;
    *bad = -1;
    int rc = vt->state_bytes ? vt->state_bytes(&c, &(layout){.ntensors = 1, .n = 1}, &bytes) : 0;
    return rc == ERR_OUT_OF_RANGE ? ERR_OUT_OF_RANGE : 0;
}

int opt_step_masked(opt *o, float *params, const float *grads, float *update, const uint8_t *skip,
                    step_info *info)
{
    return opt_step_groups(o, params, grads, update, skip, NULL, info);
}

int opt_step_groups(opt *o, float *params, const float *grads, float *update, const uint8_t *skip,
                    const double *const *tensor_hp, step_info *info)
{
    if (!opt_can_mask(o)) return ERR_INVALID_ARGUMENT;
    step_info local = {.loss = NAN};
    if (!info) info = &local;
    const layout *lay = &o->lay;
    size_t n = lay->n;
    int64_t t = o->t + 1;
    info->t = t;
    info->clipped = 0;

    /* torch.nn.utils.clip_grad_norm_ sees only the parameters with a grad */
    double gsq = 0;
    for (int j = 0; j < lay->ntensors; j++)
        if (!skip || !skip[j]) gsq += vm_sumsq(grads + lay->tensors[j].offset, lay->tensors[j].size);
    if (!isfinite(gsq)) return ERR_NON_FINITE;
    double gnorm = sqrt(gsq);
    info->grad_norm = gnorm;
    double clip = o->cfg.hp[HP_CLIP_NORM];
    float coef = 1.0f;
    if (clip > 0 && clip / (gnorm + 1e-6) < 1.0) {
        coef = (float)(clip / (gnorm + 1e-6));
        info->clipped = 1;
    }

    double lr = opt_schedule_lr(&o->cfg, t);
    info->lr = lr;
    double base_hp[OPT_MAX_HP];
    memcpy(base_hp, o->cfg.hp, sizeof base_hp);
    /* Before the first lagging step every tensor has taken t - 1 steps. */
    if (!o->lagging)
        for (int j = 0; j < lay->ntensors; j++) o->tsteps[j] = t - 1;
    for (int j = 0; j < lay->ntensors; j++) {
        size_t off = lay->tensors[j].offset, len = lay->tensors[j].size;
        const double *hp = tensor_hp && tensor_hp[j] ? tensor_hp[j] : NULL;
        double lr_j = lr;
        if (hp) {
            memcpy(o->cfg.hp, hp, (size_t)o->cfg.nhp * sizeof(double));
            lr_j = opt_schedule_lr(&o->cfg, t);
            if (j == 0) info->lr = lr_j;   /* tensor 0's, skipped or not */
        }
        if (skip && skip[j]) {
            if (hp) memcpy(o->cfg.hp, base_hp, sizeof base_hp);
            memset(update + off, 0, len * sizeof(float));
            continue;
        }
        /* the clipped tensor goes into its own update range, which the
         * kernel reads in place (step_range allows grads == update) */
        if (info->clipped) vm_scale(update + off, grads + off, coef, len);
        int rc = o->vt->step_range(o, params, info->clipped ? update : grads, update, lr_j, o->tsteps[j] + 1,
                                   off, len);
        if (hp) memcpy(o->cfg.hp, base_hp, sizeof base_hp);
        if (rc) return rc;
    }
    double usq, psq;
    vm_add_sumsq(params, update, n, &usq, &psq);
    if (!isfinite(usq) || !isfinite(psq)) return ERR_NON_FINITE_UPDATE;
    vm_add(params, update, n);
    for (int j = 0; j < lay->ntensors; j++)
        if (!skip || !skip[j]) o->tsteps[j]++;
    o->lagging = 0;
    for (int j = 0; j < lay->ntensors && !o->lagging; j++) o->lagging = o->tsteps[j] != t;
    o->t = t;
    info->update_norm = sqrt(usq);
    info->param_norm = sqrt(psq);
    return 0;
}

int opt_diag(const opt *o, opt_diag_value *out, int cap)
{
    if (!o->vt || !o->vt->diag || cap <= 0) return 0;
    int n = o->vt->diag(o, out, cap);
    return n < 0 ? 0 : n > cap ? cap : n;
}

int opt_memory(const opt *o, int64_t *size, int64_t *fill)
{
    *size = *fill = 0;
    if (!o->vt || !o->vt->memory || !o->state) return 0;
    return o->vt->memory(o, size, fill) == 1;
}

int opt_save(const opt *o, uint8_t **out, size_t *out_len)
{
    blob_writer w;
    *out = NULL;
    *out_len = 0;
    int rc = blob_writer_init(&w, BLOB_KIND_OPT_STATE, o->lagging ? OPT_STATE_VERSION_LAGGING : OPT_STATE_VERSION);
    if (rc) return rc;
    blob_put_str(&w, o->vt->name);
    blob_put_u64(&w, (uint64_t)o->lay.n);
    blob_put_u64(&w, (uint64_t)o->t);
    if (o->lagging) {
        blob_put_u64(&w, (uint64_t)o->lay.ntensors);
        for (int j = 0; j < o->lay.ntensors; j++) blob_put_u64(&w, (uint64_t)o->tsteps[j]);
    }
    rc = o->vt->save(o, &w);
    if (rc) { blob_writer_deinit(&w); return rc; }
    return blob_writer_finish(&w, out, out_len);
}

/* On ERR_CORRUPT from the optimizer's own load the state may be partly
 * overwritten (classic optimizers validate sizes first and never are). */
int opt_load(opt *o, const void *data, size_t len)
{
    blob_reader r;
    uint32_t version;
    if (blob_reader_init(&r, data, len, BLOB_KIND_OPT_STATE, &version)) return ERR_CORRUPT;
    if (version != OPT_STATE_VERSION && version != OPT_STATE_VERSION_LAGGING) return ERR_CORRUPT;
    char name[OPT_NAME_MAX];
    blob_get_str(&r, name, sizeof name);
    uint64_t n = blob_get_u64(&r);
    uint64_t t = blob_get_u64(&r);
    if (blob_reader_status(&r) || strcmp(name, o->vt->name) != 0 || n != (uint64_t)o->lay.n
        || t > (uint64_t)INT64_MAX)
        return ERR_CORRUPT;
    int lagging = version == OPT_STATE_VERSION_LAGGING;
    if (lagging) {
        /* every count at most t, and one below it (else it is not lagging) */
        if (!o->tsteps || blob_get_u64(&r) != (uint64_t)o->lay.ntensors) return ERR_CORRUPT;
        int below = 0;
        for (int j = 0; j < o->lay.ntensors; j++) {
            uint64_t tj = blob_get_u64(&r);
            if (blob_reader_status(&r) || tj > t) return ERR_CORRUPT;
            below |= tj < t;
        }
        if (!below) return ERR_CORRUPT;
    }
    size_t ts_pos = r.pos - (lagging ? (size_t)o->lay.ntensors * sizeof(uint64_t) : 0);
    int rc = o->vt->load(o, &r);
    if (rc) return ERR_CORRUPT;
    if (blob_reader_status(&r) || r.pos != r.len) return ERR_CORRUPT;
    if (lagging) {
        /* read again, now that the state is known to fit */
        blob_reader rt = r;
        rt.pos = ts_pos;
        for (int j = 0; j < o->lay.ntensors; j++) o->tsteps[j] = (int64_t)blob_get_u64(&rt);
    }
    o->lagging = lagging;
    o->t = (int64_t)t;
    return 0;
}
