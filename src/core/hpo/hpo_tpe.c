/* hpo_tpe.c — TPE for one parameter.  See hpo_tpe.h and hpo.h.
 *
 * Numbers live in a transformed space: a float as is (log: its log), an int
 * on [low - step/2, high + step/2] with the probability of its grid cell as
 * in Optuna 3.1's _ParzenEstimator; a log int in log space on
 * [log(low - 0.5), log(high + 0.5)] as a density, its draws rounded (a
 * choice of ours: each integer gets the log-space cell around it). */
#include "hpo_tpe.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "rng.h"

int hpo_tpe_gamma(int n)
{
    int g = (int)ceil(0.1 * n);
    return g < 25 ? g : 25;
}

/* ---- ranking the history -------------------------------------------------- */

typedef struct ranked {
    int    idx;      /* index into hist (chronological order) */
    int    group;    /* 0 complete, 1 pruned with reports, 2 pruned without */
    double a, b;     /* sort keys within the group, smaller is better */
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *x = pa, *y = pb;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int idx_cmp(const void *pa, const void *pb)
{
    const ranked *x = pa, *y = pb;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* ---- a Parzen estimator over numbers ---------------------------------------- */

typedef struct parzen {
    int     n;                  /* components: observations, then the prior */
    double *mu, *sigma, *w;     /* w sums to 1 */
    double  low, high, q;       /* transformed bounds; q > 0: a grid cell's width */
} parzen;

/* Optuna's default_weights: ones below 25, else a ramp from 1/m up to 1 for
 * the oldest m - 25 and ones for the newest 25. */
static void default_weights(int m, double *w)
{
    if (m < 25) {
        for (int i = 0; i < m; i++) w[i] = 1;
        return;
    }
    int ramp = m - 25;
    for (int i = 0; i < ramp; i++) w[i] = ramp == 1 ? 1.0 / m : 1.0 / m + (1.0 - 1.0 / m) * i / (ramp - 1);
    for (int i = ramp; i < m; i++) w[i] = 1;
}

void hpo_tpe_weights(int m, double prior_weight, double *w)
{
    default_weights(m, w);
    w[m] = prior_weight;
    double sum = 0;
    for (int i = 0; i <= m; i++) sum += w[i];
    for (int i = 0; i <= m; i++) w[i] /= sum;
}

typedef struct keyed { double v; int i; } keyed;

static int keyed_cmp(const void *pa, const void *pb)
{
    const keyed *x = pa, *y = pb;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;   /* stable: equal values keep their order */
}

/* perm[0..n) = the indices of keys in ascending order (ties by index);
 * tmp holds n entries. */
static void perm_sort(int *perm, const double *keys, int n, keyed *tmp)
{
    for (int i = 0; i < n; i++) tmp[i] = (keyed){keys[i], i};
    qsort(tmp, (size_t)n, sizeof *tmp, keyed_cmp);
    for (int i = 0; i < n; i++) perm[i] = tmp[i].i;
}

/* Builds the estimator of the m observations obs (transformed) on
 * [low, high]; mem holds 3 (m + 1) doubles, perm and tmp m + 1 entries. */
static void parzen_build(parzen *pz, const double *obs, int m, double low, double high, double q,
                         double prior_weight, double *mem, int *perm, keyed *tmp)
{
    int n = m + 1;
    pz->n = n;
    pz->mu = mem;
    pz->sigma = mem + n;
    pz->w = mem + 2 * n;
    pz->low = low;
    pz->high = high;
    pz->q = q;
    for (int i = 0; i < m; i++) pz->mu[i] = obs[i];
    pz->mu[m] = 0.5 * (low + high);
    perm_sort(perm, pz->mu, n, tmp);
    for (int k = 0; k < n; k++) {
        double left = k > 0 ? pz->mu[perm[k - 1]] : low;
        double right = k < n - 1 ? pz->mu[perm[k + 1]] : high;
        double here = pz->mu[perm[k]];
        double s = fmax(here - left, right - here);
        if (n >= 2) {   /* consider_endpoints = False */
            if (k == 0) s = right - here;
            if (k == n - 1) s = here - left;
        }
        pz->sigma[perm[k]] = s;
    }
    double range = high - low;
    double maxs = range, mins = range / fmin(100.0, 1.0 + n);
    for (int i = 0; i < n; i++) pz->sigma[i] = fmin(fmax(pz->sigma[i], mins), maxs);
    pz->sigma[m] = range;   /* the prior: centred, as wide as the range */
    hpo_tpe_weights(m, prior_weight, pz->w);
}

static double phi_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

int hpo_tpe_pick(const double *w, int n, rng *r)
{
    double u = rng_uniform(r), acc = 0;
    for (int i = 0; i < n; i++) {
        acc += w[i];
        if (u < acc) return i;
    }
    return n - 1;
}

double hpo_tpe_kernel_draw(double mu, double sigma, double low, double high, rng *r)
{
    double v = mu;
    for (int t = 0; t < 64; t++) {
        v = mu + sigma * rng_normal(r);
        if (v >= low && v <= high) return v;
    }
    return fmin(fmax(v, low), high);
}

/* One draw: a component by weight, then its kernel. */
static double parzen_draw(const parzen *pz, rng *r)
{
    int k = hpo_tpe_pick(pz->w, pz->n, r);
    return hpo_tpe_kernel_draw(pz->mu[k], pz->sigma[k], pz->low, pz->high, r);
}

double hpo_tpe_kernel_logp(double logw, double mu, double s, double low, double high, double q, double x)
{
    double z = phi_cdf((high - mu) / s) - phi_cdf((low - mu) / s);
    if (!(z > 1e-300)) z = 1e-300;
    double p;
    if (q > 0) {
        double hi = fmin(x + 0.5 * q, high), lo = fmax(x - 0.5 * q, low);
        double mass = phi_cdf((hi - mu) / s) - phi_cdf((lo - mu) / s);
        p = log(fmax(mass, 1e-300));
    } else {
        double d = (x - mu) / s;
        p = -0.5 * d * d - log(s) - 0.5 * log(2 * M_PI);
    }
    return logw + p - log(z);
}

/* log of the mixture's density (q = 0) or of its mass on the cell of width
 * q around x. */
static double parzen_logp(const parzen *pz, double x)
{
    /* log-sum-exp in two passes: the largest term first */
    double best = -INFINITY, stack[64];
    double *lt = pz->n <= 64 ? stack : malloc(sizeof(double) * (size_t)pz->n);
    if (!lt) return -INFINITY;
    for (int k = 0; k < pz->n; k++) {
        lt[k] = hpo_tpe_kernel_logp(log(pz->w[k]), pz->mu[k], pz->sigma[k], pz->low, pz->high, pz->q, x);
        if (lt[k] > best) best = lt[k];
    }
    double sum = 0;
    for (int k = 0; k < pz->n; k++) sum += exp(lt[k] - best);
    if (lt != stack) free(lt);
    return best + log(sum);
}

/* ---- transforms ------------------------------------------------------------------ */

void hpo_tpe_bounds(const hpo_param *p, double *low, double *high, double *q)
{
    *q = 0;
    if (p->kind == HPO_INT && !p->log) {
        *low = p->low - 0.5 * p->step;
        *high = p->high + 0.5 * p->step;
        *q = p->step;
    } else if (p->kind == HPO_INT) {
        *low = log(p->low - 0.5);
        *high = log(p->high + 0.5);
    } else if (p->log) {
        *low = log(p->low);
        *high = log(p->high);
    } else {
        *low = p->low;
        *high = p->high;
    }
}

double hpo_tpe_to_t(const hpo_param *p, double v) { return p->log ? log(v) : v; }
double hpo_tpe_from_t(const hpo_param *p, double t) { return hpo_snap(p, p->log ? exp(t) : t); }

/* ---- categoricals: weighted counts ---------------------------------------- */

/* pmf[c] of the estimator over m observed choice indices obs: component k
 * puts prior_weight / (m + 1) on every choice and 1 more on its own, rows
 * normalised; the prior component is uniform; components weighted as for
 * numbers.  cw receives the component weights (m + 1). */
static void cat_pmf(const double *obs, int m, int nc, double prior_weight, double *cw, double *pmf)
{
    int n = m + 1;
    hpo_tpe_weights(m, prior_weight, cw);
    double base = prior_weight / n, row = base * nc + 1.0;
    for (int c = 0; c < nc; c++) pmf[c] = cw[m] / nc;
    for (int k = 0; k < m; k++) {
        for (int c = 0; c < nc; c++) pmf[c] += cw[k] * base / row;
        pmf[(int)obs[k]] += cw[k] / row;
    }
}

/* ---- the sampler ------------------------------------------------------------------ */

int hpo_tpe_split(const hpo_space *sp, const int *dims, int nd, int direction, const hpo_trial *hist, int nhist,
                  int *order, int *nbelow)
{
    *nbelow = 0;
    if (nhist <= 0) return 0;
    ranked *rk = (size_t)nhist > SIZE_MAX / sizeof(ranked) ? NULL : malloc(sizeof(ranked) * (size_t)nhist);
    if (!rk) return ERR_NO_MEMORY;
    int m = 0;
    for (int i = 0; i < nhist; i++) {
        const hpo_trial *t = &hist[i];
        if (t->state != HPO_COMPLETE && t->state != HPO_PRUNED) continue;
        if (!t->x) continue;
        ranked e = {.idx = i};
        if (t->state == HPO_COMPLETE && isfinite(t->value)) {
            e.group = 0;
            e.a = direction * t->value;
        } else if (t->state == HPO_PRUNED && t->nsteps > 0 && isfinite(t->values[t->nsteps - 1])) {
            /* Optuna: pruned trials after the complete ones, the furthest
             * along first, then by their last value */
            e.group = 1;
            e.a = -(double)t->steps[t->nsteps - 1];
            e.b = direction * t->values[t->nsteps - 1];
        } else if (t->state == HPO_PRUNED) {
            e.group = 2;
        } else continue;
        rk[m++] = e;
    }
    qsort(rk, (size_t)m, sizeof *rk, ranked_cmp);
    int nb = hpo_tpe_gamma(m);
    qsort(rk, (size_t)nb, sizeof *rk, idx_cmp);            /* each group in trial order */
    qsort(rk + nb, (size_t)(m - nb), sizeof *rk, idx_cmp);
    /* then only the trials in which every parameter of dims is present, in
     * each part (Optuna 3.1 splits all trials, then masks) */
    int k = 0;
    for (int i = 0; i < m; i++) {
        const hpo_trial *t = &hist[rk[i].idx];
        int present = 1;
        for (int j = 0; present && j < nd; j++) present = hpo_param_contains(&sp->p[dims[j]], t->x[dims[j]]);
        if (present) order[k++] = rk[i].idx;
        if (i == nb - 1) *nbelow = k;
    }
    free(rk);
    return k;
}

int hpo_tpe_param(const hpo_space *sp, int idx, const hpo_tpe_opts *opts, int direction, const hpo_trial *hist,
                  int nhist, rng *r, double *out)
{
    const hpo_param *p = &sp->p[idx];
    if (p->kind != HPO_CATEGORICAL && p->low == p->high) {
        *out = p->low;
        return 0;
    }
    if ((size_t)nhist > SIZE_MAX / (8 * sizeof(double) + sizeof(int) * 2 + sizeof(keyed)) - 8) return ERR_NO_MEMORY;
    size_t n1 = (size_t)nhist + 1;
    int *order = malloc(sizeof(int) * n1);
    double *mem = malloc(sizeof(double) * (8 * n1 + 2 * HPO_MAX_CHOICES));
    int *perm = malloc(sizeof(int) * n1);
    keyed *tmp = malloc(sizeof(keyed) * n1);
    int nb = 0, m = order && mem && perm && tmp ? hpo_tpe_split(sp, &idx, 1, direction, hist, nhist, order, &nb)
                                                : ERR_NO_MEMORY;
    if (m < 0) {
        free(order);
        free(mem);
        free(perm);
        free(tmp);
        return ERR_NO_MEMORY;
    }
    double *ob = mem, *oa = mem + n1;   /* observations below, above */
    for (int i = 0; i < m; i++) {
        double v = hist[order[i]].x[idx];
        if (i < nb) ob[i] = p->kind == HPO_CATEGORICAL ? v : hpo_tpe_to_t(p, v);
        else oa[i - nb] = p->kind == HPO_CATEGORICAL ? v : hpo_tpe_to_t(p, v);
    }
    int na = m - nb;
    double *work = mem + 2 * n1;        /* 6 n1 + 2 HPO_MAX_CHOICES doubles */
    int ncand = opts->n_ei_candidates;
    double best_score = -INFINITY, best = NAN;
    if (p->kind == HPO_CATEGORICAL) {
        int nc = p->nchoices;
        double *lw = work, *gw = work + n1, *lp = work + 2 * n1, *gp = lp + HPO_MAX_CHOICES;
        cat_pmf(ob, nb, nc, opts->prior_weight, lw, lp);
        cat_pmf(oa, na, nc, opts->prior_weight, gw, gp);
        for (int c = 0; c < ncand; c++) {
            /* a draw from l: a component by weight, then a choice from its row */
            int k = hpo_tpe_pick(lw, nb + 1, r);
            int v;
            if (k == nb) v = (int)rng_below(r, (uint64_t)nc);
            else {
                double base = opts->prior_weight / (nb + 1), row = base * nc + 1.0;
                double u = rng_uniform(r) * row, acc = 0;
                v = nc - 1;
                for (int j = 0; j < nc; j++) {
                    acc += base + (j == (int)ob[k] ? 1.0 : 0.0);
                    if (u < acc) {
                        v = j;
                        break;
                    }
                }
            }
            double score = log(lp[v]) - log(gp[v]);
            if (score > best_score) {
                best_score = score;
                best = v;
            }
        }
    } else {
        double low, high, q;
        hpo_tpe_bounds(p, &low, &high, &q);
        parzen l, g;
        parzen_build(&l, ob, nb, low, high, q, opts->prior_weight, work, perm, tmp);
        parzen_build(&g, oa, na, low, high, q, opts->prior_weight, work + 3 * n1, perm, tmp);
        for (int c = 0; c < ncand; c++) {
            double t = parzen_draw(&l, r);
            double v = hpo_tpe_from_t(p, t);          /* on the grid, in range */
            double tv = q > 0 ? v : hpo_tpe_to_t(p, v);
            double score = parzen_logp(&l, tv) - parzen_logp(&g, tv);
            if (score > best_score || isnan(best)) {
                best_score = score;
                best = v;
            }
        }
    }
    free(order);
    free(mem);
    free(perm);
    free(tmp);
    *out = best;
    return 0;
}
