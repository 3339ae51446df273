/* task_deep_mlp.c — a deep MLP classifier on seeded synthetic tabular data.
 *
 * Data from the task seed (synth_teacher.h): `dim` (16) standard-normal
 * features; the class of a row is the argmax of a random 32-unit tanh
 * teacher network's `classes` (10) outputs (no label noise); n_train (10000)
 * training rows and 500 held-out rows (with 1000 training rows the default
 * net overfits: held-out loss 2.5x the training loss after 1000 Adam steps).  Model: an mlp (layers.h) dim ->
 * `depth` (3, range 2..6) hidden layers of `width` (32) units with
 * `activation` (relu; tanh, gelu) -> classes logits, softmax cross-entropy;
 * with `layernorm` 1 (default 0) each hidden layer is linear -> LayerNorm
 * (gain 1, bias 0 at init) -> activation (layers.h's mlp does it).
 * loss_grad uses `batch` (32) training rows drawn with replacement;
 * eval_loss is the mean loss on the held-out rows.  (The vision deep MLP is
 * fmnist_mlp with depth 2..6, which takes `layernorm` too.) */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "layers.h"
#include "mlp_layout.h"
#include "synth_teacher.h"
#include "tasks_arena.h"
#include "tasks_internal.h"

#define DM_NEVAL 500

typedef struct dmtask {
    synth_set s;
    mlp    m;
    int    classes, batch, cap;
    void  *block;
    float *xb, *yb, *logits, *probs, *dlogits, *cache, *scratch;
    int   *lb, *le;    /* batch labels (cap), held-out labels (ne) */
} dmtask;

static double dm_batch(dmtask *q, const float *p, const float *x, const int *y, int m, float *g)
{
    layer_mlp_forward(&q->m, q->logits, q->cache, p, x, m);
    double f = layer_softmax_xent_forward(q->probs, q->logits, y, m, q->classes);
    if (g && isfinite(f)) {
        memset(g, 0, sizeof(float) * q->m.nparams);
        memset(q->dlogits, 0, sizeof(float) * (size_t)m * q->classes);
        layer_softmax_xent_backward(q->dlogits, q->probs, y, m, q->classes, 1.0f);
        layer_mlp_backward(&q->m, g, NULL, q->scratch, q->dlogits, q->cache, p, x, m);
    }
    return f;
}

static double dm_loss_grad(task *t, const float *p, float *g, rng *r)
{
    dmtask *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    synth_sample(&q->s, q->batch, &cr, q->xb, q->yb);
    synth_argmax(q->yb, q->batch, q->classes, q->lb);
    return tasks_finite_or_nan(dm_batch(q, p, q->xb, q->lb, q->batch, g));
}

static double dm_eval(task *t, const float *p)
{
    dmtask *q = t->impl;
    const synth_set *s = &q->s;
    double sum = 0;
    for (int i = 0; i < s->ne; i += q->cap) {
        int m = s->ne - i < q->cap ? s->ne - i : q->cap;
        sum += m * dm_batch(q, p, s->x + ((size_t)s->n + i) * s->dim, q->le + i, m, NULL);
    }
    return tasks_finite_or_nan(sum / s->ne);
}

static void dm_init(task *t, rng *r, float *p)
{
    dmtask *q = t->impl;
    layer_mlp_init_params(&q->m, p, r, (float)t->p.init_scale);
}

static void dm_free(task *t)
{
    dmtask *q = t->impl;
    if (!q) return;
    synth_free(&q->s);
    free(q->block);
    free(q);
    t->impl = NULL;
}

static const task_vtbl dm_vt = {dm_loss_grad, dm_eval, NULL, dm_init, dm_free};

static int dm_create(task *t)
{
    task_params *p = &t->p;
    if (!p->dim) p->dim = 16;
    if (!p->classes) p->classes = 10;
    if (!p->width) p->width = 32;
    if (!p->depth) p->depth = 3;
    if (!p->batch) p->batch = 32;
    if (!p->n_train) p->n_train = 10000;
    if (!p->activation) p->activation = ACT_RELU;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->dim < 1 || p->dim > 4096 || p->classes < 2 || p->classes > 1000 || p->width < 1 ||
        p->width > 4096 || p->depth < 2 || p->depth > 6 || p->batch < 1 || p->batch > 8192 ||
        p->n_train < 1 || p->n_train > 1000000 || p->activation < ACT_RELU ||
        p->activation > ACT_GELU || !(p->init_scale > 0) || (p->layernorm != 0 && p->layernorm != 1)) {
        tasks_set_error("deep_mlp: dim 1..4096, classes 2..1000, width 1..4096, depth 2..6, "
                        "batch 1..8192, n_train 1..1000000, activation relu/tanh/gelu, init_scale > 0, "
                        "layernorm 0 or 1");
        return ERR_OUT_OF_RANGE;
    }
    dmtask *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    t->impl = q;
    t->vt = &dm_vt;
    int rc = synth_teacher_make(&q->s, "deep_mlp", t->seed, p->dim, p->classes, p->n_train, DM_NEVAL, 0.0);
    if (rc) { dm_free(t); return rc; }
    q->classes = p->classes;
    q->batch = p->batch;
    q->cap = q->batch > DM_NEVAL ? q->batch : DM_NEVAL;
    int sizes[MLP_MAX_LAYERS + 1];
    sizes[0] = p->dim;
    for (int l = 1; l <= p->depth; l++) sizes[l] = p->width;
    sizes[p->depth + 1] = p->classes;
    rc = layer_mlp_init_ln(&q->m, p->depth + 1, sizes, p->activation, p->layernorm);
    if (rc) { dm_free(t); return rc; }
    size_t cap = (size_t)q->cap, F = sizeof(float), C = (size_t)q->classes;
    const tasks_buf bufs[] = {
        {(void **)&q->xb, (size_t)q->batch * p->dim, F}, {(void **)&q->yb, (size_t)q->batch * C, F},
        {(void **)&q->logits, cap * C, F}, {(void **)&q->probs, cap * C, F},
        {(void **)&q->dlogits, cap * C, F},
        {(void **)&q->cache, layer_mlp_cache_size(&q->m, q->cap), F},
        {(void **)&q->scratch, layer_mlp_scratch_size(&q->m, q->cap), F},
        {(void **)&q->lb, (size_t)q->batch, sizeof(int)}, {(void **)&q->le, DM_NEVAL, sizeof(int)},
    };
    rc = tasks_arena_alloc("deep_mlp", bufs, (int)(sizeof bufs / sizeof bufs[0]), &q->block);
    if (rc) { dm_free(t); return rc; }
    synth_argmax(q->s.y + (size_t)q->s.n * C, q->s.ne, q->classes, q->le);
    rc = mlp_layout_set(t, &q->m);
    if (rc) dm_free(t);
    return rc;
}

const task_family task_family_deep_mlp = {
    "deep_mlp", "tabular", "deep MLP classifier (depth 2-6) on synthetic teacher-network data", dm_create,
    TASK_KEY_ACTIVATION | TASK_KEY_BATCH | TASK_KEY_CLASSES | TASK_KEY_DEPTH | TASK_KEY_DIM |
    TASK_KEY_LAYERNORM | TASK_KEY_N_TRAIN | TASK_KEY_WIDTH};
