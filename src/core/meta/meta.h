/* meta.h — meta-training of learned optimizers (mlp_lopt, lstm_lopt,
 * nn_adam, attn_lopt) on built-in task families.
 *
 * A meta_job holds the meta-parameters theta, the outer optimizer (Adam with
 * global-norm gradient clipping) and `nparticles` particles.  One outer step
 * is three calls, so the caller can spread particles over its own threads
 * (core has none) and can report progress / cancel between steps:
 *     meta_step_begin(j);                         one thread
 *     meta_eval_particle(j, k)  for k < nparticles  any threads, each k once
 *     meta_step_end(j, &report);                  one thread
 * (meta_step does all three serially.)  meta_eval_particle(j, k) reads theta
 * and the config and touches only particle k's own task, optimizers and
 * buffers, so distinct k may run concurrently.  It leaves two scalars
 * (L+, L−: the meta-losses of the antithetic pair); meta_step_end combines
 * them with the perturbations, which every worker can regenerate from the
 * shared seed (ES) or keeps as its particle's accumulated perturbation (PES) —
 * the shape that later spreads across machines.
 *
 * Estimators:
 *   META_ES   antithetic ES: each particle draws a task, initial params and
 *             ε ~ N(0, σ² I), unrolls `unroll` steps from step 0 with θ+ε and
 *             θ−ε (same minibatches), g = Σ_k (L+ − L−) ε_k / (2 P σ²).
 *   META_PES  persistent ES (Vicol et al. 2021): each particle keeps two
 *             inner states (θ+ε and θ−ε paths) across outer steps; an episode
 *             lasts a horizon drawn log-uniformly from [horizon_min,
 *             horizon_max]; truncations of `unroll` steps; ξ_k accumulates the
 *             perturbations of the episode, g = Σ_k (L+ − L−) ξ_k / (2 P σ²).
 *             With pes_offsets = 1 the first episode of each particle starts
 *             after a burn-in of U[0, horizon) steps at θ, so that episode
 *             boundaries are spread over outer steps.
 *   META_TBPTT truncated backprop through the unroll (mlp_lopt, lstm_lopt): each
 *             particle draws a task and initial params as ES does, unrolls
 *             `unroll` steps from step 0 and computes the exact gradient of
 *             its meta-loss with respect to theta by reverse mode
 *             (meta_unroll_grad); g = mean over particles.  First-order in
 *             the task's gradients (∂g/∂params = 0, Andrychowicz et al. 2016)
 *             unless tbptt_exact = 1, which backpropagates through the task
 *             gradient with task_hvp (the job fails with
 *             ERR_INVALID_ARGUMENT on a family without HVP).  sigma is not
 *             used; L+ = L− = the particle's meta-loss.
 *
 * Meta-loss of an unroll of K steps = (1/K) Σ_{k=1..K} φ(ℓ_k), ℓ_k the
 * minibatch training loss after the k-th update, φ = log (log_loss = 1, the
 * default: scale-free across tasks, and quadratics decay exponentially) or
 * identity.  Losses are clamped to [1e-30, 1e30] (non-finite counts as 1e30)
 * and a path whose optimizer fails (non-finite update) counts 1e30 for its
 * remaining steps; a PES particle whose path failed starts a new episode.
 *
 * Outlier-punishing objective (objective = META_OBJ_REF; ES and PES): each
 * particle also runs a reference path — Adam (0.9, 0.999, 1e-8) at the
 * task's reference lr (meta_task_spec.ref_lr, else cfg.ref_lr), from the
 * same initial params on the same minibatches — and the per-step term is
 *     φ(r) = r + α·max(r, 0)²,   r = log ℓ_k − log ℓ_ref,k
 * (α = outlier_alpha, losses clamped as above).  Why the non-linearity is
 * the whole point: in antithetic ES/PES the estimate uses L+ − L−, and the
 * reference is the same for both (it does not depend on θ), so with α = 0
 * log ℓ_ref cancels exactly and the estimate equals the plain log
 * objective's.  With α > 0, to first order in ε,
 *     φ(r+) − φ(r−) ≈ (1 + 2α·max(r, 0)) · (log ℓ+ − log ℓ−):
 * a step where the learned optimizer is behind the reference by r nats
 * weighs 1 + 2αr times as much as one where it is ahead, so a task that
 * blows up (large r) steers the update and cannot hide behind another
 * task's win; where it is ahead the objective is the log objective.  The
 * reported meta-loss is the mean φ(r) (0 = on par with the reference).
 * The reference costs one Adam path per particle (its task gradients are
 * the dominant part: about half again the inner compute).
 *
 * Task mix: task_draw = META_DRAW_CYCLE (default) gives particle k the task
 * k mod ntasks; META_DRAW_WEIGHTED draws each episode's task (each ES/TBPTT
 * evaluation's) from its own rng stream with probability ∝ weight.
 *
 * Curriculum (curriculum_steps > 0): over the first curriculum_steps outer
 * steps the unroll (truncation length) grows geometrically from
 * unroll_start to unroll, and PES's horizon_max from horizon_max_start to
 * horizon_max (each when its start is > 0); afterwards they are the final
 * values.  The value at outer step s is a function of s only (deterministic). 
 *
 * Determinism: every random draw comes from rng streams split from
 * cfg.seed by (outer step, particle) or (particle, episode); results do not
 * depend on which thread ran which particle.  meta_save / meta_load write and
 * read a BLOB_KIND_META checkpoint (theta, outer Adam, step counter, every
 * particle's persistent state); a job created with the same config and
 * loaded from it continues exactly as the uninterrupted job would.
 *
 * Split steps (meta_split.c: the particles of an outer step spread over
 * processes, e.g. MPI ranks; core itself knows nothing of transport).  Every
 * process holds a job made from the same config and checkpoint; process r
 * evaluates its range [k0, k1) with meta_eval_particle, publishes each
 * particle's META_RET_N scalars (meta_particle_returns), and every process
 * calls meta_step_end_split with all P particles' scalars.  Particles outside
 * the range are completed from the scalars alone: ES regenerates ε_k from
 * (seed, step, k); PES follows the owner's episode bookkeeping (episode, t,
 * horizon, failed) and accumulates ξ_k from the regenerated ε_k, resetting it
 * when the owner started a new episode (a non-owned particle's task and paths
 * are freed); TBPTT needs the owners' per-particle gradients
 * (meta_particle_grad), ntheta floats each.  The combination then runs in the
 * fixed particle order of meta_step_end, so theta, the outer Adam state and
 * the report are bit-identical however the particles were split, and every
 * process stays identical.  The ranges must be the same on every step
 * between two checkpoints (a PES particle's inner state lives with its
 * owner); a checkpoint is meta_save_parts with each non-owned particle's
 * section from its owner (meta_particle_save), and any split can resume it
 * (every process meta_loads the whole checkpoint).
 *
 * FiLM (film = 1, docs/meta-learning.md#multi-task-optimizer): theta is a
 * FiLM record's (lopt.h): the shared trunk, then one (gamma, beta) row per
 * domain, the identity when the init is a plain record.  Every path's
 * optimizer gets the row of its task's domain (opt_config.film_row), so a
 * vision task's unroll depends on the trunk and the vision row only.  The
 * perturbation covers the trunk and every trained row (meta_film_row_trained)
 * whatever the particle's task, as for any parameter its loss does not
 * depend on: those coordinates add noise of mean zero to the estimate.
 *
 * Stages (nstages > 0; meta_continual.h has the rules): the run is a
 * sequence of stages, each exactly a fresh job started from the previous
 * stage's theta — outer Adam, particles and every rng stream restart at the
 * stage's first step (streams are split by the step within the stage) —
 * except that a later stage adds λ·F⊙(θ − θ*) (elastic weight
 * consolidation, summed over earlier stages) to the estimate before
 * clipping, and draws a `replay` share of its tasks from earlier stages.
 * With ewc_lambda = 0 and replay = 0 a staged run is therefore bit for bit
 * the chain of separate jobs.
 *
 * Ownership: meta_job_new allocates; meta_job_free releases (NULL ok). */
