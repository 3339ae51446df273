/* task_seq_classify.c — the families gru_classifier and lstm_classifier:
 * a one-layer recurrent classifier (GRU from gru.h or LSTM from layers.h)
 * on seeded synthetic sequences whose class needs memory.
 *
 * Data (from the task seed): `classes` prototype vectors P_c ~ N(0, I_dim).
 * A sequence is seq_len vectors x_t ~ N(0, I_dim); its class y is uniform,
 * and at one position t* (uniform over the sequence) the prototype is added:
 * x_{t*} += SC_AMP * P_y.  The class is read from the final hidden state
 * only, so the network must notice the marked step and carry it to the end
 * (on average seq_len/2 steps).  n_train training sequences (fixed) and
 * SC_NEVAL held-out ones for eval_loss.
 *
 * Model: zero initial state -> cell(dim, width) over seq_len steps ->
 * linear (width, classes) on h_T -> softmax cross-entropy; minibatches of
 * `batch` sequences drawn with replacement, backpropagated through all steps.
 * Gradient noise noise*N(0,1) when noise > 0 (as the synthetic families).
 * Domain "text" (the sequence domain of the domain-weight records). */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "gru.h"
#include "layers.h"
#include "tasks_internal.h"

#define SC_NEVAL 256
#define SC_AMP 2.0f
#define SC_MAX_FLOATS ((size_t)1 << 26)   /* data + activations: 256 MiB */

typedef struct seqcls {
    int    is_gru, D, H, T, K, n, batch, cap;
    gru    g;
    lstm   l;
    size_t cell_n, csz, ssz;   /* cell parameters, cache and scratch per step */
    float *x, *xe;             /* (n, T, D), (SC_NEVAL, T, D) */
    int   *y, *ye;
    float *xs;                 /* (T, cap, D) gathered batch */
    int   *yb, *rows;          /* (cap) labels and row indices of the batch */
    float *hs, *cs;            /* (T+1, cap, H); step 0 = zero state (cs: LSTM only) */
    float *caches;             /* (T, csz) */
    float *logits, *probs, *dlogits;   /* (cap, K) */
    float *dh, *dc, *dhn, *dcn, *scratch;
} seqcls;

static void sc_gather(seqcls *q, const float *x, const int *y, const int *rows, int m)
{
    for (int b = 0; b < m; b++) {
        q->yb[b] = y[rows[b]];
        for (int t = 0; t < q->T; t++)
            memcpy(q->xs + ((size_t)t * q->cap + b) * q->D,
                   x + ((size_t)rows[b] * q->T + t) * q->D, sizeof(float) * q->D);
    }
}

/* Loss of the m gathered sequences; gradient into g when non-NULL. */
static double sc_run(seqcls *q, const float *p, int m, float *g)
{
    int H = q->H, K = q->K, T = q->T;
    size_t nh = (size_t)m * H, step = (size_t)q->cap * H;
    memset(q->hs, 0, sizeof(float) * nh);
    if (!q->is_gru) memset(q->cs, 0, sizeof(float) * nh);
    for (int t = 0; t < T; t++) {
        const float *x = q->xs + (size_t)t * q->cap * q->D;
        float *hp = q->hs + t * step, *h = hp + step;
        if (q->is_gru) gru_forward(&q->g, h, q->caches + t * q->csz, p, x, hp, m);
        else layer_lstm_forward(&q->l, h, q->cs + (t + 1) * step, q->caches + t * q->csz, p, x, hp,
                          q->cs + t * step, m);
    }
    const float *hT = q->hs + T * step, *wy = p + q->cell_n, *by = wy + (size_t)H * K;
    layer_linear_forward(q->logits, hT, wy, by, m, H, K);
    double f = layer_softmax_xent_forward(q->probs, q->logits, q->yb, m, K);
    if (!g || !isfinite(f)) return f;
    memset(g, 0, sizeof(float) * (q->cell_n + (size_t)H * K + K));
    memset(q->dlogits, 0, sizeof(float) * (size_t)m * K);
    layer_softmax_xent_backward(q->dlogits, q->probs, q->yb, m, K, 1.0f);
    memset(q->dh, 0, sizeof(float) * nh);
    memset(q->dc, 0, sizeof(float) * nh);
    layer_linear_backward(q->dh, g + q->cell_n, g + q->cell_n + (size_t)H * K, q->dlogits, hT, wy, m, H, K);
    for (int t = T - 1; t >= 0; t--) {
        const float *x = q->xs + (size_t)t * q->cap * q->D, *hp = q->hs + t * step;
        memset(q->dhn, 0, sizeof(float) * nh);
        if (q->is_gru) {
            gru_backward(&q->g, g, NULL, q->dhn, q->scratch, q->dh, q->caches + t * q->csz, p, x, hp, m);
        } else {
            memset(q->dcn, 0, sizeof(float) * nh);
            layer_lstm_backward(&q->l, g, NULL, q->dhn, q->dcn, q->scratch, q->dh, q->dc,
                          q->caches + t * q->csz, p, x, hp, q->cs + t * step, m);
            float *s = q->dc; q->dc = q->dcn; q->dcn = s;
        }
        float *s = q->dh; q->dh = q->dhn; q->dhn = s;
    }
    return f;
}

