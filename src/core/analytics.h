/* analytics.h — the math behind a session's step analytics and its
 * learning-curve tracker: per-step statistics computed in the step path
 * (per-tensor norms, the update/parameter ratio, the cosine between
 * consecutive updates), smoothing (debiased EMA, trailing window mean),
 * trend detection with a confidence, convergence speed and stability.
 * (Downsampled curves are the store's: store_metrics_downsample.)
 *
 * Curves are arrays of (step, value) with ascending steps; a NAN value means
 * "not known at that step" and is skipped by every function (it never
 * poisons a mean or a fit).
 *
 * Thread rules: pure functions, no allocation except where a function says
 * so, safe from any thread. */
#ifndef OPTIRS_ANALYTICS_H
#define OPTIRS_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>
#include "opt.h"

/* ---- per-step statistics ------------------------------------------------- */

/* Per-tensor norms are recorded for the first ANALYTICS_MAX_TENSORS tensors
 * of a layout; larger layouts report only the global figures beyond them. */
#define ANALYTICS_MAX_TENSORS 64

typedef struct analytics_step {
    double update_cos;     /* cos(update_t, update_{t-1}); NAN when either is zero */
    double update_ratio;   /* |update| / |params| (params after the step); NAN when |params| = 0 */
    int    ntensors;       /* per-tensor entries filled (0 for a one-tensor layout) */
    double grad[ANALYTICS_MAX_TENSORS];    /* L2 norm of each tensor's gradient */
    double update[ANALYTICS_MAX_TENSORS];  /* … of its update */
    double param[ANALYTICS_MAX_TENSORS];   /* … of its parameters after the step */
} analytics_step;

/* Fills *out for one applied step, reading each vector once (per tensor,
 * vecmath's vectorised sums; their order is theirs, not element by element):
 * grads (as received), params (after the step), update and prev_update (the
 * previous step's update; NULL = none).  update_norm and param_norm are the
 * step's global norms (opt_step's step_info), used for the ratio and the
 * cosine.  A one-tensor layout reads only update and prev_update. */
void analytics_step_stats(const layout *lay, const float *grads, const float *params, const float *update,
                          const float *prev_update, double update_norm, double param_norm,
                          analytics_step *out);

/* ---- smoothing ------------------------------------------------------------- */

/* Debiased exponential moving average (Adam's bias correction):
 * m_k = beta m_{k-1} + (1 - beta) x_k over the finite x only, and
 * out[i] = m_k / (1 - beta^k) with k the finite samples so far (NAN before
 * the first).  beta in [0, 1).  out may alias x. */
void analytics_ema(const double *x, size_t n, double beta, double *out);
/* Trailing window mean over the last `w` entries (finite ones only; NAN when
 * none).  w >= 1.  out must not alias x. */
void analytics_window_mean(const double *x, size_t n, size_t w, double *out);

/* ---- trend ------------------------------------------------------------------ */

typedef enum { TREND_INSUFFICIENT, TREND_IMPROVING, TREND_PLATEAU, TREND_DIVERGING } trend_kind;

typedef struct analytics_trend {
    trend_kind kind;
    double     confidence;   /* probability of `kind` under the normal error model, [0, 1] */
    double     change;       /* median of the last third minus median of the first third:
                                a log-ratio (log_space) or relative to mean|y| */
    double     slope;        /* change per step between the thirds' median steps */
    double     noise;        /* robust point-to-point noise sigma, in the same space */
    double     rise_threshold;   /* the rise that counts as diverging: max(threshold, 2 noise) */
    double     p_improving, p_plateau, p_diverging;
    int        log_space;    /* 1: compared log(y) (every y > 0) */
    size_t     n;            /* finite points used */
} analytics_trend;

/* Scratch a trend needs: ANALYTICS_TREND_WORK(n) doubles for n points. */
#define ANALYTICS_TREND_WORK(n) (n)

/* Classifies the finite (step, y) points of a window — in log(y) when every
 * y > 0, else in y / mean|y| — robustly against minibatch noise: the change
 * c is the median of the last third of the points minus the median of the
 * first third; the noise sigma is 1.4826 × the median absolute deviation of
 * the point-to-point differences / sqrt 2 (the trend cancels out of it, and
 * a few outliers do not move it); c's standard error is 1.2533 sigma
 * sqrt(1/n1 + 1/n3) (that of a median).  Improving when c falls below
 * -threshold, diverging when it rises above max(threshold, 2 sigma) — a
 * rise within twice the noise of single steps is a plateau, not a
 * divergence — plateau in between; each probability is that of c lying in
 * that region under a normal error, `kind` the most probable, `confidence`
 * its probability.  (`threshold` is `rel`, e.g. 0.02 for 2%, log(1 + rel)
 * in log space.)  `work` holds ANALYTICS_TREND_WORK(n) doubles.  Fewer than
 * 6 finite points (two per third) give TREND_INSUFFICIENT. */
void analytics_trend_fit(const int64_t *steps, const double *y, size_t n, double rel, double *work,
                         analytics_trend *out);
const char *analytics_trend_name(trend_kind k);

/* ---- convergence and stability ------------------------------------------- */

/* Steps from the first finite point until the smoothed curve ys (e.g. an
 * EMA of the loss) first covers `fraction` (0, 1] of its total drop from its
 * first value to its minimum.  -1 when the curve never dropped. */
int64_t analytics_steps_to_fraction(const int64_t *steps, const double *ys, size_t n, double fraction);

typedef struct analytics_stability {
    double loss_var;        /* variance of (loss - smoothed loss) */
    double loss_rel_std;    /* its standard deviation over mean |smoothed loss| */
    int64_t spikes;         /* updates whose norm exceeds `spike_factor` × the EMA of the norms before them */
    double max_spike;       /* largest norm / EMA ratio seen (NAN before any) */
    int64_t spike_last_step;/* step of the last spike, -1 when none */
} analytics_stability;

/* Stability of a curve: loss, its smoothed form (same length) and the update
 * norms (may be NULL).  Spike detection starts after 10 finite norms and
 * uses an EMA with beta 0.9 of the earlier norms. */
void analytics_stability_of(const int64_t *steps, const double *loss, const double *smooth,
                            const double *update_norm, size_t n, double spike_factor,
                            analytics_stability *out);

#endif
