/* hpo_gp_sample.c — the GP sampler's draw: the complete trials mapped into
 * [0,1]^d (log parameters in log space) with standardised objective values,
 * a GP fitted to them (hpo_gp.c), and the point of largest expected
 * improvement among random candidates, candidates around the best trials,
 * and a local refinement of the best few.  See hpo_gp.h and hpo.h.
 *
 * Only complete trials with a finite value and every parameter in range
 * inform it.  Past HPO_GP_MAX_POINTS of them, the best half by value and
 * the newest of the rest are kept, in trial order. */
#include "hpo_gp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "rng.h"

#define N_RANDOM    1000   /* uniform candidates */
#define N_TOP       5      /* best trials perturbed, best candidates refined */
#define N_AROUND    40     /* candidates around each of the N_TOP best trials */
#define AROUND_SD   0.05
#define REFINE_ROUNDS 24
#define REFINE_TRIES  4

/* The parameter's value in [0, 1]; a fixed parameter (low == high) is 0.5. */
static double to_unit(const hpo_param *p, double v)
{
    if (p->low == p->high) return 0.5;
    if (p->log) return (log(v) - log(p->low)) / (log(p->high) - log(p->low));
    return (v - p->low) / (p->high - p->low);
}

static double from_unit(const hpo_param *p, double u)
{
    if (p->low == p->high) return p->low;
    u = fmin(fmax(u, 0.0), 1.0);
    double v = p->log ? exp(log(p->low) + u * (log(p->high) - log(p->low))) : p->low + u * (p->high - p->low);
    return hpo_snap(p, v);
}

typedef struct obs { int idx; double key; } obs;

