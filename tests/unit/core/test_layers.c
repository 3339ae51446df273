/* test_layers.c — every backward in layers.c against central finite
 * differences of an independent double-precision reference forward.
 *
 * Method: each layer gets a double reference forward written here from the
 * formulas (not from layers.c).  The scalar checked is L = sum(r .* outputs)
 * with a fixed random r, so dL/doutputs = r is what the float backward is fed.
 * Central differences of the double reference with step 1e-6 (truncation
 * and rounding error ~1e-9 relative) give the reference gradient.
 * Tolerances: the float forward matches the double forward within 1e-5
 * (relative to the largest output), and every float gradient matches the
 * double finite differences within 1e-4 relative to the largest gradient
 * entry of that tensor (float accumulation error is ~1e-6 here). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "fdref.h"
#include "rng.h"

static float *randf(rng *r, size_t n, float sd)
{
    float *x = malloc(sizeof(float) * n);
    rng_normal_fill(r, x, n, 0.0f, sd);
    return x;
}

/* ---- double references -------------------------------------------------- */

static double ref_act(double x, int a)
{
    switch (a) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_TANH: return tanh(x);
    case ACT_GELU: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    default: return x;
    }
}

/* y = x W + b, x (B,I), W (I,O) */
static void ref_linear(double *y, const double *x, const double *w, const double *b, int B, int I, int O)
{
    for (int i = 0; i < B; i++)
        for (int j = 0; j < O; j++) {
            double s = b ? b[j] : 0;
            for (int k = 0; k < I; k++) s += x[i * I + k] * w[k * O + j];
            y[i * O + j] = s;
        }
}

/* ---- linear ------------------------------------------------------------- */

typedef struct { int B, I, O; const double *r; } lin_ctx;

/* th = [x (B,I) | W (I,O) | b (O)] */
static double lin_loss(const double *th, const void *c)
{
    const lin_ctx *k = c;
    double *y = malloc(sizeof(double) * k->B * k->O);
    ref_linear(y, th, th + k->B * k->I, th + k->B * k->I + k->I * k->O, k->B, k->I, k->O);
    double L = 0;
    for (int i = 0; i < k->B * k->O; i++) L += k->r[i] * y[i];
    free(y);
    return L;
}

static void check_linear(int B, int I, int O, uint64_t seed)
{
    rng g;
    rng_seed(&g, seed);
    size_t nx = (size_t)B * I, nw = (size_t)I * O, n = nx + nw + O;
    float *th = randf(&g, n, 1.0f), *r = randf(&g, (size_t)B * O, 1.0f);
    float *y = malloc(sizeof(float) * B * O);
    layer_linear_forward(y, th, th + nx, th + nx + nw, B, I, O);
    double *thd = fdref_to_d(th, n), *rd = fdref_to_d(r, (size_t)B * O), *yd = malloc(sizeof(double) * B * O);
    ref_linear(yd, thd, thd + nx, thd + nx + nw, B, I, O);
    assert_true(fdref_rel_diff(y, yd, (size_t)B * O) < FDREF_FWD_TOL);
    float *d = calloc(n, sizeof(float));
    layer_linear_backward(d, d + nx, d + nx + nw, r, th, th + nx, B, I, O);
    lin_ctx k = {B, I, O, rd};
    assert_true(fdref_grad_err(lin_loss, &k, thd, 0, nx, d) < FDREF_GRAD_TOL);
    assert_true(fdref_grad_err(lin_loss, &k, thd, nx, nx + nw, d + nx) < FDREF_GRAD_TOL);
    assert_true(fdref_grad_err(lin_loss, &k, thd, nx + nw, n, d + nx + nw) < FDREF_GRAD_TOL);
    /* backward accumulates: a second call doubles every gradient */
    float *d2 = malloc(sizeof(float) * n);
    memcpy(d2, d, sizeof(float) * n);
    layer_linear_backward(d2, d2 + nx, d2 + nx + nw, r, th, th + nx, B, I, O);
    for (size_t i = 0; i < n; i++) assert_true(fabsf(d2[i] - 2 * d[i]) <= 1e-6f * (1 + fabsf(d[i])));
    /* no-bias forward */
    layer_linear_forward(y, th, th + nx, NULL, B, I, O);
    ref_linear(yd, thd, thd + nx, NULL, B, I, O);
    assert_true(fdref_rel_diff(y, yd, (size_t)B * O) < FDREF_FWD_TOL);
    free(th); free(r); free(y); free(thd); free(rd); free(yd); free(d); free(d2);
}

