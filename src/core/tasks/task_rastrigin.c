/* task_rastrigin.c — Rastrigin, averaged over coordinates:
 * f = 10 + mean_i (p_i^2 - 10 cos(2 pi p_i)).  Global minimum 0 at p = 0,
 * a local minimum near every integer point.  Optional gradient noise;
 * diagonal HVP.  Initial points uniform in [-5.12, 5.12] * init_scale. */
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

#define RAS_MAX_DIM (1 << 24)

static double ras(int d, const float *p, float *g)
{
    double s = 0, k = 1.0 / d;
    for (int i = 0; i < d; i++) {
        double x = p[i];
        s += x * x - 10 * cos(2 * M_PI * x);
        if (g) g[i] = (float)(k * (2 * x + 20 * M_PI * sin(2 * M_PI * x)));
    }
    return 10 + s * k;
}

static double ras_loss_grad(task *t, const float *p, float *g, rng *r)
{
    rng cr;
    tasks_call_rng(r, &cr);
    double f = ras(t->p.dim, p, g);
    if (g) tasks_add_noise(g, t->n, t->p.noise, &cr);
    return tasks_finite_or_nan(f);
}

static double ras_eval(task *t, const float *p) { return tasks_finite_or_nan(ras(t->p.dim, p, NULL)); }

static int ras_hvp(task *t, const float *p, const float *v, float *out)
{
    int d = t->p.dim;
    for (int i = 0; i < d; i++)
        out[i] = (float)((2 + 40 * M_PI * M_PI * cos(2 * M_PI * (double)p[i])) / d * v[i]);
    return 0;
}

static void ras_init(task *t, rng *r, float *p)
{
    float a = (float)(5.12 * t->p.init_scale);
    rng_uniform_fill(r, p, t->n, -a, a);
}

static void ras_free(task *t) { (void)t; }

static const task_vtbl ras_vt = {ras_loss_grad, ras_eval, ras_hvp, ras_init, ras_free};

static int ras_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 10;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->noise < 0) p->noise = 0;
    if (p->dim < 1 || p->dim > RAS_MAX_DIM || !(p->init_scale > 0) || !isfinite(p->noise)) {
        tasks_set_error("rastrigin: dim must be in 1..%d, init_scale > 0, noise finite", RAS_MAX_DIM);
        return ERR_OUT_OF_RANGE;
    }
    t->vt = &ras_vt;
    return tasks_layout_flat(t, "theta", (size_t)p->dim);
}

const task_family task_family_rastrigin = {
    "rastrigin", "synthetic", "Rastrigin, mean over coordinates, optional gradient noise", ras_create,
    TASK_KEY_DIM | TASK_KEY_NOISE};
