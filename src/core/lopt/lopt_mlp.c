/* lopt_mlp.c — mlp_lopt: a per-parameter MLP learned optimizer in the style
 * of small_fc_lopt (Metz et al. 2022).
 *
 * Each step, per tensor: update the accumulators (3 momenta, second moment,
 * Adafactor row/column or per-element fallback), compute the LOPT_NFEAT
 * features of lopt.h normalised by their RMS over the tensor, append the
 * time features (folded into the first layer's bias, since they are equal
 * for every parameter), run the shared MLP (ReLU hidden layers by default, 2 outputs
 * d and m) and set
 *     update = −(lr / lr_default) · λ₁ · s · d · exp(λ₂ · m),  λ₁ = λ₂ = 1e-3,
 * where s = exp(clip(bs + Ws·[tensor features, time features], ±5)) is the
 * tensor's learned step scale: a log-linear head on the per-tensor features
 * of lopt.h (how much of the tensor's gradient is signal, whether it is
 * shrinking) and on the time features.  The per-parameter network sees
 * only tensor-normalised inputs, so without s it cannot make a whole
 * tensor's steps larger on a deterministic slope or smaller at a noise
 * floor; s costs 13 multiply-adds per tensor.
 *
 * theta layout (H = hidden, D = depth, I = LOPT_NFEAT + LOPT_NTIME):
 *   [0, 5)          decay logits (β = sigmoid): m1, m2, m3, v, factored
 *   W0 (H, I), b0 (H)
 *   W_l (H, H), b_l (H)  for l = 1 … D−1
 *   Wo (2, H), bo (2)
 *   Ws (LOPT_MLP_SCALE_IN), bs (1)    the step-scale head (zero by default:
 *                                     s = 1; weights saved before the head
 *                                     existed load with it zero, lopt.c)
 *   FiLM records only (lopt.h): LOPT_FILM_NDOM rows (gamma (H), beta (H));
 *   the step folds opt_config.film_row's row into W0, b0 first (0: none).
 * Safeguard (hyperparameter `guard` = k, 0 = off): after a tensor's update
 * u is computed, when RMS(u) > k · base or u holds a non-finite value, the
 * whole tensor takes the tensor-normalised Adam step instead:
 *     u_i = −base · clip(x₇,i),  base = (lr / lr_default) · λ₁,
 * x₇ = feature 7 (m₂/√(v+ε) normalised by its RMS over the tensor and
 * clipped, exactly as the network sees it), i.e. the step of the untrained
 * optimizer, whose RMS is ≤ base.  So no tensor's step is ever larger than
 * k times that reference step, and a finite gradient never gives a
 * non-finite update.  RMS(u) is summed by mlp_guard_sumsq, one scalar
 * routine shared by every kernel, so the decision depends on u only; the
 * fallback is computed from the accumulators and inv_rms by mlp_guard_apply,
 * also shared.  The tensors that fell back in the last step are counted in
 * the diagnostic `guard_fallbacks`.  TBPTT (meta_tbptt.c) records the same
 * rule.  Hold (hyperparameter `hold_zero_grad`, 1 = on): after the
 * safeguard, a parameter whose gradient is exactly 0 this step gets u = 0
 * (lopt_mlp_hold_zero_grad; TBPTT records it too).  Without it the network
 * keeps moving a dead ReLU unit's weights — its inputs (1/√v, the factored
 * estimate, p) say nothing about a gradient that vanished — until the unit
 * comes back with a loss spike (an MLP autoencoder: 0.026 → 36 in one step).
 * Trust (hyperparameter `trust` = k, 0 = off, between the guard and the
 * hold): the tensor's update is multiplied by min(1, k·ℓ), ℓ = its
 * per-tensor feature u_1 (Adam's bias-corrected m/√v level), so that steps
 * shrink where Adam's would; counted in the diagnostic `trust_scaled`.
 * TBPTT does not record it (meta_unroll_grad refuses it).
 * Anneal (hyperparameter `anneal` = k, on by default, after the trust):
 * the tensor's update is multiplied by min(1, k·q^¼), q = mean(g²) /
 * mean(v) over the tensor, v the second-moment accumulator after this
 * step (lopt_mlp_anneal_level): about 1 while the gradient keeps its
 * running scale, small once it has fallen far below it, as near an optimum
 * the model fits.  The network sees tensor-normalised inputs only, so
 * there it would keep full-size steps (a recurrent classifier that Adam
 * drives to a loss of 1e-5 bounced between 1e-5 and 1); counted in the
 * diagnostic `anneal_scaled`.  Meta-training runs the network without it
 * (meta_inner_config sets 0) unless its config sets `anneal`.
 * Hypergradient scale (hyperparameter `hypergrad` = β, on by default, last):
 * each tensor's update is then multiplied by e^ℓ, ℓ −= β·cos(g_t, u_{t−1})
 * (lopt_hypergrad.c), so a tensor's steps grow while the loss still falls
 * where they end and shrink when they overshoot.  Its state (the last
 * update, one ℓ per tensor) is saved after the accumulators, flagged in
 * the count's top bit.  Meta-training runs the network without it
 * (meta_inner_config sets 0) unless its config sets `hypergrad`, so the
 * shipped weights are what they were.
 * The default k = 1e4 sits far above what trained
 * weights do: a step of RMS 10·(lr / lr_default) per parameter (a TBPTT
 * run on quadratics learns steps of ~2e3·base; the step scale alone
 * reaches e⁵ ≈ 148).
 *
 * µP (weights.mup_base = B > 0, lopt.h's lopt_mup_mult): the step of each
 * hidden or output matrix is also multiplied by B / fan_in, before the
 * safeguard (whose reference step is not scaled).
 *
 * Default init: decays 0.5, 0.9, 0.99, 0.999, 0.999; small random weights
 * (std 0.01/√fan_in) plus two hidden units computing relu(±x) of feature 7
 * (m2/√v, β = 0.9) with d = relu(x) − relu(−x): the untrained optimizer steps
 * 1e-3 · (normalised Adam direction).
 *
 * Activation (weights.act, hyperparameter `activation` when no record is
 * used; lopt.h's lopt_act): relu (the default), gelu (tanh form) or swish in
 * every hidden layer.  Each has act(x) − act(−x) = x, so the two carry
 * units give the same untrained rule under every activation: in layer 1
 * they compute act(±x); relu carries them on as relu(h₀), relu(h₁) (relu is
 * the identity on its outputs), the others as act(±(h₀ − h₁)) (rows
 * (1, −1) and (−1, 1) of each deeper layer: mlp_theta_default_act), since
 * h₀ − h₁ = x again.
 *
 * Feature set (weights.fset, hyperparameter `features` when no record is
 * used; lopt.h): a mask over W0's input columns and the head's inputs,
 * applied by lopt_mlp_apply_features to the record at init and to the
 * optimizer's theta at the start of every step (meta-training writes theta
 * between steps; a few H·k stores, nothing for `full`).  The kernels below
 * never see it: a dropped input's weights are exactly 0.  A FiLM record's
 * fold scales W0's rows by gamma, so its zero columns stay zero.
 *
 * Kernels (lopt_mlp_kernel): the default (lopt_fast.c) updates the
 * accumulators and the normaliser statistics in one vectorised pass, then
 * computes features, network and update per block of machine vectors and
 * takes the guard's sum and the hold on each piece of the update while it
 * is in cache (mlp_post then only decides; tests/unit/core/test_lopt_fast.c
 * pins the bits).
 * The reference runs lopt_features_update, then per block of MLP_BLOCK
 * parameters lopt_features_block (feature-major) and lopt_mlp_net_loop, the
 * plain per-parameter loop; lopt_mlp_net_blas does the same with
 * cblas_sgemm per layer (slower than the fused kernel at these widths:
 * measured 37× an Adam step against 6.5× for the fused one at N = 1e6). */
