/* meta_reptile.h — first-order MAML over a learned optimizer's own weights:
 * Reptile across task families (Nichol et al. 2018), with meta.h's ES/PES
 * outer step as the inner adaptation.
 *
 * A job whose meta_config has maml_inner_steps = k > 0 trains general
 * weights θ so that k adaptation steps specialise them well.  Its tasks are
 * grouped into families by family name (in order of first appearance: F
 * groups).  Outer step s:
 *   1. family f = s mod F;
 *   2. an inner meta_job starts from θ with the job's settings, only f's
 *      tasks, maml_inner_steps 0 and seed meta_reptile_inner_seed(seed, s)
 *      (fresh outer Adam moments, fresh PES particles: exactly the start of
 *      an adaptation job warm-started from θ);
 *   3. k outer steps of that inner job (run by the caller's function, so the
 *      service spreads particles over its threads) give θ_k;
 *   4. θ ← θ + maml_step · (θ_k − θ).
 * The outer job's own Adam moments and particles stay unused; its step
 * counts Reptile steps, so meta_save / meta_load checkpoint it as usual
 * (the fingerprint carries k and the step size).
 *
 * Invariants: the update touches only what the inner job trains
 * (meta_config.train); with maml_step 1 and one family θ becomes θ_k
 * exactly.  Pure computation: no I/O, no locks; one job per thread. */
#ifndef OPTIRS_META_REPTILE_H
#define OPTIRS_META_REPTILE_H

#include <stdint.h>

#include "meta.h"

#define META_MAML_MAX_INNER 100

/* Runs one outer step of `inner` (meta_step, or the caller's threaded
 * version); 0 or an ERR_* code. */
typedef int (*meta_reptile_run_fn)(void *ctx, meta_job *inner, meta_report *rep);

/* Number of families of c (distinct tasks[].family, >= 1 when ntasks >= 1). */
int      meta_reptile_families(const meta_config *c);
/* The seed of the inner job of outer step s. */
uint64_t meta_reptile_inner_seed(uint64_t seed, int64_t step);
/* The inner job's configuration at outer step s (step 2 above).  0 or
 * ERR_INVALID_ARGUMENT (maml_inner_steps < 1 or no tasks). */
int      meta_reptile_inner_config(const meta_config *c, int64_t step, meta_config *out);
/* One Reptile step of j (maml_inner_steps > 0); run == NULL uses
 * meta_step.  rep: step = j's new step, meta_loss = mean of the inner
 * steps' meta-losses, grad_norm = |θ_k − θ|, failed_paths summed.
 * 0, ERR_INVALID_ARGUMENT, or the inner job's error (θ unchanged then). */
int      meta_reptile_step(meta_job *j, meta_reptile_run_fn run, void *ctx, meta_report *rep);

#endif
