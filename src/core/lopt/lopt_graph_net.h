/* lopt_graph_net.h — graph_lopt's network: message passing over the model's
 * tensor graph (one node per tensor, one edge per declared input), as a
 * forward/backward pair (the optimizer, lopt_graph.c, runs the forward; the
 * backward exists for the gradcheck and for gradient-based meta-training).
 *
 * Shapes: H = hidden, R = rounds, nn nodes, ne edges (src[e] -> dst[e]),
 * input x (nn, LOPT_GRAPH_NIN), output out (nn, 2).  x W below is a row
 * vector times a (in, out) matrix, as in layers.h.
 *   h⁰_j = tanh(x_j We + be)                               (embedding)
 *   round r = 0..R−1, with the global node ḡ = mean_j hʳ_j:
 *     f_e = tanh([hʳ_src, hʳ_dst] Wf + bf)   message along the edge
 *     b_e = tanh([hʳ_dst, hʳ_src] Wb + bb)   message against the edge
 *     a_j = Σ_{e: dst=j} f_e / indeg_j,   c_j = Σ_{e: src=j} b_e / outdeg_j
 *           (means; 0 without such edges)
 *     hʳ⁺¹_j = hʳ_j + tanh([hʳ_j, a_j, c_j, ḡ] Wu + bu)       (residual)
 *   out_j = [hᴿ_j, mean_k hᴿ_k] Wr + br
 * Every round has its own Wf, bf, Wb, bb, Wu, bu.  With ne = 0 (isolated
 * nodes) a_j = c_j = 0: the nodes still see the global mean.
 *
 * theta layout (lopt_graph_theta_count floats): We (NIN, H), be (H), then per
 * round Wf (2H, H), bf (H), Wb (2H, H), bb (H), Wu (4H, H), bu (H); then
 * Wr (2H, 2), br (2).
 *
 * The forward keeps its activations in `cache` (lopt_graph_cache_size
 * floats); the backward needs it and `scratch` (lopt_graph_scratch_size) and
 * ACCUMULATES into dtheta.  Nothing allocates: thread-safe on unshared
 * buffers.  Cost per forward: about 4·R·(ne + nn)·H² multiply-adds (two
 * messages of 2H·H per edge, one update of 4H·H per node, per round). */
#ifndef OPTIRS_LOPT_GRAPH_NET_H
#define OPTIRS_LOPT_GRAPH_NET_H

#include <stddef.h>
#include "rng.h"

#define LOPT_GRAPH_NSTAT 10                    /* per-tensor statistics (lopt_graph.c) */
#define LOPT_GRAPH_NROLE 5                     /* role one-hot (layout.h's LAYOUT_NROLES) */
#define LOPT_GRAPH_NTIME 9                     /* time features (LOPT_NTIME) */
#define LOPT_GRAPH_NIN   (LOPT_GRAPH_NSTAT + LOPT_GRAPH_NROLE + LOPT_GRAPH_NTIME)
#define LOPT_GRAPH_NOUT  2

/* The graph as the network reads it: edges src[e] -> dst[e], and per node
 * 1/indeg and 1/outdeg (0 for a node without such edges). */
typedef struct lopt_graph_topo {
    int nn, ne;
    const int *src, *dst;
    const float *inv_in, *inv_out;
} lopt_graph_topo;

size_t lopt_graph_theta_count(int H, int R);
size_t lopt_graph_cache_size(int H, int R, int nn, int ne);
size_t lopt_graph_scratch_size(int H, int nn);
/* Default init: We ~ N(0, 1/NIN), Wf, Wb ~ N(0, 1/(2H)), Wu ~ N(0, 1/(4H·R)),
 * Wr ~ N(0, 0.01²/(2H)), biases 0: the outputs start within a few hundredths
 * of 0 (lopt_graph.c: step scale ≈ 1, momentum mix ≈ 0, i.e. Adam). */
void   lopt_graph_init_params(float *theta, int H, int R, rng *r);
void   lopt_graph_forward(const float *theta, int H, int R, const lopt_graph_topo *g, const float *x,
                          float *cache, float *out);
/* dtheta += dLoss/dtheta from dout = dLoss/dout (nn, 2). */
void   lopt_graph_backward(const float *theta, int H, int R, const lopt_graph_topo *g, const float *x,
                           const float *cache, const float *dout, float *dtheta, float *scratch);

#endif
