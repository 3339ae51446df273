/* task_char_rnn.c — next-character prediction with a one-layer LSTM.
 *
 * Text: from the data source's text function (task_params.data; src/data's
 * default is the GPL-3 text every Debian system installs, or
 * task_params.data_path).  The vocabulary is the set of bytes in the text;
 * the first 90% trains, the last 10% is held out.  Model: one-hot char (V)
 * -> LSTM(V, width) -> linear (width, V) -> softmax; loss is the mean
 * cross-entropy over seq_len steps and `batch` sequences that start at
 * random offsets, from zero state, backpropagated through all seq_len steps.
 * eval_loss runs 32 fixed, evenly spaced held-out sequences. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "layers.h"
#include "tasks_internal.h"

#define CR_NEVAL 32

typedef struct chartask {
    lstm    cell;
    int     V, H, T, batch, cap;
    size_t  out_w, out_b;           /* Wy (H, V), by (V) offsets in the block */
    uint8_t *text;                  /* vocabulary indices */
    size_t  n_text, n_train;
    float  *xs;                     /* (T, cap, V) one-hot inputs */
    float  *hs, *cs;                /* (T+1, cap, H); step 0 = zero state */
    float  *caches;                 /* (T, lstm cache) */
    float  *probs;                  /* (T, cap, V) */
    int    *ys;                     /* (T, cap) targets */
    float  *logits, *dlogits;       /* (cap, V) */
    float  *dh, *dhn, *dcn, *scratch;
    size_t *starts;                 /* (cap) */
} chartask;

static double cr_run(chartask *q, const float *p, int m, float *g)
{
    int V = q->V, H = q->H, T = q->T;
    size_t csz = layer_lstm_cache_size(&q->cell, q->cap);
    memset(q->xs, 0, sizeof(float) * (size_t)T * q->cap * V);
    memset(q->hs, 0, sizeof(float) * (size_t)q->cap * H);
    memset(q->cs, 0, sizeof(float) * (size_t)q->cap * H);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < m; b++) {
            q->xs[((size_t)t * q->cap + b) * V + q->text[q->starts[b] + t]] = 1.0f;
            q->ys[(size_t)t * q->cap + b] = q->text[q->starts[b] + t + 1];
        }
    double loss = 0;
    for (int t = 0; t < T; t++) {
        size_t o = (size_t)t * q->cap;
        float *hp = q->hs + o * H, *cp = q->cs + o * H;
        float *h = hp + (size_t)q->cap * H, *c = cp + (size_t)q->cap * H;
        layer_lstm_forward(&q->cell, h, c, q->caches + t * csz, p, q->xs + o * V, hp, cp, m);
        layer_linear_forward(q->logits, h, p + q->out_w, p + q->out_b, m, H, V);
        double f = layer_softmax_xent_forward(q->probs + o * V, q->logits, q->ys + o, m, V);
        if (!isfinite(f)) return NAN;
        loss += f;
    }
    loss /= T;
    if (!g) return loss;
    size_t nh = (size_t)m * H;
    memset(g, 0, sizeof(float) * (q->out_b + V));
    memset(q->dhn, 0, sizeof(float) * nh);
    memset(q->dcn, 0, sizeof(float) * nh);
    for (int t = T - 1; t >= 0; t--) {
        size_t o = (size_t)t * q->cap;
        float *hp = q->hs + o * H, *cp = q->cs + o * H, *h = hp + (size_t)q->cap * H;
        memset(q->dlogits, 0, sizeof(float) * (size_t)m * V);
        layer_softmax_xent_backward(q->dlogits, q->probs + o * V, q->ys + o, m, V, 1.0f / T);
        memcpy(q->dh, q->dhn, sizeof(float) * nh);     /* from step t+1 */
        layer_linear_backward(q->dh, g + q->out_w, g + q->out_b, q->dlogits, h, p + q->out_w, m, H, V);
        /* dcn holds dL/dc_t from step t+1; the backward adds dL/dc_{t-1} into
         * fresh buffers, so swap through dhn/dcn after copying. */
        float *dc = q->scratch + layer_lstm_scratch_size(&q->cell, q->cap);
        memcpy(dc, q->dcn, sizeof(float) * nh);
        memset(q->dhn, 0, sizeof(float) * nh);
        memset(q->dcn, 0, sizeof(float) * nh);
        layer_lstm_backward(&q->cell, g, NULL, q->dhn, q->dcn, q->scratch, q->dh, dc,
                            q->caches + t * csz, p, q->xs + o * V, hp, cp, m);
    }
    return loss;
}

static double cr_loss_grad(task *t, const float *p, float *g, rng *r)
{
    chartask *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    for (int b = 0; b < q->batch; b++)
        q->starts[b] = (size_t)rng_below(&cr, (uint64_t)(q->n_train - (size_t)q->T));
    return tasks_finite_or_nan(cr_run(q, p, q->batch, g));
}