#ifndef OPTIRS_META_H
#define OPTIRS_META_H

#include <stddef.h>
#include <stdint.h>
#include "lopt.h"
#include "tasks.h"

enum { META_ES = 0, META_PES = 1, META_TBPTT = 2 };

#define META_MAX_TASKS   32
#define META_FAMILY_MAX  32
#define META_VERSION     1u
#define META_MAX_STAGES  8

typedef struct meta_task_spec {
    char        family[META_FAMILY_MAX];
    task_params params;          /* data_path and data must outlive the job */
    double      weight;          /* task_draw weighted: relative probability (0 = 1) */
    double      ref_lr;          /* objective ref: the reference Adam's lr (0 = cfg.ref_lr) */
} meta_task_spec;

enum { META_DRAW_CYCLE = 0, META_DRAW_WEIGHTED = 1 };
enum { META_OBJ_LOG = 0, META_OBJ_REF = 1 };

typedef struct meta_config {
    char     optimizer[OPT_NAME_MAX];   /* a learned optimizer (lopt_arch_name): "mlp_lopt", "gru_lopt", ... */
    int      hidden, depth;             /* architecture of theta */
    int      heads, seq;                /* attn_lopt: num_heads, sequence_length (0: its defaults);
                                           the record carries them */
    int      estimator;                 /* META_ES | META_PES */
    int      ntasks;
    meta_task_spec tasks[META_MAX_TASKS]; /* cycle: particle k trains on tasks[k % ntasks] */
    int      task_draw;                 /* META_DRAW_CYCLE | META_DRAW_WEIGHTED */
    uint64_t task_seed;                 /* 0: fresh task/init/data seeds per episode; else every
                                           episode uses task and init seed task_seed and
                                           minibatch seed task_seed+1 (one problem) */
    int      nparticles;                /* antithetic pairs per outer step */
    int      unroll;                    /* inner steps per truncation (K) */
    int      horizon_min, horizon_max;  /* PES episode lengths */
    int      pes_offsets;               /* PES: random burn-in of the first episode */
    double   sigma;                     /* perturbation std */
    double   outer_lr, outer_beta1, outer_beta2, outer_eps;
    double   clip;                      /* global-norm clip of the estimate; 0 = none */
    int      log_loss;                  /* 1: φ = log */
    int      objective;                 /* META_OBJ_LOG | META_OBJ_REF (ES, PES) */
    double   ref_lr;                    /* META_OBJ_REF: reference Adam lr of tasks without one */
    double   outlier_alpha;             /* META_OBJ_REF: α >= 0 */
    int64_t  curriculum_steps;          /* 0 = no curriculum */
    int      unroll_start;              /* curriculum: first unroll (0 = none; <= unroll) */
    int      horizon_max_start;         /* curriculum: first horizon_max (0 = none; PES) */
    int      mup_base;                  /* mlp_lopt: µP base fan-in stored in the weights
                                           (lopt_mup_mult); 0 = off */
    int      act;                       /* mlp_lopt: the hidden activation (LOPT_ACT_*) stored
                                           in the weights; 0 = relu */
    int      fset;                      /* mlp_lopt: the input feature set (LOPT_FSET_*) stored
                                           in the weights; 0 = full.  No estimator moves a weight
                                           the set drops (their perturbation and gradient are
                                           masked: lopt_weights_mask_features) */
    int      hold_zero_grad;            /* mlp_lopt's hyperparameter in the inner optimizer:
                                           0 or 1; -1 = the optimizer's default */
    double   trust;                     /* mlp_lopt's trust region in the inner optimizer:
                                           >= 0; -1 = the optimizer's default */
    double   hypergrad;                 /* mlp_lopt's hypergradient scale and anneal in the inner  */
    double   anneal;                    /* optimizer: >= 0; -1 = off (the network is trained
                                           without these session rules, as before they existed) */
    int      memory_reads;              /* mem_lopt's memory_reads in the inner optimizer:
                                           0 or 1; -1 = the optimizer's default (1) */
    uint64_t seed;
    int      tbptt_exact;               /* META_TBPTT: 1 = second order through task_hvp */
    int      train;                     /* which part of theta meta-training changes (META_TRAIN_*);
                                           the rest stays as initialised: it is neither perturbed
                                           nor updated */
    int      maml_inner_steps;          /* > 0: Reptile across task families, this many ES/PES
                                           steps per family (meta_reptile.h); 0 = plain training */
    double   maml_step;                 /* Reptile's step size in (0, 1] (0 = 1 when unset) */
    /* Continual learning (meta_continual.h): 0 stages = one task mix for
       the whole run.  Stage s runs stage_steps[s] outer steps on the tasks
       whose bit is set in stage_tasks[s]. */
    int      nstages;
    int64_t  stage_steps[META_MAX_STAGES];
    uint32_t stage_tasks[META_MAX_STAGES];
    double   ewc_lambda;                /* >= 0: EWC strength (0 = off) */
    double   replay;                    /* [0, 1]: share of a later stage's draws from earlier stages */
    int      ewc_window;                /* >= 1: outer steps at a stage's end whose samples give F */
    int      film;                      /* mlp_lopt, ES/PES, train = all: 1 = a FiLM record
                                           (lopt.h): theta = trunk + one FiLM row per domain;
                                           each task steps on its family's domain's row */
} meta_config;

