/* meta_tbptt.c — truncated backprop through the unroll (META_TBPTT) for
 * mlp_lopt, lstm_lopt and attn_lopt: the gradient of the unrolled meta-loss with
 * respect to theta.  See meta.h (meta_unroll_grad).
 *
 * Method: the unroll is re-run in double precision while every operation
 * of the optimizer's update rule is recorded on a scalar tape (a Wengert
 * list: value, two parents, two local partials).  One reverse sweep then
 * gives d(meta-loss)/dθ.  The tape, the unroll loop and the reverse sweep
 * are shared; an update rule is a recorder (rec_ops: init once, then one
 * `step` per inner step that maps the nodes of g_k and p_k to those of
 * p_{k+1}, carrying its own state as nodes):
 *   mlp_lopt  decays, accumulators, factored second moment, the features
 *             and their RMS normalisers over the tensor, clipping, time
 *             features, the MLP (its activation through lopt_act), the per-tensor step scale (its
 *             features, bias corrections and head), s·d·exp(λ₂ m), and
 *             the safeguard (a tensor that trips it takes −base·x₇, whose
 *             gradient flows through the accumulators' decays);
 *   lstm_lopt log-and-sign preprocessing of g, the D LSTM layers (gates,
 *             c, h — each coordinate's h and c are nodes carried from step
 *             to step, starting at 0 as the optimizer's state does), the
 *             read-out a·s + w·h_D + b and the step scale;
 *   attn_lopt the moments, each tensor's statistics into its ring (nodes
 *             carried from step to step), the transformer over the tokens
 *             (embedding, LayerNorm, attention with softmax, GELU MLP,
 *             residuals, read-out), the step scale and momentum mix, the
 *             update and its RMS (the next step's statistic).
 * The task enters through its gradient: at the boundary of inner step k
 * the adjoint of p_k receives φ'(ℓ_k)·g_k/K (the loss term, exact in both
 * modes) and, in exact mode, H(p_k)·ḡ_k from task_hvp (the adjoint through
 * g_k = ∇ℓ(p_k)); in first-order mode ∂g/∂p = 0 (Andrychowicz et al.
 * 2016).  The tape grows per parameter and step by roughly 60 + 28·H·depth
 * nodes of 32 bytes for mlp_lopt, and by Σ_l (8H(in_l + H) + 9H) + 2H + 6
 * (in_1 = 2, in_l = H; ≈ 1,850 for the default 8 × 2) for lstm_lopt, by
 * about 35 per parameter plus ~16·H² per token and block for attn_lopt, so
 * this is for the small tasks meta-training uses (TBPTT_MAX_NODES bounds
 * it: ERR_TOO_MANY_PARAMS beyond 2^26 nodes).
 *
 * The inner trajectory is the double-precision one (params are handed to
 * the task as float), so the loss it reports equals meta_unroll_loss's
 * within float rounding, not bit for bit. */
#include "meta.h"
#include "lopt_internal.h"
#include "lopt_attn_net.h"
#include "layernorm.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TBPTT_MAX_NODES (1u << 26)
#define LOSS_CAP 1e30
/* lstm_lopt's output scale (LSTM_SCALE of lopt_lstm.c). */
#define TB_LSTM_SCALE 1e-3f

typedef struct tnode { double v, da, db; int32_t a, b; } tnode;

typedef struct tape {
    tnode  *n;
    double *adj;
    size_t  len, cap;
    int     err;
} tape;

static int t_push(tape *t, double v, int a, double da, int b, double db)
{
    if (t->err) return 0;
    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        if (cap > TBPTT_MAX_NODES) { t->err = ERR_TOO_MANY_PARAMS; return 0; }
        tnode *nn = realloc(t->n, cap * sizeof *nn);
        if (!nn) { t->err = ERR_NO_MEMORY; return 0; }
        t->n = nn; t->cap = cap;
    }
    t->n[t->len] = (tnode){v, da, db, a, b};
    return (int)t->len++;
}

/* Node 0 is the constant 0; a leaf or constant has parents −1. */
static int t_leaf(tape *t, double v) { return t_push(t, v, -1, 0, -1, 0); }
static inline double V(const tape *t, int i) { return t->err ? 0 : t->n[i].v; }
static int t_add(tape *t, int a, int b) { return t_push(t, V(t, a) + V(t, b), a, 1, b, 1); }
static int t_sub(tape *t, int a, int b) { return t_push(t, V(t, a) - V(t, b), a, 1, b, -1); }
static int t_mul(tape *t, int a, int b) { return t_push(t, V(t, a) * V(t, b), a, V(t, b), b, V(t, a)); }
static int t_scale(tape *t, int a, double c) { return t_push(t, c * V(t, a), a, c, -1, 0); }
static int t_addc(tape *t, int a, double c) { return t_push(t, V(t, a) + c, a, 1, -1, 0); }
static int t_div(tape *t, int a, int b)
{
    double bv = V(t, b), q = V(t, a) / bv;
    return t_push(t, q, a, 1 / bv, b, -q / bv);
}
static int t_sqrt(tape *t, int a)
{
    double s = sqrt(V(t, a));
    return t_push(t, s, a, s > 0 ? 0.5 / s : 0, -1, 0);
}
static int t_rsqrt(tape *t, int a)   /* 1/√a */
{
    double va = V(t, a), r = 1 / sqrt(va);
    return t_push(t, r, a, -0.5 * r / va, -1, 0);
}
static int t_exp(tape *t, int a) { double e = exp(V(t, a)); return t_push(t, e, a, e, -1, 0); }
static int t_log(tape *t, int a) { double va = V(t, a); return t_push(t, log(va), a, 1 / va, -1, 0); }
/* mlp_lopt's hidden activation (lopt.h's lopt_act: the value and its derivative). */
static int t_act(tape *t, int a, int act)
{
    double d, y = lopt_act(act, V(t, a), &d);
    return t_push(t, y, a, d, -1, 0);
}
static int t_clip(tape *t, int a, double c)
{
    double v = V(t, a);
    if (v > c) return t_push(t, c, a, 0, -1, 0);
    if (v < -c) return t_push(t, -c, a, 0, -1, 0);
    return t_push(t, v, a, 1, -1, 0);
}
static int t_sigmoid(tape *t, int a)
{
    double s = 1 / (1 + exp(-V(t, a)));
    return t_push(t, s, a, s * (1 - s), -1, 0);
}
static int t_tanh(tape *t, int a)
{
    double th = tanh(V(t, a));
    return t_push(t, th, a, 1 - th * th, -1, 0);
}

