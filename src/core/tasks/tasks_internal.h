/* tasks_internal.h — helpers shared by tasks.c and the task_<family>.c
 * files; not part of the public task API.
 *
 * Each family file defines one `const task_family task_family_<name>` and
 * the table in tasks.c lists them.  The Fashion-MNIST cache lives in tasks.c:
 * loaded once per process under a mutex, then read-only for the process
 * lifetime (never freed; tasks only borrow pointers into it). */
#ifndef OPTIRS_TASKS_INTERNAL_H
#define OPTIRS_TASKS_INTERNAL_H

#include <math.h>
#include "tasks.h"

extern const task_family task_family_quadratic;
extern const task_family task_family_noisy_quadratic;
extern const task_family task_family_rosenbrock;
extern const task_family task_family_rastrigin;
extern const task_family task_family_styblinski_tang;
extern const task_family task_family_logistic_regression;
extern const task_family task_family_softmax_regression;
extern const task_family task_family_fmnist_mlp;
extern const task_family task_family_char_rnn;

/* Sets t->lay (layout_init, no parameter limit) and t->n from `ntensors`
 * named shapes; task_free releases it.  0 or layout_init's error. */
int  tasks_layout_set(task *t, int ntensors, const char *const *names, const int *ndims,
                      const int64_t (*shapes)[LAYOUT_MAX_DIMS]);
/* A single 1-D tensor called `name` of n elements. */
int  tasks_layout_flat(task *t, const char *name, size_t n);
/* g[i] += noise * N(0,1) when noise > 0. */
void tasks_add_noise(float *g, size_t n, double noise, rng *r);
/* The per-call stream of loss_grad: one draw from the caller's r. */
void tasks_call_rng(rng *caller, rng *out);
/* x when finite, else NAN. */
static inline double tasks_finite_or_nan(double x) { return isfinite(x) ? x : NAN; }
/* 1 when every g[i] is finite. */
int  tasks_all_finite(const float *g, size_t n);

/* Fashion-MNIST, loaded once (see tasks.h). */
typedef struct tasks_fmnist {
    int            n_train, n_test;
    const uint8_t *train_y, *test_y;   /* labels 0..9 */
    const uint8_t *train28, *test28;   /* (n, 784) raw pixels */
    const float   *train8, *test8;     /* (n, 64) bilinear 8x8 in [0,1] */
} tasks_fmnist;

/* Loads (first call) and returns the cache for directory `dir` (NULL =
 * TASKS_FMNIST_DIR).  0, ERR_NOT_FOUND, ERR_CORRUPT, ERR_NO_MEMORY, or
 * ERR_INVALID_ARGUMENT when already loaded from a different directory;
 * failures set tasks_set_error. */
int  tasks_fmnist_get(const char *dir, const tasks_fmnist **out);
/* Bilinear resize of one 28x28 byte image to side x side floats in [0,1],
 * half-pixel centres (align_corners = false). */
void tasks_bilinear_resize(float *dst, int side, const uint8_t *src, int src_side);

#endif
