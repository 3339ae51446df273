/* opt_classic.c — SGD, Adam, AdamW, RMSprop and Adagrad (see opt_classic.h).
 *
 * Scalars that torch computes in Python (bias corrections, step sizes,
 * 1 - beta, …) are computed here in double and rounded to float32 once, as
 * torch does when it hands a Python number to a float32 kernel; everything
 * per element is float32.  The kernels run on 4-lane vectors (vecmath.h);
 * the last partial vector is zero-padded, which is harmless for every
 * formula here (no lane divides by zero: every denominator adds eps). */
#include "opt_classic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "adam_kern.h"
#include "vecmath.h"

/* Shared state shape of every classic optimizer: nbuf vectors of n floats in
 * one block, plus flag bits (SGD: the momentum buffer exists). */
typedef struct classic_state {
    size_t    n;
    int       nbuf;
    uint32_t  flags;
    float    *buf;      /* (nbuf, n) */
} classic_state;

#define CLASSIC_HAS_BUF 1u

static double own_hp(const opt *o, int j) { return o->cfg.hp[HP_COMMON_COUNT + j]; }

static int classic_alloc(opt *o, int nbuf)
{
    classic_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    s->n = o->lay.n;
    s->nbuf = nbuf;
    if (nbuf > 0) {
        if (s->n > SIZE_MAX / sizeof(float) / (size_t)nbuf) { free(s); return ERR_TOO_MANY_PARAMS; }
        s->buf = calloc((size_t)nbuf * s->n, sizeof(float));
        if (!s->buf) { free(s); return ERR_NO_MEMORY; }
    }
    o->state = s;
    return 0;
}

/* Bytes of classic_alloc(nbuf) for lay: the shared state shape's. */
static uint64_t classic_bytes(int nbuf, const layout *lay)
{
    return opt_bytes_add(sizeof(classic_state), opt_bytes_mul((uint64_t)nbuf * sizeof(float), lay->n));
}

static float *classic_buf(const opt *o, int i)
{
    const classic_state *s = o->state;
    return s->buf + (size_t)i * s->n;
}

static void classic_deinit(opt *o)
{
    classic_state *s = o->state;
    if (s) free(s->buf);
    free(s);
    o->state = NULL;
}

static int classic_save(const opt *o, blob_writer *w)
{
    const classic_state *s = o->state;
    blob_put_u32(w, (uint32_t)s->nbuf);
    blob_put_u32(w, s->flags);
    blob_put_u64(w, (uint64_t)s->n);
    blob_put_f32s(w, s->buf, (size_t)s->nbuf * s->n);
    return w->err;
}

/* Validates the shape against this instance's config before touching the
 * state, so a mismatching blob leaves the state as it was. */
static int classic_load(opt *o, blob_reader *r)
{
    classic_state *s = o->state;
    uint32_t nbuf = blob_get_u32(r);
    uint32_t flags = blob_get_u32(r);
    uint64_t n = blob_get_u64(r);
    if (blob_reader_status(r) || nbuf != (uint32_t)s->nbuf || n != (uint64_t)s->n
        || (flags & ~CLASSIC_HAS_BUF))
        return ERR_CORRUPT;
    size_t count = (size_t)s->nbuf * s->n;
    if (r->len - r->pos != count * sizeof(float)) return ERR_CORRUPT;
    blob_get_f32s(r, s->buf, count);
    s->flags = flags;
    return blob_reader_status(r);
}

/* ---- SGD (torch.optim.SGD) ---------------------------------------------- */

enum { SGD_MOMENTUM, SGD_DAMPENING, SGD_NESTEROV, SGD_WEIGHT_DECAY, SGD_NHP };

