/* lopt_hypergrad.c — mlp_lopt's hypergradient step scale (hyperparameter
 * `hypergrad` = β): the multiplicative hypergradient rule of Baydin et al.
 * (2018, "Online learning rate adaptation with hypergradient descent")
 * applied to each tensor's learned update.
 *
 * The last step moved the tensor by u_{t−1}; the gradient now, g_t, is the
 * derivative of the loss along that move: g_t · u_{t−1} < 0 says the loss
 * was still falling where the step ended (the step could have been
 * longer), > 0 that it overshot.  So each tensor keeps a log step scale ℓ
 * and its last update:
 *     c = cos(g_t, u_{t−1})   (0 when either is 0: the first step)
 *     ℓ ← clip(ℓ − β c, LOPT_HG_LOG_MIN, LOPT_HG_LOG_MAX)
 *     u_t ← e^ℓ · u_t,   then u_{t−1} ← u_t for the next step.
 * ℓ depends on g_t and u_{t−1} only, so mlp_lopt takes it before the
 * network runs and folds e^ℓ into the tensor's step multiplier: the scale
 * costs no pass over the update (the sums read g and u_{t−1} once; keeping
 * u_t is one copy).
 * The cosine makes the rule scale-free, as the network is: it reads
 * directions, not magnitudes.  The sums run in 8 float lanes added into a
 * double in lane order, as the guard's (the same bits on every machine). */
#include "lopt_internal.h"

#include <math.h>
#include <string.h>

/* 8 float lanes as two 4-lane vectors (GCC's vector extension: SSE2 on
 * baseline x86-64, so every build adds in the same order); lane l sums
 * the elements i ≡ l (mod 8) of the whole blocks of 8 in order, lane 0
 * then the last n mod 8 elements, then the lanes go into a double in lane
 * order. */
typedef float v4f __attribute__((vector_size(16)));

static v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void dots(const float *g, const float *up, size_t n, double *gu, double *gg, double *uu)
{
    v4f a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4f g0 = load4(g + i), g1 = load4(g + i + 4), u0 = load4(up + i), u1 = load4(up + i + 4);
        a0 += g0 * u0; a1 += g1 * u1;
        b0 += g0 * g0; b1 += g1 * g1;
        c0 += u0 * u0; c1 += u1 * u1;
    }
    float a[8], b[8], c[8];
    memcpy(a, &a0, 16); memcpy(a + 4, &a1, 16);
    memcpy(b, &b0, 16); memcpy(b + 4, &b1, 16);
    memcpy(c, &c0, 16); memcpy(c + 4, &c1, 16);
    for (; i < n; i++) { a[0] += g[i] * up[i]; b[0] += g[i] * g[i]; c[0] += up[i] * up[i]; }
    *gu = *gg = *uu = 0;
    for (int l = 0; l < 8; l++) { *gu += a[l]; *gg += b[l]; *uu += c[l]; }
}

float lopt_hypergrad_cos(const float *g, const float *uprev, size_t n)
{
    double gu, gg, uu;
    dots(g, uprev, n, &gu, &gg, &uu);
    if (!(gg > 0) || !(uu > 0) || !isfinite(gg) || !isfinite(uu)) return 0.0f;
    double c = gu / sqrt(gg * uu);
    return c > 1 ? 1.0f : c < -1 ? -1.0f : (float)c;   /* rounding can step past ±1 */
}

float lopt_hypergrad_scale(float beta, const float *g, const float *uprev, size_t n, float *logs)
{
    float l = *logs - beta * lopt_hypergrad_cos(g, uprev, n);
    *logs = l < LOPT_HG_LOG_MIN ? LOPT_HG_LOG_MIN : l > LOPT_HG_LOG_MAX ? LOPT_HG_LOG_MAX : l;
    return expf(*logs);
}
