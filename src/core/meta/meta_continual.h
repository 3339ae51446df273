/* meta_continual.h — continual learning of optimizer weights: a staged
 * meta-training run (task families presented one after another), elastic
 * weight consolidation (EWC, Kirkpatrick et al. 2017) and replay of earlier
 * families.  meta.c calls these; they hold no state of their own (the
 * stage boundary, meta_internal.h, changes the job it is given).
 *
 * Stages: meta_config.nstages > 0 stages; stage s covers the outer steps
 * [start_s, start_s + stage_steps[s]) and draws from the tasks of
 * stage_tasks[s] (a bitmask over cfg.tasks).  A step past the last stage
 * counts as the last stage.
 *
 * Task draw in stage s: with replay r > 0 and s > 0, draw k uses a stream
 * split off the particle's stream (which it does not advance): with
 * probability r it is one of the earlier stages' tasks that are not in
 * stage s (uniformly), else the stage's own draw — cycle: its (k mod n)-th
 * task in cfg order; weighted: ∝ weight among its tasks — which is exactly
 * meta_draw_task's on a config holding only the stage's tasks.
 *
 * Fisher estimate (diagonal, from the meta-gradient estimator's samples):
 * over the last W = min(ewc_window, stage_steps[s]) outer steps of a stage,
 *     F_i = (1 / (W·P)) Σ_steps Σ_k g_{k,i}²,
 * g_k particle k's own estimate (ES/PES: (L+ − L−) dir_k / (2σ²), TBPTT: its
 * gradient).  For an ES estimate of a quadratic meta-loss with gradient a,
 * E[g_{k,i}²] = 2 a_i² + |a|²: the estimator's own variance (|a|²) is part
 * of F — it says how sharply the samples move, not the exact curvature.
 * At the stage's end F_s and θ*_s (theta after its last update) are added to
 * the penalty of every later stage:
 *     R(θ) = λ/2 Σ_s Σ_i F_s,i (θ_i − θ*_s,i)² = λ/2 Σ_i (F_i θ_i² − 2 b_i θ_i + c_i),
 * F = Σ_s F_s, b = Σ_s F_s⊙θ*_s, c = Σ_s F_s⊙θ*_s², and ∇R = λ (F⊙θ − b).
 *
 * Pure computation: no I/O, no allocation except meta_family_loss's
 * (through meta_unroll_loss). */
#ifndef OPTIRS_META_CONTINUAL_H
#define OPTIRS_META_CONTINUAL_H

#include <stddef.h>
#include <stdint.h>
#include "meta.h"
#include "rng.h"

/* The stage of outer step `step` (0 = the run's first step); 0 without stages. */
int     meta_stage_at(const meta_config *c, int64_t step);
/* The first outer step of stage s (0 without stages). */
int64_t meta_stage_start(const meta_config *c, int s);
/* Σ stage_steps (0 without stages). */
int64_t meta_stages_total(const meta_config *c);
/* 0, or ERR_INVALID_ARGUMENT when the stage fields do not fit together
 * (nstages in [0, META_MAX_STAGES], steps >= 1, every stage's mask non-empty
 * and within ntasks, every task in some stage, ewc_lambda >= 0, replay in
 * [0, 1], ewc_window >= 1; without stages ewc_lambda and replay must be 0). */
int     meta_stages_check(const meta_config *c);
/* The task of draw k from stream r at outer step `step` (see above). */
int     meta_stage_draw(const meta_config *c, int64_t step, int k, const rng *r);
/* 1 when outer step `step` is one of its stage's last W steps (Fisher window). */
int     meta_fisher_window(const meta_config *c, int64_t step);

/* acc[i] += w · (coef · dir[i])² for i in [lo, hi). */
void    meta_fisher_add(double *acc, const float *dir, double coef, double w, size_t lo, size_t hi);
/* g[i] += λ (F[i] θ[i] − b[i]) for i in [lo, hi): the penalty's gradient. */
void    meta_ewc_grad(float *g, const double *F, const double *b, const float *theta, double lambda, size_t lo,
                      size_t hi);
/* R(θ) above for n values (c = Σ_s F_s⊙θ*_s² summed over i). */
double  meta_ewc_penalty(const double *F, const double *b, double c, const double *theta, double lambda, size_t n);

/* Mean meta-loss (meta_unroll_loss, `steps` steps) of theta over the tasks
 * of cfg whose family is `family`, `seeds` fixed seed triples each (task,
 * init and data seeds 0x6576616c00 + s, + 2^20, + 2^21: the same problems for
 * every theta).  0, ERR_NOT_FOUND (no task of that family) or
 * meta_unroll_loss's errors. */
int     meta_family_loss(const meta_config *cfg, const float *theta, const char *family, int seeds, int steps,
                         double *loss);

#endif
