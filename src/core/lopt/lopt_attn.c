/* lopt_attn.c — attn_lopt: a transformer learned optimizer that attends over
 * the model's tensors and their recent history, and steers a cheap
 * per-parameter Adam-direction rule with per-tensor outputs.
 *
 * Per parameter (state: Adam's two moments, 2 floats):
 *   m = β₁ m + (1−β₁) g,  v = β₂ v + (1−β₂) g²   (β₁ 0.9, β₂ 0.999)
 *   d = (m̂ + γ_j (g − m̂)) / (√v̂ + ε)           (m̂, v̂ bias-corrected, ε 1e-8)
 *   update = −(lr / lr_default) · 1e-3 · exp(s_j) · d
 * where s_j (log step scale, clipped to ±ATTN_SCLIP) and γ_j = tanh(o)
 * (momentum mix: 0 = Adam, > 0 towards the raw gradient, < 0 more momentum)
 * are the network's two outputs for tensor j this step.
 *
 * Tokens.  After the moments are updated, each tensor's step statistics
 * (LOPT_ATTN_NSTAT): log(rms g)/10, log(rms p)/10, log(rms of Adam's
 * direction m̂/(√v̂+ε)), log(rms of its last update)/10, cos(g, m before the
 * step), log(n)/10 (rms floors 1e-12, each clipped to ±10), enter a ring of
 * the last `sequence_length` (S) steps of that tensor.  The network
 * (lopt_attn_net.h) sees T = tensors × min(t, S) tokens: each a ring entry
 * plus its age (lag / LOPT_ATTN_MAX_SEQ) and the time features of step t,
 * ordered oldest step first.  Attention is unmasked, so every tensor's
 * current token sees every tensor's statistics over the last S steps; the
 * read-out of the current tokens gives (s_j, γ_j).  Bounds: T ≤
 * LOPT_ATTN_MAX_TOKENS (a layout with more tensors × S is refused), so the
 * network's cost depends on the number of tensors, never on N.
 *
 * theta: lopt_attn_net.h's layout; the weights record's hidden and depth are
 * hidden_size and num_layers, and it carries num_heads and sequence_length
 * (lopt_weights.heads/seq; they do not change theta's length): a session on
 * a record runs at the record's four, as meta-training ran it.  Default
 * init: lopt_attn_init_params — the read-out is small (N(0, 0.01²/H)), so
 * the untrained optimizer is Adam(lr) with per-tensor step scales within a
 * few percent of 1.
 *
 * State: m, v (2n floats), the ring (tensors × S × NSTAT floats), each
 * tensor's last update RMS, the network's forward cache (sized for T); the
 * snapshot holds all but the cache, with the weights (heads and S in them). */
#include "lopt.h"
#include "lopt_internal.h"
#include "lopt_attn_net.h"
#include "errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTN_B1    LOPT_ADAMDIR_B1   /* the rule: lopt_adamdir.c */
#define ATTN_B2    LOPT_ADAMDIR_B2
#define ATTN_STEP  1e-3f
#define ATTN_SCLIP 5.0f
#define ATTN_FLOOR 1e-12

enum { HP_HIDDEN = HP_COMMON_COUNT, HP_LAYERS, HP_HEADS, HP_SEQ };

static size_t attn_theta_count(int hidden, int depth) { return lopt_attn_theta_count(hidden, depth); }

static void attn_theta_default(float *theta, int hidden, int depth, rng *r)
{
    lopt_attn_init_params(theta, hidden, depth, r);
}

typedef struct attn_state {
    lopt_weights w;            /* first: see lopt_opt_weights */
    int H, L, NH, S, ntens;
    size_t n;
    float *m, *v;              /* (n) each */
    float *hist;               /* (ntens, S, NSTAT) ring: slot (t−1) mod S holds step t */
    float *lastu;              /* (ntens) RMS of each tensor's last update */
    float *x, *out, *cache;    /* tokens (Tmax, NIN), outputs (Tmax, 2), forward cache */
    float *sg;                 /* (ntens, 2): s_j, γ_j of this step */
} attn_state;

