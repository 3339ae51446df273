/* test_lopt_attn.c — attn_lopt: its transformer's forward and backward
 * against a double-precision reference written here from the formulas in
 * lopt_attn_net.h (central finite differences, method and tolerances in
 * fdref.h); the untrained optimizer is Adam-like and lowers a quadratic as
 * Adam does; invalid head/width and token combinations are refused with a
 * reason; a saved state loads only into the same shape.  (Save/load bit for
 * bit: test_lopt.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "layernorm.h"
#include "lopt_attn_net.h"
#include "opt.h"
#include "tasks.h"
#include "core/fdref.h"

typedef struct { int H, L, NH, T; const double *x, *r; } ref_ctx;

/* y (T, out) = x (T, in) W (in, out) + b */
static void lin(double *y, const double *x, const double *W, const double *b, int T, int in, int out)
{
    for (int t = 0; t < T; t++)
        for (int j = 0; j < out; j++) {
            double s = b[j];
            for (int i = 0; i < in; i++) s += x[t * in + i] * W[i * out + j];
            y[t * out + j] = s;
        }
}

static void ln(double *y, const double *x, const double *g, const double *b, int T, int H)
{
    for (int t = 0; t < T; t++) {
        double mu = 0, var = 0;
        for (int i = 0; i < H; i++) mu += x[t * H + i];
        mu /= H;
        for (int i = 0; i < H; i++) var += (x[t * H + i] - mu) * (x[t * H + i] - mu);
        var /= H;
        double rs = 1 / sqrt(var + (double)LAYERNORM_EPS);
        for (int i = 0; i < H; i++) y[t * H + i] = g[i] * (x[t * H + i] - mu) * rs + b[i];
    }
}

