/* task_conv_net.c — a small convolutional classifier on Fashion-MNIST.
 *
 * Images side x side (8: the bilinear downsample, or 28), one channel,
 * NHWC (layers_conv.h).  Network:
 *   conv 3x3 (1 -> c1) -> act -> maxpool 2x2 -> conv 3x3 (c1 -> c2) -> act
 *   -> global average pool -> linear (c2 -> 10) -> softmax cross-entropy
 * with c1 = width (default 8), c2 = 2*width, act = activation (relu).
 * Convolutions are stride 1 with 'same' padding.  loss_grad uses `batch`
 * (default 16) training images drawn with replacement from the first
 * n_train; eval_loss is the mean loss on the first 1000 test images, the
 * held-out split.  Initialisation: He normal (gain 2 for relu/gelu, 1 for
 * tanh) on the convolutions, N(0, 1/c2) on the classifier, biases 0, all
 * times init_scale. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fmnist_batch.h"
#include "layers.h"
#include "layers_conv.h"
#include "tasks_arena.h"
#include "tasks_internal.h"

#define CN_NEVAL 1000
#define CN_CHUNK 100

typedef struct cntask {
    const task_fmnist_data *data;
    conv2d c1, c2;
    int    side, half, ch1, ch2, batch, cap, n_train, act;
    size_t o_c1, o_c2, o_fw, o_fb;   /* offsets in the parameter block */
    void  *block;
    /* forward (cap rows) */
    float *xb, *col1, *z1, *a1, *p1, *col2, *z2, *a2, *g, *logits, *probs;
    int   *idx, *yb;
    /* backward */
    float *dlogits, *dg, *da2, *dz2, *dp1, *dcol2, *da1, *dz1;
} cntask;

static double cn_batch(cntask *q, const float *p, int m, float *grad)
{
    int S = q->side, H = q->half;
    size_t n1 = (size_t)m * S * S * q->ch1, np = (size_t)m * H * H * q->ch1, n2 = (size_t)m * H * H * q->ch2;
    layer_conv2d_forward(&q->c1, q->z1, q->col1, p + q->o_c1, q->xb, m);
    layer_act_forward(q->a1, q->z1, n1, q->act);
    layer_maxpool2_forward(q->p1, q->idx, q->a1, m, S, S, q->ch1);
    layer_conv2d_forward(&q->c2, q->z2, q->col2, p + q->o_c2, q->p1, m);
    layer_act_forward(q->a2, q->z2, n2, q->act);
    layer_gap_forward(q->g, q->a2, m, H, H, q->ch2);
    layer_linear_forward(q->logits, q->g, p + q->o_fw, p + q->o_fb, m, q->ch2, FMNIST_CLASSES);
    double f = layer_softmax_xent_forward(q->probs, q->logits, q->yb, m, FMNIST_CLASSES);
    if (!grad || !isfinite(f)) return f;
    memset(grad, 0, sizeof(float) * (q->o_fb + FMNIST_CLASSES));
    memset(q->dlogits, 0, sizeof(float) * (size_t)m * FMNIST_CLASSES);
    memset(q->dg, 0, sizeof(float) * (size_t)m * q->ch2);
    memset(q->da2, 0, sizeof(float) * n2);
    memset(q->dz2, 0, sizeof(float) * n2);
    memset(q->dp1, 0, sizeof(float) * np);
    memset(q->da1, 0, sizeof(float) * n1);
    memset(q->dz1, 0, sizeof(float) * n1);
    layer_softmax_xent_backward(q->dlogits, q->probs, q->yb, m, FMNIST_CLASSES, 1.0f);
    layer_linear_backward(q->dg, grad + q->o_fw, grad + q->o_fb, q->dlogits, q->g, p + q->o_fw,
                    m, q->ch2, FMNIST_CLASSES);
    layer_gap_backward(q->da2, q->dg, m, H, H, q->ch2);
    layer_act_backward(q->dz2, q->da2, q->z2, n2, q->act);
    layer_conv2d_backward(&q->c2, grad + q->o_c2, q->dp1, q->dcol2, q->dz2, q->col2, p + q->o_c2, m);
    layer_maxpool2_backward(q->da1, q->dp1, q->idx, m, S, S, q->ch1);
    layer_act_backward(q->dz1, q->da1, q->z1, n1, q->act);
    layer_conv2d_backward(&q->c1, grad + q->o_c1, NULL, NULL, q->dz1, q->col1, p + q->o_c1, m);
    return f;
}

static double cn_loss_grad(task *t, const float *p, float *g, rng *r)
{
    cntask *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    fmnist_sample(q->data, q->side, q->n_train, q->batch, &cr, q->xb, q->yb);
    return tasks_finite_or_nan(cn_batch(q, p, q->batch, g));
}

static double cn_eval(task *t, const float *p)
{
    cntask *q = t->impl;
    int ne = q->data->n_test < CN_NEVAL ? q->data->n_test : CN_NEVAL;
    double s = 0;
    for (int i = 0; i < ne; i += q->cap) {
        int m = ne - i < q->cap ? ne - i : q->cap;
        fmnist_test_rows(q->data, q->side, i, m, q->xb, q->yb);
        s += m * cn_batch(q, p, m, NULL);
    }
    return tasks_finite_or_nan(s / ne);
}

