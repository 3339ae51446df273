/* test_tasks.c — every task family: analytic gradient against central
 * finite differences, HVP against finite differences of the gradient,
 * determinism for a seed, non-finite handling, and that plain gradient
 * descent (no Adam) lowers the held-out loss in 50 steps.
 *
 * Finite differences: the same minibatch is used for every evaluation (the
 * rng is copied), gradient noise is off (noise = -1), and the step divides
 * by the actual float difference (p+h) - (p-h) so float rounding of the
 * perturbed parameter does not enter.  The error measure is
 *   max_i |g_i - fd_i| / max_i |fd_i|
 * over up to 40 coordinates.  Tolerances per family (in the table): 1e-4
 * where the family computes its loss in double (the synthetic functions and
 * logistic regression), 3e-3 for the float32 networks (fmnist_mlp,
 * char_rnn, softmax_regression), whose losses carry float rounding ~1e-7
 * relative that the difference quotient amplifies by 1/h.  Also that each family
 * reads exactly the task parameters its `keys` declare (others are refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_cache.h"
#include "errors.h"
#include "layers.h"
#include "tasks.h"
#include <pthread.h>

typedef struct case_ {
    const char *family;
    task_params p;
    float  h;          /* finite-difference step */
    double tol;        /* gradient tolerance (see above) */
    double hvp_tol;    /* HVP vs FD-of-gradient tolerance */
    double lr;         /* plain gradient descent step size */
} case_;

