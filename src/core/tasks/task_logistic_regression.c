/* task_logistic_regression.c — binary logistic regression on synthetic data
 * from the seed: x ~ N(0, I_dim), a teacher w* ~ N(0, 9/dim), labels
 * y ~ Bernoulli(sigmoid(x . w*)) (so some label noise).  n_train training
 * rows (fixed), 500 held-out rows for eval_loss.  Parameters w (dim), b.
 * Loss: mean binary cross-entropy; minibatches of `batch` rows drawn with
 * replacement.  HVP of the full training loss. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tasks_internal.h"

#define LR_NEVAL 500

typedef struct logreg {
    int    d, n, ne, batch;
    float *x, *y;     /* (n, d), (n) */
    float *xe, *ye;   /* (ne, d), (ne) */
    double *gw;       /* (d+1) gradient accumulator */
} logreg;

/* Accumulates loss (and gradient into gw when g) over rows idx (or 0..m-1). */
static double lr_rows(logreg *q, const float *p, const float *x, const float *y,
                      const int *idx, int m, int want_g)
{
    int d = q->d;
    double loss = 0;
    if (want_g) memset(q->gw, 0, sizeof(double) * (d + 1));
    for (int k = 0; k < m; k++) {
        int i = idx ? idx[k] : k;
        const float *xi = x + (size_t)i * d;
        double z = p[d];
        for (int j = 0; j < d; j++) z += (double)p[j] * xi[j];
        /* log(1+e^z) - y z, computed stably */
        loss += (z > 0 ? z : 0) + log1p(exp(-fabs(z))) - y[i] * z;
        if (want_g) {
            double s = 1 / (1 + exp(-z)) - y[i];
            for (int j = 0; j < d; j++) q->gw[j] += s * xi[j];
            q->gw[d] += s;
        }
    }
    return loss / m;
}

static double lr_loss_grad(task *t, const float *p, float *g, rng *r)
{
    logreg *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    int idx[4096];
    int b = q->batch;
    for (int k = 0; k < b; k++) idx[k] = (int)rng_below(&cr, (uint64_t)q->n);
    double f = lr_rows(q, p, q->x, q->y, idx, b, g != NULL);
    if (g) for (int j = 0; j <= q->d; j++) g[j] = (float)(q->gw[j] / b);
    return tasks_finite_or_nan(f);
}

static double lr_eval(task *t, const float *p)
{
    logreg *q = t->impl;
    return tasks_finite_or_nan(lr_rows(q, p, q->xe, q->ye, NULL, q->ne, 0));
}

/* H = (1/n) sum s(1-s) [x;1][x;1]^T over the training set. */
static int lr_hvp(task *t, const float *p, const float *v, float *out)
{
    logreg *q = t->impl;
    int d = q->d;
    memset(q->gw, 0, sizeof(double) * (d + 1));
    for (int i = 0; i < q->n; i++) {
        const float *xi = q->x + (size_t)i * d;
        double z = p[d], xv = v[d];
        for (int j = 0; j < d; j++) { z += (double)p[j] * xi[j]; xv += (double)v[j] * xi[j]; }
        double s = 1 / (1 + exp(-z)), w = s * (1 - s) * xv;
        for (int j = 0; j < d; j++) q->gw[j] += w * xi[j];
        q->gw[d] += w;
    }
    for (int j = 0; j <= d; j++) out[j] = (float)(q->gw[j] / q->n);
    return 0;
}

static void lr_init(task *t, rng *r, float *p)
{
    logreg *q = t->impl;
    rng_normal_fill(r, p, (size_t)q->d, 0.0f, (float)(t->p.init_scale / sqrt(q->d)));
    p[q->d] = 0;
}

static void lr_free(task *t)
{
    logreg *q = t->impl;
    if (!q) return;
    free(q->x); free(q->y); free(q->xe); free(q->ye); free(q->gw); free(q);
    t->impl = NULL;
}

static const task_vtbl lr_vt = {lr_loss_grad, lr_eval, lr_hvp, lr_init, lr_free};

static void lr_make(rng *r, const float *wstar, int d, float *x, float *y, int m)
{
    rng_normal_fill(r, x, (size_t)m * d, 0.0f, 1.0f);
    for (int i = 0; i < m; i++) {
        double z = 0;
        for (int j = 0; j < d; j++) z += (double)wstar[j] * x[(size_t)i * d + j];
        y[i] = rng_uniform(r) < 1 / (1 + exp(-z)) ? 1.0f : 0.0f;
    }
}

static int lr_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 10;
    if (!p->batch) p->batch = 32;
    if (!p->n_train) p->n_train = 1000;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->dim < 1 || p->dim > 4096 || p->batch < 1 || p->batch > 4096 || p->n_train < 1 ||
        p->n_train > 1000000 || !(p->init_scale > 0)) {
        tasks_set_error("logistic_regression: dim 1..4096, batch 1..4096, n_train 1..1e6, init_scale > 0");
        return ERR_OUT_OF_RANGE;
    }
    logreg *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    q->d = p->dim; q->n = p->n_train; q->ne = LR_NEVAL; q->batch = p->batch;
    t->impl = q;
    t->vt = &lr_vt;
    q->x = malloc(sizeof(float) * (size_t)q->n * q->d);
    q->y = malloc(sizeof(float) * (size_t)q->n);
    q->xe = malloc(sizeof(float) * (size_t)q->ne * q->d);
    q->ye = malloc(sizeof(float) * (size_t)q->ne);
    q->gw = malloc(sizeof(double) * (size_t)(q->d + 1));
    float *wstar = malloc(sizeof(float) * (size_t)q->d);
    if (!q->x || !q->y || !q->xe || !q->ye || !q->gw || !wstar) { free(wstar); lr_free(t); return ERR_NO_MEMORY; }
    rng r;
    rng_seed(&r, t->seed);
    rng_normal_fill(&r, wstar, (size_t)q->d, 0.0f, (float)(3.0 / sqrt(q->d)));
    lr_make(&r, wstar, q->d, q->x, q->y, q->n);
    lr_make(&r, wstar, q->d, q->xe, q->ye, q->ne);
    free(wstar);
    const char *names[2] = {"w", "b"};
    int nd[2] = {1, 1};
    int64_t sh[2][LAYOUT_MAX_DIMS] = {{q->d}, {1}};
    int rc = tasks_layout_set(t, 2, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
    if (rc) lr_free(t);
    return rc;
}

const task_family task_family_logistic_regression = {
    "logistic_regression", "tabular", "binary logistic regression on seeded synthetic data", lr_create,
    TASK_KEY_BATCH | TASK_KEY_DIM | TASK_KEY_N_TRAIN};
