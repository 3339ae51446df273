/* tasks.c — the task family table, task_create/free and shared helpers;
 * see tasks.h and tasks_internal.h. */
#include "tasks_internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

static const task_family *const families[] = {
    &task_family_quadratic,
    &task_family_noisy_quadratic,
    &task_family_rosenbrock,
    &task_family_rastrigin,
    &task_family_styblinski_tang,
    &task_family_logistic_regression,
    &task_family_softmax_regression,
    &task_family_fmnist_mlp,
    &task_family_char_rnn,
    &task_family_gru_classifier, &task_family_lstm_classifier, &task_family_transformer_lm,
    &task_family_conv_net,
    &task_family_mlp_autoencoder,
    &task_family_deep_mlp,
    &task_family_mlp_regression,
    &task_family_switch_quadratic,
};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))

int tasks_count(void) { return NFAMILIES; }

const task_family *tasks_at(int i) { return (i >= 0 && i < NFAMILIES) ? families[i] : NULL; }

const task_family *tasks_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < NFAMILIES; i++)
        if (strcmp(families[i]->name, name) == 0) return families[i];
    return NULL;
}

static _Thread_local char last_error[256];

const char *tasks_last_error(void) { return last_error; }

void tasks_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

static const struct { const char *name; unsigned bit; size_t off; int is_double; } task_keys[] = {
    {"width", TASK_KEY_WIDTH, offsetof(task_params, width), 0},
    {"depth", TASK_KEY_DEPTH, offsetof(task_params, depth), 0},
    {"batch", TASK_KEY_BATCH, offsetof(task_params, batch), 0},
    {"activation", TASK_KEY_ACTIVATION, offsetof(task_params, activation), 0},
    {"dim", TASK_KEY_DIM, offsetof(task_params, dim), 0},
    {"seq_len", TASK_KEY_SEQ_LEN, offsetof(task_params, seq_len), 0},
    {"heads", TASK_KEY_HEADS, offsetof(task_params, heads), 0},
    {"classes", TASK_KEY_CLASSES, offsetof(task_params, classes), 0},
    {"n_train", TASK_KEY_N_TRAIN, offsetof(task_params, n_train), 0},
    {"image_side", TASK_KEY_IMAGE_SIDE, offsetof(task_params, image_side), 0},
    {"bottleneck", TASK_KEY_BOTTLENECK, offsetof(task_params, bottleneck), 0},
    {"noise", TASK_KEY_NOISE, offsetof(task_params, noise), 1},
    {"switch_step", TASK_KEY_SWITCH, offsetof(task_params, switch_step), 0},
    {"switch_scale", TASK_KEY_SWITCH, offsetof(task_params, switch_scale), 1},
    {"layernorm", TASK_KEY_LAYERNORM, offsetof(task_params, layernorm), 0},
};

/* task_check_keys for a family already found. */
static int check_keys(const task_family *f, const task_params *p)
{
    if (!p) return 0;
    for (size_t i = 0; i < sizeof task_keys / sizeof task_keys[0]; i++) {
        const char *at = (const char *)p + task_keys[i].off;
        double v;
        if (task_keys[i].is_double) memcpy(&v, at, sizeof v);
        else {
            int n;
            memcpy(&n, at, sizeof n);
            v = n;
        }
        if (v != 0 && !(f->keys & task_keys[i].bit)) {
            tasks_set_error("%s: no %s (not a parameter of this family)", f->name, task_keys[i].name);
            return ERR_OUT_OF_RANGE;
        }
    }
    return 0;
}

int task_check_keys(const char *family, const task_params *p)
{
    const task_family *f = tasks_find(family);
    if (!f) {
        tasks_set_error("unknown task family '%s'", family ? family : "(null)");
        return ERR_INVALID_ARGUMENT;
    }
    return check_keys(f, p);
}

