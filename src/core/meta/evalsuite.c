/* evalsuite.c — see evalsuite.h. */
#include "evalsuite.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One seed, one run of the longest horizon: final[j] and held[j] for each
 * horizon (+inf for the horizons a non-finite run did not complete). */
static int eval_one(const opt_config *cfg, const char *family, const task_params *tp, const int64_t *horizons,
                    int nh, uint64_t seed, double *final, double *held)
{
    for (int j = 0; j < nh; j++) final[j] = held[j] = INFINITY;
    task *tk = NULL;
    int rc = task_create(family, tp, seed, &tk);
    if (rc) return rc;
    size_t n = tk->n;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    opt o;
    int o_ok = 0;
    if (!p || !g || !u) rc = ERR_NO_MEMORY;
    if (!rc) rc = opt_init(&o, cfg, &tk->lay);
    if (!rc) {
        o_ok = 1;
        task_init_params(tk, seed, p);
        rng r;
        rng_seed(&r, seed + 1);
        double sum[EVAL_MAX_HORIZONS] = {0};
        int64_t last = horizons[nh - 1];
        int next = 0;   /* the first horizon not yet recorded */
        for (int64_t t = 0; t < last; t++) {
            step_info info = {0};
            double loss = task_loss_grad(tk, p, g, &r);
            if (!isfinite(loss)) break;
            /* each horizon's own window: its last ceil(H/10) steps */
            for (int j = next; j < nh; j++)
                if (t >= horizons[j] - (horizons[j] + 9) / 10) sum[j] += loss;
            info.loss = loss;
            if (opt_step(&o, p, g, u, &info)) break;
            if (next < nh && t + 1 == horizons[next]) {
                int64_t tail = (horizons[next] + 9) / 10;
                final[next] = sum[next] / (double)tail;
                double h = task_eval_loss(tk, p);
                held[next] = isfinite(h) ? h : INFINITY;
                next++;
            }
        }
    }
    if (o_ok) opt_deinit(&o);
    free(p); free(g); free(u);
    task_free(tk);
    return rc;
}

/* Mean of v[0..n), +inf when any is non-finite. */
static double mean_of(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) return INFINITY;
        s += v[i];
    }
    return s / n;
}

int eval_run_horizons(const opt_config *cfg, const char *family, const task_params *tp, const int64_t *horizons,
                      int nh, const uint64_t *seeds, int nseeds, eval_result *res)
{
    if (nh < 1 || nh > EVAL_MAX_HORIZONS) return ERR_INVALID_ARGUMENT;
    memset(res, 0, (size_t)nh * sizeof *res);
    if (nseeds < 1 || nseeds > EVAL_MAX_SEEDS) return ERR_INVALID_ARGUMENT;
    for (int j = 0; j < nh; j++)
        if (horizons[j] < 1 || (j && horizons[j] <= horizons[j - 1])) return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < nseeds; i++) {
        double f[EVAL_MAX_HORIZONS], h[EVAL_MAX_HORIZONS];
        int rc = eval_one(cfg, family, tp, horizons, nh, seeds[i], f, h);
        if (rc) return rc;
        for (int j = 0; j < nh; j++) {
            res[j].final_loss[i] = f[j];
            res[j].heldout[i] = h[j];
            if (!isfinite(f[j])) res[j].nonfinite++;
        }
    }
    for (int j = 0; j < nh; j++) {
        eval_result *r = &res[j];
        r->nseeds = nseeds;
        double s = 0, ss = 0;
        for (int i = 0; i < nseeds; i++) {
            s += r->final_loss[i];
            ss += r->final_loss[i] * r->final_loss[i];
        }
        r->mean = s / nseeds;
        r->std = r->nonfinite ? INFINITY : sqrt(fmax(0.0, ss / nseeds - r->mean * r->mean));
        r->heldout_mean = mean_of(r->heldout, nseeds);
    }
    return 0;
}

int eval_run(const opt_config *cfg, const char *family, const task_params *tp, int64_t horizon,
             const uint64_t *seeds, int nseeds, eval_result *res)
{
    return eval_run_horizons(cfg, family, tp, &horizon, 1, seeds, nseeds, res);
}

double eval_grid_lr(int i)
{
    return pow(10.0, (double)(i - 12) / 3.0);
}

/* ---- the lr search ---------------------------------------------------------- */

void eval_grid_init(eval_grid *g, int nh)
{
    memset(g, 0, sizeof *g);
    g->nh = nh;
    g->lo = 1;
    g->hi = 0;
}