/* Reverse sweep of nodes [lo, hi). */
static void t_reverse(tape *t, size_t lo, size_t hi)
{
    for (size_t i = hi; i-- > lo;) {
        double g = t->adj[i];
        if (g == 0) continue;
        const tnode *n = &t->n[i];
        if (n->a >= 0) t->adj[n->a] += n->da * g;
        if (n->b >= 0) t->adj[n->b] += n->db * g;
    }
}

/* ---- update-rule recorders ---------------------------------------------- */

/* Accumulator nodes of one tensor (mlp_lopt). */
typedef struct tacc { int *m[3], *v, *d, *r, *c; } tacc;

typedef struct rec {
    tape             *T;
    int               zero, one, mone;   /* constant nodes 0, 1, −1 */
    const int        *th;                /* theta leaves (nt) */
    size_t            nt;
    int               H, D;
    const layout     *lay;
    size_t            n;
    const opt_config *oc;
    int               mup_base;   /* mlp_lopt: cfg->mup_base (lopt_mup_mult) */
    int               act;        /* mlp_lopt: cfg->act (LOPT_ACT_*) */
    /* mlp_lopt */
    tacc *acc;
    int  *accmem;
    int   bdec[LOPT_NDECAY], cdec[LOPT_NDECAY];
    /* lstm_lopt: node of h (s = 0) / c (s = 1) of layer l, coordinate i,
     * unit j at hc[((l·2 + s)·n + i)·H + j] */
    int    *hc;
    size_t  cell_off[LOPT_MAX_DEPTH];
    /* attn_lopt: m, v (n each), the rings (tensors, S, NSTAT), last update
     * RMS per tensor */
    int    *am, *av, *ring, *lastu;
    int     NH, S;
} rec;

typedef struct rec_ops {
    int  (*init)(rec *r);
    /* The nodes of p_{k+1} (pnext, n) from those of g_k and p_k at inner
     * step t = k + 1; errors go to r->T->err. */
    void (*step)(rec *r, int64_t t, const int *g, const int *p, int *pnext);
} rec_ops;

static void rec_deinit(rec *r)
{
    free(r->acc); free(r->accmem); free(r->hc);
    free(r->am); free(r->av); free(r->ring); free(r->lastu);
    r->acc = NULL; r->accmem = NULL; r->hc = NULL;
    r->am = r->av = r->ring = r->lastu = NULL;
}

/* ---- mlp_lopt ----------------------------------------------------------- */

static int mlp_rec_init(rec *r)
{
    tape *T = r->T;
    const layout *lay = r->lay;
    r->acc = calloc((size_t)lay->ntensors, sizeof *r->acc);
    size_t nacc = 0;
    for (int q = 0; q < lay->ntensors; q++) {
        const layout_tensor *lt = &lay->tensors[q];
        nacc += 5 * lt->size + (lt->ndim == 2 ? (size_t)(lt->shape[0] + lt->shape[1]) : 0);
    }
    r->accmem = malloc((nacc ? nacc : 1) * sizeof(int));
    if (!r->acc || !r->accmem) return ERR_NO_MEMORY;
    /* accumulators start at zero (the constant node) */
    int *a = r->accmem;
    for (int q = 0; q < lay->ntensors; q++) {
        const layout_tensor *lt = &lay->tensors[q];
        int fac = lt->ndim == 2 && lt->shape[0] > 1 && lt->shape[1] > 1;
        tacc *A = &r->acc[q];
        for (int k = 0; k < 3; k++) { A->m[k] = a; a += lt->size; }
        A->v = a; a += lt->size;
        if (fac) { A->r = a; a += lt->shape[0]; A->c = a; a += lt->shape[1]; A->d = NULL; }
        else { A->d = a; a += lt->size; A->r = A->c = NULL; }
    }
    for (size_t i = 0; i < (size_t)(a - r->accmem); i++) r->accmem[i] = r->zero;
    /* decays */
    for (int k = 0; k < LOPT_NDECAY; k++) {
        r->bdec[k] = t_sigmoid(T, r->th[k]);
        r->cdec[k] = t_sub(T, r->one, r->bdec[k]);
    }
    return T->err;
}

/* 1 − β^t (a decay node), at least 1e-6 (lopt.c's bias_correction). */
static int rec_bias_correction(rec *r, int beta, int64_t t)
{
    tape *T = r->T;
    int c = t_sub(T, r->one, t_exp(T, t_scale(T, t_log(T, beta), (double)t)));
    return V(T, c) > 1e-6 ? c : t_leaf(T, 1e-6);
}