static double gelu(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* L = sum r .* out(theta) through the network as lopt_attn_net.h defines it. */
static double ref_loss(const double *th, const void *c)
{
    const ref_ctx *k = c;
    int H = k->H, T = k->T, NH = k->NH, D = H / NH, NI = LOPT_ATTN_NIN;
    double *z = calloc((size_t)T * H, sizeof(double)), *a = calloc((size_t)T * H, sizeof(double));
    double *qkv = calloc((size_t)T * 3 * H, sizeof(double)), *o = calloc((size_t)T * H, sizeof(double));
    double *h = calloc((size_t)T * 2 * H, sizeof(double)), *y = calloc((size_t)T * H, sizeof(double));
    double out[2 * 16];
    const double *p = th;
    lin(z, k->x, p, p + NI * H, T, NI, H);
    p += NI * H + H;
    for (int l = 0; l < k->L; l++) {
        const double *g1 = p, *b1 = g1 + H, *Wqkv = b1 + H, *bqkv = Wqkv + 3 * H * H, *Wo = bqkv + 3 * H;
        const double *bo = Wo + H * H, *g2 = bo + H, *b2 = g2 + H, *W1 = b2 + H, *bb1 = W1 + 2 * H * H;
        const double *W2 = bb1 + 2 * H, *bb2 = W2 + 2 * H * H;
        p = bb2 + H;
        ln(a, z, g1, b1, T, H);
        lin(qkv, a, Wqkv, bqkv, T, H, 3 * H);
        for (int hd = 0; hd < NH; hd++)
            for (int t = 0; t < T; t++) {
                double s[64], mx = -1e300, sum = 0;
                for (int u = 0; u < T; u++) {
                    s[u] = 0;
                    for (int d = 0; d < D; d++) s[u] += qkv[t * 3 * H + hd * D + d] * qkv[u * 3 * H + H + hd * D + d];
                    s[u] /= sqrt((double)D);
                    if (s[u] > mx) mx = s[u];
                }
                for (int u = 0; u < T; u++) { s[u] = exp(s[u] - mx); sum += s[u]; }
                for (int d = 0; d < D; d++) {
                    double v = 0;
                    for (int u = 0; u < T; u++) v += s[u] / sum * qkv[u * 3 * H + 2 * H + hd * D + d];
                    o[t * H + hd * D + d] = v;
                }
            }
        lin(y, o, Wo, bo, T, H, H);
        for (int i = 0; i < T * H; i++) z[i] += y[i];
        ln(a, z, g2, b2, T, H);
        lin(h, a, W1, bb1, T, H, 2 * H);
        for (int i = 0; i < T * 2 * H; i++) h[i] = gelu(h[i]);
        lin(y, h, W2, bb2, T, 2 * H, H);
        for (int i = 0; i < T * H; i++) z[i] += y[i];
    }
    ln(a, z, p, p + H, T, H);
    lin(out, a, p + 2 * H, p + 2 * H + 2 * H, T, H, 2);
    double L = 0;
    for (int i = 0; i < 2 * T; i++) L += k->r[i] * out[i];
    free(z); free(a); free(qkv); free(o); free(h); free(y);
    return L;
}

static void check_net(int H, int L, int NH, int T, uint64_t seed)
{
    rng g;
    rng_seed(&g, seed);
    size_t nt = lopt_attn_theta_count(H, L);
    assert_true(nt > 0);
    float *th = malloc(nt * sizeof(float));
    lopt_attn_init_params(th, H, L, &g);
    /* every parameter away from its special init value (gains 1, biases 0, small read-out) */
    for (size_t i = 0; i < nt; i++) th[i] += 0.3f * (float)(rng_uniform(&g) - 0.5);
    float *x = fdref_randf(&g, (size_t)T * LOPT_ATTN_NIN, 1.0f), *r = fdref_randf(&g, 2 * (size_t)T, 1.0f);
    float *cache = malloc(lopt_attn_cache_size(H, L, NH, T) * sizeof(float));
    float *scr = malloc(lopt_attn_scratch_size(H, T) * sizeof(float));
    float *out = malloc(2 * (size_t)T * sizeof(float)), *dth = calloc(nt, sizeof(float));
    lopt_attn_forward(th, H, L, NH, T, x, cache, out);
    lopt_attn_backward(th, H, L, NH, T, x, cache, r, dth, scr);
    double *thd = fdref_to_d(th, nt), *xd = fdref_to_d(x, (size_t)T * LOPT_ATTN_NIN), *rd = fdref_to_d(r, 2 * (size_t)T);
    ref_ctx k = {H, L, NH, T, xd, rd};
    double Lf = 0, Ld = ref_loss(thd, &k);
    for (int i = 0; i < 2 * T; i++) Lf += (double)r[i] * out[i];
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    double err = fdref_grad_err(ref_loss, &k, thd, 0, nt, dth);
    if (getenv("ATTN_DEBUG") || err >= FDREF_GRAD_TOL) fprintf(stderr, "H %d L %d NH %d T %d: grad err %g\n", H, L, NH, T, err);
    assert_true(err < FDREF_GRAD_TOL);
    free(th); free(x); free(r); free(cache); free(scr); free(out); free(dth);
    free(thd); free(xd); free(rd);
}

static void test_net_matches_reference_and_gradcheck(void **st)
{
    (void)st;
    check_net(4, 1, 1, 3, 1);
    check_net(8, 2, 2, 5, 2);
    check_net(8, 1, 4, 7, 3);
}

/* The attention is over a set: permuting the tokens permutes the outputs. */
static void test_net_is_permutation_equivariant(void **st)
{
    (void)st;
    int H = 8, L = 2, NH = 2, T = 4;
    rng g;
    rng_seed(&g, 5);
    size_t nt = lopt_attn_theta_count(H, L);
    float *th = malloc(nt * sizeof(float));
    lopt_attn_init_params(th, H, L, &g);
    float *x = fdref_randf(&g, (size_t)T * LOPT_ATTN_NIN, 1.0f), *xp = malloc((size_t)T * LOPT_ATTN_NIN * sizeof(float));
    for (int t = 0; t < T; t++) memcpy(xp + t * LOPT_ATTN_NIN, x + (T - 1 - t) * LOPT_ATTN_NIN, LOPT_ATTN_NIN * sizeof(float));
    float *cache = malloc(lopt_attn_cache_size(H, L, NH, T) * sizeof(float)), o1[8], o2[8];
    lopt_attn_forward(th, H, L, NH, T, x, cache, o1);
    lopt_attn_forward(th, H, L, NH, T, xp, cache, o2);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 2; j++) assert_true(fabsf(o1[t * 2 + j] - o2[(T - 1 - t) * 2 + j]) < 1e-5f);
    free(th); free(x); free(xp); free(cache);
}