eval_result *eval_grid_at(eval_grid *g, int i)
{
    return g->res[i - EVAL_GRID_MIN];
}

int eval_grid_best(const eval_grid *g, int h, int *at_edge)
{
    int best = g->lo;
    for (int i = g->lo + 1; i <= g->hi; i++)
        if (g->res[i - EVAL_GRID_MIN][h].mean < g->res[best - EVAL_GRID_MIN][h].mean) best = i;
    if (at_edge) *at_edge = best == g->lo || best == g->hi;
    return best;
}

int eval_grid_next(eval_grid *g, int *out)
{
    if (g->lo > g->hi) {
        g->lo = 0;
        g->hi = EVAL_GRID - 1;
        for (int i = 0; i < EVAL_GRID; i++) out[i] = i;
        return EVAL_GRID;
    }
    int down = 0, up = 0;
    for (int h = 0; h < g->nh; h++) {
        int b = eval_grid_best(g, h, NULL);
        down |= b == g->lo && g->lo > EVAL_GRID_MIN;
        up |= b == g->hi && g->hi < EVAL_GRID_MAX;
    }
    int n = 0;
    if (down) out[n++] = --g->lo;
    if (up) out[n++] = ++g->hi;
    return n;
}

int eval_adam_tuned(const char *family, const task_params *tp, const int64_t *horizons, int nh,
                    const uint64_t *seeds, int nseeds, eval_grid *g)
{
    if (nh < 1 || nh > EVAL_MAX_HORIZONS) return ERR_INVALID_ARGUMENT;
    eval_grid_init(g, nh);
    int pts[EVAL_GRID_POINTS], n;
    while ((n = eval_grid_next(g, pts)) > 0)
        for (int k = 0; k < n; k++) {
            opt_config cfg;
            int rc = opt_config_defaults(&cfg, "adam");
            if (!rc) rc = opt_config_set(&cfg, "lr", eval_grid_lr(pts[k]));
            if (!rc) rc = eval_run_horizons(&cfg, family, tp, horizons, nh, seeds, nseeds, eval_grid_at(g, pts[k]));
            if (rc) return rc;
        }
    return 0;
}

/* ---- ratios and the summary -------------------------------------------------- */

int eval_ratio(double lo, double tuned, int has_min, double min, double *ratio)
{
    if (!isfinite(lo)) {
        *ratio = INFINITY;
        return 1;
    }
    if (!isfinite(tuned)) return 0;
    double a = has_min ? lo - min : lo, b = has_min ? tuned - min : tuned;
    if (!(a > 0 && b > 0)) return 0;
    *ratio = a / b;
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and maximum of v[0..n) (sorted in place); NAN when n == 0. */
static void median_worst(double *v, int n, double *median, double *worst)
{
    if (!n) {
        *median = *worst = NAN;
        return;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *worst = v[n - 1];
}

int eval_summarize(const eval_entry *e, int n, eval_summary *s)
{
    memset(s, 0, sizeof *s);
    double *rt = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof *rt);
    if (!rt) return ERR_NO_MEMORY;
    double *rh = rt + (n > 0 ? n : 1);
    double rel = 0;
    for (int i = 0; i < n; i++) {
        const eval_entry *x = &e[i];
        s->n++;
        s->win_tuned += isfinite(x->lo) && x->lo < x->tuned;
        s->win_1e3 += isfinite(x->lo) && x->lo < x->a3;
        s->nonfinite_runs += x->lo_nonfinite;
        s->lr_at_edge += x->lr_at_edge;
        double r;
        if (eval_ratio(x->lo, x->tuned, x->has_min, x->min, &r)) rt[s->nratio++] = r;
        else s->nratio_skipped++;
        if (eval_ratio(x->lo_heldout, x->tuned_heldout, x->has_min, x->min, &r)) rh[s->nheld++] = r;
        else s->nheld_skipped++;
        if (isfinite(x->lo) && isfinite(x->a3) && x->lo > 0 && x->a3 > 0) {
            rel += x->lo / x->a3;
            s->nrel13++;
        }
    }
    median_worst(rt, s->nratio, &s->ratio_median, &s->ratio_worst);
    median_worst(rh, s->nheld, &s->held_median, &s->held_worst);
    s->rel13_mean = s->nrel13 ? rel / s->nrel13 : NAN;
    free(rt);
    return 0;
}