/* meta_config.train.  NETWORK and STEP_SCALE are for mlp_lopt: its
 * per-tensor step-scale head is theta's last LOPT_MLP_NSCALE values
 * (lopt_mlp.c), NETWORK is everything before it. */
enum { META_TRAIN_ALL = 0, META_TRAIN_NETWORK = 1, META_TRAIN_STEP_SCALE = 2 };

/* Defaults: mlp_lopt 8×1, ES, one task "quadratic", 8 particles, unroll 20,
 * horizons [100, 1000], offsets on, σ 0.01, outer Adam(3e-3, 0.9, 0.999,
 * 1e-8), clip 1, log loss, seed 1; cycle draw, log objective (ref_lr 1e-3,
 * α 0 when switched to ref), no curriculum. */
void meta_config_defaults(meta_config *c);

/* The inner learned optimizer's config: c's optimizer, hidden, depth,
 * hold_zero_grad, trust and memory_reads (when set), the default weights slot. */
int  meta_inner_config(const meta_config *c, opt_config *oc);
/* The inner mlp_lopt's trust region in effect (0 = off, or another optimizer). */
double meta_inner_trust(const meta_config *c);
/* The first rule of the inner mlp_lopt that TBPTT does not record and c
 * turns on ("trust", "hypergrad" or "anneal"), NULL when none is on. */
