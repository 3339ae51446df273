/* fsnet.h — the small regression network of few-shot meta-learning (MAML,
 * Meta-SGD, Reptile: fewshot.h) in double precision, with its gradient and
 * its exact Hessian-vector product.
 *
 * The network is linear, ReLU, linear, ReLU, …, linear (the last layer
 * linear), weights stored [in, out] as layers.h does (y = x·W + b).  Its
 * parameters are one flat block in tensor order l1.weight (sizes[0],
 * sizes[1]), l1.bias (sizes[1]), l2.weight, l2.bias, …  The loss is the
 * mean squared error over a batch of n points: (1/(n·out)) Σ (y − t)².
 *
 * fsnet_hvp is Pearlmutter's R-operator (forward-over-reverse) written out
 * for this network: H·v with H the Hessian of the batch loss at p.  ReLU's
 * second derivative is 0 away from its kink, so the product is exact
 * wherever no pre-activation is exactly 0 (a set of measure zero).
 *
 * Double precision throughout: the networks are tiny (1-40-40-1 has 1,761
 * parameters) and the meta-gradients are checked against finite
 * differences.  Nothing here allocates: every function takes a caller's
 * work buffer of fsnet_work_size(batch) doubles.  Pure, thread-safe on
 * distinct buffers. */
#ifndef OPTIRS_FSNET_H
#define OPTIRS_FSNET_H

#include <stddef.h>

#include "rng.h"

#define FSNET_MAX_LAYERS 4
#define FSNET_MAX_WIDTH  256

typedef struct fsnet {
    int    nlayers;                     /* linear layers, 1..FSNET_MAX_LAYERS */
    int    sizes[FSNET_MAX_LAYERS + 1]; /* sizes[0] inputs … sizes[nlayers] outputs */
    size_t w_off[FSNET_MAX_LAYERS];
    size_t b_off[FSNET_MAX_LAYERS];
    size_t nparams;
    size_t nact;                        /* sizes[1] + … + sizes[nlayers] */
    int    maxw;                        /* the widest layer */
} fsnet;

/* 0, or ERR_INVALID_ARGUMENT (a count or size out of range). */
int    fsnet_init(fsnet *n, int nlayers, const int *sizes);
/* Doubles of work every call below needs for a batch of `batch` points. */
size_t fsnet_work_size(const fsnet *n, int batch);
/* W_l ~ N(0, 2/fan_in) (He), biases 0. */
void   fsnet_init_params(const fsnet *n, double *p, rng *r);
/* out (batch, sizes[L]) = net(x); work as above. */
void   fsnet_forward(const fsnet *n, double *out, const double *p, const double *x, int batch, double *work);
/* The batch MSE at p. */
double fsnet_loss(const fsnet *n, const double *p, const double *x, const double *y, int batch, double *work);
/* g (nparams, overwritten) = ∇ loss at p; returns the loss. */
double fsnet_grad(const fsnet *n, const double *p, const double *x, const double *y, int batch, double *g,
                  double *work);
/* hv (nparams, overwritten) = H v, H = ∇² loss at p; returns the loss. */
double fsnet_hvp(const fsnet *n, const double *p, const double *x, const double *y, int batch, const double *v,
                 double *hv, double *work);
/* Tensor t's name ("l1.weight", "l1.bias", …) into buf and its shape;
 * returns its rank (2 or 1), or 0 when t >= 2·nlayers. */
int    fsnet_tensor(const fsnet *n, int t, char *buf, size_t cap, int shape[2]);

#endif
