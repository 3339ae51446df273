/* lopt.h — what the learned optimizers (mlp_lopt, lstm_lopt, nn_adam, attn_lopt) share:
 * their weights (a flat float vector `theta` plus the architecture that
 * gives it a shape), the weights blob (BLOB_KIND_WEIGHTS), an in-memory
 * table of named weights that opt_config.weights refers to, and the
 * per-parameter feature computation of mlp_lopt.
 *
 * Weights.  A `lopt_weights` is {arch, hidden, depth, mup_base, ntheta,
 * theta} (mup_base: mlp_lopt's µP width scaling, 0 = off).  The
 * layout of theta for each architecture is documented in its file
 * (lopt_mlp.c, lopt_lstm.c, lopt_gru.c, lopt_nnadam.c, lopt_attn_net.h); lopt_theta_count gives its
 * length.  lopt_weights_init_default fills theta with the documented
 * "untrained" initialisation, chosen so that each optimizer is a sane
 * small-step optimizer before any meta-training:
 *   mlp_lopt  ≈ Adam direction (β₁ = 0.9) normalised by its RMS over the
 *               tensor, step 1e-3 (plus small random weights);
 *   lstm_lopt ≈ sign-SGD with step 1e-3 through a learnable skip term
 *               (the LSTM path starts small);
 *   gru_lopt  ≈ the same sign-SGD through its skip term (the GRU path
 *               starts small; no record ships, so this is what it runs
 *               until meta-trained);
 *   nn_adam   = exactly Adam(lr = the lr hyperparameter, 0.9, 0.999, 1e-8);
 *   attn_lopt ≈ Adam(lr) with per-tensor step scales near 1 (a small
 *               random read-out of the transformer).
 *
 * Named weights.  opt_config.weights names a record of the in-memory table
 * (lopt_registry_put/get): the server copies records from SQLite into it
 * (at start and whenever meta-training produces a record).  A learned
 * optimizer copies theta into its own state at init, so replacing or
 * removing a record never affects a running optimizer, and the optimizer
 * state (opt_save) carries its theta, so a restored session is bit for bit
 * the saved one whatever the table holds.  With weights == NULL an
 * optimizer uses the record named after itself ("mlp_lopt", …) when present,
 * else the default initialisation above (architecture from its hidden/depth
 * hyperparameters).
 *
 * Thread rules: lopt_weights values are plain data (one thread at a time).
 * The named table is process-wide and core has no locks: the caller
 * serialises lopt_registry_* calls and opt_init of learned optimizers
 * (the server holds one mutex around them). */
#ifndef OPTIRS_LOPT_H
#define OPTIRS_LOPT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "blob.h"
#include "opt.h"

enum { LOPT_ARCH_MLP = 1, LOPT_ARCH_LSTM = 2, LOPT_ARCH_NNADAM = 3, LOPT_ARCH_ATTN = 4 };
/* graph_lopt (lopt_graph.c) and mem_lopt (lopt_mem.c) */
enum { LOPT_ARCH_MEM = 5, LOPT_ARCH_GRAPH = 6 };
/* gru_lopt (lopt_gru.c) */
enum { LOPT_ARCH_GRU = 7 };

#define LOPT_WEIGHTS_VERSION 1u
#define LOPT_MAX_HIDDEN      256
#define LOPT_MAX_DEPTH       4
#define LOPT_NAME_MAX        128

typedef struct lopt_weights {
    int    arch;      /* LOPT_ARCH_* */
    int    hidden;    /* hidden width */
    int    depth;     /* mlp/nn_adam: hidden layers; lstm: LSTM layers; attn: transformer blocks */
    int    mup_base;  /* mlp_lopt: µP base fan-in (lopt_mup_mult), 0 = off; part of the
                         record (meta-training sets it), so sessions step as it was trained */
    int    heads, seq;  /* attn_lopt: the num_heads and sequence_length it runs at, part of the
                           record as mup_base is (0: not set, the session's hyperparameters);
                           0 for the other architectures */
    int    film;      /* mlp_lopt: 1 = a FiLM record (below), 0 = a plain one */
    int    act;       /* mlp_lopt: the hidden layers' activation (LOPT_ACT_*), part of the
                         record as mup_base is; LOPT_ACT_RELU (0) for every other architecture */
    int    fset;      /* mlp_lopt: the input feature set (LOPT_FSET_*), part of the record as
                         act is; LOPT_FSET_FULL (0) for every other architecture */
    size_t ntheta;
    float *theta;     /* (ntheta) owned: lopt_weights_deinit frees */
} lopt_weights;

