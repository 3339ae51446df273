/* task_noisy_quadratic.c — diagonal quadratic 0.5 sum h_i (p_i - c_i)^2 with
 * curvatures h_i spread log-uniformly over [1e-3, 1] and centres c_i ~ N(0,1)
 * from the seed; the minibatch gradient carries noise whose variance follows
 * the curvature, noise * sqrt(h_i) * N(0,1) (the noisy quadratic model of
 * Zhang et al. 2019).  loss_grad returns the noiseless loss; HVP = h .* v. */
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

#define NQ_MAX_DIM (1 << 24)

typedef struct nquad { int d; float *h, *c; } nquad;

static double nq_loss(const nquad *q, const float *p, float *g)
{
    double s = 0;
    for (int i = 0; i < q->d; i++) {
        double e = (double)p[i] - q->c[i];
        s += 0.5 * q->h[i] * e * e;
        if (g) g[i] = (float)(q->h[i] * e);
    }
    return s;
}

static double nq_loss_grad(task *t, const float *p, float *g, rng *r)
{
    nquad *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    double f = nq_loss(q, p, g);
    if (g && t->p.noise > 0)
        for (int i = 0; i < q->d; i++) g[i] += (float)(t->p.noise * sqrt(q->h[i]) * rng_normal(&cr));
    return tasks_finite_or_nan(f);
}

static double nq_eval(task *t, const float *p) { return tasks_finite_or_nan(nq_loss(t->impl, p, NULL)); }

static int nq_hvp(task *t, const float *p, const float *v, float *out)
{
    (void)p;
    nquad *q = t->impl;
    for (int i = 0; i < q->d; i++) out[i] = q->h[i] * v[i];
    return 0;
}

static void nq_init(task *t, rng *r, float *p)
{
    rng_normal_fill(r, p, t->n, 0.0f, (float)t->p.init_scale);
}

static void nq_free(task *t)
{
    nquad *q = t->impl;
    if (!q) return;
    free(q->h); free(q->c); free(q);
    t->impl = NULL;
}

static const task_vtbl nq_vt = {nq_loss_grad, nq_eval, nq_hvp, nq_init, nq_free};

static int nq_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 100;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->noise == 0) p->noise = 1.0;
    if (p->noise < 0) p->noise = 0;
    if (p->dim < 1 || p->dim > NQ_MAX_DIM || !(p->init_scale > 0) || !isfinite(p->noise)) {
        tasks_set_error("noisy_quadratic: dim must be in 1..%d, init_scale > 0, noise finite", NQ_MAX_DIM);
        return ERR_OUT_OF_RANGE;
    }
    nquad *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    q->d = p->dim;
    q->h = malloc(sizeof(float) * (size_t)q->d);
    q->c = malloc(sizeof(float) * (size_t)q->d);
    t->impl = q;
    t->vt = &nq_vt;
    if (!q->h || !q->c) { nq_free(t); return ERR_NO_MEMORY; }
    rng r;
    rng_seed(&r, t->seed);
    for (int i = 0; i < q->d; i++) q->h[i] = (float)pow(10.0, -3.0 * rng_uniform(&r));
    rng_normal_fill(&r, q->c, (size_t)q->d, 0.0f, 1.0f);
    int rc = tasks_layout_flat(t, "theta", (size_t)q->d);
    if (rc) nq_free(t);
    return rc;
}

const task_family task_family_noisy_quadratic = {
    "noisy_quadratic", "synthetic",
    "diagonal quadratic, log-uniform curvatures in [1e-3,1], curvature-shaped gradient noise", nq_create,
    TASK_KEY_DIM | TASK_KEY_NOISE};
