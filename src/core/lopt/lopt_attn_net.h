/* lopt_attn_net.h — attn_lopt's network: a small pre-LayerNorm transformer
 * encoder over a set of T tokens, as a forward/backward pair (the
 * optimizer, lopt_attn.c, runs the forward; the backward exists for the
 * gradcheck and for gradient-based meta-training later).
 *
 * Shapes: H = hidden (width), L = layers, NH = heads (NH divides H),
 * input x (T, LOPT_ATTN_NIN), output out (T, 2).
 *   z   = x We + be                                   (embedding)
 *   per layer:  z += Wo attn(LN1(z) Wqkv + bqkv) + bo  (attention over all T
 *                                                     tokens, no mask)
 *               z += W2 gelu(LN2(z) W1 + b1) + b2      (MLP hidden 2H)
 *   out = LNf(z) Wr + br
 * attn is attention.h's unmasked multi-head softmax(QKᵀ/√(H/NH)) V.
 *
 * theta layout (lopt_attn_theta_count floats): We (NIN, H), be (H), then
 * per layer ln1g (H), ln1b (H), Wqkv (H, 3H), bqkv (3H), Wo (H, H), bo (H),
 * ln2g (H), ln2b (H), W1 (H, 2H), b1 (2H), W2 (2H, H), b2 (H); then lnfg
 * (H), lnfb (H), Wr (H, 2), br (2).  The length does not depend on NH or T.
 *
 * The forward keeps every activation in `cache` (lopt_attn_cache_size
 * floats); the backward needs it and `scratch` (lopt_attn_scratch_size
 * floats) and ACCUMULATES into dtheta.  Nothing allocates: thread-safe on
 * unshared buffers. */
#ifndef OPTIRS_LOPT_ATTN_NET_H
#define OPTIRS_LOPT_ATTN_NET_H

#include <stddef.h>
#include "lopt.h"
#include "rng.h"

#define LOPT_ATTN_NSTAT 6                              /* per-tensor statistics of a step (lopt_attn.c) */
#define LOPT_ATTN_NIN   (LOPT_ATTN_NSTAT + 1 + LOPT_NTIME)   /* + age + time features */
#define LOPT_ATTN_NOUT  2
#define LOPT_ATTN_MAX_HEADS 16
#define LOPT_ATTN_MAX_SEQ   16                         /* sequence_length bound */
#define LOPT_ATTN_MAX_TOKENS 512                       /* tensors x sequence_length bound */

size_t lopt_attn_theta_count(int H, int L);
/* Offsets in theta of the layout above (for recorders that walk it, e.g.
 * meta_tbptt.c): per layer, blk[l][LOPT_ATTN_*] in theta order. */
enum { LOPT_ATTN_LN1G, LOPT_ATTN_LN1B, LOPT_ATTN_WQKV, LOPT_ATTN_BQKV, LOPT_ATTN_WO, LOPT_ATTN_BO,
       LOPT_ATTN_LN2G, LOPT_ATTN_LN2B, LOPT_ATTN_W1, LOPT_ATTN_B1, LOPT_ATTN_W2, LOPT_ATTN_B2, LOPT_ATTN_NBLK };
typedef struct lopt_attn_off {
    size_t we, be, blk[LOPT_MAX_DEPTH][LOPT_ATTN_NBLK], lnfg, lnfb, wr, br, n;
} lopt_attn_off;
void   lopt_attn_offsets(int H, int L, lopt_attn_off *o);
/* Floats of the forward cache and of the backward's scratch. */
size_t lopt_attn_cache_size(int H, int L, int NH, int T);
size_t lopt_attn_scratch_size(int H, int T);
/* The documented default initialisation (lopt_attn.c's header): We, Wqkv,
 * W1 ~ N(0, 1/fan_in), Wo, W2 ~ N(0, 1/(fan_in · 2L)), Wr ~ N(0, 0.01²/H),
 * LayerNorm gains 1, every bias 0. */
void   lopt_attn_init_params(float *theta, int H, int L, rng *r);
void   lopt_attn_forward(const float *theta, int H, int L, int NH, int T, const float *x, float *cache,
                         float *out);
/* dtheta += dLoss/dtheta from dout = dLoss/dout (T, 2); x and cache as given
 * to / written by the forward. */
void   lopt_attn_backward(const float *theta, int H, int L, int NH, int T, const float *x, const float *cache,
                          const float *dout, float *dtheta, float *scratch);

#endif
