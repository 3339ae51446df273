/* fsnet.c — the few-shot regression network: forward, gradient and exact
 * Hessian-vector product (see fsnet.h).
 *
 * Notation, layer l = 0..L-1: a_0 = x, z_{l+1} = a_l W_l + b_l,
 * a_{l+1} = relu(z_{l+1}) for l+1 < L, y = z_L.  Backward: δ_L = 2(y−t)/N
 * (N = batch·out), ∂W_l = a_lᵀ δ_{l+1}, ∂b_l = Σ_rows δ_{l+1},
 * δ_l = (δ_{l+1} W_lᵀ) ⊙ [z_l > 0].
 * R-operator along v = (V_l, c_l): R{a_0} = 0,
 * R{z_{l+1}} = R{a_l} W_l + a_l V_l + c_l, R{a_l} = R{z_l} ⊙ [z_l > 0],
 * R{δ_L} = 2 R{y}/N, (Hv)_{W_l} = R{a_l}ᵀ δ_{l+1} + a_lᵀ R{δ_{l+1}},
 * (Hv)_{b_l} = Σ_rows R{δ_{l+1}},
 * R{δ_l} = (R{δ_{l+1}} W_lᵀ + δ_{l+1} V_lᵀ) ⊙ [z_l > 0]. */
#include "fsnet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

int fsnet_init(fsnet *n, int nlayers, const int *sizes)
{
    memset(n, 0, sizeof *n);
    if (nlayers < 1 || nlayers > FSNET_MAX_LAYERS) return ERR_INVALID_ARGUMENT;
    size_t off = 0;
    for (int l = 0; l <= nlayers; l++) {
        if (sizes[l] < 1 || sizes[l] > FSNET_MAX_WIDTH) return ERR_INVALID_ARGUMENT;
        n->sizes[l] = sizes[l];
        if (sizes[l] > n->maxw) n->maxw = sizes[l];
    }
    for (int l = 0; l < nlayers; l++) {
        n->w_off[l] = off;
        off += (size_t)sizes[l] * (size_t)sizes[l + 1];
        n->b_off[l] = off;
        off += (size_t)sizes[l + 1];
        n->nact += (size_t)sizes[l + 1];
    }
    n->nlayers = nlayers;
    n->nparams = off;
    return 0;
}

size_t fsnet_work_size(const fsnet *n, int batch)
{
    return (size_t)batch * (4 * n->nact + 4 * (size_t)n->maxw);
}

void fsnet_init_params(const fsnet *n, double *p, rng *r)
{
    for (int l = 0; l < n->nlayers; l++) {
        double sd = sqrt(2.0 / n->sizes[l]);
        size_t nw = (size_t)n->sizes[l] * (size_t)n->sizes[l + 1];
        for (size_t i = 0; i < nw; i++) p[n->w_off[l] + i] = sd * rng_normal(r);
        for (int i = 0; i < n->sizes[l + 1]; i++) p[n->b_off[l] + i] = 0;
    }
}

/* Work layout: z (batch·nact, every layer's pre-activation), a (hidden
 * post-activations, same offsets), Rz, Ra, then four (batch·maxw) rows. */
typedef struct wk { double *z, *a, *rz, *ra, *d0, *d1, *r0, *r1; size_t off[FSNET_MAX_LAYERS + 1]; } wk;

static void wk_split(const fsnet *n, int batch, double *work, wk *w)
{
    size_t na = (size_t)batch * n->nact, nm = (size_t)batch * (size_t)n->maxw;
    w->z = work;
    w->a = work + na;
    w->rz = work + 2 * na;
    w->ra = work + 3 * na;
    w->d0 = work + 4 * na;
    w->d1 = w->d0 + nm;
    w->r0 = w->d1 + nm;
    w->r1 = w->r0 + nm;
    size_t o = 0;
    for (int l = 1; l <= n->nlayers; l++) {
        w->off[l] = o;                   /* layer l's block: batch × sizes[l] */
        o += (size_t)batch * (size_t)n->sizes[l];
    }
}