/* Activations of mlp_lopt's hidden layers.  Each is x·σ(z(x)) with z odd,
 * so act(x) − act(−x) = x exactly in real arithmetic (the untrained
 * default's two carry units rely on it, lopt_mlp.c):
 *   relu  max(x, 0) (z = ±∞; NaN gives 0), the default and every record
 *         from before activations;
 *   gelu  the tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
 *         = x·σ(2√(2/π)(x + 0.044715x³)), as layers.h's GELU;
 *   swish x·σ(x) (SiLU). */
enum { LOPT_ACT_RELU = 0, LOPT_ACT_GELU = 1, LOPT_ACT_SWISH = 2, LOPT_ACT_COUNT = 3 };
/* The names in LOPT_ACT_* order, NULL-terminated (an hparam_def's names). */
extern const char *const lopt_act_names[LOPT_ACT_COUNT + 1];
/* "relu" / "gelu" / "swish" for an activation, NULL otherwise; and the
 * reverse (-1 for anything else, NULL included). */
const char *lopt_act_name(int act);
int         lopt_act_from_name(const char *name);
/* The one definition of the activations: act(x) in double, and when dydx
 * != NULL its derivative (relu's is 1 for x > 0, else 0).  Every path —
 * the reference network, the blas one, TBPTT's tape — calls it; the fast
 * kernel (lopt_fast_kern.h) computes the same formulas on machine vectors
 * and is tested against it.  In float, (float)lopt_act(LOPT_ACT_RELU, x)
 * is bit for bit x > 0 ? x : 0. */
static inline double lopt_act(int act, double x, double *dydx)
{
    if (act != LOPT_ACT_GELU && act != LOPT_ACT_SWISH) {
        if (dydx) *dydx = x > 0 ? 1.0 : 0.0;
        return x > 0 ? x : 0.0;
    }
    const double c = 1.5957691216057308;   /* 2√(2/π) */
    double z = act == LOPT_ACT_GELU ? c * (x + 0.044715 * x * x * x) : x;
    double dz = act == LOPT_ACT_GELU ? c * (1 + 3 * 0.044715 * x * x) : 1.0;
    double s = 1.0 / (1.0 + exp(-z));
    if (dydx) *dydx = s + x * s * (1 - s) * dz;
    return x * s;
}

/* Input feature sets of mlp_lopt: which of its inputs (the per-parameter
 * features, the time features, the per-tensor features; "features" below)
 * the network reads.  A set is a mask over W0's input columns and the
 * step-scale head's inputs: the weights of a dropped input are held at
 * exactly 0 (lopt_weights_set_features zeroes them, and the optimizer
 * zeroes them again at the start of every step, since meta-training writes
 * theta between steps), so every kernel runs the full network unchanged
 * and a dropped input contributes exactly nothing.  That holds for finite
 * inputs, which every feature is after clipping; a non-finite feature (a
 * NaN gradient or parameter makes some) gives 0·NaN = NaN, the update is
 * non-finite and the guard takes over as it would for the full network.
 *   full       every input (the default, and every record from before sets);
 *   adam       drops p (feature 1) and the Adafactor features 10, 11;
 *   momentum   only g (0), m_k (2..4), m_k/√(v+ε) (6..8), and the time features;
 *   no_time    every per-parameter feature, no time features (W0's time
 *              columns and the head's time inputs are 0);
 *   no_tensor  the head's per-tensor inputs are 0.
 * Every set keeps feature 7 (m₂/√v): the untrained default's carry units
 * and the guard read it. */
