/* layers_conv.h — convolution and pooling layers for image tasks, as
 * adjacent forward/backward pairs in the conventions of layers.h (outputs,
 * inputs, weights, sizes; every backward ACCUMULATES into its d-outputs;
 * any d-output may be NULL; nothing allocates, does I/O or keeps state).
 *
 * Images are NHWC: a batch is (batch, h, w, c) floats, row-major, channels
 * last.  With channels last, im2col of a whole batch is one
 * (batch*h*w, k*k*cin) matrix and the convolution is ONE linear layer on it
 * (layer_linear_forward / layer_linear_backward of layers.h, which use cblas_sgemm when
 * the sizes warrant it): the filter is a (k*k*cin, cout) matrix whose row
 * index is (ky*k + kx)*cin + ci, the same order im2col writes.
 *
 * conv2d: stride 1, odd kernel k, 'same' zero padding (k/2 on every side),
 *   so the output is (batch, h, w, cout).  Parameters in one block:
 *   W (k*k*cin, cout) at w_off, then b (cout) at b_off.
 * maxpool2: 2x2 windows, stride 2, h and w even; output (batch, h/2, w/2, c).
 *   Ties go to the first element of the window in row-major order.
 * gap: global average pool, (batch, h, w, c) -> (batch, c). */
#ifndef OPTIRS_LAYERS_CONV_H
#define OPTIRS_LAYERS_CONV_H

#include <stddef.h>
#include "rng.h"

typedef struct conv2d {
    int    h, w, cin, cout, k;
    size_t w_off;    /* W (k*k*cin, cout) */
    size_t b_off;    /* b (cout) */
    size_t nparams;
} conv2d;

/* Describes a conv layer on h x w images.  0 or ERR_INVALID_ARGUMENT (a size
 * < 1, k even, or k*k*cin*cout or h*w*k*k*cin beyond INT_MAX). */
int    layer_conv2d_init(conv2d *c, int h, int w, int cin, int cout, int k);
/* Floats of the forward cache (the im2col matrix): batch*h*w*k*k*cin. */
size_t layer_conv2d_cache_size(const conv2d *c, int batch);
/* Floats of scratch layer_conv2d_backward needs when dx != NULL (same size). */
size_t layer_conv2d_scratch_size(const conv2d *c, int batch);
/* W ~ N(0, scale^2 * gain / (k*k*cin)) with gain 2 (He, for a following
 * relu) or 1; b = 0. */
void   layer_conv2d_init_params(const conv2d *c, float *params, rng *r, float scale, float gain);
/* y (batch, h, w, cout) from x (batch, h, w, cin); cache receives im2col(x). */
void   layer_conv2d_forward(const conv2d *c, float *y, float *cache, const float *params,
                      const float *x, int batch);
/* From dy (batch, h, w, cout): dparams += dW, db; dx (batch, h, w, cin) +=
 * (dx may be NULL; then scratch is unused and may be NULL). */
void   layer_conv2d_backward(const conv2d *c, float *dparams, float *dx, float *scratch,
                       const float *dy, const float *cache, const float *params, int batch);

/* y (batch, h/2, w/2, c); idx (same count) receives, for each output, the
 * offset in x of the maximum (kept for the backward). */
void   layer_maxpool2_forward(float *y, int *idx, const float *x, int batch, int h, int w, int c);
/* dx[idx[i]] += dy[i] for the batch*(h/2)*(w/2)*c outputs. */
void   layer_maxpool2_backward(float *dx, const float *dy, const int *idx, int batch, int h, int w, int c);

/* y (batch, c) = mean over the h*w positions of x (batch, h, w, c). */
void   layer_gap_forward(float *y, const float *x, int batch, int h, int w, int c);
/* dx (batch, h, w, c) += dy (batch, c) / (h*w). */
void   layer_gap_backward(float *dx, const float *dy, int batch, int h, int w, int c);

#endif
