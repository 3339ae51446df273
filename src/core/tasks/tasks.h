/* tasks.h — built-in task families: seeded, parametric training problems
 * with a loss and an analytic gradient, used for meta-training and
 * evaluating optimizers.
 *
 * A task family is one row of a table {name, domain, description, create};
 * adding a family is one new file src/core/tasks/task_<family>.c plus one line in
 * the table in tasks.c.  A task is one instance of a family: fixed data and
 * problem constants derived from (params, seed), a parameter vector of
 * `n` floats described by `lay` (the same layout type optimizers use).
 *
 * Families (domain):
 *   quadratic          (synthetic) f = ||W p - y||^2, W (dim,dim), y (dim) ~ N(0,1); HVP
 *   noisy_quadratic    (synthetic) 0.5 sum h_i (p_i - c_i)^2, h log-uniform in
 *                      [1e-3, 1]; gradient noise noise*sqrt(h_i)*N(0,1); HVP
 *   rosenbrock         (synthetic) mean_i 100(p_{i+1}-p_i^2)^2 + (1-p_i)^2; HVP
 *   rastrigin          (synthetic) 10 + mean_i p_i^2 - 10 cos(2 pi p_i); HVP
 *   styblinski_tang    (synthetic) mean_i 0.5 (p_i^4 - 16 p_i^2 + 5 p_i); HVP
 *   logistic_regression(tabular)   binary cross-entropy on synthetic data; HVP of
 *                                  the full training-set loss (not the minibatch)
 *   softmax_regression (tabular)   softmax cross-entropy on synthetic clusters
 *   fmnist_mlp         (vision)    softmax MLP on Fashion-MNIST, 8x8 or 28x28
 *   char_rnn           (text)      one-layer LSTM next-character model on
 *                                  /usr/share/common-licenses/GPL-3
 *   gru_classifier     (text)      GRU / LSTM classifier of seeded sequences whose
 *   lstm_classifier    (text)      class is one marked step (task_seq_classify.c)
 *   transformer_lm     (text)      small causal pre-LN transformer next-byte model on GPL-3
 *   conv_net           (vision)    conv-relu-maxpool-conv-relu-GAP-linear on Fashion-MNIST
 *   mlp_autoencoder    (vision)    MLP autoencoder on Fashion-MNIST, MSE reconstruction
 *   deep_mlp           (tabular)   MLP classifier, depth 2-6, on synthetic teacher-net labels
 *   mlp_regression     (tabular)   MLP, MSE, on synthetic teacher-net targets + noise
 *   switch_quadratic   (synthetic) noisy_quadratic's diagonal quadratic whose curvature is
 *                                  multiplied by switch_scale after switch_step steps of a run
 * The synthetic families add gradient noise noise*N(0,1) when noise > 0.
 * Any family with augment = 1: per-tensor parameter scales and a loss factor from the seed.
 *
 * Data: the data families (fmnist_mlp, conv_net, mlp_autoencoder, char_rnn,
 * transformer_lm) read no files themselves;
 * they get their data through the task_data interface the caller puts in
 * task_params.data (src/data's data_cache_source reads Debian's
 * dataset-fashion-mnist and the GPL-3 text, caching the images once per
 * process).  src/core does no file I/O and holds no lock.  Without a data
 * source (p == NULL or p->data == NULL) those families fail with
 * ERR_NOT_FOUND; a missing or malformed file is the source's ERR_NOT_FOUND or
 * ERR_CORRUPT, with a message available from tasks_last_error().

 * Seeds: task_create's seed fixes the problem's random constants
 * (quadratic matrices and centres, the synthetic regression data, the
 * classifiers' sequences, the augmentation factors); families on fixed
 * functions or fixed data (rosenbrock, rastrigin, styblinski_tang,
 * fmnist_mlp, conv_net, mlp_autoencoder, char_rnn, transformer_lm) do not depend on it unless
 * augmented.  Initial parameters come from
 * task_init_params's own seed.
 *
 * Randomness: loss_grad advances the caller's rng by exactly one rng_u64
 * draw (from which it derives its minibatch and noise), whether or not grad
 * is NULL, so "loss only" and "loss and gradient" calls stay in step.
 *
 * Non-finite: losses are finite for sane params; when params produce a
 * non-finite value the functions return NAN (never crash).
 *
 * Ownership / threads: task_create allocates; task_free releases (NULL ok).
 * A task keeps scratch buffers, so one task is used by one thread at a time;
 * different tasks may run in different threads concurrently. */
