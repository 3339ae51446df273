/* gather.h — the gradients of a shared session's step, gathered from its K
 * workers before the step is applied once with their mean.
 *
 * Each worker has one slot per step, found by its name: a worker that sends
 * the step again (a retry after a lost connection) overwrites its own slot.
 * A worker whose gradients were non-finite under the skip policy sends
 * zeros and marks its slot skipped; one skipped slot skips the whole step.
 * Losses are averaged over the workers that sent a finite one.
 * Ownership: gather_init allocates, gather_deinit frees.
 * Thread rules: none of its own; the session's mutex guards it. */
#ifndef OPTIRS_GATHER_H
#define OPTIRS_GATHER_H

#include <stddef.h>
#include <stdint.h>

#define GATHER_WORKER_MAX 64      /* a worker's name, with its NUL */

typedef struct gather {
    int      K;                   /* workers of the session */
    size_t   n;                   /* parameters */
    int      npend;               /* slots filled for step `step` (0: none) */
    int64_t  step;                /* the step being gathered */
    float   *grads;               /* (K, n); after gather_mean, row 0 is the mean */
    char   (*worker)[GATHER_WORKER_MAX];
    double  *loss;                /* (K) NAN when that worker sent none */
    int     *skip;                /* (K) */
} gather;

/* 0 or ERR_NO_MEMORY (g is then deinit-able). */
int  gather_init(gather *g, int K, size_t n);
void gather_deinit(gather *g);
/* The slot of `worker` for the current step, a new one if it has none
 * (npend grows).  *existed: 1 when the worker had a slot already.  The
 * caller checks the step and that npend < K before adding a new worker. */
int  gather_slot(gather *g, const char *worker, int *existed);
/* Fills slot j: grads (n floats; ignored when skip) and loss. */
void gather_put(gather *g, int j, const float *grads, double loss, int skip);
/* 1 when every worker has sent the step. */
int  gather_full(const gather *g);
/* Combines the K slots: row 0 of grads becomes their mean, *loss the mean of
 * the finite losses (NAN: none), *any_skip 1 when a slot was skipped.
 * Returns the mean (g->grads). */
float *gather_mean(gather *g, double *loss, int *any_skip);
/* The mean of the npend filled slots into out (n doubles), summed in the
 * byte order of the workers' names (strcmp), not in arrival order: the
 * result does not depend on the order the slots came in.  The slots are
 * left as they were.  0, or ERR_INVALID_ARGUMENT when no slot is filled. */
int  gather_mean_by_name(const gather *g, double *out);
/* Forgets the step being gathered (npend = 0). */
void gather_clear(gather *g);

#endif
