/* task_transformer_lm.c — next-byte prediction with a small causal
 * transformer (GPT-style, pre-LayerNorm).
 *
 * Text: as char_rnn (tasks_text_load: the data source's text, the GPL-3 by
 * default or task_params.data_path; bytes mapped to a dense vocabulary V;
 * the first 90% trains, the last 10% is held out).
 * Model, C = width, depth blocks, `heads` heads (C % heads == 0):
 *   x = wte[token] + wpe[position]                (learned positions)
 *   per block:  x += Wo attn(LN1(x) Wqkv + bqkv) + bo
 *               x += W2 act(LN2(x) W1 + b1) + b2   (MLP hidden 4C)
 *   logits = LNf(x) Wout + bout                    (untied output, (C, V))
 * act is task_params.activation: relu by default (GELU and tanh go through
 * glibc's tanhf, which doubled the default step's cost), gelu or tanh.
 * Loss: mean softmax cross-entropy of every position's next byte over
 * `batch` windows of seq_len bytes at random training offsets.  eval_loss:
 * TL_NEVAL fixed, evenly spaced held-out windows.
 * Init (times init_scale): wte ~ N(0, 0.5^2), wpe ~ N(0, 0.1^2), Wqkv, W1,
 * Wout ~ N(0, 1/fan_in), Wo, W2 ~ N(0, 1/(fan_in * 2 depth)) (GPT-2's
 * residual scaling); LayerNorm gains 1, every bias 0.
 * Layers: embedding.h, layernorm.h, attention.h, layers.h (linear, GELU,
 * softmax cross-entropy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "embedding.h"
#include "errors.h"
#include "layernorm.h"
#include "layers.h"
#include "tasks_internal.h"

#define TL_NEVAL 32
#define TL_MAX_DEPTH 4
#define TL_MAX_FLOATS ((size_t)1 << 26)   /* activations: 256 MiB */
#define TL_PER_BLOCK 12

/* Offsets of one block's tensors in the parameter block, in layout order. */
enum { B_LN1G, B_LN1B, B_WQKV, B_BQKV, B_WO, B_BO, B_LN2G, B_LN2B, B_W1, B_B1, B_W2, B_B2 };

/* One block's saved activations (rows N = cap * T). */
typedef struct tl_act {
    float *xin, *ln1, *c1, *qkv, *attc, *atty, *xmid, *ln2, *c2, *hpre, *hact;
} tl_act;

typedef struct tlm {
    int     V, C, L, NH, T, batch, cap, act;
    size_t  wte, wpe, blk[TL_MAX_DEPTH][TL_PER_BLOCK], lnfg, lnfb, wout, bout;
    uint8_t *text;
    size_t  n_text, n_train;
    int    *tok, *tgt;                 /* (cap, T) inputs and next bytes */
    tl_act  a[TL_MAX_DEPTH];
    float  *xL, *lnf, *cf, *logits, *probs;
    float  *dres, *dtmp, *dqkv, *dh1, *dh2;   /* backward scratch */
    float  *mem;                       /* every float buffer above, one allocation */
    size_t *starts;
} tlm;

