/* hpo_mtpe.c — the multivariate TPE over one group of parameters.  See
 * hpo_mtpe.h; the kernels, transforms and split are hpo_tpe.c's. */
#include "hpo_mtpe.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "errors.h"
#include "hpo_tpe.h"
#include "rng.h"

/* A mixture of product kernels over the d modelled parameters: component k
 * (0 .. n-1; n - 1 the prior) has, per parameter j, mu[k d + j] (a number's
 * centre in transformed space; a categorical's observed choice index) and
 * sigma[k d + j] (numbers). */
typedef struct mest {
    int     n, nobs;
    double *w, *mu, *sigma;
} mest;

typedef struct dimv {
    const hpo_param *p;
    double low, high, q;    /* numbers: transformed bounds, grid cell */
} dimv;

static void mest_build(mest *e, const hpo_trial *hist, const int *order, int nobs, const int *mdims, const dimv *dv,
                       int d, double prior_weight)
{
    int n = nobs + 1;
    e->n = n;
    e->nobs = nobs;
    hpo_tpe_weights(nobs, prior_weight, e->w);
    double sig0 = 0.2 * pow(nobs > 1 ? (double)nobs : 1.0, -1.0 / (d + 4));
    for (int j = 0; j < d; j++) {
        const hpo_param *p = dv[j].p;
        double range = dv[j].high - dv[j].low;
        double mins = range / fmin(100.0, 1.0 + n), s = fmin(fmax(sig0 * range, mins), range);
        for (int k = 0; k < nobs; k++) {
            double v = hist[order[k]].x[mdims[j]];
            e->mu[(size_t)k * d + j] = p->kind == HPO_CATEGORICAL ? v : hpo_tpe_to_t(p, v);
            e->sigma[(size_t)k * d + j] = s;
        }
        e->mu[(size_t)nobs * d + j] = 0.5 * (dv[j].low + dv[j].high);
        e->sigma[(size_t)nobs * d + j] = range;
    }
}

/* A categorical's row of component k: prior_weight / (nobs + 1) on every
 * choice and 1 more on the observed one, normalised (the univariate rule). */
static double cat_logp(const mest *e, int k, double obs, int nc, double prior_weight, int c)
{
    if (k == e->nobs) return -log((double)nc);
    double base = prior_weight / e->n, row = base * nc + 1.0;
    return log((base + (c == (int)obs ? 1.0 : 0.0)) / row);
}

/* log of the mixture at the transformed point t (d values); lt holds n. */
static double mest_logp(const mest *e, const dimv *dv, int d, double prior_weight, const double *t, double *lt)
{
    double best = -INFINITY;
    for (int k = 0; k < e->n; k++) {
        double s = log(e->w[k]);
        for (int j = 0; j < d; j++) {
            size_t o = (size_t)k * d + j;
            if (dv[j].p->kind == HPO_CATEGORICAL) s += cat_logp(e, k, e->mu[o], dv[j].p->nchoices, prior_weight, (int)t[j]);
            else s = hpo_tpe_kernel_logp(s, e->mu[o], e->sigma[o], dv[j].low, dv[j].high, dv[j].q, t[j]);
        }
        lt[k] = s;
        if (s > best) best = s;
    }
    if (!isfinite(best)) return best;
    double sum = 0;
    for (int k = 0; k < e->n; k++) sum += exp(lt[k] - best);
    return best + log(sum);
}

/* One joint draw from e: a component, then every parameter from its
 * kernel; v the values (on the grid), t their transformed ones. */