#include "lopt.h"
#include "lopt_internal.h"
#include "errors.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MLP_IN      LOPT_MLP_IN
#define MLP_BLOCK   256
#define MLP_LAMBDA1 LOPT_MLP_LAMBDA1
#define MLP_LAMBDA2 LOPT_MLP_LAMBDA2

int lopt_mlp_kernel = LOPT_KERNEL_FAST;

static size_t lopt_mlp_theta_count(int hidden, int depth)
{
    size_t H = (size_t)hidden;
    return LOPT_NDECAY + H * MLP_IN + H + (size_t)(depth - 1) * (H * H + H) + 2 * H + 2 + LOPT_MLP_NSCALE;
}

static float logitf_(float b) { return logf(b / (1.0f - b)); }

static void lopt_mlp_theta_default(float *theta, int hidden, int depth, rng *r)
{
    const float decays[LOPT_NDECAY] = {0.5f, 0.9f, 0.99f, 0.999f, 0.999f};
    size_t H = (size_t)hidden;
    float *p = theta;
    for (int k = 0; k < LOPT_NDECAY; k++) *p++ = logitf_(decays[k]);
    float *W0 = p;
    rng_normal_fill(r, p, H * MLP_IN, 0.0f, 0.01f / sqrtf((float)MLP_IN)); p += H * MLP_IN;
    p += H;                                  /* b0 = 0 */
    float *Wprev_rows[LOPT_MAX_DEPTH + 1];
    Wprev_rows[0] = W0;
    for (int l = 1; l < depth; l++) {
        Wprev_rows[l] = p;
        rng_normal_fill(r, p, H * H, 0.0f, 0.01f / sqrtf((float)H)); p += H * H;
        p += H;
    }
    float *Wo = p;
    rng_normal_fill(r, p, 2 * H, 0.0f, 0.01f / sqrtf((float)H)); p += 2 * H;
    p += 2;                                  /* bo = 0; the head Ws, bs stays 0: s = 1 */
    if (hidden >= 2) {
        /* units 0, 1 carry relu(±feature 7) through every layer */
        W0[0 * MLP_IN + 7] = 1.0f;
        W0[1 * MLP_IN + 7] = -1.0f;
        for (int l = 1; l < depth; l++) {
            float *W = Wprev_rows[l];
            for (size_t j = 0; j < H; j++) { W[0 * H + j] = 0.0f; W[1 * H + j] = 0.0f; }
            W[0 * H + 0] = 1.0f;
            W[1 * H + 1] = 1.0f;
        }
        Wo[0] = 1.0f;
        Wo[1] = -1.0f;
    }
}

/* The carry rows of the deeper layers for an activation other than relu
 * (see the default init above): unit 0 = act(h₀ − h₁), unit 1 = act(h₁ − h₀). */