static double sc_loss_grad(task *t, const float *p, float *g, rng *r)
{
    seqcls *q = t->impl;
    rng cr;
    tasks_call_rng(r, &cr);
    for (int b = 0; b < q->batch; b++) q->rows[b] = (int)rng_below(&cr, (uint64_t)q->n);
    sc_gather(q, q->x, q->y, q->rows, q->batch);
    double f = sc_run(q, p, q->batch, g);
    if (g && isfinite(f)) tasks_add_noise(g, t->n, t->p.noise, &cr);
    return tasks_finite_or_nan(f);
}

static double sc_eval(task *t, const float *p)
{
    seqcls *q = t->impl;
    double s = 0;
    for (int i = 0; i < SC_NEVAL; i += q->cap) {
        int m = SC_NEVAL - i < q->cap ? SC_NEVAL - i : q->cap;
        for (int b = 0; b < m; b++) q->rows[b] = i + b;
        sc_gather(q, q->xe, q->ye, q->rows, m);
        s += m * sc_run(q, p, m, NULL);
    }
    return tasks_finite_or_nan(s / SC_NEVAL);
}

static void sc_init(task *t, rng *r, float *p)
{
    seqcls *q = t->impl;
    float s = (float)t->p.init_scale;
    if (q->is_gru) gru_init_params(&q->g, p, r, s);
    else layer_lstm_init_params(&q->l, p, r, s, 1.0f);
    rng_normal_fill(r, p + q->cell_n, (size_t)q->H * q->K, 0.0f, s / sqrtf((float)q->H));
    memset(p + q->cell_n + (size_t)q->H * q->K, 0, sizeof(float) * q->K);
}

static void sc_free(task *t)
{
    seqcls *q = t->impl;
    if (!q) return;
    free(q->x); free(q->xe); free(q->y); free(q->ye); free(q->xs); free(q->yb); free(q->rows);
    free(q->hs); free(q->cs); free(q->caches); free(q->logits); free(q->probs); free(q->dlogits);
    free(q->dh); free(q->dc); free(q->dhn); free(q->dcn); free(q->scratch);
    free(q);
    t->impl = NULL;
}

static const task_vtbl sc_vt = {sc_loss_grad, sc_eval, NULL, sc_init, sc_free};

/* m sequences into x (m, T, D), y (m) as described at the top. */
static void sc_make(rng *r, const float *proto, const seqcls *q, float *x, int *y, int m)
{
    for (int i = 0; i < m; i++) {
        y[i] = (int)rng_below(r, (uint64_t)q->K);
        int ts = (int)rng_below(r, (uint64_t)q->T);
        float *xi = x + (size_t)i * q->T * q->D;
        rng_normal_fill(r, xi, (size_t)q->T * q->D, 0.0f, 1.0f);
        for (int j = 0; j < q->D; j++) xi[(size_t)ts * q->D + j] += SC_AMP * proto[(size_t)y[i] * q->D + j];
    }
}