static void test_linear_backward_matches_fd_tiny(void **st) { (void)st; check_linear(1, 1, 1, 1); check_linear(3, 4, 5, 2); }
static void test_linear_backward_matches_fd_blas_sizes(void **st) { (void)st; check_linear(32, 40, 24, 3); }

/* ---- activations -------------------------------------------------------- */

typedef struct { int n, a; const double *r; } act_ctx;

static double act_loss(const double *th, const void *c)
{
    const act_ctx *k = c;
    double L = 0;
    for (int i = 0; i < k->n; i++) L += k->r[i] * ref_act(th[i], k->a);
    return L;
}

static void test_activations_backward_match_fd(void **st)
{
    (void)st;
    enum { N = 64 };
    rng g;
    rng_seed(&g, 9);
    for (int a = ACT_IDENTITY; a <= ACT_GELU; a++) {
        float *x = randf(&g, N, 2.0f), *r = randf(&g, N, 1.0f), y[N], dx[N];
        for (int i = 0; i < N; i++) if (fabsf(x[i]) < 1e-3f) x[i] = 0.5f; /* keep off the relu kink */
        double *xd = fdref_to_d(x, N), *rd = fdref_to_d(r, N), yd[N];
        layer_act_forward(y, x, N, a);
        for (int i = 0; i < N; i++) yd[i] = ref_act(xd[i], a);
        assert_true(fdref_rel_diff(y, yd, N) < FDREF_FWD_TOL);
        memset(dx, 0, sizeof dx);
        layer_act_backward(dx, r, x, N, a);
        act_ctx k = {N, a, rd};
        assert_true(fdref_grad_err(act_loss, &k, xd, 0, N, dx) < FDREF_GRAD_TOL);
        free(x); free(r); free(xd); free(rd);
    }
    assert_int_equal(layer_act_parse("gelu"), ACT_GELU);
    assert_int_equal(layer_act_parse("nope"), -1);
    assert_string_equal(layer_act_name(ACT_TANH), "tanh");
}

/* ---- MLP ---------------------------------------------------------------- */

typedef struct { const mlp *m; int B; const double *r; } mlp_ctx;

/* th = [params | x (B, sizes[0])]; with m->layernorm each hidden layer's
 * pre-activation row s is first replaced by g * (s - mean) / sqrt(var + eps) + beta
 * (biased variance, eps 1e-5 as layernorm.h says). */
static double mlp_loss(const double *th, const void *c)
{
    const mlp_ctx *k = c;
    const mlp *m = k->m;
    int B = k->B, maxw = 0;
    for (int l = 0; l <= m->nlayers; l++) if (m->sizes[l] > maxw) maxw = m->sizes[l];
    double *a = malloc(sizeof(double) * B * maxw), *z = malloc(sizeof(double) * B * maxw);
    memcpy(a, th + m->nparams, sizeof(double) * B * m->sizes[0]);
    for (int l = 0; l < m->nlayers; l++) {
        int I = m->sizes[l], O = m->sizes[l + 1], hidden = l + 1 < m->nlayers;
        for (int i = 0; i < B; i++) {
            double *zi = z + (size_t)i * O;
            for (int j = 0; j < O; j++) {
                double s = th[m->b_off[l] + j];
                for (int q = 0; q < I; q++) s += a[i * I + q] * th[m->w_off[l] + (size_t)q * O + j];
                zi[j] = s;
            }
            if (hidden && m->layernorm) {
                double mu = 0, var = 0;
                for (int j = 0; j < O; j++) mu += zi[j] / O;
                for (int j = 0; j < O; j++) var += (zi[j] - mu) * (zi[j] - mu) / O;
                for (int j = 0; j < O; j++)
                    zi[j] = th[m->g_off[l] + j] * (zi[j] - mu) / sqrt(var + 1e-5) + th[m->nb_off[l] + j];
            }
            if (hidden)
                for (int j = 0; j < O; j++) zi[j] = ref_act(zi[j], m->act);
        }
        memcpy(a, z, sizeof(double) * B * O);
    }
    double L = 0;
    for (int i = 0; i < B * m->sizes[m->nlayers]; i++) L += k->r[i] * a[i];
    free(a); free(z);
    return L;
}

