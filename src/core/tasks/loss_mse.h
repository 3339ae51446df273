/* loss_mse.h — mean squared error as a forward/backward pair, in the
 * conventions of layers.h (the backward ACCUMULATES into dpred).
 *
 * mse = (1/n) sum_i (pred_i - target_i)^2 over the n values (a batch of
 * rows flattened: the mean is over rows and features together).  The sum
 * is taken in double.  Non-finite values give NAN.  Pure, no allocation. */
#ifndef OPTIRS_LOSS_MSE_H
#define OPTIRS_LOSS_MSE_H

#include <stddef.h>

double loss_mse_forward(const float *pred, const float *target, size_t n);
/* dpred += dloss * 2 (pred - target) / n. */
void   loss_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);

#endif
