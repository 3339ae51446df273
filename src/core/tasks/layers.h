/* layers.h — neural-network layers as adjacent forward/backward pairs.
 *
 * Conventions (llm.c style): arguments go outputs, inputs, weights, sizes.
 * Tensors are float32, row-major; a batch of vectors is (batch, features).
 * A linear layer computes y = x W + b with W of shape (in, out).  Every
 * backward ACCUMULATES (+=) into its d-prefixed outputs, so the caller zeroes
 * gradient buffers once per step; any d-output may be NULL when not needed.
 * Forward functions save nothing on their own: what a backward needs is
 * either an argument the caller keeps (inputs) or written by the forward into
 * a caller-provided cache whose size a *_size function gives.
 *
 * Models keep every parameter in ONE flat float block; a small struct holds
 * the offsets of each tensor (mlp, lstm below).  Products go through
 * cblas_sgemm when the sizes warrant it and through plain loops otherwise;
 * both paths give the same results within float rounding.
 *
 * Nothing here allocates, does I/O or keeps global state: safe from any
 * thread as long as buffers are not shared. */
#ifndef OPTIRS_LAYERS_H
#define OPTIRS_LAYERS_H

#include <stddef.h>
#include "rng.h"

typedef enum { ACT_IDENTITY = 0, ACT_RELU = 1, ACT_TANH = 2, ACT_GELU = 3 } act_kind;

/* "identity" | "relu" | "tanh" | "gelu" → act_kind; -1 when unknown. */
int         layer_act_parse(const char *s);
const char *layer_act_name(int a);     /* "?" when unknown */

/* ---- linear: y (batch,out) = x (batch,in) W (in,out) + b (out) ---------- */
/* b may be NULL (no bias).  Overwrites y. */
void layer_linear_forward(float *y, const float *x, const float *w, const float *b,
                          int batch, int in, int out);
/* dx (batch,in) += dy W^T;  dw (in,out) += x^T dy;  db (out) += sum_rows dy. */
void layer_linear_backward(float *dx, float *dw, float *db, const float *dy,
                           const float *x, const float *w, int batch, int in, int out);

/* ---- activations (elementwise, n values) -------------------------------- */
/* y may equal x.  GELU is the tanh approximation
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void layer_act_forward(float *y, const float *x, size_t n, int a);
/* dx += dy * f'(x); x is the activation's input. */
void layer_act_backward(float *dx, const float *dy, const float *x, size_t n, int a);

/* ---- MLP: linear, act, linear, act, …, linear (last layer linear) -------
 * With layernorm on, every hidden layer is linear -> LayerNorm (layernorm.h,
 * learnable gain and bias) -> act; the output layer stays plain linear.
 * With it off the block, the cache and every result are those of the plain
 * MLP, bit for bit. */
#define MLP_MAX_LAYERS 16

typedef struct mlp {
    int    nlayers;                    /* linear layers (>= 1) */
    int    sizes[MLP_MAX_LAYERS + 1];  /* sizes[0] inputs … sizes[nlayers] outputs */
    int    act;                        /* act_kind of every hidden layer */
    int    layernorm;                  /* 1: LayerNorm after every hidden linear layer */
    size_t w_off[MLP_MAX_LAYERS];      /* W_l (sizes[l], sizes[l+1]) in the block */
    size_t b_off[MLP_MAX_LAYERS];      /* b_l (sizes[l+1]) */
    size_t g_off[MLP_MAX_LAYERS];      /* layernorm: hidden layer l's LayerNorm gain (sizes[l+1]), after b_l */
    size_t nb_off[MLP_MAX_LAYERS];     /* layernorm: its LayerNorm bias (sizes[l+1]), after the gain */
    size_t nparams;                    /* floats in the parameter block */
} mlp;

/* Describes an MLP with `nlayers` linear layers and sizes[0..nlayers] (no
 * LayerNorm).  Returns 0 or ERR_INVALID_ARGUMENT (bad count, a size < 1,
 * unknown act). */
int    layer_mlp_init(mlp *m, int nlayers, const int *sizes, int act);
/* The same with layernorm 0 (= layer_mlp_init) or 1 (a LayerNorm after every
 * hidden linear layer); ERR_INVALID_ARGUMENT for any other layernorm too. */