/* lopt_bias_corrections on the tape: the nodes of step t's corr. */
static void mlp_rec_bias_corrections(rec *r, int64_t t, int corr[LOPT_NCORR])
{
    corr[0] = t_sqrt(r->T, rec_bias_correction(r, r->bdec[3], t));
    for (int k = 0; k < 3; k++) corr[1 + k] = rec_bias_correction(r, r->bdec[k], t);
}

/* lopt_tensor_features and lopt_mlp_tensor_scale on the tape: the node of
 * the tensor's step scale s, from its normaliser nodes inv and the step's
 * corr nodes. */
static int mlp_rec_tensor_scale(rec *r, const int corr[LOPT_NCORR], const int *inv, const int *head, const float *tf)
{
    tape *T = r->T;
    int cv = corr[0];
    int tens[LOPT_NTENS];
    for (int k = 0; k < 3; k++)
        tens[k] = t_clip(T, t_div(T, cv, t_mul(T, inv[6 + k], corr[1 + k])), LOPT_TENS_CLIP);
    tens[3] = t_clip(T, t_log(T, t_div(T, t_mul(T, cv, inv[5]), inv[0])), LOPT_TENS_CLIP);
    int z = head[LOPT_MLP_SCALE_IN];
    for (int j = 0; j < LOPT_NTENS; j++) z = t_add(T, z, t_mul(T, head[j], tens[j]));
    for (int j = 0; j < LOPT_NTIME; j++) z = t_add(T, z, t_scale(T, head[LOPT_NTENS + j], tf[j]));
    return t_exp(T, t_clip(T, z, LOPT_MLP_SCALE_CLIP));
}