const char *meta_inner_unrecorded(const meta_config *c);

/* FiLM (c->film): 1 when row `row` (1..LOPT_FILM_NDOM) is trained — some
 * task of c is of that row's domain; the other rows are neither perturbed
 * nor updated (ε = 0 there), so they stay the identity.  0 without film. */
int  meta_film_row_trained(const meta_config *c, int row);

/* The unroll and PES horizon_max in effect at outer step `step` (the
 * curriculum; the final values without one). */
int  meta_unroll_at(const meta_config *c, int64_t step);
int  meta_horizon_max_at(const meta_config *c, int64_t step);

/* The task index of draw k from stream r: k mod ntasks (cycle), or drawn
 * ∝ weight from a stream split off r (r is not advanced). */
int  meta_draw_task(const meta_config *c, int k, const rng *r);

/* Bytes one particle allocates for a task of layout lay (its paths'
 * params, gradients, updates and optimizer states, the reference path
 * included), saturating; the task's own memory is not counted.  0 or
 * opt_bytes's errors. */
int  meta_particle_bytes(const meta_config *c, size_t ntheta, const layout *lay, uint64_t *out);

typedef struct meta_job meta_job;

typedef struct meta_report {
    int64_t step;          /* outer steps done (after this one) */
    double  meta_loss;     /* mean over particles of (L+ + L−)/2 */
    double  grad_norm;     /* of the estimate, before clipping */
    int     clipped;
    int     failed_paths;  /* inner paths that hit a non-finite value */
} meta_report;

/* Creates a job: theta = the optimizer's default init when init == NULL,
 * else a copy of init (its arch must match).  0 or ERR_INVALID_ARGUMENT /
 * ERR_UNKNOWN_OPTIMIZER / task_create's errors / ERR_NO_MEMORY. */
int  meta_job_new(const meta_config *cfg, const lopt_weights *init, meta_job **out);
void meta_job_free(meta_job *j);

int  meta_step_begin(meta_job *j);
/* 0 or an error (task creation, memory).  Thread-safe for distinct k. */
int  meta_eval_particle(meta_job *j, int k);
/* Combines, clips, applies outer Adam.  rep may be NULL. */
int  meta_step_end(meta_job *j, meta_report *rep);
int  meta_step(meta_job *j, meta_report *rep);

