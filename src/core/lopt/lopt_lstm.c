/* lopt_lstm.c — lstm_lopt: a coordinatewise LSTM learned optimizer
 * (Andrychowicz et al. 2016, "Learning to learn by gradient descent by
 * gradient descent").
 *
 * One small LSTM stack (D layers of H units, default 2 × 8) is shared by every
 * coordinate; each coordinate keeps its own hidden and cell state.  Input:
 * the log-and-sign preprocessed gradient (p = 10, lopt_logsign), 2 values.
 * Output per coordinate:
 *     update = −(lr / lr_default) · 1e-3 · (a · s + w·h_D + b)
 * where s is the sign channel of the preprocessing (sign g, or e^10 g for
 * tiny g), a is a learnable skip weight, and (w, b) a linear read-out of the
 * top layer's hidden state.
 *
 * theta layout: a (1) | layer 1 LSTM (in 2) | layers 2..D LSTM (in H) |
 * w (H) | b (1); each LSTM block in layers.h's order Wx (in,4H), Wh (H,4H),
 * b (4H).  Default init: a = 1 (sign-SGD with step 1e-3), LSTM weights
 * U(±1/√H), forget bias 1, read-out N(0, 0.01²/H).
 *
 * State: per layer h and c of every coordinate.  In memory they are blocks
 * of 8 coordinates, each block (D, 2, H, 8) — so the vectorised kernel
 * (lopt_fast.c) reads one contiguous stretch per block, coordinates in
 * lanes; opt_save/opt_load write and read them in the canonical order
 * (D, 2, n, H) (h_l then c_l of each layer, per coordinate), bit for bit.
 * lopt_lstm_kernel = LOPT_KERNEL_LOOP runs one coordinate at a time through
 * layers.h's layer_lstm_forward (the reference the tests compare against);
 * LOPT_KERNEL_BLAS runs blocks of LSTM_BLAS_BLOCK coordinates through
 * layer_lstm_forward with batch = the block (gates as a [block × 4H] product by
 * OpenBLAS sgemm, libm activations) — kept to measure the batched-GEMM
 * route against the vectorised kernel (bench_core); LOPT_KERNEL_FAST (the
 * default) is lopt_fast.c's vectorised kernel.
 *
 * Builder options (hyperparameters): forget_gate_bias (default 1, in
 * [−10, 10]) is the forget-gate bias of every layer in the default init —
 * it applies when no weights record is used, as hidden and depth do (a
 * record carries its own learned biases); 1 gives today's init bit for bit.
 * memory_size (default 0 = off, up to LOPT_MEM_MAX) gives the optimizer the
 * optimization-history memory of lopt_memory.h (the one mem_lopt reads):
 * key = [mean over tensors of log rms g / 10, log rms of the last update /
 * 10, 0, 0, 0, loss trend, its slow EMA, tanh(t/1000 − 1)] with the fixed
 * identity projection; value = (the log scale σ used, 0, the relative loss
 * change that followed).  With r the read (memory_reads = 1), every update
 * is multiplied by exp(σ), σ = clip(r_σ − r_Δ, ±LSTM_MEM_SCLIP): a fixed
 * (not learned) rule that moves the scale away from the choices that
 * preceded loss increases in similar states and grows it while similar
 * states were followed by decreases.  memory_reads = 0 (or an empty
 * memory) gives σ = 0, the memory-off update; with memory_size 0 nothing
 * of this runs. */
#include "lopt.h"
#include "lopt_internal.h"
#include "layers.h"
#include "lopt_memory.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LSTM_SCALE 1e-3f
#define LSTM_BLAS_BLOCK 256
#define LSTM_MEM_SCLIP 3.0f

enum { HP_HIDDEN = HP_COMMON_COUNT, HP_DEPTH, HP_FGB, HP_MSIZE, HP_READS };

int lopt_lstm_kernel = LOPT_KERNEL_FAST;

static size_t lstm_layer_params(int in, int H)
{
    return (size_t)in * 4 * H + (size_t)H * 4 * H + 4 * (size_t)H;
}

static size_t lopt_lstm_theta_count(int hidden, int depth)
{
    size_t n = 1 + lstm_layer_params(2, hidden);
    for (int l = 1; l < depth; l++) n += lstm_layer_params(hidden, hidden);
    return n + (size_t)hidden + 1;
}

