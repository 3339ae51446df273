/* analytics.c — see analytics.h.
 *
 * Trend model: the window's finite points z_1..z_m (log y or y / mean|y|)
 * split into thirds by count; c = median(last third) - median(first third).
 * Minibatch losses are noisy, skewed and spiky, so both the level and the
 * noise are medians: sigma = 1.4826 MAD(z_{i+1} - z_i) / sqrt 2, and c ~
 * N(c_hat, se^2) with se = 1.2533 sigma sqrt(1/n1 + 1/n3).  With r the
 * threshold (log(1 + r) in log space) and u = max(r, 2 sigma) the rise that
 * counts as diverging, the probabilities are P(c < -r), P(-r <= c <= u) and
 * P(c > u); they sum to one.  (A least-squares line through log-loss, used
 * before, called half the windows of real minibatch curves "diverging":
 * tests/unit/core/test_analytics.c replays such curves.) */
#include "analytics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vecmath.h"

/* ---- per-step statistics ------------------------------------------------- */

void analytics_step_stats(const layout *lay, const float *grads, const float *params, const float *update,
                          const float *prev_update, double update_norm, double param_norm,
                          analytics_step *out)
{
    out->ntensors = 0;
    out->update_ratio = param_norm > 0 ? update_norm / param_norm : NAN;
    double dot = 0, psq = 0;
    if (lay->ntensors <= 1) {
        if (prev_update) vm_dot_sumsq(update, prev_update, lay->n, &dot, &psq);
    } else {
        int nt = lay->ntensors < ANALYTICS_MAX_TENSORS ? lay->ntensors : ANALYTICS_MAX_TENSORS;
        for (int k = 0; k < lay->ntensors; k++) {
            const layout_tensor *t = &lay->tensors[k];
            const float *g = grads + t->offset, *p = params + t->offset, *u = update + t->offset;
            const float *q = prev_update ? prev_update + t->offset : NULL;
            if (q) {
                double d, s;
                vm_dot_sumsq(u, q, t->size, &d, &s);
                dot += d;
                psq += s;
            }
            if (k < nt) {
                out->grad[k] = sqrt(vm_sumsq(g, t->size));
                out->param[k] = sqrt(vm_sumsq(p, t->size));
                out->update[k] = sqrt(vm_sumsq(u, t->size));
            }
        }
        out->ntensors = nt;
    }
    double den = update_norm * sqrt(psq);
    out->update_cos = den > 0 ? dot / den : NAN;
    if (out->update_cos > 1) out->update_cos = 1;
    if (out->update_cos < -1) out->update_cos = -1;
}

/* ---- smoothing ------------------------------------------------------------- */

void analytics_ema(const double *x, size_t n, double beta, double *out)
{
    double m = 0, bk = 1;   /* bk = beta^k */
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (isfinite(v)) {
            m = beta * m + (1 - beta) * v;
            bk *= beta;
            any = 1;
        }
        out[i] = any ? m / (1 - bk) : NAN;
    }
}

void analytics_window_mean(const double *x, size_t n, size_t w, double *out)
{
    if (w < 1) w = 1;
    double sum = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(x[i])) { sum += x[i]; cnt++; }
        if (i >= w && isfinite(x[i - w])) { sum -= x[i - w]; cnt--; }
        out[i] = cnt ? sum / (double)cnt : NAN;
    }
}

/* ---- trend ------------------------------------------------------------------ */

static double norm_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