static void mest_draw(const mest *e, const dimv *dv, int d, double prior_weight, rng *r, double *v, double *t)
{
    int k = hpo_tpe_pick(e->w, e->n, r);
    for (int j = 0; j < d; j++) {
        const hpo_param *p = dv[j].p;
        size_t o = (size_t)k * d + j;
        if (p->kind == HPO_CATEGORICAL) {
            int nc = p->nchoices, c = nc - 1;
            if (k == e->nobs) c = (int)rng_below(r, (uint64_t)nc);
            else {
                double base = prior_weight / e->n, row = base * nc + 1.0;
                double u = rng_uniform(r) * row, acc = 0;
                for (int i = 0; i < nc; i++) {
                    acc += base + (i == (int)e->mu[o] ? 1.0 : 0.0);
                    if (u < acc) {
                        c = i;
                        break;
                    }
                }
            }
            v[j] = t[j] = c;
        } else {
            double tt = hpo_tpe_kernel_draw(e->mu[o], e->sigma[o], dv[j].low, dv[j].high, r);
            v[j] = hpo_tpe_from_t(p, tt);
            t[j] = dv[j].q > 0 ? v[j] : hpo_tpe_to_t(p, v[j]);
        }
    }
}

int hpo_mtpe_group(const hpo_space *sp, const int *dims, int nd, const hpo_tpe_opts *opts, int direction,
                   const hpo_trial *hist, int nhist, rng *r, double *x)
{
    int mdims[HPO_MAX_PARAMS], d = 0;
    dimv dv[HPO_MAX_PARAMS];
    for (int j = 0; j < nd; j++) {
        const hpo_param *p = &sp->p[dims[j]];
        if (p->kind != HPO_CATEGORICAL && p->low == p->high) {
            x[dims[j]] = p->low;   /* one value: the same factor in l and g */
            continue;
        }
        dv[d].p = p;
        if (p->kind != HPO_CATEGORICAL) hpo_tpe_bounds(p, &dv[d].low, &dv[d].high, &dv[d].q);
        mdims[d++] = dims[j];
    }
    if (d == 0) return 0;
    /* memory: order (nhist ints), the two estimators' (m + 2) (2 d + 1)
     * doubles with m <= nhist, the log terms (nhist + 2) and 4 d per candidate */
    size_t n2 = (size_t)nhist + 2;
    if (n2 > SIZE_MAX / sizeof(double) / (2 * (size_t)d + 2) - 8) return ERR_NO_MEMORY;
    int *order = malloc(sizeof(int) * n2);
    double *mem = malloc(sizeof(double) * (n2 * (2 * (size_t)d + 2) + 4 * (size_t)d));
    if (!order || !mem) {
        free(order);
        free(mem);
        return ERR_NO_MEMORY;
    }
    int nb = 0, m = hpo_tpe_split(sp, dims, nd, direction, hist, nhist, order, &nb);
    if (m < 0) {
        free(order);
        free(mem);
        return m;
    }
    int na = m - nb;
    mest l, g;
    double *q = mem;
    l.w = q;
    q += nb + 1;
    l.mu = q;
    q += (size_t)(nb + 1) * d;
    l.sigma = q;
    q += (size_t)(nb + 1) * d;
    g.w = q;
    q += na + 1;
    g.mu = q;
    q += (size_t)(na + 1) * d;
    g.sigma = q;
    q += (size_t)(na + 1) * d;
    double *lt = q, *cv = lt + n2, *ct = cv + d, *bv = ct + d;
    mest_build(&l, hist, order, nb, mdims, dv, d, opts->prior_weight);
    mest_build(&g, hist, order + nb, na, mdims, dv, d, opts->prior_weight);
    double best_score = -INFINITY;
    int have = 0;
    for (int c = 0; c < opts->n_ei_candidates; c++) {
        mest_draw(&l, dv, d, opts->prior_weight, r, cv, ct);
        double score = mest_logp(&l, dv, d, opts->prior_weight, ct, lt) - mest_logp(&g, dv, d, opts->prior_weight, ct, lt);
        if (!have || score > best_score) {
            have = 1;
            best_score = score;
            for (int j = 0; j < d; j++) bv[j] = cv[j];
        }
    }
    for (int j = 0; j < d; j++) x[mdims[j]] = bv[j];
    free(order);
    free(mem);
    return 0;
}