/* With layernorm, the LayerNorm gains are drawn around 1 and its biases
 * around 0 (not left at 1 and 0, which would hide a gain mixed up with a
 * constant), and their gradients are checked like the weights'. */
static void check_mlp_ln(int nl, const int *sizes, int act, int B, uint64_t seed, int layernorm)
{
    mlp m;
    assert_int_equal(layer_mlp_init_ln(&m, nl, sizes, act, layernorm), 0);
    rng g;
    rng_seed(&g, seed);
    size_t nx = (size_t)B * sizes[0], no = (size_t)B * sizes[nl], n = m.nparams + nx;
    float *th = malloc(sizeof(float) * n);
    layer_mlp_init_params(&m, th, &g, 1.0f);
    for (int l = 0; l < nl; l++) rng_normal_fill(&g, th + m.b_off[l], (size_t)sizes[l + 1], 0.0f, 0.3f);
    for (int l = 0; layernorm && l + 1 < nl; l++) {
        rng_normal_fill(&g, th + m.g_off[l], (size_t)sizes[l + 1], 1.0f, 0.3f);
        rng_normal_fill(&g, th + m.nb_off[l], (size_t)sizes[l + 1], 0.0f, 0.3f);
    }
    rng_normal_fill(&g, th + m.nparams, nx, 0.0f, 1.0f);
    float *r = randf(&g, no, 1.0f), *out = malloc(sizeof(float) * no);
    float *cache = malloc(sizeof(float) * layer_mlp_cache_size(&m, B));
    float *scr = malloc(sizeof(float) * layer_mlp_scratch_size(&m, B));
    layer_mlp_forward(&m, out, cache, th, th + m.nparams, B);
    float *d = calloc(n, sizeof(float));
    layer_mlp_backward(&m, d, d + m.nparams, scr, r, cache, th, th + m.nparams, B);
    double *thd = fdref_to_d(th, n), *rd = fdref_to_d(r, no);
    mlp_ctx k = {&m, B, rd};
    /* forward: L from the float output against the double reference */
    double Lf = 0;
    for (size_t i = 0; i < no; i++) Lf += (double)r[i] * out[i];
    double Ld = mlp_loss(thd, &k);
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    for (int l = 0; l < nl; l++) {
        size_t w = m.w_off[l], b = m.b_off[l];
        assert_true(fdref_grad_err(mlp_loss, &k, thd, w, b, d + w) < FDREF_GRAD_TOL);
        assert_true(fdref_grad_err(mlp_loss, &k, thd, b, b + sizes[l + 1], d + b) < FDREF_GRAD_TOL);
        if (layernorm && l + 1 < nl) {
            size_t gg = m.g_off[l], nb = m.nb_off[l], o = (size_t)sizes[l + 1];
            assert_true(fdref_grad_err(mlp_loss, &k, thd, gg, gg + o, d + gg) < FDREF_GRAD_TOL);
            assert_true(fdref_grad_err(mlp_loss, &k, thd, nb, nb + o, d + nb) < FDREF_GRAD_TOL);
        }
    }
    assert_true(fdref_grad_err(mlp_loss, &k, thd, m.nparams, n, d + m.nparams) < FDREF_GRAD_TOL);
    free(th); free(r); free(out); free(cache); free(scr); free(d); free(thd); free(rd);
}

static void check_mlp(int nl, const int *sizes, int act, int B, uint64_t seed)
{
    check_mlp_ln(nl, sizes, act, B, seed, 0);
}

