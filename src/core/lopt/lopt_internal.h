/* lopt_internal.h — cross-file internals of the learned optimizers (lopt.c,
 * lopt_mlp.c, lopt_lstm.c, lopt_nnadam.c, meta.c).  Not a public API. */
#ifndef OPTIRS_LOPT_INTERNAL_H
#define OPTIRS_LOPT_INTERNAL_H

#include "lopt.h"
#include "rng.h"

extern const opt_vtbl lopt_mlp_vtbl;
extern const opt_vtbl lopt_lstm_vtbl;
extern const opt_vtbl lopt_nnadam_vtbl;
extern const opt_vtbl lopt_attn_vtbl;
extern const opt_vtbl lopt_graph_vtbl;
extern const opt_vtbl lopt_mem_vtbl;
extern const opt_vtbl lopt_gru_vtbl;

/* One learned-optimizer architecture.  Each architecture file exports its
 * descriptor (lopt_arch_mlp in lopt_mlp.c, ...), the table in lopt_archs.c
 * lists them, and the shared base (lopt.c) reaches an architecture only
 * through that table: it never names one.  Adding an architecture is one
 * new file plus one line in lopt_archs.c (and its vtbl in opt_registry.c). */
typedef struct lopt_arch {
    int             id;        /* LOPT_ARCH_*: the number stored in weights records */
    const char     *name;      /* the optimizer (and weights arch) name */
    const opt_vtbl *vt;        /* the optimizer it drives */
    /* Length of theta for (hidden, depth), both already range-checked. */
    size_t (*theta_count)(int hidden, int depth);
    /* The documented default initialisation of a zeroed theta; small random
     * parts are drawn from r. */
    void   (*theta_default)(float *theta, int hidden, int depth, rng *r);
    /* A stored theta may be shorter by this many trailing values (older
     * records; the missing values load as zeros); 0 = exact length only. */
    size_t legacy_tail;
    /* The optimizer's hyperparameters that give hidden and depth when no
     * weights record is used (meta-training sets them); NULL = "hidden",
     * "depth". */
    const char *hidden_hp, *depth_hp;
    /* attn_lopt: the hyperparameters a record carries as heads and seq
     * (lopt_weights); NULL for the others. */
    const char *heads_hp, *seq_hp;
    /* mlp_lopt: the hyperparameter that gives the activation (LOPT_ACT_*,
     * an index into lopt_act_names) when no weights record is used, and the
     * change of the default init for an activation other than relu (called
     * after theta_default); NULL for the others, which have none. */
    const char *act_hp;
    void (*theta_default_act)(float *theta, int hidden, int depth, int act);
    /* mlp_lopt: the hyperparameter that gives the input feature set
     * (LOPT_FSET_*, an index into lopt_fset_names) when no weights record is
     * used, and the mask (lopt_mlp_apply_features); NULL for the others,
     * which read every input. */
    const char *features_hp;
    void (*apply_features)(float *theta, int hidden, int depth, int set);
    /* lstm_lopt: a hyperparameter only the untrained default init reads
     * (forget_gate_bias); NULL for the others. */
    const char *init_hp;
} lopt_arch;

extern const lopt_arch lopt_arch_mlp, lopt_arch_lstm, lopt_arch_nnadam, lopt_arch_attn;
extern const lopt_arch lopt_arch_graph;
extern const lopt_arch lopt_arch_mem;
extern const lopt_arch lopt_arch_gru;

/* The table (lopt_archs.c): the architecture with this id / optimizer
 * name / vtbl, NULL when none. */
const lopt_arch *lopt_arch_by_id(int id);
const lopt_arch *lopt_arch_by_name(const char *name);
const lopt_arch *lopt_arch_by_vtbl(const opt_vtbl *vt);

/* mlp_lopt's per-parameter network on a block of cnt elements, inputs
 * feature-major x[f*ld + k] (LOPT_NFEAT rows), bias0 = first-layer bias with
 * the time features folded in (hidden).  Writes out0[k], out1[k] (the d and
 * m outputs).  work: 2*hidden*ld floats.  The loop version is the reference;
 * the blas version must agree with it within float rounding. */
void lopt_mlp_net_loop(const float *theta, int hidden, int depth, int act, const float *bias0,
                       const float *x, size_t ld, size_t cnt, float *work, float *out0, float *out1);
void lopt_mlp_net_blas(const float *theta, int hidden, int depth, int act, const float *bias0,
                       const float *x, size_t ld, size_t cnt, float *work, float *out0, float *out1);
/* FiLM (lopt.h): out (lopt_theta_count(MLP, hidden, depth) floats) = the
 * trunk of the FiLM theta `theta` with row `row` (1..LOPT_FILM_NDOM) folded
 * into the first layer: W0'[i][c] = gamma_i · W0[i][c] for every input c
 * (the time features' columns too), b0'[i] = gamma_i · b0[i] + beta_i.
 * Exact algebra; in floats the folded network equals the unfolded
 * h = act(gamma ⊙ (W0·x + b0) + beta) within rounding, and a plain record
 * holding W0', b0' steps bit for bit as the FiLM record on that row. */
