/* attention.h — causal multi-head scaled dot-product self-attention as a
 * forward/backward pair, in the conventions of layers.h (outputs first; the
 * backward ACCUMULATES into dqkv; the caller keeps the input).
 *
 * The projections are not part of this layer: the caller computes
 * qkv = x Wqkv + b (a linear layer) and projects the output itself, as in
 * llm.c.  Shapes: qkv (batch, T, 3C) with q in columns [0, C), k in [C, 2C),
 * v in [2C, 3C); head h of `heads` uses columns [h*D, (h+1)*D) of each,
 * D = C / heads (heads must divide C).  For every batch row, head and
 * position t:
 *   s[t][u] = q_t . k_u / sqrt(D)   for u <= t (causal: later positions masked)
 *   P[t]    = softmax_u s[t][u],     out_t = sum_{u<=t} P[t][u] v_u
 * out is (batch, T, C), heads side by side.  The forward keeps P in
 * `cache` (attention_cache_size floats: batch*heads*T*T, the masked upper
 * triangle stored as 0).  Loops, not BLAS: T and D are small here.
 *
 * Nothing allocates or keeps state: thread-safe on unshared buffers. */
#ifndef OPTIRS_ATTENTION_H
#define OPTIRS_ATTENTION_H

#include <stddef.h>

/* Floats of the cache: batch * heads * T * T. */
size_t attention_cache_size(int batch, int T, int heads);
/* out (batch, T, C) from qkv (batch, T, 3C); C % heads == 0, heads >= 1. */
void   attention_forward(float *out, float *cache, const float *qkv,
                         int batch, int T, int C, int heads);
/* dqkv (batch, T, 3C) += dL/dqkv from dout = dL/dout (batch, T, C); qkv and
 * cache as given to / written by the forward. */
void   attention_backward(float *dqkv, const float *dout, const float *qkv, const float *cache,
                          int batch, int T, int C, int heads);

/* The same without the mask (every position sees every position: u < T),
 * for attention over a set rather than a sequence (attn_lopt's tokens);
 * P is then full.  Same shapes, cache and accumulation rules. */
void   attention_full_forward(float *out, float *cache, const float *qkv,
                              int batch, int T, int C, int heads);
void   attention_full_backward(float *dqkv, const float *dout, const float *qkv, const float *cache,
                               int batch, int T, int C, int heads);

#endif
