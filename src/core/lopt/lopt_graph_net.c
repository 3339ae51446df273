/* lopt_graph_net.c — graph_lopt's message-passing network; see lopt_graph_net.h. */
#include "lopt_graph_net.h"

#include <math.h>
#include <string.h>

typedef struct net_off {
    size_t we, be, wf[8], bf[8], wb[8], bb[8], wu[8], bu[8], wr, br, n;
} net_off;

static void offsets(int H, int R, net_off *o)
{
    size_t h = (size_t)H, p = 0;
    o->we = p; p += (size_t)LOPT_GRAPH_NIN * h;
    o->be = p; p += h;
    for (int r = 0; r < R; r++) {
        o->wf[r] = p; p += 2 * h * h;
        o->bf[r] = p; p += h;
        o->wb[r] = p; p += 2 * h * h;
        o->bb[r] = p; p += h;
        o->wu[r] = p; p += 4 * h * h;
        o->bu[r] = p; p += h;
    }
    o->wr = p; p += 2 * h * LOPT_GRAPH_NOUT;
    o->br = p; p += LOPT_GRAPH_NOUT;
    o->n = p;
}

size_t lopt_graph_theta_count(int H, int R)
{
    if (H < 1 || R < 1 || R > 8) return 0;
    net_off o;
    offsets(H, R, &o);
    return o.n;
}

/* One round's activations, and the cache carved into them. */
typedef struct round_act { float *h, *g, *f, *b, *a, *c, *u; } round_act;

size_t lopt_graph_cache_size(int H, int R, int nn, int ne)
{
    size_t nh = (size_t)nn * H, eh = (size_t)ne * H;
    return nh + (size_t)R * (H + 2 * eh + 4 * nh) + H;
}

size_t lopt_graph_scratch_size(int H, int nn)
{
    return 4 * (size_t)nn * H + 8 * (size_t)H;
}

/* ra[0..R-1] and ra[R].h (the last embeddings), ra[R].g (their mean). */
static void carve(float *cache, int H, int R, int nn, int ne, round_act *ra)
{
    size_t nh = (size_t)nn * H, eh = (size_t)ne * H;
    float *p = cache;
    ra[0].h = p; p += nh;
    for (int r = 0; r < R; r++) {
        ra[r].g = p; p += H;
        ra[r].f = p; p += eh;
        ra[r].b = p; p += eh;
        ra[r].a = p; p += nh;
        ra[r].c = p; p += nh;
        ra[r].u = p; p += nh;
        ra[r + 1].h = p; p += nh;
    }
    ra[R].g = p;
}

/* y (nout) += x (nin) W, W (nin, nout) row-major. */
static void lin(float *y, const float *x, int nin, const float *W, int nout)
{
    for (int i = 0; i < nin; i++) {
        float xi = x[i];
        if (xi == 0.0f) continue;
        const float *w = W + (size_t)i * nout;
        for (int o = 0; o < nout; o++) y[o] += xi * w[o];
    }
}

/* dx (nin) += W dy, dW += x ⊗ dy (dx may be NULL). */
static void lin_back(float *dx, float *dW, const float *x, int nin, const float *W, const float *dy, int nout)
{
    for (int i = 0; i < nin; i++) {
        const float *w = W + (size_t)i * nout;
        float *dw = dW + (size_t)i * nout, xi = x[i], s = 0;
        for (int o = 0; o < nout; o++) { dw[o] += xi * dy[o]; s += w[o] * dy[o]; }
        if (dx) dx[i] += s;
    }
}

static void mean_rows(float *g, const float *h, int nn, int H)
{
    memset(g, 0, (size_t)H * sizeof(float));
    for (int j = 0; j < nn; j++)
        for (int k = 0; k < H; k++) g[k] += h[(size_t)j * H + k];
    float inv = nn ? 1.0f / (float)nn : 0.0f;
    for (int k = 0; k < H; k++) g[k] *= inv;
}

void lopt_graph_init_params(float *theta, int H, int R, rng *r)
{
    net_off o;
    offsets(H, R, &o);
    memset(theta, 0, o.n * sizeof(float));
    float h = (float)H;
    rng_normal_fill(r, theta + o.we, (size_t)LOPT_GRAPH_NIN * H, 0, 1.0f / sqrtf((float)LOPT_GRAPH_NIN));
    for (int k = 0; k < R; k++) {
        rng_normal_fill(r, theta + o.wf[k], (size_t)2 * H * H, 0, 1.0f / sqrtf(2 * h));
        rng_normal_fill(r, theta + o.wb[k], (size_t)2 * H * H, 0, 1.0f / sqrtf(2 * h));
        rng_normal_fill(r, theta + o.wu[k], (size_t)4 * H * H, 0, 1.0f / sqrtf(4 * h * R));
    }
    rng_normal_fill(r, theta + o.wr, (size_t)2 * H * LOPT_GRAPH_NOUT, 0, 0.01f / sqrtf(2 * h));
}