static const case_ cases[] = {
    {"quadratic",           {.dim = 10, .noise = -1},                          1e-2f, 1e-4, 1e-4, 0.005},
    {"noisy_quadratic",     {.dim = 50, .noise = -1},                          1e-2f, 1e-4, 1e-4, 0.5},
    {"rosenbrock",          {.dim = 5, .noise = -1},                           1e-3f, 1e-4, 1e-3, 1e-4},
    {"rastrigin",           {.dim = 10, .noise = -1},                          1e-3f, 1e-4, 1e-3, 1e-3},
    {"styblinski_tang",     {.dim = 10, .noise = -1},                          1e-3f, 1e-4, 1e-3, 1e-2},
    {"logistic_regression", {.dim = 8, .batch = 16, .n_train = 200},          1e-2f, 1e-4, 1e-4, 0.1},
    {"softmax_regression",  {.dim = 6, .classes = 4, .batch = 16, .n_train = 200}, 1e-2f, 3e-3, 0, 0.1},
    {"fmnist_mlp",          {.width = 8, .depth = 1, .batch = 16, .activation = ACT_TANH}, 1e-2f, 3e-3, 0, 0.1},
    {"fmnist_mlp",          {.width = 6, .depth = 2, .batch = 8, .activation = ACT_GELU, .image_side = 28}, 1e-2f, 3e-3, 0, 0.05},
    {"char_rnn",            {.width = 8, .batch = 4, .seq_len = 6},             1e-2f, 3e-3, 0, 0.5},
    {"gru_classifier",      {.dim = 3, .width = 5, .seq_len = 6, .classes = 3, .batch = 8, .n_train = 200}, 1e-2f, 3e-3, 0, 0.3},
    {"lstm_classifier",     {.dim = 3, .width = 5, .seq_len = 6, .classes = 3, .batch = 8, .n_train = 200}, 1e-2f, 3e-3, 0, 0.3},
    {"transformer_lm",      {.width = 8, .heads = 2, .depth = 2, .seq_len = 5, .batch = 3, .activation = ACT_GELU}, 1e-2f, 3e-3, 0, 0.3},
    /* relu (the default): a step of 1e-2 moves pre-activations across the kink */
    {"transformer_lm",      {.width = 6, .heads = 1, .depth = 1, .seq_len = 4, .batch = 2}, 1e-3f, 3e-3, 0, 0.3},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static task *make(const case_ *c, uint64_t seed)
{
    task *t = NULL;
    task_params p = c->p;
    p.data = &data_cache_source;
    int rc = task_create(c->family, &p, seed, &t);
    if (rc) {
        printf("task_create(%s): %s\n", c->family, tasks_last_error());
        fail();
    }
    assert_non_null(t);
    assert_int_equal(t->n, t->lay.n);
    size_t sum = 0;
    for (int i = 0; i < t->lay.ntensors; i++) {
        assert_int_equal(t->lay.tensors[i].offset, sum);
        sum += t->lay.tensors[i].size;
    }
    assert_int_equal(sum, t->n);
    return t;
}

/* Indices of up to 40 coordinates spread over the vector, then the first
 * and last coordinate of every tensor of the layout (so a tensor the spread
 * misses is still checked); idx has room for 40 + 2 * ntensors. */
static int pick(const layout *lay, size_t n, size_t *idx)
{
    int k = n < 40 ? (int)n : 40;
    for (int i = 0; i < k; i++) idx[i] = (size_t)((double)i * n / k);
    for (int j = 0; j < lay->ntensors; j++) {
        idx[k++] = lay->tensors[j].offset;
        idx[k++] = lay->tensors[j].offset + lay->tensors[j].size - 1;
    }
    return k;
}

/* Missing data: a clear error and no task.  Runs first, before anything
 * loads the process-wide FMNIST cache. */
/* Field by field: the struct has padding that memcmp would read. */
static void assert_rng_equal(const rng *a, const rng *b)
{
    assert_memory_equal(a->s, b->s, sizeof a->s);
    assert_int_equal(a->has_spare, b->has_spare);
    if (a->has_spare) assert_true(a->spare == b->spare);
}

static void test_missing_data_fails_cleanly(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params missing = {.data_path = "/nonexistent/fmnist", .data = &data_cache_source};
    assert_int_equal(task_create("fmnist_mlp", &missing, 1, &t), ERR_NOT_FOUND);
    assert_null(t);
    printf("  expected error: %s\n", tasks_last_error());
    assert_non_null(strstr(tasks_last_error(), "/nonexistent/fmnist"));
    task_params notext = {.data_path = "/nonexistent/text", .data = &data_cache_source};
    assert_int_equal(task_create("char_rnn", &notext, 1, &t), ERR_NOT_FOUND);
    assert_non_null(strstr(tasks_last_error(), "/nonexistent/text"));
    /* no data source at all: the same error, naming the family */
    assert_int_equal(task_create("fmnist_mlp", NULL, 1, &t), ERR_NOT_FOUND);
    assert_null(t);
    assert_non_null(strstr(tasks_last_error(), "no data source"));
    assert_int_equal(task_create("char_rnn", NULL, 1, &t), ERR_NOT_FOUND);
    assert_non_null(strstr(tasks_last_error(), "char_rnn"));
    assert_int_equal(task_create("transformer_lm", &notext, 1, &t), ERR_NOT_FOUND);
    assert_non_null(strstr(tasks_last_error(), "/nonexistent/text"));
    assert_int_equal(task_create("transformer_lm", NULL, 1, &t), ERR_NOT_FOUND);
    assert_non_null(strstr(tasks_last_error(), "transformer_lm"));
    assert_null(t);
}

/* What a task does at fixed seeds: its size, initial parameters, three
 * minibatch losses and gradients in a row, and the held-out loss. */
static void task_signature(task *t, double *sig)
{
    float *p = malloc(sizeof(float) * t->n), *g = malloc(sizeof(float) * t->n);
    task_init_params(t, 3, p);
    double h = (double)t->n;
    for (size_t i = 0; i < t->n; i++) h = h * 1.000001 + p[i] * (double)(i % 7 + 1);
    rng r;
    rng_seed(&r, 5);
    for (int k = 0; k < 3; k++) {
        h += task_loss_grad(t, p, g, &r) * (k + 2);
        for (size_t i = 0; i < t->n; i++) h += g[i] * (double)(i % 5 + 1);
    }
    h += task_eval_loss(t, p);
    free(p); free(g);
    *sig = h;
}

/* Every family's keys are exact: each parameter it declares changes what it
 * does (so none is listed but ignored), and each it does not declare is
 * refused with the parameter named (so none is ignored silently). */
static void test_family_keys_are_read_or_refused(void **st)
{
    (void)st;
    static const struct { const char *name; unsigned bit; task_params a, b; } keys[] = {
        {"width", TASK_KEY_WIDTH, {.width = 12}, {.width = 20}},
        {"depth", TASK_KEY_DEPTH, {.depth = 2}, {.depth = 3}},
        {"batch", TASK_KEY_BATCH, {.batch = 4}, {.batch = 6}},
        {"activation", TASK_KEY_ACTIVATION, {.activation = ACT_TANH}, {.activation = ACT_GELU}},
        {"dim", TASK_KEY_DIM, {.dim = 3}, {.dim = 5}},
        {"seq_len", TASK_KEY_SEQ_LEN, {.seq_len = 6}, {.seq_len = 10}},
        {"heads", TASK_KEY_HEADS, {.heads = 1}, {.heads = 4}},
        {"classes", TASK_KEY_CLASSES, {.classes = 3}, {.classes = 4}},
        {"n_train", TASK_KEY_N_TRAIN, {.n_train = 200}, {.n_train = 300}},
        {"image_side", TASK_KEY_IMAGE_SIDE, {.image_side = 28}, {.image_side = 8}},
        {"bottleneck", TASK_KEY_BOTTLENECK, {.bottleneck = 4}, {.bottleneck = 6}},
        {"noise", TASK_KEY_NOISE, {.noise = 0.5}, {.noise = 0.25}},
        {"switch_step", TASK_KEY_SWITCH, {.switch_step = 1}, {.switch_step = 2}},
        {"layernorm", TASK_KEY_LAYERNORM, {.layernorm = 1}, {.layernorm = 1}},
    };
    for (int i = 0; i < tasks_count(); i++) {
        const task_family *f = tasks_at(i);
        task_params d0 = {.data = &data_cache_source};
        task *t = NULL;
        assert_int_equal(task_create(f->name, &d0, 1, &t), 0);
        double base;
        task_signature(t, &base);
        task_free(t);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            /* candidate a, or b where a clashes with the family or is its default */
            task_params p = keys[k].a;
            p.data = &data_cache_source;
            int rc = task_create(f->name, &p, 1, &t);
            if (!(f->keys & keys[k].bit)) {
                assert_int_equal(rc, ERR_OUT_OF_RANGE);
                assert_null(t);
                char want[64];
                snprintf(want, sizeof want, "%s: no %s", f->name, keys[k].name);
                assert_non_null(strstr(tasks_last_error(), want));
                continue;
            }
            if (rc) {   /* a and the family's constraints clash (heads and width): try b */
                p = keys[k].b;
                p.data = &data_cache_source;
                rc = task_create(f->name, &p, 1, &t);
            }
            if (rc) printf("%s %s: %s\n", f->name, keys[k].name, tasks_last_error());
            assert_int_equal(rc, 0);
            double sig;
            task_signature(t, &sig);
            if (sig == base) {   /* a was the default: b must differ */
                task_free(t);
                p = keys[k].b;
                p.data = &data_cache_source;
                assert_int_equal(task_create(f->name, &p, 1, &t), 0);
                task_signature(t, &sig);
            }
            if (sig == base) printf("%s ignores %s\n", f->name, keys[k].name);
            assert_true(sig != base);
            task_free(t);
        }
    }
}

