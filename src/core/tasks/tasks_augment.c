/* tasks_augment.c — task augmentation as VeLO and Celo use it: from the
 * task's seed, a random rescaling of the problem that leaves its solutions
 * unchanged but changes every scale the optimizer sees.
 *
 * With task_params.augment = 1, task_create wraps the family's task:
 *   - each tensor k of the layout gets a parameter scale s_k, log-uniform in
 *     [TASKS_AUG_PARAM_LO, TASKS_AUG_PARAM_HI]; the optimizer's vector is q
 *     and the family sees p = s_k * q on tensor k;
 *   - the loss is multiplied by lambda, log-uniform in
 *     [TASKS_AUG_LOSS_LO, TASKS_AUG_LOSS_HI].
 * So loss(q) = lambda * L(s*q), grad_q = lambda * s * dL/dp(s*q) (gradient
 * noise of the family is scaled with it), eval_loss = lambda * L_eval(s*q),
 * hvp: lambda * s * H(s*q) (s*v), and init_params gives q0 = p0 / s for the
 * family's initial p0.  The factors come from their own stream,
 * rng_seed(seed ^ TASKS_AUG_SALT): the same seed gives the same factors,
 * and the family's data (drawn from the plain seed) is unchanged.  The
 * factors are applied as floats: p_i = (float)s_k * q_i exactly.
 * Randomness per loss_grad is the family's (one rng_u64 draw). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tasks_internal.h"

#define TASKS_AUG_SALT 0x6175676d656e7431ULL   /* "augment1" */

typedef struct aug {
    const task_vtbl *vt;    /* the family's */
    void  *impl;            /* the family's */
    double lambda;
    double *s;              /* (ntensors) parameter scales */
    float *p, *v;           /* (n) scratch: the family's parameters, a scaled direction */
} aug;

/* Calls into the family with its own impl in place. */
#define AUG_INNER(t, a, call) ((t)->impl = (a)->impl, (call))
#define AUG_BACK(t, a) ((t)->impl = (a))

/* dst = s * src per tensor (mul) or src / s (!mul). */
static void aug_apply(const task *t, const aug *a, float *dst, const float *src, int mul)
{
    for (int k = 0; k < t->lay.ntensors; k++) {
        const layout_tensor *lt = &t->lay.tensors[k];
        float f = (float)(mul ? a->s[k] : 1.0 / a->s[k]);
        for (size_t i = lt->offset; i < lt->offset + lt->size; i++) dst[i] = f * src[i];
    }
}

/* out = lambda * s * out per tensor. */
static void aug_scale_out(const task *t, const aug *a, float *out)
{
    for (int k = 0; k < t->lay.ntensors; k++) {
        const layout_tensor *lt = &t->lay.tensors[k];
        float f = (float)(a->lambda * a->s[k]);
        for (size_t i = lt->offset; i < lt->offset + lt->size; i++) out[i] *= f;
    }
}

static double aug_loss_grad(task *t, const float *q, float *g, rng *r)
{
    aug *a = t->impl;
    aug_apply(t, a, a->p, q, 1);
    double f = AUG_INNER(t, a, a->vt->loss_grad(t, a->p, g, r));
    AUG_BACK(t, a);
    if (g) aug_scale_out(t, a, g);
    return tasks_finite_or_nan(a->lambda * f);
}

static double aug_eval(task *t, const float *q)
{
    aug *a = t->impl;
    aug_apply(t, a, a->p, q, 1);
    double f = AUG_INNER(t, a, a->vt->eval_loss(t, a->p));
    AUG_BACK(t, a);
    return tasks_finite_or_nan(a->lambda * f);
}

static int aug_hvp(task *t, const float *q, const float *v, float *out)
{
    aug *a = t->impl;
    aug_apply(t, a, a->p, q, 1);
    aug_apply(t, a, a->v, v, 1);
    int rc = AUG_INNER(t, a, a->vt->hvp(t, a->p, a->v, out));
    AUG_BACK(t, a);
    aug_scale_out(t, a, out);
    return rc;
}

static void aug_init(task *t, rng *r, float *q)
{
    aug *a = t->impl;
    AUG_INNER(t, a, a->vt->init_params(t, r, a->p));
    AUG_BACK(t, a);
    aug_apply(t, a, q, a->p, 0);
}

static void aug_free(task *t)
{
    aug *a = t->impl;
    if (!a) return;
    t->impl = a->impl;
    if (a->vt->free) a->vt->free(t);
    free(a->s); free(a->p); free(a->v); free(a);
}

static const task_vtbl aug_vt = {aug_loss_grad, aug_eval, aug_hvp, aug_init, aug_free};
static const task_vtbl aug_vt_nohvp = {aug_loss_grad, aug_eval, NULL, aug_init, aug_free};

static double log_uniform(rng *r, double lo, double hi)
{
    return exp(log(lo) + (log(hi) - log(lo)) * rng_uniform(r));
}

int tasks_augment(task *t)
{
    if (t->p.augment != 1) {
        tasks_set_error("%s: augment must be 0 (off) or 1 (rescale from the seed), not %d",
                        t->family, t->p.augment);
        if (t->vt->free) t->vt->free(t);
        return ERR_OUT_OF_RANGE;
    }
    aug *a = calloc(1, sizeof *a);
    if (a) {
        a->s = malloc(sizeof(double) * (size_t)(t->lay.ntensors > 0 ? t->lay.ntensors : 1));
        a->p = malloc(sizeof(float) * (t->n ? t->n : 1));
        a->v = malloc(sizeof(float) * (t->n ? t->n : 1));
    }
    if (!a || !a->s || !a->p || !a->v) {
        if (a) { free(a->s); free(a->p); free(a->v); free(a); }
        if (t->vt->free) t->vt->free(t);
        return ERR_NO_MEMORY;
    }
    rng r;
    rng_seed(&r, t->seed ^ TASKS_AUG_SALT);
    a->lambda = log_uniform(&r, TASKS_AUG_LOSS_LO, TASKS_AUG_LOSS_HI);
    for (int k = 0; k < t->lay.ntensors; k++) a->s[k] = log_uniform(&r, TASKS_AUG_PARAM_LO, TASKS_AUG_PARAM_HI);
    a->vt = t->vt;
    a->impl = t->impl;
    t->impl = a;
    t->vt = a->vt->hvp ? &aug_vt : &aug_vt_nohvp;
    return 0;
}

int tasks_augment_factors(const task *t, double *lambda, double *scales)
{
    if (t->vt->loss_grad != aug_loss_grad) return ERR_INVALID_ARGUMENT;
    const aug *a = t->impl;
    *lambda = a->lambda;
    if (scales) memcpy(scales, a->s, sizeof(double) * (size_t)t->lay.ntensors);
    return 0;
}
