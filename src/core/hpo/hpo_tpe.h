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

/* Parameter `idx` of sp for a new trial from the history (the trials in
 * which it was present), drawn with r.  0 or ERR_NO_MEMORY. */
int hpo_tpe_param(const hpo_space *sp, int idx, const hpo_tpe_opts *opts, int direction, const hpo_trial *hist,
                  int nhist, rng *r, double *out);

/* ---- shared with the multivariate TPE (hpo_mtpe.c) ------------------------ */

/* The finished trials (complete, pruned), ranked (complete ones by value;
 * pruned ones the furthest along first, then by their last value) and
 * split into the best hpo_tpe_gamma(m) of all m and the rest, as Optuna
 * 3.1 does; then of each part only the trials in which every parameter
 * dims[0..nd) of sp is present: order[0..nb) the good ones, order[nb..k)
 * the rest, each part in trial order (indices into hist; order holds nhist
 * entries).  Returns k >= 0 (*nbelow = nb) or ERR_NO_MEMORY. */
int hpo_tpe_split(const hpo_space *sp, const int *dims, int nd, int direction, const hpo_trial *hist, int nhist,
                  int *order, int *nbelow);
/* The m + 1 component weights of an estimator of m observations (Optuna's
 * default_weights) and the prior (prior_weight), normalised. */
void hpo_tpe_weights(int m, double prior_weight, double *w);
/* A component by weight (w sums to 1, n entries). */
int hpo_tpe_pick(const double *w, int n, rng *r);
/* A number's transformed range [low, high] and grid cell q (0: a density),
 * and the transforms (from_t snaps onto the grid). */
void hpo_tpe_bounds(const hpo_param *p, double *low, double *high, double *q);
double hpo_tpe_to_t(const hpo_param *p, double v);
double hpo_tpe_from_t(const hpo_param *p, double t);
/* logw + the log density at x (q 0) or the log mass of the cell of width q
 * around x of the normal (mu, sigma) truncated to [low, high]. */
double hpo_tpe_kernel_logp(double logw, double mu, double sigma, double low, double high, double q, double x);
/* A draw of that truncated normal (rejection; after 64 misses the clamped
 * last draw). */
double hpo_tpe_kernel_draw(double mu, double sigma, double low, double high, rng *r);

#endif