enum {
    LOPT_FSET_FULL = 0, LOPT_FSET_ADAM = 1, LOPT_FSET_MOMENTUM = 2, LOPT_FSET_NO_TIME = 3,
    LOPT_FSET_NO_TENSOR = 4, LOPT_FSET_COUNT = 5
};
/* The names in LOPT_FSET_* order, NULL-terminated (an hparam_def's names). */
extern const char *const lopt_fset_names[LOPT_FSET_COUNT + 1];
/* "full" / "adam" / … for a set, NULL otherwise; and the reverse (-1 for
 * anything else, NULL included). */
const char *lopt_fset_name(int set);
int         lopt_fset_from_name(const char *name);
/* The inputs set keeps, as bits: bit f < LOPT_NFEAT for per-parameter
 * feature f, LOPT_FSET_TIME for the time features, LOPT_FSET_TENSOR for the
 * per-tensor features; 0 for an unknown set.  The one definition of the
 * sets: lopt_mlp.c's mask reads it. */
#define LOPT_FSET_TIME   (1u << 12)
#define LOPT_FSET_TENSOR (1u << 13)
uint32_t    lopt_fset_inputs(int set);
/* w->fset = set, and the weights of the inputs set drops are zeroed.
 * 0, or ERR_INVALID_ARGUMENT (w unchanged) for an unknown set or a set
 * other than full on an architecture without feature sets (all but
 * mlp_lopt). */
int         lopt_weights_set_features(lopt_weights *w, int set);
/* Zeroes the entries of v (a vector laid out as w->theta: theta itself, a
 * perturbation, a gradient) at the weights w->fset drops; nothing for full.
 * Meta-training uses it so that no estimator moves a dropped weight. */
void        lopt_weights_mask_features(const lopt_weights *w, float *v);

/* FiLM records (mlp_lopt only; docs/meta-learning.md#multi-task-optimizer).
 * A FiLM record is a plain mlp_lopt theta (the shared trunk,
 * lopt_theta_count values) followed by LOPT_FILM_NDOM rows, one per task
 * domain in the order vision, text, tabular, synthetic; row r is
 * (gamma (H), beta (H)) and scales and shifts the first hidden layer's
 * pre-activation:  h = act(gamma ⊙ (W0·x + b0) + beta) (act: the record's
 * activation).  The optimizer folds the chosen row into the first layer
 * once per step (W0' = gamma·W0, b0' = gamma·b0 + beta:
 * lopt_mlp_film_fold), so every kernel runs the
 * plain network on the folded theta.  opt_config.film_row picks the row
 * (lopt_film_row: 1..LOPT_FILM_NDOM); 0 means no row, i.e. the trunk as it
 * is (the identity gamma = 1, beta = 0, bit for bit).  A new row is the
 * identity, so an untrained FiLM record steps exactly as its trunk. */
#define LOPT_FILM_NDOM 4
/* Values the FiLM rows add to theta: LOPT_FILM_NDOM · 2 · hidden. */
size_t      lopt_film_count(int hidden);
/* 1..LOPT_FILM_NDOM for "vision", "text", "tabular", "synthetic" (exactly),
 * 0 for anything else (NULL, "", "mixed", other spellings). */
int         lopt_film_row(const char *domain);
/* The domain of row 1..LOPT_FILM_NDOM, NULL otherwise. */
const char *lopt_film_domain(int row);
/* Makes w (mlp_lopt) a FiLM record: appends LOPT_FILM_NDOM identity rows;
 * a FiLM record is left as it is.  0, ERR_INVALID_ARGUMENT (another
 * architecture) or ERR_NO_MEMORY (w unchanged). */
int         lopt_weights_set_film(lopt_weights *w);

/* "mlp_lopt" / "lstm_lopt" / "nn_adam" / "attn_lopt" for an arch, NULL for an unknown one;
 * and the reverse (-1 when unknown). */
