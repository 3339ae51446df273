/* online_es.h — the online learner of learned optimizers: a session keeps
 * meta-learning during use from its own loss feedback, by persistent
 * evolution strategies (PES, Vicol et al. 2021) with one particle on a small
 * set of controls of its optimizer.
 *
 * Controls: c ∈ R^K, a log step scale per tensor (K = ntensors) or one for
 * every tensor (K = 1).  The update of tensor k at step j is multiplied by
 *     s_k,j = exp(c_k + σ·sgn(j)·e_b(j),k)
 * (and the parameters it moved are corrected), where the steps are cut into
 * blocks of 2W (W = window): block b = steps [2Wb+1, 2Wb+2W] draws
 * e_b ~ N(0, I_K) from stream b of the seeded rng (rng_split, so nothing but
 * the seed is stored), and sgn(j) is +1 in the first W steps of a block and
 * −1 in the last W (antithetic pairs: a block's net displacement cancels to
 * first order, so perturbations do not pile up over the trajectory).
 *
 * Losses: ℓ_t is the loss at the parameters before update t (the loss a
 * client sends with step t, or later as feedback for step t), so it depends
 * on the perturbations of updates 1..t−1.  With memory M,
 *     ξ_t = Σ_{j=max(1,t−M)}^{t−1} sgn(j)·e_b(j)
 * is the perturbation that ℓ_t carries (truncated PES).  When block b has all
 * its 2W losses, or can get no more (its last step is M steps old), and holds
 * at least 3, its losses give
 *     r_t = (ℓ_t − fit_t) / mean|ℓ|,     fit = least-squares line through ℓ over t,
 *     ĝ   = (1/n) Σ_t r_t·ξ_t / σ
 * (the line removes the loss level and trend of the block; dividing by the
 * loss level makes ĝ scale free, like a log loss), and
 *     c ← clip(c − rate·m̂/(√v̂ + 1e−12), ±ln 100)
 * with Adam moments m, v (β = 0.9, 0.99) of ĝ.  Blocks are used in order,
 * each once; a loss is accepted once per step, only for a step already begun,
 * at most M steps old and in a block not used yet (online_es_observe says
 * whether it was).
 *
 * Use per step k (k = 1, 2, … consecutively; repeating k is allowed and
 * changes nothing): online_es_observe(k, loss) if the step carries a loss,
 * online_es_begin_step(k) (uses every ready block, sets the step's scales),
 * opt_step, then online_es_after_step (only when opt_step succeeded).
 * Feedback for any taken step: online_es_observe at any time.
 *
 * The state (controls, moments, loss ring, counters; the perturbations are
 * regenerated from the seed) is saved by online_es_save so that a restored
 * session continues bit for bit.
 *
 * Ownership: online_es_init allocates, online_es_deinit frees.  Pure; one
 * thread at a time (the session mutex). */
#ifndef OPTIRS_ONLINE_ES_H
#define OPTIRS_ONLINE_ES_H

#include <stddef.h>
#include <stdint.h>
#include "blob.h"
#include "opt.h"
#include "rng.h"

typedef struct online_es_config {
    int      enabled;     /* 0: no learner */
    double   rate;        /* Adam step on the controls, (0, 1] */
    int      memory;      /* M, steps: perturbation memory and the age limit of a loss, [1, 1024] */
    double   sigma;       /* exploration: std of the log-scale perturbation, (0, 1] */
    int      window;      /* W, steps a perturbation is held with one sign, [1, 256] */
    int      per_tensor;  /* 1: one control per tensor; 0: one for all */
    uint64_t seed;        /* perturbation stream, [0, 2^32 - 1] */
} online_es_config;

/* Defaults: tuned with bench/adapt_bench.py --seed0 100 (not the reported
 * seeds); see online_es.c. */
#define ONLINE_ES_RATE_DEFAULT   0.03
#define ONLINE_ES_MEMORY_DEFAULT 64
#define ONLINE_ES_SIGMA_DEFAULT  0.1
#define ONLINE_ES_WINDOW_DEFAULT 8
#define ONLINE_ES_PER_TENSOR_DEFAULT 0
#define ONLINE_ES_MEMORY_MAX     1024
#define ONLINE_ES_WINDOW_MAX     256
#define ONLINE_ES_SEED_MAX       4294967295.0   /* 2^32 - 1: cJSON prints it exactly (not so near 2^53) */
#define ONLINE_ES_C_MAX          4.605170185988092    /* ln 100 */

typedef struct online_es {
    online_es_config cfg;
    int      K;            /* controls */
    double  *c;            /* (K) log step scales */
    double  *m, *v;        /* (K) Adam moments of ĝ */
    double  *g;            /* (K) last ĝ */
    double  *e;            /* (K) scratch: a block's perturbation */
    float   *scale;        /* (K) multipliers of the current step */
    double  *w;            /* (nbmax) scratch: per-block weights of ĝ */
    int      nbmax;
    rng      root;         /* seeded from cfg.seed; only split, never advanced */
    int64_t  last_step;    /* last step begun (0: none) */
    int64_t  next_block;   /* first block not used yet */
    int64_t  updates;      /* blocks used (control updates) */
    int64_t  dropped;      /* blocks that closed with fewer than 3 losses */
    int64_t  used;         /* losses accepted */
    int64_t  ignored;      /* losses refused (duplicate, too old, future, not finite) */
    int      cap;          /* loss ring slots */
    int64_t *ring_step;    /* (cap) step held by the slot, 0: empty */
    double  *ring_loss;    /* (cap) */
} online_es;

/* Fills cfg with the defaults (enabled = 0). */
void online_es_config_defaults(online_es_config *cfg);
/* 0, ERR_NON_FINITE or ERR_OUT_OF_RANGE. */
int  online_es_config_check(const online_es_config *cfg);
/* Sets up the learner for `lay` (ntensors controls, or one).  0 or ERR_*. */
int  online_es_init(online_es *es, const online_es_config *cfg, const layout *lay);
void online_es_deinit(online_es *es);
/* Offers the loss ℓ_step (the loss at the parameters before update `step`).
 * Returns 1 when it was accepted, 0 when ignored (see the header comment). */
int  online_es_observe(online_es *es, int64_t step, double loss);
/* Starts step k: uses every ready block (updating the controls), then sets
 * es->scale for step k.  Repeating the last k only recomputes the scales.
 * ERR_INVALID_ARGUMENT when k is neither the last step nor the next. */
int  online_es_begin_step(online_es *es, int64_t k);
/* After a successful opt_step: multiplies each tensor's update by its scale
 * and moves the parameters accordingly (params += (s − 1)·update); sets
 * info->lr to lr × the size-weighted mean scale and recomputes info's update
 * and parameter norms. */
void online_es_after_step(const online_es *es, const layout *lay, float *params, float *update,
                          step_info *info);
/* Size-weighted mean of exp(c_k) (the learned multiplier, no exploration). */
double online_es_mean_scale(const online_es *es, const layout *lay);
/* The learner's figures as named scalars (es_scale_mean, es_scale_min,
 * es_scale_max, es_updates, es_losses_used, es_losses_ignored, es_grad_norm);
 * returns how many were written (at most cap). */
int  online_es_diag(const online_es *es, const layout *lay, opt_diag_value *out, int cap);
int  online_es_save(const online_es *es, blob_writer *w);
/* ERR_CORRUPT when the stored state does not fit this config. */
int  online_es_load(online_es *es, blob_reader *r);

#endif