static const hparam_def sgd_hparams[SGD_NHP] = {
    [SGD_MOMENTUM]     = {"momentum", 0, 0, 1, 0, 1, 0, "momentum factor (0 = none)"},
    [SGD_DAMPENING]    = {"dampening", 0, 0, 1, 0, 0, 0, "dampening of the momentum"},
    [SGD_NESTEROV]     = {"nesterov", 0, 0, 1, 0, 0, 1, "1 = Nesterov momentum (needs momentum > 0, dampening 0)"},
    [SGD_WEIGHT_DECAY] = {"weight_decay", 0, 0, 1e3, 0, 0, 0, "L2 penalty added to the gradient"},
};

/* SGD's buffers for cfg (the momentum buffer when momentum != 0), or
 * ERR_OUT_OF_RANGE for Nesterov without momentum or with dampening. */
static int sgd_nbuf(const opt_config *cfg)
{
    double mom = cfg->hp[HP_COMMON_COUNT + SGD_MOMENTUM];
    if (cfg->hp[HP_COMMON_COUNT + SGD_NESTEROV] != 0
        && (mom <= 0 || cfg->hp[HP_COMMON_COUNT + SGD_DAMPENING] != 0))
        return ERR_OUT_OF_RANGE;
    return mom != 0 ? 1 : 0;
}

static int sgd_init(opt *o, const opt_config *cfg, const layout *lay)
{
    (void)lay;
    int nbuf = sgd_nbuf(cfg);
    return nbuf < 0 ? nbuf : classic_alloc(o, nbuf);
}

static int sgd_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int nbuf = sgd_nbuf(cfg);
    if (nbuf < 0) return nbuf;
    *out = classic_bytes(nbuf, lay);
    return 0;
}

/* SGD over elements [off, off + n); first: the momentum buffer starts here. */
static void sgd_kernel(opt *o, const float *params, const float *grads, float *update, double lr, int first,
                       size_t off, size_t n)
{
    classic_state *s = o->state;
    params += off, grads += off, update += off;
    const double wd = own_hp(o, SGD_WEIGHT_DECAY), mom = own_hp(o, SGD_MOMENTUM);
    const int nesterov = own_hp(o, SGD_NESTEROV) != 0;
    const vm_f32 vwd = vm_splat((float)wd), vmom = vm_splat((float)mom);
    const vm_f32 vdamp = vm_splat((float)(1.0 - own_hp(o, SGD_DAMPENING)));
    const vm_f32 vnlr = vm_splat((float)-lr);
    float *buf = s->nbuf ? classic_buf(o, 0) + off : NULL;

    for (size_t i = 0; i < n; i += VM_W) {
        size_t k = n - i < VM_W ? n - i : VM_W;
        vm_f32 d = vm_load(grads + i, k);
        if (wd != 0) d = d + vwd * vm_load(params + i, k);
        if (buf) {
            vm_f32 b = first ? d : vm_load(buf + i, k) * vmom + vdamp * d;
            vm_store(buf + i, b, k);
            d = nesterov ? d + vmom * b : b;
        }
        vm_store(update + i, vnlr * d, k);
    }
    if (buf) s->flags |= CLASSIC_HAS_BUF;
}

static int sgd_step(opt *o, const float *params, const float *grads, float *update,
                    double lr, step_info *info)
{
    (void)info;
    classic_state *s = o->state;
    sgd_kernel(o, params, grads, update, lr, !(s->flags & CLASSIC_HAS_BUF), 0, s->n);
    return 0;
}

/* A tensor's first step (t == 1, torch's momentum_buffer is None) starts
 * its buffer. */
static int sgd_step_range(opt *o, const float *params, const float *grads, float *update, double lr, int64_t t,
                          size_t off, size_t len)
{
    sgd_kernel(o, params, grads, update, lr, t == 1, off, len);
    return 0;
}