static const hparam_def attn_hparams[] = {
    {"hidden_size", 16, 1, LOPT_MAX_HIDDEN, 0, 0, 1, "transformer width when no weights record is used (a multiple of num_heads)"},
    {"num_layers", 2, 1, LOPT_MAX_DEPTH, 0, 0, 1, "transformer blocks when no weights record is used"},
    {"num_heads", 2, 1, LOPT_ATTN_MAX_HEADS, 0, 0, 1, "attention heads when no weights record is used (a record carries its own); must divide hidden_size"},
    {"sequence_length", 4, 1, LOPT_ATTN_MAX_SEQ, 0, 0, 1, "past steps of each tensor's statistics the attention sees (tokens = tensors x sequence_length) when no weights record is used (a record carries its own)"},
};

/* Width H with heads NH and S, and the layout's tokens (lay may be NULL),
 * checked together.  With msg, the reason. */
static int attn_combo(int H, int NH, int S, const layout *lay, char *msg, size_t cap)
{
    if (NH < 1 || H % NH != 0) {
        if (msg) snprintf(msg, cap, "attn_lopt: num_heads (%d) must divide hidden_size (%d)", NH, H);
        return ERR_INVALID_ARGUMENT;
    }
    if (S < 1 || S > LOPT_ATTN_MAX_SEQ) return ERR_INVALID_ARGUMENT;
    if (lay && (uint64_t)lay->ntensors * (uint64_t)S > LOPT_ATTN_MAX_TOKENS) {
        if (msg)
            snprintf(msg, cap, "attn_lopt: %d tensors x sequence_length %d = %lld tokens, above %d: lower sequence_length",
                     lay->ntensors, S, (long long)lay->ntensors * S, LOPT_ATTN_MAX_TOKENS);
        return ERR_INVALID_ARGUMENT;
    }
    return 0;
}

/* The shape: width, blocks, heads and S from the record when one is used
 * (a record without heads and S takes the hyperparameters'), else the
 * hyperparameters; then attn_combo. */
static int attn_shape(const opt_config *cfg, const layout *lay, int *H, int *L, size_t *nt, int *NH, int *S)
{
    int rc = lopt_weights_resolve_shape(cfg, LOPT_ARCH_ATTN, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_LAYERS],
                                        H, L, nt);
    *NH = (int)cfg->hp[HP_HEADS];
    *S = (int)cfg->hp[HP_SEQ];
    if (!rc) rc = lopt_weights_resolve_ext(cfg, LOPT_ARCH_ATTN, NH, S);
    return rc ? rc : attn_combo(*H, *NH, *S, lay, NULL, 0);
}

/* The hyperparameters alone (no weights table: no lock needed); with a
 * record, init and state_bytes check its shape. */
static int attn_check(const opt_config *cfg, const layout *lay, char *msg, size_t cap)
{
    return attn_combo((int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_HEADS], (int)cfg->hp[HP_SEQ], lay, msg, cap);
}

static void attn_deinit(opt *o)
{
    attn_state *s = o->state;
    if (!s) return;
    lopt_weights_deinit(&s->w);
    free(s->m); free(s->v); free(s->hist); free(s->lastu);
    free(s->x); free(s->out); free(s->cache); free(s->sg);
    free(s);
    o->state = NULL;
}

/* Floats beyond m and v: ring, last update, tokens, outputs, cache, s/γ. */
static uint64_t attn_side_floats(int H, int L, int NH, int S, int ntens)
{
    uint64_t T = (uint64_t)ntens * (uint64_t)S;
    return T * LOPT_ATTN_NSTAT + (uint64_t)ntens + T * LOPT_ATTN_NIN + T * LOPT_ATTN_NOUT +
           lopt_attn_cache_size(H, L, NH, (int)T) + 2 * (uint64_t)ntens;
}

static int attn_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int H, L, NH, S;
    size_t nt;
    int rc = attn_shape(cfg, lay, &H, &L, &nt, &NH, &S);
    if (rc) return rc;
    uint64_t floats = opt_bytes_add(opt_bytes_mul(2, lay->n), nt);
    floats = opt_bytes_add(floats, attn_side_floats(H, L, NH, S, lay->ntensors));
    *out = opt_bytes_add(sizeof(attn_state), opt_bytes_mul(floats, sizeof(float)));
    return 0;
}