static void lopt_lstm_theta_default(float *theta, int hidden, int depth, rng *r)
{
    float *p = theta;
    *p++ = 1.0f;
    for (int l = 0; l < depth; l++) {
        lstm cell;
        layer_lstm_init(&cell, l == 0 ? 2 : hidden, hidden);
        layer_lstm_init_params(&cell, p, r, 1.0f, 1.0f);
        p += cell.nparams;
    }
    rng_normal_fill(r, p, (size_t)hidden, 0.0f, 0.01f / sqrtf((float)hidden));
    p[hidden] = 0.0f;
}

typedef struct lstm_state {
    lopt_weights w;            /* first: see lopt_opt_weights */
    int H, D;
    size_t n, nhc;             /* coordinates; floats of hc (n rounded up to 8) */
    lstm cells[LOPT_MAX_DEPTH];
    size_t cell_off[LOPT_MAX_DEPTH];
    float *hc;                 /* (⌈n/8⌉, D, 2, H, 8) */
    float *ref;                /* reference path scratch: x (2), h/c in and out (4 D H), cache (5 H) */
    float *blas;               /* LOPT_KERNEL_BLAS scratch (allocated on first use) */
    lopt_memory mem;           /* memory_size > 0 (else zeroed: off) */
    float lastu;               /* memory on: RMS of the last update */
} lstm_state;

/* Index in hc of h (s = 0) or c (s = 1) of layer l, unit j, coordinate i. */
static inline size_t hc_at(const lstm_state *s, int l, int sc, size_t i, int j)
{
    size_t H = (size_t)s->H;
    return (i / 8) * ((size_t)s->D * 2 * H * 8) + (((size_t)l * 2 + (size_t)sc) * H + (size_t)j) * 8 + i % 8;
}

static const hparam_def lstm_hparams[] = {
    {"hidden", 8, 1, LOPT_MAX_HIDDEN, 0, 0, 1, "LSTM width when no weights record is used"},
    {"depth", 2, 1, LOPT_MAX_DEPTH, 0, 0, 1, "LSTM layers when no weights record is used"},
    {"forget_gate_bias", 1, -10, 10, 0, 0, 0, "forget-gate bias of the default init when no weights record is used (a record carries its own)"},
    {"memory_size", 0, 0, LOPT_MEM_MAX, 0, 0, 1, "entries of the optimization-history memory (ring buffer; 0 = off); its read sets a global step scale"},
    {"memory_reads", 1, 0, 1, 0, 0, 1, "with a memory: 1 reads it, 0 zeroes the read (scale 1; writes go on)"},
};

static void lstm_lopt_deinit(opt *o)
{
    lstm_state *s = o->state;
    if (!s) return;
    lopt_weights_deinit(&s->w);
    lopt_memory_deinit(&s->mem);
    free(s->hc); free(s->ref); free(s->blas);
    free(s);
    o->state = NULL;
}

/* Cells, offsets and scratch for the current weights' shape. */
static int lstm_shape(lstm_state *s)
{
    s->H = s->w.hidden; s->D = s->w.depth;
    size_t off = 1;
    for (int l = 0; l < s->D; l++) {
        if (layer_lstm_init(&s->cells[l], l == 0 ? 2 : s->H, s->H)) return ERR_INVALID_ARGUMENT;
        s->cell_off[l] = off;
        off += s->cells[l].nparams;
    }
    free(s->ref);
    s->ref = malloc((2 + 4 * (size_t)s->D * (size_t)s->H + 5 * (size_t)s->H) * sizeof(float));
    return s->ref ? 0 : ERR_NO_MEMORY;
}

static int lstm_lopt_init(opt *o, const opt_config *cfg, const layout *lay)
{
    lstm_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    o->state = s;
    int rc = lopt_weights_resolve(cfg, LOPT_ARCH_LSTM, (int)cfg->hp[HP_HIDDEN],
                                  (int)cfg->hp[HP_DEPTH], &s->w);
    if (!rc) rc = lstm_shape(s);
    if (!rc && cfg->hp[HP_MSIZE] > 0) rc = lopt_memory_init(&s->mem, (int)cfg->hp[HP_MSIZE]);
    if (rc) { lstm_lopt_deinit(o); return rc; }
    if (cfg->hp[HP_FGB] != 1.0 && !lopt_weights_uses_record(cfg, LOPT_ARCH_LSTM))
        for (int l = 0; l < s->D; l++)
            for (int j = 0; j < s->H; j++)
                s->w.theta[s->cell_off[l] + s->cells[l].b_off + (size_t)s->H + (size_t)j] = (float)cfg->hp[HP_FGB];
    s->n = lay->n;
    s->nhc = (s->n + 7) / 8 * 8 * (size_t)s->D * 2 * (size_t)s->H;
    s->hc = calloc(s->nhc, sizeof(float));
    if (!s->hc) { lstm_lopt_deinit(o); return ERR_NO_MEMORY; }
    return 0;
}