/* out (batch, no) = in (batch, ni) · W (ni, no) [+ b]. */
static void affine(double *out, const double *in, const double *W, const double *b, int batch, int ni, int no)
{
    for (int i = 0; i < batch; i++) {
        double *o = out + (size_t)i * no;
        for (int k = 0; k < no; k++) o[k] = b ? b[k] : 0;
        for (int j = 0; j < ni; j++) {
            double v = in[(size_t)i * ni + j];
            if (v == 0) continue;
            const double *wr = W + (size_t)j * no;
            for (int k = 0; k < no; k++) o[k] += v * wr[k];
        }
    }
}

/* d_in (batch, ni) = d_out (batch, no) · Wᵀ, masked by [z > 0] when z. */
static void back_in(double *din, const double *dout, const double *W, const double *z, int batch, int ni, int no,
                    int accumulate)
{
    for (int i = 0; i < batch; i++)
        for (int j = 0; j < ni; j++) {
            const double *wr = W + (size_t)j * no, *d = dout + (size_t)i * no;
            double s = 0;
            for (int k = 0; k < no; k++) s += d[k] * wr[k];
            double *o = din + (size_t)i * ni + j;
            *o = accumulate ? *o + s : s;
        }
    if (z)
        for (size_t i = 0; i < (size_t)batch * ni; i++)
            if (!(z[i] > 0)) din[i] = 0;
}

/* gW (ni, no) += inᵀ · d;  gb (no) += Σ_rows d (gb may be NULL). */
static void back_w(double *gW, double *gb, const double *in, const double *d, int batch, int ni, int no)
{
    for (int i = 0; i < batch; i++) {
        const double *dr = d + (size_t)i * no;
        for (int j = 0; j < ni; j++) {
            double v = in[(size_t)i * ni + j];
            if (v == 0) continue;
            double *g = gW + (size_t)j * no;
            for (int k = 0; k < no; k++) g[k] += v * dr[k];
        }
        if (gb)
            for (int k = 0; k < no; k++) gb[k] += dr[k];
    }
}

/* The forward pass into w; returns a pointer to the output block. */
static const double *run_forward(const fsnet *n, const double *p, const double *x, int batch, wk *w)
{
    const double *in = x;
    for (int l = 0; l < n->nlayers; l++) {
        int ni = n->sizes[l], no = n->sizes[l + 1];
        double *z = w->z + w->off[l + 1];
        affine(z, in, p + n->w_off[l], p + n->b_off[l], batch, ni, no);
        if (l + 1 < n->nlayers) {
            double *a = w->a + w->off[l + 1];
            for (size_t i = 0; i < (size_t)batch * no; i++) a[i] = z[i] > 0 ? z[i] : 0;
            in = a;
        }
    }
    return w->z + w->off[n->nlayers];
}

void fsnet_forward(const fsnet *n, double *out, const double *p, const double *x, int batch, double *work)
{
    wk w;
    wk_split(n, batch, work, &w);
    const double *y = run_forward(n, p, x, batch, &w);
    memcpy(out, y, (size_t)batch * (size_t)n->sizes[n->nlayers] * sizeof *out);
}

static double mse(const double *y, const double *t, size_t m)
{
    double s = 0;
    for (size_t i = 0; i < m; i++) s += (y[i] - t[i]) * (y[i] - t[i]);
    return s / (double)m;
}

double fsnet_loss(const fsnet *n, const double *p, const double *x, const double *y, int batch, double *work)
{
    wk w;
    wk_split(n, batch, work, &w);
    const double *out = run_forward(n, p, x, batch, &w);
    return mse(out, y, (size_t)batch * (size_t)n->sizes[n->nlayers]);
}

/* The input of layer l (x or a_l) in w. */
static const double *layer_in(const fsnet *n, const wk *w, const double *x, int l)
{
    (void)n;
    return l == 0 ? x : w->a + w->off[l];
}