static void test_table_and_errors(void **st)
{
    (void)st;
    assert_true(tasks_count() >= 9);
    for (int i = 0; i < tasks_count(); i++) {
        const task_family *f = tasks_at(i);
        assert_non_null(f);
        assert_ptr_equal(tasks_find(f->name), f);
        assert_true(!strcmp(f->domain, "vision") || !strcmp(f->domain, "tabular") ||
                    !strcmp(f->domain, "synthetic") || !strcmp(f->domain, "text"));
    }
    assert_null(tasks_at(-1));
    assert_null(tasks_at(tasks_count()));
    task *t = (task *)1;
    assert_int_equal(task_create("no_such_family", NULL, 1, &t), ERR_INVALID_ARGUMENT);
    assert_null(t);
    assert_non_null(strstr(tasks_last_error(), "no_such_family"));
    task_params bad = {.dim = -3};
    assert_int_equal(task_create("quadratic", &bad, 1, &t), ERR_OUT_OF_RANGE);
    task_params side = {.image_side = 13};
    assert_int_equal(task_create("fmnist_mlp", &side, 1, &t), ERR_OUT_OF_RANGE);
    /* the sequence families refuse sizes out of range before reading anything */
    task_params heads = {.width = 10, .heads = 3, .data = &data_cache_source};
    assert_int_equal(task_create("transformer_lm", &heads, 1, &t), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(tasks_last_error(), "heads"));
    task_params deep = {.depth = 5, .data = &data_cache_source};
    assert_int_equal(task_create("transformer_lm", &deep, 1, &t), ERR_OUT_OF_RANGE);
    task_params huge = {.width = 1024, .seq_len = 512, .batch = 1024, .data = &data_cache_source};
    assert_int_equal(task_create("transformer_lm", &huge, 1, &t), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(tasks_last_error(), "floats"));
    task_params one_class = {.classes = 1};
    assert_int_equal(task_create("gru_classifier", &one_class, 1, &t), ERR_OUT_OF_RANGE);
    task_params big_data = {.n_train = 1000000, .seq_len = 512, .dim = 1024};
    assert_int_equal(task_create("lstm_classifier", &big_data, 1, &t), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(tasks_last_error(), "floats"));
    assert_null(t);
    /* layernorm=1: refused by every family that does not take it, never ignored */
    task_params ln = {.layernorm = 1, .data = &data_cache_source};
    int takers = 0;
    for (int i = 0; i < tasks_count(); i++) {
        const task_family *f = tasks_at(i);
        int rc = task_create(f->name, &ln, 1, &t);
        if (f->keys & TASK_KEY_LAYERNORM) {
            takers++;
            assert_int_equal(rc, 0);
            task_free(t);
        } else {
            assert_int_equal(rc, ERR_OUT_OF_RANGE);
            assert_null(t);
            assert_non_null(strstr(tasks_last_error(), "no layernorm"));
        }
    }
    assert_int_equal(takers, 2);
    assert_true((tasks_find("deep_mlp")->keys & TASK_KEY_LAYERNORM) && (tasks_find("fmnist_mlp")->keys & TASK_KEY_LAYERNORM));
    task_free(NULL);
    /* defaults: every family builds with only a data source given */
    task_params dflt = {.data = &data_cache_source};
    for (int i = 0; i < tasks_count(); i++) {
        int rc = task_create(tasks_at(i)->name, &dflt, 3, &t);
        if (rc) printf("%s: %s\n", tasks_at(i)->name, tasks_last_error());
        assert_int_equal(rc, 0);
        float *p = malloc(sizeof(float) * t->n);
        task_init_params(t, 4, p);
        rng r;
        rng_seed(&r, 5);
        assert_true(isfinite(task_loss_grad(t, p, NULL, &r)));
        free(p);
        task_free(t);
    }
}

