/* layernorm.c — LayerNorm forward/backward; see layernorm.h. */
#include "layernorm.h"

#include <math.h>

size_t layernorm_cache_size(int rows) { return 2 * (size_t)rows; }

void layernorm_forward(float *y, float *cache, const float *x, const float *gain,
                       const float *bias, int rows, int dim)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double s = 0;
        for (int j = 0; j < dim; j++) s += xr[j];
        double mu = s / dim, v = 0;
        for (int j = 0; j < dim; j++) { double d = xr[j] - mu; v += d * d; }
        float rstd = (float)(1.0 / sqrt(v / dim + (double)LAYERNORM_EPS));
        float m = (float)mu;
        for (int j = 0; j < dim; j++) {
            float xh = (xr[j] - m) * rstd;
            yr[j] = (gain ? gain[j] : 1.0f) * xh + (bias ? bias[j] : 0.0f);
        }
        cache[2 * (size_t)r] = m;
        cache[2 * (size_t)r + 1] = rstd;
    }
}

/* With g = dy * gain:  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)). */
void layernorm_backward(float *dx, float *dgain, float *dbias, const float *dy,
                        const float *x, const float *cache, const float *gain,
                        int rows, int dim)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim, *dyr = dy + (size_t)r * dim;
        float m = cache[2 * (size_t)r], rstd = cache[2 * (size_t)r + 1];
        double sg = 0, sgx = 0;
        for (int j = 0; j < dim; j++) {
            float xh = (xr[j] - m) * rstd;
            float g = dyr[j] * (gain ? gain[j] : 1.0f);
            sg += g;
            sgx += (double)g * xh;
            if (dgain) dgain[j] += dyr[j] * xh;
            if (dbias) dbias[j] += dyr[j];
        }
        if (!dx) continue;
        float mg = (float)(sg / dim), mgx = (float)(sgx / dim);
        float *dxr = dx + (size_t)r * dim;
        for (int j = 0; j < dim; j++) {
            float xh = (xr[j] - m) * rstd;
            float g = dyr[j] * (gain ? gain[j] : 1.0f);
            dxr[j] += rstd * (g - mg - xh * mgx);
        }
    }
}