const opt_vtbl opt_sgd_vtbl = {
    .name = "sgd",
    .kind = OPT_KIND_CLASSIC,
    .description = "stochastic gradient descent with optional (Nesterov) momentum and weight decay, as torch.optim.SGD",
    .hparams = sgd_hparams,
    .nhparams = SGD_NHP,
    .init = sgd_init,
    .state_bytes = sgd_state_bytes,
    .step = sgd_step,
    .step_range = sgd_step_range,
    .save = classic_save,
    .load = classic_load,
    .deinit = classic_deinit,
};

/* ---- Adam and AdamW (torch.optim.Adam / AdamW) ---------------------------- */

enum { ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_WEIGHT_DECAY, ADAM_AMSGRAD, ADAM_NHP };

static const hparam_def adam_hparams[ADAM_NHP] = {
    [ADAM_BETA1]        = {"beta1", 0.9, 0, 1, 0, 1, 0, "decay of the first-moment average"},
    [ADAM_BETA2]        = {"beta2", 0.999, 0, 1, 0, 1, 0, "decay of the second-moment average"},
    [ADAM_EPS]          = {"eps", 1e-8, 0, 1, 1, 0, 0, "added to the denominator"},
    [ADAM_WEIGHT_DECAY] = {"weight_decay", 0, 0, 1e3, 0, 0, 0, "L2 penalty added to the gradient"},
    [ADAM_AMSGRAD]      = {"amsgrad", 0, 0, 1, 0, 0, 1, "1 = use the running maximum of the second moment"},
};

static const hparam_def adamw_hparams[ADAM_NHP] = {
    [ADAM_BETA1]        = {"beta1", 0.9, 0, 1, 0, 1, 0, "decay of the first-moment average"},
    [ADAM_BETA2]        = {"beta2", 0.999, 0, 1, 0, 1, 0, "decay of the second-moment average"},
    [ADAM_EPS]          = {"eps", 1e-8, 0, 1, 1, 0, 0, "added to the denominator"},
    [ADAM_WEIGHT_DECAY] = {"weight_decay", 1e-2, 0, 1e3, 0, 0, 0,
                           "decoupled weight decay: params *= 1 - lr * weight_decay"},
    [ADAM_AMSGRAD]      = {"amsgrad", 0, 0, 1, 0, 0, 1, "1 = use the running maximum of the second moment"},
};

/* Adam's buffers: m and v, and the running maximum of v with amsgrad. */
static int adam_nbuf(const opt_config *cfg) { return cfg->hp[HP_COMMON_COUNT + ADAM_AMSGRAD] != 0 ? 3 : 2; }

static int adam_init(opt *o, const opt_config *cfg, const layout *lay)
{
    (void)lay;
    return classic_alloc(o, adam_nbuf(cfg));
}

static int adam_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    *out = classic_bytes(adam_nbuf(cfg), lay);
    return 0;
}

/* One Adam step over [off, off + n); `decoupled` selects AdamW's weight
 * decay.  With `apply` the same pass adds the update to the params
 * (writable then) and sums the squares of the update and of the new params
 * into *usq and *psq; gscale multiplies each gradient first (the clipping
 * coefficient in the same pass; exactly 1 otherwise).  The loop is
 * adam_kern.h's. */
static int adam_kernel(opt *o, float *params, const float *grads, float *update,
                       double lr, int64_t t, int decoupled, int apply, float gscale, double *usq, double *psq,
                       size_t off, size_t n)
{
    classic_state *s = o->state;
    const double b1 = own_hp(o, ADAM_BETA1), b2 = own_hp(o, ADAM_BETA2);
    const double wd = own_hp(o, ADAM_WEIGHT_DECAY);
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    const adam_coef c = {
        .b1 = (float)b1, .c1 = (float)(1.0 - b1), .b2 = (float)b2, .c2 = (float)(1.0 - b2),
        .nss = (float)-(lr / bc1), .bc2 = (float)sqrt(bc2), .eps = (float)own_hp(o, ADAM_EPS),
        .wd = (float)wd, .decay = (float)(1.0 - lr * wd), .gscale = gscale,
        .l2 = !decoupled && wd != 0, .shrink = decoupled && wd != 0,
    };
    float *vmax = s->nbuf == 3 ? classic_buf(o, 2) + off : NULL;
    vm_sq16 su = {0}, sp = {0};
    adam_pass(&c, params + off, grads + off, classic_buf(o, 0) + off, classic_buf(o, 1) + off, vmax,
              update + off, n, apply, &su, &sp);
    if (apply) {
        *usq = vm_sq16_total(&su);
        *psq = vm_sq16_total(&sp);
    }
    return 0;
}