static void test_mlp_backward_matches_fd_each_activation(void **st)
{
    (void)st;
    const int s3[] = {5, 7, 6, 3};
    for (int a = ACT_RELU; a <= ACT_GELU; a++) check_mlp(3, s3, a, 4, 100 + (uint64_t)a);
    const int s1[] = {4, 2};
    check_mlp(1, s1, ACT_TANH, 3, 7);          /* a single linear layer */
    const int big[] = {30, 40, 10};
    check_mlp(2, big, ACT_GELU, 16, 8);        /* BLAS path */
}

/* linear -> LayerNorm -> act in every hidden layer, against the double
 * reference with the normalisation written out; each activation, one
 * hidden layer and three, and the BLAS path. */
static void test_mlp_layernorm_backward_matches_fd_each_activation(void **st)
{
    (void)st;
    const int s3[] = {5, 7, 6, 3}, s4[] = {4, 6, 5, 6, 3};
    for (int a = ACT_RELU; a <= ACT_GELU; a++) {
        check_mlp_ln(3, s3, a, 4, 200 + (uint64_t)a, 1);
        check_mlp_ln(4, s4, a, 3, 210 + (uint64_t)a, 1);
    }
    const int s2[] = {4, 5, 2};
    check_mlp_ln(2, s2, ACT_TANH, 3, 7, 1);
    const int s1[] = {4, 2};
    check_mlp_ln(1, s1, ACT_GELU, 3, 8, 1);    /* no hidden layer: no LayerNorm */
    const int big[] = {30, 40, 10};
    check_mlp_ln(2, big, ACT_GELU, 16, 9, 1);  /* BLAS path */
}

/* The LayerNorm block: a gain and a bias per hidden layer after its bias,
 * gains 1 and biases 0 at init, the weights drawn as without it (same rng
 * order); layernorm 0 gives layer_mlp_init's block; anything else refused. */
static void test_mlp_layernorm_block_and_init(void **st)
{
    (void)st;
    const int s[] = {5, 7, 6, 3};
    mlp a, b;
    assert_int_equal(layer_mlp_init(&a, 3, s, ACT_GELU), 0);
    assert_int_equal(layer_mlp_init_ln(&b, 3, s, ACT_GELU, 0), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(layer_mlp_init_ln(&b, 3, s, ACT_GELU, 1), 0);
    assert_int_equal(b.nparams, a.nparams + 2 * (7 + 6));
    assert_int_equal(b.w_off[0], 0);
    assert_int_equal(b.g_off[0], b.b_off[0] + 7);
    assert_int_equal(b.nb_off[0], b.g_off[0] + 7);
    assert_int_equal(b.w_off[1], b.nb_off[0] + 7);
    assert_int_equal(b.nb_off[1], b.g_off[1] + 6);
    assert_int_equal(b.w_off[2], b.nb_off[1] + 6);
    assert_int_equal(b.nparams, b.b_off[2] + 3);
    assert_int_equal(layer_mlp_scratch_size(&b, 4), 3 * 4 * 7);
    assert_int_equal(layer_mlp_cache_size(&b, 4), layer_mlp_cache_size(&a, 4) + 4 * (7 + 6) + 2 * 4 * 2);
    float *pa = malloc(sizeof(float) * a.nparams), *pb = malloc(sizeof(float) * b.nparams);
    rng ra, rb;
    rng_seed(&ra, 5);
    rng_seed(&rb, 5);
    layer_mlp_init_params(&a, pa, &ra, 1.0f);
    layer_mlp_init_params(&b, pb, &rb, 1.0f);
    for (int l = 0; l < 3; l++) {
        assert_memory_equal(pa + a.w_off[l], pb + b.w_off[l], sizeof(float) * s[l] * s[l + 1]);
        assert_memory_equal(pa + a.b_off[l], pb + b.b_off[l], sizeof(float) * s[l + 1]);
    }
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < s[l + 1]; j++) {
            assert_true(pb[b.g_off[l] + j] == 1.0f);
            assert_true(pb[b.nb_off[l] + j] == 0.0f);
        }
    assert_memory_equal(ra.s, rb.s, sizeof ra.s);
    free(pa); free(pb);
    assert_int_not_equal(layer_mlp_init_ln(&b, 3, s, ACT_GELU, 2), 0);
    assert_int_not_equal(layer_mlp_init_ln(&b, 3, s, ACT_GELU, -1), 0);
}