static void mlp_rec_step(rec *r, int64_t t, const int *gn, const int *pk, int *pnext)
{
    tape *T = r->T;
    const int H = r->H, D = r->D, IN = LOPT_MLP_IN, zero = r->zero;
    const int *bdec = r->bdec, *cdec = r->cdec;
    const layout *lay = r->lay;
    /* the network's views of theta */
    const int *W0 = r->th + LOPT_NDECAY, *b0 = W0 + (size_t)H * IN;
    const int *Wl[LOPT_MAX_DEPTH] = {0}, *bl[LOPT_MAX_DEPTH] = {0};
    const int *pp = b0 + H;
    for (int l = 1; l < D; l++) { Wl[l] = pp; pp += (size_t)H * H; bl[l] = pp; pp += H; }
    const int *Wo = pp, *bo = pp + 2 * H, *head = bo + 2;

    int hbuf[2 * LOPT_MAX_HIDDEN];
    float mult = (float)lopt_lr_mult(opt_schedule_lr(r->oc, t)) * LOPT_MLP_LAMBDA1;
    float tf[LOPT_NTIME];
    lopt_time_features(t, tf);
    int bias0[LOPT_MAX_HIDDEN];
    for (int u = 0; u < H; u++) {
        int z = b0[u];
        for (int j = 0; j < LOPT_NTIME; j++) z = t_add(T, z, t_scale(T, W0[(size_t)u * IN + LOPT_NFEAT + j], tf[j]));
        bias0[u] = z;
    }
    int corr[LOPT_NCORR];
    mlp_rec_bias_corrections(r, t, corr);
    int mupf = lopt_mup_first(lay);
    for (int q = 0; q < lay->ntensors; q++) {
        const layout_tensor *lt = &lay->tensors[q];
        tacc *A = &r->acc[q];
        size_t off = lt->offset, N = lt->size;
        const int *g = gn + off, *p = pk + off;
        int *g2 = malloc(N * sizeof(int));
        if (!g2) { T->err = ERR_NO_MEMORY; return; }
        for (size_t i = 0; i < N; i++) {
            g2[i] = t_mul(T, g[i], g[i]);
            for (int m = 0; m < 3; m++)
                A->m[m][i] = t_add(T, t_mul(T, bdec[m], A->m[m][i]), t_mul(T, cdec[m], g[i]));
            A->v[i] = t_add(T, t_mul(T, bdec[3], A->v[i]), t_mul(T, cdec[3], g2[i]));
            if (A->d)
                A->d[i] = t_add(T, t_mul(T, bdec[4], A->d[i]), t_mul(T, cdec[4], t_addc(T, g2[i], LOPT_FAC_EPS)));
        }
        int rim = zero;
        size_t R = 0, C = N;
        if (A->r) {
            R = (size_t)lt->shape[0]; C = (size_t)lt->shape[1];
            int rs_sum = zero;
            for (size_t rr = 0; rr < R; rr++) {
                int s = zero;
                for (size_t c = 0; c < C; c++) s = t_add(T, s, t_addc(T, g2[rr * C + c], LOPT_FAC_EPS));
                A->r[rr] = t_add(T, t_mul(T, bdec[4], A->r[rr]), t_mul(T, cdec[4], t_scale(T, s, 1.0 / (double)C)));
            }
            for (size_t c = 0; c < C; c++) {
                int s = zero;
                for (size_t rr = 0; rr < R; rr++) s = t_add(T, s, t_addc(T, g2[rr * C + c], LOPT_FAC_EPS));
                A->c[c] = t_add(T, t_mul(T, bdec[4], A->c[c]), t_mul(T, cdec[4], t_scale(T, s, 1.0 / (double)R)));
            }
            for (size_t rr = 0; rr < R; rr++) rs_sum = t_add(T, rs_sum, A->r[rr]);
            int mean = t_scale(T, rs_sum, 1.0 / (double)R);
            rim = V(T, mean) > 0 ? t_div(T, r->one, mean) : zero;
        }
        /* raw features, then their RMS over the tensor */
        int *F = malloc(N * LOPT_NFEAT * sizeof(int));
        if (!F) { free(g2); T->err = ERR_NO_MEMORY; return; }
        int ss[LOPT_NFEAT];
        for (int f = 0; f < LOPT_NFEAT; f++) ss[f] = zero;
        for (size_t i = 0; i < N; i++) {
            int vh = A->r ? t_mul(T, t_mul(T, A->r[i / C], rim), A->c[i % C]) : A->d[i];
            int rv = t_rsqrt(T, t_addc(T, A->v[i], LOPT_V_EPS));
            int rf = t_rsqrt(T, t_addc(T, vh, LOPT_FAC_EPS));
            int *f = F + i * LOPT_NFEAT;
            f[0] = g[i]; f[1] = p[i];
            f[2] = A->m[0][i]; f[3] = A->m[1][i]; f[4] = A->m[2][i];
            f[5] = t_sqrt(T, A->v[i]);
            f[6] = t_mul(T, A->m[0][i], rv); f[7] = t_mul(T, A->m[1][i], rv); f[8] = t_mul(T, A->m[2][i], rv);
            f[9] = rv;
            f[10] = t_mul(T, g[i], rf); f[11] = rf;
            for (int j = 0; j < LOPT_NFEAT; j++) ss[j] = t_add(T, ss[j], t_mul(T, f[j], f[j]));
        }
        int inv[LOPT_NFEAT];
        for (int j = 0; j < LOPT_NFEAT; j++)
            inv[j] = t_rsqrt(T, t_addc(T, t_scale(T, ss[j], 1.0 / (double)N), 1e-30));
        int scale = mlp_rec_tensor_scale(r, corr, inv, head, tf);
        float mupm = (float)lopt_mup_mult(r->mup_base, lay, mupf, q);
        /* the update's nodes, then the safeguard on their values (lopt_mlp.c) */
        int *dun = malloc(2 * N * sizeof(int)), *x7n = dun + N;
        float *duv = malloc(N * sizeof(float));
        if (!dun || !duv) { free(dun); free(duv); free(F); free(g2); T->err = ERR_NO_MEMORY; return; }
        for (size_t i = 0; i < N && !T->err; i++) {
            int x[LOPT_NFEAT], *h = hbuf, *h2 = hbuf + LOPT_MAX_HIDDEN;
            for (int j = 0; j < LOPT_NFEAT; j++) x[j] = t_clip(T, t_mul(T, F[i * LOPT_NFEAT + j], inv[j]), LOPT_FEAT_CLIP);
            x7n[i] = x[7];
            for (int u = 0; u < H; u++) {
                int s = bias0[u];
                for (int j = 0; j < LOPT_NFEAT; j++) s = t_add(T, s, t_mul(T, W0[(size_t)u * IN + j], x[j]));
                h[u] = t_act(T, s, r->act);
            }
            for (int l = 1; l < D; l++) {
                for (int u = 0; u < H; u++) {
                    int s = bl[l][u];
                    for (int j = 0; j < H; j++) s = t_add(T, s, t_mul(T, Wl[l][(size_t)u * H + j], h[j]));
                    h2[u] = t_act(T, s, r->act);
                }
                memcpy(h, h2, (size_t)H * sizeof(int));
            }
            int o0 = bo[0], o1 = bo[1];
            for (int j = 0; j < H; j++) {
                o0 = t_add(T, o0, t_mul(T, Wo[j], h[j]));
                o1 = t_add(T, o1, t_mul(T, Wo[H + j], h[j]));
            }
            int du = t_mul(T, t_mul(T, t_scale(T, o0, -(double)(mult * mupm)), scale),
                           t_exp(T, t_scale(T, o1, LOPT_MLP_LAMBDA2)));
            dun[i] = du;
            duv[i] = (float)V(T, du);
        }
        float guard = (float)r->oc->hp[HP_COMMON_COUNT + 2];
        int trips = !T->err && lopt_mlp_guard_trips(lopt_mlp_guard_sumsq(duv, N), N, guard, mult);
        int hold = r->oc->hp[HP_COMMON_COUNT + 4] != 0;   /* hold_zero_grad (lopt_mlp.c) */
        for (size_t i = 0; i < N && !T->err; i++)
            pnext[off + i] = hold && V(T, g[i]) == 0.0 ? p[i]   /* lopt_mlp_hold_zero_grad */
                                                    : t_add(T, p[i], trips ? t_scale(T, x7n[i], -(double)mult) : dun[i]);
        free(dun); free(duv);
        free(F); free(g2);
    }
}

static const rec_ops mlp_rec = {mlp_rec_init, mlp_rec_step};

/* ---- lstm_lopt ---------------------------------------------------------- */

static int lstm_rec_init(rec *r)
{
    size_t nhc = (size_t)r->D * 2 * r->n * (size_t)r->H;
    r->hc = malloc((nhc ? nhc : 1) * sizeof(int));
    if (!r->hc) return ERR_NO_MEMORY;
    for (size_t i = 0; i < nhc; i++) r->hc[i] = r->zero;   /* the state starts at 0 */
    size_t off = 1;
    for (int l = 0; l < r->D; l++) {
        r->cell_off[l] = off;
        int in = l == 0 ? 2 : r->H;
        off += (size_t)(in + r->H + 1) * 4 * (size_t)r->H;
    }
    return off + (size_t)r->H + 1 == r->nt ? 0 : ERR_INVALID_ARGUMENT;
}