static double cr_eval(task *t, const float *p)
{
    chartask *q = t->impl;
    size_t span = q->n_text - q->n_train - (size_t)q->T - 1;
    for (int b = 0; b < CR_NEVAL; b++) q->starts[b] = q->n_train + span * (size_t)b / (CR_NEVAL - 1);
    return tasks_finite_or_nan(cr_run(q, p, CR_NEVAL, NULL));
}

static void cr_init(task *t, rng *r, float *p)
{
    chartask *q = t->impl;
    float s = (float)t->p.init_scale;
    layer_lstm_init_params(&q->cell, p, r, s, 1.0f);
    rng_normal_fill(r, p + q->out_w, (size_t)q->H * q->V, 0.0f, s / sqrtf((float)q->H));
    memset(p + q->out_b, 0, sizeof(float) * q->V);
}

static void cr_free(task *t)
{
    chartask *q = t->impl;
    if (!q) return;
    free(q->text); free(q->xs); free(q->hs); free(q->cs); free(q->caches); free(q->probs);
    free(q->ys); free(q->logits); free(q->dlogits); free(q->dh); free(q->dhn); free(q->dcn);
    free(q->scratch); free(q->starts); free(q);
    t->impl = NULL;
}

static const task_vtbl cr_vt = {cr_loss_grad, cr_eval, NULL, cr_init, cr_free};

static int cr_create(task *t)
{
    task_params *p = &t->p;
    if (!p->width) p->width = 32;
    if (!p->batch) p->batch = 8;
    if (!p->seq_len) p->seq_len = 16;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->width < 1 || p->width > 1024 || p->batch < 1 || p->batch > 1024 || p->seq_len < 1 ||
        p->seq_len > 512 || !(p->init_scale > 0)) {
        tasks_set_error("char_rnn: width 1..1024, batch 1..1024, seq_len 1..512, init_scale > 0");
        return ERR_OUT_OF_RANGE;
    }
    tasks_text tx;
    int rc = tasks_text_load(t, "char_rnn", (size_t)p->seq_len + 2, &tx);
    if (rc) return rc;
    uint8_t *raw = tx.text;
    size_t n = tx.n, n_train = tx.n_train;
    int V = tx.vocab;
    chartask *q = calloc(1, sizeof *q);
    if (!q) { free(raw); return ERR_NO_MEMORY; }
    t->impl = q;
    t->vt = &cr_vt;
    q->text = raw; q->n_text = n; q->n_train = n_train;
    q->V = V; q->H = p->width; q->T = p->seq_len; q->batch = p->batch;
    q->cap = q->batch > CR_NEVAL ? q->batch : CR_NEVAL;
    rc = layer_lstm_init(&q->cell, V, q->H);
    if (rc) { cr_free(t); return rc; }
    q->out_w = q->cell.nparams;
    q->out_b = q->out_w + (size_t)q->H * V;
    size_t cap = (size_t)q->cap, T = (size_t)q->T, H = (size_t)q->H;
    q->xs = malloc(sizeof(float) * T * cap * V);
    q->hs = malloc(sizeof(float) * (T + 1) * cap * H);
    q->cs = malloc(sizeof(float) * (T + 1) * cap * H);
    q->caches = malloc(sizeof(float) * T * layer_lstm_cache_size(&q->cell, q->cap));
    q->probs = malloc(sizeof(float) * T * cap * V);
    q->ys = malloc(sizeof(int) * T * cap);
    q->logits = malloc(sizeof(float) * cap * V);
    q->dlogits = malloc(sizeof(float) * cap * V);
    q->dh = malloc(sizeof(float) * cap * H);
    q->dhn = malloc(sizeof(float) * cap * H);
    q->dcn = malloc(sizeof(float) * cap * H);
    q->scratch = malloc(sizeof(float) * (layer_lstm_scratch_size(&q->cell, q->cap) + cap * H));
    q->starts = malloc(sizeof(size_t) * cap);
    if (!q->xs || !q->hs || !q->cs || !q->caches || !q->probs || !q->ys || !q->logits ||
        !q->dlogits || !q->dh || !q->dhn || !q->dcn || !q->scratch || !q->starts) {
        cr_free(t);
        return ERR_NO_MEMORY;
    }
    const char *names[5] = {"lstm.wx", "lstm.wh", "lstm.b", "out.w", "out.b"};
    int nd[5] = {2, 2, 1, 2, 1};
    int64_t sh[5][LAYOUT_MAX_DIMS] = {{V, 4 * q->H}, {q->H, 4 * q->H}, {4 * q->H}, {q->H, V}, {V}};
    rc = tasks_layout_set(t, 5, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
    if (rc) cr_free(t);
    return rc;
}

const task_family task_family_char_rnn = {
    "char_rnn", "text", "one-layer LSTM next-character model on the GPL-3 text", cr_create,
    TASK_KEY_BATCH | TASK_KEY_SEQ_LEN | TASK_KEY_WIDTH};