static void test_mlp_init_rejects_bad_sizes(void **st)
{
    (void)st;
    mlp m;
    const int bad[] = {3, 0, 2};
    assert_int_not_equal(layer_mlp_init(&m, 2, bad, ACT_RELU), 0);
    const int ok[] = {3, 2};
    assert_int_not_equal(layer_mlp_init(&m, 0, ok, ACT_RELU), 0);
    assert_int_not_equal(layer_mlp_init(&m, 1, ok, 9), 0);
    assert_int_equal(layer_mlp_init(&m, 1, ok, ACT_RELU), 0);
    assert_int_equal((int)m.nparams, 3 * 2 + 2);
}

/* ---- LSTM --------------------------------------------------------------- */

typedef struct { const lstm *l; int B; const double *rh, *rc; } lstm_ctx;

static double sig(double x) { return 1 / (1 + exp(-x)); }

/* th = [params | x (B,in) | h_prev (B,H) | c_prev (B,H)];
 * L = sum rh .* h + sum rc .* c */
static double lstm_loss(const double *th, const void *c)
{
    const lstm_ctx *k = c;
    const lstm *l = k->l;
    int B = k->B, I = l->in, H = l->hidden, G = 4 * H;
    const double *x = th + l->nparams, *hp = x + B * I, *cp = hp + B * H;
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double a[4];
            for (int q = 0; q < 4; q++) {
                int col = q * H + j;
                double s = th[l->b_off + col];
                for (int p = 0; p < I; p++) s += x[b * I + p] * th[l->wx_off + (size_t)p * G + col];
                for (int p = 0; p < H; p++) s += hp[b * H + p] * th[l->wh_off + (size_t)p * G + col];
                a[q] = s;
            }
            double cc = sig(a[1]) * cp[b * H + j] + sig(a[0]) * tanh(a[2]);
            double hh = sig(a[3]) * tanh(cc);
            L += k->rh[b * H + j] * hh + (k->rc ? k->rc[b * H + j] * cc : 0);
        }
    return L;
}

static void check_lstm(int I, int H, int B, int with_dc, uint64_t seed)
{
    lstm l;
    assert_int_equal(layer_lstm_init(&l, I, H), 0);
    rng g;
    rng_seed(&g, seed);
    size_t nx = (size_t)B * I, nh = (size_t)B * H, n = l.nparams + nx + 2 * nh;
    float *th = malloc(sizeof(float) * n);
    layer_lstm_init_params(&l, th, &g, 1.5f, 1.0f);
    rng_normal_fill(&g, th + l.b_off, 4 * (size_t)H, 0.0f, 0.5f);
    rng_normal_fill(&g, th + l.nparams, nx + 2 * nh, 0.0f, 1.0f);
    const float *x = th + l.nparams, *hp = x + nx, *cp = hp + nh;
    float *rh = randf(&g, nh, 1.0f), *rc = randf(&g, nh, 1.0f);
    float *h = malloc(sizeof(float) * nh), *c = malloc(sizeof(float) * nh);
    float *cache = malloc(sizeof(float) * layer_lstm_cache_size(&l, B));
    float *scr = malloc(sizeof(float) * layer_lstm_scratch_size(&l, B));
    layer_lstm_forward(&l, h, c, cache, th, x, hp, cp, B);
    float *d = calloc(n, sizeof(float));
    float *dx = d + l.nparams, *dhp = dx + nx, *dcp = dhp + nh;
    layer_lstm_backward(&l, d, dx, dhp, dcp, scr, rh, with_dc ? rc : NULL, cache, th, x, hp, cp, B);
    double *thd = fdref_to_d(th, n), *rhd = fdref_to_d(rh, nh), *rcd = fdref_to_d(rc, nh);
    lstm_ctx k = {&l, B, rhd, with_dc ? rcd : NULL};
    double Lf = 0;
    for (size_t i = 0; i < nh; i++) Lf += (double)rh[i] * h[i] + (with_dc ? (double)rc[i] * c[i] : 0);
    double Ld = lstm_loss(thd, &k);
    assert_true(fabs(Lf - Ld) < FDREF_FWD_TOL * (1 + fabs(Ld)));
    assert_true(fdref_grad_err(lstm_loss, &k, thd, l.wx_off, l.wh_off, d + l.wx_off) < FDREF_GRAD_TOL);
    assert_true(fdref_grad_err(lstm_loss, &k, thd, l.wh_off, l.b_off, d + l.wh_off) < FDREF_GRAD_TOL);
    assert_true(fdref_grad_err(lstm_loss, &k, thd, l.b_off, l.nparams, d + l.b_off) < FDREF_GRAD_TOL);
    size_t o = l.nparams;
    assert_true(fdref_grad_err(lstm_loss, &k, thd, o, o + nx, dx) < FDREF_GRAD_TOL);
    assert_true(fdref_grad_err(lstm_loss, &k, thd, o + nx, o + nx + nh, dhp) < FDREF_GRAD_TOL);
    assert_true(fdref_grad_err(lstm_loss, &k, thd, o + nx + nh, n, dcp) < FDREF_GRAD_TOL);
    free(th); free(rh); free(rc); free(h); free(c); free(cache); free(scr); free(d);
    free(thd); free(rhd); free(rcd);
}

