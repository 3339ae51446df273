/* hpo_gp.c — the Gaussian process of the GP sampler: kernel, Cholesky
 * factor (OpenBLAS's LAPACK), posterior, marginal-likelihood fit, log EI.
 * See hpo_gp.h. */
#include "hpo_gp.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "rng.h"

/* LAPACK as libopenblas exports it (Debian's OpenBLAS carries LAPACK; its
 * LAPACKE is a separate package the project does not use).  The trailing
 * size_t is the Fortran ABI's hidden length of the character argument. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);

#define SQRT5 2.23606797749978969641

double hpo_gp_matern52(double r) { return (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * exp(-SQRT5 * r); }

int hpo_gp_init(hpo_gp *g, int n, int d, const double *X, const double *y)
{
    memset(g, 0, sizeof *g);
    if (n < 1 || n > HPO_GP_MAX_POINTS || d < 1 || d > HPO_MAX_PARAMS || !X || !y) return ERR_INVALID_ARGUMENT;
    size_t nn = (size_t)n * (size_t)n;   /* at most HPO_GP_MAX_POINTS² (16384) */
    g->L = malloc(sizeof(double) * nn);
    g->kinv = malloc(sizeof(double) * nn);
    g->alpha = malloc(sizeof(double) * (size_t)n);
    if (!g->L || !g->kinv || !g->alpha) {
        hpo_gp_free(g);
        return ERR_NO_MEMORY;
    }
    g->n = n;
    g->d = d;
    g->X = X;
    g->y = y;
    for (int i = 0; i < d; i++) g->ls[i] = 0.5;
    g->s2 = 1.0;
    g->noise = 1e-2;
    return 0;
}

void hpo_gp_free(hpo_gp *g)
{
    free(g->L);
    free(g->kinv);
    free(g->alpha);
    g->L = g->kinv = g->alpha = NULL;
}

/* r² between x and row b of X under the length scales. */
static double dist2(const hpo_gp *g, const double *x, const double *xb)
{
    double s = 0;
    for (int i = 0; i < g->d; i++) {
        double t = (x[i] - xb[i]) / g->ls[i];
        s += t * t;
    }
    return s;
}

int hpo_gp_factor(hpo_gp *g, double *lml)
{
    int n = g->n, info = 0;
    for (int b = 0; b < n; b++) {
        g->L[(size_t)b * n + b] = g->s2 + g->noise + HPO_GP_JITTER;
        for (int a = b + 1; a < n; a++)   /* lower triangle, column-major */
            g->L[(size_t)b * n + a] =
                g->s2 * hpo_gp_matern52(sqrt(dist2(g, g->X + (size_t)a * g->d, g->X + (size_t)b * g->d)));
    }
    dpotrf_("L", &n, g->L, &n, &info, 1);
    if (info != 0) return ERR_INVALID_ARGUMENT;
    memcpy(g->alpha, g->y, sizeof(double) * (size_t)n);
    cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, g->L, n, g->alpha, 1);
    if (lml) {
        double q = 0, ld = 0;
        for (int i = 0; i < n; i++) {
            q += g->alpha[i] * g->alpha[i];
            ld += log(g->L[(size_t)i * n + i]);
        }
        *lml = -0.5 * q - ld - 0.5 * n * log(2 * M_PI);
    }
    cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, n, g->L, n, g->alpha, 1);
    return 0;
}

void hpo_gp_predict(const hpo_gp *g, const double *x, double *work, double *mean, double *var)
{
    int n = g->n;
    double m = 0;
    for (int a = 0; a < n; a++) {
        work[a] = g->s2 * hpo_gp_matern52(sqrt(dist2(g, x, g->X + (size_t)a * g->d)));
        m += work[a] * g->alpha[a];
    }
    cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, g->L, n, work, 1);
    double v = g->s2;
    for (int a = 0; a < n; a++) v -= work[a] * work[a];
    *mean = m;
    *var = v > 1e-12 ? v : 1e-12;
}

/* ---- the fit ------------------------------------------------------------------ */

#define LS_MIN 0.01
#define LS_MAX 20.0
#define S2_MIN 0.01
#define S2_MAX 100.0
#define NOISE_MIN 1e-6
#define NOISE_MAX 2.0
#define PRIOR_SD 2.0

/* θ = (log ls_0 .. log ls_{d-1}, log s2, log noise) */
static void set_theta(hpo_gp *g, const double *th)
{
    for (int i = 0; i < g->d; i++) g->ls[i] = exp(th[i]);
    g->s2 = exp(th[g->d]);
    g->noise = exp(th[g->d + 1]);
}

static void clamp_theta(int d, double *th)
{
    for (int i = 0; i < d; i++) th[i] = fmin(fmax(th[i], log(LS_MIN)), log(LS_MAX));
    th[d] = fmin(fmax(th[d], log(S2_MIN)), log(S2_MAX));
    th[d + 1] = fmin(fmax(th[d + 1], log(NOISE_MIN)), log(NOISE_MAX));
}

