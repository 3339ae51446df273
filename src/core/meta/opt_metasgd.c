/* opt_metasgd.c — the `meta_sgd` optimizer: plain gradient steps at the
 * per-parameter rates a few-shot weights record learned (Meta-SGD, Li et
 * al. 2017), update = −α ⊙ g; a record with a scalar rate (MAML, FOMAML,
 * Reptile) gives every parameter that rate.
 *
 * The session names the record with "weights" (required).  init copies the
 * rates from core's few-shot table (fewshot_record.h; the caller holds the
 * table's lock as for learned optimizers), so a later version of the record
 * does not change a running session, and the rates are part of the saved
 * state: a restored session steps as before.  The session's parameter
 * count must equal the record's (ERR_INVALID_ARGUMENT otherwise).
 *
 * The rates are the step sizes: the common lr and its schedules do not
 * apply, so `check` refuses an lr other than the default, a schedule and
 * warmup (a request means what it says); clip_norm acts on g as for every
 * optimizer.  Elementwise: step_range gives masks and parameter groups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "errors.h"
#include "fewshot_record.h"
#include "opt.h"

typedef struct msgd_state { size_t n; float *alpha; } msgd_state;

/* The record cfg names, checked against lay: 0, ERR_MISSING_FIELD (no
 * weights), ERR_NOT_FOUND or ERR_INVALID_ARGUMENT (another count). */
static int msgd_record(const opt_config *cfg, const layout *lay, const fewshot_record **out)
{
    if (!cfg->weights || !*cfg->weights) return ERR_MISSING_FIELD;
    const fewshot_record *r = fewshot_registry_find(cfg->weights);
    if (!r) return ERR_NOT_FOUND;
    if (r->net.nparams != lay->n) return ERR_INVALID_ARGUMENT;
    *out = r;
    return 0;
}

static int msgd_check(const opt_config *cfg, const layout *lay, char *msg, size_t cap)
{
    (void)lay;
    const hparam_def *common = opt_common_hparams();
    if (cfg->hp[HP_LR] != common[HP_LR].def || cfg->schedule != SCHEDULE_CONSTANT || cfg->hp[HP_WARMUP_STEPS] != 0) {
        snprintf(msg, cap, "meta_sgd steps at the learned rates of its weights record (update = -inner_lr * g): lr, "
                           "schedules and warmup do not apply");
        return ERR_INVALID_ARGUMENT;
    }
    return 0;
}

static int msgd_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    const fewshot_record *r;
    int rc = msgd_record(cfg, lay, &r);
    if (rc) return rc;
    *out = opt_bytes_add(sizeof(msgd_state), opt_bytes_mul(lay->n, sizeof(float)));
    return 0;
}

static int msgd_init(opt *o, const opt_config *cfg, const layout *lay)
{
    const fewshot_record *r;
    int rc = msgd_record(cfg, lay, &r);
    if (rc) return rc;
    msgd_state *s = calloc(1, sizeof *s);
    if (s) s->alpha = malloc(lay->n * sizeof(float));
    if (!s || !s->alpha) {
        free(s);
        return ERR_NO_MEMORY;
    }
    s->n = lay->n;
    for (size_t i = 0; i < lay->n; i++) s->alpha[i] = (float)fewshot_record_rate(r, i);
    o->state = s;
    return 0;
}

static void msgd_deinit(opt *o)
{
    msgd_state *s = o->state;
    if (s) free(s->alpha);
    free(s);
    o->state = NULL;
}

static int msgd_step_range(opt *o, const float *params, const float *grads, float *update, double lr, int64_t t,
                           size_t off, size_t len)
{
    (void)params, (void)lr, (void)t;
    const float *a = ((msgd_state *)o->state)->alpha;
    for (size_t i = off; i < off + len; i++) update[i] = -(a[i] * grads[i]);
    return 0;
}

static int msgd_step(opt *o, const float *params, const float *grads, float *update, double lr, step_info *info)
{
    (void)info;
    return msgd_step_range(o, params, grads, update, lr, 0, 0, ((msgd_state *)o->state)->n);
}

static int msgd_save(const opt *o, blob_writer *w)
{
    const msgd_state *s = o->state;
    blob_put_u64(w, (uint64_t)s->n);
    blob_put_f32s(w, s->alpha, s->n);
    return w->err;
}

static int msgd_load(opt *o, blob_reader *r)
{
    msgd_state *s = o->state;
    uint64_t n = blob_get_u64(r);
    if (blob_reader_status(r) || n != (uint64_t)s->n || r->len - r->pos != s->n * sizeof(float)) return ERR_CORRUPT;
    float *tmp = malloc(s->n * sizeof(float));
    if (!tmp) return ERR_NO_MEMORY;
    blob_get_f32s(r, tmp, s->n);
    int ok = blob_reader_status(r) == 0;
    for (size_t i = 0; ok && i < s->n; i++) ok = isfinite(tmp[i]);
    if (ok) memcpy(s->alpha, tmp, s->n * sizeof(float));
    free(tmp);
    return ok ? 0 : ERR_CORRUPT;
}

const opt_vtbl opt_metasgd_vtbl = {
    .name = "meta_sgd",
    .kind = OPT_KIND_LEARNED,
    .description = "gradient steps at the per-parameter rates of a few-shot weights record (Meta-SGD): "
                   "update = -inner_lr * g; needs weights",
    .weights_arch = "meta_sgd",
    .init = msgd_init,
    .state_bytes = msgd_state_bytes,
    .step = msgd_step,
    .step_range = msgd_step_range,
    .save = msgd_save,
    .load = msgd_load,
    .deinit = msgd_deinit,
    .check = msgd_check,
};
