/* attention.c — multi-head self-attention, causal and unmasked; see attention.h. */
#include "attention.h"

#include <math.h>

size_t attention_cache_size(int batch, int T, int heads)
{
    return (size_t)batch * heads * T * T;
}

/* causal = 1: position t sees u <= t; 0: every u < T (the unmasked part of
 * P is then the whole row). */
static void att_forward(float *out, float *cache, const float *qkv, int batch, int T, int C, int heads,
                        int causal)
{
    int D = C / heads, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)D);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++) {
            const float *base = qkv + (size_t)b * T * C3 + (size_t)h * D;
            float *P = cache + ((size_t)b * heads + h) * T * T;
            for (int t = 0; t < T; t++) {
                const float *q = base + (size_t)t * C3;
                float *pt = P + (size_t)t * T, mx = -INFINITY;
                int last = causal ? t : T - 1;
                for (int u = 0; u <= last; u++) {
                    const float *k = base + (size_t)u * C3 + C;
                    float s = 0;
                    for (int d = 0; d < D; d++) s += q[d] * k[d];
                    pt[u] = s * scale;
                    if (pt[u] > mx) mx = pt[u];
                }
                float sum = 0;
                for (int u = 0; u <= last; u++) { pt[u] = expf(pt[u] - mx); sum += pt[u]; }
                float inv = 1.0f / sum;
                for (int u = 0; u <= last; u++) pt[u] *= inv;
                for (int u = last + 1; u < T; u++) pt[u] = 0;
                float *o = out + ((size_t)b * T + t) * C + (size_t)h * D;
                for (int d = 0; d < D; d++) o[d] = 0;
                for (int u = 0; u <= last; u++) {
                    const float *v = base + (size_t)u * C3 + 2 * C;
                    for (int d = 0; d < D; d++) o[d] += pt[u] * v[d];
                }
            }
        }
}

/* dP[t][u] = dout_t . v_u;  dv_u += P[t][u] dout_t;
 * ds[t][u] = P[t][u] (dP[t][u] - sum_w P[t][w] dP[t][w]);
 * dq_t += ds k_u / sqrt(D);  dk_u += ds q_t / sqrt(D).
 * dP is recomputed in the second pass instead of stored. */
static void att_backward(float *dqkv, const float *dout, const float *qkv, const float *cache, int batch,
                         int T, int C, int heads, int causal)
{
    int D = C / heads, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)D);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++) {
            size_t boff = (size_t)b * T * C3 + (size_t)h * D;
            const float *base = qkv + boff;
            float *dbase = dqkv + boff;
            const float *P = cache + ((size_t)b * heads + h) * T * T;
            for (int t = 0; t < T; t++) {
                const float *go = dout + ((size_t)b * T + t) * C + (size_t)h * D;
                const float *pt = P + (size_t)t * T;
                const float *q = base + (size_t)t * C3;
                float *dq = dbase + (size_t)t * C3;
                float dot = 0;
                int last = causal ? t : T - 1;
                for (int u = 0; u <= last; u++) {
                    const float *v = base + (size_t)u * C3 + 2 * C;
                    float *dv = dbase + (size_t)u * C3 + 2 * C;
                    float dp = 0;
                    for (int d = 0; d < D; d++) { dp += go[d] * v[d]; dv[d] += pt[u] * go[d]; }
                    dot += pt[u] * dp;
                }
                for (int u = 0; u <= last; u++) {
                    const float *v = base + (size_t)u * C3 + 2 * C;
                    const float *k = base + (size_t)u * C3 + C;
                    float *dk = dbase + (size_t)u * C3 + C;
                    float dp = 0;
                    for (int d = 0; d < D; d++) dp += go[d] * v[d];
                    float ds = pt[u] * (dp - dot) * scale;
                    for (int d = 0; d < D; d++) { dq[d] += ds * k[d]; dk[d] += ds * q[d]; }
                }
            }
        }
}

void attention_forward(float *out, float *cache, const float *qkv, int batch, int T, int C, int heads)
{
    att_forward(out, cache, qkv, batch, T, C, heads, 1);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *cache,
                        int batch, int T, int C, int heads)
{
    att_backward(dqkv, dout, qkv, cache, batch, T, C, heads, 1);
}

void attention_full_forward(float *out, float *cache, const float *qkv, int batch, int T, int C, int heads)
{
    att_forward(out, cache, qkv, batch, T, C, heads, 0);
}

void attention_full_backward(float *dqkv, const float *dout, const float *qkv, const float *cache,
                             int batch, int T, int C, int heads)
{
    att_backward(dqkv, dout, qkv, cache, batch, T, C, heads, 0);
}
