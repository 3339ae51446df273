/* task_mlp_autoencoder.c — MLP autoencoder on Fashion-MNIST images.
 *
 * in -> width -> bottleneck -> width -> in, with in = image_side^2 (8x8
 * bilinear downsample, default, or 28x28) pixels in [0,1]: an mlp
 * (layers.h) of four linear layers, `activation` (relu) on the three hidden
 * layers (the code layer included) and a LINEAR output.  Loss: mean squared
 * reconstruction error over the batch and every pixel (loss_mse.h), on
 * `batch` (32) training images drawn with replacement from the first
 * n_train; eval_loss is the same error on the first 1000 test images (the
 * held-out split).  Defaults width 32, bottleneck 8.  Labels are unused. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fmnist_batch.h"
#include "layers.h"
#include "loss_mse.h"
#include "tasks_arena.h"
#include "tasks_internal.h"

#define AE_NEVAL 1000
#define AE_CHUNK 250

typedef struct aetask {
    const task_fmnist_data *data;
    mlp    m;
    int    side, in, batch, cap, n_train;
    void  *block;
    float *xb, *out, *cache, *scratch, *dout;
} aetask;

static double ae_batch(aetask *q, const float *p, int m, float *g)
{
    size_t n = (size_t)m * q->in;
    layer_mlp_forward(&q->m, q->out, q->cache, p, q->xb, m);
    double f = loss_mse_forward(q->out, q->xb, n);
    if (g && isfinite(f)) {
        memset(g, 0, sizeof(float) * q->m.nparams);
        memset(q->dout, 0, sizeof(float) * n);
        loss_mse_backward(q->dout, q->out, q->xb, n, 1.0f);
        layer_mlp_backward(&q->m, g, NULL, q->scratch, q->dout, q->cache, p, q->xb, m);
    }
    return f;
}

static double ae_loss_grad(task *t, const float *p, float *g, rng *r)
{
    aetask *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    fmnist_sample(q->data, q->side, q->n_train, q->batch, &cr, q->xb, NULL);
    return tasks_finite_or_nan(ae_batch(q, p, q->batch, g));
}

static double ae_eval(task *t, const float *p)
{
    aetask *q = t->impl;
    int ne = q->data->n_test < AE_NEVAL ? q->data->n_test : AE_NEVAL;
    double s = 0;
    for (int i = 0; i < ne; i += q->cap) {
        int m = ne - i < q->cap ? ne - i : q->cap;
        fmnist_test_rows(q->data, q->side, i, m, q->xb, NULL);
        s += m * ae_batch(q, p, m, NULL);
    }
    return tasks_finite_or_nan(s / ne);
}

static void ae_init(task *t, rng *r, float *p)
{
    aetask *q = t->impl;
    layer_mlp_init_params(&q->m, p, r, (float)t->p.init_scale);
}

static void ae_free(task *t)
{
    aetask *q = t->impl;
    if (!q) return;
    free(q->block);
    free(q);
    t->impl = NULL;
}

static const task_vtbl ae_vt = {ae_loss_grad, ae_eval, NULL, ae_init, ae_free};

static int ae_create(task *t)
{
    task_params *p = &t->p;
    if (!p->width) p->width = 32;
    if (!p->bottleneck) p->bottleneck = 8;
    if (!p->batch) p->batch = 32;
    if (!p->activation) p->activation = ACT_RELU;
    if (!p->image_side) p->image_side = 8;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->width < 1 || p->width > 4096 || p->bottleneck < 1 || p->bottleneck > 4096 ||
        p->batch < 1 || p->batch > 8192 || p->activation < ACT_RELU || p->activation > ACT_GELU ||
        (p->image_side != 8 && p->image_side != 28) || p->n_train < 0 || !(p->init_scale > 0)) {
        tasks_set_error("mlp_autoencoder: width 1..4096, bottleneck 1..4096, batch 1..8192, "
                        "activation relu/tanh/gelu, image_side 8 or 28, init_scale > 0");
        return ERR_OUT_OF_RANGE;
    }
    const task_fmnist_data *data;
    int rc = fmnist_open(t, "mlp_autoencoder", &data);
    if (rc) return rc;
    if (!p->n_train || p->n_train > data->n_train) p->n_train = data->n_train;
    aetask *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    t->impl = q;
    t->vt = &ae_vt;
    q->data = data;
    q->side = p->image_side;
    q->in = q->side * q->side;
    q->batch = p->batch;
    q->n_train = p->n_train;
    q->cap = q->batch > AE_CHUNK ? q->batch : AE_CHUNK;
    int sizes[5] = {q->in, p->width, p->bottleneck, p->width, q->in};
    rc = layer_mlp_init(&q->m, 4, sizes, p->activation);
    if (rc) { ae_free(t); return rc; }
    size_t cap = (size_t)q->cap, F = sizeof(float);
    const tasks_buf bufs[] = {
        {(void **)&q->xb, cap * q->in, F}, {(void **)&q->out, cap * q->in, F},
        {(void **)&q->dout, cap * q->in, F},
        {(void **)&q->cache, layer_mlp_cache_size(&q->m, q->cap), F},
        {(void **)&q->scratch, layer_mlp_scratch_size(&q->m, q->cap), F},
    };
    rc = tasks_arena_alloc("mlp_autoencoder", bufs, (int)(sizeof bufs / sizeof bufs[0]), &q->block);
    if (rc) { ae_free(t); return rc; }
    static const char *const names[8] = {"enc1.w", "enc1.b", "code.w", "code.b",
                                         "dec1.w", "dec1.b", "out.w", "out.b"};
    int nd[8];
    int64_t sh[8][LAYOUT_MAX_DIMS];
    memset(sh, 0, sizeof sh);
    for (int l = 0; l < 4; l++) {
        nd[2 * l] = 2; sh[2 * l][0] = sizes[l]; sh[2 * l][1] = sizes[l + 1];
        nd[2 * l + 1] = 1; sh[2 * l + 1][0] = sizes[l + 1];
    }
    rc = tasks_layout_set(t, 8, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
    if (rc) ae_free(t);
    return rc;
}

const task_family task_family_mlp_autoencoder = {
    "mlp_autoencoder", "vision", "MLP autoencoder (MSE) on Fashion-MNIST at 8x8 or 28x28", ae_create,
    TASK_KEY_ACTIVATION | TASK_KEY_BATCH | TASK_KEY_BOTTLENECK | TASK_KEY_IMAGE_SIDE | TASK_KEY_N_TRAIN |
    TASK_KEY_WIDTH};