static double tl_run(tlm *q, const float *p, int m, float *g)
{
    int C = q->C, T = q->T, V = q->V, NH = q->NH, N = m * T;
    size_t nc = (size_t)N * C;
    for (int b = 0; b < m; b++)
        for (int t = 0; t < T; t++) {
            q->tok[b * T + t] = q->text[q->starts[b] + t];
            q->tgt[b * T + t] = q->text[q->starts[b] + t + 1];
        }
    embedding_forward(q->a[0].xin, q->tok, p + q->wte, p + q->wpe, m, T, C);
    for (int l = 0; l < q->L; l++) {
        tl_act *a = &q->a[l];
        const size_t *o = q->blk[l];
        layernorm_forward(a->ln1, a->c1, a->xin, p + o[B_LN1G], p + o[B_LN1B], N, C);
        layer_linear_forward(a->qkv, a->ln1, p + o[B_WQKV], p + o[B_BQKV], N, C, 3 * C);
        attention_forward(a->atty, a->attc, a->qkv, m, T, C, NH);
        layer_linear_forward(a->xmid, a->atty, p + o[B_WO], p + o[B_BO], N, C, C);
        for (size_t i = 0; i < nc; i++) a->xmid[i] += a->xin[i];
        layernorm_forward(a->ln2, a->c2, a->xmid, p + o[B_LN2G], p + o[B_LN2B], N, C);
        layer_linear_forward(a->hpre, a->ln2, p + o[B_W1], p + o[B_B1], N, C, 4 * C);
        layer_act_forward(a->hact, a->hpre, (size_t)N * 4 * C, q->act);
        float *xout = l + 1 < q->L ? q->a[l + 1].xin : q->xL;
        layer_linear_forward(xout, a->hact, p + o[B_W2], p + o[B_B2], N, 4 * C, C);
        for (size_t i = 0; i < nc; i++) xout[i] += a->xmid[i];
    }
    layernorm_forward(q->lnf, q->cf, q->xL, p + q->lnfg, p + q->lnfb, N, C);
    layer_linear_forward(q->logits, q->lnf, p + q->wout, p + q->bout, N, C, V);
    double f = layer_softmax_xent_forward(q->probs, q->logits, q->tgt, N, V);
    if (!g || !isfinite(f)) return f;
    memset(g, 0, sizeof(float) * (q->bout + V));
    float *dlog = q->logits;           /* the logits are no longer needed */
    memset(dlog, 0, sizeof(float) * (size_t)N * V);
    layer_softmax_xent_backward(dlog, q->probs, q->tgt, N, V, 1.0f);
    memset(q->dtmp, 0, sizeof(float) * nc);
    layer_linear_backward(q->dtmp, g + q->wout, g + q->bout, dlog, q->lnf, p + q->wout, N, C, V);
    memset(q->dres, 0, sizeof(float) * nc);
    layernorm_backward(q->dres, g + q->lnfg, g + q->lnfb, q->dtmp, q->xL, q->cf, p + q->lnfg, N, C);
    for (int l = q->L - 1; l >= 0; l--) {
        tl_act *a = &q->a[l];
        const size_t *o = q->blk[l];
        size_t nh = (size_t)N * 4 * C;
        /* MLP branch: dres is dL/dx_out = dL/dx_mid through the residual */
        memset(q->dh1, 0, sizeof(float) * nh);
        layer_linear_backward(q->dh1, g + o[B_W2], g + o[B_B2], q->dres, a->hact, p + o[B_W2], N, 4 * C, C);
        memset(q->dh2, 0, sizeof(float) * nh);
        layer_act_backward(q->dh2, q->dh1, a->hpre, nh, q->act);
        memset(q->dtmp, 0, sizeof(float) * nc);
        layer_linear_backward(q->dtmp, g + o[B_W1], g + o[B_B1], q->dh2, a->ln2, p + o[B_W1], N, C, 4 * C);
        layernorm_backward(q->dres, g + o[B_LN2G], g + o[B_LN2B], q->dtmp, a->xmid, a->c2, p + o[B_LN2G], N, C);
        /* attention branch: dres is now dL/dx_mid = dL/dx_in through the residual */
        memset(q->dtmp, 0, sizeof(float) * nc);
        layer_linear_backward(q->dtmp, g + o[B_WO], g + o[B_BO], q->dres, a->atty, p + o[B_WO], N, C, C);
        memset(q->dqkv, 0, sizeof(float) * 3 * nc);
        attention_backward(q->dqkv, q->dtmp, a->qkv, a->attc, m, T, C, NH);
        memset(q->dtmp, 0, sizeof(float) * nc);
        layer_linear_backward(q->dtmp, g + o[B_WQKV], g + o[B_BQKV], q->dqkv, a->ln1, p + o[B_WQKV], N, C, 3 * C);
        layernorm_backward(q->dres, g + o[B_LN1G], g + o[B_LN1B], q->dtmp, a->xin, a->c1, p + o[B_LN1G], N, C);
    }
    embedding_backward(g + q->wte, g + q->wpe, q->dres, q->tok, m, T, C);
    return f;
}

static double tl_loss_grad(task *t, const float *p, float *g, rng *r)
{
    tlm *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    for (int b = 0; b < q->batch; b++)
        q->starts[b] = (size_t)rng_below(&cr, (uint64_t)(q->n_train - (size_t)q->T));
    return tasks_finite_or_nan(tl_run(q, p, q->batch, g));
}

static double tl_eval(task *t, const float *p)
{
    tlm *q = t->impl;
    size_t span = q->n_text - q->n_train - (size_t)q->T - 1;
    for (int b = 0; b < TL_NEVAL; b++) q->starts[b] = q->n_train + span * (size_t)b / (TL_NEVAL - 1);
    return tasks_finite_or_nan(tl_run(q, p, TL_NEVAL, NULL));
}