/* ntens tensors alternating (3..5, 4) matrices and (3..5) vectors. */
static void test_layout(layout *lay, int ntens)
{
    const char *names[64];
    int ndims[64];
    int64_t shapes[64][LAYOUT_MAX_DIMS];
    char buf[64][8];
    for (int i = 0; i < ntens; i++) {
        snprintf(buf[i], sizeof buf[i], "t%d", i);
        names[i] = buf[i];
        ndims[i] = i % 2 ? 1 : 2;
        memset(shapes[i], 0, sizeof shapes[i]);
        shapes[i][0] = 3 + i % 3;
        shapes[i][1] = 4;
    }
    assert_int_equal(layout_init(lay, ntens, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100000), 0);
}

/* Untrained: the first update is Adam's first (−lr·sign g) within the few
 * percent of the read-out's small random step scale and momentum mix. */
static void test_default_first_step_is_adam_like(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay, 3);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "attn_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    size_t n = lay.n;
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) g[i] = (float)((i % 3) + 1) * (i % 2 ? 1.0f : -1.0f);
    assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        float want = -1e-3f * (g[i] > 0 ? 1.0f : -1.0f);
        assert_true(fabsf(u[i] - want) < 0.05f * 1e-3f);
    }
    opt_deinit(&o);
    free(p); free(g); free(u);
    layout_deinit(&lay);
}

static double run_quadratic(const char *name, int steps)
{
    task *tk;
    task_params tp = {0};
    tp.dim = 10;
    assert_int_equal(task_create("quadratic", &tp, 3, &tk), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, name), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 1e-2), 0);
    if (strcmp(name, "adam") != 0) cfg.weights = LOPT_WEIGHTS_DEFAULT;
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &tk->lay), 0);
    float *x = malloc(tk->n * sizeof(float)), *gr = malloc(tk->n * sizeof(float)), *up = malloc(tk->n * sizeof(float));
    task_init_params(tk, 1, x);
    double l0 = task_eval_loss(tk, x);
    rng r;
    rng_seed(&r, 1);
    for (int t = 0; t < steps; t++) {
        task_loss_grad(tk, x, gr, &r);
        assert_int_equal(opt_step(&o, x, gr, up, NULL), 0);
    }
    double l1 = task_eval_loss(tk, x);
    opt_deinit(&o);
    task_free(tk);
    free(x); free(gr); free(up);
    return l1 / l0;
}

/* Untrained attn_lopt lowers a quadratic about as Adam at the same lr does. */
static void test_default_descends_quadratic_like_adam(void **st)
{
    (void)st;
    double ra = run_quadratic("adam", 300), rl = run_quadratic("attn_lopt", 300);
    if (getenv("ATTN_DEBUG")) fprintf(stderr, "loss ratio after 300 steps: adam %g, attn_lopt %g\n", ra, rl);
    assert_true(ra < 0.5);
    assert_true(rl < 0.5);
    assert_true(rl < 1.5 * ra && ra < 1.5 * rl);
}

static void test_invalid_combinations_are_refused(void **st)
{
    (void)st;
    const opt_vtbl *vt = opt_find("attn_lopt");
    assert_non_null(vt);
    assert_non_null(vt->check);
    layout lay;
    test_layout(&lay, 3);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "attn_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    char msg[256] = "";
    assert_int_equal(vt->check(&cfg, &lay, msg, sizeof msg), 0);
    assert_int_equal(opt_config_set(&cfg, "hidden_size", 10), 0);
    assert_int_equal(opt_config_set(&cfg, "num_heads", 3), 0);
    assert_int_equal(vt->check(&cfg, &lay, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "num_heads (3) must divide hidden_size (10)"));
    uint64_t b;
    assert_int_equal(opt_bytes(&cfg, &lay, &b), ERR_INVALID_ARGUMENT);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_INVALID_ARGUMENT);
    assert_int_equal(opt_config_set(&cfg, "num_heads", 17), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "sequence_length", 17), ERR_OUT_OF_RANGE);
    layout_deinit(&lay);
    /* 40 tensors x 16 steps = 640 tokens > LOPT_ATTN_MAX_TOKENS */
    test_layout(&lay, 40);
    assert_int_equal(opt_config_defaults(&cfg, "attn_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_config_set(&cfg, "sequence_length", 16), 0);
    assert_int_equal(vt->check(&cfg, &lay, msg, sizeof msg), ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "lower sequence_length"));
    assert_int_equal(opt_bytes(&cfg, &lay, &b), ERR_INVALID_ARGUMENT);
    assert_int_equal(opt_config_set(&cfg, "sequence_length", 12), 0);
    assert_int_equal(opt_bytes(&cfg, &lay, &b), 0);
    layout_deinit(&lay);
}

