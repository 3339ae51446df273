/* nas_run.h — an architecture search (nas_spec.h) run to its end on the
 * calling thread, on the meta-training job machinery (issue #20 part 3).
 *
 * 1. Each candidate gets a short PES meta-training run of outer_steps steps
 *    from its default init; its early meta-loss curve, its theta count and
 *    its wall time per outer step are kept.
 * 2. A performance predictor ranks the candidates not yet fully trained:
 *    ridge regression (hpo_ridge.h, λ = NAS_RIDGE_LAMBDA) of the selection
 *    score on the architecture features (the family one-hot, log2 hidden,
 *    depth, heads, log theta count) and the early-curve features (first and
 *    last meta-loss, the mean of the curve's last quarter, the slope), each
 *    scaled over all candidates (not only the scored few, which would
 *    extrapolate wildly), refitted after every score; with fewer than two scores it is the
 *    early curve's last-quarter mean alone (lower ranks first).  The best
 *    predicted candidate gets the long run (full_steps, a fresh job of the
 *    same seed) and its selection score; `full` candidates in all.
 * 3. The selection score: the mean log meta-loss (meta_family_loss,
 *    eval_steps steps × eval_seeds fixed seeds) over meta_score.h's fixed
 *    subset of deploy/eval/selection.suite (meta_score_selection_of, which
 *    daemon-run studies share); lower is better.  The
 *    shipped mlp_lopt record is scored the same way when present.
 * 4. The predictor's measure: Spearman's ρ between each fully trained
 *    candidate's leave-one-out prediction (the ridge fitted on the other
 *    scored candidates) and the real scores; beside it, the same ρ of the
 *    early curve's last-quarter mean alone (the predictor without a model).
 * The result is the best-scored candidate's theta as the next version of
 * the weights record sp->name, its provenance holding "nas": every
 * candidate (architecture, theta count, early curve, cost, predicted and
 * real score), the Spearman ρ and the shipped baseline.  Progress: the
 * job row's step counts outer steps over all runs (total nas_run_total);
 * each one adds a curve point.  The cancel flag is checked between outer
 * steps; a cancelled or interrupted search stores nothing.
 *
 * Thread rules: any thread; the job's row must exist before nas_run. */
#ifndef OPTIRS_NAS_RUN_H
#define OPTIRS_NAS_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "meta_run.h"
#include "nas_spec.h"
#include "store.h"

#define NAS_RIDGE_LAMBDA 1.0

/* Outer steps the whole search takes (the job row's outer_steps). */
int64_t nas_run_total(const nas_spec *sp);
/* Runs job `id`.  0 (done), 1 (cancelled or interrupted) or an ERR_*
 * (the row says "failed" with msg). */
int     nas_run(store *db, const char *id, const nas_spec *sp, const meta_run_io *io, int64_t *wversion, char *msg,
                size_t cap);

#endif
