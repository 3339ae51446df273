/* lopt_gru.c — gru_lopt: a coordinatewise GRU learned optimizer, the GRU
 * analogue of lstm_lopt (lopt_lstm.c).
 *
 * One small GRU stack (D layers of H units, default 2 × 8) is shared by
 * every coordinate; each coordinate keeps its own hidden state per layer.
 * Input: the log-and-sign preprocessed gradient (p = 10, lopt_logsign),
 * 2 values.  Each layer is one step of gru.h's cell (the PyTorch
 * formulation, gates r, z, n).  Output per coordinate:
 *     update = −(lr / lr_default) · 1e-3 · (a · s + w·h_D + b)
 * where s is the sign channel of the preprocessing (sign g, or e^10 g for
 * tiny g), a is a learnable skip weight, and (w, b) a linear read-out of the
 * top layer's hidden state h_D.
 *
 * theta layout: a (1) | layer 1 GRU (in 2) | layers 2..D GRU (in H) |
 * w (H) | b (1); each GRU block in gru.h's order Wx (in, 3H), Wh (H, 3H),
 * bx (3H), bh (3H).  Default init: a = 1 (untrained = sign-SGD with step
 * 1e-3), GRU weights by gru_init_params at scale 1 (U(±1/√H), biases 0),
 * w ~ N(0, 0.01²/H), b = 0.  No weights record ships: without one (or a
 * meta-trained one named gru_lopt, or opt_config.weights) the optimizer
 * runs this default.  Meta-training: es or pes (only the forward is
 * needed); meta_tbptt.c records no GRU, so tbptt refuses it.
 *
 * State: the hidden state of every coordinate and layer, h (D, n, H) —
 * layer l, coordinate i, unit j at (l·n + i)·H + j — which is also the
 * canonical order opt_save writes after the weights record, so save and
 * load are one copy each, bit for bit.  A block of consecutive coordinates
 * of one layer is a (block, H) matrix in place, gru_forward's h_prev as it
 * stands; the step runs blocks of GRU_BLOCK coordinates through gru_forward
 * with batch = the block (the products by layers.h's linear layer, sgemm
 * above its size threshold) and copies each layer's new h back.
 *
 * There is one kernel (this one, the reference), no vectorised fast path,
 * and no optimization-history memory (lstm_lopt's memory_size). */
#include "lopt.h"
#include "lopt_internal.h"
#include "gru.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRU_SCALE 1e-3f
#define GRU_BLOCK 256

enum { HP_HIDDEN = HP_COMMON_COUNT, HP_DEPTH };

static size_t gru_layer_params(int in, int H)
{
    return (size_t)in * 3 * H + (size_t)H * 3 * H + 6 * (size_t)H;
}

static size_t lopt_gru_theta_count(int hidden, int depth)
{
    size_t n = 1 + gru_layer_params(2, hidden);
    for (int l = 1; l < depth; l++) n += gru_layer_params(hidden, hidden);
    return n + (size_t)hidden + 1;
}

static void lopt_gru_theta_default(float *theta, int hidden, int depth, rng *r)
{
    float *p = theta;
    *p++ = 1.0f;
    for (int l = 0; l < depth; l++) {
        gru cell;
        gru_init(&cell, l == 0 ? 2 : hidden, hidden);   /* in and hidden >= 1: cannot fail */
        gru_init_params(&cell, p, r, 1.0f);
        p += cell.nparams;
    }
    rng_normal_fill(r, p, (size_t)hidden, 0.0f, 0.01f / sqrtf((float)hidden));
    p[hidden] = 0.0f;
}

typedef struct gru_state {
    lopt_weights w;            /* first: see lopt_opt_weights */
    int H, D;
    size_t n;                  /* coordinates */
    gru cells[LOPT_MAX_DEPTH];
    size_t cell_off[LOPT_MAX_DEPTH];   /* each layer's block in theta */
    float *h;                  /* (D, n, H) */
    float *scratch;            /* x (2B), h_new (B H), cache (6 B H): B = gru_block(n) */
} gru_state;

