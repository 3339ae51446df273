/* evalsuite.h — evaluation of an optimizer on built-in tasks: train for H
 * steps over several seeds and report the final training loss, the number
 * that decides whether a learned optimizer earns its place (issue #3 §6).
 *
 * One run (seed s): task created with seed s, params initialised from seed
 * s, minibatches from rng seed s + 1; H steps of opt_step; the run's final
 * loss = mean of the minibatch training losses of the last ceil(H/10) steps
 * (each loss measured at the params the step starts from).  A run whose
 * loss or update becomes non-finite stops and counts as final loss +inf
 * (res->nonfinite counts them).  The Adam baseline tries 10 learning rates
 * log-spaced over [1e-4, 1e-1] and keeps the best mean final loss.
 *
 * Pure computation; one thread per call; no global state except the
 * learned optimizers' weights table read by opt_init (see lopt.h). */
#ifndef OPTIRS_EVALSUITE_H
#define OPTIRS_EVALSUITE_H

#include <stdint.h>
#include "opt.h"
#include "tasks.h"

#define EVAL_MAX_SEEDS 16
#define EVAL_GRID      10

typedef struct eval_result {
    int    nseeds;
    double final_loss[EVAL_MAX_SEEDS];  /* per seed */
    double mean, std;                   /* over seeds (+inf when any run failed) */
    int    nonfinite;                   /* runs that hit a non-finite value */
} eval_result;

/* Runs cfg on family(tp) for `horizon` steps for each of seeds[0..nseeds).
 * 0 or ERR_INVALID_ARGUMENT (nseeds out of [1, EVAL_MAX_SEEDS], horizon < 1),
 * or the error of task_create / opt_init. */
int eval_run(const opt_config *cfg, const char *family, const task_params *tp, int64_t horizon,
             const uint64_t *seeds, int nseeds, eval_result *res);

/* The grid's i-th learning rate: 1e-4 · 1000^(i/9). */
double eval_grid_lr(int i);

/* Adam at every grid lr; *best_lr and *best receive the lr with the lowest
 * mean final loss.  Errors as eval_run. */
int eval_adam_tuned(const char *family, const task_params *tp, int64_t horizon,
                    const uint64_t *seeds, int nseeds, double *best_lr, eval_result *best);

#endif