const char *analytics_trend_name(trend_kind k)
{
    switch (k) {
    case TREND_IMPROVING: return "improving";
    case TREND_PLATEAU: return "plateau";
    case TREND_DIVERGING: return "diverging";
    case TREND_INSUFFICIENT: default: return "insufficient_data";
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1), sorting v in place. */
static double median_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void analytics_trend_fit(const int64_t *steps, const double *y, size_t n, double rel, double *work,
                         analytics_trend *out)
{
    memset(out, 0, sizeof *out);
    out->kind = TREND_INSUFFICIENT;
    out->change = out->slope = out->noise = out->rise_threshold = NAN;
    out->p_improving = out->p_plateau = out->p_diverging = NAN;
    size_t m = 0;
    int allpos = 1;
    double absmean = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        if (y[i] <= 0) allpos = 0;
        absmean += fabs(y[i]);
        m++;
    }
    out->n = m;
    if (m < 6) return;
    absmean /= (double)m;
    double scale = absmean > 0 ? absmean : 1;
    out->log_space = allpos;
    /* the finite points, transformed, in order; their steps' thirds */
    double *z = work;
    size_t k = 0, t = m / 3;
    int64_t sa = 0, sc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        if (k == t / 2) sa = steps[i];
        if (k == m - t + t / 2) sc = steps[i];
        z[k++] = allpos ? log(y[i]) : y[i] / scale;
    }
    /* the thirds' medians (sorting z's thirds in place) */
    double ma = median_sort(z, t), mc = median_sort(z + (m - t), t);
    double c = mc - ma;
    /* the noise: z again, in order, then its differences */
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i])) z[k++] = allpos ? log(y[i]) : y[i] / scale;
    for (size_t i = 0; i + 1 < m; i++) z[i] = z[i + 1] - z[i];
    double md = median_sort(z, m - 1);
    for (size_t i = 0; i + 1 < m; i++) z[i] = fabs(z[i] - md);
    double sigma = 1.4826 * median_sort(z, m - 1) / sqrt(2.0);
    double se = 1.2533 * sigma * sqrt(2.0 / (double)t);
    double r = allpos ? log1p(rel) : rel;
    double u = fmax(r, 2 * sigma);
    double pi, pd;
    if (se > 0 && isfinite(se)) {
        pi = norm_cdf((-r - c) / se);
        pd = 1 - norm_cdf((u - c) / se);
    } else {
        pi = c < -r;
        pd = c > u;
    }
    double pp = 1 - pi - pd;
    if (pp < 0) pp = 0;
    out->change = c;
    out->slope = sc > sa ? c / (double)(sc - sa) : NAN;
    out->noise = sigma;
    out->rise_threshold = u;
    out->p_improving = pi;
    out->p_plateau = pp;
    out->p_diverging = pd;
    if (pi >= pp && pi >= pd) { out->kind = TREND_IMPROVING; out->confidence = pi; }
    else if (pd >= pp) { out->kind = TREND_DIVERGING; out->confidence = pd; }
    else { out->kind = TREND_PLATEAU; out->confidence = pp; }
}

/* ---- convergence and stability ------------------------------------------- */

int64_t analytics_steps_to_fraction(const int64_t *steps, const double *ys, size_t n, double fraction)
{
    size_t first = n;
    double y0 = NAN, ymin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ys[i])) continue;
        if (first == n) { first = i; y0 = ys[i]; }
        if (ys[i] < ymin) ymin = ys[i];
    }
    if (first == n || !(ymin < y0)) return -1;
    double target = y0 - fraction * (y0 - ymin);
    for (size_t i = first; i < n; i++)
        if (isfinite(ys[i]) && ys[i] <= target) return steps[i] - steps[first];
    return -1;
}

void analytics_stability_of(const int64_t *steps, const double *loss, const double *smooth,
                            const double *update_norm, size_t n, double spike_factor,
                            analytics_stability *out)
{
    memset(out, 0, sizeof *out);
    out->max_spike = NAN;
    out->spike_last_step = -1;
    double sum = 0, sq = 0, am = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(loss[i]) || !isfinite(smooth[i])) continue;
        double d = loss[i] - smooth[i];
        sum += d;
        sq += d * d;
        am += fabs(smooth[i]);
        m++;
    }
    if (m >= 2) {
        double mean = sum / (double)m;
        out->loss_var = (sq - (double)m * mean * mean) / (double)(m - 1);
        if (out->loss_var < 0) out->loss_var = 0;
        am /= (double)m;
        out->loss_rel_std = am > 0 ? sqrt(out->loss_var) / am : NAN;
    } else {
        out->loss_var = out->loss_rel_std = NAN;
    }
    if (!update_norm) return;
    double ema = 0, bk = 1;
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        double u = update_norm[i];
        if (!isfinite(u)) continue;
        if (seen >= 10) {
            double base = ema / (1 - bk);
            if (base > 0) {
                double ratio = u / base;
                if (isnan(out->max_spike) || ratio > out->max_spike) out->max_spike = ratio;
                if (ratio > spike_factor) {
                    out->spikes++;
                    out->spike_last_step = steps[i];
                }
            }
        }
        ema = 0.9 * ema + 0.1 * u;
        bk *= 0.9;
        seen++;
    }
}