/* s + Σ_k W[k·ld]·x[k] over the x that are not the constant 0 (the state
 * before the first step): those terms are 0 with 0 partials. */
static int t_dot_acc(rec *r, int s, const int *W, size_t ld, const int *x, int nx)
{
    for (int k = 0; k < nx; k++)
        if (x[k] != r->zero) s = t_add(r->T, s, t_mul(r->T, W[(size_t)k * ld], x[k]));
    return s;
}

static void lstm_rec_step(rec *r, int64_t t, const int *g, const int *p, int *pnext)
{
    tape *T = r->T;
    const int H = r->H, D = r->D, G = 4 * H;
    const size_t n = r->n;
    const float mult = (float)lopt_lr_mult(opt_schedule_lr(r->oc, t));
    const double k = (double)(-mult * TB_LSTM_SCALE);
    const float tiny = expf(-10.0f), huge = expf(10.0f);
    const int a = r->th[0], *wo = r->th + r->nt - (size_t)H - 1, bo = r->th[r->nt - 1];
    int gate[4][LOPT_MAX_HIDDEN];
    for (size_t i = 0; i < n && !T->err; i++) {
        /* log-and-sign (lopt_logsign): continuous at |g| = e^−10 */
        float gf = (float)V(T, g[i]), ag = fabsf(gf);
        int x[2];
        if (ag >= tiny) {
            x[0] = t_push(T, log((double)ag) / 10, g[i], 1 / (10 * (double)gf), -1, 0);
            x[1] = gf > 0 ? r->one : r->mone;
        } else {
            x[0] = r->mone;
            x[1] = t_scale(T, g[i], (double)huge);
        }
        const int *in = x;
        int nin = 2;
        for (int l = 0; l < D; l++) {
            const int *Wx = r->th + r->cell_off[l], *Wh = Wx + (size_t)nin * G, *b = Wh + (size_t)H * G;
            int *hs = r->hc + (((size_t)l * 2) * n + i) * H, *cs = r->hc + (((size_t)l * 2 + 1) * n + i) * H;
            for (int q = 0; q < 4; q++)
                for (int j = 0; j < H; j++) {
                    int c = q * H + j;
                    int s = t_dot_acc(r, b[c], Wx + c, (size_t)G, in, nin);
                    s = t_dot_acc(r, s, Wh + c, (size_t)G, hs, H);
                    gate[q][j] = q == 2 ? t_tanh(T, s) : t_sigmoid(T, s);
                }
            for (int j = 0; j < H; j++) {
                int ig = t_mul(T, gate[0][j], gate[2][j]);
                int c = cs[j] == r->zero ? ig : t_add(T, t_mul(T, gate[1][j], cs[j]), ig);
                cs[j] = c;
                hs[j] = t_mul(T, gate[3][j], t_tanh(T, c));
            }
            in = hs;
            nin = H;
        }
        int z = t_add(T, bo, t_mul(T, a, x[1]));
        for (int j = 0; j < H; j++) z = t_add(T, z, t_mul(T, wo[j], in[j]));
        pnext[i] = t_add(T, p[i], t_scale(T, z, k));
    }
}

static const rec_ops lstm_rec = {lstm_rec_init, lstm_rec_step};

/* ---- attn_lopt (lopt_attn.c, lopt_attn_net.h) ---------------------------- */

static int attn_rec_init(rec *r)
{
    const opt_vtbl *vt = opt_find("attn_lopt");
    r->NH = (int)r->oc->hp[opt_hparam_index(vt, lopt_arch_attn.heads_hp)];
    r->S = (int)r->oc->hp[opt_hparam_index(vt, lopt_arch_attn.seq_hp)];
    int nt = r->lay->ntensors;
    if (r->NH < 1 || r->H % r->NH || (size_t)nt * (size_t)r->S > LOPT_ATTN_MAX_TOKENS ||
        lopt_attn_theta_count(r->H, r->D) != r->nt)
        return ERR_INVALID_ARGUMENT;
    size_t nring = (size_t)nt * r->S * LOPT_ATTN_NSTAT;
    r->am = malloc((r->n + 1) * sizeof(int));
    r->av = malloc((r->n + 1) * sizeof(int));
    r->ring = malloc((nring + 1) * sizeof(int));
    r->lastu = malloc(((size_t)nt + 1) * sizeof(int));
    if (!r->am || !r->av || !r->ring || !r->lastu) return ERR_NO_MEMORY;
    for (size_t i = 0; i < r->n; i++) r->am[i] = r->av[i] = r->zero;
    for (size_t i = 0; i < nring; i++) r->ring[i] = r->zero;
    for (int j = 0; j < nt; j++) r->lastu[j] = r->zero;
    return 0;
}

/* y (Tn, out) = x (Tn, in) W + b on the tape. */
static void ta_linear(tape *T, int *y, const int *x, const int *W, const int *b, int Tn, int in, int out)
{
    for (int t = 0; t < Tn; t++)
        for (int j = 0; j < out; j++) {
            int s = b[j];
            for (int i = 0; i < in; i++) s = t_add(T, s, t_mul(T, x[t * in + i], W[(size_t)i * out + j]));
            y[t * out + j] = s;
        }
}

