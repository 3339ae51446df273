/* meta_continual.c — stages, EWC and replay (see meta_continual.h).  The
 * stage boundary reaches into the job (meta_internal.h). */
#include "meta_continual.h"
#include "meta_internal.h"
#include "errors.h"

#include <math.h>
#include <string.h>

int64_t meta_stage_start(const meta_config *c, int s)
{
    int64_t t = 0;
    for (int i = 0; i < s && i < c->nstages; i++) t += c->stage_steps[i];
    return t;
}

int64_t meta_stages_total(const meta_config *c) { return meta_stage_start(c, c->nstages); }

int meta_stage_at(const meta_config *c, int64_t step)
{
    int64_t t = 0;
    for (int s = 0; s < c->nstages; s++) {
        t += c->stage_steps[s];
        if (step < t) return s;
    }
    return c->nstages > 0 ? c->nstages - 1 : 0;
}

int meta_stages_check(const meta_config *c)
{
    if (c->nstages < 0 || c->nstages > META_MAX_STAGES || !(c->ewc_lambda >= 0) || !isfinite(c->ewc_lambda) ||
        !(c->replay >= 0 && c->replay <= 1) || c->ewc_window < 1)
        return ERR_INVALID_ARGUMENT;
    if (c->nstages == 0) return c->ewc_lambda == 0 && c->replay == 0 ? 0 : ERR_INVALID_ARGUMENT;
    uint32_t all = c->ntasks >= 32 ? 0xffffffffu : (1u << c->ntasks) - 1, seen = 0;
    for (int s = 0; s < c->nstages; s++) {
        if (c->stage_steps[s] < 1 || !c->stage_tasks[s] || (c->stage_tasks[s] & ~all)) return ERR_INVALID_ARGUMENT;
        seen |= c->stage_tasks[s];
    }
    return seen == all ? 0 : ERR_INVALID_ARGUMENT;
}

/* The draw among the n tasks idx[0..n) as meta_draw_task does among all. */
static int draw_among(const meta_config *c, const int *idx, int n, int k, const rng *r)
{
    if (c->task_draw != META_DRAW_WEIGHTED) return idx[k % n];
    rng rt;
    rng_split(r, 0x7461736bull, &rt);
    double tot = 0;
    for (int i = 0; i < n; i++) tot += c->tasks[idx[i]].weight > 0 ? c->tasks[idx[i]].weight : 1.0;
    double u = rng_uniform(&rt) * tot;
    for (int i = 0; i < n; i++) {
        u -= c->tasks[idx[i]].weight > 0 ? c->tasks[idx[i]].weight : 1.0;
        if (u < 0) return idx[i];
    }
    return idx[n - 1];
}

int meta_stage_draw(const meta_config *c, int64_t step, int k, const rng *r)
{
    if (c->nstages == 0) return meta_draw_task(c, k, r);
    int s = meta_stage_at(c, step), cur[META_MAX_TASKS], old[META_MAX_TASKS], ncur = 0, nold = 0;
    uint32_t before = 0;
    for (int q = 0; q < s; q++) before |= c->stage_tasks[q];
    for (int i = 0; i < c->ntasks; i++) {
        if (c->stage_tasks[s] >> i & 1) cur[ncur++] = i;
        else if (before >> i & 1) old[nold++] = i;
    }
    if (c->replay > 0 && nold > 0) {
        rng rr;
        rng_split(r, 0x7265706cull, &rr);
        if (rng_uniform(&rr) < c->replay) return old[rng_below(&rr, (uint64_t)nold)];
    }
    return draw_among(c, cur, ncur, k, r);
}

int meta_fisher_window(const meta_config *c, int64_t step)
{
    if (c->nstages == 0) return 0;
    int s = meta_stage_at(c, step);
    int64_t end = meta_stage_start(c, s + 1), w = c->ewc_window < c->stage_steps[s] ? c->ewc_window : c->stage_steps[s];
    return step < end && step >= end - w;
}

void meta_fisher_add(double *acc, const float *dir, double coef, double w, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        double g = coef * dir[i];
        acc[i] += w * g * g;
    }
}

void meta_ewc_grad(float *g, const double *F, const double *b, const float *theta, double lambda, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) g[i] += (float)(lambda * (F[i] * theta[i] - b[i]));
}

double meta_ewc_penalty(const double *F, const double *b, double c, const double *theta, double lambda, size_t n)
{
    double s = c;
    for (size_t i = 0; i < n; i++) s += F[i] * theta[i] * theta[i] - 2 * b[i] * theta[i];
    return 0.5 * lambda * s;
}

/* After outer step j->step − 1: when it ended a stage (not the last),
 * consolidates the stage's Fisher estimate and theta into the penalty and
 * restarts the outer Adam and the particles as a fresh job would. */
void meta_stage_boundary(meta_job *j)
{
    const meta_config *c = &j->cfg;
    int s = meta_stage_at(c, j->step - 1);
    if (c->nstages == 0 || s == c->nstages - 1 || j->step != meta_stage_start(c, s + 1)) return;
    size_t nt = j->w.ntheta;
    for (size_t i = 0; i < nt; i++) {
        j->ewc_F[i] += j->ewc_acc[i];
        j->ewc_b[i] += j->ewc_acc[i] * j->w.theta[i];
        j->ewc_acc[i] = 0;
    }
    memset(j->am, 0, nt * sizeof(double));
    memset(j->av, 0, nt * sizeof(double));
    j->at = 0;
    for (int k = 0; k < c->nparticles; k++) {
        particle *p = &j->P[k];
        meta_particle_drop(p);
        p->episode = 0;
        p->active = p->failed = 0;
        p->t = p->horizon = 0;
        memset(p->xi, 0, nt * sizeof(float));
    }
}

int meta_family_loss(const meta_config *cfg, const float *theta, const char *family, int seeds, int steps,
                     double *loss)
{
    *loss = NAN;
    double sum = 0;
    int n = 0;
    for (int i = 0; i < cfg->ntasks; i++) {
        if (strcmp(cfg->tasks[i].family, family) != 0) continue;
        for (int s = 0; s < seeds; s++) {
            uint64_t base = 0x6576616c00ull + (uint64_t)s;
            double l;
            int rc = meta_unroll_loss(cfg, theta, i, base, base + (1ull << 20), base + (1ull << 21), steps, &l);
            if (rc) return rc;
            sum += l;
            n++;
        }
    }
    if (!n || seeds < 1) return ERR_NOT_FOUND;
    *loss = sum / n;
    return 0;
}