static void test_gradients_match_finite_differences(void **st)
{
    (void)st;
    for (int ci = 0; ci < NCASES; ci++) {
        const case_ *c = &cases[ci];
        task *t = make(c, 11);
        size_t n = t->n, *idx = malloc(sizeof(size_t) * (40 + 2 * (size_t)t->lay.ntensors));
        float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
        task_init_params(t, 12, p);
        rng r0, r;
        rng_seed(&r0, 13);
        r = r0;
        double f0 = task_loss_grad(t, p, g, &r);
        assert_true(isfinite(f0));
        int k = pick(&t->lay, n, idx);
        double maxerr = 0, maxfd = 0;
        for (int j = 0; j < k; j++) {
            size_t i = idx[j];
            float s = p[i];
            p[i] = s + c->h; float up = p[i]; r = r0; double fp = task_loss_grad(t, p, NULL, &r);
            p[i] = s - c->h; float dn = p[i]; r = r0; double fm = task_loss_grad(t, p, NULL, &r);
            p[i] = s;
            double fd = (fp - fm) / ((double)up - (double)dn);
            if (fabs(fd - g[i]) > maxerr) maxerr = fabs(fd - g[i]);
            if (fabs(fd) > maxfd) maxfd = fabs(fd);
        }
        double rel = maxerr / (maxfd > 1e-12 ? maxfd : 1e-12);
        printf("  %-20s n=%-6zu grad rel err %.2e (tol %.0e)\n", c->family, n, rel, c->tol);
        assert_true(maxfd > 0);
        assert_true(rel < c->tol);
        free(p); free(g); free(idx);
        task_free(t);
    }
}