static void ta_layernorm(rec *r, int *y, const int *x, const int *g, const int *b, int Tn, int H)
{
    tape *T = r->T;
    int c[LOPT_MAX_HIDDEN];
    for (int t = 0; t < Tn; t++) {
        const int *xt = x + t * H;
        int mu = r->zero, var = r->zero;
        for (int i = 0; i < H; i++) mu = t_add(T, mu, xt[i]);
        mu = t_scale(T, mu, 1.0 / H);
        for (int i = 0; i < H; i++) { c[i] = t_sub(T, xt[i], mu); var = t_add(T, var, t_mul(T, c[i], c[i])); }
        int rs = t_rsqrt(T, t_addc(T, t_scale(T, var, 1.0 / H), (double)LAYERNORM_EPS));
        for (int i = 0; i < H; i++) y[t * H + i] = t_add(T, t_mul(T, t_mul(T, c[i], rs), g[i]), b[i]);
    }
}

/* layers.h's GELU (tanh form). */
static int ta_gelu(tape *T, int x)
{
    int x3 = t_mul(T, t_mul(T, x, x), x);
    int th = t_tanh(T, t_scale(T, t_add(T, x, t_scale(T, x3, 0.044715)), sqrt(2 / M_PI)));
    return t_mul(T, t_scale(T, x, 0.5), t_addc(T, th, 1));
}

/* attention.h's unmasked attention: out (Tn, H) from qkv (Tn, 3H). */
static void ta_attention(rec *r, int *out, const int *qkv, int Tn, int H, int NH, int *e)
{
    tape *T = r->T;
    int D = H / NH;
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < Tn; t++) {
            double mx = -INFINITY;
            for (int u = 0; u < Tn; u++) {
                int s = r->zero;
                for (int d = 0; d < D; d++)
                    s = t_add(T, s, t_mul(T, qkv[t * 3 * H + h * D + d], qkv[u * 3 * H + H + h * D + d]));
                e[u] = t_scale(T, s, 1 / sqrt((double)D));
                if (V(T, e[u]) > mx) mx = V(T, e[u]);
            }
            int sum = r->zero;
            for (int u = 0; u < Tn; u++) { e[u] = t_exp(T, t_addc(T, e[u], -mx)); sum = t_add(T, sum, e[u]); }
            for (int d = 0; d < D; d++) {
                int o = r->zero;
                for (int u = 0; u < Tn; u++) o = t_add(T, o, t_mul(T, t_div(T, e[u], sum), qkv[u * 3 * H + 2 * H + h * D + d]));
                out[t * H + h * D + d] = o;
            }
        }
}

/* log(√(ss/n) + 1e-12)·a, clipped to ±10 (lopt_attn.c's statistics). */
static int ta_lrms(tape *T, int ss, double n, double a)
{
    return t_clip(T, t_scale(T, t_log(T, t_addc(T, t_sqrt(T, t_scale(T, ss, 1 / n)), 1e-12)), a), 10);
}