/* hc holds 2 D H floats per coordinate (n rounded up to 8 lanes); ref and
 * the BLAS scratch are per block, theta is the weights' copy. */
static int lstm_lopt_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int H, D;
    size_t nt;
    int rc = lopt_weights_resolve_shape(cfg, LOPT_ARCH_LSTM, (int)cfg->hp[HP_HIDDEN],
                                        (int)cfg->hp[HP_DEPTH], &H, &D, &nt);
    if (rc) return rc;
    uint64_t B = LSTM_BLAS_BLOCK;
    uint64_t floats = opt_bytes_mul((lay->n + 7) / 8 * 8, 2 * (uint64_t)D * (uint64_t)H);
    floats = opt_bytes_add(floats, nt + 2 + 4 * (uint64_t)D * H + 5 * (uint64_t)H);
    floats = opt_bytes_add(floats, 2 * B + 4 * (uint64_t)D * B * H + 5 * B * H);
    *out = opt_bytes_add(sizeof(lstm_state), opt_bytes_mul(floats, sizeof(float)));
    *out = opt_bytes_add(*out, lopt_memory_bytes((int)cfg->hp[HP_MSIZE]));
    return 0;
}

/* The reference: coordinate i alone through layer_lstm_forward. */
static float lstm_ref_coord(lstm_state *s, float g, size_t i, float mult)
{
    const float *theta = s->w.theta;
    int H = s->H;
    float *x = s->ref, *hin = x + 2, *cin = hin + (size_t)s->D * H, *hout = cin + (size_t)s->D * H;
    float *cout = hout + (size_t)s->D * H, *cache = cout + (size_t)s->D * H;
    lopt_logsign(g, &x[0], &x[1]);
    const float *in = x;
    for (int l = 0; l < s->D; l++) {
        float *hp = hin + (size_t)l * H, *cp = cin + (size_t)l * H;
        float *hn = hout + (size_t)l * H, *cn = cout + (size_t)l * H;
        for (int j = 0; j < H; j++) { hp[j] = s->hc[hc_at(s, l, 0, i, j)]; cp[j] = s->hc[hc_at(s, l, 1, i, j)]; }
        layer_lstm_forward(&s->cells[l], hn, cn, cache, theta + s->cell_off[l], in, hp, cp, 1);
        for (int j = 0; j < H; j++) { s->hc[hc_at(s, l, 0, i, j)] = hn[j]; s->hc[hc_at(s, l, 1, i, j)] = cn[j]; }
        in = hn;
    }
    const float *wo = theta + s->w.ntheta - H - 1;
    float z = theta[s->w.ntheta - 1] + theta[0] * x[1];
    for (int j = 0; j < H; j++) z += wo[j] * in[j];
    return -mult * LSTM_SCALE * z;
}

/* LOPT_KERNEL_BLAS: coordinates [i0, i0 + B) through layer_lstm_forward with
 * batch B.  Scratch: x (2B), per layer h_prev, c_prev, h, c (4 D B H),
 * cache (5 B H). */
static size_t lstm_blas_scratch(const lstm_state *s)
{
    size_t B = LSTM_BLAS_BLOCK, H = (size_t)s->H;
    return 2 * B + 4 * (size_t)s->D * B * H + 5 * B * H;
}

