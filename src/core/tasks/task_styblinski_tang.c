/* task_styblinski_tang.c — Styblinski–Tang, averaged over coordinates:
 * f = mean_i 0.5 (p_i^4 - 16 p_i^2 + 5 p_i); minimum ≈ -39.166 at
 * p_i ≈ -2.9035.  Optional gradient noise; diagonal HVP.  Initial points
 * uniform in [-5, 5] * init_scale. */
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

#define ST_MAX_DIM (1 << 24)

static double st(int d, const float *p, float *g)
{
    double s = 0, k = 1.0 / d;
    for (int i = 0; i < d; i++) {
        double x = p[i];
        s += 0.5 * (x * x * x * x - 16 * x * x + 5 * x);
        if (g) g[i] = (float)(k * 0.5 * (4 * x * x * x - 32 * x + 5));
    }
    return s * k;
}

static double st_loss_grad(task *t, const float *p, float *g, rng *r)
{
    rng cr;
    tasks_call_rng(r, &cr);
    double f = st(t->p.dim, p, g);
    if (g) tasks_add_noise(g, t->n, t->p.noise, &cr);
    return tasks_finite_or_nan(f);
}

static double st_eval(task *t, const float *p) { return tasks_finite_or_nan(st(t->p.dim, p, NULL)); }

static int st_hvp(task *t, const float *p, const float *v, float *out)
{
    int d = t->p.dim;
    for (int i = 0; i < d; i++) {
        double x = p[i];
        out[i] = (float)(0.5 * (12 * x * x - 32) / d * v[i]);
    }
    return 0;
}

static void st_init(task *t, rng *r, float *p)
{
    float a = (float)(5.0 * t->p.init_scale);
    rng_uniform_fill(r, p, t->n, -a, a);
}

static void st_free(task *t) { (void)t; }

static const task_vtbl st_vt = {st_loss_grad, st_eval, st_hvp, st_init, st_free};

static int st_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 10;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->noise < 0) p->noise = 0;
    if (p->dim < 1 || p->dim > ST_MAX_DIM || !(p->init_scale > 0) || !isfinite(p->noise)) {
        tasks_set_error("styblinski_tang: dim must be in 1..%d, init_scale > 0, noise finite", ST_MAX_DIM);
        return ERR_OUT_OF_RANGE;
    }
    t->vt = &st_vt;
    return tasks_layout_flat(t, "theta", (size_t)p->dim);
}

const task_family task_family_styblinski_tang = {
    "styblinski_tang", "synthetic", "Styblinski-Tang, mean over coordinates, optional gradient noise",
    st_create,
    TASK_KEY_DIM | TASK_KEY_NOISE};
