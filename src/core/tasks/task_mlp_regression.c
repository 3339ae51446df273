/* task_mlp_regression.c — MLP regression with mean squared error on
 * seeded synthetic tabular data (synth_teacher.h).
 *
 * Data from the task seed: `dim` (8) standard-normal features, one target
 * from a random 32-unit tanh teacher network plus N(0, 0.1^2) label noise;
 * n_train (5000) training rows and 500 held-out rows.  Model: an mlp
 * (layers.h) dim -> `depth` (2) hidden layers of `width` (32) units with
 * `activation` (relu) -> 1, linear output.  loss_grad: MSE (loss_mse.h) on
 * `batch` (32) training rows drawn with replacement; eval_loss: MSE on the
 * held-out rows. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "layers.h"
#include "loss_mse.h"
#include "mlp_layout.h"
#include "synth_teacher.h"
#include "tasks_arena.h"
#include "tasks_internal.h"

#define MR_NEVAL 500
#define MR_NOISE 0.1

typedef struct mrtask {
    synth_set s;
    mlp    m;
    int    batch, cap;
    void  *block;
    float *xb, *yb, *out, *cache, *scratch, *dout;
} mrtask;

/* Loss on m rows x, y; gradient into g when non-NULL. */
static double mr_batch(mrtask *q, const float *p, const float *x, const float *y, int m, float *g)
{
    layer_mlp_forward(&q->m, q->out, q->cache, p, x, m);
    double f = loss_mse_forward(q->out, y, (size_t)m);
    if (g && isfinite(f)) {
        memset(g, 0, sizeof(float) * q->m.nparams);
        memset(q->dout, 0, sizeof(float) * (size_t)m);
        loss_mse_backward(q->dout, q->out, y, (size_t)m, 1.0f);
        layer_mlp_backward(&q->m, g, NULL, q->scratch, q->dout, q->cache, p, x, m);
    }
    return f;
}

static double mr_loss_grad(task *t, const float *p, float *g, rng *r)
{
    mrtask *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    synth_sample(&q->s, q->batch, &cr, q->xb, q->yb);
    return tasks_finite_or_nan(mr_batch(q, p, q->xb, q->yb, q->batch, g));
}

static double mr_eval(task *t, const float *p)
{
    mrtask *q = t->impl;
    const synth_set *s = &q->s;
    double sum = 0;
    for (int i = 0; i < s->ne; i += q->cap) {
        int m = s->ne - i < q->cap ? s->ne - i : q->cap;
        size_t row = (size_t)s->n + i;
        sum += m * mr_batch(q, p, s->x + row * s->dim, s->y + row, m, NULL);
    }
    return tasks_finite_or_nan(sum / s->ne);
}

static void mr_init(task *t, rng *r, float *p)
{
    mrtask *q = t->impl;
    layer_mlp_init_params(&q->m, p, r, (float)t->p.init_scale);
}

static void mr_free(task *t)
{
    mrtask *q = t->impl;
    if (!q) return;
    synth_free(&q->s);
    free(q->block);
    free(q);
    t->impl = NULL;
}

static const task_vtbl mr_vt = {mr_loss_grad, mr_eval, NULL, mr_init, mr_free};

static int mr_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 8;
    if (!p->width) p->width = 32;
    if (!p->depth) p->depth = 2;
    if (!p->batch) p->batch = 32;
    if (!p->n_train) p->n_train = 5000;
    if (!p->activation) p->activation = ACT_RELU;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->dim < 1 || p->dim > 4096 || p->width < 1 || p->width > 4096 || p->depth < 1 ||
        p->depth > MLP_MAX_LAYERS - 1 || p->batch < 1 || p->batch > 8192 || p->n_train < 1 ||
        p->n_train > 1000000 || p->activation < ACT_RELU || p->activation > ACT_GELU ||
        !(p->init_scale > 0)) {
        tasks_set_error("mlp_regression: dim 1..4096, width 1..4096, depth 1..%d, batch 1..8192, "
                        "n_train 1..1000000, activation relu/tanh/gelu, init_scale > 0", MLP_MAX_LAYERS - 1);
        return ERR_OUT_OF_RANGE;
    }
    mrtask *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    t->impl = q;
    t->vt = &mr_vt;
    int rc = synth_teacher_make(&q->s, "mlp_regression", t->seed, p->dim, 1, p->n_train, MR_NEVAL, MR_NOISE);
    if (rc) { mr_free(t); return rc; }
    q->batch = p->batch;
    q->cap = q->batch > MR_NEVAL ? q->batch : MR_NEVAL;
    int sizes[MLP_MAX_LAYERS + 1];
    sizes[0] = p->dim;
    for (int l = 1; l <= p->depth; l++) sizes[l] = p->width;
    sizes[p->depth + 1] = 1;
    rc = layer_mlp_init(&q->m, p->depth + 1, sizes, p->activation);
    if (rc) { mr_free(t); return rc; }
    size_t cap = (size_t)q->cap, F = sizeof(float);
    const tasks_buf bufs[] = {
        {(void **)&q->xb, (size_t)q->batch * p->dim, F}, {(void **)&q->yb, (size_t)q->batch, F},
        {(void **)&q->out, cap, F}, {(void **)&q->dout, cap, F},
        {(void **)&q->cache, layer_mlp_cache_size(&q->m, q->cap), F},
        {(void **)&q->scratch, layer_mlp_scratch_size(&q->m, q->cap), F},
    };
    rc = tasks_arena_alloc("mlp_regression", bufs, (int)(sizeof bufs / sizeof bufs[0]), &q->block);
    if (!rc) rc = mlp_layout_set(t, &q->m);
    if (rc) mr_free(t);
    return rc;
}

const task_family task_family_mlp_regression = {
    "mlp_regression", "tabular", "MLP regression (MSE) on synthetic teacher-network data", mr_create,
    TASK_KEY_ACTIVATION | TASK_KEY_BATCH | TASK_KEY_DEPTH | TASK_KEY_DIM | TASK_KEY_N_TRAIN | TASK_KEY_WIDTH};