static void lstm_blas_block(lstm_state *s, const float *g, size_t i0, int B, float mult, float *update)
{
    const float *theta = s->w.theta;
    int H = s->H;
    size_t stride = (size_t)LSTM_BLAS_BLOCK * H;
    float *x = s->blas, *hp = x + 2 * LSTM_BLAS_BLOCK;
    float *cache = hp + 4 * (size_t)s->D * stride;
    for (int b = 0; b < B; b++) lopt_logsign(g[i0 + b], &x[2 * b], &x[2 * b + 1]);
    const float *in = x;
    for (int l = 0; l < s->D; l++) {
        float *lhp = hp + 4 * (size_t)l * stride, *lcp = lhp + stride, *lhn = lcp + stride, *lcn = lhn + stride;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                lhp[(size_t)b * H + j] = s->hc[hc_at(s, l, 0, i0 + b, j)];
                lcp[(size_t)b * H + j] = s->hc[hc_at(s, l, 1, i0 + b, j)];
            }
        layer_lstm_forward(&s->cells[l], lhn, lcn, cache, theta + s->cell_off[l], in, lhp, lcp, B);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                s->hc[hc_at(s, l, 0, i0 + b, j)] = lhn[(size_t)b * H + j];
                s->hc[hc_at(s, l, 1, i0 + b, j)] = lcn[(size_t)b * H + j];
            }
        in = lhn;
    }
    const float *wo = theta + s->w.ntheta - H - 1;
    for (int b = 0; b < B; b++) {
        float z = theta[s->w.ntheta - 1] + theta[0] * x[2 * b + 1];
        for (int j = 0; j < H; j++) z += wo[j] * in[(size_t)b * H + j];
        update[i0 + b] = -mult * LSTM_SCALE * z;
    }
}

static int lstm_kernel_step(lstm_state *s, const float *grads, float *update, float mult)
{
    if (lopt_lstm_kernel == LOPT_KERNEL_FAST) {
        const float *theta = s->w.theta;
        lopt_fast_lstm_net net;
        memset(&net, 0, sizeof net);
        net.hidden = s->H; net.depth = s->D;
        for (int l = 0; l < s->D; l++) net.cell[l] = theta + s->cell_off[l];
        net.wo = theta + s->w.ntheta - (size_t)s->H - 1;
        net.bo = theta[s->w.ntheta - 1];
        net.a = theta[0];
        net.k = -mult * LSTM_SCALE;
        net.tiny = expf(-10.0f);
        net.huge = expf(10.0f);
        return lopt_fast_lstm(&net, grads, s->n, s->hc, update) ? ERR_NON_FINITE_UPDATE : 0;
    }
    if (lopt_lstm_kernel == LOPT_KERNEL_BLAS) {
        if (!s->blas && !(s->blas = malloc(lstm_blas_scratch(s) * sizeof(float)))) return ERR_NO_MEMORY;
        for (size_t i = 0; i < s->n; i += LSTM_BLAS_BLOCK) {
            size_t B = s->n - i < LSTM_BLAS_BLOCK ? s->n - i : LSTM_BLAS_BLOCK;
            lstm_blas_block(s, grads, i, (int)B, mult, update);
        }
    } else {
        for (size_t i = 0; i < s->n; i++) update[i] = lstm_ref_coord(s, grads[i], i, mult);
    }
    for (size_t i = 0; i < s->n; i++)
        if (!isfinite(update[i])) return ERR_NON_FINITE_UPDATE;
    return 0;
}

/* Memory on: the loss, the key, the read and σ (see the header); returns
 * exp(σ). */
static float lstm_mem_scale(opt *o, const float *grads, double loss)
{
    lstm_state *s = o->state;
    lopt_memory_observe(&s->mem, loss);
    const layout *lay = &o->lay;
    double lg = 0;
    for (int j = 0; j < lay->ntensors; j++) {
        const layout_tensor *lt = &lay->tensors[j];
        double ss = 0;
        for (size_t i = 0; i < lt->size; i++) ss += (double)grads[lt->offset + i] * grads[lt->offset + i];
        lg += log(sqrt(ss / (lt->size ? (double)lt->size : 1.0)) + 1e-12) / 10;
    }
    float key[LOPT_MEM_NKEY] = {0}, read[LOPT_MEM_NVAL];
    double lu = log((double)s->lastu + 1e-12) / 10;
    key[0] = (float)(lay->ntensors ? lg / lay->ntensors : 0);
    key[1] = (float)(lu > 10 ? 10 : lu < -10 ? -10 : lu);
    key[0] = key[0] > 10 ? 10 : key[0] < -10 ? -10 : key[0];
    key[5] = s->mem.trend;
    key[6] = s->mem.trend_slow;
    key[7] = tanhf((float)((double)(o->t + 1) / 1000.0 - 1.0));
    float sig = 0.0f;
    if (o->cfg.hp[HP_READS] != 0) {
        lopt_memory_read(&s->mem, NULL, NULL, key, read);
        float z = read[0] - read[2];
        sig = z > LSTM_MEM_SCLIP ? LSTM_MEM_SCLIP : z < -LSTM_MEM_SCLIP ? -LSTM_MEM_SCLIP : z == z ? z : 0.0f;
    }
    lopt_memory_propose(&s->mem, key, sig, 0.0f, loss);
    return expf(sig);
}

