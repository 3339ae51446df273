/* synth_teacher.h — seeded synthetic tabular data labelled by a random
 * teacher network, for the tabular MLP families (mlp_regression, deep_mlp).
 *
 * From `seed`: rows x ~ N(0, I_dim); a teacher mlp (layers.h) dim -> 32
 * tanh -> ydim with W ~ N(0, 1/fan_in) and biases ~ N(0, 0.1^2) maps each
 * row to ydim outputs; targets y = teacher(x) + noise * N(0,1) per value.
 * The first n rows are the training split, the next ne rows the held-out
 * split (drawn the same way, never seen by loss_grad).  Classification
 * labels, where a family wants them, are argmax over the ydim outputs
 * (synth_argmax).  The same (seed, sizes, noise) give the same data bit
 * for bit.  Memory is checked before allocating (tasks_arena.h). */
#ifndef OPTIRS_SYNTH_TEACHER_H
#define OPTIRS_SYNTH_TEACHER_H

#include <stdint.h>
#include "rng.h"

#define SYNTH_TEACHER_HIDDEN 32

typedef struct synth_set {
    int    dim, ydim;   /* features, target columns */
    int    n, ne;       /* training rows, held-out rows */
    void  *block;
    float *x, *y;       /* (n+ne, dim), (n+ne, ydim): training rows first */
} synth_set;

/* Fills s (allocates).  0, ERR_OUT_OF_RANGE (a size < 1 or too much memory;
 * message names `family`) or ERR_NO_MEMORY. */
int  synth_teacher_make(synth_set *s, const char *family, uint64_t seed, int dim, int ydim,
                        int n, int ne, double noise);
void synth_free(synth_set *s);
/* `batch` training rows drawn with replacement (rng_below(r, n) each, in
 * order): xb (batch, dim), yb (batch, ydim). */
void synth_sample(const synth_set *s, int batch, rng *r, float *xb, float *yb);
/* labels[i] = argmax_j y[i*ydim + j] for `rows` rows (first index on ties). */
void synth_argmax(const float *y, int rows, int ydim, int *labels);

#endif