/* The plain forms (the reference the fused ones are tested against) cast
 * params to writable only to share the kernel; with apply = 0 it never
 * writes them. */
static int adam_step(opt *o, const float *params, const float *grads, float *update,
                     double lr, step_info *info)
{
    return adam_kernel(o, (float *)params, grads, update, lr, info->t, 0, 0, 1.0f, NULL, NULL, 0, o->lay.n);
}

static int adamw_step(opt *o, const float *params, const float *grads, float *update,
                      double lr, step_info *info)
{
    return adam_kernel(o, (float *)params, grads, update, lr, info->t, 1, 0, 1.0f, NULL, NULL, 0, o->lay.n);
}

static int adam_step_apply(opt *o, float *params, const float *grads, float gscale, float *update, double lr,
                           step_info *info, double *usq, double *psq)
{
    return adam_kernel(o, params, grads, update, lr, info->t, 0, 1, gscale, usq, psq, 0, o->lay.n);
}

static int adamw_step_apply(opt *o, float *params, const float *grads, float gscale, float *update, double lr,
                            step_info *info, double *usq, double *psq)
{
    return adam_kernel(o, params, grads, update, lr, info->t, 1, 1, gscale, usq, psq, 0, o->lay.n);
}

static int adam_step_range(opt *o, const float *params, const float *grads, float *update, double lr, int64_t t,
                           size_t off, size_t len)
{
    return adam_kernel(o, (float *)params, grads, update, lr, t, 0, 0, 1.0f, NULL, NULL, off, len);
}

static int adamw_step_range(opt *o, const float *params, const float *grads, float *update, double lr, int64_t t,
                            size_t off, size_t len)
{
    return adam_kernel(o, (float *)params, grads, update, lr, t, 1, 0, 1.0f, NULL, NULL, off, len);
}

const opt_vtbl opt_adam_vtbl = {
    .name = "adam",
    .kind = OPT_KIND_CLASSIC,
    .description = "Adam with optional AMSGrad and L2 weight decay, as torch.optim.Adam",
    .hparams = adam_hparams,
    .nhparams = ADAM_NHP,
    .init = adam_init,
    .state_bytes = adam_state_bytes,
    .step = adam_step,
    .step_apply = adam_step_apply,
    .step_range = adam_step_range,
    .save = classic_save,
    .load = classic_load,
    .deinit = classic_deinit,
};

const opt_vtbl opt_adamw_vtbl = {
    .name = "adamw",
    .kind = OPT_KIND_CLASSIC,
    .description = "Adam with decoupled weight decay, as torch.optim.AdamW",
    .hparams = adamw_hparams,
    .nhparams = ADAM_NHP,
    .init = adam_init,
    .state_bytes = adam_state_bytes,
    .step = adamw_step,
    .step_apply = adamw_step_apply,
    .step_range = adamw_step_range,
    .save = classic_save,
    .load = classic_load,
    .deinit = classic_deinit,
};

/* ---- RMSprop (torch.optim.RMSprop) --------------------------------------- */

enum { RMS_ALPHA, RMS_EPS, RMS_MOMENTUM, RMS_CENTERED, RMS_WEIGHT_DECAY, RMS_NHP };