static void cn_init(task *t, rng *r, float *p)
{
    cntask *q = t->impl;
    float sc = (float)t->p.init_scale, gain = q->act == ACT_TANH ? 1.0f : 2.0f;
    layer_conv2d_init_params(&q->c1, p + q->o_c1, r, sc, gain);
    layer_conv2d_init_params(&q->c2, p + q->o_c2, r, sc, gain);
    rng_normal_fill(r, p + q->o_fw, (size_t)q->ch2 * FMNIST_CLASSES, 0.0f, sc / sqrtf((float)q->ch2));
    memset(p + q->o_fb, 0, sizeof(float) * FMNIST_CLASSES);
}

static void cn_free(task *t)
{
    cntask *q = t->impl;
    if (!q) return;
    free(q->block);
    free(q);
    t->impl = NULL;
}

static const task_vtbl cn_vt = {cn_loss_grad, cn_eval, NULL, cn_init, cn_free};

static int cn_create(task *t)
{
    task_params *p = &t->p;
    if (!p->width) p->width = 8;
    if (!p->batch) p->batch = 16;
    if (!p->activation) p->activation = ACT_RELU;
    if (!p->image_side) p->image_side = 8;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->width < 1 || p->width > 256 || p->batch < 1 || p->batch > 4096 ||
        p->activation < ACT_RELU || p->activation > ACT_GELU ||
        (p->image_side != 8 && p->image_side != 28) || p->n_train < 0 || !(p->init_scale > 0)) {
        tasks_set_error("conv_net: width 1..256, batch 1..4096, activation relu/tanh/gelu, "
                        "image_side 8 or 28, init_scale > 0");
        return ERR_OUT_OF_RANGE;
    }
    const task_fmnist_data *data;
    int rc = fmnist_open(t, "conv_net", &data);
    if (rc) return rc;
    if (!p->n_train || p->n_train > data->n_train) p->n_train = data->n_train;
    cntask *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    t->impl = q;
    t->vt = &cn_vt;
    q->data = data;
    q->side = p->image_side;
    q->half = q->side / 2;
    q->ch1 = p->width;
    q->ch2 = 2 * p->width;
    q->act = p->activation;
    q->batch = p->batch;
    q->n_train = p->n_train;
    q->cap = q->batch > CN_CHUNK ? q->batch : CN_CHUNK;
    if (layer_conv2d_init(&q->c1, q->side, q->side, 1, q->ch1, 3) ||
        layer_conv2d_init(&q->c2, q->half, q->half, q->ch1, q->ch2, 3)) {
        cn_free(t);
        return ERR_OUT_OF_RANGE;
    }
    q->o_c1 = 0;
    q->o_c2 = q->o_c1 + q->c1.nparams;
    q->o_fw = q->o_c2 + q->c2.nparams;
    q->o_fb = q->o_fw + (size_t)q->ch2 * FMNIST_CLASSES;
    size_t m = (size_t)q->cap, S2 = (size_t)q->side * q->side, H2 = (size_t)q->half * q->half;
    size_t n1 = m * S2 * q->ch1, np = m * H2 * q->ch1, n2 = m * H2 * q->ch2, F = sizeof(float);
    const tasks_buf bufs[] = {
        {(void **)&q->xb, m * S2, F},
        {(void **)&q->col1, layer_conv2d_cache_size(&q->c1, q->cap), F},
        {(void **)&q->z1, n1, F}, {(void **)&q->a1, n1, F}, {(void **)&q->p1, np, F},
        {(void **)&q->idx, np, sizeof(int)},
        {(void **)&q->col2, layer_conv2d_cache_size(&q->c2, q->cap), F},
        {(void **)&q->z2, n2, F}, {(void **)&q->a2, n2, F},
        {(void **)&q->g, m * q->ch2, F},
        {(void **)&q->logits, m * FMNIST_CLASSES, F}, {(void **)&q->probs, m * FMNIST_CLASSES, F},
        {(void **)&q->yb, m, sizeof(int)},
        {(void **)&q->dlogits, m * FMNIST_CLASSES, F}, {(void **)&q->dg, m * q->ch2, F},
        {(void **)&q->da2, n2, F}, {(void **)&q->dz2, n2, F}, {(void **)&q->dp1, np, F},
        {(void **)&q->dcol2, layer_conv2d_scratch_size(&q->c2, q->cap), F},
        {(void **)&q->da1, n1, F}, {(void **)&q->dz1, n1, F},
    };
    rc = tasks_arena_alloc("conv_net", bufs, (int)(sizeof bufs / sizeof bufs[0]), &q->block);
    if (rc) { cn_free(t); return rc; }
    static const char *const names[6] = {"conv1.w", "conv1.b", "conv2.w", "conv2.b", "fc.w", "fc.b"};
    int nd[6] = {4, 1, 4, 1, 2, 1};
    int64_t sh[6][LAYOUT_MAX_DIMS] = {
        {3, 3, 1, q->ch1}, {q->ch1}, {3, 3, q->ch1, q->ch2}, {q->ch2}, {q->ch2, FMNIST_CLASSES}, {FMNIST_CLASSES}};
    rc = tasks_layout_set(t, 6, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
    if (rc) cn_free(t);
    return rc;
}

const task_family task_family_conv_net = {
    "conv_net", "vision", "conv-pool-conv-GAP-linear classifier on Fashion-MNIST at 8x8 or 28x28", cn_create,
    TASK_KEY_ACTIVATION | TASK_KEY_BATCH | TASK_KEY_IMAGE_SIDE | TASK_KEY_N_TRAIN | TASK_KEY_WIDTH};