static void attn_rec_step(rec *r, int64_t t, const int *g, const int *p, int *pnext)
{
    tape *T = r->T;
    const layout *lay = r->lay;
    const int nt = lay->ntensors, S = r->S, H = r->H, NS = LOPT_ATTN_NSTAT, NI = LOPT_ATTN_NIN;
    const double b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const double c1 = 1 - pow(0.9f, (double)t), c2 = 1 - pow(0.999f, (double)t);
    for (int j = 0; j < nt && !T->err; j++) {
        size_t off = lay->tensors[j].offset, n = lay->tensors[j].size;
        int sg = r->zero, sp = r->zero, sd = r->zero, sgm = r->zero, sm = r->zero;
        for (size_t i = off; i < off + n; i++) {
            int mo = r->am[i];
            sgm = t_add(T, sgm, t_mul(T, g[i], mo));
            sm = t_add(T, sm, t_mul(T, mo, mo));
            int gg = t_mul(T, g[i], g[i]);
            r->am[i] = t_add(T, t_scale(T, mo, b1), t_scale(T, g[i], 1 - b1));
            r->av[i] = t_add(T, t_scale(T, r->av[i], b2), t_scale(T, gg, 1 - b2));
            int d = t_div(T, t_scale(T, r->am[i], 1 / c1), t_addc(T, t_sqrt(T, t_scale(T, r->av[i], 1 / c2)), eps));
            sg = t_add(T, sg, gg);
            sp = t_add(T, sp, t_mul(T, p[i], p[i]));
            sd = t_add(T, sd, t_mul(T, d, d));
        }
        double dn = n ? (double)n : 1.0;
        int *h = r->ring + ((size_t)j * S + (size_t)((t - 1) % S)) * NS;
        h[0] = ta_lrms(T, sg, dn, 0.1);
        h[1] = ta_lrms(T, sp, dn, 0.1);
        h[2] = ta_lrms(T, sd, dn, 1);
        h[3] = t_clip(T, t_scale(T, t_log(T, t_addc(T, r->lastu[j], 1e-12)), 0.1), 10);
        h[4] = V(T, sg) > 0 && V(T, sm) > 0 ? t_clip(T, t_mul(T, sgm, t_rsqrt(T, t_mul(T, sg, sm))), 10) : r->zero;
        h[5] = t_leaf(T, fmax(-10, fmin(10, log(dn) / 10)));
    }
    const int Sf = t < S ? (int)t : S, Tn = Sf * nt;
    float tf[LOPT_NTIME];
    lopt_time_features(t, tf);
    lopt_attn_off o;
    lopt_attn_offsets(H, r->D, &o);
    const int *th = r->th;
    size_t th_ = (size_t)Tn * H;
    int *mem = malloc(((size_t)Tn * NI + 9 * th_ + (size_t)Tn * 2 + (size_t)Tn) * sizeof(int));
    if (!mem) { T->err = ERR_NO_MEMORY; return; }
    int *x = mem, *z = x + (size_t)Tn * NI, *a = z + th_, *qkv = a + th_, *att = qkv + 3 * th_, *hh = att + th_;
    int *out = hh + 2 * th_, *e = out + (size_t)Tn * 2;
    for (int lag = Sf - 1, row = 0; lag >= 0; lag--)
        for (int j = 0; j < nt; j++, row++) {
            const int *h = r->ring + ((size_t)j * S + (size_t)((t - 1 - lag) % S)) * NS;
            for (int f = 0; f < NS; f++) x[row * NI + f] = h[f];
            x[row * NI + NS] = t_leaf(T, (float)lag / LOPT_ATTN_MAX_SEQ);
            for (int f = 0; f < LOPT_NTIME; f++) x[row * NI + NS + 1 + f] = t_leaf(T, tf[f]);
        }
    ta_linear(T, z, x, th + o.we, th + o.be, Tn, NI, H);
    for (int l = 0; l < r->D && !T->err; l++) {
        const size_t *k = o.blk[l];
        ta_layernorm(r, a, z, th + k[LOPT_ATTN_LN1G], th + k[LOPT_ATTN_LN1B], Tn, H);
        ta_linear(T, qkv, a, th + k[LOPT_ATTN_WQKV], th + k[LOPT_ATTN_BQKV], Tn, H, 3 * H);
        ta_attention(r, att, qkv, Tn, H, r->NH, e);
        ta_linear(T, a, att, th + k[LOPT_ATTN_WO], th + k[LOPT_ATTN_BO], Tn, H, H);
        for (size_t i = 0; i < th_; i++) z[i] = t_add(T, z[i], a[i]);
        ta_layernorm(r, a, z, th + k[LOPT_ATTN_LN2G], th + k[LOPT_ATTN_LN2B], Tn, H);
        ta_linear(T, hh, a, th + k[LOPT_ATTN_W1], th + k[LOPT_ATTN_B1], Tn, H, 2 * H);
        for (size_t i = 0; i < 2 * th_; i++) hh[i] = ta_gelu(T, hh[i]);
        ta_linear(T, a, hh, th + k[LOPT_ATTN_W2], th + k[LOPT_ATTN_B2], Tn, 2 * H, H);
        for (size_t i = 0; i < th_; i++) z[i] = t_add(T, z[i], a[i]);
    }
    ta_layernorm(r, a, z, th + o.lnfg, th + o.lnfb, Tn, H);
    ta_linear(T, out, a, th + o.wr, th + o.br, Tn, H, LOPT_ATTN_NOUT);
    const double base = lopt_lr_mult(opt_schedule_lr(r->oc, t)) * (double)1e-3f;
    for (int j = 0; j < nt && !T->err; j++) {
        const int *cur = out + ((size_t)(Sf - 1) * nt + j) * 2;
        int kk = t_scale(T, t_exp(T, t_clip(T, cur[0], 5)), -base), gam = t_tanh(T, cur[1]);
        size_t off = lay->tensors[j].offset, n = lay->tensors[j].size;
        int su = r->zero;
        for (size_t i = off; i < off + n; i++) {
            int mh = t_scale(T, r->am[i], 1 / c1);
            int num = t_add(T, mh, t_mul(T, gam, t_sub(T, g[i], mh)));
            int u = t_mul(T, kk, t_div(T, num, t_addc(T, t_sqrt(T, t_scale(T, r->av[i], 1 / c2)), eps)));
            pnext[i] = t_add(T, p[i], u);
            su = t_add(T, su, t_mul(T, u, u));
        }
        r->lastu[j] = t_sqrt(T, t_scale(T, su, 1 / (n ? (double)n : 1.0)));
    }
    free(mem);
}

static const rec_ops attn_rec = {attn_rec_init, attn_rec_step};

/* ---- the unroll ---------------------------------------------------------- */

static double phi_(const meta_config *c, double loss, double *dphi)
{
    if (!isfinite(loss) || loss > LOSS_CAP) { *dphi = 0; loss = LOSS_CAP; }
    else if (loss < 1e-30) { *dphi = 0; loss = 1e-30; }
    else *dphi = c->log_loss ? 1 / loss : 1;
    return c->log_loss ? log(loss) : loss;
}