int task_create(const char *family, const task_params *p, uint64_t seed, task **out)
{
    *out = NULL;
    last_error[0] = 0;
    const task_family *f = tasks_find(family);
    if (!f) {
        tasks_set_error("unknown task family '%s'", family ? family : "(null)");
        return ERR_INVALID_ARGUMENT;
    }
    int rck = check_keys(f, p);
    if (rck) return rck;
    task *t = calloc(1, sizeof *t);
    if (!t) return ERR_NO_MEMORY;
    t->family = f->name;
    t->domain = f->domain;
    t->seed = seed;
    if (p) t->p = *p;
    int rc = f->create(t);
    if (!rc && t->p.augment) rc = tasks_augment(t);   /* on failure it frees the family's impl */
    if (rc) {
        if (!last_error[0]) tasks_set_error("%s: %s", f->name, err_message(rc));
        layout_deinit(&t->lay);
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int task_init_params(task *t, uint64_t seed, float *params)
{
    rng r;
    rng_seed(&r, seed);
    t->vt->init_params(t, &r, params);
    return 0;
}

double task_loss_grad(task *t, const float *params, float *grad, rng *r)
{
    return t->vt->loss_grad(t, params, grad, r);
}

double task_eval_loss(task *t, const float *params) { return t->vt->eval_loss(t, params); }

int task_hvp(task *t, const float *params, const float *v, float *out)
{
    if (!t->vt->hvp) return ERR_INVALID_ARGUMENT;
    return t->vt->hvp(t, params, v, out);
}

void task_free(task *t)
{
    if (!t) return;
    if (t->vt && t->vt->free) t->vt->free(t);
    layout_deinit(&t->lay);
    free(t);
}

/* ---- shared helpers ----------------------------------------------------- */

/* The layers' graph of tasks_layout_set (see tasks_internal.h). */
static int layers_graph(layout *lay)
{
    int nt = lay->ntensors, bad;
    int *roles = malloc((size_t)nt * sizeof *roles), *nin = calloc((size_t)nt, sizeof *nin);
    int (*in)[LAYOUT_MAX_INPUTS] = calloc((size_t)nt, sizeof *in);
    int rc = roles && nin && in ? 0 : ERR_NO_MEMORY;
    int prev0 = -1, prevn = 0;   /* the previous layer: tensors prev0 .. prev0 + prevn − 1 */
    for (int i = 0; !rc && i < nt;) {
        const layout_tensor *w = &lay->tensors[i];
        int n = 1;
        if (i + 1 < nt && w->ndim >= 2 && lay->tensors[i + 1].ndim == 1) {
            int64_t b = lay->tensors[i + 1].shape[0];
            if (b == w->shape[0] || b == w->shape[w->ndim - 1]) n = 2;
        }
        for (int k = i; k < i + n; k++) {
            roles[k] = lay->tensors[k].role;
            nin[k] = prevn;
            for (int q = 0; q < prevn; q++) in[k][q] = prev0 + q;
        }
        prev0 = i; prevn = n;
        i += n;
    }
    if (!rc) rc = layout_set_graph(lay, roles, nin, (const int (*)[LAYOUT_MAX_INPUTS])in, &bad);
    free(roles); free(nin); free(in);
    return rc;
}

int tasks_layout_set(task *t, int ntensors, const char *const *names, const int *ndims,
                     const int64_t (*shapes)[LAYOUT_MAX_DIMS])
{
    layout_deinit(&t->lay);
    int rc = layout_init(&t->lay, ntensors, names, ndims, shapes, SIZE_MAX);
    if (!rc) rc = layers_graph(&t->lay);
    if (rc) layout_deinit(&t->lay);
    t->n = rc ? 0 : t->lay.n;
    return rc;
}

int tasks_layout_flat(task *t, const char *name, size_t n)
{
    const char *names[1] = {name};
    int nd[1] = {1};
    int64_t sh[1][LAYOUT_MAX_DIMS] = {{(int64_t)n}};
    return tasks_layout_set(t, 1, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
}

void tasks_add_noise(float *g, size_t n, double noise, rng *r)
{
    if (!(noise > 0)) return;
    for (size_t i = 0; i < n; i++) g[i] += (float)(noise * rng_normal(r));
}

void tasks_call_rng(rng *caller, rng *out) { rng_seed(out, rng_u64(caller)); }

const task_data *tasks_data(const task *t, const char *family)
{
    if (!t->p.data) tasks_set_error("%s: no data source (task_params.data)", family);
    return t->p.data;
}

/* ---- images ------------------------------------------------------------- */

void tasks_bilinear_resize(float *dst, int side, const uint8_t *src, int src_side)
{
    double scale = (double)src_side / side;
    for (int i = 0; i < side; i++) {
        double sy = (i + 0.5) * scale - 0.5;
        if (sy < 0) sy = 0;
        int y0 = (int)sy, y1 = y0 + 1 < src_side ? y0 + 1 : src_side - 1;
        double wy = sy - y0;
        for (int j = 0; j < side; j++) {
            double sx = (j + 0.5) * scale - 0.5;
            if (sx < 0) sx = 0;
            int x0 = (int)sx, x1 = x0 + 1 < src_side ? x0 + 1 : src_side - 1;
            double wx = sx - x0;
            double v = (1 - wy) * ((1 - wx) * src[y0 * src_side + x0] + wx * src[y0 * src_side + x1])
                     + wy * ((1 - wx) * src[y1 * src_side + x0] + wx * src[y1 * src_side + x1]);
            dst[i * side + j] = (float)(v / 255.0);
        }
    }
}
