/* fewshot.h — few-shot meta-learning of a network's initialisation on the
 * sinusoid family: MAML (Finn et al. 2017), first-order MAML, Meta-SGD (Li
 * et al. 2017) and Reptile (Nichol et al. 2018), plus the pretrained
 * baseline of Finn et al. (one network trained on every task jointly, then
 * fine-tuned).
 *
 * Task family (Finn et al. §5.1): y = A sin(x − φ), A ~ U[0.1, 5.0],
 * φ ~ U[0, π], x ~ U[−5, 5]; loss MSE; network fsnet 1-H-…-H-1 with ReLU.
 * A task gives `shots` support points (the inner steps' data) and `query`
 * points (the outer loss).
 *
 * Inner loop, N = inner_steps steps from θ_0 = θ:
 *     θ_{i+1} = θ_i − α ⊙ ∇L_s(θ_i)     (α a scalar; Meta-SGD: a vector)
 * Per task, the outer gradient of each method:
 *   MAML      d L_q(θ_N) / dθ, exact: v_N = ∇L_q(θ_N),
 *             v_i = v_{i+1} − H_s(θ_i) (α ⊙ v_{i+1}) (Hessian-vector
 *             products, fsnet_hvp), g = v_0;
 *   FOMAML    g = ∇L_q(θ_N) (the second-order terms dropped);
 *   META_SGD  as MAML, and with respect to α: Σ_i −∇L_s(θ_i) ⊙ v_{i+1};
 *   REPTILE   g = θ − θ_N (the Reptile direction, fed to the outer Adam as
 *             its gradient: Nichol et al. §3 allow any outer optimizer);
 *   PRETRAIN  g = ∇ of the loss on support and query points at θ (joint
 *             training; inner_steps not used in training).
 * The outer step averages g over meta_batch tasks and applies Adam
 * (β 0.9, 0.999, ε 1e-8) at outer_lr to θ (and α for Meta-SGD).
 *
 * Determinism: task k of outer step s is drawn from the stream
 * rng_split(rng_split(seed), s)·k; the initial θ from the stream 0 of seed's
 * sibling.  Same config and seed: the same θ, bit for bit.
 *
 * Evaluation (fewshot_eval): `ntasks` tasks from eval_seed, each with
 * `shots` support points and `nquery` query points; adapt with plain
 * gradient steps at α (or the learned α) and record the query MSE after
 * each requested number of steps: the mean over tasks and its 95% interval
 * half-width 1.96·sd/√ntasks.
 *
 * Memory: fewshot_job_new allocates everything (fewshot_job_bytes says how
 * much first).  Pure computation: no I/O, no threads, no global state. */
#ifndef OPTIRS_FEWSHOT_H
#define OPTIRS_FEWSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "fsnet.h"

enum { FEWSHOT_MAML = 0, FEWSHOT_FOMAML = 1, FEWSHOT_META_SGD = 2, FEWSHOT_REPTILE = 3, FEWSHOT_PRETRAIN = 4,
       FEWSHOT_NMETHODS = 5 };

#define FEWSHOT_MAX_SHOTS   100
#define FEWSHOT_MAX_STEPS   20      /* inner steps */
#define FEWSHOT_EVAL_MAX    64      /* step counts one fewshot_eval reports */

/* "maml", "fomaml", "meta_sgd", "reptile", "pretrain"; NULL past the end. */
const char *fewshot_method_name(int method);
/* The reverse; -1 when unknown. */
int         fewshot_method_from_name(const char *name);

typedef struct fewshot_config {
    int      method;          /* FEWSHOT_* */
    int      shots;           /* support points per task (K) */
    int      query;           /* query points per task (0: = shots, as Finn et al.'s code) */
    int      inner_steps;
    double   inner_lr;        /* α; Meta-SGD: every rate's initial value */
    int      meta_batch;
    double   outer_lr;
    uint64_t seed;
    int      hidden, depth;   /* depth hidden layers of width hidden */
} fewshot_config;

/* MAML's sinusoid setting: 10 shots, 1 inner step, α 0.01, meta-batch 25,
 * outer lr 1e-3, 1-40-40-1, seed 0. */
void fewshot_config_defaults(fewshot_config *c);
/* The network of c (0 or ERR_INVALID_ARGUMENT). */
int  fewshot_net(const fewshot_config *c, fsnet *n);

/* One sinusoid task: amplitude and phase from r; then points. */
typedef struct fewshot_sine { double amp, phase; } fewshot_sine;
void fewshot_sine_draw(rng *r, fewshot_sine *t);
/* n points x ~ U[−5, 5] from r and their targets. */
void fewshot_sine_points(const fewshot_sine *t, rng *r, double *x, double *y, int n);

/* Doubles of work fewshot_task_grad needs. */
size_t fewshot_task_work(const fsnet *n, int inner_steps, int batch);
/* One task's outer gradient (see above) at θ = theta with rates alpha
 * (nparams values; NULL: the scalar alpha_s): gtheta (nparams) and, when
 * galpha is not NULL, the gradient with respect to the rate vector
 * (nparams; MAML and META_SGD only).  *loss = L_q(θ_N) (PRETRAIN: the
 * joint loss at θ).  work: fewshot_task_work(n, steps, max(ns, nq)). */
void fewshot_task_grad(const fsnet *n, int method, const double *theta, const double *alpha, double alpha_s,
                       int steps, const double *xs, const double *ys, int ns, const double *xq, const double *yq,
                       int nq, double *gtheta, double *galpha, double *loss, double *work);

typedef struct fewshot_job fewshot_job;

/* Bytes fewshot_job_new(c) allocates (saturating). 0 or ERR_INVALID_ARGUMENT. */
int   fewshot_job_bytes(const fewshot_config *c, uint64_t *out);
/* 0, ERR_INVALID_ARGUMENT (a value out of range) or ERR_NO_MEMORY. */
int   fewshot_job_new(const fewshot_config *c, fewshot_job **out);
void  fewshot_job_free(fewshot_job *j);
/* One outer step; *meta_loss = the mean over tasks of L_q(θ_N), *gnorm the
 * norm of the averaged outer gradient.  0 or ERR_NON_FINITE (θ is then
 * left as it was). */
int   fewshot_step(fewshot_job *j, double *meta_loss, double *gnorm);
int64_t               fewshot_job_step(const fewshot_job *j);
const fsnet          *fewshot_job_net(const fewshot_job *j);
const fewshot_config *fewshot_job_config(const fewshot_job *j);
const double         *fewshot_job_theta(const fewshot_job *j);
/* The learned rates (META_SGD), else NULL. */
const double         *fewshot_job_alpha(const fewshot_job *j);

/* Evaluates θ (rates alpha, NULL: alpha_s) on ntasks tasks of eval_seed:
 * for each steps[i] (≤ FEWSHOT_MAX_STEPS·5, nsteps ≤ FEWSHOT_EVAL_MAX),
 * mean[i] and ci95[i] of the query MSE after steps[i] plain gradient steps
 * on the shots support points.  0, ERR_INVALID_ARGUMENT or ERR_NO_MEMORY. */
int   fewshot_eval(const fsnet *n, const double *theta, const double *alpha, double alpha_s, int shots, int nquery,
                   int ntasks, const int *steps, int nsteps, uint64_t eval_seed, double *mean, double *ci95);

#endif