static const hparam_def rmsprop_hparams[RMS_NHP] = {
    [RMS_ALPHA]        = {"alpha", 0.99, 0, 1, 0, 1, 0, "decay of the squared-gradient average"},
    [RMS_EPS]          = {"eps", 1e-8, 0, 1, 1, 0, 0, "added to the denominator"},
    [RMS_MOMENTUM]     = {"momentum", 0, 0, 1, 0, 1, 0, "momentum factor (0 = none)"},
    [RMS_CENTERED]     = {"centered", 0, 0, 1, 0, 0, 1, "1 = normalise by the estimated variance"},
    [RMS_WEIGHT_DECAY] = {"weight_decay", 0, 0, 1e3, 0, 0, 0, "L2 penalty added to the gradient"},
};

/* Buffers: 0 square_avg, then momentum_buffer when momentum > 0, then
 * grad_avg when centered. */
static int rmsprop_nbuf(const opt_config *cfg)
{
    return 1 + (cfg->hp[HP_COMMON_COUNT + RMS_MOMENTUM] > 0) + (cfg->hp[HP_COMMON_COUNT + RMS_CENTERED] != 0);
}

static int rmsprop_init(opt *o, const opt_config *cfg, const layout *lay)
{
    (void)lay;
    return classic_alloc(o, rmsprop_nbuf(cfg));
}

static int rmsprop_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    *out = classic_bytes(rmsprop_nbuf(cfg), lay);
    return 0;
}

static int rmsprop_step_range(opt *o, const float *params, const float *grads, float *update, double lr,
                              int64_t t, size_t off, size_t n)
{
    (void)t;
    params += off, grads += off, update += off;
    const double alpha = own_hp(o, RMS_ALPHA), wd = own_hp(o, RMS_WEIGHT_DECAY);
    const int has_mom = own_hp(o, RMS_MOMENTUM) > 0, centered = own_hp(o, RMS_CENTERED) != 0;
    const vm_f32 va = vm_splat((float)alpha), vc = vm_splat((float)(1.0 - alpha));
    const vm_f32 veps = vm_splat((float)own_hp(o, RMS_EPS));
    const vm_f32 vmom = vm_splat((float)own_hp(o, RMS_MOMENTUM));
    const vm_f32 vwd = vm_splat((float)wd), vnlr = vm_splat((float)-lr);
    float *sq = classic_buf(o, 0) + off;
    float *buf = has_mom ? classic_buf(o, 1) + off : NULL;
    float *ga = centered ? classic_buf(o, 1 + has_mom) + off : NULL;

    for (size_t i = 0; i < n; i += VM_W) {
        size_t k = n - i < VM_W ? n - i : VM_W;
        vm_f32 g = vm_load(grads + i, k);
        if (wd != 0) g = g + vwd * vm_load(params + i, k);
        vm_f32 sqi = vm_load(sq + i, k) * va + (vc * g) * g;
        vm_store(sq + i, sqi, k);
        vm_f32 avg;
        if (ga) {
            vm_f32 gai = vm_load(ga + i, k) * va + vc * g;
            vm_store(ga + i, gai, k);
            avg = vm_sqrt(sqi - gai * gai);   /* addcmul(grad_avg, grad_avg, value=-1) */
        } else {
            avg = vm_sqrt(sqi);
        }
        avg = avg + veps;
        vm_f32 u;
        if (buf) {
            vm_f32 b = vm_load(buf + i, k) * vmom + g / avg;
            vm_store(buf + i, b, k);
            u = vnlr * b;
        } else {
            u = (vnlr * g) / avg;
        }
        vm_store(update + i, u, k);
    }
    return 0;
}

static int rmsprop_step(opt *o, const float *params, const float *grads, float *update,
                        double lr, step_info *info)
{
    return rmsprop_step_range(o, params, grads, update, lr, info->t, 0, o->lay.n);
}