static const hparam_def gru_hparams[] = {
    {"hidden", 8, 1, LOPT_MAX_HIDDEN, 0, 0, 1, "GRU width when no weights record is used"},
    {"depth", 2, 1, LOPT_MAX_DEPTH, 0, 0, 1, "GRU layers when no weights record is used"},
};

/* Coordinates per block: GRU_BLOCK, or n when smaller (at least 1). */
static size_t gru_block(size_t n)
{
    return n < GRU_BLOCK ? (n ? n : 1) : GRU_BLOCK;
}

/* Floats of the per-block scratch for width H. */
static uint64_t gru_scratch_floats(size_t n, int H)
{
    uint64_t B = gru_block(n);
    return 2 * B + 7 * B * (uint64_t)H;
}

static void gru_lopt_deinit(opt *o)
{
    gru_state *s = o->state;
    if (!s) return;
    lopt_weights_deinit(&s->w);
    free(s->h);
    free(s->scratch);
    free(s);
    o->state = NULL;
}

/* Cells and their offsets in theta for the current weights' shape. */
static int gru_shape(gru_state *s)
{
    s->H = s->w.hidden;
    s->D = s->w.depth;
    size_t off = 1;
    for (int l = 0; l < s->D; l++) {
        if (gru_init(&s->cells[l], l == 0 ? 2 : s->H, s->H)) return ERR_INVALID_ARGUMENT;
        s->cell_off[l] = off;
        off += s->cells[l].nparams;
    }
    return off + (size_t)s->H + 1 == s->w.ntheta ? 0 : ERR_INVALID_ARGUMENT;
}

static int gru_lopt_init(opt *o, const opt_config *cfg, const layout *lay)
{
    gru_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    o->state = s;
    int rc = lopt_weights_resolve(cfg, LOPT_ARCH_GRU, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_DEPTH], &s->w);
    if (!rc) rc = gru_shape(s);
    if (rc) { gru_lopt_deinit(o); return rc; }
    s->n = lay->n;
    s->h = calloc(opt_bytes_mul(opt_bytes_mul((uint64_t)s->D, s->n), (uint64_t)s->H), sizeof(float));
    s->scratch = malloc(gru_scratch_floats(s->n, s->H) * sizeof(float));
    if (!s->h || !s->scratch) { gru_lopt_deinit(o); return ERR_NO_MEMORY; }
    return 0;
}

/* h holds D H floats per coordinate; the scratch is per block; theta is the
 * weights' copy. */
static int gru_lopt_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int H, D;
    size_t nt;
    int rc = lopt_weights_resolve_shape(cfg, LOPT_ARCH_GRU, (int)cfg->hp[HP_HIDDEN], (int)cfg->hp[HP_DEPTH],
                                        &H, &D, &nt);
    if (rc) return rc;
    uint64_t floats = opt_bytes_mul(lay->n, (uint64_t)D * (uint64_t)H);
    floats = opt_bytes_add(floats, nt);
    floats = opt_bytes_add(floats, gru_scratch_floats(lay->n, H));
    *out = opt_bytes_add(sizeof(gru_state), opt_bytes_mul(floats, sizeof(float)));
    return 0;
}

/* Coordinates [i0, i0 + B): every layer's h advanced one step, the updates
 * written to update[i0 ..]. */
