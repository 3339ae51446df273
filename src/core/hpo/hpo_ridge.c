/* hpo_ridge.c — ridge regression and Spearman's ρ (see hpo_ridge.h). */
#include "hpo_ridge.h"

#include <math.h>
#include <string.h>

#include "errors.h"

int hpo_ridge_fit(hpo_ridge *m, const double *X, const double *y, int n, int d, double lambda)
{
    return hpo_ridge_fit_scaled(m, X, y, n, d, lambda, NULL);
}

int hpo_ridge_fit_scaled(hpo_ridge *m, const double *X, const double *y, int n, int d, double lambda,
                         const double *sd_in)
{
    if (!m || !X || !y || n < 1 || d < 1 || d > HPO_RIDGE_MAX_FEATURES || !(lambda > 0) || !isfinite(lambda))
        return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) return ERR_INVALID_ARGUMENT;
        for (int j = 0; j < d; j++)
            if (!isfinite(X[i * d + j])) return ERR_INVALID_ARGUMENT;
    }
    memset(m, 0, sizeof *m);
    m->d = d;
    for (int i = 0; i < n; i++) m->ybar += y[i] / n;
    for (int j = 0; j < d; j++) {
        double mu = 0, v = 0;
        for (int i = 0; i < n; i++) mu += X[i * d + j] / n;
        if (sd_in) {
            if (!isfinite(sd_in[j]) || sd_in[j] < 0) return ERR_INVALID_ARGUMENT;
            m->mu[j] = mu;
            m->sd[j] = sd_in[j] > 1e-12 ? sd_in[j] : 0;
            continue;
        }
        for (int i = 0; i < n; i++) v += (X[i * d + j] - mu) * (X[i * d + j] - mu) / n;
        m->mu[j] = mu;
        m->sd[j] = v > 1e-24 ? sqrt(v) : 0;   /* 0: a constant column, weight 0 */
    }
    /* A = ZᵀZ + λI, b = Zᵀ(y − ȳ) */
    double A[HPO_RIDGE_MAX_FEATURES][HPO_RIDGE_MAX_FEATURES] = {{0}}, b[HPO_RIDGE_MAX_FEATURES] = {0};
    for (int i = 0; i < n; i++) {
        double z[HPO_RIDGE_MAX_FEATURES];
        for (int j = 0; j < d; j++) z[j] = m->sd[j] > 0 ? (X[i * d + j] - m->mu[j]) / m->sd[j] : 0;
        for (int j = 0; j < d; j++) {
            b[j] += z[j] * (y[i] - m->ybar);
            for (int k = 0; k <= j; k++) A[j][k] += z[j] * z[k];
        }
    }
    for (int j = 0; j < d; j++) A[j][j] += lambda;
    /* Cholesky A = L Lᵀ in the lower triangle */
    for (int j = 0; j < d; j++) {
        double s = A[j][j];
        for (int k = 0; k < j; k++) s -= A[j][k] * A[j][k];
        if (!(s > 0)) return ERR_INVALID_ARGUMENT;
        A[j][j] = sqrt(s);
        for (int i = j + 1; i < d; i++) {
            double t = A[i][j];
            for (int k = 0; k < j; k++) t -= A[i][k] * A[j][k];
            A[i][j] = t / A[j][j];
        }
    }
    double u[HPO_RIDGE_MAX_FEATURES];
    for (int i = 0; i < d; i++) {   /* L u = b */
        double t = b[i];
        for (int k = 0; k < i; k++) t -= A[i][k] * u[k];
        u[i] = t / A[i][i];
    }
    for (int i = d - 1; i >= 0; i--) {   /* Lᵀ w = u */
        double t = u[i];
        for (int k = i + 1; k < d; k++) t -= A[k][i] * m->w[k];
        m->w[i] = t / A[i][i];
    }
    return 0;
}

double hpo_ridge_predict(const hpo_ridge *m, const double *x)
{
    double p = m->ybar;
    for (int j = 0; j < m->d; j++)
        if (m->sd[j] > 0) p += m->w[j] * (x[j] - m->mu[j]) / m->sd[j];
    return p;
}

/* Mean ranks (1-based, ties averaged) of v into r. */
static void ranks(const double *v, double *r, int n)
{
    for (int i = 0; i < n; i++) {
        int less = 0, eq = 0;
        for (int k = 0; k < n; k++) {
            less += v[k] < v[i];
            eq += v[k] == v[i];
        }
        r[i] = less + (eq + 1) / 2.0;
    }
}

double hpo_spearman(const double *a, const double *b, int n)
{
    if (!a || !b || n < 2 || n > HPO_SPEARMAN_MAX) return NAN;
    for (int i = 0; i < n; i++)
        if (!isfinite(a[i]) || !isfinite(b[i])) return NAN;
    double ra[HPO_SPEARMAN_MAX], rb[HPO_SPEARMAN_MAX], ma = 0, mb = 0;
    ranks(a, ra, n);
    ranks(b, rb, n);
    for (int i = 0; i < n; i++) {
        ma += ra[i] / n;
        mb += rb[i] / n;
    }
    double sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    if (!(saa > 0) || !(sbb > 0)) return NAN;
    return sab / sqrt(saa * sbb);
}