/* Feature sets (lopt.h): zeroes the entries of theta (an mlp_lopt theta of
 * (hidden, depth), or a vector of its layout) that weigh the inputs `set`
 * drops — W0's columns of dropped per-parameter and time features, the
 * step-scale head's time or per-tensor inputs.  Nothing for full. */
void lopt_mlp_apply_features(float *theta, int hidden, int depth, int set);
void lopt_mlp_film_fold(const float *theta, int hidden, int depth, int row, float *out);
/* Which path mlp_lopt's step takes (for tests and benchmarks; set it only
 * while no optimizer steps).  LOPT_KERNEL_LOOP: lopt_features_update +
 * lopt_features_block + lopt_mlp_net_loop (the reference);
 * LOPT_KERNEL_BLAS: the same with lopt_mlp_net_blas; LOPT_KERNEL_FAST
 * (default): lopt_fast_mlp_stats + lopt_fast_mlp_apply. */
enum { LOPT_KERNEL_LOOP = 0, LOPT_KERNEL_BLAS = 1, LOPT_KERNEL_FAST = 2 };
extern int lopt_mlp_kernel;
/* lstm_lopt: LOPT_KERNEL_FAST (default) or LOPT_KERNEL_LOOP (one coordinate
 * at a time through layers.h's layer_lstm_forward: the reference). */
extern int lopt_lstm_kernel;

#define LOPT_MLP_IN      (LOPT_NFEAT + LOPT_NTIME)
#define LOPT_MLP_LAMBDA1 1e-3f
#define LOPT_MLP_LAMBDA2 1e-3f
/* mlp_lopt's per-tensor step scale exp(clip(bs + Ws·[tensor features, time
 * features], ±LOPT_MLP_SCALE_CLIP)): the last LOPT_MLP_NSCALE values of
 * theta, Ws (LOPT_NTENS + LOPT_NTIME) then bs. */
#define LOPT_MLP_SCALE_IN   (LOPT_NTENS + LOPT_NTIME)
#define LOPT_MLP_NSCALE     (LOPT_MLP_SCALE_IN + 1)
#define LOPT_MLP_SCALE_CLIP 5.0f
/* The scale of one tensor from the head (theta's last LOPT_MLP_NSCALE
 * values), its per-tensor features and the time features. */
float lopt_mlp_tensor_scale(const float *head, const float *tens, const float *tf);

/* mlp_lopt's safeguard (lopt_mlp.c, hyperparameter `guard`), shared by
 * every kernel and by TBPTT's recorder: the sum of squares of a tensor's
 * update u (n floats; a fixed summation order), whether it trips the guard
 * k at base = lr multiplier · λ₁ (RMS(u) > k · base, or non-finite; never
 * when k <= 0), and the fallback: u = −base · (the clipped, normalised
 * feature 7) from the tensor's accumulators and normalisers inv_rms. */
float lopt_mlp_guard_sumsq(const float *u, size_t n);
/* The same sum taken piece by piece (lopt_fast_mlp_apply takes it while a
 * piece of u is still in cache): lopt_mlp_guard_sumsq(u, n) is
 * (float)ss after ss = 0 and lopt_mlp_guard_sumsq_add over the pieces
 * [i, i + LOPT_MLP_GUARD_CHUNK) of u in order (the last one shorter). */
#define LOPT_MLP_GUARD_CHUNK 1024
void  lopt_mlp_guard_sumsq_add(const float *u, size_t len, double *ss);
int   lopt_mlp_guard_trips(float sumsq, size_t n, float k, float base);
void  lopt_mlp_guard_apply(const lopt_feat_tensor *ft, const float *inv_rms, float base, float *u);
/* mlp_lopt's hold (hyperparameter `hold_zero_grad`): u_i = 0 wherever
 * g_i == 0 exactly, over n floats. */
void  lopt_mlp_hold_zero_grad(const float *g, float *u, size_t n);
/* mlp_lopt's trust (hyperparameter `trust` = k): u *= min(1, k · level)
 * over n floats, level = the tensor's u_1 feature (lopt.h: the RMS of
 * Adam's bias-corrected m/√v at the second momentum decay).  Returns 1 when
 * it scaled, 0 otherwise (k <= 0: off). */
int   lopt_mlp_trust_apply(float *u, size_t n, float k, float level);
/* mlp_lopt's anneal (hyperparameter `anneal` = k) scales by lopt_mlp_trust_apply
 * with this level: q^¼, q = mean(g²) / mean(v) over the tensor, from the
 * kernels' normalisers (inv_rms[0] = 1/√mean(g²), inv_rms[5] = 1/√mean(v)). */
float lopt_mlp_anneal_level(const float *inv_rms);
/* mlp_lopt's hypergradient step scale (hyperparameter `hypergrad` = beta;
 * lopt_hypergrad.c): *logs -= beta · cos(g, uprev) over n floats, clipped
 * to [LOPT_HG_LOG_MIN, LOPT_HG_LOG_MAX]; returns e^*logs, the factor of
 * this step's update (the caller keeps the update as the next uprev). */