static void test_lstm_backward_matches_fd(void **st)
{
    (void)st;
    check_lstm(3, 4, 2, 1, 21);
    check_lstm(3, 4, 2, 0, 22);   /* dc = NULL */
    check_lstm(1, 1, 1, 1, 23);
    check_lstm(20, 16, 8, 1, 24); /* BLAS path */
}

/* ---- softmax cross-entropy ---------------------------------------------- */

typedef struct { int B, C; const int *y; } xent_ctx;

static double xent_loss(const double *z, const void *c)
{
    const xent_ctx *k = c;
    double L = 0;
    for (int b = 0; b < k->B; b++) {
        double m = z[b * k->C], s = 0;
        for (int j = 1; j < k->C; j++) if (z[b * k->C + j] > m) m = z[b * k->C + j];
        for (int j = 0; j < k->C; j++) s += exp(z[b * k->C + j] - m);
        L += m + log(s) - z[b * k->C + k->y[b]];
    }
    return L / k->B;
}

static void test_softmax_xent_matches_fd_and_rejects_bad_input(void **st)
{
    (void)st;
    enum { B = 5, C = 7 };
    rng g;
    rng_seed(&g, 31);
    float *z = randf(&g, B * C, 3.0f), p[B * C], dz[B * C];
    int y[B] = {0, 6, 3, 3, 1};
    double *zd = fdref_to_d(z, B * C);
    xent_ctx k = {B, C, y};
    double L = layer_softmax_xent_forward(p, z, y, B, C);
    assert_true(fabs(L - xent_loss(zd, &k)) < FDREF_FWD_TOL * (1 + L));
    memset(dz, 0, sizeof dz);
    layer_softmax_xent_backward(dz, p, y, B, C, 1.0f);
    assert_true(fdref_grad_err(xent_loss, &k, zd, 0, B * C, dz) < FDREF_GRAD_TOL);
    /* huge logits stay finite (max subtraction) */
    z[0] = 1e30f;
    assert_true(isfinite(layer_softmax_xent_forward(p, z, y, B, C)));
    z[0] = NAN;
    assert_true(isnan(layer_softmax_xent_forward(p, z, y, B, C)));
    z[0] = 0;
    y[2] = C;
    assert_true(isnan(layer_softmax_xent_forward(p, z, y, B, C)));
    free(z); free(zd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_backward_matches_fd_tiny),
        cmocka_unit_test(test_linear_backward_matches_fd_blas_sizes),
        cmocka_unit_test(test_activations_backward_match_fd),
        cmocka_unit_test(test_mlp_backward_matches_fd_each_activation),
        cmocka_unit_test(test_mlp_layernorm_backward_matches_fd_each_activation),
        cmocka_unit_test(test_mlp_layernorm_block_and_init),
        cmocka_unit_test(test_mlp_init_rejects_bad_sizes),
        cmocka_unit_test(test_lstm_backward_matches_fd),
        cmocka_unit_test(test_softmax_xent_matches_fd_and_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
