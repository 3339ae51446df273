/* loss_mse.c — mean squared error; see loss_mse.h. */
#include "loss_mse.h"

#include <math.h>

double loss_mse_forward(const float *pred, const float *target, size_t n)
{
    if (n == 0) return NAN;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    s /= (double)n;
    return isfinite(s) ? s : NAN;
}

void loss_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss)
{
    float sc = 2.0f * dloss / (float)n;
    for (size_t i = 0; i < n; i++) dpred[i] += sc * (pred[i] - target[i]);
}