static void tl_init(task *t, rng *r, float *p)
{
    tlm *q = t->impl;
    float s = (float)t->p.init_scale, C = (float)q->C, res = sqrtf(2.0f * q->L);
    memset(p, 0, sizeof(float) * t->n);
    rng_normal_fill(r, p + q->wte, (size_t)q->V * q->C, 0.0f, 0.5f * s);
    rng_normal_fill(r, p + q->wpe, (size_t)q->T * q->C, 0.0f, 0.1f * s);
    for (int l = 0; l < q->L; l++) {
        const size_t *o = q->blk[l];
        size_t c = (size_t)q->C;
        for (size_t i = 0; i < c; i++) p[o[B_LN1G] + i] = p[o[B_LN2G] + i] = 1.0f;
        rng_normal_fill(r, p + o[B_WQKV], c * 3 * c, 0.0f, s / sqrtf(C));
        rng_normal_fill(r, p + o[B_WO], c * c, 0.0f, s / sqrtf(C) / res);
        rng_normal_fill(r, p + o[B_W1], c * 4 * c, 0.0f, s / sqrtf(C));
        rng_normal_fill(r, p + o[B_W2], 4 * c * c, 0.0f, s / sqrtf(4 * C) / res);
    }
    for (int i = 0; i < q->C; i++) p[q->lnfg + i] = 1.0f;
    rng_normal_fill(r, p + q->wout, (size_t)q->C * q->V, 0.0f, s / sqrtf(C));
}

static void tl_free(task *t)
{
    tlm *q = t->impl;
    if (!q) return;
    free(q->text); free(q->tok); free(q->tgt); free(q->mem); free(q->starts);
    free(q);
    t->impl = NULL;
}

static const task_vtbl tl_vt = {tl_loss_grad, tl_eval, NULL, tl_init, tl_free};

/* Floats of every activation buffer for rows N = cap*T (and, when out is
 * non-NULL, carves them from out in this order). */
static size_t tl_buffers(tlm *q, float *out)
{
    size_t N = (size_t)q->cap * q->T, C = (size_t)q->C, off = 0;
#define TL_TAKE(ptr, count) do { if (out) (ptr) = out + off; off += (count); } while (0)
    for (int l = 0; l < q->L; l++) {
        tl_act *a = &q->a[l];
        TL_TAKE(a->xin, N * C); TL_TAKE(a->ln1, N * C); TL_TAKE(a->c1, layernorm_cache_size((int)N));
        TL_TAKE(a->qkv, 3 * N * C); TL_TAKE(a->attc, attention_cache_size(q->cap, q->T, q->NH));
        TL_TAKE(a->atty, N * C); TL_TAKE(a->xmid, N * C); TL_TAKE(a->ln2, N * C);
        TL_TAKE(a->c2, layernorm_cache_size((int)N)); TL_TAKE(a->hpre, 4 * N * C); TL_TAKE(a->hact, 4 * N * C);
    }
    TL_TAKE(q->xL, N * C); TL_TAKE(q->lnf, N * C); TL_TAKE(q->cf, layernorm_cache_size((int)N));
    TL_TAKE(q->logits, N * q->V); TL_TAKE(q->probs, N * q->V);
    TL_TAKE(q->dres, N * C); TL_TAKE(q->dtmp, N * C); TL_TAKE(q->dqkv, 3 * N * C);
    TL_TAKE(q->dh1, 4 * N * C); TL_TAKE(q->dh2, 4 * N * C);
#undef TL_TAKE
    return off;
}

