/* meta_score.h — a learned optimizer's theta scored on a fixed subset of
 * the selection suite (deploy/eval/selection.suite): the score the
 * architecture search ranks its candidates by (nas_run.h) and the final
 * value of a study trial that meta-trains (study_meta.h).
 *
 * The subset, in this order: "rosenbrock dim=2", "quadratic dim=30",
 * "logistic_regression dim=40 batch=64" (three families, one task each).
 * The score over its first `ntasks` tasks is the mean over those tasks of
 * meta_family_loss (meta_continual.h: the mean meta-loss of `horizon` inner
 * steps over `seeds` fixed seed triples — the same problems for every
 * theta), under the job's config mc (its optimizer, hidden, depth, log_loss
 * and objective); lower is better.  A non-finite score is ERR_INVALID_ARGUMENT.
 *
 * Thread rules: pure (allocates through meta_unroll_loss); any thread. */
#ifndef OPTIRS_META_SCORE_H
#define OPTIRS_META_SCORE_H

#include <stddef.h>

#include "meta.h"

#define META_SCORE_SELECTION_N 3
extern const char *const meta_score_selection[META_SCORE_SELECTION_N];

/* 0 with *out, or ERR_* with msg (ntasks outside [1, META_SCORE_SELECTION_N],
 * horizon or seeds < 1: ERR_INVALID_ARGUMENT). */
int meta_score_selection_of(const meta_config *mc, const float *theta, int ntasks, int horizon, int seeds,
                            double *out, char *msg, size_t cap);

#endif
