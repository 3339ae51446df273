/* layers_conv.c — conv2d (im2col + linear), 2x2 max pooling, global
 * average pooling; see layers_conv.h. */
#include "layers_conv.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "errors.h"
#include "layers.h"

int layer_conv2d_init(conv2d *c, int h, int w, int cin, int cout, int k)
{
    memset(c, 0, sizeof *c);
    if (h < 1 || w < 1 || cin < 1 || cout < 1 || k < 1 || k % 2 == 0) return ERR_INVALID_ARGUMENT;
    long long kk = (long long)k * k * cin;
    if (kk * cout > INT_MAX || kk * h * w > INT_MAX) return ERR_INVALID_ARGUMENT;
    c->h = h; c->w = w; c->cin = cin; c->cout = cout; c->k = k;
    c->w_off = 0;
    c->b_off = (size_t)kk * cout;
    c->nparams = c->b_off + (size_t)cout;
    return 0;
}

size_t layer_conv2d_cache_size(const conv2d *c, int batch)
{
    return (size_t)batch * c->h * c->w * c->k * c->k * c->cin;
}

size_t layer_conv2d_scratch_size(const conv2d *c, int batch) { return layer_conv2d_cache_size(c, batch); }

void layer_conv2d_init_params(const conv2d *c, float *params, rng *r, float scale, float gain)
{
    int fan_in = c->k * c->k * c->cin;
    rng_normal_fill(r, params + c->w_off, c->b_off - c->w_off, 0.0f,
                    (float)(scale * sqrt(gain / fan_in)));
    memset(params + c->b_off, 0, sizeof(float) * (size_t)c->cout);
}

/* cols (batch*h*w, k*k*cin): row (n, y, x) holds the k x k x cin patch
 * centred on (y, x), zeros outside the image. */
static void im2col(const conv2d *c, float *cols, const float *x, int batch)
{
    int h = c->h, w = c->w, k = c->k, ci = c->cin, r = k / 2;
    size_t row = (size_t)k * k * ci;
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                float *dst = cols + (((size_t)n * h + y) * w + xx) * row;
                for (int ky = 0; ky < k; ky++) {
                    int sy = y + ky - r;
                    for (int kx = 0; kx < k; kx++) {
                        int sx = xx + kx - r;
                        float *d = dst + ((size_t)ky * k + kx) * ci;
                        /* plain loops: ci is often 1..16, too short for memcpy */
                        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
                            for (int j = 0; j < ci; j++) d[j] = 0.0f;
                        } else {
                            const float *s = x + (((size_t)n * h + sy) * w + sx) * ci;
                            for (int j = 0; j < ci; j++) d[j] = s[j];
                        }
                    }
                }
            }
}

/* dx += col2im(dcols): the adjoint of im2col. */
static void col2im_acc(const conv2d *c, float *dx, const float *dcols, int batch)
{
    int h = c->h, w = c->w, k = c->k, ci = c->cin, r = k / 2;
    size_t row = (size_t)k * k * ci;
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                const float *src = dcols + (((size_t)n * h + y) * w + xx) * row;
                for (int ky = 0; ky < k; ky++) {
                    int sy = y + ky - r;
                    if (sy < 0 || sy >= h) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int sx = xx + kx - r;
                        if (sx < 0 || sx >= w) continue;
                        const float *s = src + ((size_t)ky * k + kx) * ci;
                        float *d = dx + (((size_t)n * h + sy) * w + sx) * ci;
                        for (int j = 0; j < ci; j++) d[j] += s[j];
                    }
                }
            }
}

void layer_conv2d_forward(const conv2d *c, float *y, float *cache, const float *params,
                    const float *x, int batch)
{
    im2col(c, cache, x, batch);
    layer_linear_forward(y, cache, params + c->w_off, params + c->b_off, batch * c->h * c->w,
                   c->k * c->k * c->cin, c->cout);
}

void layer_conv2d_backward(const conv2d *c, float *dparams, float *dx, float *scratch,
                     const float *dy, const float *cache, const float *params, int batch)
{
    int rows = batch * c->h * c->w, kk = c->k * c->k * c->cin;
    if (dx) memset(scratch, 0, sizeof(float) * layer_conv2d_scratch_size(c, batch));
    layer_linear_backward(dx ? scratch : NULL, dparams ? dparams + c->w_off : NULL,
                    dparams ? dparams + c->b_off : NULL, dy, cache, params + c->w_off,
                    rows, kk, c->cout);
    if (dx) col2im_acc(c, dx, scratch, batch);
}

void layer_maxpool2_forward(float *y, int *idx, const float *x, int batch, int h, int w, int c)
{
    int ho = h / 2, wo = w / 2;
    for (int n = 0; n < batch; n++)
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++) {
                size_t o = (((size_t)n * ho + i) * wo + j) * c;
                size_t s00 = (((size_t)n * h + 2 * i) * w + 2 * j) * c;
                /* the window's four positions, row-major: a tie keeps the first */
                size_t s[4] = {s00, s00 + (size_t)c, s00 + (size_t)w * c, s00 + (size_t)w * c + c};
                for (int ch = 0; ch < c; ch++) {
                    size_t best = s[0] + ch;
                    float bv = x[best];
                    for (int q = 1; q < 4; q++) {
                        float v = x[s[q] + ch];
                        /* a NaN anywhere in the window wins, so it propagates */
                        if (v > bv || (v != v && bv == bv)) { bv = v; best = s[q] + ch; }
                    }
                    y[o + ch] = bv;
                    idx[o + ch] = (int)best;
                }
            }
}

void layer_maxpool2_backward(float *dx, const float *dy, const int *idx, int batch, int h, int w, int c)
{
    size_t n = (size_t)batch * (h / 2) * (w / 2) * c;
    for (size_t i = 0; i < n; i++) dx[idx[i]] += dy[i];
}

void layer_gap_forward(float *y, const float *x, int batch, int h, int w, int c)
{
    float inv = 1.0f / (float)(h * w);
    for (int n = 0; n < batch; n++) {
        float *yn = y + (size_t)n * c;
        memset(yn, 0, sizeof(float) * (size_t)c);
        const float *xn = x + (size_t)n * h * w * c;
        for (int p = 0; p < h * w; p++)
            for (int ch = 0; ch < c; ch++) yn[ch] += xn[(size_t)p * c + ch];
        for (int ch = 0; ch < c; ch++) yn[ch] *= inv;
    }
}

void layer_gap_backward(float *dx, const float *dy, int batch, int h, int w, int c)
{
    float inv = 1.0f / (float)(h * w);
    for (int n = 0; n < batch; n++) {
        const float *dyn = dy + (size_t)n * c;
        float *dxn = dx + (size_t)n * h * w * c;
        for (int p = 0; p < h * w; p++)
            for (int ch = 0; ch < c; ch++) dxn[(size_t)p * c + ch] += dyn[ch] * inv;
    }
}
