/* hpo_tpe.h — the Tree-structured Parzen Estimator for one parameter
 * (univariate, as Optuna 3.1's default): the finished trials split by
 * hpo_tpe_gamma into a good group l and the rest g, each a Parzen estimator
 * (truncated normals with magic-clip bandwidths and a prior component for
 * numbers; weighted counts with a uniform prior for categoricals), and of
 * n_ei_candidates draws from l the one with the largest log l(x) - log g(x).
 * Used by hpo_sample (hpo.c); see hpo.h for the contract and references.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_HPO_TPE_H
#define OPTIRS_HPO_TPE_H

#include "hpo.h"

/* Parameter `idx` (p) of a new trial from the history, drawn with r.
 * 0, ERR_INVALID_ARGUMENT or ERR_NO_MEMORY. */
int hpo_tpe_param(const hpo_param *p, int idx, const hpo_tpe_opts *opts, int direction, const hpo_trial *hist,
                  int nhist, rng *r, double *out);

#endif