const opt_vtbl opt_rmsprop_vtbl = {
    .name = "rmsprop",
    .kind = OPT_KIND_CLASSIC,
    .description = "RMSprop with optional momentum, centering and weight decay, as torch.optim.RMSprop",
    .hparams = rmsprop_hparams,
    .nhparams = RMS_NHP,
    .init = rmsprop_init,
    .state_bytes = rmsprop_state_bytes,
    .step = rmsprop_step,
    .step_range = rmsprop_step_range,
    .save = classic_save,
    .load = classic_load,
    .deinit = classic_deinit,
};

/* ---- Adagrad (torch.optim.Adagrad) --------------------------------------- */

enum { ADAGRAD_LR_DECAY, ADAGRAD_INIT_ACC, ADAGRAD_EPS, ADAGRAD_WEIGHT_DECAY, ADAGRAD_NHP };

static const hparam_def adagrad_hparams[ADAGRAD_NHP] = {
    [ADAGRAD_LR_DECAY]     = {"lr_decay", 0, 0, 1e3, 0, 0, 0, "lr / (1 + (t - 1) * lr_decay)"},
    [ADAGRAD_INIT_ACC]     = {"initial_accumulator_value", 0, 0, 1e3, 0, 0, 0,
                              "starting value of the squared-gradient sum"},
    [ADAGRAD_EPS]          = {"eps", 1e-10, 0, 1, 1, 0, 0, "added to the denominator"},
    [ADAGRAD_WEIGHT_DECAY] = {"weight_decay", 0, 0, 1e3, 0, 0, 0, "L2 penalty added to the gradient"},
};

static int adagrad_init(opt *o, const opt_config *cfg, const layout *lay)
{
    (void)lay;
    int rc = classic_alloc(o, 1);
    if (rc) return rc;
    float init = (float)cfg->hp[HP_COMMON_COUNT + ADAGRAD_INIT_ACC];
    float *sum = classic_buf(o, 0);
    for (size_t i = 0; i < o->lay.n; i++) sum[i] = init;
    return 0;
}

static int adagrad_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    (void)cfg;
    *out = classic_bytes(1, lay);
    return 0;
}

static int adagrad_step_range(opt *o, const float *params, const float *grads, float *update, double lr,
                              int64_t t, size_t off, size_t n)
{
    params += off, grads += off, update += off;
    const double wd = own_hp(o, ADAGRAD_WEIGHT_DECAY);
    const double clr = lr / (1.0 + (double)(t - 1) * own_hp(o, ADAGRAD_LR_DECAY));
    const vm_f32 vnclr = vm_splat((float)-clr), vwd = vm_splat((float)wd);
    const vm_f32 veps = vm_splat((float)own_hp(o, ADAGRAD_EPS));
    float *sum = classic_buf(o, 0) + off;

    for (size_t i = 0; i < n; i += VM_W) {
        size_t k = n - i < VM_W ? n - i : VM_W;
        vm_f32 g = vm_load(grads + i, k);
        if (wd != 0) g = g + vwd * vm_load(params + i, k);
        vm_f32 si = vm_load(sum + i, k) + g * g;
        vm_store(sum + i, si, k);
        vm_store(update + i, (vnclr * g) / (vm_sqrt(si) + veps), k);
    }
    return 0;
}

static int adagrad_step(opt *o, const float *params, const float *grads, float *update,
                        double lr, step_info *info)
{
    return adagrad_step_range(o, params, grads, update, lr, info->t, 0, o->lay.n);
}

const opt_vtbl opt_adagrad_vtbl = {
    .name = "adagrad",
    .kind = OPT_KIND_CLASSIC,
    .description = "Adagrad with learning-rate decay and weight decay, as torch.optim.Adagrad",
    .hparams = adagrad_hparams,
    .nhparams = ADAGRAD_NHP,
    .init = adagrad_init,
    .state_bytes = adagrad_state_bytes,
    .step = adagrad_step,
    .step_range = adagrad_step_range,
    .save = classic_save,
    .load = classic_load,
    .deinit = classic_deinit,
};