static void test_hvp_matches_finite_differences_of_gradient(void **st)
{
    (void)st;
    for (int ci = 0; ci < NCASES; ci++) {
        const case_ *c = &cases[ci];
        task_params pp = c->p;
        pp.data = &data_cache_source;
        if (!strcmp(c->family, "logistic_regression")) { pp.n_train = 1; pp.batch = 1; } /* minibatch = full set */
        task *t = NULL;
        assert_int_equal(task_create(c->family, &pp, 21, &t), 0);
        if (!t->vt->hvp) {
            float z = 0;
            assert_int_equal(task_hvp(t, &z, &z, &z), ERR_INVALID_ARGUMENT);
            task_free(t);
            continue;
        }
        size_t n = t->n;
        float *p = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n), *hv = malloc(sizeof(float) * n);
        float *gp = malloc(sizeof(float) * n), *gm = malloc(sizeof(float) * n), *q = malloc(sizeof(float) * n);
        task_init_params(t, 22, p);
        rng r;
        rng_seed(&r, 23);
        rng_normal_fill(&r, v, n, 0.0f, 1.0f);
        assert_int_equal(task_hvp(t, p, v, hv), 0);
        const double eps = 1e-3;
        for (size_t i = 0; i < n; i++) q[i] = (float)(p[i] + eps * v[i]);
        task_loss_grad(t, q, gp, &r);
        for (size_t i = 0; i < n; i++) q[i] = (float)(p[i] - eps * v[i]);
        task_loss_grad(t, q, gm, &r);
        double maxerr = 0, maxfd = 0;
        for (size_t i = 0; i < n; i++) {
            double fd = ((double)gp[i] - gm[i]) / (2 * eps);
            if (fabs(fd - hv[i]) > maxerr) maxerr = fabs(fd - hv[i]);
            if (fabs(fd) > maxfd) maxfd = fabs(fd);
        }
        double rel = maxerr / maxfd;
        printf("  %-20s hvp rel err %.2e (tol %.0e)\n", c->family, rel, c->hvp_tol);
        assert_true(rel < c->hvp_tol);
        free(p); free(v); free(hv); free(gp); free(gm); free(q);
        task_free(t);
    }
}

static void test_same_seed_same_task_and_batches(void **st)
{
    (void)st;
    for (int ci = 0; ci < NCASES; ci++) {
        const case_ *c = &cases[ci];
        task *a = make(c, 31), *b = make(c, 31), *o = make(c, 32);
        size_t n = a->n;
        float *pa = malloc(sizeof(float) * n), *pb = malloc(sizeof(float) * n);
        float *ga = malloc(sizeof(float) * n), *gb = malloc(sizeof(float) * n);
        task_init_params(a, 5, pa);
        task_init_params(b, 5, pb);
        assert_memory_equal(pa, pb, sizeof(float) * n);
        rng ra, rb;
        rng_seed(&ra, 77);
        rng_seed(&rb, 77);
        for (int s = 0; s < 3; s++) {
            double la = task_loss_grad(a, pa, ga, &ra), lb = task_loss_grad(b, pb, gb, &rb);
            assert_true(la == lb);
            assert_memory_equal(ga, gb, sizeof(float) * n);
        }
        /* a loss-only call consumes the same randomness as loss+grad */
        rng r1, r2;
        rng_seed(&r1, 9);
        r2 = r1;
        double l1 = task_loss_grad(a, pa, ga, &r1), l2 = task_loss_grad(a, pa, NULL, &r2);
        assert_true(l1 == l2);
        assert_rng_equal(&r1, &r2);
        assert_true(task_eval_loss(a, pa) == task_eval_loss(b, pb));
        /* another seed gives another problem (compared at the same params)
         * for the families whose constants or data come from the seed */
        if (!strcmp(c->family, "quadratic") || !strcmp(c->family, "noisy_quadratic") ||
            !strcmp(c->family, "logistic_regression") || !strcmp(c->family, "softmax_regression") ||
            !strcmp(c->family, "gru_classifier") || !strcmp(c->family, "lstm_classifier"))
            assert_true(task_eval_loss(o, pa) != task_eval_loss(a, pa));
        /* another init seed gives other initial parameters */
        task_init_params(o, 6, pb);
        assert_memory_not_equal(pa, pb, sizeof(float) * n);
        free(pa); free(pb); free(ga); free(gb);
        task_free(a); task_free(b); task_free(o);
    }
}

static void test_nonfinite_params_give_nan_not_crash(void **st)
{
    (void)st;
    for (int ci = 0; ci < NCASES; ci++) {
        task *t = make(&cases[ci], 41);
        float *p = malloc(sizeof(float) * t->n), *g = malloc(sizeof(float) * t->n);
        task_init_params(t, 1, p);
        p[0] = NAN;
        p[t->n - 1] = INFINITY;
        rng r;
        rng_seed(&r, 1);
        assert_true(isnan(task_loss_grad(t, p, g, &r)));
        assert_true(isnan(task_eval_loss(t, p)));
        free(p); free(g);
        task_free(t);
    }
}

