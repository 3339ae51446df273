/* hpo.c — the search space (checks, grid, random draws) and hpo_sample's
 * dispatch between the random sampler, TPE (univariate hpo_tpe.c,
 * multivariate hpo_mtpe.c) and the GP (hpo_gp_sample.c), with conditional
 * parameters left out where inactive (hpo_cond.c).  See hpo.h. */
#include "hpo.h"

#include <math.h>
#include <stdio.h>

#include "errors.h"
#include "hpo_gp.h"
#include "hpo_mtpe.h"
#include "hpo_tpe.h"
#include "rng.h"

static int fail(char *msg, size_t cap, const hpo_param *p, const char *why)
{
    if (msg && cap) snprintf(msg, cap, "parameter %s: %s", p->name, why);
    return ERR_INVALID_ARGUMENT;
}

int hpo_param_check(const hpo_param *p, char *msg, size_t msgcap)
{
    if (p->kind == HPO_CATEGORICAL) {
        if (p->nchoices < 1 || p->nchoices > HPO_MAX_CHOICES)
            return fail(msg, msgcap, p, "a categorical takes 1 to 256 choices");
        return 0;
    }
    if (p->kind != HPO_FLOAT && p->kind != HPO_INT) return fail(msg, msgcap, p, "unknown type");
    if (!isfinite(p->low) || !isfinite(p->high)) return fail(msg, msgcap, p, "low and high must be finite");
    if (!(p->low <= p->high)) return fail(msg, msgcap, p, "low must not exceed high");
    if (p->log && !(p->low > 0)) return fail(msg, msgcap, p, "a log range needs low > 0");
    if (p->kind == HPO_INT) {
        /* 2^53: every integer below it is a double */
        if (fabs(p->low) > 9007199254740992.0 || fabs(p->high) > 9007199254740992.0)
            return fail(msg, msgcap, p, "an int's bounds must be within +-2^53");
        if (p->low != floor(p->low) || p->high != floor(p->high))
            return fail(msg, msgcap, p, "an int's low and high must be integers");
        if (!(p->step >= 1) || p->step != floor(p->step) || p->step > 9007199254740992.0)
            return fail(msg, msgcap, p, "an int's step must be an integer >= 1");
        if (p->log && p->step != 1) return fail(msg, msgcap, p, "a log int takes step 1 only");
        if (fmod(p->high - p->low, p->step) != 0) return fail(msg, msgcap, p, "high - low must be a multiple of step");
    }
    return 0;
}

int hpo_param_contains(const hpo_param *p, double v)
{
    if (!isfinite(v)) return 0;
    if (p->kind == HPO_CATEGORICAL) return v >= 0 && v < p->nchoices && v == floor(v);
    if (v < p->low || v > p->high) return 0;
    if (p->kind == HPO_INT) return fmod(v - p->low, p->step) == 0;
    return 1;
}

double hpo_snap(const hpo_param *p, double v)
{
    if (p->kind == HPO_CATEGORICAL) {
        double k = floor(v);
        return k < 0 ? 0 : k >= p->nchoices ? p->nchoices - 1 : k;
    }
    if (p->kind == HPO_INT) v = p->low + round((v - p->low) / p->step) * p->step;
    return v < p->low ? p->low : v > p->high ? p->high : v;
}

double hpo_random_value(const hpo_param *p, rng *r)
{
    double u = rng_uniform(r);
    switch (p->kind) {
    case HPO_CATEGORICAL:
        return (double)rng_below(r, (uint64_t)p->nchoices);
    case HPO_INT:
        if (p->log) {
            /* uniform in log space over [low - 0.5, high + 0.5], rounded: each
             * integer gets its cell (Optuna's search-space transform pads ints so) */
            double lo = log(p->low - 0.5 > 0 ? p->low - 0.5 : p->low), hi = log(p->high + 0.5);
            return hpo_snap(p, exp(lo + u * (hi - lo)));
        } else {
            double k = floor((p->high - p->low) / p->step + 0.5) + 1;  /* grid points */
            return hpo_snap(p, p->low + (double)rng_below(r, (uint64_t)k) * p->step);
        }
    case HPO_FLOAT:
    default:
        if (p->log) return hpo_snap(p, exp(log(p->low) + u * (log(p->high) - log(p->low))));
        return hpo_snap(p, p->low + u * (p->high - p->low));
    }
}