const char *lopt_arch_name(int arch);
int         lopt_arch_from_name(const char *optname);
/* 1 when hp is a hyperparameter of the learned optimizer `optname` that a
 * weights record fixes (its shape: width and depth, attn_lopt's heads and
 * sequence length, and mlp_lopt's activation and feature set; and lstm_lopt's
 * forget_gate_bias, lopt_init_hp), so that setting it cannot
 * change a run on a record; 0 otherwise (also for an optimizer that is not
 * learned). */
int         lopt_shape_hp(const char *optname, const char *hp);
/* 1 when hp is one of those that only the untrained default init reads
 * (lstm_lopt's forget_gate_bias): a record carries its own value, which no
 * hyperparameter describes. */
int         lopt_init_hp(const char *optname, const char *hp);

/* Length of theta for (arch, hidden, depth); 0 when they are out of range
 * (hidden in [1, LOPT_MAX_HIDDEN], depth in [1, LOPT_MAX_DEPTH]). */
size_t lopt_theta_count(int arch, int hidden, int depth);

/* Allocates theta and fills it with the documented default initialisation; the small
 * random part is drawn from `seed` (deterministic). */
int  lopt_weights_init_default(lopt_weights *w, int arch, int hidden, int depth, uint64_t seed);
/* The same for activation act (LOPT_ACT_*): w->act = act, and the default
 * init is the one for that activation (lopt_mlp.c).  ERR_INVALID_ARGUMENT
 * for an unknown act, or act != LOPT_ACT_RELU on an architecture without
 * activations (all but mlp_lopt). */
int  lopt_weights_init_default_act(lopt_weights *w, int arch, int hidden, int depth, int act, uint64_t seed);
int  lopt_weights_copy(lopt_weights *dst, const lopt_weights *src);
void lopt_weights_deinit(lopt_weights *w);   /* zeroes w; safe on a zeroed w */

/* µP-style width scaling (µLO, Thérien et al. 2024) of mlp_lopt's step for
 * tensor t of lay under mup_base = B > 0: a 2-D tensor of shape (fan_in,
 * fan_out) (layers.h's y = x W) with both dimensions > 1 that is not the
 * layout's first such tensor (`first`, from lopt_mup_first: the input
 * layer keeps its step) is a hidden
 * or output matrix, and its step is multiplied by B / fan_in; every other
 * tensor, and every tensor when B = 0, by 1.  So a step size learned at
 * width B carries to width n by the 1/fan_in rule of µP for Adam-like
 * updates. */
double lopt_mup_mult(int mup_base, const layout *lay, int first, int t);
/* The index of lay's first 2-D tensor with both dimensions > 1 (the input
 * layer: lopt_mup_mult's `first`), -1 when none. */
int    lopt_mup_first(const layout *lay);
#define LOPT_MUP_MAX_BASE 65535

/* BLOB_KIND_WEIGHTS blob: arch, hidden, depth (mup_base in its upper 16
 * bits: records without µP read as before; for an architecture with
 * heads_hp, heads in bits 16..23 and seq in 24..31 instead; bit 15 set for a
 * FiLM record, which a reader without FiLM refuses as a depth out of
 * range; mlp_lopt's act in bits 12..14, 0 = relu, so every record from
 * before activations reads as relu and a reader without activations
 * refuses a gelu or swish record the same way; mlp_lopt's feature set in
 * bits 8..11, 0 = full, likewise: a reader without sets sees a depth out of
 * range; on load the weights the set drops are zeroed), ntheta, theta.  The caller
 * frees *out with free().  Load returns 0 or ERR_CORRUPT/ERR_NO_MEMORY and
 * initialises w (deinit it afterwards). */
int  lopt_weights_save(const lopt_weights *w, uint8_t **out, size_t *out_len);
int  lopt_weights_load(lopt_weights *w, const void *data, size_t len);
/* The same record inside another blob (used by the optimizers' state). */
void lopt_weights_put(blob_writer *bw, const lopt_weights *w);
int  lopt_weights_get(blob_reader *br, lopt_weights *w);

/* The named table (see above).  put copies w (replacing a record of the
 * same name); get copies the record into *out (caller deinits): 0 or
 * ERR_NOT_FOUND.  remove: 0 or ERR_NOT_FOUND.  clear empties the table. */