#define LOPT_HG_LOG_MIN (-14.0f)
#define LOPT_HG_LOG_MAX 5.0f
float lopt_hypergrad_scale(float beta, const float *g, const float *uprev, size_t n, float *logs);
/* cos(g, uprev) over n floats; 0 when either is 0 or a sum is not finite. */
float lopt_hypergrad_cos(const float *g, const float *uprev, size_t n);

/* ---- fast kernels (lopt_fast.c) ---------------------------------------- */

/* 0: the best build the CPU has; 1: the baseline SSE2 build; 2: at most
 * the AVX2 build (tests check the builds agree bit for bit).  Set only
 * while nothing steps. */
extern int lopt_fast_force_generic;

typedef struct lopt_fast_decay { float b[LOPT_NDECAY], c[LOPT_NDECAY]; } lopt_fast_decay;  /* β, 1−β */

/* mlp_lopt's network for one tensor and step. */
typedef struct lopt_fast_mlp {
    int hidden, depth;
    int act;                    /* LOPT_ACT_*: relu runs the bit-exact path, gelu and swish
                                   the vectorised x·σ(z) (within float rounding of lopt_act) */
    const float *W0;            /* (H, ldw0): feature weights are columns 0..LOPT_NFEAT-1 */
    size_t ldw0;
    const float *bias0;         /* (H) first-layer bias with the time features folded in */
    const float *W[LOPT_MAX_DEPTH], *b[LOPT_MAX_DEPTH];  /* layers 1..depth-1: (H, H), (H) */
    const float *Wo, *bo;       /* (2, H), (2) */
    float inv_rms[LOPT_NFEAT];  /* the tensor's feature normalisers */
    float mult;                 /* lr multiplier · λ₁ · the tensor's step scale */
} lopt_fast_mlp;

/* The same as lopt_features_update (accumulators, then 1/RMS of each
 * feature), vectorised; equal to it within float rounding of the sums. */
void lopt_fast_mlp_stats(lopt_feat_tensor *ft, const float *g, const float *p, const float *b,
                         float *rowsum, float *colsum, float *inv_rms);
/* update[i] = −mult·d·exp(λ₂ m) for every element of the tensor (after
 * lopt_fast_mlp_stats), piece by piece (LOPT_MLP_GUARD_CHUNK elements);
 * after each piece, while it is in cache: when usq != NULL its guard sum
 * (lopt_mlp_guard_sumsq_add; *usq = lopt_mlp_guard_sumsq(update, n) at the
 * end), then when hold != 0 the hold (update = 0 where g == 0), then when
 * keep != NULL a copy of the piece into keep (mlp_lopt's hypergradient
 * scale keeps the update).  Returns 1 when an update is non-finite before
 * the hold, else 0. */
int  lopt_fast_mlp_apply(const lopt_feat_tensor *ft, const float *g, const float *p,
                         const lopt_fast_mlp *net, float *update, int hold, float *usq, float *keep);

/* lstm_lopt's stack.  State hc: blocks of 8 coordinates, each block
 * (depth, 2, H, 8) — h then c of each layer, unit-major, coordinate lanes. */
typedef struct lopt_fast_lstm_net {
    int hidden, depth;
    const float *cell[LOPT_MAX_DEPTH];   /* each layer's Wx, Wh, b (layers.h order) */
    const float *wo;                     /* (H) read-out */
    float bo, a, k;                      /* read-out bias, skip weight, −mult·scale */
    float tiny, huge;                    /* e^−10, e^10 of the log-and-sign preprocessing */
} lopt_fast_lstm_net;

/* Updates of n coordinates from g; advances hc.  1 when non-finite. */
int  lopt_fast_lstm(const lopt_fast_lstm_net *net, const float *g, size_t n, float *hc, float *update);

/* ---- the Adam-direction rule (lopt_adamdir.c) ---------------------------- */

/* attn_lopt's and mem_lopt's per-parameter rule: Adam's moments (β₁ 0.9,
 * β₂ 0.999) and u = k·(m̂ + γ(g − m̂))/(√v̂ + ε) (ε 1e-8) for one tensor,
 * with ic1 = 1/(1−β₁^t), ic2 = 1/(1−β₂^t).  moments updates m and v and
 * returns the tensor's sums (before the update for gm and mm: Σ g·m_old,
 * Σ m_old²; after it for the rest: Σg², Σp², Σd² of the direction
 * d = m̂/(√v̂+ε), Σv); apply writes u and returns Σu². */
#define LOPT_ADAMDIR_B1  0.9f
#define LOPT_ADAMDIR_B2  0.999f
#define LOPT_ADAMDIR_EPS 1e-8f
typedef struct lopt_adamdir_sums { double gg, pp, dd, gm, mm, vv; } lopt_adamdir_sums;
void   lopt_adamdir_moments(float *m, float *v, const float *g, const float *p, size_t n, float ic1, float ic2,
                            lopt_adamdir_sums *s);
double lopt_adamdir_apply(const float *m, const float *v, const float *g, size_t n, float ic1, float ic2, float k,
                          float gam, float *u);

#endif
