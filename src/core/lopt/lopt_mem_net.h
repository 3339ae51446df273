/* lopt_mem_net.h — mem_lopt's network: the memory read's projections and a
 * per-tensor MLP head, as a forward/backward pair (the optimizer,
 * lopt_mem.c, runs the forward; the backward exists for the gradcheck —
 * mem_lopt is meta-trained by ES/PES, which needs none).
 *
 * Per step: key (LOPT_MEM_NKEY, the whole model's summary), read =
 * lopt_memory_read(memory, Wq, Wk, key) (LOPT_MEM_NVAL; 0 with reads off);
 * for each tensor j, x_j = [its features (LOPT_MEM_NTF) | key | read]
 * (LOPT_MEM_NIN), then
 *   h_1 = tanh(W_1 x_j + b_1), h_l = tanh(W_l h_{l−1} + b_l) (H units, D layers),
 *   out_j = W_o h_D + b_o   (2: log step scale, momentum mix before tanh).
 *
 * theta layout (lopt_mem_theta_count floats): Wq (DK, NKEY), Wk (DK, NKEY),
 * W_1 (H, NIN), b_1 (H), W_l (H, H), b_l (H) for l = 2..D, W_o (2, H), b_o (2);
 * every matrix row-major (out, in).  Default init (lopt_mem_init_params):
 * Wq, Wk ~ N(0, 1/NKEY), W_l ~ N(0, 1/fan_in), W_o ~ N(0, 0.01²/H), biases 0
 * — out ≈ 0: the untrained optimizer is Adam(lr) with scales near 1.
 *
 * Nothing allocates; the forward keeps the hidden activations in `cache`
 * (lopt_mem_cache_size floats), the backward ACCUMULATES into dtheta and
 * writes dx (T, NIN) (for the read's share, fed to
 * lopt_memory_read_backward); scratch: lopt_mem_scratch_size floats. */
#ifndef OPTIRS_LOPT_MEM_NET_H
#define OPTIRS_LOPT_MEM_NET_H

#include <stddef.h>
#include "lopt.h"
#include "lopt_memory.h"
#include "rng.h"

#define LOPT_MEM_NTF  6     /* per-tensor features (lopt_mem.c) */
#define LOPT_MEM_NIN  (LOPT_MEM_NTF + LOPT_MEM_NKEY + LOPT_MEM_NVAL)
#define LOPT_MEM_NOUT 2

typedef struct lopt_mem_off {
    size_t wq, wk, w[LOPT_MAX_DEPTH], b[LOPT_MAX_DEPTH], wo, bo, n;
} lopt_mem_off;

/* 0 when H or D is out of range. */
size_t lopt_mem_theta_count(int H, int D);
void   lopt_mem_offsets(int H, int D, lopt_mem_off *o);
size_t lopt_mem_cache_size(int H, int D, int T);
size_t lopt_mem_scratch_size(int H);
void   lopt_mem_init_params(float *theta, int H, int D, rng *r);
/* out (T, 2) from x (T, NIN). */
void   lopt_mem_head_forward(const float *theta, int H, int D, int T, const float *x, float *cache, float *out);
/* dtheta += d(Σ dout·out)/dtheta; dx (T, NIN) = d/dx (written; may be NULL). */
void   lopt_mem_head_backward(const float *theta, int H, int D, int T, const float *x, const float *cache,
                              const float *dout, float *dtheta, float *dx, float *scratch);

#endif
