/* lopt_attn_net.c — attn_lopt's transformer encoder; see lopt_attn_net.h. */
#include "lopt_attn_net.h"
#include "attention.h"
#include "layernorm.h"
#include "layers.h"

#include <math.h>
#include <string.h>

enum { A_LN1G = LOPT_ATTN_LN1G, A_LN1B, A_WQKV, A_BQKV, A_WO, A_BO, A_LN2G, A_LN2B, A_W1, A_B1, A_W2, A_B2,
       A_NBLK };

static size_t layer_sizes(int H, size_t sz[A_NBLK])
{
    size_t h = (size_t)H;
    size_t s[A_NBLK] = {h, h, 3 * h * h, 3 * h, h * h, h, h, h, 2 * h * h, 2 * h, 2 * h * h, h};
    size_t n = 0;
    for (int i = 0; i < A_NBLK; i++) { sz[i] = s[i]; n += s[i]; }
    return n;
}

typedef lopt_attn_off net_off;

void lopt_attn_offsets(int H, int L, lopt_attn_off *o)
{
    size_t sz[A_NBLK], per = layer_sizes(H, sz), p = 0, h = (size_t)H;
    o->we = p; p += (size_t)LOPT_ATTN_NIN * h;
    o->be = p; p += h;
    for (int l = 0; l < L; l++) {
        size_t q = p;
        for (int i = 0; i < A_NBLK; i++) { o->blk[l][i] = q; q += sz[i]; }
        p += per;
    }
    o->lnfg = p; p += h;
    o->lnfb = p; p += h;
    o->wr = p; p += h * LOPT_ATTN_NOUT;
    o->br = p; p += LOPT_ATTN_NOUT;
    o->n = p;
}

size_t lopt_attn_theta_count(int H, int L)
{
    if (H < 1 || L < 1 || L > LOPT_MAX_DEPTH) return 0;
    net_off o;
    lopt_attn_offsets(H, L, &o);
    return o.n;
}

/* One layer's saved activations (T rows). */
typedef struct lay_act { float *xin, *ln1, *c1, *qkv, *P, *atty, *xmid, *ln2, *c2, *hpre, *hact; } lay_act;

static size_t layer_cache(int H, int NH, int T)
{
    size_t th = (size_t)T * H;
    return 12 * th + 2 * layernorm_cache_size(T) + attention_cache_size(1, T, NH);
}

size_t lopt_attn_cache_size(int H, int L, int NH, int T)
{
    size_t th = (size_t)T * H;
    return (size_t)L * layer_cache(H, NH, T) + 2 * th + layernorm_cache_size(T);
}

size_t lopt_attn_scratch_size(int H, int T)
{
    return 9 * (size_t)T * H;
}

static void carve(float *cache, int H, int L, int NH, int T, lay_act *a, float **xL, float **lnf, float **cf)
{
    size_t th = (size_t)T * H;
    float *p = cache;
    for (int l = 0; l < L; l++) {
        lay_act *b = &a[l];
        b->xin = p; p += th;
        b->ln1 = p; p += th;
        b->c1 = p; p += layernorm_cache_size(T);
        b->qkv = p; p += 3 * th;
        b->P = p; p += attention_cache_size(1, T, NH);
        b->atty = p; p += th;
        b->xmid = p; p += th;
        b->ln2 = p; p += th;
        b->c2 = p; p += layernorm_cache_size(T);
        b->hpre = p; p += 2 * th;
        b->hact = p; p += 2 * th;
    }
    *xL = p; p += th;
    *lnf = p; p += th;
    *cf = p;
}

void lopt_attn_init_params(float *theta, int H, int L, rng *r)
{
    net_off o;
    lopt_attn_offsets(H, L, &o);
    memset(theta, 0, o.n * sizeof(float));
    float h = (float)H;
    rng_normal_fill(r, theta + o.we, (size_t)LOPT_ATTN_NIN * H, 0, 1.0f / sqrtf((float)LOPT_ATTN_NIN));
    for (int l = 0; l < L; l++) {
        const size_t *b = o.blk[l];
        for (int i = 0; i < H; i++) { theta[b[A_LN1G] + i] = 1; theta[b[A_LN2G] + i] = 1; }
        rng_normal_fill(r, theta + b[A_WQKV], (size_t)H * 3 * H, 0, 1.0f / sqrtf(h));
        rng_normal_fill(r, theta + b[A_WO], (size_t)H * H, 0, 1.0f / sqrtf(h * 2 * L));
        rng_normal_fill(r, theta + b[A_W1], (size_t)H * 2 * H, 0, 1.0f / sqrtf(h));
        rng_normal_fill(r, theta + b[A_W2], (size_t)2 * H * H, 0, 1.0f / sqrtf(2 * h * 2 * L));
    }
    for (int i = 0; i < H; i++) theta[o.lnfg + i] = 1;
    rng_normal_fill(r, theta + o.wr, (size_t)H * LOPT_ATTN_NOUT, 0, 0.01f / sqrtf(h));
}