static void gru_block_step(gru_state *s, const float *g, size_t i0, int B, float k, float *update)
{
    const float *theta = s->w.theta;
    size_t H = (size_t)s->H;
    float *x = s->scratch, *hn = x + 2 * (size_t)B, *cache = hn + (size_t)B * H;
    for (int b = 0; b < B; b++) lopt_logsign(g[i0 + (size_t)b], &x[2 * b], &x[2 * b + 1]);
    const float *in = x;
    float *hl = NULL;
    for (int l = 0; l < s->D; l++) {
        hl = s->h + ((size_t)l * s->n + i0) * H;          /* (B, H) in place */
        gru_forward(&s->cells[l], hn, cache, theta + s->cell_off[l], in, hl, B);
        memcpy(hl, hn, (size_t)B * H * sizeof(float));
        in = hl;
    }
    const float *wo = theta + s->w.ntheta - H - 1;
    float bo = theta[s->w.ntheta - 1], a = theta[0];
    for (int b = 0; b < B; b++) {
        float z = bo + a * x[2 * b + 1];
        for (size_t j = 0; j < H; j++) z += wo[j] * hl[(size_t)b * H + j];
        update[i0 + (size_t)b] = k * z;
    }
}

static int gru_lopt_step(opt *o, const float *params, const float *grads, float *update, double lr,
                         step_info *info)
{
    (void)params;
    (void)info;
    gru_state *s = o->state;
    float k = -(float)lopt_lr_mult(lr) * GRU_SCALE;
    size_t B = gru_block(s->n);
    for (size_t i = 0; i < s->n; i += B)
        gru_block_step(s, grads, i, (int)(s->n - i < B ? s->n - i : B), k, update);
    for (size_t i = 0; i < s->n; i++)
        if (!isfinite(update[i])) return ERR_NON_FINITE_UPDATE;
    return 0;
}

/* The weights record, then the count of h's floats and h (D, n, H). */
static int gru_lopt_save(const opt *o, blob_writer *w)
{
    const gru_state *s = o->state;
    size_t nh = (size_t)s->D * s->n * (size_t)s->H;
    lopt_weights_put(w, &s->w);
    blob_put_u64(w, nh);
    blob_put_f32s(w, s->h, nh);
    return w->err;
}

/* ERR_CORRUPT for a record of another architecture or shape, or a state of
 * another length; nothing changes unless all of it is there. */
static int gru_lopt_load(opt *o, blob_reader *r)
{
    gru_state *s = o->state;
    lopt_weights w;
    int rc = lopt_weights_get(r, &w);
    if (rc) return rc;
    size_t nh = (size_t)s->D * s->n * (size_t)s->H;
    uint64_t got = blob_get_u64(r);
    if (blob_reader_status(r) || w.arch != LOPT_ARCH_GRU || w.hidden != s->H || w.depth != s->D || got != nh ||
        (r->len - r->pos) / sizeof(float) < nh) {
        lopt_weights_deinit(&w);
        return ERR_CORRUPT;
    }
    blob_get_f32s(r, s->h, nh);   /* the length is there: cannot fail */
    lopt_weights_deinit(&s->w);
    s->w = w;
    return 0;
}

const opt_vtbl lopt_gru_vtbl = {
    .name = "gru_lopt",
    .weights_arch = "gru_lopt",
    .kind = OPT_KIND_LEARNED,
    .description = "coordinatewise GRU learned optimizer (the GRU analogue of lstm_lopt: D GRU layers of H units "
                   "shared by every coordinate, log-and-sign gradient input, a learnable sign-SGD skip); ships no "
                   "meta-trained weights record, so without one it runs its untrained default (about sign-SGD with "
                   "step 1e-3); meta-train it with estimator es or pes (docs/learned-optimizers.md)",
    .hparams = gru_hparams,
    .nhparams = (int)(sizeof gru_hparams / sizeof gru_hparams[0]),
    .init = gru_lopt_init,
    .state_bytes = gru_lopt_state_bytes,
    .step = gru_lopt_step,
    .save = gru_lopt_save,
    .load = gru_lopt_load,
    .deinit = gru_lopt_deinit,
};

const lopt_arch lopt_arch_gru = {
    .id = LOPT_ARCH_GRU,
    .name = "gru_lopt",
    .vt = &lopt_gru_vtbl,
    .theta_count = lopt_gru_theta_count,
    .theta_default = lopt_gru_theta_default,
    .legacy_tail = 0,
};