double fsnet_grad(const fsnet *n, const double *p, const double *x, const double *y, int batch, double *g,
                  double *work)
{
    wk w;
    wk_split(n, batch, work, &w);
    const double *out = run_forward(n, p, x, batch, &w);
    size_t m = (size_t)batch * (size_t)n->sizes[n->nlayers];
    double loss = mse(out, y, m);
    memset(g, 0, n->nparams * sizeof *g);
    double *d = w.d0, *dn = w.d1;
    for (size_t i = 0; i < m; i++) d[i] = 2 * (out[i] - y[i]) / (double)m;
    for (int l = n->nlayers - 1; l >= 0; l--) {
        int ni = n->sizes[l], no = n->sizes[l + 1];
        back_w(g + n->w_off[l], g + n->b_off[l], layer_in(n, &w, x, l), d, batch, ni, no);
        if (l > 0) {
            back_in(dn, d, p + n->w_off[l], w.z + w.off[l], batch, ni, no, 0);
            double *t = d; d = dn; dn = t;
        }
    }
    return loss;
}

double fsnet_hvp(const fsnet *n, const double *p, const double *x, const double *y, int batch, const double *v,
                 double *hv, double *work)
{
    wk w;
    wk_split(n, batch, work, &w);
    const double *out = run_forward(n, p, x, batch, &w);
    /* forward R pass */
    for (int l = 0; l < n->nlayers; l++) {
        int ni = n->sizes[l], no = n->sizes[l + 1];
        double *rz = w.rz + w.off[l + 1];
        affine(rz, layer_in(n, &w, x, l), v + n->w_off[l], v + n->b_off[l], batch, ni, no);
        if (l > 0) {
            /* += R{a_l} W_l */
            const double *ra = w.ra + w.off[l], *W = p + n->w_off[l];
            for (int i = 0; i < batch; i++)
                for (int j = 0; j < ni; j++) {
                    double r = ra[(size_t)i * ni + j];
                    if (r == 0) continue;
                    for (int k = 0; k < no; k++) rz[(size_t)i * no + k] += r * W[(size_t)j * no + k];
                }
        }
        if (l + 1 < n->nlayers) {
            const double *z = w.z + w.off[l + 1];
            double *ra = w.ra + w.off[l + 1];
            for (size_t i = 0; i < (size_t)batch * no; i++) ra[i] = z[i] > 0 ? rz[i] : 0;
        }
    }
    size_t m = (size_t)batch * (size_t)n->sizes[n->nlayers];
    double loss = mse(out, y, m);
    const double *ry = w.rz + w.off[n->nlayers];
    memset(hv, 0, n->nparams * sizeof *hv);
    double *d = w.d0, *dn = w.d1, *r = w.r0, *rn = w.r1;
    for (size_t i = 0; i < m; i++) {
        d[i] = 2 * (out[i] - y[i]) / (double)m;
        r[i] = 2 * ry[i] / (double)m;
    }
    for (int l = n->nlayers - 1; l >= 0; l--) {
        int ni = n->sizes[l], no = n->sizes[l + 1];
        back_w(hv + n->w_off[l], hv + n->b_off[l], layer_in(n, &w, x, l), r, batch, ni, no);
        if (l > 0) {
            back_w(hv + n->w_off[l], NULL, w.ra + w.off[l], d, batch, ni, no);
            const double *z = w.z + w.off[l];
            back_in(rn, r, p + n->w_off[l], NULL, batch, ni, no, 0);
            back_in(rn, d, v + n->w_off[l], z, batch, ni, no, 1);
            back_in(dn, d, p + n->w_off[l], z, batch, ni, no, 0);
            double *t = d; d = dn; dn = t;
            t = r; r = rn; rn = t;
        }
    }
    return loss;
}

int fsnet_tensor(const fsnet *n, int t, char *buf, size_t cap, int shape[2])
{
    if (t < 0 || t >= 2 * n->nlayers) return 0;
    int l = t / 2;
    snprintf(buf, cap, "l%d.%s", l + 1, t % 2 ? "bias" : "weight");
    if (t % 2) {
        shape[0] = n->sizes[l + 1];
        shape[1] = 0;
        return 1;
    }
    shape[0] = n->sizes[l];
    shape[1] = n->sizes[l + 1];
    return 2;
}