static int lstm_lopt_step(opt *o, const float *params, const float *grads, float *update,
                          double lr, step_info *info)
{
    (void)params;
    lstm_state *s = o->state;
    float mult = (float)lopt_lr_mult(lr);
    if (s->mem.size) {
        mult *= lstm_mem_scale(o, grads, info ? info->loss : NAN);
        int rc = lstm_kernel_step(s, grads, update, mult);
        double su = 0;
        for (size_t i = 0; i < s->n; i++) su += (double)update[i] * update[i];
        s->lastu = (float)sqrt(su / (s->n ? (double)s->n : 1.0));
        return rc;
    }
    return lstm_kernel_step(s, grads, update, mult);
}

static int lstm_lopt_save(const opt *o, blob_writer *w)
{
    lstm_state *s = o->state;   /* s->ref is scratch */
    lopt_weights_put(w, &s->w);
    size_t nhc = (size_t)s->D * 2 * s->n * (size_t)s->H;
    blob_put_u64(w, nhc);
    for (int l = 0; l < s->D; l++)
        for (int sc = 0; sc < 2; sc++)
            for (size_t i = 0; i < s->n; i++) {
                for (int j = 0; j < s->H; j++) s->ref[j] = s->hc[hc_at(s, l, sc, i, j)];
                blob_put_f32s(w, s->ref, (size_t)s->H);
            }
    if (s->mem.size) {          /* memory on; a state without it is as before */
        lopt_memory_save(&s->mem, w);
        blob_put_f32s(w, &s->lastu, 1);
    }
    return w->err;
}

static int lstm_lopt_load(opt *o, blob_reader *r)
{
    lstm_state *s = o->state;
    lopt_weights w;
    int rc = lopt_weights_get(r, &w);
    if (rc) return rc;
    uint64_t nhc = blob_get_u64(r);
    size_t want = (size_t)s->D * 2 * s->n * (size_t)s->H;
    if (blob_reader_status(r) || w.arch != LOPT_ARCH_LSTM || w.hidden != s->H || w.depth != s->D ||
        nhc != want) {
        lopt_weights_deinit(&w);
        return ERR_CORRUPT;
    }
    for (int l = 0; l < s->D; l++)
        for (int sc = 0; sc < 2; sc++)
            for (size_t i = 0; i < s->n; i++) {
                blob_get_f32s(r, s->ref, (size_t)s->H);
                for (int j = 0; j < s->H; j++) s->hc[hc_at(s, l, sc, i, j)] = s->ref[j];
            }
    if (!blob_reader_status(r) && s->mem.size) {
        if (lopt_memory_load(&s->mem, r)) { lopt_weights_deinit(&w); return ERR_CORRUPT; }
        blob_get_f32s(r, &s->lastu, 1);
    }
    if (blob_reader_status(r)) { lopt_weights_deinit(&w); return ERR_CORRUPT; }
    lopt_weights_deinit(&s->w);
    s->w = w;
    return 0;
}

static int lstm_lopt_memory(const opt *o, int64_t *size, int64_t *fill)
{
    const lstm_state *s = o->state;
    *size = s->mem.size;
    *fill = s->mem.fill;
    return s->mem.size > 0;
}

const opt_vtbl lopt_lstm_vtbl = {
    .name = "lstm_lopt",
    .weights_arch = "lstm_lopt",
    .kind = OPT_KIND_LEARNED,
    .description = "coordinatewise 2-layer LSTM learned optimizer (Andrychowicz et al. 2016); its shipped weights, meta-trained on the broad issue-15 mix, still lose to lr-tuned Adam on nearly every entry of the test suite (docs/learned-optimizers.md)",
    .hparams = lstm_hparams,
    .nhparams = (int)(sizeof lstm_hparams / sizeof lstm_hparams[0]),
    .init = lstm_lopt_init,
    .state_bytes = lstm_lopt_state_bytes,
    .step = lstm_lopt_step,
    .save = lstm_lopt_save,
    .load = lstm_lopt_load,
    .deinit = lstm_lopt_deinit,
    .memory = lstm_lopt_memory,
};

const lopt_arch lopt_arch_lstm = {
    .id = LOPT_ARCH_LSTM,
    .name = "lstm_lopt",
    .vt = &lopt_lstm_vtbl,
    .theta_count = lopt_lstm_theta_count,
    .theta_default = lopt_lstm_theta_default,
    .legacy_tail = 0,
    .init_hp = "forget_gate_bias",
};