/* tanh([p, q] W + b) into y (H): W (2H, H). */
static void pair_tanh(float *y, const float *p, const float *q, const float *W, const float *b, int H)
{
    memcpy(y, b, (size_t)H * sizeof(float));
    lin(y, p, H, W, H);
    lin(y, q, H, W + (size_t)H * H, H);
    for (int k = 0; k < H; k++) y[k] = tanhf(y[k]);
}

void lopt_graph_forward(const float *theta, int H, int R, const lopt_graph_topo *g, const float *x,
                        float *cache, float *out)
{
    net_off o;
    offsets(H, R, &o);
    round_act ra[9];
    int nn = g->nn, ne = g->ne;
    carve(cache, H, R, nn, ne, ra);
    const float *p = theta;
    for (int j = 0; j < nn; j++) {
        float *hj = ra[0].h + (size_t)j * H;
        memcpy(hj, p + o.be, (size_t)H * sizeof(float));
        lin(hj, x + (size_t)j * LOPT_GRAPH_NIN, LOPT_GRAPH_NIN, p + o.we, H);
        for (int k = 0; k < H; k++) hj[k] = tanhf(hj[k]);
    }
    for (int r = 0; r < R; r++) {
        round_act *A = &ra[r];
        size_t nh = (size_t)nn * H;
        mean_rows(A->g, A->h, nn, H);
        memset(A->a, 0, nh * sizeof(float));
        memset(A->c, 0, nh * sizeof(float));
        for (int e = 0; e < ne; e++) {
            int s = g->src[e], d = g->dst[e];
            const float *hs = A->h + (size_t)s * H, *hd = A->h + (size_t)d * H;
            float *fe = A->f + (size_t)e * H, *be = A->b + (size_t)e * H;
            pair_tanh(fe, hs, hd, p + o.wf[r], p + o.bf[r], H);
            pair_tanh(be, hd, hs, p + o.wb[r], p + o.bb[r], H);
            float wi = g->inv_in[d], wo = g->inv_out[s];
            for (int k = 0; k < H; k++) {
                A->a[(size_t)d * H + k] += wi * fe[k];
                A->c[(size_t)s * H + k] += wo * be[k];
            }
        }
        for (int j = 0; j < nn; j++) {
            size_t jh = (size_t)j * H;
            float *u = A->u + jh;
            const float *Wu = p + o.wu[r];
            size_t hh = (size_t)H * H;
            memcpy(u, p + o.bu[r], (size_t)H * sizeof(float));
            lin(u, A->h + jh, H, Wu, H);
            lin(u, A->a + jh, H, Wu + hh, H);
            lin(u, A->c + jh, H, Wu + 2 * hh, H);
            lin(u, A->g, H, Wu + 3 * hh, H);
            for (int k = 0; k < H; k++) {
                u[k] = tanhf(u[k]);
                ra[r + 1].h[jh + k] = A->h[jh + k] + u[k];
            }
        }
    }
    mean_rows(ra[R].g, ra[R].h, nn, H);
    for (int j = 0; j < nn; j++) {
        float *oj = out + (size_t)j * LOPT_GRAPH_NOUT;
        memcpy(oj, p + o.br, LOPT_GRAPH_NOUT * sizeof(float));
        lin(oj, ra[R].h + (size_t)j * H, H, p + o.wr, LOPT_GRAPH_NOUT);
        lin(oj, ra[R].g, H, p + o.wr + (size_t)H * LOPT_GRAPH_NOUT, LOPT_GRAPH_NOUT);
    }
}

/* Backward of pair_tanh: y = tanh([p, q] W + b), dy given; accumulates dp,
 * dq, dW, db.  t: scratch (H). */
static void pair_tanh_back(const float *y, const float *dy, const float *pv, const float *qv, const float *W, float *dp,
                           float *dq, float *dW, float *db, float *t, int H)
{
    for (int k = 0; k < H; k++) { t[k] = dy[k] * (1 - y[k] * y[k]); db[k] += t[k]; }
    lin_back(dp, dW, pv, H, W, t, H);
    lin_back(dq, dW + (size_t)H * H, qv, H, W + (size_t)H * H, t, H);
}