static void mlp_theta_default_act(float *theta, int hidden, int depth, int act)
{
    (void)act;
    size_t H = (size_t)hidden;
    if (hidden < 2) return;
    float *W = theta + LOPT_NDECAY + H * MLP_IN + H;
    for (int l = 1; l < depth; l++, W += H * H + H) {
        W[0 * H + 1] = -1.0f;
        W[1 * H + 0] = -1.0f;
    }
}

void lopt_mlp_apply_features(float *theta, int hidden, int depth, int set)
{
    uint32_t keep = lopt_fset_inputs(set);
    if (set == LOPT_FSET_FULL || !keep) return;
    size_t H = (size_t)hidden;
    float *W0 = theta + LOPT_NDECAY, *head = theta + lopt_mlp_theta_count(hidden, depth) - LOPT_MLP_NSCALE;
    for (size_t i = 0; i < H; i++) {
        float *row = W0 + i * MLP_IN;
        for (int f = 0; f < LOPT_NFEAT; f++)
            if (!(keep & 1u << f)) row[f] = 0.0f;
        if (!(keep & LOPT_FSET_TIME)) memset(row + LOPT_NFEAT, 0, LOPT_NTIME * sizeof(float));
    }
    if (!(keep & LOPT_FSET_TENSOR)) memset(head, 0, LOPT_NTENS * sizeof(float));
    if (!(keep & LOPT_FSET_TIME)) memset(head + LOPT_NTENS, 0, LOPT_NTIME * sizeof(float));
}

/* Pointers into theta. */
typedef struct mlp_view {
    const float *W0, *b0, *W[LOPT_MAX_DEPTH], *b[LOPT_MAX_DEPTH], *Wo, *bo, *head;
} mlp_view;

static void mlp_view_of(const float *theta, int hidden, int depth, mlp_view *v)
{
    memset(v, 0, sizeof *v);
    size_t H = (size_t)hidden;
    const float *p = theta + LOPT_NDECAY;
    v->W0 = p; p += H * MLP_IN;
    v->b0 = p; p += H;
    for (int l = 1; l < depth; l++) { v->W[l] = p; p += H * H; v->b[l] = p; p += H; }
    v->Wo = p; p += 2 * H;
    v->bo = p; p += 2;
    v->head = p;
}

void lopt_mlp_film_fold(const float *theta, int hidden, int depth, int row, float *out)
{
    size_t H = (size_t)hidden, nt = lopt_mlp_theta_count(hidden, depth);
    memcpy(out, theta, nt * sizeof(float));
    const float *gamma = theta + nt + (size_t)(row - 1) * 2 * H, *beta = gamma + H;
    float *W0 = out + LOPT_NDECAY, *b0 = W0 + H * MLP_IN;
    for (size_t i = 0; i < H; i++) {
        for (size_t c = 0; c < MLP_IN; c++) W0[i * MLP_IN + c] = gamma[i] * W0[i * MLP_IN + c];
        b0[i] = gamma[i] * b0[i] + beta[i];
    }
}

float lopt_mlp_tensor_scale(const float *head, const float *tens, const float *tf)
{
    float z = head[LOPT_MLP_SCALE_IN];
    for (int j = 0; j < LOPT_NTENS; j++) z += head[j] * tens[j];
    for (int j = 0; j < LOPT_NTIME; j++) z += head[LOPT_NTENS + j] * tf[j];
    if (z > LOPT_MLP_SCALE_CLIP) z = LOPT_MLP_SCALE_CLIP;
    if (z < -LOPT_MLP_SCALE_CLIP) z = -LOPT_MLP_SCALE_CLIP;
    return expf(z);
}

void lopt_mlp_net_loop(const float *theta, int hidden, int depth, int act, const float *bias0,
                       const float *x, size_t ld, size_t cnt, float *work, float *out0, float *out1)
{
    mlp_view v;
    mlp_view_of(theta, hidden, depth, &v);
    int H = hidden;
    float *h = work, *h2 = work + H;
    for (size_t k = 0; k < cnt; k++) {
        for (int i = 0; i < H; i++) {
            float s = bias0[i];
            for (int f = 0; f < LOPT_NFEAT; f++) s += v.W0[i * MLP_IN + f] * x[(size_t)f * ld + k];
            h[i] = (float)lopt_act(act, s, NULL);
        }
        for (int l = 1; l < depth; l++) {
            for (int i = 0; i < H; i++) {
                float s = v.b[l][i];
                for (int j = 0; j < H; j++) s += v.W[l][i * H + j] * h[j];
                h2[i] = (float)lopt_act(act, s, NULL);
            }
            memcpy(h, h2, (size_t)H * sizeof(float));
        }
        float o0 = v.bo[0], o1 = v.bo[1];
        for (int j = 0; j < H; j++) { o0 += v.Wo[j] * h[j]; o1 += v.Wo[H + j] * h[j]; }
        out0[k] = o0;
        out1[k] = o1;
    }
}

/* act over the first cnt of each of H rows of A (leading dimension ld). */
static void mlp_act_rows(float *A, int H, size_t ld, size_t cnt, int act)
{
    for (int i = 0; i < H; i++) {
        float *a = A + (size_t)i * ld;
        for (size_t k = 0; k < cnt; k++) a[k] = (float)lopt_act(act, a[k], NULL);
    }
}

