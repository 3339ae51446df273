/* task_rosenbrock.c — generalised Rosenbrock in `dim` dimensions, averaged
 * over its dim-1 terms: f = mean_i 100 (p_{i+1} - p_i^2)^2 + (1 - p_i)^2.
 * Minimum 0 at p = 1.  Optional gradient noise; exact HVP. */
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

#define ROSEN_MAX_DIM (1 << 24)

static double rosen(int d, const float *p, float *g)
{
    double s = 0, k = 1.0 / (d - 1);
    if (g) for (int i = 0; i < d; i++) g[i] = 0;
    for (int i = 0; i + 1 < d; i++) {
        double x = p[i], y = p[i + 1], a = y - x * x, b = 1 - x;
        s += 100 * a * a + b * b;
        if (g) {
            g[i] += (float)(k * (-400 * x * a - 2 * b));
            g[i + 1] += (float)(k * 200 * a);
        }
    }
    return s * k;
}

static double rosen_loss_grad(task *t, const float *p, float *g, rng *r)
{
    rng cr;
    tasks_call_rng(r, &cr);
    double f = rosen(t->p.dim, p, g);
    if (g) tasks_add_noise(g, t->n, t->p.noise, &cr);
    return tasks_finite_or_nan(f);
}

static double rosen_eval(task *t, const float *p) { return tasks_finite_or_nan(rosen(t->p.dim, p, NULL)); }

static int rosen_hvp(task *t, const float *p, const float *v, float *out)
{
    int d = t->p.dim;
    double k = 1.0 / (d - 1);
    for (int i = 0; i < d; i++) out[i] = 0;
    for (int i = 0; i + 1 < d; i++) {
        double x = p[i], y = p[i + 1];
        double hxx = 1200 * x * x - 400 * y + 2, hxy = -400 * x, hyy = 200;
        out[i] += (float)(k * (hxx * v[i] + hxy * v[i + 1]));
        out[i + 1] += (float)(k * (hxy * v[i] + hyy * v[i + 1]));
    }
    return 0;
}

static void rosen_init(task *t, rng *r, float *p)
{
    rng_normal_fill(r, p, t->n, 0.0f, (float)t->p.init_scale);
}

static void rosen_free(task *t) { (void)t; }

static const task_vtbl rosen_vt = {rosen_loss_grad, rosen_eval, rosen_hvp, rosen_init, rosen_free};

static int rosen_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 2;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->noise < 0) p->noise = 0;
    if (p->dim < 2 || p->dim > ROSEN_MAX_DIM || !(p->init_scale > 0) || !isfinite(p->noise)) {
        tasks_set_error("rosenbrock: dim must be in 2..%d, init_scale > 0, noise finite", ROSEN_MAX_DIM);
        return ERR_OUT_OF_RANGE;
    }
    t->vt = &rosen_vt;
    return tasks_layout_flat(t, "theta", (size_t)p->dim);
}

const task_family task_family_rosenbrock = {
    "rosenbrock", "synthetic", "generalised Rosenbrock, mean over terms, optional gradient noise",
    rosen_create,
    TASK_KEY_DIM | TASK_KEY_NOISE};
