/* lopt_mem.c — mem_lopt: a memory-augmented learned optimizer.  An external
 * key–value memory of the optimization history (lopt_memory.h: one entry
 * per step, key = the model's state summary, value = the step-scale and
 * momentum-mix choice made and the relative loss change that followed),
 * read by attention, feeds a small network (lopt_mem_net.h) that sets a
 * per-tensor step scale and momentum mix of the Adam-direction rule
 * (lopt_adamdir.c), as attn_lopt's outputs do.
 *
 * Per parameter (state: Adam's two moments, 2 floats):
 *   u = −(lr / lr_default) · 1e-3 · exp(s_j) · (m̂ + γ_j (g − m̂)) / (√v̂ + ε)
 * with s_j (clipped to ±MEM_SCLIP) and γ_j = tanh(·) the network's outputs
 * for tensor j this step.
 *
 * Per tensor j, features (LOPT_MEM_NTF, each clipped to ±10): f0 log rms g
 * / 10, f1 log rms of Adam's direction m̂/(√v̂+ε) (≈ 0 on a steady slope,
 * negative on noise), f2 cos(g, m before the step), f3 log rms of its last
 * update / 10, f4 log(rms g / rms √v̂) (today's gradient against its running
 * RMS), f5 log(size) / 10.  Key (LOPT_MEM_NKEY): the means of f0..f4 over
 * the tensors, the memory's loss trend and its slow EMA, tanh(t/1000 − 1).
 *
 * Step t: the memory observes the step's loss (step_info.loss, which
 * completes the entry of step t−1), the key is built, the memory is read
 * (memory_reads = 0: the read is zeroed — the ablation; writes go on), the
 * network gives (s_j, γ_j), the step's key and mean (s, γ) wait in the
 * memory for the next loss, and every parameter steps.
 *
 * theta: lopt_mem_net.h's layout (hidden H, depth D of the head).  The
 * memory's size is a session hyperparameter (memory_size, 1..4096, default
 * 1000), not part of the record.  State: m, v (2n floats), each tensor's
 * last update RMS, the memory (12 floats per entry), the network's cache
 * (D·H floats per tensor); the snapshot holds all but the caches. */
#include "lopt.h"
#include "lopt_internal.h"
#include "lopt_mem_net.h"
#include "lopt_memory.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MEM_STEP  1e-3f
#define MEM_SCLIP 5.0f
#define MEM_FLOOR 1e-12

enum { HP_HIDDEN = HP_COMMON_COUNT, HP_DEPTH, HP_MSIZE, HP_READS };

static const hparam_def mem_hparams[] = {
    {"hidden", 16, 1, LOPT_MAX_HIDDEN, 0, 0, 1, "head width when no weights record is used"},
    {"depth", 1, 1, LOPT_MAX_DEPTH, 0, 0, 1, "head hidden layers when no weights record is used"},
    {"memory_size", LOPT_MEM_DEFAULT, 1, LOPT_MEM_MAX, 0, 0, 1,
     "entries of the optimization-history memory (one per step, a ring buffer: the oldest is overwritten)"},
    {"memory_reads", 1, 0, 1, 0, 0, 1, "1: the network reads the memory; 0: reads are zeroed (the ablation; writes go on)"},
};

typedef struct mem_state {
    lopt_weights w;            /* first: see lopt_opt_weights */
    int H, D, ntens;
    size_t n;
    float *m, *v;              /* (n) each */
    float *lastu;              /* (ntens) */
    float *x, *out, *cache;    /* (ntens, NIN), (ntens, 2), forward cache */
    float *sg;                 /* (ntens, 2): s_j, γ_j of this step */
    lopt_memory mem;
} mem_state;

static size_t mem_theta_count(int hidden, int depth) { return lopt_mem_theta_count(hidden, depth); }

static void mem_theta_default(float *theta, int hidden, int depth, rng *r)
{
    lopt_mem_init_params(theta, hidden, depth, r);
}

static void mem_deinit(opt *o)
{
    mem_state *s = o->state;
    if (!s) return;
    lopt_weights_deinit(&s->w);
    lopt_memory_deinit(&s->mem);
    free(s->m); free(s->v); free(s->lastu); free(s->x); free(s->out); free(s->cache); free(s->sg);
    free(s);
    o->state = NULL;
}