void lopt_mlp_net_blas(const float *theta, int hidden, int depth, int act, const float *bias0,
                       const float *x, size_t ld, size_t cnt, float *work, float *out0, float *out1)
{
    mlp_view v;
    mlp_view_of(theta, hidden, depth, &v);
    int H = hidden;
    float *A = work, *B = work + (size_t)H * ld;
    for (int i = 0; i < H; i++)
        for (size_t k = 0; k < cnt; k++) A[(size_t)i * ld + k] = bias0[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, H, (int)cnt, LOPT_NFEAT, 1.0f,
                v.W0, MLP_IN, x, (int)ld, 1.0f, A, (int)ld);
    mlp_act_rows(A, H, ld, cnt, act);
    for (int l = 1; l < depth; l++) {
        for (int i = 0; i < H; i++)
            for (size_t k = 0; k < cnt; k++) B[(size_t)i * ld + k] = v.b[l][i];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, H, (int)cnt, H, 1.0f,
                    v.W[l], H, A, (int)ld, 1.0f, B, (int)ld);
        mlp_act_rows(B, H, ld, cnt, act);
        float *t = A; A = B; B = t;
    }
    for (size_t k = 0; k < cnt; k++) { out0[k] = v.bo[0]; out1[k] = v.bo[1]; }
    for (int j = 0; j < H; j++) {
        const float *a = A + (size_t)j * ld;
        float w0 = v.Wo[j], w1 = v.Wo[H + j];
        for (size_t k = 0; k < cnt; k++) { out0[k] += w0 * a[k]; out1[k] += w1 * a[k]; }
    }
}

/* ---- the optimizer ----------------------------------------------------- */

typedef struct mlp_state {
    lopt_weights w;            /* first: see lopt_opt_weights */
    int ntens;
    lopt_feat_tensor *ft;      /* (ntens) */
    float *acc;                /* (nacc) every accumulator, one block */
    size_t nacc;
    float *rowsum, *colsum;    /* (max rows), (max cols) */
    float *x;                  /* (LOPT_NFEAT, MLP_BLOCK) */
    float *work;               /* (2 H, MLP_BLOCK) */
    float *out;                /* (2, MLP_BLOCK) */
    float *bias0;              /* (H) */
    float *thf;                /* (trunk) FiLM: the trunk with the row folded in (lopt_mlp_film_fold) */
    int guard_fallbacks;       /* tensors that fell back in the last step (not saved) */
    int trust_scaled;          /* tensors the trust scaled down in the last step (not saved) */
    int anneal_scaled;         /* tensors the anneal scaled down in the last step (not saved) */
    int mup_first;             /* lopt_mup_first of the layout */
    float *hg;                 /* hypergrad on: the last step's update (n), then each tensor's log scale (ntens) */
} mlp_state;

#define HP_HYPERGRAD (HP_COMMON_COUNT + 7)
#define HP_ANNEAL (HP_COMMON_COUNT + 8)
/* Bit 63 of the saved accumulator count: the hypergradient section
 * (n + ntens floats) follows the accumulators.  A blob without it (saved
 * with the rule off, or before it existed) loads into a session with the
 * rule on as its first step: scales 1, no last update. */
#define MLP_SAVE_HG (1ull << 63)

static const hparam_def mlp_hparams[] = {
    {"hidden", 8, 1, LOPT_MAX_HIDDEN, 0, 0, 1, "hidden width when no weights record is used"},
    {"depth", 1, 1, LOPT_MAX_DEPTH, 0, 0, 1, "hidden layers when no weights record is used"},
    {"guard", 1e4, 0, 1e9, 0, 0, 0,
     "safeguard: a tensor whose update RMS exceeds guard x the tensor-normalised Adam step's at this lr "
     "(or is non-finite) takes that step instead; 0 = off"},
    {"trust", 0, 0, 1e6, 0, 0, 0,
     "trust: a tensor's update is multiplied by min(1, trust x l), l = the RMS over the tensor of Adam's "
     "bias-corrected m/sqrt(v) (about 1 on a steady slope, small when the gradient is noise or shrinking); 0 = off"},
    {"hold_zero_grad", 1, 0, 1, 0, 0, 1,
     "1: a parameter whose gradient is exactly 0 this step is not moved (a dead ReLU unit, an embedding row "
     "not in the batch); 0: the network's step applies to it too"},
    /* an index into lopt_act_names (0 = relu .. LOPT_ACT_COUNT − 1); the API reads and writes the name */
    {"activation", 0, 0, 2, 0, 0, 1,
     "the hidden layers' activation when no weights record is used (a record carries its own): relu, gelu "
     "(tanh approximation) or swish (x*sigmoid(x))"},
    /* an index into lopt_fset_names (0 = full .. LOPT_FSET_COUNT − 1); the API reads and writes the name */
    {"features", 0, 0, 4, 0, 0, 1,
     "the network's inputs when no weights record is used (a record carries its own): full (every input), adam "
     "(no p, no Adafactor features), momentum (only g, the momenta, m/sqrt(v) and the time features), no_time "
     "(no time features), no_tensor (the step scale reads no per-tensor features)"},
    {"hypergrad", 0.01, 0, 1, 0, 0, 0,
     "hypergradient step scale (Baydin et al. 2018, multiplicative rule): each tensor's update is multiplied by "
     "e^l, l -= hypergrad x cos(this step's gradient, the last update), so a tensor's steps grow while the loss "
     "still falls where they end and shrink when they overshoot; 0 = off"},
    {"anneal", 3, 0, 1e6, 0, 0, 0,
     "anneal: a tensor's update is multiplied by min(1, anneal x q^(1/4)), q = mean(g^2) / mean(v) over the tensor "
     "(v: the running second moment of g), so steps shrink once the gradient falls far below its running scale, as "
     "near an optimum the model fits; 0 = off"},
};

