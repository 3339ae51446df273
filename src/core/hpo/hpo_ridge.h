/* hpo_ridge.h — the architecture search's performance predictor: ridge
 * regression on standardised features, and Spearman's rank correlation to
 * measure how well a predictor orders candidates.
 *
 * Ridge: the columns of X (n × d, row-major) are centred and scaled to unit
 * variance (a constant column gets weight 0) — or scaled by the caller's sd
 * (e.g. over every candidate, not only the observed ones, so that a point
 * far from the few observations is not extrapolated by a tiny sd; sd 0
 * again drops the column) — y is centred, and
 *     w = (ZᵀZ + λ I)⁻¹ Zᵀ(y − ȳ)
 * is solved by a Cholesky factorisation written here (d is small:
 * HPO_RIDGE_MAX_FEATURES); a prediction is ȳ + Σ_j w_j (x_j − μ_j)/s_j.
 * With λ > 0 the system is positive definite for any n >= 1, so one
 * observation already gives a (constant) model.
 *
 * Spearman: ρ = the Pearson correlation of the ranks (ties get their mean
 * rank); NAN when n < 2 or either side is constant.
 *
 * Errors: 0 or ERR_INVALID_ARGUMENT (n < 1, d outside [1, max], λ <= 0 or
 * not finite, a non-finite input).  Thread rules: pure; no allocation. */
#ifndef OPTIRS_HPO_RIDGE_H
#define OPTIRS_HPO_RIDGE_H

#define HPO_RIDGE_MAX_FEATURES 24
#define HPO_SPEARMAN_MAX       256

typedef struct hpo_ridge {
    int    d;
    double mu[HPO_RIDGE_MAX_FEATURES], sd[HPO_RIDGE_MAX_FEATURES];
    double w[HPO_RIDGE_MAX_FEATURES];
    double ybar;
} hpo_ridge;

int    hpo_ridge_fit(hpo_ridge *m, const double *X, const double *y, int n, int d, double lambda);
/* The same with the columns' scales given (d of them, each >= 0). */
int    hpo_ridge_fit_scaled(hpo_ridge *m, const double *X, const double *y, int n, int d, double lambda,
                            const double *sd);
double hpo_ridge_predict(const hpo_ridge *m, const double *x);
/* Spearman's ρ of a and b (n <= HPO_SPEARMAN_MAX, else NAN). */
double hpo_spearman(const double *a, const double *b, int n);

#endif
