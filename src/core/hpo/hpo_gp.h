/* hpo_gp.h — a Gaussian process for the GP sampler: a zero-mean GP over
 * inputs in [0,1]^d with a Matérn-5/2 ARD kernel
 *     k(x, x') = s2 (1 + √5 r + 5 r²/3) exp(−√5 r),  r² = Σ_i ((x_i − x'_i) / ls_i)²
 * plus `noise` (and a jitter of HPO_GP_JITTER) on the diagonal; its
 * Cholesky factor through OpenBLAS's LAPACK (dpotrf, dpotri), the
 * posterior of the latent function at a point, the hyperparameters fitted by
 * maximising the marginal likelihood (hpo_gp_fit), and log expected
 * improvement.  The sampler around it (data, candidates, EI's maximisation)
 * is hpo_gp_sample.c; hpo_sample (hpo.c) dispatches to it.
 *
 * Invariants: 1 <= n <= HPO_GP_MAX_POINTS, 1 <= d <= HPO_MAX_PARAMS; X and
 * y are the caller's and outlive the model; L and alpha are valid after a
 * successful hpo_gp_factor until the next factor or hpo_gp_free.
 * Determinism: no randomness except the rng hpo_gp_fit is handed; the
 * results are bit-identical for the same inputs with the same OpenBLAS
 * kernels (another CPU's kernels may round differently).
 * Errors: 0 or ERR_INVALID_ARGUMENT (bad sizes, a matrix not positive
 * definite), ERR_NO_MEMORY.
 * Thread rules: pure; a model is used by one thread at a time. */
#ifndef OPTIRS_HPO_GP_H
#define OPTIRS_HPO_GP_H

#include "hpo.h"

#define HPO_GP_MAX_POINTS 128      /* observations one model holds (O(n³) per fit step) */
#define HPO_GP_JITTER     1e-8     /* added to K's diagonal besides the noise */

typedef struct hpo_gp {
    int           n, d;
    const double *X;               /* n × d, row-major, each in [0, 1] */
    const double *y;               /* n targets (the sampler standardises them) */
    double        ls[HPO_MAX_PARAMS];   /* length scales, > 0 */
    double        s2;              /* signal variance, > 0 */
    double        noise;           /* noise variance, >= 0 */
    double       *L;               /* n × n, column-major: K's lower Cholesky factor */
    double       *alpha;           /* K⁻¹ y */
    double       *kinv;            /* n × n workspace: K⁻¹ during the fit */
} hpo_gp;

/* Matérn-5/2 correlation at scaled distance r >= 0. */
double hpo_gp_matern52(double r);

/* Allocates the model's buffers for n points in d dimensions (X, y, the
 * hyperparameters are then the caller's to set).  0, ERR_INVALID_ARGUMENT
 * or ERR_NO_MEMORY. */
int hpo_gp_init(hpo_gp *g, int n, int d, const double *X, const double *y);
void hpo_gp_free(hpo_gp *g);

/* K from the hyperparameters, its Cholesky factor and alpha = K⁻¹ y;
 * *lml (if not NULL) the log marginal likelihood
 *     −½ yᵀα − Σ log L_ii − (n/2) log 2π.
 * 0 or ERR_INVALID_ARGUMENT (not positive definite). */
int hpo_gp_factor(hpo_gp *g, double *lml);

/* The posterior mean and variance of the latent function at x (d values)
 * after a successful factor; work holds n doubles.  The variance is
 * clamped at 1e-12 from below. */
void hpo_gp_predict(const hpo_gp *g, const double *x, double *work, double *mean, double *var);

/* Fits ls, s2 and noise by maximising log p(y | θ) + log prior(θ) over the
 * log-hyperparameters: Adam steps along the analytic gradient from
 * HPO_GP_FIT_STARTS starts (the defaults, then draws from r), each
 * HPO_GP_FIT_STEPS steps, clamped to the bounds below; keeps the best θ
 * seen and leaves the model factored at it.  Priors: log ls ~ N(log 0.5, 2²),
 * log s2 ~ N(0, 2²), noise flat.  Bounds: ls in [0.01, 20], s2 in
 * [0.01, 100], noise in [1e-6, 2].  0, ERR_INVALID_ARGUMENT (no θ gave a
 * positive definite K), ERR_NO_MEMORY. */
#define HPO_GP_FIT_STARTS 2
#define HPO_GP_FIT_STEPS  50
typedef struct rng rng;
int hpo_gp_fit(hpo_gp *g, rng *r);

/* log EI for minimisation: log E[max(best − f, 0)] for f ~ N(mean, var),
 * computed stably far in the tail. */
double hpo_gp_log_ei(double mean, double var, double best);

/* The GP sampler's draw for a space of floats and ints (hpo_gp_sample.c):
 * see hpo.h's hpo_sample and docs/studies.md.  r is the trial's stream. */
int hpo_gp_sample(const hpo_space *sp, int direction, const hpo_trial *hist, int nhist, rng *r, double *x);

#endif