static void test_gradient_descent_lowers_loss(void **st)
{
    (void)st;
    for (int ci = 0; ci < NCASES; ci++) {
        const case_ *c = &cases[ci];
        task *t = make(c, 51);
        size_t n = t->n;
        float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
        task_init_params(t, 52, p);
        rng r;
        rng_seed(&r, 53);
        double before = task_eval_loss(t, p);
        for (int s = 0; s < 50; s++) {
            assert_true(isfinite(task_loss_grad(t, p, g, &r)));
            for (size_t i = 0; i < n; i++) p[i] -= (float)c->lr * g[i];
        }
        double after = task_eval_loss(t, p);
        printf("  %-20s eval loss %.4f -> %.4f after 50 GD steps (lr %g)\n", c->family, before, after, c->lr);
        assert_true(isfinite(after));
        assert_true(after < before - 1e-3 * fabs(before));
        free(p); free(g);
        task_free(t);
    }
}

/* The sequence families at their DEFAULT sizes train under plain Adam
 * (lr 3e-3, the usual betas): after 300 steps the held-out loss is at least
 * 25% below its start (measured: gru_classifier 1.39 -> ~0.4,
 * lstm_classifier 1.39 -> ~0.6, transformer_lm 4.8 -> ~3.2). */
static void test_seq_families_train_with_adam(void **st)
{
    (void)st;
    static const char *const fams[] = {"gru_classifier", "lstm_classifier", "transformer_lm"};
    for (int fi = 0; fi < 3; fi++) {
        task *t;
        task_params dflt = {.data = &data_cache_source};
        assert_int_equal(task_create(fams[fi], &dflt, 1, &t), 0);
        size_t n = t->n;
        float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
        float *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
        task_init_params(t, 2, p);
        rng r;
        rng_seed(&r, 3);
        double before = task_eval_loss(t, p);
        for (int s = 1; s <= 300; s++) {
            assert_true(isfinite(task_loss_grad(t, p, g, &r)));
            double c1 = 1 - pow(0.9, s), c2 = 1 - pow(0.999, s);
            for (size_t i = 0; i < n; i++) {
                m[i] = 0.9f * m[i] + 0.1f * g[i];
                v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
                p[i] -= (float)(3e-3 * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8));
            }
        }
        double after = task_eval_loss(t, p);
        printf("  %-16s n=%-6zu held-out loss %.4f -> %.4f after 300 Adam steps\n", fams[fi], n, before, after);
        assert_true(after < 0.75 * before);
        free(p); free(g); free(m); free(v);
        task_free(t);
    }
}

/* Bilinear resize of a linear ramp is exact: with half-pixel centres the
 * 8x8 value at (i,j) is the ramp at source coordinate (k+0.5)*28/8-0.5,
 * computed here from the formula (tolerance 1e-6 in [0,1] units). */
static void test_bilinear_downsample_is_exact_on_ramps(void **st)
{
    (void)st;
    uint8_t img[28 * 28];
    float out[64];
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) img[y * 28 + x] = (uint8_t)(3 * x + 5 * y);
    tasks_bilinear_resize(out, 8, img, 28);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            double sy = (i + 0.5) * 3.5 - 0.5, sx = (j + 0.5) * 3.5 - 0.5;
            assert_true(fabs(out[i * 8 + j] - (3 * sx + 5 * sy) / 255.0) < 1e-6);
        }
    memset(img, 200, sizeof img);
    tasks_bilinear_resize(out, 8, img, 28);
    for (int k = 0; k < 64; k++) assert_true(fabsf(out[k] - 200.0f / 255.0f) < 1e-6f);
    /* identity size reproduces the image */
    float same[784];
    for (int k = 0; k < 784; k++) img[k] = (uint8_t)(k * 7);
    tasks_bilinear_resize(same, 28, img, 28);
    for (int k = 0; k < 784; k++) assert_true(fabsf(same[k] - img[k] / 255.0f) < 1e-6f);
}

/* Gradient noise: rosenbrock with noise s adds N(0, s^2) per coordinate;
 * over 4000 coordinates the sample mean is within 5 se of 0 and the sample
 * std within 5% of s. */