#ifndef OPTIRS_TASKS_H
#define OPTIRS_TASKS_H

#include <stddef.h>
#include <stdint.h>
#include "opt.h"      /* layout */
#include "rng.h"

/* Fashion-MNIST as a data source hands it out: read-only arrays that stay
 * valid as long as the source does. */
typedef struct task_fmnist_data {
    int            n_train, n_test;
    const uint8_t *train_y, *test_y;   /* labels 0..9 */
    const uint8_t *train28, *test28;   /* (n, 784) raw pixels */
    const float   *train8, *test8;     /* (n, 64) bilinear 8x8 in [0,1] (tasks_bilinear_resize) */
} task_fmnist_data;

/* Where the data families get their data; set up by the caller (see Data
 * above).  Both functions may be called from several threads at once.
 * `path` is task_params.data_path (NULL = the source's default).  On
 * failure they return ERR_NOT_FOUND / ERR_CORRUPT / ERR_NO_MEMORY /
 * ERR_INVALID_ARGUMENT and set a message with tasks_set_error. */
typedef struct task_data {
    void *ctx;
    /* The Fashion-MNIST arrays at directory `path`; *out borrows them. */
    int (*fmnist)(void *ctx, const char *path, const task_fmnist_data **out);
    /* The bytes of the text file `path` in a new malloc'd buffer that the
     * caller frees (*len bytes). */
    int (*text)(void *ctx, const char *path, uint8_t **out, size_t *len);
} task_data;

/* Every field: 0 = the family's default.  Families use what they need. */
typedef struct task_params {
    int    width;        /* hidden units (fmnist_mlp 32, char_rnn 32) */
    int    depth;        /* hidden layers (fmnist_mlp 1) */
    int    batch;        /* minibatch size (regressions 32, fmnist 128, char_rnn 8) */
    int    activation;   /* ACT_RELU / ACT_TANH / ACT_GELU from layers.h (fmnist: relu) */
    int    dim;          /* problem dimension / data features: quadratic 10, noisy_quadratic 100,
                            rosenbrock 2, rastrigin 10, styblinski_tang 10, logistic 10, softmax 20 */
    int    seq_len;      /* char_rnn unroll length (16) */
    int    heads;        /* transformer_lm attention heads (2); must divide width */
    int    classes;      /* softmax_regression classes (5) */
    int    n_train;      /* synthetic training examples (regressions 1000); fmnist: examples used (60000) */
    int    image_side;   /* fmnist_mlp: 8 (bilinear downsample) or 28; default 8 */
    int    bottleneck;   /* mlp_autoencoder code units (8) */
    double init_scale;   /* multiplies the family's initialisation (1) */
    double noise;        /* gradient noise std; <0 = none.  Default 0, noisy_quadratic 1 */
    int    augment;      /* 1 = rescale parameters and loss from the seed (VeLO-style; tasks_augment.c) */
    const char *data_path; /* fmnist: directory; char_rnn: text file; NULL = the source's default */
    const task_data *data; /* fmnist_mlp, char_rnn: their data (must outlive the task); NULL = none */
    int    switch_step;  /* switch_quadratic: steps before the curvature switches (1000) */
    double switch_scale; /* switch_quadratic: the curvature's factor after the switch (100) */
    int    layernorm;    /* deep_mlp, fmnist_mlp: 1 = a LayerNorm (gain, bias) after every hidden
                            linear layer, before its activation; 0 = none (default) */
} task_params;

typedef struct task task;

typedef struct task_vtbl {
    /* Minibatch loss at params; when grad != NULL also writes (not +=) the
     * gradient of that loss (plus gradient noise where the family has it).
     * The minibatch is drawn from r (see Randomness above).  NAN when
     * params give a non-finite loss (grad's contents are then unspecified). */
    double (*loss_grad)(task *t, const float *params, float *grad, rng *r);
    /* Deterministic held-out / full loss at params (validation set for data
     * families, the noiseless objective for the synthetic ones). */
    double (*eval_loss)(task *t, const float *params);
    /* Hessian-vector product out = H(params) v of the noiseless objective;
     * NULL when the family has none.  Returns 0. */
    int    (*hvp)(task *t, const float *params, const float *v, float *out);
    /* Writes initial parameters drawn from r (scaled by init_scale). */
    void   (*init_params)(task *t, rng *r, float *params);
    /* Releases impl (not the task itself, not lay). */
    void   (*free)(task *t);
} task_vtbl;

