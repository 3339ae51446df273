/* opt_hybrid.h — `hybrid`: a learned optimizer (mlp_lopt) and a classic one
 * (Adam) run on the same gradients, their updates mixed with weights that
 * adapt online by exponential weights with fixed share.
 *
 * Each step t the two components (two nested `opt` instances, stepped through
 * their own vtbl, so no optimizer code is duplicated) propose u_L,t and u_C,t
 * from the same (already clipped) gradients and parameters, and the update is
 *     u_t = w_L·u_L,t + w_C·u_C,t,   w_L + w_C = 1,  w_k >= share/2.
 * At step t+1 the new gradient g_{t+1} (at the parameters u_t produced) gives
 * each component the reward
 *     r_k = −g_{t+1}·u_k,t  = −∂L(x_t + w_L u_L,t + w_C u_C,t)/∂w_k,
 * the first-order loss improvement of k's step seen from where the mixed step
 * landed (it penalises a component whose step overshoots).  Rewards are
 * divided by a running scale (an EMA with decay 0.9 of max_k |r_k|, started
 * at the first non-zero value) and clipped to [−1, 1]; then
 *     v_k ∝ w_k·exp(eta·r̂_k),   w = (1 − share)·v + share/2
 * (Herbster–Warmuth fixed share, applied to the stored weights, so a
 * component that fell behind recovers within O(log(2/share)/eta) steps once
 * it does better).  Only gradients of steps already taken are used.
 *
 * Learning rates: Adam runs at the session's scheduled lr; the learned part at
 * lo_scale × (its meta-trained step) × (scheduled lr / lr), i.e. the schedule's
 * warmup/decay shape applies to both, the base lr only to Adam.  The learned
 * part's weights come from opt_config.weights or, absent, the record named
 * "mlp_lopt", else mlp_lopt's default init (lopt_weights_resolve): so opt_init
 * of a hybrid reads the named-weights table like any learned optimizer (the
 * caller serialises it, see lopt.h); opt_load never reads the table (the
 * state carries the learned part's theta).
 *
 * lopt_opt_weights(hybrid) returns NULL (a hybrid is not itself a learned
 * optimizer and meta-training does not train it); opt_hybrid_learned gives
 * the inner mlp_lopt, whose weights lopt_opt_weights returns.
 *
 * The state (opt_save) holds the mixing weight, the reward scale and last
 * rewards, the previous component updates (needed for the next reward) and
 * both components' states with their step counts, so a restored hybrid
 * continues bit for bit.  A failed load leaves the state unchanged.  A step
 * whose component update is not finite returns ERR_NON_FINITE_UPDATE and
 * leaves the hybrid's own state (weights, stored proposals) unchanged; the
 * components' states may have advanced, as opt.h allows (sessions restore
 * their snapshot).
 *
 * Memory: the components' states (Adam 2n floats, mlp_lopt ~5n) plus 3n
 * floats (the stored proposals and one scratch vector).
 *
 * Diagnostics (opt_diag): mix_learned, mix_classic (the weights of the last
 * update), reward_learned, reward_classic (the normalised rewards that set
 * them), reward_scale.
 *
 * Thread rules: as opt.h. */
#ifndef OPTIRS_OPT_HYBRID_H
#define OPTIRS_OPT_HYBRID_H

#include "opt.h"

extern const opt_vtbl opt_hybrid_vtbl;

/* The inner learned (mlp_lopt) / classic (adam) optimizer of a hybrid `o`,
 * or NULL when o is not a hybrid.  Owned by o; valid until o's next
 * opt_load or opt_deinit.  For reading (and for writing the learned part's
 * theta between steps, as lopt_opt_weights allows); stepping or loading it
 * directly desynchronises the hybrid. */
opt *opt_hybrid_learned(opt *o);
opt *opt_hybrid_classic(opt *o);

#endif