void hpo_tpe_defaults(hpo_tpe_opts *o)
{
    o->n_startup_trials = 10;
    o->n_ei_candidates = 24;
    o->prior_weight = 1.0;
    o->multivariate = 0;
}

int hpo_sample(const hpo_space *sp, hpo_sampler kind, const hpo_tpe_opts *opts, int direction, uint64_t seed,
               int64_t number, const hpo_trial *hist, int nhist, double *x)
{
    if (!sp || !x || sp->n < 1 || sp->n > HPO_MAX_PARAMS || (direction != 1 && direction != -1) || nhist < 0 ||
        (nhist && !hist))
        return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < sp->n; i++)
        if (hpo_param_check(&sp->p[i], NULL, 0)) return ERR_INVALID_ARGUMENT;
    hpo_tpe_opts def;
    hpo_tpe_defaults(&def);
    if (!opts) opts = &def;
    if (opts->n_startup_trials < 0 || opts->n_ei_candidates < 1 || opts->n_ei_candidates > 4096 ||
        !(opts->prior_weight > 0) || !isfinite(opts->prior_weight))
        return ERR_INVALID_ARGUMENT;
    rng root, tr;
    rng_seed(&root, seed);
    rng_split(&root, (uint64_t)number, &tr);
    int finished = 0, complete = 0;
    for (int i = 0; i < nhist; i++) {
        finished += hist[i].state == HPO_COMPLETE || hist[i].state == HPO_PRUNED;
        complete += hist[i].state == HPO_COMPLETE && isfinite(hist[i].value);
    }
    int cond = hpo_space_conditional(sp);
    if (cond && hpo_space_check_conditions(sp, NULL, 0)) return ERR_INVALID_ARGUMENT;
    int rc = 0, drawn = 0;
    if (kind == HPO_SAMPLER_GP) {
        for (int i = 0; i < sp->n; i++)
            if (sp->p[i].kind == HPO_CATEGORICAL || sp->p[i].parent) return ERR_INVALID_ARGUMENT;
        if (finished >= opts->n_startup_trials && complete > 0) return hpo_gp_sample(sp, direction, hist, nhist, &tr, x);
    }
    if (kind == HPO_SAMPLER_TPE && finished >= opts->n_startup_trials && finished > 0) {
        drawn = 1;
        if (opts->multivariate) {
            int group[HPO_MAX_PARAMS], dims[HPO_MAX_PARAMS];
            hpo_space_groups(sp, group);
            for (int g = 0; !rc && g < sp->n; g++) {
                if (group[g] != g) continue;
                int nd = 0;
                for (int i = g; i < sp->n; i++)
                    if (group[i] == g) dims[nd++] = i;
                rng pr;
                rng_split(&tr, (uint64_t)g, &pr);
                rc = hpo_mtpe_group(sp, dims, nd, opts, direction, hist, nhist, &pr, x);
            }
        } else {
            for (int i = 0; !rc && i < sp->n; i++) {
                rng pr;
                rng_split(&tr, (uint64_t)i, &pr);
                rc = hpo_tpe_param(sp, i, opts, direction, hist, nhist, &pr, &x[i]);
            }
        }
        if (rc) return rc;
    }
    if (kind != HPO_SAMPLER_RANDOM && kind != HPO_SAMPLER_TPE && kind != HPO_SAMPLER_GP) return ERR_INVALID_ARGUMENT;
    for (int i = 0; !drawn && i < sp->n; i++) {
        rng pr;
        rng_split(&tr, (uint64_t)i, &pr);
        x[i] = hpo_random_value(&sp->p[i], &pr);
    }
    if (cond) {
        int active[HPO_MAX_PARAMS];
        hpo_space_active(sp, x, active);
        for (int i = 0; i < sp->n; i++)
            if (!active[i]) x[i] = NAN;
    }
    return 0;
}
