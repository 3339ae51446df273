/* tasks_internal.h — helpers shared by tasks.c and the task_<family>.c
 * files; not part of the public task API.
 *
 * Each family file defines one `const task_family task_family_<name>` and
 * the table in tasks.c lists them.  Data families get their data from
 * task_params.data (see tasks.h). */
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
extern const task_family task_family_gru_classifier, task_family_lstm_classifier, task_family_transformer_lm;
extern const task_family task_family_conv_net;
extern const task_family task_family_mlp_autoencoder;
extern const task_family task_family_deep_mlp;
extern const task_family task_family_mlp_regression;
extern const task_family task_family_switch_quadratic;

/* Sets t->lay (layout_init, no parameter limit) and t->n from `ntensors`
 * named shapes; task_free releases it.  0 or layout_init's error.  The
 * layout's tensor graph (layout.h; graph_lopt reads it) is the layers' one:
 * a 1-D tensor right after a tensor of 2 or more dimensions whose first or
 * last dimension is its size is that tensor's bias, and the two form a
 * layer; any other tensor is a layer alone; every tensor of a layer takes
 * the tensors of the layer before as its inputs (the first layer none).
 * For the MLP families that is the true dataflow (W_l, b_l feed W_l+1,
 * b_l+1); for the others it is their tensors' order, grouped.  Roles: from
 * the shape (layout.h's default). */
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
/* The data source of a data family, or NULL after setting a message
 * naming `family`. */
const task_data *tasks_data(const task *t, const char *family);
/* A text family's text (tasks_text.c): bytes mapped to 0..vocab-1 in byte order, text[0, n_train)
 * trains (n_train = floor(0.9 n)), the rest is held out; each part has >= min_part bytes or it
 * fails with ERR_OUT_OF_RANGE; errors of the data source pass through.  text is malloc'd (free it). */
typedef struct tasks_text { uint8_t *text; size_t n, n_train; int vocab; } tasks_text;
int  tasks_text_load(task *t, const char *family, size_t min_part, tasks_text *out);
/* Augmentation (tasks_augment.c, task_params.augment): wraps a created task (on failure it frees
 * the family's impl) and, for tests, reads its loss factor and per-tensor scales (ntensors). */
#define TASKS_AUG_PARAM_LO 0.1
#define TASKS_AUG_PARAM_HI 10.0
#define TASKS_AUG_LOSS_LO 1e-3
#define TASKS_AUG_LOSS_HI 1e3
int  tasks_augment(task *t);
int  tasks_augment_factors(const task *t, double *lambda, double *scales);

#endif
