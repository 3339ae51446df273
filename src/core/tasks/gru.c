/* gru.c — GRU cell forward/backward; see gru.h. */
#include "gru.h"

#include <math.h>
#include <string.h>

#include "errors.h"
#include "layers.h"

int gru_init(gru *g, int in, int hidden)
{
    memset(g, 0, sizeof *g);
    if (in < 1 || hidden < 1) return ERR_INVALID_ARGUMENT;
    g->in = in;
    g->hidden = hidden;
    size_t G = 3 * (size_t)hidden;
    g->wx_off = 0;
    g->wh_off = (size_t)in * G;
    g->bx_off = g->wh_off + (size_t)hidden * G;
    g->bh_off = g->bx_off + G;
    g->nparams = g->bh_off + G;
    return 0;
}

size_t gru_cache_size(const gru *g, int batch) { return (size_t)batch * 6 * g->hidden; }
size_t gru_scratch_size(const gru *g, int batch) { return (size_t)batch * 6 * g->hidden; }

void gru_init_params(const gru *g, float *params, rng *r, float scale)
{
    float a = scale / sqrtf((float)g->hidden);
    rng_uniform_fill(r, params + g->wx_off, g->bx_off - g->wx_off, -a, a);
    memset(params + g->bx_off, 0, sizeof(float) * (g->nparams - g->bx_off));
}

static inline float gru_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
/* tanh through expf: glibc's tanhf costs several times expf and dominated
 * the step; absolute error ~1e-7 (relative ~1e-3 only below |x| ~ 1e-4). */
static inline float gru_tanh(float x)
{
    if (x > 15.0f) return 1.0f;
    if (x < -15.0f) return -1.0f;
    return 1.0f - 2.0f / (expf(2.0f * x) + 1.0f);
}

/* Cache per row: [r z n | gh_r gh_z gh_n] (6H); the first half holds gx
 * until the gates overwrite it. */
void gru_forward(const gru *g, float *h, float *cache, const float *params,
                 const float *x, const float *h_prev, int batch)
{
    int H = g->hidden, G = 3 * H;
    float *gx = cache, *gh = cache + (size_t)batch * G;
    layer_linear_forward(gx, x, params + g->wx_off, params + g->bx_off, batch, g->in, G);
    layer_linear_forward(gh, h_prev, params + g->wh_off, params + g->bh_off, batch, H, G);
    for (int b = 0; b < batch; b++) {
        float *a = gx + (size_t)b * G;
        const float *c = gh + (size_t)b * G;
        for (int j = 0; j < H; j++) {
            float r = gru_sigmoid(a[j] + c[j]);
            float z = gru_sigmoid(a[H + j] + c[H + j]);
            float n = gru_tanh(a[2 * H + j] + r * c[2 * H + j]);
            a[j] = r; a[H + j] = z; a[2 * H + j] = n;
            size_t k = (size_t)b * H + j;
            h[k] = (1.0f - z) * n + z * h_prev[k];
        }
    }
}

void gru_backward(const gru *g, float *dparams, float *dx, float *dh_prev, float *scratch,
                  const float *dh, const float *cache, const float *params,
                  const float *x, const float *h_prev, int batch)
{
    int H = g->hidden, G = 3 * H;
    const float *gates = cache, *gh = cache + (size_t)batch * G;
    float *dgx = scratch, *dgh = scratch + (size_t)batch * G;
    for (int b = 0; b < batch; b++) {
        const float *a = gates + (size_t)b * G, *c = gh + (size_t)b * G;
        float *dax = dgx + (size_t)b * G, *dah = dgh + (size_t)b * G;
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            float r = a[j], z = a[H + j], n = a[2 * H + j], d = dh[k];
            float dn = d * (1.0f - z) * (1.0f - n * n);     /* d(pre-tanh) */
            float dz = d * (h_prev[k] - n) * z * (1.0f - z);
            float dr = dn * c[2 * H + j] * r * (1.0f - r);
            dax[j] = dr; dax[H + j] = dz; dax[2 * H + j] = dn;
            dah[j] = dr; dah[H + j] = dz; dah[2 * H + j] = dn * r;
            if (dh_prev) dh_prev[k] += d * z;
        }
    }
    float *dp = dparams;
    layer_linear_backward(dx, dp ? dp + g->wx_off : NULL, dp ? dp + g->bx_off : NULL, dgx, x,
                    params + g->wx_off, batch, g->in, G);
    layer_linear_backward(dh_prev, dp ? dp + g->wh_off : NULL, dp ? dp + g->bh_off : NULL, dgh, h_prev,
                    params + g->wh_off, batch, H, G);
}
