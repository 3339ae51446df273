/* meta_outer.h — the outer (meta-) update of first-order meta-learning, written
 * once for the in-daemon few-shot jobs (fewshot.c) and the meta-sessions of
 * clients' own models (service/metasess.c).
 *
 * Given the averaged outer gradient g of a meta-batch (Reptile: θ − θ_N;
 * FOMAML: ∇L_q(θ_N)), one outer step updates θ in place:
 *   SGD   θ ← θ − lr·g
 *   Adam  m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², with bias corrections
 *         c1 = 1 − β1^t, c2 = 1 − β2^t at the step's number t (1, 2, …):
 *         θ ← θ − lr·(m/c1) / (√(v/c2) + ε); β1 0.9, β2 0.999, ε 1e-8.
 * The caller checks g is finite first: a non-finite g is not applied.
 * Pure computation: no I/O, no allocation, no global state. */
#ifndef OPTIRS_META_OUTER_H
#define OPTIRS_META_OUTER_H

#include <stddef.h>
#include <stdint.h>

enum { META_OUTER_SGD = 0, META_OUTER_ADAM = 1 };

/* "sgd", "adam"; NULL past the end.  The reverse: -1 when unknown. */
const char *meta_outer_name(int opt);
int         meta_outer_from_name(const char *name);

/* θ ← θ − lr·g (n values). */
void meta_outer_sgd(double *theta, const double *g, size_t n, double lr);
/* One Adam step number t (≥ 1) with moments m and v (n values each, zero
 * before the first step). */
void meta_outer_adam(double *theta, double *m, double *v, const double *g, size_t n, double lr, int64_t t);

#endif