static const hparam_enum mlp_enums[] = {{"activation", lopt_act_names}, {"features", lopt_fset_names}, {NULL, NULL}};
_Static_assert(LOPT_ACT_COUNT == 3, "the activation row's bounds are the indices of lopt_act_names");
_Static_assert(LOPT_FSET_COUNT == 5, "the features row's bounds are the indices of lopt_fset_names");

static void mlp_deinit(opt *o)
{
    mlp_state *s = o->state;
    if (!s) return;
    lopt_weights_deinit(&s->w);
    free(s->ft); free(s->acc); free(s->rowsum); free(s->colsum);
    free(s->x); free(s->work); free(s->out); free(s->bias0); free(s->thf); free(s->hg);
    free(s);
    o->state = NULL;
}

static int mlp_alloc_scratch(mlp_state *s)
{
    size_t H = (size_t)s->w.hidden;
    free(s->work); free(s->bias0); free(s->thf);
    s->work = malloc(2 * H * MLP_BLOCK * sizeof(float));
    s->bias0 = malloc(H * sizeof(float));
    s->thf = malloc(lopt_mlp_theta_count(s->w.hidden, s->w.depth) * sizeof(float));
    return (s->work && s->bias0 && s->thf) ? 0 : ERR_NO_MEMORY;
}

/* Floats of the accumulator block for lay (m1..m3 and v per element, then
 * the factored row and column sums of 2-D tensors or one per element), and
 * the largest row and column counts (at least 1). */
static size_t mlp_nacc(const layout *lay, int64_t *maxr, int64_t *maxc)
{
    size_t nacc = 0;
    *maxr = *maxc = 1;
    for (int t = 0; t < lay->ntensors; t++) {
        const layout_tensor *lt = &lay->tensors[t];
        nacc += 4 * lt->size;
        if (lt->ndim == 2 && lt->shape[0] > 1 && lt->shape[1] > 1) {
            nacc += (size_t)(lt->shape[0] + lt->shape[1]);
            if (lt->shape[0] > *maxr) *maxr = lt->shape[0];
            if (lt->shape[1] > *maxc) *maxc = lt->shape[1];
        } else {
            nacc += lt->size;
        }
    }
    return nacc;
}

/* What mlp_init allocates: the accumulators, per-tensor records, the block
 * scratch, theta. */
static int mlp_state_bytes(const opt_config *cfg, const layout *lay, uint64_t *out)
{
    int H, D;
    size_t nt;
    int rc = lopt_weights_resolve_shape(cfg, LOPT_ARCH_MLP, (int)cfg->hp[HP_COMMON_COUNT],
                                        (int)cfg->hp[HP_COMMON_COUNT + 1], &H, &D, &nt);
    if (rc) return rc;
    int64_t maxr, maxc;
    uint64_t floats = mlp_nacc(lay, &maxr, &maxc);
    floats = opt_bytes_add(floats, (uint64_t)maxr + (uint64_t)maxc + 2 * (uint64_t)nt + (uint64_t)H);
    floats = opt_bytes_add(floats, (LOPT_NFEAT + 2 + 2 * (uint64_t)H) * MLP_BLOCK);
    if (cfg->hp[HP_HYPERGRAD] > 0) floats = opt_bytes_add(floats, opt_bytes_add(lay->n, (uint64_t)lay->ntensors));
    uint64_t b = opt_bytes_add(opt_bytes_mul(floats, sizeof(float)),
                               (uint64_t)lay->ntensors * sizeof(lopt_feat_tensor));
    *out = opt_bytes_add(b, sizeof(mlp_state));
    return 0;
}

static int mlp_init(opt *o, const opt_config *cfg, const layout *lay)
{
    mlp_state *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    o->state = s;
    int hidden = (int)cfg->hp[HP_COMMON_COUNT + 0], depth = (int)cfg->hp[HP_COMMON_COUNT + 1];
    int rc = lopt_weights_resolve(cfg, LOPT_ARCH_MLP, hidden, depth, &s->w);
    if (rc) { mlp_deinit(o); return rc; }
    s->ntens = lay->ntensors;
    s->mup_first = lopt_mup_first(lay);
    s->ft = calloc((size_t)lay->ntensors, sizeof *s->ft);
    if (!s->ft) { mlp_deinit(o); return ERR_NO_MEMORY; }
    int64_t maxr, maxc;
    size_t nacc = mlp_nacc(lay, &maxr, &maxc);
    s->nacc = nacc;
    s->acc = calloc(nacc, sizeof(float));
    s->rowsum = malloc((size_t)maxr * sizeof(float));
    s->colsum = malloc((size_t)maxc * sizeof(float));
    s->x = malloc((size_t)LOPT_NFEAT * MLP_BLOCK * sizeof(float));
    s->out = malloc(2 * MLP_BLOCK * sizeof(float));
    if (cfg->hp[HP_HYPERGRAD] > 0) s->hg = calloc(lay->n + (size_t)lay->ntensors, sizeof(float));
    if (!s->acc || !s->rowsum || !s->colsum || !s->x || !s->out || mlp_alloc_scratch(s) ||
        (cfg->hp[HP_HYPERGRAD] > 0 && !s->hg)) {
        mlp_deinit(o);
        return ERR_NO_MEMORY;
    }
    float *p = s->acc;
    for (int t = 0; t < lay->ntensors; t++) {
        const layout_tensor *lt = &lay->tensors[t];
        lopt_feat_tensor *ft = &s->ft[t];
        ft->n = lt->size;
        for (int k = 0; k < 3; k++) { ft->m[k] = p; p += lt->size; }
        ft->v = p; p += lt->size;
        if (lt->ndim == 2 && lt->shape[0] > 1 && lt->shape[1] > 1) {
            ft->rows = lt->shape[0]; ft->cols = lt->shape[1];
            ft->r = p; p += ft->rows;
            ft->c = p; p += ft->cols;
        } else {
            ft->d = p; p += lt->size;
        }
    }
    return 0;
}

