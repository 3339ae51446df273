/* meta_tbptt.c — truncated backprop through the unroll (META_TBPTT) for
 * mlp_lopt: the gradient of the unrolled meta-loss with respect to theta.
 * See meta.h (meta_unroll_grad).
 *
 * Method: the unroll is re-run in double precision while every operation
 * of mlp_lopt's update rule (decays, accumulators, factored second moment,
 * the features and their RMS normalisers over the tensor, clipping, time
 * features, the MLP, d·exp(λ₂ m)) is recorded on a scalar tape (a Wengert
 * list: value, two parents, two local partials).  One reverse sweep then
 * gives d(meta-loss)/dθ.  The task enters through its gradient: at the
 * boundary of inner step k the adjoint of p_k receives φ'(ℓ_k)·g_k/K (the
 * loss term, exact in both modes) and, in exact mode, H(p_k)·ḡ_k from
 * task_hvp (the adjoint through g_k = ∇ℓ(p_k)); in first-order mode
 * ∂g/∂p = 0 (Andrychowicz et al. 2016).  The tape grows by roughly
 * (60 + 28·H·depth) nodes of 32 bytes per parameter and step, so this is
 * for the small tasks meta-training uses (TBPTT_MAX_NODES bounds it).
 *
 * The inner trajectory is the double-precision one (params are handed to
 * the task as float), so the loss it reports equals meta_unroll_loss's
 * within float rounding, not bit for bit. */
#include "meta.h"
#include "lopt_internal.h"
#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TBPTT_MAX_NODES (1u << 26)
#define LOSS_CAP 1e30

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
static int t_relu(tape *t, int a) { double v = V(t, a); return t_push(t, v > 0 ? v : 0, a, v > 0 ? 1 : 0, -1, 0); }
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