int  lopt_registry_put(const char *name, const lopt_weights *w);
int  lopt_registry_get(const char *name, lopt_weights *out);
int  lopt_registry_remove(const char *name);
void lopt_registry_clear(void);

/* Resolves the weights for a learned optimizer being initialised:
 * cfg->weights when set (ERR_NOT_FOUND if absent from the table;
 * ERR_INVALID_ARGUMENT if its arch is not `arch`), else the record named
 * lopt_arch_name(arch) when present, else the default init with
 * (hidden, depth) and, for an architecture with an activation
 * hyperparameter (mlp_lopt's `activation`), cfg's activation, and for one
 * with feature sets (mlp_lopt's `features`) cfg's set.  A record's
 * activation and set win over the hyperparameters, as its hidden and depth do.
 * *out is initialised on success. */
int  lopt_weights_resolve(const opt_config *cfg, int arch, int hidden, int depth, lopt_weights *out);
/* The shape lopt_weights_resolve would give (hidden, depth and theta's
 * length), without copying or allocating anything: for accounting memory
 * before an optimizer is built (the same lock rules as opt_init).  0 or the
 * errors of lopt_weights_resolve. */
int  lopt_weights_resolve_shape(const opt_config *cfg, int arch, int hidden, int depth, int *out_hidden,
                                int *out_depth, size_t *out_ntheta);
/* The heads and seq of the record lopt_weights_resolve would use, when it
 * has them (> 0); else *heads and *seq are left as they are.  0 or the
 * errors of lopt_weights_resolve (same lock rules). */
int  lopt_weights_resolve_ext(const opt_config *cfg, int arch, int *heads, int *seq);
/* 1 when lopt_weights_resolve would copy a record of the table, 0 when it
 * would take the default init (also when it would fail).  Same lock rules. */
int  lopt_weights_uses_record(const opt_config *cfg, int arch);
/* opt_config.weights value that means "the default init, never the table"
 * (meta-training uses it, then writes theta through lopt_opt_weights). */
#define LOPT_WEIGHTS_DEFAULT "@default"

/* Every learned optimizer's state starts with its weights, so meta-training
 * can swap theta in place without re-initialising the optimizer.  Returns
 * the weights of a learned optimizer `o` (mlp_lopt, lstm_lopt, nn_adam, attn_lopt), or
 * NULL for another optimizer.  Writing theta (same length) is allowed
 * between steps; the decays etc. are re-read on the next step. */
lopt_weights *lopt_opt_weights(opt *o);
/* Writes the shape a learned optimizer `o` runs at — its weights' width and
 * depth, attn_lopt's heads and sequence length, mlp_lopt's activation and
 * feature set (the record's when it runs one) — into those hyperparameters of cfg, so that a
 * description of the session shows what runs.  Nothing for another
 * optimizer. */
void lopt_shape_to_config(opt *o, opt_config *cfg);
/* The same for an optimizer that is not itself learned but runs a learned
 * part on a weights record of architecture `arch` (hybrid): the record
 * cfg resolves to gives the width and depth hyperparameters (named as
 * arch's).  Nothing when cfg resolves to no record.  Same lock rules as
 * lopt_weights_resolve. */
void lopt_record_shape_to_config(opt_config *cfg, int arch);

/* Step-size multiplier a learned optimizer applies to its output:
 * lr / (the common table's default lr), so the default lr means 1. */
double lopt_lr_mult(double lr);

/* ---- features (mlp_lopt) --------------------------------------------- */