struct task {
    const task_vtbl *vt;
    const char *family;       /* the family's name (static) */
    const char *domain;       /* "vision" | "tabular" | "synthetic" | "text" (static) */
    task_params p;            /* the parameters with defaults filled in */
    uint64_t    seed;
    layout      lay;          /* named tensors of the parameter vector */
    size_t      n;            /* parameters (== lay.n) */
    void       *impl;         /* the family's own data */
};

/* The task_params a family reads, for task_family.keys: a parameter given
 * (non-zero) to a family that does not read it is refused by task_create and
 * task_check_keys, never ignored.  init_scale and augment apply to every
 * family; data_path and data are the caller's. */
enum {
    TASK_KEY_WIDTH = 1u << 0,   TASK_KEY_DEPTH = 1u << 1,      TASK_KEY_BATCH = 1u << 2,
    TASK_KEY_ACTIVATION = 1u << 3, TASK_KEY_DIM = 1u << 4,     TASK_KEY_SEQ_LEN = 1u << 5,
    TASK_KEY_HEADS = 1u << 6,   TASK_KEY_CLASSES = 1u << 7,    TASK_KEY_N_TRAIN = 1u << 8,
    TASK_KEY_IMAGE_SIDE = 1u << 9, TASK_KEY_BOTTLENECK = 1u << 10, TASK_KEY_NOISE = 1u << 11,
    TASK_KEY_SWITCH = 1u << 12, /* switch_step and switch_scale */
    TASK_KEY_LAYERNORM = 1u << 13,
};

typedef struct task_family {
    const char *name;
    const char *domain;
    const char *description;  /* one line */
    /* Fills t->vt, t->lay, t->n, t->impl from t->p (defaults already
     * applied by the family itself) and t->seed.  0 or ERR_*; on error
     * it leaves nothing allocated and may set a message with
     * tasks_set_error(). */
    int (*create)(task *t);
    unsigned keys;            /* the TASK_KEY_* it reads (init_scale and augment: every family) */
} task_family;

/* The family table. */
int                tasks_count(void);
const task_family *tasks_at(int i);          /* NULL when out of range */
const task_family *tasks_find(const char *name);  /* NULL when unknown */

/* Creates an instance of `family`; p may be NULL (all defaults).  Returns 0
 * or ERR_INVALID_ARGUMENT (unknown family), ERR_OUT_OF_RANGE (a parameter),
 * ERR_NOT_FOUND (data file missing), ERR_CORRUPT (data file malformed),
 * ERR_NO_MEMORY.  On failure *out is NULL and tasks_last_error() says why.
 * The caller frees the task with task_free. */
int  task_create(const char *family, const task_params *p, uint64_t seed, task **out);
/* 0 when every parameter p gives (non-zero) is one `family` reads (its
 * task_family.keys); else ERR_INVALID_ARGUMENT (unknown family) or
 * ERR_OUT_OF_RANGE, with tasks_last_error() naming the first one that is
 * not ("conv_net: no depth (not a parameter of this family)").  task_create
 * runs it first; callers may run it to refuse a task before building it. */
int  task_check_keys(const char *family, const task_params *p);
/* Initial parameters for `seed` (deterministic).  Returns 0. */
int  task_init_params(task *t, uint64_t seed, float *params);
/* Convenience wrappers over t->vt. */
double task_loss_grad(task *t, const float *params, float *grad, rng *r);
double task_eval_loss(task *t, const float *params);
/* ERR_INVALID_ARGUMENT when the family has no HVP. */
int  task_hvp(task *t, const float *params, const float *v, float *out);
void task_free(task *t);

/* The message of the last task_create failure on this thread ("" if none). */
const char *tasks_last_error(void);
/* For families and data sources: records a formatted failure message for
 * this thread. */
void tasks_set_error(const char *fmt, ...);
/* Bilinear resize of one src_side x src_side byte image to side x side
 * floats in [0,1], half-pixel centres (align_corners = false). */
void tasks_bilinear_resize(float *dst, int side, const uint8_t *src, int src_side);

#endif