static int tl_create(task *t)
{
    task_params *p = &t->p;
    if (!p->width) p->width = 16;
    if (!p->depth) p->depth = 1;
    if (!p->heads) p->heads = 2;
    if (!p->batch) p->batch = 4;
    if (!p->seq_len) p->seq_len = 16;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (!p->activation) p->activation = ACT_RELU;
    if (p->width < 1 || p->width > 1024 || p->depth < 1 || p->depth > TL_MAX_DEPTH ||
        p->activation < ACT_RELU || p->activation > ACT_GELU ||
        p->heads < 1 || p->heads > p->width || p->width % p->heads || p->batch < 1 ||
        p->batch > 1024 || p->seq_len < 1 || p->seq_len > 512 || !(p->init_scale > 0)) {
        tasks_set_error("transformer_lm: width 1..1024, depth 1..%d, heads dividing width, "
                        "activation relu/tanh/gelu, batch 1..1024, seq_len 1..512, init_scale > 0", TL_MAX_DEPTH);
        return ERR_OUT_OF_RANGE;
    }
    tlm *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    q->C = p->width; q->L = p->depth; q->act = p->activation; q->NH = p->heads; q->T = p->seq_len; q->batch = p->batch;
    q->cap = q->batch > TL_NEVAL ? q->batch : TL_NEVAL;
    q->V = 256;   /* an upper bound until the text is read, for the size check */
    size_t need = tl_buffers(q, NULL);
    if (need > TL_MAX_FLOATS) {
        free(q);
        tasks_set_error("transformer_lm: batch x seq_len x width x depth need %zu floats of "
                        "activations, more than %zu", need, TL_MAX_FLOATS);
        return ERR_OUT_OF_RANGE;
    }
    tasks_text tx;
    int rc = tasks_text_load(t, "transformer_lm", (size_t)p->seq_len + 2, &tx);
    if (rc) { free(q); return rc; }
    t->impl = q;
    t->vt = &tl_vt;
    q->text = tx.text; q->n_text = tx.n; q->n_train = tx.n_train; q->V = tx.vocab;
    q->mem = malloc(sizeof(float) * tl_buffers(q, NULL));
    q->tok = malloc(sizeof(int) * (size_t)q->cap * q->T);
    q->tgt = malloc(sizeof(int) * (size_t)q->cap * q->T);
    q->starts = malloc(sizeof(size_t) * (size_t)q->cap);
    if (!q->mem || !q->tok || !q->tgt || !q->starts) { tl_free(t); return ERR_NO_MEMORY; }
    tl_buffers(q, q->mem);
    /* layout: wte, wpe, 12 tensors per block, lnf.g, lnf.b, out.w, out.b */
    int nt = 2 + TL_PER_BLOCK * q->L + 4;
    char names[2 + TL_PER_BLOCK * TL_MAX_DEPTH + 4][32];
    const char *np[2 + TL_PER_BLOCK * TL_MAX_DEPTH + 4];
    int nd[2 + TL_PER_BLOCK * TL_MAX_DEPTH + 4];
    int64_t sh[2 + TL_PER_BLOCK * TL_MAX_DEPTH + 4][LAYOUT_MAX_DIMS];
    static const char *const bn[TL_PER_BLOCK] = {"ln1.g", "ln1.b", "attn.wqkv", "attn.bqkv", "attn.wo",
                                                 "attn.bo", "ln2.g", "ln2.b", "mlp.w1", "mlp.b1",
                                                 "mlp.w2", "mlp.b2"};
    int64_t C = q->C, V = q->V;
    int64_t bs[TL_PER_BLOCK][2] = {{C, 0}, {C, 0}, {C, 3 * C}, {3 * C, 0}, {C, C}, {C, 0},
                                   {C, 0}, {C, 0}, {C, 4 * C}, {4 * C, 0}, {4 * C, C}, {C, 0}};
    int k = 0;
    size_t off = 0;
#define TL_TENSOR(name, d0, d1, field) do { \
        snprintf(names[k], sizeof names[k], "%s", name); np[k] = names[k]; \
        nd[k] = (d1) ? 2 : 1; memset(sh[k], 0, sizeof sh[k]); sh[k][0] = (d0); sh[k][1] = (d1); \
        field = off; off += (size_t)(d0) * (size_t)((d1) ? (d1) : 1); k++; } while (0)
    TL_TENSOR("wte", V, C, q->wte);
    TL_TENSOR("wpe", (int64_t)q->T, C, q->wpe);
    for (int l = 0; l < q->L; l++)
        for (int j = 0; j < TL_PER_BLOCK; j++) {
            char nm[32];
            snprintf(nm, sizeof nm, "h%d.%s", l, bn[j]);
            TL_TENSOR(nm, bs[j][0], bs[j][1], q->blk[l][j]);
        }
    TL_TENSOR("lnf.g", C, 0, q->lnfg);
    TL_TENSOR("lnf.b", C, 0, q->lnfb);
    TL_TENSOR("out.w", C, V, q->wout);
    TL_TENSOR("out.b", V, 0, q->bout);
#undef TL_TENSOR
    rc = tasks_layout_set(t, nt, np, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
    if (rc) tl_free(t);
    return rc;
}

const task_family task_family_transformer_lm = {
    "transformer_lm", "text", "small causal pre-LN transformer next-byte model on the GPL-3 text",
    tl_create,
    TASK_KEY_ACTIVATION | TASK_KEY_BATCH | TASK_KEY_DEPTH | TASK_KEY_HEADS | TASK_KEY_SEQ_LEN |
    TASK_KEY_WIDTH};
