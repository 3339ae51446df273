/* meta_reptile.c — Reptile across task families over a learned optimizer's
 * weights, with meta.c's outer step as the adaptation.  See meta_reptile.h. */
#include "meta_reptile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "meta_internal.h"

/* Index of the family of task i among c's families (order of first appearance). */
static int family_of(const meta_config *c, int i)
{
    int f = 0;
    for (int a = 0; a < i; a++) {
        int seen = 0;
        for (int b = 0; b < a && !seen; b++) seen = strcmp(c->tasks[a].family, c->tasks[b].family) == 0;
        if (seen) continue;
        if (strcmp(c->tasks[a].family, c->tasks[i].family) == 0) return f;
        f++;
    }
    return f;
}

int meta_reptile_families(const meta_config *c)
{
    int n = 0;
    for (int i = 0; i < c->ntasks; i++)
        if (family_of(c, i) == n) n++;
    return n;
}

uint64_t meta_reptile_inner_seed(uint64_t seed, int64_t step)
{
    uint64_t z = seed ^ ((uint64_t)(step + 1) * 0x9E3779B97F4A7C15ull);   /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int meta_reptile_inner_config(const meta_config *c, int64_t step, meta_config *out)
{
    int F = meta_reptile_families(c);
    if (c->maml_inner_steps < 1 || F < 1 || step < 0) return ERR_INVALID_ARGUMENT;
    int f = (int)(step % F);
    *out = *c;
    out->ntasks = 0;
    for (int i = 0; i < c->ntasks; i++)
        if (family_of(c, i) == f) out->tasks[out->ntasks++] = c->tasks[i];
    out->maml_inner_steps = 0;
    out->maml_step = 0;
    out->seed = meta_reptile_inner_seed(c->seed, step);
    return 0;
}

static int run_default(void *ctx, meta_job *inner, meta_report *rep)
{
    (void)ctx;
    return meta_step(inner, rep);
}

int meta_reptile_step(meta_job *j, meta_reptile_run_fn run, void *ctx, meta_report *rep)
{
    meta_config ic;
    int rc = meta_reptile_inner_config(&j->cfg, j->step, &ic);
    if (rc) return rc;
    if (!run) run = run_default;
    meta_job *in = NULL;
    rc = meta_job_new(&ic, &j->w, &in);
    if (rc) return rc;
    double loss = 0;
    int failed = 0;
    for (int s = 0; s < j->cfg.maml_inner_steps && !rc; s++) {
        meta_report r;
        rc = run(ctx, in, &r);
        if (!rc) {
            loss += r.meta_loss;
            failed += r.failed_paths;
        }
    }
    if (rc) {
        meta_job_free(in);
        return rc;
    }
    double eps = j->cfg.maml_step > 0 ? j->cfg.maml_step : 1.0;
    const float *tk = in->w.theta;
    float *th = j->w.theta;
    double d2 = 0;
    for (size_t i = 0; i < j->w.ntheta; i++) {
        double d = (double)tk[i] - (double)th[i];
        d2 += d * d;
        th[i] = eps == 1.0 ? tk[i] : (float)((double)th[i] + eps * d);
    }
    meta_job_free(in);
    j->step++;
    memset(rep, 0, sizeof *rep);
    rep->step = j->step;
    rep->meta_loss = loss / j->cfg.maml_inner_steps;
    rep->grad_norm = sqrt(d2);
    rep->failed_paths = failed;
    return 0;
}