/* A state saved with sequence_length 4 does not load into sequence_length 3. */
static void test_state_loads_only_into_the_same_shape(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay, 3);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "attn_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    size_t n = lay.n;
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) g[i] = 0.1f * (float)i;
    assert_int_equal(opt_step(&a, p, g, u, NULL), 0);
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    assert_int_equal(opt_config_set(&cfg, "sequence_length", 3), 0);
    assert_int_equal(opt_init(&b, &cfg, &lay), 0);
    assert_int_equal(opt_load(&b, blob, len), ERR_CORRUPT);
    free(blob);
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(g); free(u);
    layout_deinit(&lay);
}

/* A record carries num_heads and sequence_length: a session on it runs at
 * the record's, whatever its own hyperparameters say; a record whose heads do
 * not divide its width, or with only one of the two, is corrupt. */
static void test_record_carries_heads_and_sequence_length(void **st)
{
    (void)st;
    lopt_weights w, back;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_ATTN, 12, 1, 3), 0);
    w.heads = 3; w.seq = 2;
    uint8_t *buf;
    size_t len;
    assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&back, buf, len), 0);
    assert_int_equal(back.heads, 3);
    assert_int_equal(back.seq, 2);
    assert_int_equal(back.mup_base, 0);
    assert_memory_equal(back.theta, w.theta, w.ntheta * sizeof(float));
    lopt_weights_deinit(&back);
    free(buf);
    assert_int_equal(lopt_registry_put("attn-rec", &w), 0);
    layout lay;
    test_layout(&lay, 3);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "attn_lopt"), 0);   /* hidden 16, 2 heads, S 4 */
    cfg.weights = "attn-rec";
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    const lopt_weights *ow = lopt_opt_weights(&o);
    assert_int_equal(ow->hidden, 12);
    assert_int_equal(ow->heads, 3);
    assert_int_equal(ow->seq, 2);
    uint8_t *state;
    size_t slen;
    assert_int_equal(opt_save(&o, &state, &slen), 0);
    opt_deinit(&o);
    /* the same state restored into a session with other hyperparameters: the record decides */
    assert_int_equal(opt_config_set(&cfg, "sequence_length", 7), 0);
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    assert_int_equal(opt_load(&o, state, slen), 0);
    opt_deinit(&o);
    free(state);
    /* without a record: the hyperparameters, written into the optimizer's own weights */
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    assert_int_equal(lopt_opt_weights(&o)->heads, 2);
    assert_int_equal(lopt_opt_weights(&o)->seq, 7);
    opt_deinit(&o);
    layout_deinit(&lay);
    assert_int_equal(lopt_registry_remove("attn-rec"), 0);
    int bad[][2] = {{5, 2}, {3, 0}, {0, 2}};
    for (int i = 0; i < 3; i++) {
        w.heads = bad[i][0]; w.seq = bad[i][1];
        assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
        assert_int_equal(lopt_weights_load(&back, buf, len), ERR_CORRUPT);
        free(buf);
    }
    lopt_weights_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_matches_reference_and_gradcheck),
        cmocka_unit_test(test_net_is_permutation_equivariant),
        cmocka_unit_test(test_default_first_step_is_adam_like),
        cmocka_unit_test(test_default_descends_quadratic_like_adam),
        cmocka_unit_test(test_invalid_combinations_are_refused),
        cmocka_unit_test(test_state_loads_only_into_the_same_shape),
        cmocka_unit_test(test_record_carries_heads_and_sequence_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