int                 meta_job_nparticles(const meta_job *j);
int64_t             meta_job_step(const meta_job *j);
const lopt_weights *meta_job_weights(const meta_job *j);   /* current theta */
const float        *meta_job_grad(const meta_job *j);      /* last estimate (unclipped) */
/* Staged jobs: the EWC penalty's Σ_s F_s and Σ_s F_s⊙θ*_s (ntheta each; both
 * NULL without stages) — see meta_continual.h. */
void                meta_job_ewc(const meta_job *j, const double **F, const double **b);

/* Checkpoint (BLOB_KIND_META); the caller frees *out with free().  Load into
 * a job made by meta_job_new with the same config: 0 or ERR_CORRUPT. */
int  meta_save(const meta_job *j, uint8_t **out, size_t *out_len);
int  meta_load(meta_job *j, const void *data, size_t len);

/* Deterministic meta-loss of theta (architecture as cfg) on task spec
 * cfg->tasks[task_index] created with task_seed, params initialised from
 * init_seed, minibatches from data_seed: the mean φ over `steps` steps from
 * step 0.  For evaluation and for tests (finite differences). */
int  meta_unroll_loss(const meta_config *cfg, const float *theta, int task_index,
                      uint64_t task_seed, uint64_t init_seed, uint64_t data_seed,
                      int steps, double *loss);

/* Reverse-mode gradient (TBPTT) of the meta-loss that meta_unroll_loss
 * defines, for mlp_lopt and lstm_lopt: *loss = the meta-loss of the double-precision
 * re-run (equal to meta_unroll_loss within float rounding), grad (ntheta
 * doubles) = its gradient w.r.t. theta.  exact = 0: the task's gradients
 * are treated as constants (first order); exact = 1: exact, through
 * task_hvp.  Errors: ERR_INVALID_ARGUMENT (not mlp_lopt or lstm_lopt, exact on a family
 * without HVP, clip_norm > 0), ERR_NON_FINITE (the unroll diverged),
 * ERR_TOO_MANY_PARAMS (the tape would exceed 2^26 nodes), ERR_NO_MEMORY,
 * task_create's errors. */
int  meta_unroll_grad(const meta_config *cfg, const float *theta, int task_index, uint64_t task_seed,
                      uint64_t init_seed, uint64_t data_seed, int steps, int exact, double *loss,
                      double *grad);

/* ---- split steps (meta_split.c; see "Split steps" above) ---------------- */

/* The scalars of particle k after meta_eval_particle: L+, L−, failed paths,
 * episode, failed, active, t, horizon (every one exact in a double). */
#define META_RET_N 8
int  meta_particle_returns(const meta_job *j, int k, double ret[META_RET_N]);
/* TBPTT: particle k's meta-gradient (ntheta floats) after meta_eval_particle;
 * NULL for the other estimators or a bad k. */
const float *meta_particle_grad(const meta_job *j, int k);
/* Ends an outer step of which this process evaluated [k0, k1): ret holds
 * the META_RET_N scalars of all P particles (particle k at ret + k ×
 * META_RET_N; those in [k0, k1) are ignored), grads (TBPTT with k0 > 0 or
 * k1 < P) the P × ntheta gradients.  Then as meta_step_end.  0, or
 * ERR_INVALID_ARGUMENT (a bad range, a non-finite loss, a field out of its
 * range, grads missing) with the job untouched, or meta_step_end's errors. */
int  meta_step_end_split(meta_job *j, int k0, int k1, const double *ret, const float *grads, meta_report *rep);
/* Particle k's checkpoint section as a blob of its own (checksummed, tied
 * to the config and the outer step); the caller frees *out. */
int  meta_particle_save(const meta_job *j, int k, uint8_t **out, size_t *out_len);
/* meta_save with particle k's section taken from parts[k] (a
 * meta_particle_save blob of this config and step) where parts[k] != NULL;
 * parts == NULL is meta_save.  ERR_CORRUPT on a part that does not fit;
 * ERR_INVALID_ARGUMENT when a PES particle's part is missing and this
 * process does not own it (meta_save of a split job says the same). */
int  meta_save_parts(const meta_job *j, const uint8_t *const *parts, const size_t *lens, uint8_t **out,
                     size_t *out_len);

#endif
