/* fmnist_batch.h — Fashion-MNIST minibatches for the vision task families
 * (fmnist_mlp, conv_net, mlp_autoencoder): the data source lookup, one image
 * as floats, a random training minibatch and a run of test images.
 *
 * Images are side x side floats in [0,1], row-major (a single channel, so
 * the same array is an NHWC image with c = 1): side 8 is the bilinear
 * downsample the data source made once (task_fmnist_data.train8/test8),
 * side 28 the raw pixels / 255.  A minibatch draws each index with
 * rng_below(r, n_train) in order, so a family that uses this helper and a
 * seeded per-call rng gets the same batches as any other.  No I/O, no
 * allocation; the arrays are borrowed from the data source. */
#ifndef OPTIRS_FMNIST_BATCH_H
#define OPTIRS_FMNIST_BATCH_H

#include "tasks.h"

#define FMNIST_CLASSES 10

/* The Fashion-MNIST arrays of t's data source (t->p.data, at
 * t->p.data_path).  0, or ERR_NOT_FOUND (no source; message names `family`)
 * or the source's error. */
int  fmnist_open(const task *t, const char *family, const task_fmnist_data **out);
/* Image i of the training (test = 0) or test split into dst (side*side). */
void fmnist_image(const task_fmnist_data *d, int side, int test, int i, float *dst);
/* `batch` training images drawn with replacement from the first n_train:
 * x (batch, side*side); y (batch) their labels, or NULL. */
void fmnist_sample(const task_fmnist_data *d, int side, int n_train, int batch, rng *r,
                   float *x, int *y);
/* Test images i0 .. i0+m-1: x (m, side*side); y their labels, or NULL. */
void fmnist_test_rows(const task_fmnist_data *d, int side, int i0, int m, float *x, int *y);

#endif