static int attn_init(opt *o, const opt_config *cfg, const layout *lay)
{
    int H, L, NH, S;
    size_t nt;
    int rc = attn_shape(cfg, lay, &H, &L, &nt, &NH, &S);
    if (rc) return rc;
    attn_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    o->state = s;
    rc = lopt_weights_resolve(cfg, LOPT_ARCH_ATTN, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_LAYERS], &s->w);
    if (rc) { attn_deinit(o); return rc; }
    s->H = s->w.hidden; s->L = s->w.depth;
    s->NH = NH; s->S = S;
    s->w.heads = NH; s->w.seq = S;   /* a record made from this state runs as this session */
    s->n = lay->n; s->ntens = lay->ntensors;
    size_t T = (size_t)s->ntens * (size_t)s->S;
    s->m = calloc(s->n ? s->n : 1, sizeof(float));
    s->v = calloc(s->n ? s->n : 1, sizeof(float));
    s->hist = calloc(T * LOPT_ATTN_NSTAT + 1, sizeof(float));
    s->lastu = calloc((size_t)s->ntens + 1, sizeof(float));
    s->x = calloc(T * LOPT_ATTN_NIN + 1, sizeof(float));
    s->out = calloc(T * LOPT_ATTN_NOUT + 1, sizeof(float));
    s->cache = calloc(lopt_attn_cache_size(s->H, s->L, s->NH, (int)T) + 1, sizeof(float));
    s->sg = calloc(2 * (size_t)s->ntens + 1, sizeof(float));
    if (!s->m || !s->v || !s->hist || !s->lastu || !s->x || !s->out || !s->cache || !s->sg) {
        attn_deinit(o);
        return ERR_NO_MEMORY;
    }
    return 0;
}

static float clip10(double z)
{
    if (!(z == z)) return 0.0f;
    return (float)(z > 10 ? 10 : z < -10 ? -10 : z);
}

static float lg(double ss, double n) { return (float)log(sqrt(ss / n) + ATTN_FLOOR); }

/* Moments of tensor j and its step statistics into the ring at step t. */
static void attn_tensor_stats(attn_state *s, int j, const layout_tensor *lt, const float *params,
                              const float *grads, double c1, double c2, int64_t t)
{
    size_t off = lt->offset, n = lt->size;
    lopt_adamdir_sums su;
    lopt_adamdir_moments(s->m + off, s->v + off, grads + off, params + off, n, (float)(1.0 / c1),
                         (float)(1.0 / c2), &su);
    double sg = su.gg, sp = su.pp, sd = su.dd, sgm = su.gm, sm = su.mm;
    double dn = n ? (double)n : 1.0;
    float *h = s->hist + ((size_t)j * s->S + (size_t)((t - 1) % s->S)) * LOPT_ATTN_NSTAT;
    h[0] = clip10(lg(sg, dn) / 10);
    h[1] = clip10(lg(sp, dn) / 10);
    h[2] = clip10(lg(sd, dn));
    h[3] = clip10(log((double)s->lastu[j] + ATTN_FLOOR) / 10);
    h[4] = (sg > 0 && sm > 0) ? clip10(sgm / sqrt(sg * sm)) : 0.0f;
    h[5] = clip10(log(dn) / 10);
}

/* Tokens of step t (oldest step first), the forward, then s_j and γ_j. */
static void attn_tensor_outputs(attn_state *s, int64_t t)
{
    int S = s->S, nt = s->ntens;
    int Sf = t < S ? (int)t : S;
    float tf[LOPT_NTIME];
    lopt_time_features(t, tf);
    for (int lag = Sf - 1, r = 0; lag >= 0; lag--)
        for (int j = 0; j < nt; j++, r++) {
            float *x = s->x + (size_t)r * LOPT_ATTN_NIN;
            const float *h = s->hist + ((size_t)j * S + (size_t)((t - 1 - lag) % S)) * LOPT_ATTN_NSTAT;
            memcpy(x, h, LOPT_ATTN_NSTAT * sizeof(float));
            x[LOPT_ATTN_NSTAT] = (float)lag / LOPT_ATTN_MAX_SEQ;
            memcpy(x + LOPT_ATTN_NSTAT + 1, tf, sizeof tf);
        }
    int T = Sf * nt;
    lopt_attn_forward(s->w.theta, s->H, s->L, s->NH, T, s->x, s->cache, s->out);
    const float *cur = s->out + (size_t)(Sf - 1) * nt * LOPT_ATTN_NOUT;
    for (int j = 0; j < nt; j++) {
        float a = cur[2 * j], b = cur[2 * j + 1];
        a = a == a ? a : 0.0f;
        s->sg[2 * j] = a > ATTN_SCLIP ? ATTN_SCLIP : a < -ATTN_SCLIP ? -ATTN_SCLIP : a;
        s->sg[2 * j + 1] = b == b ? tanhf(b) : 0.0f;
    }
}

