/* gru.h — one GRU cell step as a forward/backward pair, in the
 * conventions of layers.h (outputs first; the backward ACCUMULATES into its
 * d-outputs, any of which may be NULL; the caller keeps the inputs).
 *
 * The PyTorch formulation, gate blocks in the order r, z, n:
 *   gx = x Wx + bx,  gh = h_prev Wh + bh            (batch, 3H) each
 *   r = sigmoid(gx_r + gh_r),  z = sigmoid(gx_z + gh_z)
 *   n = tanh(gx_n + r * gh_n)
 *   h = (1 - z) * n + z * h_prev
 * Parameters live in one flat block at the offsets of struct gru: Wx (in,
 * 3H), Wh (H, 3H), bx (3H), bh (3H).  The products go through layers.h's
 * layer_linear_forward/backward (cblas_sgemm above a size threshold).
 *
 * The forward writes r, z, n and gh_n of the step into `cache`
 * (gru_cache_size floats); the backward needs that cache plus x and h_prev.
 * A sequence keeps one cache per step.  Nothing allocates or keeps state. */
#ifndef OPTIRS_GRU_H
#define OPTIRS_GRU_H

#include <stddef.h>
#include "rng.h"

typedef struct gru {
    int    in, hidden;
    size_t wx_off;    /* Wx (in, 3H) */
    size_t wh_off;    /* Wh (H, 3H) */
    size_t bx_off;    /* bx (3H) */
    size_t bh_off;    /* bh (3H) */
    size_t nparams;
} gru;

/* 0 or ERR_INVALID_ARGUMENT (in or hidden < 1). */
int    gru_init(gru *g, int in, int hidden);
/* Floats the forward caches per step: (batch, 6H). */
size_t gru_cache_size(const gru *g, int batch);
/* Floats of scratch gru_backward needs: (batch, 6H). */
size_t gru_scratch_size(const gru *g, int batch);
/* Wx, Wh ~ U(-scale/sqrt(H), scale/sqrt(H)) (PyTorch's default at scale 1);
 * biases 0. */
void   gru_init_params(const gru *g, float *params, rng *r, float scale);
/* h (batch, H) from x (batch, in) and h_prev (batch, H).  h may not alias h_prev. */
void   gru_forward(const gru *g, float *h, float *cache, const float *params,
                   const float *x, const float *h_prev, int batch);
/* From dh = dL/dh of this step: dparams +=, dx += (batch, in), dh_prev +=
 * (batch, H).  cache, x, h_prev as given to the forward. */
void   gru_backward(const gru *g, float *dparams, float *dx, float *dh_prev, float *scratch,
                    const float *dh, const float *cache, const float *params,
                    const float *x, const float *h_prev, int batch);

#endif