/* Per-parameter features, in this order (LOPT_NFEAT), each normalised by its
 * RMS over the tensor and clipped to ±LOPT_FEAT_CLIP:
 *   0 g   1 p   2..4 m_k (momenta, 3 decays)   5 √v (second moment)
 *   6..8 m_k/√(v+ε)   9 1/√(v+ε)
 *   10 g/√v̂   11 1/√v̂   (Adafactor-style: v̂_ij = r_i c_j / mean(r) for a
 *   2-D tensor, a per-element accumulator for other shapes).
 * Time features tanh(t/τ − 1), τ in LOPT_TIME_TAUS (LOPT_NTIME), are the same
 * for every parameter and are not normalised.
 *
 * Per-tensor features (LOPT_NTENS), read off the normalisers above, so they
 * cost nothing per parameter; they feed mlp_lopt's per-tensor step scale:
 *   0..2 u_k = RMS(m_k/√(v+ε)) · √(1−β_v^t)/(1−β_k^t): the tensor's level of
 *        Adam's bias-corrected ratio m̂_k/√v̂ — about 1 while the gradient's
 *        sign persists (a deterministic slope), about √((1−β_k)/(1+β_k)) when
 *        the gradient is noise, and falling when the tensor oscillates
 *        around an optimum.  The normalised features 6..8 cannot tell these
 *        apart: the normaliser removes exactly this level.
 *   3    log(RMS(g) · √(1−β_v^t) / RMS(√v)): today's gradient against its
 *        running RMS (0 in a steady state, negative while it shrinks).
 * Each is clipped to ±LOPT_TENS_CLIP; 1 − β^t below 1e-6 counts as 1e-6. */
#define LOPT_NFEAT     12
#define LOPT_NTIME     9
#define LOPT_NDECAY    5       /* m1, m2, m3, v, factored */
#define LOPT_FEAT_CLIP 100.0f
#define LOPT_V_EPS     1e-8f
#define LOPT_FAC_EPS   1e-30f
#define LOPT_NTENS     4
#define LOPT_NCORR     4       /* lopt_bias_corrections: √(1−β_v^t), then 1−β_k^t for 3 momenta */
#define LOPT_TENS_CLIP 10.0f

/* tanh(t/τ − 1) for every τ: out (LOPT_NTIME). */
void lopt_time_features(int64_t t, float *out);
/* Adam's bias corrections at step t >= 1, the same for every tensor of a
 * step: corr[0] = √(1−β_v^t), corr[1 + k] = 1−β_k^t for the momenta k =
 * 0..2 (b: the LOPT_NDECAY decays; 1 − β^t below 1e-6 counts as 1e-6). */
void lopt_bias_corrections(const float *b, int64_t t, double corr[LOPT_NCORR]);
/* The per-tensor features from a tensor's normalisers inv_rms (LOPT_NFEAT,
 * as lopt_features_update leaves them) and the step's corr
 * (lopt_bias_corrections): out (LOPT_NTENS). */
void lopt_tensor_features(const float *inv_rms, const double corr[LOPT_NCORR], float *out);

/* Accumulators of one tensor.  rows/cols > 0 for 2-D tensors (r: rows,
 * c: cols), else rows = cols = 0 and d holds n per-element values. */
typedef struct lopt_feat_tensor {
    size_t n;
    int64_t rows, cols;
    float *m[3];   /* (n) each */
    float *v;      /* (n) */
    float *r;      /* (rows) or NULL */
    float *c;      /* (cols) or NULL */
    float *d;      /* (n) or NULL */
    float rim;     /* 1/mean(r), set by lopt_features_update */
} lopt_feat_tensor;

/* Updates the accumulators of one tensor with gradient g, decays
 * b[LOPT_NDECAY], then computes each feature's normaliser 1/RMS into
 * inv_rms (LOPT_NFEAT).  rowsum/colsum: scratch of rows/cols floats (NULL
 * when not 2-D). */
void lopt_features_update(lopt_feat_tensor *ft, const float *g, const float *p, const float *b,
                          float *rowsum, float *colsum, float *inv_rms);
/* Normalised features of elements [i0, i0+cnt) written feature-major:
 * x[f*ld + k] for k < cnt.  Call after lopt_features_update. */
void lopt_features_block(const lopt_feat_tensor *ft, const float *g, const float *p,
                         const float *inv_rms, size_t i0, size_t cnt, float *x, size_t ld);

/* Log-and-sign preprocessing (Andrychowicz et al. 2016, p = 10):
 * |g| >= e^-p: (log|g|/p, sign g); else (-1, e^p g). */
void lopt_logsign(float g, float *x0, float *x1);

static inline float lopt_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

#endif
