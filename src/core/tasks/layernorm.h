/* layernorm.h — layer normalisation over the last axis, as a
 * forward/backward pair in the conventions of layers.h (outputs first,
 * backward ACCUMULATES into its d-outputs, any d-output may be NULL).
 *
 * For each of `rows` vectors x (dim floats):
 *   mu = mean(x),  var = mean((x - mu)^2)  (biased),  rstd = 1/sqrt(var + LAYERNORM_EPS)
 *   xhat = (x - mu) * rstd,   y = gain * xhat + bias
 * gain and bias are (dim) vectors; gain == NULL means all ones, bias == NULL
 * all zeros (a LayerNorm without affine parameters).
 *
 * The forward writes (mean, rstd) of every row into `cache`
 * (layernorm_cache_size floats); the backward needs that cache and the
 * forward's input x.  y may not alias x.  Statistics are accumulated in
 * double, so a row with a large common offset still normalises correctly.
 *
 * Nothing here allocates or keeps state: thread-safe on unshared buffers. */
#ifndef OPTIRS_LAYERNORM_H
#define OPTIRS_LAYERNORM_H

#include <stddef.h>

#define LAYERNORM_EPS 1e-5f

/* Floats of the cache for `rows` rows: 2 * rows (mean, rstd). */
size_t layernorm_cache_size(int rows);
/* y (rows, dim) = LayerNorm(x) as above; cache receives mean and rstd. */
void   layernorm_forward(float *y, float *cache, const float *x, const float *gain,
                         const float *bias, int rows, int dim);
/* From dy = dL/dy:  dx += dL/dx (rows, dim);  dgain += sum_rows dy * xhat;
 * dbias += sum_rows dy.  x, cache, gain as given to the forward (gain NULL =
 * ones; dgain/dbias are ignored when NULL). */
void   layernorm_backward(float *dx, float *dgain, float *dbias, const float *dy,
                          const float *x, const float *cache, const float *gain,
                          int rows, int dim);

#endif
