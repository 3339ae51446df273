/* lopt_adamdir.c — the per-parameter Adam-direction rule that attn_lopt and
 * mem_lopt steer with per-tensor outputs (declared in lopt_internal.h). */
#include "lopt_internal.h"

#include <math.h>

void lopt_adamdir_moments(float *m, float *v, const float *g, const float *p, size_t n, float ic1, float ic2,
                          lopt_adamdir_sums *s)
{
    double sg = 0, sp = 0, sd = 0, sgm = 0, sm = 0, sv = 0;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i], mo = m[i];
        sgm += (double)gi * mo; sm += (double)mo * mo;
        float mi = LOPT_ADAMDIR_B1 * mo + (1 - LOPT_ADAMDIR_B1) * gi;
        float vi = LOPT_ADAMDIR_B2 * v[i] + (1 - LOPT_ADAMDIR_B2) * gi * gi;
        m[i] = mi; v[i] = vi;
        float d = mi * ic1 / (sqrtf(vi * ic2) + LOPT_ADAMDIR_EPS);
        sg += (double)gi * gi; sp += (double)p[i] * p[i]; sd += (double)d * d; sv += vi;
    }
    s->gg = sg; s->pp = sp; s->dd = sd; s->gm = sgm; s->mm = sm; s->vv = sv;
}

double lopt_adamdir_apply(const float *m, const float *v, const float *g, size_t n, float ic1, float ic2, float k,
                          float gam, float *u)
{
    double su = 0;
    for (size_t i = 0; i < n; i++) {
        float mh = m[i] * ic1;
        u[i] = k * (mh + gam * (g[i] - mh)) / (sqrtf(v[i] * ic2) + LOPT_ADAMDIR_EPS);
        su += (double)u[i] * u[i];
    }
    return su;
}
