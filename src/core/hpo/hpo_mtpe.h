/* hpo_mtpe.h — the multivariate TPE (Optuna's TPESampler(multivariate=True),
 * after Falkner et al. 2018, BOHB): one Parzen estimator over a group of
 * parameters jointly.  The finished trials are split as the univariate TPE
 * splits them, and each part keeps the trials in which every parameter of
 * the group is present (hpo_tpe_split); each part is a mixture of product kernels — one
 * component per observation, a truncated normal per number and a weighted
 * count per categorical, plus a prior component (the range's centre, as
 * wide as the range; uniform over choices) — weighted as the univariate
 * estimator weights its components.  A number's bandwidth follows Optuna
 * 3.1's multivariate rule (Scott's rule as in BOHB): 0.2 n^(-1/(d + 4))
 * times its range for n observations and d parameters, clipped into
 * [range / min(100, n + 2), range] (the univariate "magic clip").
 * n_ei_candidates points are drawn jointly from l (a component picks every
 * parameter's value) and the one with the largest log l(x) - log g(x) wins.
 * Used by hpo_sample (hpo.c) for each group of hpo_space_groups.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_HPO_MTPE_H
#define OPTIRS_HPO_MTPE_H

#include "hpo.h"

/* Parameters dims[0..nd) of sp for a new trial, jointly, into x[dims[j]]
 * (x indexed like the space), drawn with r.  0 or ERR_NO_MEMORY. */
int hpo_mtpe_group(const hpo_space *sp, const int *dims, int nd, const hpo_tpe_opts *opts, int direction,
                   const hpo_trial *hist, int nhist, rng *r, double *x);

#endif
