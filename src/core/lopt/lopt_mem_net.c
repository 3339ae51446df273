/* lopt_mem_net.c — mem_lopt's read projections and head; see lopt_mem_net.h. */
#include "lopt_mem_net.h"

#include <math.h>
#include <string.h>

#define NIN LOPT_MEM_NIN

void lopt_mem_offsets(int H, int D, lopt_mem_off *o)
{
    size_t p = 0, h = (size_t)H, kk = (size_t)LOPT_MEM_DK * LOPT_MEM_NKEY;
    memset(o, 0, sizeof *o);
    o->wq = p; p += kk;
    o->wk = p; p += kk;
    for (int l = 0; l < D; l++) {
        o->w[l] = p; p += h * (l == 0 ? (size_t)NIN : h);
        o->b[l] = p; p += h;
    }
    o->wo = p; p += LOPT_MEM_NOUT * h;
    o->bo = p; p += LOPT_MEM_NOUT;
    o->n = p;
}

size_t lopt_mem_theta_count(int H, int D)
{
    if (H < 1 || H > LOPT_MAX_HIDDEN || D < 1 || D > LOPT_MAX_DEPTH) return 0;
    lopt_mem_off o;
    lopt_mem_offsets(H, D, &o);
    return o.n;
}

size_t lopt_mem_cache_size(int H, int D, int T) { return (size_t)D * (size_t)T * (size_t)H; }
size_t lopt_mem_scratch_size(int H) { return 2 * (size_t)H; }

void lopt_mem_init_params(float *theta, int H, int D, rng *r)
{
    lopt_mem_off o;
    lopt_mem_offsets(H, D, &o);
    memset(theta, 0, o.n * sizeof(float));
    size_t kk = (size_t)LOPT_MEM_DK * LOPT_MEM_NKEY;
    rng_normal_fill(r, theta + o.wq, kk, 0, 1.0f / sqrtf((float)LOPT_MEM_NKEY));
    rng_normal_fill(r, theta + o.wk, kk, 0, 1.0f / sqrtf((float)LOPT_MEM_NKEY));
    for (int l = 0; l < D; l++) {
        int in = l == 0 ? NIN : H;
        rng_normal_fill(r, theta + o.w[l], (size_t)H * in, 0, 1.0f / sqrtf((float)in));
    }
    rng_normal_fill(r, theta + o.wo, (size_t)LOPT_MEM_NOUT * H, 0, 0.01f / sqrtf((float)H));
}

void lopt_mem_head_forward(const float *theta, int H, int D, int T, const float *x, float *cache, float *out)
{
    lopt_mem_off o;
    lopt_mem_offsets(H, D, &o);
    for (int t = 0; t < T; t++) {
        const float *in = x + (size_t)t * NIN;
        int nin = NIN;
        for (int l = 0; l < D; l++) {
            float *h = cache + ((size_t)l * T + t) * H;
            const float *W = theta + o.w[l], *b = theta + o.b[l];
            for (int i = 0; i < H; i++) {
                float s = b[i];
                for (int k = 0; k < nin; k++) s += W[(size_t)i * nin + k] * in[k];
                h[i] = tanhf(s);
            }
            in = h;
            nin = H;
        }
        for (int k = 0; k < LOPT_MEM_NOUT; k++) {
            float s = theta[o.bo + k];
            for (int i = 0; i < H; i++) s += theta[o.wo + (size_t)k * H + i] * in[i];
            out[(size_t)t * LOPT_MEM_NOUT + k] = s;
        }
    }
}

void lopt_mem_head_backward(const float *theta, int H, int D, int T, const float *x, const float *cache,
                            const float *dout, float *dtheta, float *dx, float *scratch)
{
    lopt_mem_off o;
    lopt_mem_offsets(H, D, &o);
    float *dh = scratch, *dz = scratch + H;
    for (int t = 0; t < T; t++) {
        const float *hD = cache + ((size_t)(D - 1) * T + t) * H, *go = dout + (size_t)t * LOPT_MEM_NOUT;
        for (int i = 0; i < H; i++) dh[i] = 0;
        for (int k = 0; k < LOPT_MEM_NOUT; k++) {
            dtheta[o.bo + k] += go[k];
            for (int i = 0; i < H; i++) {
                dtheta[o.wo + (size_t)k * H + i] += go[k] * hD[i];
                dh[i] += go[k] * theta[o.wo + (size_t)k * H + i];
            }
        }
        for (int l = D - 1; l >= 0; l--) {
            const float *h = cache + ((size_t)l * T + t) * H;
            const float *in = l ? cache + ((size_t)(l - 1) * T + t) * H : x + (size_t)t * NIN;
            int nin = l ? H : NIN;
            for (int i = 0; i < H; i++) dz[i] = dh[i] * (1 - h[i] * h[i]);
            const float *W = theta + o.w[l];
            float *dW = dtheta + o.w[l], *db = dtheta + o.b[l];
            for (int i = 0; i < H; i++) {
                db[i] += dz[i];
                for (int k = 0; k < nin; k++) dW[(size_t)i * nin + k] += dz[i] * in[k];
            }
            if (l) {
                for (int k = 0; k < H; k++) {
                    float s = 0;
                    for (int i = 0; i < H; i++) s += W[(size_t)i * H + k] * dz[i];
                    dh[k] = s;
                }
            } else if (dx) {
                for (int k = 0; k < NIN; k++) {
                    float s = 0;
                    for (int i = 0; i < H; i++) s += W[(size_t)i * NIN + k] * dz[i];
                    dx[(size_t)t * NIN + k] = s;
                }
            }
        }
    }
}