static int obs_key_cmp(const void *pa, const void *pb)
{
    const obs *x = pa, *y = pb;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int obs_idx_cmp(const void *pa, const void *pb)
{
    const obs *x = pa, *y = pb;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Picks the trials that inform the model into sel (their hist indices in
 * trial order); returns how many.  sel holds nhist entries. */
static int select_points(const hpo_space *sp, int direction, const hpo_trial *hist, int nhist, obs *sel)
{
    int m = 0;
    for (int i = 0; i < nhist; i++) {
        const hpo_trial *t = &hist[i];
        if (t->state != HPO_COMPLETE || !isfinite(t->value) || !t->x) continue;
        int ok = 1;
        for (int j = 0; j < sp->n && ok; j++) ok = hpo_param_contains(&sp->p[j], t->x[j]);
        if (ok) sel[m++] = (obs){i, direction * t->value};
    }
    if (m <= HPO_GP_MAX_POINTS) return m;
    /* the best half by value, then the newest of the rest */
    int half = HPO_GP_MAX_POINTS / 2;
    qsort(sel, (size_t)m, sizeof *sel, obs_key_cmp);
    qsort(sel + half, (size_t)(m - half), sizeof *sel, obs_idx_cmp);
    memmove(sel + half, sel + m - (HPO_GP_MAX_POINTS - half), sizeof *sel * (size_t)(HPO_GP_MAX_POINTS - half));
    qsort(sel, HPO_GP_MAX_POINTS, sizeof *sel, obs_idx_cmp);
    return HPO_GP_MAX_POINTS;
}

typedef struct cand { double score; double u[HPO_MAX_PARAMS]; } cand;

static double score_at(const hpo_gp *g, const double *u, double best, double *work)
{
    double mean, var;
    hpo_gp_predict(g, u, work, &mean, &var);
    return hpo_gp_log_ei(mean, var, best);
}

/* Keeps top[0..N_TOP) the best candidates seen, best first. */
static void keep(cand *top, int *ntop, const double *u, int d, double score)
{
    int k;
    if (*ntop < N_TOP) k = (*ntop)++;
    else if (score > top[N_TOP - 1].score) k = N_TOP - 1;
    else return;
    while (k > 0 && score > top[k - 1].score) {
        top[k] = top[k - 1];
        k--;
    }
    top[k].score = score;
    memcpy(top[k].u, u, sizeof(double) * (size_t)d);
}

int hpo_gp_sample(const hpo_space *sp, int direction, const hpo_trial *hist, int nhist, rng *r, double *x)
{
    int d = sp->n;
    if (nhist < 1) return ERR_INVALID_ARGUMENT;
    obs *sel = malloc(sizeof(obs) * (size_t)nhist);
    if (!sel) return ERR_NO_MEMORY;
    int n = select_points(sp, direction, hist, nhist, sel);
    if (n < 1) {
        free(sel);
        return ERR_INVALID_ARGUMENT;
    }
    double *X = malloc(sizeof(double) * (size_t)n * (size_t)d);
    double *y = malloc(sizeof(double) * (size_t)n);
    double *work = malloc(sizeof(double) * (size_t)n);
    if (!X || !y || !work) {
        free(sel);
        free(X);
        free(y);
        free(work);
        return ERR_NO_MEMORY;
    }
    double mu = 0, sd = 0;
    for (int a = 0; a < n; a++) {
        const hpo_trial *t = &hist[sel[a].idx];
        for (int j = 0; j < d; j++) X[(size_t)a * d + j] = to_unit(&sp->p[j], t->x[j]);
        y[a] = direction * t->value;
        mu += y[a];
    }
    mu /= n;
    for (int a = 0; a < n; a++) sd += (y[a] - mu) * (y[a] - mu);
    sd = n > 1 ? sqrt(sd / n) : 0;
    if (!(sd > 0) || !isfinite(sd)) sd = 1;
    double best = INFINITY;
    for (int a = 0; a < n; a++) {
        y[a] = (y[a] - mu) / sd;
        if (y[a] < best) best = y[a];
    }
    hpo_gp g;
    int rc = hpo_gp_init(&g, n, d, X, y);
    if (!rc) rc = hpo_gp_fit(&g, r);
    if (!rc) {
        cand top[N_TOP];
        int ntop = 0;
        double u[HPO_MAX_PARAMS];
        for (int c = 0; c < N_RANDOM; c++) {
            for (int j = 0; j < d; j++) u[j] = rng_uniform(r);
            keep(top, &ntop, u, d, score_at(&g, u, best, work));
        }
        /* around the best trials: the n smallest y, ties by order */
        int order[N_TOP], no = 0;
        for (int a = 0; a < n; a++) {
            int k;
            if (no < N_TOP) k = no++;
            else if (y[a] < y[order[N_TOP - 1]]) k = N_TOP - 1;
            else continue;
            while (k > 0 && y[a] < y[order[k - 1]]) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = a;
        }
        for (int b = 0; b < no; b++)
            for (int c = 0; c < N_AROUND; c++) {
                for (int j = 0; j < d; j++)
                    u[j] = fmin(fmax(X[(size_t)order[b] * d + j] + AROUND_SD * rng_normal(r), 0.0), 1.0);
                keep(top, &ntop, u, d, score_at(&g, u, best, work));
            }
        /* local refinement: shrinking Gaussian steps from each of the best */
        double win = -INFINITY, wu[HPO_MAX_PARAMS];
        for (int b = 0; b < ntop; b++) {
            cand c = top[b];
            double rad = 0.1;
            for (int round = 0; round < REFINE_ROUNDS; round++, rad *= 0.8)
                for (int t = 0; t < REFINE_TRIES; t++) {
                    for (int j = 0; j < d; j++) u[j] = fmin(fmax(c.u[j] + rad * rng_normal(r), 0.0), 1.0);
                    double s = score_at(&g, u, best, work);
                    if (s > c.score) {
                        c.score = s;
                        memcpy(c.u, u, sizeof(double) * (size_t)d);
                    }
                }
            if (c.score > win || b == 0) {
                win = c.score;
                memcpy(wu, c.u, sizeof(double) * (size_t)d);
            }
        }
        for (int j = 0; j < d; j++) x[j] = from_unit(&sp->p[j], wu[j]);
    }
    hpo_gp_free(&g);
    free(sel);
    free(X);
    free(y);
    free(work);
    return rc;
}