void lopt_attn_forward(const float *theta, int H, int L, int NH, int T, const float *x, float *cache,
                       float *out)
{
    net_off o;
    lopt_attn_offsets(H, L, &o);
    lay_act a[LOPT_MAX_DEPTH];
    float *xL, *lnf, *cf;
    carve(cache, H, L, NH, T, a, &xL, &lnf, &cf);
    size_t th = (size_t)T * H;
    const float *p = theta;
    layer_linear_forward(a[0].xin, x, p + o.we, p + o.be, T, LOPT_ATTN_NIN, H);
    for (int l = 0; l < L; l++) {
        lay_act *b = &a[l];
        const size_t *k = o.blk[l];
        layernorm_forward(b->ln1, b->c1, b->xin, p + k[A_LN1G], p + k[A_LN1B], T, H);
        layer_linear_forward(b->qkv, b->ln1, p + k[A_WQKV], p + k[A_BQKV], T, H, 3 * H);
        attention_full_forward(b->atty, b->P, b->qkv, 1, T, H, NH);
        layer_linear_forward(b->xmid, b->atty, p + k[A_WO], p + k[A_BO], T, H, H);
        for (size_t i = 0; i < th; i++) b->xmid[i] += b->xin[i];
        layernorm_forward(b->ln2, b->c2, b->xmid, p + k[A_LN2G], p + k[A_LN2B], T, H);
        layer_linear_forward(b->hpre, b->ln2, p + k[A_W1], p + k[A_B1], T, H, 2 * H);
        layer_act_forward(b->hact, b->hpre, 2 * th, ACT_GELU);
        float *xout = l + 1 < L ? a[l + 1].xin : xL;
        layer_linear_forward(xout, b->hact, p + k[A_W2], p + k[A_B2], T, 2 * H, H);
        for (size_t i = 0; i < th; i++) xout[i] += b->xmid[i];
    }
    layernorm_forward(lnf, cf, xL, p + o.lnfg, p + o.lnfb, T, H);
    layer_linear_forward(out, lnf, p + o.wr, p + o.br, T, H, LOPT_ATTN_NOUT);
}

void lopt_attn_backward(const float *theta, int H, int L, int NH, int T, const float *x, const float *cache,
                        const float *dout, float *dtheta, float *scratch)
{
    net_off o;
    lopt_attn_offsets(H, L, &o);
    lay_act a[LOPT_MAX_DEPTH];
    float *xL, *lnf, *cf;
    carve((float *)cache, H, L, NH, T, a, &xL, &lnf, &cf);   /* read only below */
    size_t th = (size_t)T * H;
    const float *p = theta;
    float *g = dtheta;
    float *dres = scratch, *dtmp = dres + th, *dqkv = dtmp + th, *dh1 = dqkv + 3 * th, *dh2 = dh1 + 2 * th;
    memset(dtmp, 0, th * sizeof(float));
    layer_linear_backward(dtmp, g + o.wr, g + o.br, dout, lnf, p + o.wr, T, H, LOPT_ATTN_NOUT);
    memset(dres, 0, th * sizeof(float));
    layernorm_backward(dres, g + o.lnfg, g + o.lnfb, dtmp, xL, cf, p + o.lnfg, T, H);
    for (int l = L - 1; l >= 0; l--) {
        lay_act *b = &a[l];
        const size_t *k = o.blk[l];
        /* MLP branch: dres is dL/dz_out = dL/dz_mid through the residual */
        memset(dh1, 0, 2 * th * sizeof(float));
        layer_linear_backward(dh1, g + k[A_W2], g + k[A_B2], dres, b->hact, p + k[A_W2], T, 2 * H, H);
        memset(dh2, 0, 2 * th * sizeof(float));
        layer_act_backward(dh2, dh1, b->hpre, 2 * th, ACT_GELU);
        memset(dtmp, 0, th * sizeof(float));
        layer_linear_backward(dtmp, g + k[A_W1], g + k[A_B1], dh2, b->ln2, p + k[A_W1], T, H, 2 * H);
        layernorm_backward(dres, g + k[A_LN2G], g + k[A_LN2B], dtmp, b->xmid, b->c2, p + k[A_LN2G], T, H);
        /* attention branch: dres is now dL/dz_mid = dL/dz_in through the residual */
        memset(dtmp, 0, th * sizeof(float));
        layer_linear_backward(dtmp, g + k[A_WO], g + k[A_BO], dres, b->atty, p + k[A_WO], T, H, H);
        memset(dqkv, 0, 3 * th * sizeof(float));
        attention_full_backward(dqkv, dtmp, b->qkv, b->P, 1, T, H, NH);
        memset(dtmp, 0, th * sizeof(float));
        layer_linear_backward(dtmp, g + k[A_WQKV], g + k[A_BQKV], dqkv, b->ln1, p + k[A_WQKV], T, H, 3 * H);
        layernorm_backward(dres, g + k[A_LN1G], g + k[A_LN1B], dtmp, b->xin, b->c1, p + k[A_LN1G], T, H);
    }
    layer_linear_backward(NULL, g + o.we, g + o.be, dres, x, p + o.we, T, LOPT_ATTN_NIN, H);
}