static double log_prior(int d, const double *th, double *grad)
{
    double lp = 0, c = log(0.5);
    for (int i = 0; i < d; i++) {
        double z = (th[i] - c) / PRIOR_SD;
        lp -= 0.5 * z * z;
        if (grad) grad[i] = -z / PRIOR_SD;
    }
    double z = th[d] / PRIOR_SD;
    lp -= 0.5 * z * z;
    if (grad) {
        grad[d] = -z / PRIOR_SD;
        grad[d + 1] = 0;
    }
    return lp;
}

/* The objective (log marginal likelihood + log prior) at the model's θ and
 * its gradient in grad (d + 2).  0 or ERR_INVALID_ARGUMENT. */
static int objective(hpo_gp *g, const double *th, double *obj, double *grad)
{
    int n = g->n, d = g->d, info = 0;
    double lml;
    int rc = hpo_gp_factor(g, &lml);
    if (rc) return rc;
    double lp = log_prior(d, th, grad);
    *obj = lml + lp;
    memcpy(g->kinv, g->L, sizeof(double) * (size_t)n * (size_t)n);
    dpotri_("L", &n, g->kinv, &n, &info, 1);
    if (info != 0) return ERR_INVALID_ARGUMENT;
    /* W = α αᵀ − K⁻¹ (lower triangle of kinv is valid); ∂/∂θ_j = ½ Σ W ∘ ∂K/∂θ_j */
    double gs2 = 0, gnoise = 0;
    for (int b = 0; b < n; b++) {
        const double *xb = g->X + (size_t)b * d;
        double wbb = g->alpha[b] * g->alpha[b] - g->kinv[(size_t)b * n + b];
        gs2 += 0.5 * wbb * g->s2;
        gnoise += 0.5 * wbb * g->noise;
        for (int a = b + 1; a < n; a++) {
            const double *xa = g->X + (size_t)a * d;
            double w = g->alpha[a] * g->alpha[b] - g->kinv[(size_t)b * n + a];   /* both triangles: ×2, ×½ */
            double r = sqrt(dist2(g, xa, xb)), e = exp(-SQRT5 * r);
            gs2 += w * g->s2 * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * e;
            double c = w * g->s2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e;
            for (int i = 0; i < d; i++) {
                double t = (xa[i] - xb[i]) / g->ls[i];
                grad[i] += c * t * t;
            }
        }
    }
    grad[d] += gs2;
    grad[d + 1] += gnoise;
    return 0;
}

int hpo_gp_fit(hpo_gp *g, rng *r)
{
    int d = g->d, k = d + 2;
    double th[HPO_MAX_PARAMS + 2], best[HPO_MAX_PARAMS + 2], grad[HPO_MAX_PARAMS + 2];
    double m[HPO_MAX_PARAMS + 2], v[HPO_MAX_PARAMS + 2];
    double best_obj = -INFINITY;
    const double lr = 0.1, b1 = 0.9, b2 = 0.999;
    for (int s = 0; s < HPO_GP_FIT_STARTS; s++) {
        for (int i = 0; i < d; i++) th[i] = s == 0 ? log(0.5) : log(0.1) + rng_uniform(r) * (log(2.0) - log(0.1));
        th[d] = 0;
        th[d + 1] = s == 0 ? log(1e-2) : log(1e-4) + rng_uniform(r) * (log(1e-1) - log(1e-4));
        memset(m, 0, sizeof m);
        memset(v, 0, sizeof v);
        for (int t = 1; t <= HPO_GP_FIT_STEPS; t++) {
            set_theta(g, th);
            double obj;
            if (objective(g, th, &obj, grad)) break;
            if (obj > best_obj) {
                best_obj = obj;
                memcpy(best, th, sizeof(double) * (size_t)k);
            }
            double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
            for (int i = 0; i < k; i++) {
                if (!isfinite(grad[i])) grad[i] = 0;
                m[i] = b1 * m[i] + (1 - b1) * grad[i];
                v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
                th[i] += lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8);   /* ascent */
            }
            clamp_theta(d, th);
        }
    }
    if (best_obj == -INFINITY) return ERR_INVALID_ARGUMENT;
    set_theta(g, best);
    return hpo_gp_factor(g, NULL);
}

/* ---- expected improvement ------------------------------------------------------------ */

double hpo_gp_log_ei(double mean, double var, double best)
{
    double s = sqrt(var), z = (best - mean) / s;
    if (z > -6) {
        double cdf = 0.5 * erfc(-z / sqrt(2.0)), pdf = exp(-0.5 * z * z) / sqrt(2 * M_PI);
        double h = z * cdf + pdf;
        if (h > 0) return log(s) + log(h);
    }
    /* z Φ(z) + φ(z) = φ(z) (1 − t R(t)), t = −z, R Mills' ratio Φ(−t)/φ(t):
     * its continued fraction 1/(t + 1/(t + 2/(t + 3/(t + …)))) for moderate t,
     * the asymptotic series 1/t² − 3/t⁴ + 15/t⁶ − 105/t⁸ far out */
    double t = -z, h;
    if (t < 40) {
        double f = t;
        for (int k = 80; k >= 1; k--) f = t + k / f;
        h = 1.0 - t / f;
    } else {
        double u = 1.0 / (t * t);
        h = u * (1.0 - 3.0 * u * (1.0 - 5.0 * u * (1.0 - 7.0 * u)));
    }
    return log(s) - 0.5 * z * z - 0.5 * log(2 * M_PI) + log(h);
}
