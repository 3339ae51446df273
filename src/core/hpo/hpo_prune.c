/* hpo_prune.c — the median pruner and successive halving (ASHA) as pure
 * functions of the history.  See hpo.h.
 *
 * Median (Optuna's MedianPruner): once n_startup_trials trials are complete
 * and the trial's newest step is at least n_warmup_steps, the trial stops
 * when its best value so far is worse than the median of the complete
 * trials' values at that same step (linear interpolation, as numpy's
 * percentile; no complete trial reported that step: no pruning).
 *
 * ASHA (Optuna's SuccessiveHalvingPruner, min_early_stopping_rate 0): rung r
 * sits at step min_resource * eta^r.  A trial's value at a rung is its value
 * at the first step it reported at or past the rung.  When the newest report
 * is the first one past a rung, the trial competes there with every other
 * trial that reached it (any state) and goes on only when its value ranks
 * within the top 1/eta (at least the best one place). */
#include <math.h>
#include <stdlib.h>

#include "errors.h"
#include "hpo.h"

void hpo_prune_defaults(hpo_prune_opts *o)
{
    o->n_startup_trials = 5;
    o->n_warmup_steps = 0;
    o->min_resource = 1;
    o->reduction_factor = 3;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The value t reported at exactly `step`; NAN when none. */
static double value_at(const hpo_trial *t, int64_t step)
{
    for (int i = 0; i < t->nsteps; i++)
        if (t->steps[i] == step) return t->values[i];
    return NAN;
}

/* Index of t's first report at or past `step`; -1 when none. */
static int first_past(const hpo_trial *t, int64_t step)
{
    for (int i = 0; i < t->nsteps; i++)
        if (t->steps[i] >= step) return i;
    return -1;
}

/* numpy.percentile's linear interpolation over sorted v[0..n). */
static double percentile(const double *v, int n, double pct)
{
    double pos = pct / 100.0 * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

static int median_decide(const hpo_prune_opts *o, int direction, const hpo_trial *h, int n, int self, int *prune)
{
    const hpo_trial *t = &h[self];
    int complete = 0;
    for (int i = 0; i < n; i++) complete += h[i].state == HPO_COMPLETE;
    if (complete == 0 || complete < o->n_startup_trials) return 0;
    int64_t step = t->steps[t->nsteps - 1];
    if (step < o->n_warmup_steps) return 0;
    double bestv = direction > 0 ? INFINITY : -INFINITY;
    for (int i = 0; i < t->nsteps; i++) {
        double v = t->values[i];
        if (isnan(v)) continue;
        bestv = direction > 0 ? fmin(bestv, v) : fmax(bestv, v);
    }
    if (isnan(t->values[t->nsteps - 1])) {
        *prune = 1;
        return 0;
    }
    double *vals = malloc(sizeof(double) * (size_t)complete);
    if (!vals) return ERR_NO_MEMORY;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (i == self || h[i].state != HPO_COMPLETE) continue;
        double v = value_at(&h[i], step);
        if (!isnan(v)) vals[m++] = v;
    }
    if (m > 0) {
        qsort(vals, (size_t)m, sizeof *vals, dbl_cmp);
        double med = percentile(vals, m, 50.0);
        *prune = direction > 0 ? bestv > med : bestv < med;
    }
    free(vals);
    return 0;
}

static int asha_decide(const hpo_prune_opts *o, int direction, const hpo_trial *h, int n, int self, int *prune)
{
    const hpo_trial *t = &h[self];
    int last = t->nsteps - 1;
    int64_t step = t->steps[last];
    double value = t->values[last];
    double *vals = malloc(sizeof(double) * (size_t)n);
    if (!vals) return ERR_NO_MEMORY;
    double rung_step = (double)o->min_resource;
    for (int rung = 0; rung < 64 && rung_step <= (double)step; rung++, rung_step *= o->reduction_factor) {
        int64_t rs = (int64_t)rung_step;
        if (first_past(t, rs) != last) continue;     /* this rung was decided at an earlier report */
        if (isnan(value)) {
            *prune = 1;
            break;
        }
        int m = 0;
        for (int i = 0; i < n; i++) {
            int k = i == self ? -1 : first_past(&h[i], rs);
            if (k >= 0 && !isnan(h[i].values[k])) vals[m++] = h[i].values[k];
        }
        vals[m++] = value;
        qsort(vals, (size_t)m, sizeof *vals, dbl_cmp);
        int pi = m / o->reduction_factor - 1;
        if (pi < 0) pi = 0;
        int ok = direction > 0 ? value <= vals[pi] : value >= vals[m - 1 - pi];
        if (!ok) {
            *prune = 1;
            break;
        }
    }
    free(vals);
    return 0;
}

int hpo_should_prune(hpo_pruner kind, const hpo_prune_opts *opts, int direction, const hpo_trial *hist, int nhist,
                     int self, int *prune)
{
    if (!prune || !hist || self < 0 || self >= nhist || (direction != 1 && direction != -1)) return ERR_INVALID_ARGUMENT;
    *prune = 0;
    hpo_prune_opts def;
    hpo_prune_defaults(&def);
    if (!opts) opts = &def;
    if (opts->min_resource < 1 || opts->reduction_factor < 2 || opts->n_startup_trials < 0) return ERR_INVALID_ARGUMENT;
    if (hist[self].nsteps < 1) return 0;
    switch (kind) {
    case HPO_PRUNER_NONE: return 0;
    case HPO_PRUNER_MEDIAN: return median_decide(opts, direction, hist, nhist, self, prune);
    case HPO_PRUNER_ASHA: return asha_decide(opts, direction, hist, nhist, self, prune);
    }
    return ERR_INVALID_ARGUMENT;
}
