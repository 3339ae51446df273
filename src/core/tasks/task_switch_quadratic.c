/* task_switch_quadratic.c — a quadratic whose curvature changes mid-run:
 * 0.5 Σ κ(k) h_i (p_i − c_i)², h_i log-uniform over [1e-3, 1] and c_i ~
 * N(0,1) from the seed (noisy_quadratic's), κ(k) = 1 for the first
 * `switch_step` loss_grad calls of a run and `switch_scale` after (default
 * 1000 calls and ×100): the optimizer that ran well on the first phase
 * meets a landscape 100 times steeper (or, with switch_scale < 1, flatter)
 * at the same point.  Gradient noise noise·√(κh_i)·N(0,1) when noise > 0
 * (default 0).
 *
 * A run is the calls that draw from one caller rng (its address) since
 * init_params: the first call after init_params starts its stream's count
 * again.  So every evaluation run, and each path of a meta-training
 * particle (its + and − paths and the reference share one task instance
 * but not their rngs, and each resets right before its first call),
 * switches at its own step `switch_step`.  SQ_RUNS streams are tracked
 * (the least recently started is dropped).  eval_loss and hvp use the
 * phase of the stream called last. */
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

#define SQ_MAX_DIM (1 << 24)

#define SQ_RUNS 4

typedef struct squad {
    int d;
    float *h, *c;
    const rng *who[SQ_RUNS];      /* the streams of the runs under way (NULL: free) */
    int64_t calls[SQ_RUNS];       /* loss_grad calls of each since its start */
    int64_t started[SQ_RUNS];     /* when it started (for dropping the oldest) */
    int64_t nstarts;
    int fresh;                    /* 1 after init_params: the next stream starts a run */
    int cur;                      /* the slot called last (-1: none) */
} squad;

/* The slot of stream r for this call (starting its run after init_params). */
static int sq_slot(squad *q, const rng *r)
{
    int k = -1;
    for (int i = 0; i < SQ_RUNS; i++)
        if (q->who[i] == r) k = i;
    if (k < 0) {
        k = 0;
        for (int i = 1; i < SQ_RUNS; i++)
            if (!q->who[i] ? q->who[k] != NULL : q->who[k] && q->started[i] < q->started[k]) k = i;
        q->fresh = 1;
    }
    if (q->fresh) {
        q->who[k] = r;
        q->calls[k] = 0;
        q->started[k] = q->nstarts++;
        q->fresh = 0;
    }
    return k;
}

static double sq_kappa(const task *t, const squad *q)
{
    return q->cur >= 0 && q->calls[q->cur] >= t->p.switch_step ? t->p.switch_scale : 1.0;
}

static double sq_loss(const task *t, const squad *q, const float *p, float *g)
{
    double s = 0, k = sq_kappa(t, q);
    for (int i = 0; i < q->d; i++) {
        double e = (double)p[i] - q->c[i], hk = k * q->h[i];
        s += 0.5 * hk * e * e;
        if (g) g[i] = (float)(hk * e);
    }
    return s;
}

static double sq_loss_grad(task *t, const float *p, float *g, rng *r)
{
    squad *q = t->impl;
    q->cur = sq_slot(q, r);
    rng cr;
    tasks_call_rng(r, &cr);
    double f = sq_loss(t, q, p, g);
    if (g && t->p.noise > 0) {
        double k = sq_kappa(t, q);
        for (int i = 0; i < q->d; i++) g[i] += (float)(t->p.noise * sqrt(k * q->h[i]) * rng_normal(&cr));
    }
    q->calls[q->cur]++;
    return tasks_finite_or_nan(f);
}

static double sq_eval(task *t, const float *p) { return tasks_finite_or_nan(sq_loss(t, t->impl, p, NULL)); }

static int sq_hvp(task *t, const float *p, const float *v, float *out)
{
    (void)p;
    squad *q = t->impl;
    double k = sq_kappa(t, q);
    for (int i = 0; i < q->d; i++) out[i] = (float)(k * q->h[i] * v[i]);
    return 0;
}

static void sq_init(task *t, rng *r, float *p)
{
    ((squad *)t->impl)->fresh = 1;
    rng_normal_fill(r, p, t->n, 0.0f, (float)t->p.init_scale);
}

static void sq_free(task *t)
{
    squad *q = t->impl;
    if (!q) return;
    free(q->h); free(q->c); free(q);
    t->impl = NULL;
}

static const task_vtbl sq_vt = {sq_loss_grad, sq_eval, sq_hvp, sq_init, sq_free};

static int sq_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 100;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->noise < 0) p->noise = 0;
    if (!p->switch_step) p->switch_step = 1000;
    if (p->switch_scale == 0) p->switch_scale = 100;
    if (p->dim < 1 || p->dim > SQ_MAX_DIM || !(p->init_scale > 0) || !isfinite(p->noise) || p->switch_step < 1 ||
        !(p->switch_scale >= 1e-6 && p->switch_scale <= 1e6)) {
        tasks_set_error("switch_quadratic: dim must be in 1..%d, init_scale > 0, noise finite, switch_step >= 1, "
                        "switch_scale in [1e-6, 1e6]", SQ_MAX_DIM);
        return ERR_OUT_OF_RANGE;
    }
    squad *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    q->d = p->dim;
    q->cur = -1;
    q->h = malloc(sizeof(float) * (size_t)q->d);
    q->c = malloc(sizeof(float) * (size_t)q->d);
    t->impl = q;
    t->vt = &sq_vt;
    if (!q->h || !q->c) { sq_free(t); return ERR_NO_MEMORY; }
    rng r;
    rng_seed(&r, t->seed);
    for (int i = 0; i < q->d; i++) q->h[i] = (float)pow(10.0, -3.0 * rng_uniform(&r));
    rng_normal_fill(&r, q->c, (size_t)q->d, 0.0f, 1.0f);
    int rc = tasks_layout_flat(t, "theta", (size_t)q->d);
    if (rc) sq_free(t);
    return rc;
}

const task_family task_family_switch_quadratic = {
    "switch_quadratic", "synthetic",
    "diagonal quadratic whose curvature is multiplied by switch_scale after switch_step steps (curvature change mid-run)",
    sq_create,
    TASK_KEY_DIM | TASK_KEY_NOISE | TASK_KEY_SWITCH};