void lopt_mlp_guard_sumsq_add(const float *u, size_t len, double *ss)
{
    /* 8 float lanes, then into the double in lane order */
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += u[i + l] * u[i + l];
    for (; i < len; i++) acc[0] += u[i] * u[i];
    for (int l = 0; l < 8; l++) *ss += acc[l];
}

float lopt_mlp_guard_sumsq(const float *u, size_t n)
{
    double ss = 0;
    for (size_t i = 0; i < n; i += LOPT_MLP_GUARD_CHUNK)
        lopt_mlp_guard_sumsq_add(u + i, n - i < LOPT_MLP_GUARD_CHUNK ? n - i : LOPT_MLP_GUARD_CHUNK, &ss);
    return (float)ss;
}

void lopt_mlp_guard_apply(const lopt_feat_tensor *ft, const float *inv_rms, float base, float *u)
{
    const float *m1 = ft->m[1], *v = ft->v;
    float s7 = inv_rms[7];
    for (size_t i = 0; i < ft->n; i++) {
        float x = m1[i] * (1.0f / sqrtf(v[i] + LOPT_V_EPS)) * s7;
        x = x > LOPT_FEAT_CLIP ? LOPT_FEAT_CLIP : x < -LOPT_FEAT_CLIP ? -LOPT_FEAT_CLIP : x;
        u[i] = -base * x;
    }
}

float lopt_mlp_anneal_level(const float *inv_rms)
{
    /* inv_rms[0] = 1/√mean(g²), inv_rms[5] = 1/√mean(v) */
    return sqrtf(inv_rms[5] / inv_rms[0]);
}

int lopt_mlp_trust_apply(float *u, size_t n, float k, float level)
{
    if (!(k > 0)) return 0;
    double c = (double)k * (level > 0 ? level : 0);
    if (!(c < 1)) return 0;
    for (size_t i = 0; i < n; i++) u[i] *= (float)c;
    return 1;
}

void lopt_mlp_hold_zero_grad(const float *g, float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g[i] == 0.0f) u[i] = 0.0f;
}

int lopt_mlp_guard_trips(float sumsq, size_t n, float k, float base)
{
    if (!(k > 0)) return 0;
    double lim = (double)k * base;
    return !((double)sumsq <= lim * lim * (double)n);   /* NaN and ∞ trip */
}

/* After the network's update u of tensor ft (either kernel): the guard,
 * the trust, the anneal, the hold — in that order — and, with the
 * hypergradient scale on (already in the update's multiplier:
 * mlp_hg_scale), u kept for the next step.  usq: the guard's sum of
 * squares of u when the kernel took it (lopt_fast_mlp_apply), NULL to take
 * it here; held: the kernel already applied the hold to u (after the sum);
 * kept: it also kept u (a copy is taken again only if the guard, the trust
 * or the anneal then changed it).  The hold may come before the trust and
 * the anneal: they multiply by a factor in [0, 1), which leaves a held +0
 * at +0.  Returns tbad, cleared when the guard replaced a non-finite
 * update. */
static int mlp_post(opt *o, const lopt_feat_tensor *ft, const float *inv_rms, const float *tens,
                    const float *g, float base, float *u, int tbad, const float *usq, int held, int kept)
{
    mlp_state *s = o->state;
    float guard = (float)o->cfg.hp[HP_COMMON_COUNT + 2];
    float trust = (float)o->cfg.hp[HP_COMMON_COUNT + 3];
    float anneal = (float)o->cfg.hp[HP_ANNEAL];
    int hold = o->cfg.hp[HP_COMMON_COUNT + 4] != 0;
    if (guard > 0 && lopt_mlp_guard_trips(usq ? *usq : lopt_mlp_guard_sumsq(u, ft->n), ft->n, guard, base)) {
        lopt_mlp_guard_apply(ft, inv_rms, base, u);
        s->guard_fallbacks++;
        tbad = 0;
        held = kept = 0;
    }
    if (trust > 0 && !tbad && lopt_mlp_trust_apply(u, ft->n, trust, tens[1])) {
        s->trust_scaled++;
        kept = 0;
    }
    if (anneal > 0 && !tbad && lopt_mlp_trust_apply(u, ft->n, anneal, lopt_mlp_anneal_level(inv_rms))) {
        s->anneal_scaled++;
        kept = 0;
    }
    if (hold && !held) lopt_mlp_hold_zero_grad(g, u, ft->n);
    if (s->hg && !tbad && !kept) memcpy(s->hg + o->lay.tensors[ft - s->ft].offset, u, ft->n * sizeof(float));
    return tbad;
}