static void test_gradient_noise_has_stated_std(void **st)
{
    (void)st;
    task_params pn = {.dim = 4000, .noise = 0.5}, p0 = {.dim = 4000, .noise = -1};
    task *tn, *t0;
    assert_int_equal(task_create("rosenbrock", &pn, 1, &tn), 0);
    assert_int_equal(task_create("rosenbrock", &p0, 1, &t0), 0);
    float *p = malloc(sizeof(float) * 4000), *gn = malloc(sizeof(float) * 4000), *g0 = malloc(sizeof(float) * 4000);
    task_init_params(tn, 2, p);
    rng r1, r2;
    rng_seed(&r1, 3);
    r2 = r1;
    double ln = task_loss_grad(tn, p, gn, &r1), l0 = task_loss_grad(t0, p, g0, &r2);
    assert_true(ln == l0);                    /* the loss itself is noiseless */
    double s = 0, s2 = 0;
    for (int i = 0; i < 4000; i++) { double d = gn[i] - g0[i]; s += d; s2 += d * d; }
    double mean = s / 4000, sd = sqrt(s2 / 4000 - mean * mean);
    assert_true(fabs(mean) < 5 * 0.5 / sqrt(4000.0));
    assert_true(fabs(sd - 0.5) < 0.025);
    free(p); free(gn); free(g0);
    task_free(tn); task_free(t0);
}

/* The default fmnist_mlp (8x8, width 32, relu, batch 128) trains with GD. */
static void test_fmnist_default_trains_with_gd(void **st)
{
    (void)st;
    task *t;
    task_params dflt = {.data = &data_cache_source};
    assert_int_equal(task_create("fmnist_mlp", &dflt, 1, &t), 0);
    assert_int_equal(t->lay.ntensors, 4);
    assert_int_equal(t->lay.tensors[0].shape[0], 64);
    assert_int_equal(t->lay.tensors[0].shape[1], 32);
    float *p = malloc(sizeof(float) * t->n), *g = malloc(sizeof(float) * t->n);
    task_init_params(t, 2, p);
    rng r;
    rng_seed(&r, 3);
    double before = task_eval_loss(t, p);
    for (int s = 0; s < 50; s++) {
        task_loss_grad(t, p, g, &r);
        for (size_t i = 0; i < t->n; i++) p[i] -= 0.2f * g[i];
    }
    double after = task_eval_loss(t, p);
    printf("  fmnist_mlp default    eval loss %.4f -> %.4f after 50 GD steps (lr 0.2)\n", before, after);
    assert_true(after < before - 0.1);
    free(p); free(g);
    task_free(t);
}

/* Tasks of one family created from several threads at once (the first
 * load of the data cache races here) share the one cache and compute the
 * same losses as a task made alone. */
static void *create_in_thread(void *arg)
{
    double *out = arg;
    task *t;
    task_params pp = {.width = 4, .data = &data_cache_source};
    if (task_create("fmnist_mlp", &pp, 1, &t)) { *out = -1; return NULL; }
    float *p = malloc(sizeof(float) * t->n);
    task_init_params(t, 5, p);
    *out = task_eval_loss(t, p);
    free(p);
    task_free(t);
    return NULL;
}

static void test_tasks_from_many_threads_share_data(void **st)
{
    (void)st;
    pthread_t th[4];
    double v[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, create_in_thread, &v[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    double ref;
    create_in_thread(&ref);
    assert_true(ref > 0);
    for (int i = 0; i < 4; i++) assert_true(v[i] == ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_data_fails_cleanly),
        cmocka_unit_test(test_tasks_from_many_threads_share_data),   /* first load, concurrent */
        cmocka_unit_test(test_table_and_errors),
        cmocka_unit_test(test_family_keys_are_read_or_refused),
        cmocka_unit_test(test_gradients_match_finite_differences),
        cmocka_unit_test(test_hvp_matches_finite_differences_of_gradient),
        cmocka_unit_test(test_same_seed_same_task_and_batches),
        cmocka_unit_test(test_nonfinite_params_give_nan_not_crash),
        cmocka_unit_test(test_gradient_descent_lowers_loss),
        cmocka_unit_test(test_seq_families_train_with_adam),
        cmocka_unit_test(test_bilinear_downsample_is_exact_on_ramps),
        cmocka_unit_test(test_gradient_noise_has_stated_std),
        cmocka_unit_test(test_fmnist_default_trains_with_gd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