static int sc_create_kind(task *t, int is_gru)
{
    task_params *p = &t->p;
    const char *fam = is_gru ? "gru_classifier" : "lstm_classifier";
    if (!p->dim) p->dim = 8;
    if (!p->width) p->width = 16;
    if (!p->seq_len) p->seq_len = 16;
    if (!p->classes) p->classes = 4;
    if (!p->batch) p->batch = 8;
    if (!p->n_train) p->n_train = 1000;
    if (p->init_scale == 0) p->init_scale = 1.0;
    if (p->dim < 1 || p->dim > 1024 || p->width < 1 || p->width > 1024 || p->seq_len < 1 ||
        p->seq_len > 512 || p->classes < 2 || p->classes > 1000 || p->batch < 1 || p->batch > 4096 ||
        p->n_train < 1 || p->n_train > 1000000 || !(p->init_scale > 0)) {
        tasks_set_error("%s: dim 1..1024, width 1..1024, seq_len 1..512, classes 2..1000, "
                        "batch 1..4096, n_train 1..1e6, init_scale > 0", fam);
        return ERR_OUT_OF_RANGE;
    }
    size_t T = (size_t)p->seq_len, D = (size_t)p->dim, H = (size_t)p->width;
    size_t cap = (size_t)(p->batch > SC_NEVAL ? p->batch : SC_NEVAL);
    size_t need = ((size_t)p->n_train + SC_NEVAL) * T * D + cap * T * (D + 2 * H + 6 * H) + 12 * cap * H;
    if (need > SC_MAX_FLOATS) {
        tasks_set_error("%s: n_train x seq_len x dim and batch x seq_len x width need %zu floats, "
                        "more than %zu", fam, need, SC_MAX_FLOATS);
        return ERR_OUT_OF_RANGE;
    }
    seqcls *q = calloc(1, sizeof *q);
    if (!q) return ERR_NO_MEMORY;
    t->impl = q;
    t->vt = &sc_vt;
    q->is_gru = is_gru;
    q->D = p->dim; q->H = p->width; q->T = p->seq_len; q->K = p->classes;
    q->n = p->n_train; q->batch = p->batch; q->cap = (int)cap;
    int rc = is_gru ? gru_init(&q->g, q->D, q->H) : layer_lstm_init(&q->l, q->D, q->H);
    if (rc) { sc_free(t); return rc; }
    q->cell_n = is_gru ? q->g.nparams : q->l.nparams;
    q->csz = is_gru ? gru_cache_size(&q->g, q->cap) : layer_lstm_cache_size(&q->l, q->cap);
    q->ssz = is_gru ? gru_scratch_size(&q->g, q->cap) : layer_lstm_scratch_size(&q->l, q->cap);
    size_t K = (size_t)q->K;
    q->x = malloc(sizeof(float) * (size_t)q->n * T * D);
    q->xe = malloc(sizeof(float) * SC_NEVAL * T * D);
    q->y = malloc(sizeof(int) * (size_t)q->n);
    q->ye = malloc(sizeof(int) * SC_NEVAL);
    q->xs = malloc(sizeof(float) * T * cap * D);
    q->yb = malloc(sizeof(int) * cap);
    q->rows = malloc(sizeof(int) * cap);
    q->hs = malloc(sizeof(float) * (T + 1) * cap * H);
    q->cs = is_gru ? NULL : malloc(sizeof(float) * (T + 1) * cap * H);
    q->caches = malloc(sizeof(float) * T * q->csz);
    q->logits = malloc(sizeof(float) * cap * K);
    q->probs = malloc(sizeof(float) * cap * K);
    q->dlogits = malloc(sizeof(float) * cap * K);
    q->dh = malloc(sizeof(float) * cap * H);
    q->dc = malloc(sizeof(float) * cap * H);
    q->dhn = malloc(sizeof(float) * cap * H);
    q->dcn = malloc(sizeof(float) * cap * H);
    q->scratch = malloc(sizeof(float) * q->ssz);
    float *proto = malloc(sizeof(float) * K * D);
    if (!q->x || !q->xe || !q->y || !q->ye || !q->xs || !q->yb || !q->rows || !q->hs || (!is_gru && !q->cs) ||
        !q->caches || !q->logits || !q->probs || !q->dlogits || !q->dh || !q->dc || !q->dhn ||
        !q->dcn || !q->scratch || !proto) {
        free(proto);
        sc_free(t);
        return ERR_NO_MEMORY;
    }
    rng r;
    rng_seed(&r, t->seed);
    rng_normal_fill(&r, proto, K * D, 0.0f, 1.0f);
    sc_make(&r, proto, q, q->x, q->y, q->n);
    sc_make(&r, proto, q, q->xe, q->ye, SC_NEVAL);
    free(proto);
    int64_t G = (is_gru ? 3 : 4) * (int64_t)H;
    const char *gn[6] = {"gru.wx", "gru.wh", "gru.bx", "gru.bh", "out.w", "out.b"};
    const char *ln[5] = {"lstm.wx", "lstm.wh", "lstm.b", "out.w", "out.b"};
    int nd[6] = {2, 2, 1, 1, 2, 1}, ndl[5] = {2, 2, 1, 2, 1};
    int64_t sg[6][LAYOUT_MAX_DIMS] = {{(int64_t)D, G}, {(int64_t)H, G}, {G}, {G}, {(int64_t)H, (int64_t)K}, {(int64_t)K}};
    int64_t sl[5][LAYOUT_MAX_DIMS] = {{(int64_t)D, G}, {(int64_t)H, G}, {G}, {(int64_t)H, (int64_t)K}, {(int64_t)K}};
    rc = is_gru ? tasks_layout_set(t, 6, gn, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sg)
                : tasks_layout_set(t, 5, ln, ndl, (const int64_t (*)[LAYOUT_MAX_DIMS])sl);
    if (rc) sc_free(t);
    return rc;
}

static int sc_create_gru(task *t) { return sc_create_kind(t, 1); }
static int sc_create_lstm(task *t) { return sc_create_kind(t, 0); }

/* the task parameters both families read */
#define SC_KEYS (TASK_KEY_BATCH | TASK_KEY_CLASSES | TASK_KEY_DIM | TASK_KEY_N_TRAIN | TASK_KEY_NOISE | \
                 TASK_KEY_SEQ_LEN | TASK_KEY_WIDTH)

const task_family task_family_gru_classifier = {
    "gru_classifier", "text", "GRU classifier of seeded sequences whose class is one marked step",
    sc_create_gru,
    SC_KEYS};
const task_family task_family_lstm_classifier = {
    "lstm_classifier", "text", "LSTM classifier of seeded sequences whose class is one marked step",
    sc_create_lstm,
    SC_KEYS};