/* Tensor t's hypergradient factor for this step (1 with the rule off):
 * its log scale moved by the cosine of g with the last update. */
static float mlp_hg_scale(opt *o, int t, const float *g)
{
    mlp_state *s = o->state;
    if (!s->hg) return 1.0f;
    return lopt_hypergrad_scale((float)o->cfg.hp[HP_HYPERGRAD], g, s->hg + o->lay.tensors[t].offset,
                                s->ft[t].n, s->hg + o->lay.n + t);
}

static int mlp_step(opt *o, const float *params, const float *grads, float *update,
                    double lr, step_info *info)
{
    (void)info;
    mlp_state *s = o->state;
    const float *theta = s->w.theta;
    int H = s->w.hidden;
    lopt_mlp_apply_features(s->w.theta, H, s->w.depth, s->w.fset);   /* theta may have been written */
    if (s->w.film && o->cfg.film_row >= 1 && o->cfg.film_row <= LOPT_FILM_NDOM) {
        lopt_mlp_film_fold(s->w.theta, H, s->w.depth, o->cfg.film_row, s->thf);
        theta = s->thf;   /* every kernel runs the plain network on the folded trunk */
    }
    float b[LOPT_NDECAY], tf[LOPT_NTIME];
    for (int k = 0; k < LOPT_NDECAY; k++) b[k] = lopt_sigmoidf(theta[k]);
    lopt_time_features(o->t + 1, tf);
    double corr[LOPT_NCORR];
    lopt_bias_corrections(b, o->t + 1, corr);
    mlp_view v;
    mlp_view_of(theta, H, s->w.depth, &v);
    for (int i = 0; i < H; i++) {
        float z = v.b0[i];
        for (int j = 0; j < LOPT_NTIME; j++) z += v.W0[i * MLP_IN + LOPT_NFEAT + j] * tf[j];
        s->bias0[i] = z;
    }
    float mult = (float)lopt_lr_mult(lr) * MLP_LAMBDA1;
    s->guard_fallbacks = 0;
    s->trust_scaled = 0;
    s->anneal_scaled = 0;
    float *out0 = s->out, *out1 = s->out + MLP_BLOCK;
    int bad = 0;
    lopt_fast_mlp net;
    if (lopt_mlp_kernel == LOPT_KERNEL_FAST) {
        net.hidden = H; net.depth = s->w.depth; net.act = s->w.act;
        net.W0 = v.W0; net.ldw0 = MLP_IN; net.bias0 = s->bias0;
        for (int l = 0; l < LOPT_MAX_DEPTH; l++) { net.W[l] = v.W[l]; net.b[l] = v.b[l]; }
        net.Wo = v.Wo; net.bo = v.bo;
    }
    for (int t = 0; t < s->ntens; t++) {
        lopt_feat_tensor *ft = &s->ft[t];
        size_t off = o->lay.tensors[t].offset;
        const float *g = grads + off, *p = params + off;
        float tens[LOPT_NTENS];
        if (lopt_mlp_kernel == LOPT_KERNEL_FAST) {
            lopt_fast_mlp_stats(ft, g, p, b, s->rowsum, s->colsum, net.inv_rms);
            lopt_tensor_features(net.inv_rms, corr, tens);
            net.mult = mult * (float)lopt_mup_mult(s->w.mup_base, &o->lay, s->mup_first, t) * lopt_mlp_tensor_scale(v.head, tens, tf) *
                       mlp_hg_scale(o, t, g);
            int hold = o->cfg.hp[HP_COMMON_COUNT + 4] != 0;
            float usq = 0.0f;
            float *usqp = o->cfg.hp[HP_COMMON_COUNT + 2] > 0 ? &usq : NULL;
            float *keep = s->hg ? s->hg + off : NULL;
            int tbad = lopt_fast_mlp_apply(ft, g, p, &net, update + off, hold, usqp, keep);
            bad |= mlp_post(o, ft, net.inv_rms, tens, g, mult, update + off, tbad, usqp, hold, keep != NULL);
            continue;
        }
        float inv_rms[LOPT_NFEAT];
        lopt_features_update(ft, g, p, b, s->rowsum, s->colsum, inv_rms);
        lopt_tensor_features(inv_rms, corr, tens);
        float tmult = mult * (float)lopt_mup_mult(s->w.mup_base, &o->lay, s->mup_first, t) * lopt_mlp_tensor_scale(v.head, tens, tf) *
                      mlp_hg_scale(o, t, g);
        int tbad = 0;
        for (size_t i0 = 0; i0 < ft->n; i0 += MLP_BLOCK) {
            size_t cnt = ft->n - i0 < MLP_BLOCK ? ft->n - i0 : MLP_BLOCK;
            lopt_features_block(ft, g, p, inv_rms, i0, cnt, s->x, MLP_BLOCK);
            if (lopt_mlp_kernel == LOPT_KERNEL_BLAS)
                lopt_mlp_net_blas(theta, H, s->w.depth, s->w.act, s->bias0, s->x, MLP_BLOCK, cnt, s->work, out0,
                                  out1);
            else
                lopt_mlp_net_loop(theta, H, s->w.depth, s->w.act, s->bias0, s->x, MLP_BLOCK, cnt, s->work, out0,
                                  out1);
            float *u = update + off + i0;
            for (size_t k = 0; k < cnt; k++) {
                float du = -tmult * out0[k] * expf(MLP_LAMBDA2 * out1[k]);
                if (!isfinite(du)) tbad = 1;
                u[k] = du;
            }
        }
        bad |= mlp_post(o, ft, inv_rms, tens, g, mult, update + off, tbad, NULL, 0, 0);
    }
    return bad ? ERR_NON_FINITE_UPDATE : 0;
}