static int mem_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int H, D;
    size_t nt;
    int rc = lopt_weights_resolve_shape(cfg, LOPT_ARCH_MEM, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_DEPTH], &H, &D,
                                        &nt);
    if (rc) return rc;
    uint64_t T = (uint64_t)lay->ntensors + 1;
    uint64_t floats = opt_bytes_add(opt_bytes_mul(2, lay->n + 1), nt);
    floats = opt_bytes_add(floats, T * (1 + LOPT_MEM_NIN + 2 * LOPT_MEM_NOUT) + lopt_mem_cache_size(H, D, (int)T));
    uint64_t b = opt_bytes_add(sizeof(mem_state), opt_bytes_mul(floats, sizeof(float)));
    *out = opt_bytes_add(b, lopt_memory_bytes((int)cfg->hp[HP_MSIZE]));
    return 0;
}

static int mem_init(opt *o, const opt_config *cfg, const layout *lay)
{
    mem_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    o->state = s;
    int rc = lopt_weights_resolve(cfg, LOPT_ARCH_MEM, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_DEPTH], &s->w);
    if (!rc) rc = lopt_memory_init(&s->mem, (int)cfg->hp[HP_MSIZE]);
    if (rc) { mem_deinit(o); return rc; }
    s->H = s->w.hidden; s->D = s->w.depth;
    s->n = lay->n; s->ntens = lay->ntensors;
    size_t T = (size_t)s->ntens + 1;
    s->m = calloc(s->n + 1, sizeof(float));
    s->v = calloc(s->n + 1, sizeof(float));
    s->lastu = calloc(T, sizeof(float));
    s->x = calloc(T * LOPT_MEM_NIN, sizeof(float));
    s->out = calloc(T * LOPT_MEM_NOUT, sizeof(float));
    s->cache = calloc(lopt_mem_cache_size(s->H, s->D, (int)T), sizeof(float));
    s->sg = calloc(T * 2, sizeof(float));
    if (!s->m || !s->v || !s->lastu || !s->x || !s->out || !s->cache || !s->sg) { mem_deinit(o); return ERR_NO_MEMORY; }
    return 0;
}

static float clip10(double z)
{
    if (!(z == z)) return 0.0f;
    return (float)(z > 10 ? 10 : z < -10 ? -10 : z);
}

static double lrms(double ss, double n) { return log(sqrt(ss / n) + MEM_FLOOR); }

static int mem_step(opt *o, const float *params, const float *grads, float *update, double lr, step_info *info)
{
    mem_state *s = o->state;
    int64_t t = o->t + 1;
    double loss = info ? info->loss : NAN;
    lopt_memory_observe(&s->mem, loss);
    double c1 = 1.0 - pow(LOPT_ADAMDIR_B1, (double)t), c2 = 1.0 - pow(LOPT_ADAMDIR_B2, (double)t);
    float ic1 = (float)(1.0 / c1), ic2 = (float)(1.0 / c2);
    int nt = s->ntens;
    double ksum[5] = {0};
    for (int j = 0; j < nt; j++) {
        const layout_tensor *lt = &o->lay.tensors[j];
        size_t off = lt->offset, n = lt->size;
        lopt_adamdir_sums su;
        lopt_adamdir_moments(s->m + off, s->v + off, grads + off, params + off, n, ic1, ic2, &su);
        double dn = n ? (double)n : 1.0;
        float *f = s->x + (size_t)j * LOPT_MEM_NIN;
        f[0] = clip10(lrms(su.gg, dn) / 10);
        f[1] = clip10(lrms(su.dd, dn));
        f[2] = (su.gg > 0 && su.mm > 0) ? clip10(su.gm / sqrt(su.gg * su.mm)) : 0.0f;
        f[3] = clip10(log((double)s->lastu[j] + MEM_FLOOR) / 10);
        f[4] = clip10(lrms(su.gg, dn) - lrms(su.vv * ic2, dn) / 2);   /* log(rms g / √mean v̂) */
        f[5] = clip10(log(dn) / 10);
        for (int k = 0; k < 5; k++) ksum[k] += f[k];
    }
    float key[LOPT_MEM_NKEY], read[LOPT_MEM_NVAL];
    for (int k = 0; k < 5; k++) key[k] = nt ? (float)(ksum[k] / nt) : 0.0f;
    key[5] = s->mem.trend;
    key[6] = s->mem.trend_slow;
    key[7] = tanhf((float)((double)t / 1000.0 - 1.0));
    const float *Wq = s->w.theta, *Wk = s->w.theta + (size_t)LOPT_MEM_DK * LOPT_MEM_NKEY;
    if (o->cfg.hp[HP_READS] != 0) lopt_memory_read(&s->mem, Wq, Wk, key, read);
    else for (int k = 0; k < LOPT_MEM_NVAL; k++) read[k] = 0.0f;
    for (int j = 0; j < nt; j++) {
        float *x = s->x + (size_t)j * LOPT_MEM_NIN;
        memcpy(x + LOPT_MEM_NTF, key, sizeof key);
        memcpy(x + LOPT_MEM_NTF + LOPT_MEM_NKEY, read, sizeof read);
    }
    double ms = 0, mg = 0;
    if (nt) lopt_mem_head_forward(s->w.theta, s->H, s->D, nt, s->x, s->cache, s->out);
    for (int j = 0; j < nt; j++) {
        float a = s->out[2 * j], b = s->out[2 * j + 1];
        a = a == a ? a : 0.0f;
        s->sg[2 * j] = a > MEM_SCLIP ? MEM_SCLIP : a < -MEM_SCLIP ? -MEM_SCLIP : a;
        s->sg[2 * j + 1] = b == b ? tanhf(b) : 0.0f;
        ms += s->sg[2 * j]; mg += s->sg[2 * j + 1];
    }
    lopt_memory_propose(&s->mem, key, nt ? (float)(ms / nt) : 0.0f, nt ? (float)(mg / nt) : 0.0f, loss);
    float base = (float)lopt_lr_mult(lr) * MEM_STEP;
    int bad = 0;
    for (int j = 0; j < nt; j++) {
        const layout_tensor *lt = &o->lay.tensors[j];
        size_t off = lt->offset, n = lt->size;
        float k = -base * expf(s->sg[2 * j]), gam = s->sg[2 * j + 1];
        double su = lopt_adamdir_apply(s->m + off, s->v + off, grads + off, n, ic1, ic2, k, gam, update + off);
        if (!isfinite(su)) bad = 1;
        s->lastu[j] = (float)sqrt(su / (n ? (double)n : 1.0));
    }
    return bad ? ERR_NON_FINITE_UPDATE : 0;
}

