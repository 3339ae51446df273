/* task_fmnist_mlp.c — softmax MLP classifier on Fashion-MNIST.
 *
 * Inputs are 8x8 (bilinear downsample of the 28x28 images, done once when
 * the data is loaded) or the raw 28x28, scaled to [0,1].  `depth` hidden
 * layers of `width` units with `activation` (with `layernorm` 1, default 0,
 * a LayerNorm between each hidden linear layer and its activation), then a
 * linear layer to 10 logits; mean softmax cross-entropy.  loss_grad uses
 * `batch` images drawn with replacement from the first n_train training
 * images; eval_loss is the mean loss on the first 1000 test images (fixed).
 * The batches come from fmnist_batch.h; the data is the source's and is
 * never copied per task. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fmnist_batch.h"
#include "layers.h"
#include "mlp_layout.h"
#include "tasks_internal.h"

#define FM_NEVAL 1000
#define FM_CHUNK 250

typedef struct fmtask {
    const task_fmnist_data *data;
    mlp    m;
    int    side, in, batch, cap, n_train;
    float *xb, *out, *cache, *scratch, *probs, *dout;   /* scratch for cap rows */
    int   *yb;
} fmtask;

static double fm_batch(fmtask *q, const float *p, int m, float *g)
{
    layer_mlp_forward(&q->m, q->out, q->cache, p, q->xb, m);
    double f = layer_softmax_xent_forward(q->probs, q->out, q->yb, m, 10);
    if (g && isfinite(f)) {
        memset(g, 0, sizeof(float) * q->m.nparams);
        memset(q->dout, 0, sizeof(float) * (size_t)m * 10);
        layer_softmax_xent_backward(q->dout, q->probs, q->yb, m, 10, 1.0f);
        layer_mlp_backward(&q->m, g, NULL, q->scratch, q->dout, q->cache, p, q->xb, m);
    }
    return f;
}

static double fm_loss_grad(task *t, const float *p, float *g, rng *r)
{
    fmtask *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    fmnist_sample(q->data, q->side, q->n_train, q->batch, &cr, q->xb, q->yb);
    return tasks_finite_or_nan(fm_batch(q, p, q->batch, g));
}

static double fm_eval(task *t, const float *p)
{
    fmtask *q = t->impl;
    int ne = q->data->n_test < FM_NEVAL ? q->data->n_test : FM_NEVAL;
    double s = 0;
    for (int i = 0; i < ne; i += q->cap) {
        int m = ne - i < q->cap ? ne - i : q->cap;
        fmnist_test_rows(q->data, q->side, i, m, q->xb, q->yb);
        s += m * fm_batch(q, p, m, NULL);
    }
    return tasks_finite_or_nan(s / ne);
}

static void fm_init(task *t, rng *r, float *p)
{
    fmtask *q = t->impl;
    layer_mlp_init_params(&q->m, p, r, (float)t->p.init_scale);
}

static void fm_free(task *t)
{
    fmtask *q = t->impl;
    if (!q) return;
    free(q->xb); free(q->out); free(q->cache); free(q->scratch); free(q->probs); free(q->dout);
    free(q->yb); free(q);
    t->impl = NULL;
}

static const task_vtbl fm_vt = {fm_loss_grad, fm_eval, NULL, fm_init, fm_free};

static int fm_create(task *t)
{
    task_params *p = &t->p;
    if (!p->width) p->width = 32;
    if (!p->depth) p->depth = 1;
    if (!p->batch) p->batch = 128;
    if (!p->activation) p->activation = ACT_RELU;
    if (!p->image_side) p->image_side = 8;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->width < 1 || p->width > 4096 || p->depth < 1 || p->depth > MLP_MAX_LAYERS - 1 ||
        p->batch < 1 || p->batch > 8192 || p->activation < ACT_RELU || p->activation > ACT_GELU ||
        (p->image_side != 8 && p->image_side != 28) || p->n_train < 0 || !(p->init_scale > 0) ||
        (p->layernorm != 0 && p->layernorm != 1)) {
        tasks_set_error("fmnist_mlp: width 1..4096, depth 1..%d, batch 1..8192, activation relu/tanh/gelu, "
                        "image_side 8 or 28, init_scale > 0, layernorm 0 or 1", MLP_MAX_LAYERS - 1);
        return ERR_OUT_OF_RANGE;
    }
    const task_fmnist_data *data;
    int rc = fmnist_open(t, "fmnist_mlp", &data);
    if (rc) return rc;
    if (!p->n_train || p->n_train > data->n_train) p->n_train = data->n_train;
    fmtask *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    t->impl = q;
    t->vt = &fm_vt;
    q->data = data;
    q->side = p->image_side;
    q->in = q->side * q->side;
    q->batch = p->batch;
    q->n_train = p->n_train;
    q->cap = q->batch > FM_CHUNK ? q->batch : FM_CHUNK;
    int sizes[MLP_MAX_LAYERS + 1];
    sizes[0] = q->in;
    for (int l = 1; l <= p->depth; l++) sizes[l] = p->width;
    sizes[p->depth + 1] = 10;
    rc = layer_mlp_init_ln(&q->m, p->depth + 1, sizes, p->activation, p->layernorm);
    if (rc) { fm_free(t); return rc; }
    size_t cap = (size_t)q->cap;
    q->xb = malloc(sizeof(float) * cap * q->in);
    q->out = malloc(sizeof(float) * cap * 10);
    q->probs = malloc(sizeof(float) * cap * 10);
    q->dout = malloc(sizeof(float) * cap * 10);
    q->cache = malloc(sizeof(float) * layer_mlp_cache_size(&q->m, q->cap));
    q->scratch = malloc(sizeof(float) * layer_mlp_scratch_size(&q->m, q->cap));
    q->yb = malloc(sizeof(int) * cap);
    if (!q->xb || !q->out || !q->probs || !q->dout || !q->cache || !q->scratch || !q->yb) {
        fm_free(t);
        return ERR_NO_MEMORY;
    }
    rc = mlp_layout_set(t, &q->m);
    if (rc) fm_free(t);
    return rc;
}

const task_family task_family_fmnist_mlp = {
    "fmnist_mlp", "vision", "softmax MLP on Fashion-MNIST at 8x8 (bilinear) or 28x28", fm_create,
    TASK_KEY_ACTIVATION | TASK_KEY_BATCH | TASK_KEY_DEPTH | TASK_KEY_IMAGE_SIDE | TASK_KEY_LAYERNORM |
    TASK_KEY_N_TRAIN | TASK_KEY_WIDTH};
