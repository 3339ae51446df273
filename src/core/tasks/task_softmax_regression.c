/* task_softmax_regression.c — multinomial logistic regression on synthetic
 * Gaussian clusters from the seed: class means mu_c ~ N(0, I_dim), rows
 * x = mu_y + N(0, I_dim) with y uniform over `classes`.  n_train training
 * rows (fixed), 500 held-out rows for eval_loss.  Parameters w (dim,
 * classes), b (classes); loss mean softmax cross-entropy over minibatches
 * of `batch` rows drawn with replacement.  Built on layers.h. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "layers.h"
#include "tasks_internal.h"

#define SR_NEVAL 500

typedef struct smreg {
    int    d, c, n, ne, batch, cap;
    float *x; int *y;       /* (n, d), (n) */
    float *xe; int *ye;     /* (ne, d), (ne) */
    float *xb, *logits, *probs, *dlogits;  /* scratch (cap, .) */
    int   *yb;
} smreg;

/* Loss over m rows xb/yb already gathered; gradient into g when non-NULL. */
static double sr_batch(smreg *q, const float *p, const float *xb, const int *yb, int m, float *g)
{
    const float *w = p, *b = p + (size_t)q->d * q->c;
    layer_linear_forward(q->logits, xb, w, b, m, q->d, q->c);
    double f = layer_softmax_xent_forward(q->probs, q->logits, yb, m, q->c);
    if (g && isfinite(f)) {
        memset(g, 0, sizeof(float) * ((size_t)q->d * q->c + q->c));
        memset(q->dlogits, 0, sizeof(float) * (size_t)m * q->c);
        layer_softmax_xent_backward(q->dlogits, q->probs, yb, m, q->c, 1.0f);
        layer_linear_backward(NULL, g, g + (size_t)q->d * q->c, q->dlogits, xb, w, m, q->d, q->c);
    }
    return f;
}

static double sr_loss_grad(task *t, const float *p, float *g, rng *r)
{
    smreg *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    for (int k = 0; k < q->batch; k++) {
        int i = (int)rng_below(&cr, (uint64_t)q->n);
        memcpy(q->xb + (size_t)k * q->d, q->x + (size_t)i * q->d, sizeof(float) * q->d);
        q->yb[k] = q->y[i];
    }
    return tasks_finite_or_nan(sr_batch(q, p, q->xb, q->yb, q->batch, g));
}

static double sr_eval(task *t, const float *p)
{
    smreg *q = t->impl;
    double s = 0;
    for (int i = 0; i < q->ne; i += q->cap) {
        int m = q->ne - i < q->cap ? q->ne - i : q->cap;
        s += m * sr_batch(q, p, q->xe + (size_t)i * q->d, q->ye + i, m, NULL);
    }
    return tasks_finite_or_nan(s / q->ne);
}

static void sr_init(task *t, rng *r, float *p)
{
    smreg *q = t->impl;
    rng_normal_fill(r, p, (size_t)q->d * q->c, 0.0f, (float)(t->p.init_scale / sqrt(q->d)));
    memset(p + (size_t)q->d * q->c, 0, sizeof(float) * q->c);
}

static void sr_free(task *t)
{
    smreg *q = t->impl;
    if (!q) return;
    free(q->x); free(q->y); free(q->xe); free(q->ye);
    free(q->xb); free(q->yb); free(q->logits); free(q->probs); free(q->dlogits);
    free(q);
    t->impl = NULL;
}

static const task_vtbl sr_vt = {sr_loss_grad, sr_eval, NULL, sr_init, sr_free};

static void sr_make(rng *r, const float *mu, int d, int c, float *x, int *y, int m)
{
    for (int i = 0; i < m; i++) {
        y[i] = (int)rng_below(r, (uint64_t)c);
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = mu[(size_t)y[i] * d + j] + (float)rng_normal(r);
    }
}

static int sr_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 20;
    if (!p->classes) p->classes = 5;
    if (!p->batch) p->batch = 32;
    if (!p->n_train) p->n_train = 1000;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->dim < 1 || p->dim > 4096 || p->classes < 2 || p->classes > 1000 || p->batch < 1 ||
        p->batch > 4096 || p->n_train < 1 || p->n_train > 1000000 || !(p->init_scale > 0)) {
        tasks_set_error("softmax_regression: dim 1..4096, classes 2..1000, batch 1..4096, n_train 1..1e6, init_scale > 0");
        return ERR_OUT_OF_RANGE;
    }
    smreg *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    q->d = p->dim; q->c = p->classes; q->n = p->n_train; q->ne = SR_NEVAL; q->batch = p->batch;
    q->cap = q->batch > 250 ? q->batch : 250;
    t->impl = q;
    t->vt = &sr_vt;
    q->x = malloc(sizeof(float) * (size_t)q->n * q->d);
    q->y = malloc(sizeof(int) * (size_t)q->n);
    q->xe = malloc(sizeof(float) * (size_t)q->ne * q->d);
    q->ye = malloc(sizeof(int) * (size_t)q->ne);
    q->xb = malloc(sizeof(float) * (size_t)q->batch * q->d);
    q->yb = malloc(sizeof(int) * (size_t)q->batch);
    q->logits = malloc(sizeof(float) * (size_t)q->cap * q->c);
    q->probs = malloc(sizeof(float) * (size_t)q->cap * q->c);
    q->dlogits = malloc(sizeof(float) * (size_t)q->cap * q->c);
    float *mu = malloc(sizeof(float) * (size_t)q->c * q->d);
    if (!q->x || !q->y || !q->xe || !q->ye || !q->xb || !q->yb || !q->logits || !q->probs ||
        !q->dlogits || !mu) { free(mu); sr_free(t); return ERR_NO_MEMORY; }
    rng r;
    rng_seed(&r, t->seed);
    rng_normal_fill(&r, mu, (size_t)q->c * q->d, 0.0f, 1.0f);
    sr_make(&r, mu, q->d, q->c, q->x, q->y, q->n);
    sr_make(&r, mu, q->d, q->c, q->xe, q->ye, q->ne);
    free(mu);
    const char *names[2] = {"w", "b"};
    int nd[2] = {2, 1};
    int64_t sh[2][LAYOUT_MAX_DIMS] = {{q->d, q->c}, {q->c}};
    int rc = tasks_layout_set(t, 2, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
    if (rc) sr_free(t);
    return rc;
}

const task_family task_family_softmax_regression = {
    "softmax_regression", "tabular", "softmax regression on seeded Gaussian clusters", sr_create,
    TASK_KEY_BATCH | TASK_KEY_CLASSES | TASK_KEY_DIM | TASK_KEY_N_TRAIN};