static int mem_save(const opt *o, blob_writer *w)
{
    const mem_state *s = o->state;
    lopt_weights_put(w, &s->w);
    blob_put_u64(w, s->n);
    blob_put_u32(w, (uint32_t)s->ntens);
    blob_put_f32s(w, s->m, s->n);
    blob_put_f32s(w, s->v, s->n);
    blob_put_f32s(w, s->lastu, (size_t)s->ntens);
    lopt_memory_save(&s->mem, w);
    return w->err;
}

static int mem_load(opt *o, blob_reader *r)
{
    mem_state *s = o->state;
    lopt_weights w;
    int rc = lopt_weights_get(r, &w);
    if (rc) return rc;
    uint64_t n = blob_get_u64(r);
    uint32_t nt = blob_get_u32(r);
    if (blob_reader_status(r) || w.arch != LOPT_ARCH_MEM || w.hidden != s->H || w.depth != s->D || n != s->n ||
        nt != (uint32_t)s->ntens) {
        lopt_weights_deinit(&w);
        return ERR_CORRUPT;
    }
    blob_get_f32s(r, s->m, s->n);
    blob_get_f32s(r, s->v, s->n);
    blob_get_f32s(r, s->lastu, (size_t)s->ntens);
    rc = blob_reader_status(r) ? ERR_CORRUPT : lopt_memory_load(&s->mem, r);
    if (rc) { lopt_weights_deinit(&w); return ERR_CORRUPT; }
    lopt_weights_deinit(&s->w);
    s->w = w;
    return 0;
}

static int mem_memory(const opt *o, int64_t *size, int64_t *fill)
{
    const mem_state *s = o->state;
    *size = s->mem.size;
    *fill = s->mem.fill;
    return 1;
}

const opt_vtbl lopt_mem_vtbl = {
    .name = "mem_lopt",
    .weights_arch = "mem_lopt",
    .kind = OPT_KIND_LEARNED,
    .description = "memory-augmented learned optimizer: attention over a memory of past steps (state summary -> step-scale choice and the loss change that followed) sets a per-tensor step scale and momentum mix of an Adam-direction rule; no shipped weights (docs/learned-optimizers.md)",
    .hparams = mem_hparams,
    .nhparams = (int)(sizeof mem_hparams / sizeof mem_hparams[0]),
    .init = mem_init,
    .state_bytes = mem_state_bytes,
    .step = mem_step,
    .save = mem_save,
    .load = mem_load,
    .deinit = mem_deinit,
    .memory = mem_memory,
};

const lopt_arch lopt_arch_mem = {
    .id = LOPT_ARCH_MEM,
    .name = "mem_lopt",
    .vt = &lopt_mem_vtbl,
    .theta_count = mem_theta_count,
    .theta_default = mem_theta_default,
    .legacy_tail = 0,
};