/* Accumulator nodes of one tensor. */
typedef struct tacc { int *m[3], *v, *d, *r, *c; } tacc;

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
    if (lopt_arch_from_name(cfg->optimizer) != LOPT_ARCH_MLP) return ERR_INVALID_ARGUMENT;
    opt_config oc;
    int rc = opt_config_defaults(&oc, cfg->optimizer);
    if (!rc) rc = opt_config_set(&oc, "hidden", cfg->hidden);
    if (!rc) rc = opt_config_set(&oc, "depth", cfg->depth);
    if (rc) return rc;
    if (oc.hp[HP_CLIP_NORM] > 0) return ERR_INVALID_ARGUMENT;   /* clipping is not modelled */
    const int H = cfg->hidden, D = cfg->depth, IN = LOPT_MLP_IN;
    const size_t nt = lopt_theta_count(LOPT_ARCH_MLP, H, D);
    if (nt == 0) return ERR_INVALID_ARGUMENT;

    const meta_task_spec *ts = &cfg->tasks[task_index];
    task *tk = NULL;
    rc = task_create(ts->family, &ts->params, task_seed, &tk);
    if (rc) return rc;
    if (exact && !tk->vt->hvp) { task_free(tk); return ERR_INVALID_ARGUMENT; }
    const size_t n = tk->n;
    const layout *lay = &tk->lay;

    tape T = {0};
    size_t *bound = calloc((size_t)steps + 1, sizeof *bound);
    int *th = malloc(nt * sizeof(int));
    int *gn = malloc(n * sizeof(int));
    int **gleaf = calloc((size_t)steps, sizeof *gleaf);     /* g_k leaves, per step */
    int **pstep = calloc((size_t)steps + 1, sizeof *pstep); /* p_k nodes, per step */
    float *pf = malloc(n * sizeof(float)), *gf = malloc(n * sizeof(float));
    float *hv = malloc(n * sizeof(float)), *vv = malloc(n * sizeof(float));
    float **gval = calloc((size_t)steps + 1, sizeof *gval), **pval = calloc((size_t)steps + 1, sizeof *pval);
    double *dl = calloc((size_t)steps + 1, sizeof(double));
    tacc *acc = calloc((size_t)lay->ntensors, sizeof *acc);
    int *accmem = NULL;
    rc = (bound && th && gn && gleaf && pstep && pf && gf && hv && vv && gval && pval && dl && acc)
             ? 0 : ERR_NO_MEMORY;
    size_t nacc = 0;
    for (int q = 0; q < lay->ntensors && !rc; q++) {
        const layout_tensor *lt = &lay->tensors[q];
        nacc += 5 * lt->size + (lt->ndim == 2 ? (size_t)(lt->shape[0] + lt->shape[1]) : 0);
    }
    if (!rc) accmem = malloc(nacc * sizeof(int));
    if (!rc && !accmem) rc = ERR_NO_MEMORY;
    for (int k = 0; k <= steps && !rc; k++) {
        pstep[k] = malloc(n * sizeof(int));
        gval[k] = malloc(n * sizeof(float));
        pval[k] = malloc(n * sizeof(float));
        if (k < steps) gleaf[k] = malloc(n * sizeof(int));
        if (!pstep[k] || !gval[k] || !pval[k] || (k < steps && !gleaf[k])) rc = ERR_NO_MEMORY;
    }
    if (rc) goto out;

    int zero = t_leaf(&T, 0.0);
    for (size_t i = 0; i < nt; i++) th[i] = t_leaf(&T, theta[i]);
    /* accumulators start at zero (the constant node) */
    {
        int *a = accmem;
        for (int q = 0; q < lay->ntensors; q++) {
            const layout_tensor *lt = &lay->tensors[q];
            int fac = lt->ndim == 2 && lt->shape[0] > 1 && lt->shape[1] > 1;
            tacc *A = &acc[q];
            for (int k = 0; k < 3; k++) { A->m[k] = a; a += lt->size; }
            A->v = a; a += lt->size;
            if (fac) { A->r = a; a += lt->shape[0]; A->c = a; a += lt->shape[1]; A->d = NULL; }
            else { A->d = a; a += lt->size; A->r = A->c = NULL; }
        }
        for (size_t i = 0; i < (size_t)(a - accmem); i++) accmem[i] = zero;
    }
    task_init_params(tk, init_seed, pf);
    rng data;
    rng_seed(&data, data_seed);
    double l0 = task_loss_grad(tk, pf, gf, &data);
    (void)l0;
    memcpy(gval[0], gf, n * sizeof(float));
    memcpy(pval[0], pf, n * sizeof(float));
    for (size_t i = 0; i < n; i++) pstep[0][i] = t_leaf(&T, pf[i]);

    /* decays, the network's views */
    int bdec[LOPT_NDECAY], cdec[LOPT_NDECAY];
    for (int k = 0; k < LOPT_NDECAY; k++) {
        bdec[k] = t_sigmoid(&T, th[k]);
        cdec[k] = t_sub(&T, t_leaf(&T, 1.0), bdec[k]);
    }
    const int *W0 = th + LOPT_NDECAY, *b0 = W0 + (size_t)H * IN;
    const int *Wl[LOPT_MAX_DEPTH] = {0}, *bl[LOPT_MAX_DEPTH] = {0};
    const int *pp = b0 + H;
    for (int l = 1; l < D; l++) { Wl[l] = pp; pp += (size_t)H * H; bl[l] = pp; pp += H; }
    const int *Wo = pp, *bo = pp + 2 * H;

    double sum = 0;
    int hbuf[2 * LOPT_MAX_HIDDEN];
    for (int k = 0; k < steps && !T.err; k++) {
        bound[k] = T.len;
        int64_t t = k + 1;
        float mult = (float)lopt_lr_mult(schedule_lr(&oc, t)) * LOPT_MLP_LAMBDA1;
        float tf[LOPT_NTIME];
        lopt_time_features(t, tf);
        int bias0[LOPT_MAX_HIDDEN];
        for (int u = 0; u < H; u++) {
            int z = b0[u];
            for (int j = 0; j < LOPT_NTIME; j++) z = t_add(&T, z, t_scale(&T, W0[(size_t)u * IN + LOPT_NFEAT + j], tf[j]));
            bias0[u] = z;
        }
        for (size_t i = 0; i < n; i++) gleaf[k][i] = gn[i] = t_leaf(&T, gval[k][i]);
        const int *pk = pstep[k];
        for (int q = 0; q < lay->ntensors; q++) {
            const layout_tensor *lt = &lay->tensors[q];
            tacc *A = &acc[q];
            size_t off = lt->offset, N = lt->size;
            const int *g = gn + off, *p = pk + off;
            int *g2 = malloc(N * sizeof(int));
            if (!g2) { T.err = ERR_NO_MEMORY; break; }
            for (size_t i = 0; i < N; i++) {
                g2[i] = t_mul(&T, g[i], g[i]);
                for (int m = 0; m < 3; m++)
                    A->m[m][i] = t_add(&T, t_mul(&T, bdec[m], A->m[m][i]), t_mul(&T, cdec[m], g[i]));
                A->v[i] = t_add(&T, t_mul(&T, bdec[3], A->v[i]), t_mul(&T, cdec[3], g2[i]));
                if (A->d)
                    A->d[i] = t_add(&T, t_mul(&T, bdec[4], A->d[i]), t_mul(&T, cdec[4], t_addc(&T, g2[i], LOPT_FAC_EPS)));
            }
            int rim = zero;
            size_t R = 0, C = N;
            if (A->r) {
                R = (size_t)lt->shape[0]; C = (size_t)lt->shape[1];
                int rs_sum = zero;
                for (size_t r = 0; r < R; r++) {
                    int s = zero;
                    for (size_t c = 0; c < C; c++) s = t_add(&T, s, t_addc(&T, g2[r * C + c], LOPT_FAC_EPS));
                    A->r[r] = t_add(&T, t_mul(&T, bdec[4], A->r[r]), t_mul(&T, cdec[4], t_scale(&T, s, 1.0 / (double)C)));
                }
                for (size_t c = 0; c < C; c++) {
                    int s = zero;
                    for (size_t r = 0; r < R; r++) s = t_add(&T, s, t_addc(&T, g2[r * C + c], LOPT_FAC_EPS));
                    A->c[c] = t_add(&T, t_mul(&T, bdec[4], A->c[c]), t_mul(&T, cdec[4], t_scale(&T, s, 1.0 / (double)R)));
                }
                for (size_t r = 0; r < R; r++) rs_sum = t_add(&T, rs_sum, A->r[r]);
                int mean = t_scale(&T, rs_sum, 1.0 / (double)R);
                rim = V(&T, mean) > 0 ? t_div(&T, t_leaf(&T, 1.0), mean) : zero;
            }
            /* raw features, then their RMS over the tensor */
            int *F = malloc(N * LOPT_NFEAT * sizeof(int));
            if (!F) { free(g2); T.err = ERR_NO_MEMORY; break; }
            int ss[LOPT_NFEAT];
            for (int f = 0; f < LOPT_NFEAT; f++) ss[f] = zero;
            for (size_t i = 0; i < N; i++) {
                int vh = A->r ? t_mul(&T, t_mul(&T, A->r[i / C], rim), A->c[i % C]) : A->d[i];
                int rv = t_rsqrt(&T, t_addc(&T, A->v[i], LOPT_V_EPS));
                int rf = t_rsqrt(&T, t_addc(&T, vh, LOPT_FAC_EPS));
                int *f = F + i * LOPT_NFEAT;
                f[0] = g[i]; f[1] = p[i];
                f[2] = A->m[0][i]; f[3] = A->m[1][i]; f[4] = A->m[2][i];
                f[5] = t_sqrt(&T, A->v[i]);
                f[6] = t_mul(&T, A->m[0][i], rv); f[7] = t_mul(&T, A->m[1][i], rv); f[8] = t_mul(&T, A->m[2][i], rv);
                f[9] = rv;
                f[10] = t_mul(&T, g[i], rf); f[11] = rf;
                for (int j = 0; j < LOPT_NFEAT; j++) ss[j] = t_add(&T, ss[j], t_mul(&T, f[j], f[j]));
            }
            int inv[LOPT_NFEAT];
            for (int j = 0; j < LOPT_NFEAT; j++)
                inv[j] = t_rsqrt(&T, t_addc(&T, t_scale(&T, ss[j], 1.0 / (double)N), 1e-30));
            for (size_t i = 0; i < N && !T.err; i++) {
                int x[LOPT_NFEAT], *h = hbuf, *h2 = hbuf + LOPT_MAX_HIDDEN;
                for (int j = 0; j < LOPT_NFEAT; j++) x[j] = t_clip(&T, t_mul(&T, F[i * LOPT_NFEAT + j], inv[j]), LOPT_FEAT_CLIP);
                for (int u = 0; u < H; u++) {
                    int s = bias0[u];
                    for (int j = 0; j < LOPT_NFEAT; j++) s = t_add(&T, s, t_mul(&T, W0[(size_t)u * IN + j], x[j]));
                    h[u] = t_relu(&T, s);
                }
                for (int l = 1; l < D; l++) {
                    for (int u = 0; u < H; u++) {
                        int s = bl[l][u];
                        for (int j = 0; j < H; j++) s = t_add(&T, s, t_mul(&T, Wl[l][(size_t)u * H + j], h[j]));
                        h2[u] = t_relu(&T, s);
                    }
                    memcpy(h, h2, (size_t)H * sizeof(int));
                }
                int o0 = bo[0], o1 = bo[1];
                for (int j = 0; j < H; j++) {
                    o0 = t_add(&T, o0, t_mul(&T, Wo[j], h[j]));
                    o1 = t_add(&T, o1, t_mul(&T, Wo[H + j], h[j]));
                }
                int du = t_mul(&T, t_scale(&T, o0, -(double)mult), t_exp(&T, t_scale(&T, o1, LOPT_MLP_LAMBDA2)));
                pstep[k + 1][off + i] = t_add(&T, p[i], du);
            }
            free(F); free(g2);
        }
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
    free(T.n); free(T.adj);
    for (int k = 0; k <= steps; k++) {
        if (pstep) free(pstep[k]);
        if (gval) free(gval[k]);
        if (pval) free(pval[k]);
        if (gleaf && k < steps) free(gleaf[k]);
    }
    free(bound); free(th); free(gn); free(gleaf); free(pstep); free(pf); free(gf);
    free(hv); free(vv); free(gval); free(pval); free(dl); free(acc); free(accmem);
    task_free(tk);
    return rc;
}