int    layer_mlp_init_ln(mlp *m, int nlayers, const int *sizes, int act, int layernorm);
/* Floats of the activation cache for a batch (pre- and post-activations,
 * and with layernorm the LayerNorm outputs and row statistics). */
size_t layer_mlp_cache_size(const mlp *m, int batch);
/* Floats of scratch layer_mlp_backward needs for a batch. */
size_t layer_mlp_scratch_size(const mlp *m, int batch);
/* W_l ~ N(0, scale^2 * 2/fan_in) for relu/gelu, N(0, scale^2/fan_in)
 * otherwise; biases 0; LayerNorm gains 1 and biases 0 (they draw nothing
 * from r, so the weights are those of the same MLP without LayerNorm). */
void   layer_mlp_init_params(const mlp *m, float *params, rng *r, float scale);
/* out (batch, sizes[nlayers]) = MLP(x); cache receives every layer's
 * pre-activation and post-activation for layer_mlp_backward. */
void   layer_mlp_forward(const mlp *m, float *out, float *cache, const float *params,
                         const float *x, int batch);
/* dparams += dL/dparams, dx (batch, sizes[0]) += dL/dx (dx may be NULL),
 * from dout = dL/dout; cache from the matching forward. */
void   layer_mlp_backward(const mlp *m, float *dparams, float *dx, float *scratch,
                          const float *dout, const float *cache, const float *params,
                          const float *x, int batch);

/* ---- LSTM cell ----------------------------------------------------------
 * a = x Wx + h_prev Wh + b  (batch, 4H), gate blocks in the order i, f, g, o:
 * i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o);
 * c = f*c_prev + i*g;  h = o*tanh(c). */
typedef struct lstm {
    int    in, hidden;
    size_t wx_off;    /* Wx (in, 4H) */
    size_t wh_off;    /* Wh (H, 4H) */
    size_t b_off;     /* b (4H) */
    size_t nparams;
} lstm;

/* 0 or ERR_INVALID_ARGUMENT. */
int    layer_lstm_init(lstm *l, int in, int hidden);
/* Floats the forward caches per call: gates (batch,4H) and tanh(c) (batch,H). */
size_t layer_lstm_cache_size(const lstm *l, int batch);
/* Floats of scratch layer_lstm_backward needs: (batch, 4H). */
size_t layer_lstm_scratch_size(const lstm *l, int batch);
/* Wx, Wh ~ U(-scale/sqrt(H), scale/sqrt(H)); b = 0 except the forget gate
 * bias = forget_bias. */
void   layer_lstm_init_params(const lstm *l, float *params, rng *r, float scale, float forget_bias);
/* h, c (batch, H) from x (batch, in), h_prev, c_prev (batch, H). */
void   layer_lstm_forward(const lstm *l, float *h, float *c, float *cache, const float *params,
                          const float *x, const float *h_prev, const float *c_prev, int batch);
/* From dh, dc = dL/dh, dL/dc of this step's outputs (dc may be NULL = 0):
 * dparams +=, dx += (batch,in), dh_prev +=, dc_prev += (batch,H); any d-output
 * may be NULL.  cache, x, h_prev, c_prev as given to the forward. */
void   layer_lstm_backward(const lstm *l, float *dparams, float *dx, float *dh_prev, float *dc_prev,
                           float *scratch, const float *dh, const float *dc, const float *cache,
                           const float *params, const float *x, const float *h_prev,
                           const float *c_prev, int batch);

/* ---- softmax cross-entropy ---------------------------------------------- */
/* Mean over the batch of -log softmax(logits)[label]; writes probs (batch,
 * classes) for the backward.  Labels outside [0, classes) or non-finite
 * logits give NAN. */
double layer_softmax_xent_forward(float *probs, const float *logits, const int *labels,
                                  int batch, int classes);
/* dlogits += dloss * (probs - onehot(label)) / batch. */
void   layer_softmax_xent_backward(float *dlogits, const float *probs, const int *labels,
                                   int batch, int classes, float dloss);

#endif