static int mlp_save(const opt *o, blob_writer *w)
{
    const mlp_state *s = o->state;
    lopt_weights_put(w, &s->w);
    blob_put_u64(w, s->nacc | (s->hg ? MLP_SAVE_HG : 0));
    blob_put_f32s(w, s->acc, s->nacc);
    if (s->hg) blob_put_f32s(w, s->hg, o->lay.n + (size_t)s->ntens);
    return w->err;
}

static int mlp_load(opt *o, blob_reader *r)
{
    mlp_state *s = o->state;
    lopt_weights w;
    int rc = lopt_weights_get(r, &w);
    if (rc) return rc;
    uint64_t nacc = blob_get_u64(r);
    int with_hg = (nacc & MLP_SAVE_HG) != 0;
    size_t nhg = o->lay.n + (size_t)s->ntens;
    nacc &= ~MLP_SAVE_HG;
    if (blob_reader_status(r) || w.arch != LOPT_ARCH_MLP || nacc != s->nacc ||
        (r->len - r->pos) / sizeof(float) < nacc + (with_hg ? nhg : 0)) {
        lopt_weights_deinit(&w);
        return ERR_CORRUPT;
    }
    blob_get_f32s(r, s->acc, s->nacc);   /* the lengths are there: cannot fail */
    if (with_hg && s->hg) blob_get_f32s(r, s->hg, nhg);
    else if (with_hg) r->pos += nhg * sizeof(float);   /* saved with the rule on, loaded with it off */
    else if (s->hg) memset(s->hg, 0, nhg * sizeof(float));
    lopt_weights_deinit(&s->w);
    s->w = w;
    return mlp_alloc_scratch(s);
}

static int mlp_diag(const opt *o, opt_diag_value *out, int cap)
{
    const mlp_state *s = o->state;
    if (cap < 1) return 0;
    out[0].name = "guard_fallbacks";
    out[0].value = s->guard_fallbacks;
    int k = 1;
    if (k < cap && o->cfg.hp[HP_COMMON_COUNT + 3] > 0) {   /* only with the trust on */
        out[k].name = "trust_scaled";
        out[k++].value = s->trust_scaled;
    }
    if (k < cap && o->cfg.hp[HP_ANNEAL] > 0) {   /* only with the anneal on */
        out[k].name = "anneal_scaled";
        out[k++].value = s->anneal_scaled;
    }
    if (k + 1 < cap && s->hg) {   /* only with the hypergradient scale on: its smallest and largest */
        const float *ls = s->hg + o->lay.n;
        float lo = ls[0], hi = ls[0];
        for (int t = 1; t < s->ntens; t++) { lo = ls[t] < lo ? ls[t] : lo; hi = ls[t] > hi ? ls[t] : hi; }
        out[k].name = "hypergrad_scale_min";
        out[k++].value = exp(lo);
        out[k].name = "hypergrad_scale_max";
        out[k++].value = exp(hi);
    }
    return k;
}

const opt_vtbl lopt_mlp_vtbl = {
    .name = "mlp_lopt",
    .weights_arch = "mlp_lopt",
    .kind = OPT_KIND_LEARNED,
    .description = "per-parameter MLP learned optimizer (small_fc_lopt style) with a learned per-tensor step scale; "
                   "on the held-out test suite its shipped weights with the default hypergradient scale and anneal "
                   "are ahead of lr-tuned Adam on most vision and transformer entries and on recurrent classifiers "
                   "at 5,000 steps, and behind it on synthetic quadratics, Rosenbrock and MLP autoencoders "
                   "(docs/learned-optimizers.md, \"The shipped weights on the test suite\")",
    .hparams = mlp_hparams,
    .nhparams = (int)(sizeof mlp_hparams / sizeof mlp_hparams[0]),
    .enums = mlp_enums,
    .init = mlp_init,
    .state_bytes = mlp_state_bytes,
    .step = mlp_step,
    .save = mlp_save,
    .load = mlp_load,
    .deinit = mlp_deinit,
    .diag = mlp_diag,
};

/* mlp_lopt weights from before the per-tensor step scale are the same
 * network with a zero scale head: theta's prefix. */
const lopt_arch lopt_arch_mlp = {
    .id = LOPT_ARCH_MLP,
    .name = "mlp_lopt",
    .vt = &lopt_mlp_vtbl,
    .theta_count = lopt_mlp_theta_count,
    .theta_default = lopt_mlp_theta_default,
    .legacy_tail = LOPT_MLP_NSCALE,
    .act_hp = "activation",
    .theta_default_act = mlp_theta_default_act,
    .features_hp = "features",
    .apply_features = lopt_mlp_apply_features,
};