static int attn_step(opt *o, const float *params, const float *grads, float *update, double lr, step_info *info)
{
    (void)info;
    attn_state *s = o->state;
    int64_t t = o->t + 1;
    double c1 = 1.0 - pow(ATTN_B1, (double)t), c2 = 1.0 - pow(ATTN_B2, (double)t);
    for (int j = 0; j < s->ntens; j++) attn_tensor_stats(s, j, &o->lay.tensors[j], params, grads, c1, c2, t);
    if (s->ntens) attn_tensor_outputs(s, t);
    float base = (float)lopt_lr_mult(lr) * ATTN_STEP;
    float ic1 = (float)(1.0 / c1), ic2 = (float)(1.0 / c2);
    int bad = 0;
    for (int j = 0; j < s->ntens; j++) {
        const layout_tensor *lt = &o->lay.tensors[j];
        size_t off = lt->offset, n = lt->size;
        float k = -base * expf(s->sg[2 * j]), gam = s->sg[2 * j + 1];
        double su = lopt_adamdir_apply(s->m + off, s->v + off, grads + off, n, ic1, ic2, k, gam, update + off);
        if (!isfinite(su)) bad = 1;
        s->lastu[j] = (float)sqrt(su / (n ? (double)n : 1.0));
    }
    return bad ? ERR_NON_FINITE_UPDATE : 0;
}

static int attn_save(const opt *o, blob_writer *w)
{
    const attn_state *s = o->state;
    lopt_weights_put(w, &s->w);
    blob_put_u32(w, (uint32_t)s->NH);
    blob_put_u32(w, (uint32_t)s->S);
    blob_put_u64(w, s->n);
    blob_put_u32(w, (uint32_t)s->ntens);
    blob_put_f32s(w, s->m, s->n);
    blob_put_f32s(w, s->v, s->n);
    blob_put_f32s(w, s->hist, (size_t)s->ntens * s->S * LOPT_ATTN_NSTAT);
    blob_put_f32s(w, s->lastu, (size_t)s->ntens);
    return w->err;
}

static int attn_load(opt *o, blob_reader *r)
{
    attn_state *s = o->state;
    lopt_weights w;
    int rc = lopt_weights_get(r, &w);
    if (rc) return rc;
    uint32_t NH = blob_get_u32(r), S = blob_get_u32(r);
    uint64_t n = blob_get_u64(r);
    uint32_t nt = blob_get_u32(r);
    if (blob_reader_status(r) || w.arch != LOPT_ARCH_ATTN || w.hidden != s->H || w.depth != s->L ||
        NH != (uint32_t)s->NH || S != (uint32_t)s->S || w.heads != s->NH || w.seq != s->S || n != s->n ||
        nt != (uint32_t)s->ntens) {
        lopt_weights_deinit(&w);
        return ERR_CORRUPT;
    }
    blob_get_f32s(r, s->m, s->n);
    blob_get_f32s(r, s->v, s->n);
    blob_get_f32s(r, s->hist, (size_t)s->ntens * s->S * LOPT_ATTN_NSTAT);
    blob_get_f32s(r, s->lastu, (size_t)s->ntens);
    if (blob_reader_status(r)) { lopt_weights_deinit(&w); return ERR_CORRUPT; }
    lopt_weights_deinit(&s->w);
    s->w = w;
    return 0;
}

const opt_vtbl lopt_attn_vtbl = {
    .name = "attn_lopt",
    .weights_arch = "attn_lopt",
    .kind = OPT_KIND_LEARNED,
    .description = "transformer learned optimizer: attention over the tensors' recent step statistics sets a per-tensor step scale and momentum mix of an Adam-direction rule; no shipped weights yet (docs/learned-optimizers.md)",
    .hparams = attn_hparams,
    .nhparams = (int)(sizeof attn_hparams / sizeof attn_hparams[0]),
    .init = attn_init,
    .state_bytes = attn_state_bytes,
    .check = attn_check,
    .step = attn_step,
    .save = attn_save,
    .load = attn_load,
    .deinit = attn_deinit,
};

const lopt_arch lopt_arch_attn = {
    .id = LOPT_ARCH_ATTN,
    .name = "attn_lopt",
    .vt = &lopt_attn_vtbl,
    .theta_count = attn_theta_count,
    .theta_default = attn_theta_default,
    .legacy_tail = 0,
    .hidden_hp = "hidden_size",
    .depth_hp = "num_layers",
    .heads_hp = "num_heads",
    .seq_hp = "sequence_length",
};