void lopt_graph_backward(const float *theta, int H, int R, const lopt_graph_topo *g, const float *x,
                         const float *cache, const float *dout, float *dtheta, float *scratch)
{
    net_off o;
    offsets(H, R, &o);
    round_act ra[9];
    int nn = g->nn, ne = g->ne;
    carve((float *)cache, H, R, nn, ne, ra);   /* read only below */
    const float *p = theta;
    float *gt = dtheta;
    size_t nh = (size_t)nn * H, hh = (size_t)H * H;
    float *dh = scratch, *dprev = dh + nh, *da = dprev + nh, *dc = da + nh;
    float *dg = dc + nh, *t = dg + H, *dy = t + H;
    memset(dh, 0, nh * sizeof(float));
    memset(dg, 0, (size_t)H * sizeof(float));
    for (int j = 0; j < nn; j++) {
        const float *dj = dout + (size_t)j * LOPT_GRAPH_NOUT;
        for (int k = 0; k < LOPT_GRAPH_NOUT; k++) gt[o.br + k] += dj[k];
        lin_back(dh + (size_t)j * H, gt + o.wr, ra[R].h + (size_t)j * H, H, p + o.wr, dj, LOPT_GRAPH_NOUT);
        lin_back(dg, gt + o.wr + (size_t)H * LOPT_GRAPH_NOUT, ra[R].g, H, p + o.wr + (size_t)H * LOPT_GRAPH_NOUT, dj,
                 LOPT_GRAPH_NOUT);
    }
    float inv = nn ? 1.0f / (float)nn : 0.0f;
    for (int j = 0; j < nn; j++)
        for (int k = 0; k < H; k++) dh[(size_t)j * H + k] += dg[k] * inv;
    for (int r = R - 1; r >= 0; r--) {
        const round_act *A = &ra[r];
        const float *Wu = p + o.wu[r];
        float *dWu = gt + o.wu[r];
        memcpy(dprev, dh, nh * sizeof(float));   /* the residual */
        memset(da, 0, nh * sizeof(float));
        memset(dc, 0, nh * sizeof(float));
        memset(dg, 0, (size_t)H * sizeof(float));
        for (int j = 0; j < nn; j++) {
            size_t jh = (size_t)j * H;
            const float *u = A->u + jh;
            for (int k = 0; k < H; k++) { dy[k] = dh[jh + k] * (1 - u[k] * u[k]); gt[o.bu[r] + k] += dy[k]; }
            lin_back(dprev + jh, dWu, A->h + jh, H, Wu, dy, H);
            lin_back(da + jh, dWu + hh, A->a + jh, H, Wu + hh, dy, H);
            lin_back(dc + jh, dWu + 2 * hh, A->c + jh, H, Wu + 2 * hh, dy, H);
            lin_back(dg, dWu + 3 * hh, A->g, H, Wu + 3 * hh, dy, H);
        }
        for (int e = 0; e < ne; e++) {
            int s = g->src[e], d = g->dst[e];
            const float *hs = A->h + (size_t)s * H, *hd = A->h + (size_t)d * H;
            float wi = g->inv_in[d], wo = g->inv_out[s];
            for (int k = 0; k < H; k++) dy[k] = wi * da[(size_t)d * H + k];
            pair_tanh_back(A->f + (size_t)e * H, dy, hs, hd, p + o.wf[r], dprev + (size_t)s * H,
                           dprev + (size_t)d * H, gt + o.wf[r], gt + o.bf[r], t, H);
            for (int k = 0; k < H; k++) dy[k] = wo * dc[(size_t)s * H + k];
            pair_tanh_back(A->b + (size_t)e * H, dy, hd, hs, p + o.wb[r], dprev + (size_t)d * H,
                           dprev + (size_t)s * H, gt + o.wb[r], gt + o.bb[r], t, H);
        }
        for (int j = 0; j < nn; j++)
            for (int k = 0; k < H; k++) dprev[(size_t)j * H + k] += dg[k] * inv;
        memcpy(dh, dprev, nh * sizeof(float));
    }
    for (int j = 0; j < nn; j++) {
        const float *hj = ra[0].h + (size_t)j * H;
        for (int k = 0; k < H; k++) { dy[k] = dh[(size_t)j * H + k] * (1 - hj[k] * hj[k]); gt[o.be + k] += dy[k]; }
        lin_back(NULL, gt + o.we, x + (size_t)j * LOPT_GRAPH_NIN, LOPT_GRAPH_NIN, p + o.we, dy, H);
    }
}
