/* task_quadratic.c — the L2L quadratic family f(p) = ||W p - y||^2 with
 * W (dim, dim) and y (dim) drawn N(0,1) from the seed (Andrychowicz et al.
 * 2016).  Deterministic objective (gradient noise only when noise > 0);
 * HVP 2 W^T W v. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tasks_internal.h"

#define QUAD_MAX_DIM 2048

typedef struct quad {
    int     d;
    float  *w;     /* (d, d) */
    float  *y;     /* (d) */
    double *res;   /* (d) scratch */
} quad;

/* res = W p - y; returns ||res||^2. */
static double quad_residual(const quad *q, const float *p)
{
    double s = 0;
    for (int i = 0; i < q->d; i++) {
        const float *wi = q->w + (size_t)i * q->d;
        double r = -(double)q->y[i];
        for (int j = 0; j < q->d; j++) r += (double)wi[j] * p[j];
        q->res[i] = r;
        s += r * r;
    }
    return s;
}

/* out = 2 W^T v (v of length d, double) */
static void quad_wt(const quad *q, const double *v, float *out)
{
    for (int j = 0; j < q->d; j++) {
        double s = 0;
        for (int i = 0; i < q->d; i++) s += (double)q->w[(size_t)i * q->d + j] * v[i];
        out[j] = (float)(2 * s);
    }
}

static double quad_loss_grad(task *t, const float *p, float *g, rng *r)
{
    quad *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    double f = quad_residual(q, p);
    if (g) {
        quad_wt(q, q->res, g);
        tasks_add_noise(g, (size_t)q->d, t->p.noise, &cr);
    }
    return tasks_finite_or_nan(f);
}

static double quad_eval(task *t, const float *p)
{
    return tasks_finite_or_nan(quad_residual(t->impl, p));
}

static int quad_hvp(task *t, const float *p, const float *v, float *out)
{
    (void)p;
    quad *q = t->impl;
    for (int i = 0; i < q->d; i++) {
        double s = 0;
        for (int j = 0; j < q->d; j++) s += (double)q->w[(size_t)i * q->d + j] * v[j];
        q->res[i] = s;
    }
    quad_wt(q, q->res, out);
    return 0;
}

static void quad_init(task *t, rng *r, float *p)
{
    rng_normal_fill(r, p, t->n, 0.0f, (float)t->p.init_scale);
}

static void quad_free(task *t)
{
    quad *q = t->impl;
    if (!q) return;
    free(q->w); free(q->y); free(q->res); free(q);
    t->impl = NULL;
}

static const task_vtbl quad_vt = {quad_loss_grad, quad_eval, quad_hvp, quad_init, quad_free};

static int quad_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 10;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->noise < 0) p->noise = 0;
    if (p->dim < 1 || p->dim > QUAD_MAX_DIM || !(p->init_scale > 0) || !isfinite(p->noise)) {
        tasks_set_error("quadratic: dim must be in 1..%d, init_scale > 0, noise finite", QUAD_MAX_DIM);
        return ERR_OUT_OF_RANGE;
    }
    quad *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    q->d = p->dim;
    q->w = malloc(sizeof(float) * (size_t)q->d * q->d);
    q->y = malloc(sizeof(float) * (size_t)q->d);
    q->res = malloc(sizeof(double) * (size_t)q->d);
    t->impl = q;
    t->vt = &quad_vt;
    if (!q->w || !q->y || !q->res) { quad_free(t); return ERR_NO_MEMORY; }
    rng r;
    rng_seed(&r, t->seed);
    rng_normal_fill(&r, q->w, (size_t)q->d * q->d, 0.0f, 1.0f);
    rng_normal_fill(&r, q->y, (size_t)q->d, 0.0f, 1.0f);
    int rc = tasks_layout_flat(t, "theta", (size_t)q->d);
    if (rc) quad_free(t);
    return rc;
}

const task_family task_family_quadratic = {
    "quadratic", "synthetic", "L2L quadratic ||W p - y||^2, W and y ~ N(0,1)", quad_create,
    TASK_KEY_DIM | TASK_KEY_NOISE};