int meta_unroll_grad(const meta_config *cfg, const float *theta, int task_index, uint64_t task_seed,
                     uint64_t init_seed, uint64_t data_seed, int steps, int exact, double *loss,
                     double *grad)
{
    *loss = NAN;
    if (task_index < 0 || task_index >= cfg->ntasks || steps < 1) return ERR_INVALID_ARGUMENT;
    int arch = lopt_arch_from_name(cfg->optimizer);
    const rec_ops *ops = arch == LOPT_ARCH_MLP ? &mlp_rec : arch == LOPT_ARCH_LSTM ? &lstm_rec
                       : arch == LOPT_ARCH_ATTN ? &attn_rec : NULL;
    if (!ops) return ERR_INVALID_ARGUMENT;
    opt_config oc;
    int rc = meta_inner_config(cfg, &oc);
    if (rc) return rc;
    if (oc.hp[HP_CLIP_NORM] > 0) return ERR_INVALID_ARGUMENT;   /* clipping is not modelled */
    if (meta_inner_unrecorded(cfg)) return ERR_INVALID_ARGUMENT;   /* mlp_lopt's trust, hypergrad, anneal: not recorded */
    const size_t nt = lopt_theta_count(arch, cfg->hidden, cfg->depth);
    if (nt == 0) return ERR_INVALID_ARGUMENT;

    const meta_task_spec *ts = &cfg->tasks[task_index];
    task *tk = NULL;
    rc = task_create(ts->family, &ts->params, task_seed, &tk);
    if (rc) return rc;
    if (exact && !tk->vt->hvp) { task_free(tk); return ERR_INVALID_ARGUMENT; }
    const size_t n = tk->n;

    tape T = {0};
    rec R = {0};
    size_t *bound = calloc((size_t)steps + 1, sizeof *bound);
    int *th = malloc(nt * sizeof(int));
    int **gleaf = calloc((size_t)steps, sizeof *gleaf);     /* g_k leaves, per step */
    int **pstep = calloc((size_t)steps + 1, sizeof *pstep); /* p_k nodes, per step */
    float *pf = malloc(n * sizeof(float)), *gf = malloc(n * sizeof(float));
    float *hv = malloc(n * sizeof(float)), *vv = malloc(n * sizeof(float));
    float **gval = calloc((size_t)steps + 1, sizeof *gval), **pval = calloc((size_t)steps + 1, sizeof *pval);
    double *dl = calloc((size_t)steps + 1, sizeof(double));
    rc = (bound && th && gleaf && pstep && pf && gf && hv && vv && gval && pval && dl) ? 0 : ERR_NO_MEMORY;
    for (int k = 0; k <= steps && !rc; k++) {
        pstep[k] = malloc(n * sizeof(int));
        gval[k] = malloc(n * sizeof(float));
        pval[k] = malloc(n * sizeof(float));
        if (k < steps) gleaf[k] = malloc(n * sizeof(int));
        if (!pstep[k] || !gval[k] || !pval[k] || (k < steps && !gleaf[k])) rc = ERR_NO_MEMORY;
    }
    if (rc) goto out;

    R.T = &T;
    R.zero = t_leaf(&T, 0.0);
    R.one = t_leaf(&T, 1.0);
    R.mone = t_leaf(&T, -1.0);
    for (size_t i = 0; i < nt; i++) th[i] = t_leaf(&T, theta[i]);
    R.th = th; R.nt = nt;
    R.H = cfg->hidden; R.D = cfg->depth;
    R.lay = &tk->lay; R.n = n;
    R.oc = &oc;
    R.mup_base = cfg->mup_base;
    R.act = cfg->act;
    rc = ops->init(&R);
    if (!rc) rc = T.err;
    if (rc) goto out;

    task_init_params(tk, init_seed, pf);
    rng data;
    rng_seed(&data, data_seed);
    double l0 = task_loss_grad(tk, pf, gf, &data);
    (void)l0;
    memcpy(gval[0], gf, n * sizeof(float));
    memcpy(pval[0], pf, n * sizeof(float));
    for (size_t i = 0; i < n; i++) pstep[0][i] = t_leaf(&T, pf[i]);

    double sum = 0;
    for (int k = 0; k < steps && !T.err; k++) {
        bound[k] = T.len;
        for (size_t i = 0; i < n; i++) gleaf[k][i] = t_leaf(&T, gval[k][i]);
        ops->step(&R, (int64_t)k + 1, gleaf[k], pstep[k], pstep[k + 1]);
        if (T.err) break;
        for (size_t i = 0; i < n; i++) pf[i] = (float)V(&T, pstep[k + 1][i]);
        double lk = task_loss_grad(tk, pf, gf, &data);
        double dphi;
        sum += phi_(cfg, lk, &dphi);
        dl[k + 1] = dphi / steps;
        int bad = !isfinite(lk);
        for (size_t i = 0; i < n; i++) if (!isfinite(gf[i]) || !isfinite(pf[i])) bad = 1;
        if (bad) { rc = ERR_NON_FINITE; goto out; }
        memcpy(gval[k + 1], gf, n * sizeof(float));
        memcpy(pval[k + 1], pf, n * sizeof(float));
    }
    if (T.err) { rc = T.err; goto out; }
    bound[steps] = T.len;
    *loss = sum / steps;

    /* reverse, one inner step at a time (the HVP needs the adjoint of g_k
     * complete, i.e. step k swept, before it flows into p_k) */
    T.adj = calloc(T.len, sizeof(double));
    if (!T.adj) { rc = ERR_NO_MEMORY; goto out; }
    for (size_t i = 0; i < n; i++) T.adj[pstep[steps][i]] += dl[steps] * gval[steps][i];
    for (int k = steps - 1; k >= 0; k--) {
        t_reverse(&T, bound[k], bound[k + 1]);
        if (k > 0)
            for (size_t i = 0; i < n; i++) T.adj[pstep[k][i]] += dl[k] * gval[k][i];
        if (exact) {
            for (size_t i = 0; i < n; i++) vv[i] = (float)T.adj[gleaf[k][i]];
            task_hvp(tk, pval[k], vv, hv);
            for (size_t i = 0; i < n; i++) T.adj[pstep[k][i]] += hv[i];
        }
    }
    t_reverse(&T, 0, bound[0]);
    for (size_t i = 0; i < nt; i++) grad[i] = T.adj[th[i]];
    rc = 0;
out:
    rec_deinit(&R);
    free(T.n); free(T.adj);
    for (int k = 0; k <= steps; k++) {
        if (pstep) free(pstep[k]);
        if (gval) free(gval[k]);
        if (pval) free(pval[k]);
        if (gleaf && k < steps) free(gleaf[k]);
    }
    free(bound); free(th); free(gleaf); free(pstep); free(pf); free(gf);
    free(hv); free(vv); free(gval); free(pval); free(dl);
    task_free(tk);
    return rc;
}
