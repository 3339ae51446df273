/* test_lopt.c — learned optimizers: weights blob and table, mlp_lopt
 * features, fast kernels against the reference, save/load bit for bit
 * (attn_lopt's too; its network and rule: test_lopt_attn.c),
 * nn_adam's default equals Adam, non-finite protection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "lopt_internal.h"
#include "opt.h"
#include "rng.h"
#include "tasks.h"

/* A layout of a (3,4) matrix, a (5) vector and a (2,1,3) tensor. */
static void test_layout(layout *lay)
{
    const char *names[] = {"w", "b", "k"};
    int ndims[] = {2, 1, 3};
    int64_t shapes[3][LAYOUT_MAX_DIMS] = {{3, 4}, {5}, {2, 1, 3}};
    assert_int_equal(layout_init(lay, 3, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 1000), 0);
}

static void make_opt(opt *o, const char *name, const layout *lay)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, name), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(o, &cfg, lay), 0);
}

static void test_weights_blob_roundtrip_and_corruption(void **st)
{
    (void)st;
    lopt_weights w, r;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 8, 2, 5), 0);
    assert_int_equal(w.ntheta, lopt_theta_count(LOPT_ARCH_MLP, 8, 2));
    uint8_t *buf;
    size_t len;
    assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), 0);
    assert_int_equal(r.arch, LOPT_ARCH_MLP);
    assert_int_equal(r.hidden, 8);
    assert_int_equal(r.depth, 2);
    assert_int_equal(r.ntheta, w.ntheta);
    assert_memory_equal(r.theta, w.theta, w.ntheta * sizeof(float));
    lopt_weights_deinit(&r);
    buf[len / 2] ^= 0x10;
    assert_int_equal(lopt_weights_load(&r, buf, len), ERR_CORRUPT);
    assert_int_equal(lopt_weights_load(&r, buf, len / 2), ERR_CORRUPT);
    free(buf);
    lopt_weights_deinit(&w);
    assert_int_equal(lopt_theta_count(LOPT_ARCH_MLP, 0, 1), 0);
    assert_int_equal(lopt_theta_count(99, 8, 1), 0);
}

static void test_registry_resolves_names_and_rejects_wrong_arch(void **st)
{
    (void)st;
    lopt_weights w, g;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_LSTM, 4, 2, 1), 0);
    assert_int_equal(lopt_registry_put("l2l@1", &w), 0);
    assert_int_equal(lopt_registry_get("l2l@1", &g), 0);
    assert_memory_equal(g.theta, w.theta, w.ntheta * sizeof(float));
    lopt_weights_deinit(&g);
    assert_int_equal(lopt_registry_get("nope", &g), ERR_NOT_FOUND);

    layout lay;
    test_layout(&lay);
    opt_config cfg;
    opt o;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    cfg.weights = "l2l@1";                               /* an LSTM record */
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_INVALID_ARGUMENT);
    cfg.weights = "missing@1";
    assert_int_equal(opt_init(&o, &cfg, &lay), ERR_NOT_FOUND);
    assert_int_equal(opt_config_defaults(&cfg, "lstm_lopt"), 0);
    cfg.weights = "l2l@1";
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    lopt_weights *ow = lopt_opt_weights(&o);
    assert_non_null(ow);
    assert_int_equal(ow->hidden, 4);
    assert_memory_equal(ow->theta, w.theta, w.ntheta * sizeof(float));
    opt_deinit(&o);
    assert_int_equal(lopt_registry_remove("l2l@1"), 0);
    lopt_registry_clear();
    lopt_weights_deinit(&w);
    layout_deinit(&lay);
}

/* Features of a (2,3) tensor after one step from zero state, recomputed
 * here in double from the definitions (tolerance 1e-5 relative). */
static void test_features_match_definition_after_one_step(void **st)
{
    (void)st;
    enum { R = 2, C = 3, N = 6 };
    float g[N] = {0.5f, -1.0f, 2.0f, 0.25f, -0.125f, 1.5f};
    float p[N] = {1, 2, 3, -1, -2, 0.5f};
    float acc[7 * N] = {0}, rowsum[R], colsum[C];
    float b[LOPT_NDECAY] = {0.5f, 0.9f, 0.99f, 0.999f, 0.9f};
    lopt_feat_tensor ft = {.n = N, .rows = R, .cols = C};
    for (int k = 0; k < 3; k++) ft.m[k] = acc + k * N;
    ft.v = acc + 3 * N;
    ft.r = acc + 4 * N;
    ft.c = acc + 4 * N + R;
    float inv[LOPT_NFEAT], x[LOPT_NFEAT * N];
    lopt_features_update(&ft, g, p, b, rowsum, colsum, inv);
    lopt_features_block(&ft, g, p, inv, 0, N, x, N);

    double raw[LOPT_NFEAT][N], rr[R] = {0}, cc[C] = {0};
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            double q = (double)g[i * C + j] * g[i * C + j];
            rr[i] += (1 - b[4]) * q / C;
            cc[j] += (1 - b[4]) * q / R;
        }
    double rmean = (rr[0] + rr[1]) / 2;
    for (int i = 0; i < N; i++) {
        double gi = g[i], m[3], v = (1 - b[3]) * gi * gi;
        for (int k = 0; k < 3; k++) m[k] = (1 - b[k]) * gi;
        double rv = 1 / sqrt(v + 1e-8), vh = rr[i / C] * cc[i % C] / rmean;
        double f[LOPT_NFEAT] = {gi, p[i], m[0], m[1], m[2], sqrt(v), m[0] * rv, m[1] * rv, m[2] * rv,
                                rv, gi / sqrt(vh), 1 / sqrt(vh)};
        for (int k = 0; k < LOPT_NFEAT; k++) raw[k][i] = f[k];
    }
    for (int k = 0; k < LOPT_NFEAT; k++) {
        double ss = 0;
        for (int i = 0; i < N; i++) ss += raw[k][i] * raw[k][i];
        double nrm = sqrt(ss / N);
        double out_ss = 0;
        for (int i = 0; i < N; i++) {
            double want = raw[k][i] / nrm;
            assert_true(fabs(x[k * N + i] - want) <= 1e-5 * fmax(1.0, fabs(want)));
            out_ss += (double)x[k * N + i] * x[k * N + i];
        }
        assert_true(fabs(out_ss / N - 1.0) < 1e-5);      /* RMS-normalised */
    }
    float tf[LOPT_NTIME];
    lopt_time_features(10, tf);
    assert_true(fabsf(tf[2] - tanhf(0.0f)) < 1e-7f);       /* τ = 10 */
    assert_true(fabsf(tf[0] - tanhf(9.0f)) < 1e-6f);
}

static void test_logsign_preprocessing(void **st)
{
    (void)st;
    float a, b;
    lopt_logsign(-2.0f, &a, &b);
    assert_true(fabsf(a - logf(2.0f) / 10) < 1e-7f && b == -1.0f);
    lopt_logsign(1e-6f, &a, &b);
    assert_true(a == -1.0f && fabsf(b - expf(10) * 1e-6f) < 1e-6f);
}

/* Runs `steps` updates of a 1-D tensor of N elements (per-element
 * fallback) with gradients from gen, then returns its per-tensor features. */
enum { TF_N = 4096 };
static void tensor_features_after(int steps, void (*gen)(rng *, int, float *), float *tens)
{
    static float acc[5 * TF_N], g[TF_N], p[TF_N];
    memset(acc, 0, sizeof acc);
    memset(p, 0, sizeof p);
    const float b[LOPT_NDECAY] = {0.5f, 0.9f, 0.99f, 0.999f, 0.999f};
    lopt_feat_tensor ft = {.n = TF_N};
    for (int k = 0; k < 3; k++) ft.m[k] = acc + k * TF_N;
    ft.v = acc + 3 * TF_N;
    ft.d = acc + 4 * TF_N;
    float inv[LOPT_NFEAT];
    rng r;
    rng_seed(&r, 11);
    for (int t = 1; t <= steps; t++) {
        gen(&r, t, g);
        lopt_features_update(&ft, g, p, b, NULL, NULL, inv);
    }
    double corr[LOPT_NCORR];
    lopt_bias_corrections(b, steps, corr);
    lopt_tensor_features(inv, corr, tens);
}

static void grad_constant(rng *r, int t, float *g)
{
    (void)t;
    rng s;
    rng_seed(&s, 5);                        /* the same values every step */
    (void)r;
    rng_normal_fill(&s, g, TF_N, 0, 1);
}
static void grad_noise(rng *r, int t, float *g) { (void)t; rng_normal_fill(r, g, TF_N, 0, 1); }
static void grad_shrinking(rng *r, int t, float *g)
{
    grad_constant(r, t, g);
    for (int i = 0; i < TF_N; i++) g[i] *= powf(0.95f, (float)t);
}

/* The per-tensor features say what lopt.h says they do: a gradient that
 * never changes gives u_k = 1 (Adam's bias-corrected ratio at full
 * strength; 0.998 at step 1, where ε = 1e-8 is not small against
 * v = 1e-3·g² for the smallest g) and log r = 0 from the first step; pure noise gives u_k ≈
 * √((1−β_k)/(1+β_k)) (0.577, 0.229, 0.071 for β = 0.5, 0.9, 0.99; asserted
 * within 10% after 3000 steps, measured within 0.3%) and log r ≈ 0 (−7e-4);
 * a gradient shrinking 5% a step gives log r far below 0 (−3.9 after 100
 * steps). */
static void test_tensor_features_read_signal_noise_and_decay(void **st)
{
    (void)st;
    float tens[LOPT_NTENS];
    for (int steps = 1; steps <= 50; steps += 49) {
        tensor_features_after(steps, grad_constant, tens);
        for (int k = 0; k < 3; k++) assert_true(fabsf(tens[k] - 1.0f) < 1e-2f);   /* ε: 0.998 */
        assert_true(fabsf(tens[3]) < 1e-3f);
    }
    tensor_features_after(3000, grad_noise, tens);
    const double beta[3] = {0.5, 0.9, 0.99};
    for (int k = 0; k < 3; k++) {
        double want = sqrt((1 - beta[k]) / (1 + beta[k]));
        assert_true(fabs(tens[k] - want) < 0.1 * want);
    }
    assert_true(fabsf(tens[3]) < 0.1f);
    tensor_features_after(100, grad_shrinking, tens);
    assert_true(tens[3] < -2.0f);
}

/* The step-scale head multiplies a tensor's updates: bs = log 2 doubles
 * every update of the default optimizer; a weight log 2 on u_0 doubles
 * them too under a constant gradient (u_0 = 1), on both kernels. */
static void test_step_scale_head_scales_updates(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay);
    size_t n = lay.n;
    float *pa = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *u0 = malloc(n * sizeof(float)), *u1 = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) g[i] = (float)((i % 3) + 1) * (i % 2 ? 1.0f : -1.0f);
    for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel += LOPT_KERNEL_FAST) {
        for (int which = 0; which < 2; which++) {
            lopt_mlp_kernel = kernel;
            opt a, b;
            make_opt(&a, "mlp_lopt", &lay);
            make_opt(&b, "mlp_lopt", &lay);
            lopt_weights *wb = lopt_opt_weights(&b);
            float *head = wb->theta + wb->ntheta - LOPT_MLP_NSCALE;
            head[which ? 0 : LOPT_MLP_SCALE_IN] = logf(2.0f);
            for (int t = 0; t < 3; t++) {              /* both from the same params */
                memset(pa, 0, n * sizeof(float));
                memset(pb, 0, n * sizeof(float));
                assert_int_equal(opt_step(&a, pa, g, u0, NULL), 0);
                assert_int_equal(opt_step(&b, pb, g, u1, NULL), 0);
                for (size_t i = 0; i < n; i++) assert_true(fabsf(u1[i] - 2.0f * u0[i]) <= 2e-3f * fabsf(u0[i]));
            }
            opt_deinit(&a);
            opt_deinit(&b);
        }
    }
    lopt_mlp_kernel = LOPT_KERNEL_FAST;
    free(pa); free(pb); free(g); free(u0); free(u1);
    layout_deinit(&lay);
}

/* Weights saved before the step-scale head (theta without its last
 * LOPT_MLP_NSCALE values) load as the same network with a zero head. */
static void test_weights_without_the_head_load_with_a_zero_head(void **st)
{
    (void)st;
    lopt_weights w, r;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 8, 1, 5), 0);
    size_t old = w.ntheta - LOPT_MLP_NSCALE;
    blob_writer bw;
    assert_int_equal(blob_writer_init(&bw, BLOB_KIND_WEIGHTS, LOPT_WEIGHTS_VERSION), 0);
    blob_put_u32(&bw, LOPT_ARCH_MLP);
    blob_put_u32(&bw, 8);
    blob_put_u32(&bw, 1);
    blob_put_u64(&bw, old);
    blob_put_f32s(&bw, w.theta, old);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_writer_finish(&bw, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), 0);
    assert_int_equal(r.ntheta, w.ntheta);
    assert_memory_equal(r.theta, w.theta, old * sizeof(float));
    for (size_t i = old; i < r.ntheta; i++) assert_true(r.theta[i] == 0.0f);
    lopt_weights_deinit(&r);
    free(buf);
    /* any other length is still corrupt */
    assert_int_equal(blob_writer_init(&bw, BLOB_KIND_WEIGHTS, LOPT_WEIGHTS_VERSION), 0);
    blob_put_u32(&bw, LOPT_ARCH_MLP);
    blob_put_u32(&bw, 8);
    blob_put_u32(&bw, 1);
    blob_put_u64(&bw, old - 1);
    blob_put_f32s(&bw, w.theta, old - 1);
    assert_int_equal(blob_writer_finish(&bw, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), ERR_CORRUPT);
    free(buf);
    lopt_weights_deinit(&w);
}

/* A (37,45) matrix (rows not a multiple of 8), a (1003) vector and a
 * (2,1,3) tensor: row tails, run tails and the per-element fallback. */
static void odd_layout(layout *lay)
{
    const char *names[] = {"w", "b", "k"};
    int ndims[] = {2, 1, 3};
    int64_t shapes[3][LAYOUT_MAX_DIMS] = {{37, 45}, {1003}, {2, 1, 3}};
    assert_int_equal(layout_init(lay, 3, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100000), 0);
}

/* mlp_lopt's activation for make_opt_hd (and so run_pair): LOPT_ACT_*. */
static int g_act = LOPT_ACT_RELU;

static void make_opt_hd(opt *o, const char *name, const layout *lay, int hidden, int depth)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, name), 0);
    assert_int_equal(opt_config_set(&cfg, "hidden", hidden), 0);
    assert_int_equal(opt_config_set(&cfg, "depth", depth), 0);
    if (strcmp(name, "mlp_lopt") == 0) assert_int_equal(opt_config_set(&cfg, "activation", g_act), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(o, &cfg, lay), 0);
}

/* Steps two optimizers side by side, `a` with kernel ka and `b` with kb
 * (set through *sel), on the same random gradients (scale varying by
 * tensor, some tiny); returns the largest |ua − ub| / max(|ub|, floor)
 * over all updates.  Weights are randomised (std 0.3) so that every hidden
 * unit is active and the exp(λ₂ m) factor is not ~1. */
static double run_pair(const char *name, int hidden, int depth, int *sel, int ka, int kb,
                       int generic_a, int steps, double floor_rel, int bitwise)
{
    layout lay;
    odd_layout(&lay);
    size_t n = lay.n;
    opt a, b;
    make_opt_hd(&a, name, &lay, hidden, depth);
    make_opt_hd(&b, name, &lay, hidden, depth);
    lopt_weights *wa = lopt_opt_weights(&a), *wb = lopt_opt_weights(&b);
    rng r;
    rng_seed(&r, 77 + (uint64_t)hidden + 10 * (uint64_t)depth);
    for (size_t i = 0; i < wa->ntheta; i++) wa->theta[i] += rng_normal(&r) * 0.3f;
    memcpy(wb->theta, wa->theta, wa->ntheta * sizeof(float));
    float *p = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
    rng_normal_fill(&r, p, n, 0, 1);
    memcpy(q, p, n * sizeof(float));
    double worst = 0;
    for (int t = 0; t < steps; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        for (size_t i = 0; i < n; i++) g[i] *= (i < 37 * 45) ? 0.01f : (i < n - 6 ? 3.0f : 1e-6f);
        g[5] = 0.0f;
        g[1700] = 1e-9f;
        *sel = ka;
        lopt_fast_force_generic = generic_a;
        assert_int_equal(opt_step(&a, p, g, ua, NULL), 0);
        lopt_fast_force_generic = 0;
        *sel = kb;
        assert_int_equal(opt_step(&b, q, g, ub, NULL), 0);
        if (bitwise) assert_memory_equal(ua, ub, n * sizeof(float));
        double umax = 0;
        for (size_t i = 0; i < n; i++) umax = fmax(umax, fabs(ub[i]));
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)ua[i] - ub[i]) / fmax(fabs(ub[i]), floor_rel * umax);
            if (e > worst) worst = e;
        }
    }
    *sel = LOPT_KERNEL_FAST;
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(q); free(g); free(ua); free(ub);
    layout_deinit(&lay);
    return worst;
}

/* The fused fast mlp_lopt step equals the reference (per-parameter loop)
 * over 6 steps, for widths 8, 16 and 32 (the wider variant is 32 x 2) and
 * depths 1 to 3: every update within
 * 1e-4 relative at depth 1 and 5e-4 deeper (relative to max(|u|,
 * 1e-3·max|u|); measured 4e-5 and 1.1e-4).  The differences come only from
 * the order of the normalisers' sums and exp's rounding, amplified by the
 * cancellations of a random (std 0.3) deeper network. */
static void test_mlp_fast_path_matches_reference(void **st)
{
    (void)st;
    for (int depth = 1; depth <= 3; depth++)
        for (int hidden = 8; hidden <= 32; hidden *= 2) {
            double e = run_pair("mlp_lopt", hidden, depth, &lopt_mlp_kernel, LOPT_KERNEL_FAST,
                                LOPT_KERNEL_LOOP, 0, 6, 1e-3, 0);
            printf("mlp_lopt fast vs loop, H %d depth %d: max rel err %.2e\n", hidden, depth, e);
            assert_true(e < (depth == 1 ? 1e-4 : 5e-4));
        }
}

/* Under gelu and swish the fast kernel (x/(1 + e^{−z}) through its vexp)
 * equals the reference (lopt_act in double, rounded) over 6 steps, widths
 * 8 and 16, depths 1 to 3: within 1e-4 relative at depth 1 and 5e-4 deeper,
 * the bounds the relu path meets; and the SSE2 and AVX2 builds agree bit
 * for bit with the best one (AVX-512 where the CPU has it). */
static void test_mlp_fast_path_matches_reference_under_gelu_and_swish(void **st)
{
    (void)st;
    for (g_act = LOPT_ACT_GELU; g_act <= LOPT_ACT_SWISH; g_act++) {
        for (int depth = 1; depth <= 3; depth++)
            for (int hidden = 8; hidden <= 16; hidden *= 2) {
                double e = run_pair("mlp_lopt", hidden, depth, &lopt_mlp_kernel, LOPT_KERNEL_FAST,
                                    LOPT_KERNEL_LOOP, 0, 6, 1e-3, 0);
                printf("mlp_lopt %s fast vs loop, H %d depth %d: max rel err %.2e\n", lopt_act_name(g_act),
                       hidden, depth, e);
                assert_true(e < (depth == 1 ? 1e-4 : 5e-4));
            }
        for (int isa = 1; isa <= 2; isa++) {
            run_pair("mlp_lopt", 8, 1, &lopt_mlp_kernel, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, isa, 4, 1e-3, 1);
            run_pair("mlp_lopt", 8, 2, &lopt_mlp_kernel, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, isa, 4, 1e-3, 1);
        }
    }
    g_act = LOPT_ACT_RELU;
}

/* lopt_act's derivative against central differences in double (h = 1e-5,
 * |error| < 1e-8 + 1e-8·|d|; relu away from its kink), over x in
 * [−8, 8]; and act(x) − act(−x) = x within 1e-14·max(1, |x|), the identity
 * the untrained default's carry units rest on (lopt_mlp.c). */
static void test_activation_derivatives_and_odd_part(void **st)
{
    (void)st;
    const double h = 1e-5;
    for (int act = 0; act < LOPT_ACT_COUNT; act++) {
        double worst = 0, worst_odd = 0;
        for (double x = -8.0; x <= 8.0; x += 0.0137) {
            double d, y = lopt_act(act, x, &d);
            double odd = fabs(y - lopt_act(act, -x, NULL) - x) / fmax(1.0, fabs(x));
            if (odd > worst_odd) worst_odd = odd;
            if (act == LOPT_ACT_RELU && fabs(x) < 2 * h) continue;
            double fd = (lopt_act(act, x + h, NULL) - lopt_act(act, x - h, NULL)) / (2 * h);
            double e = fabs(d - fd) / (1.0 + fabs(d));
            if (e > worst) worst = e;
        }
        printf("%s: derivative vs central differences %.2e, odd-part identity %.2e\n", lopt_act_name(act), worst,
               worst_odd);
        assert_true(worst < 1e-8);
        assert_true(worst_odd < 1e-14);
    }
    /* relu in float is bit for bit x > 0 ? x : 0 (NaN, −0 and −x give +0) */
    const float xs[] = {1.5f, -2.0f, -0.0f, 0.0f, 1e-40f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        float want = xs[i] > 0 ? xs[i] : 0, got = (float)lopt_act(LOPT_ACT_RELU, xs[i], NULL);
        assert_memory_equal(&got, &want, sizeof got);
    }
    assert_string_equal(lopt_act_name(LOPT_ACT_SWISH), "swish");
    assert_int_equal(lopt_act_from_name("gelu"), LOPT_ACT_GELU);
    assert_int_equal(lopt_act_from_name("GELU"), -1);
    assert_int_equal(lopt_act_from_name(NULL), -1);
    assert_null(lopt_act_name(LOPT_ACT_COUNT));
}

/* The untrained default is the same rule under every activation: over 3
 * steps on the test layout, at depths 1 to 3, gelu's and swish's updates
 * equal relu's within 2% of the step size 1e-3 (the carry units give
 * exactly the normalised Adam direction under each; only the small random
 * weights, std 0.01/√fan_in, see a different activation).  And the record
 * carries the activation. */
static void test_mlp_untrained_default_same_rule_under_every_activation(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay);
    size_t n = lay.n;
    float *p[LOPT_ACT_COUNT], *u[LOPT_ACT_COUNT], *g = malloc(n * sizeof(float));
    for (int depth = 1; depth <= 3; depth++) {
        opt o[LOPT_ACT_COUNT];
        for (g_act = 0; g_act < LOPT_ACT_COUNT; g_act++) {
            make_opt_hd(&o[g_act], "mlp_lopt", &lay, 8, depth);
            assert_int_equal(lopt_opt_weights(&o[g_act])->act, g_act);
            p[g_act] = calloc(n, sizeof(float));
            u[g_act] = malloc(n * sizeof(float));
        }
        g_act = LOPT_ACT_RELU;
        rng r;
        rng_seed(&r, 5 + (uint64_t)depth);
        double worst = 0;
        for (int t = 0; t < 3; t++) {
            rng_normal_fill(&r, g, n, 0, 1);
            for (int a = 0; a < LOPT_ACT_COUNT; a++) assert_int_equal(opt_step(&o[a], p[a], g, u[a], NULL), 0);
            for (int a = 1; a < LOPT_ACT_COUNT; a++)
                for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)u[a][i] - u[0][i]) / 1e-3);
        }
        printf("untrained mlp_lopt depth %d: gelu/swish vs relu, max |du| / 1e-3 = %.2e\n", depth, worst);
        assert_true(worst < 2e-2);
        for (int a = 0; a < LOPT_ACT_COUNT; a++) { opt_deinit(&o[a]); free(p[a]); free(u[a]); }
    }
    free(g);
    layout_deinit(&lay);
}

/* A record's activation: saved in the depth word's bits 12..14 and loaded
 * back (theta unchanged); relu records keep the old depth word bit for bit;
 * an activation on another architecture is refused at init and corrupt in
 * a blob; an unknown activation is corrupt. */
static void test_activation_record_roundtrip(void **st)
{
    (void)st;
    lopt_weights w, back, relu;
    assert_int_equal(lopt_weights_init_default_act(&w, LOPT_ARCH_MLP, 8, 2, LOPT_ACT_SWISH, 5), 0);
    assert_int_equal(lopt_weights_init_default(&relu, LOPT_ARCH_MLP, 8, 2, 5), 0);
    assert_int_equal(w.act, LOPT_ACT_SWISH);
    assert_int_equal(relu.act, LOPT_ACT_RELU);
    uint8_t *blob, *rblob;
    size_t len, rlen;
    assert_int_equal(lopt_weights_save(&w, &blob, &len), 0);
    assert_int_equal(lopt_weights_save(&relu, &rblob, &rlen), 0);
    assert_int_equal(len, rlen);
    assert_int_equal(lopt_weights_load(&back, blob, len), 0);
    assert_int_equal(back.act, LOPT_ACT_SWISH);
    assert_int_equal(back.depth, 2);
    assert_memory_equal(back.theta, w.theta, w.ntheta * sizeof(float));
    lopt_weights_deinit(&back);
    assert_int_equal(lopt_weights_load(&back, rblob, rlen), 0);
    assert_int_equal(back.act, LOPT_ACT_RELU);
    lopt_weights_deinit(&back);
    free(blob); free(rblob);
    /* an unknown activation (3) in the bits: corrupt */
    w.act = 3;
    assert_int_equal(lopt_weights_save(&w, &blob, &len), 0);
    assert_int_equal(lopt_weights_load(&back, blob, len), ERR_CORRUPT);
    free(blob);
    lopt_weights_deinit(&w);
    lopt_weights_deinit(&relu);
    /* no activation but relu on the other architectures, nor out of range */
    assert_int_equal(lopt_weights_init_default_act(&w, LOPT_ARCH_LSTM, 4, 1, LOPT_ACT_GELU, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(lopt_weights_init_default_act(&w, LOPT_ARCH_MLP, 4, 1, LOPT_ACT_COUNT, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(lopt_weights_init_default_act(&w, LOPT_ARCH_MLP, 4, 1, -1, 1), ERR_INVALID_ARGUMENT);
    /* the record fixes it, as its shape: optirsd eval refuses to set it on one */
    assert_int_equal(lopt_shape_hp("mlp_lopt", "activation"), 1);
    assert_int_equal(lopt_shape_hp("lstm_lopt", "activation"), 0);
    assert_int_equal(lopt_weights_init_default_act(&w, LOPT_ARCH_LSTM, 4, 1, LOPT_ACT_RELU, 1), 0);
    w.act = LOPT_ACT_GELU;   /* as a forged blob would carry it */
    assert_int_equal(lopt_weights_save(&w, &blob, &len), 0);
    assert_int_equal(lopt_weights_load(&back, blob, len), ERR_CORRUPT);
    free(blob);
    lopt_weights_deinit(&w);
}

/* The baseline SSE2 and the AVX2 builds of the fast kernels give the same
 * updates bit for bit as the best build the CPU has (AVX-512 where
 * present; mlp_lopt and lstm_lopt; trivially true on a CPU without AVX2,
 * where every run takes the SSE2 path). */
static void test_fast_kernels_same_bits_on_every_isa(void **st)
{
    (void)st;
    for (int isa = 1; isa <= 2; isa++) {
        run_pair("mlp_lopt", 8, 1, &lopt_mlp_kernel, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, isa, 4, 1e-3, 1);
        run_pair("mlp_lopt", 8, 2, &lopt_mlp_kernel, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, isa, 4, 1e-3, 1);
        run_pair("lstm_lopt", 8, 2, &lopt_lstm_kernel, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, isa, 4, 1e-3, 1);
    }
}

/* The vectorised lstm_lopt equals the one-coordinate reference through
 * layers.h's layer_lstm_forward over 6 steps within 1e-4 relative (relative to
 * max(|u|, 1e-3·max|u|)); the tiny and zero gradients take the e^10·g branch. */
static void test_lstm_fast_path_matches_reference(void **st)
{
    (void)st;
    for (int depth = 1; depth <= 2; depth++) {
        double e = run_pair("lstm_lopt", 8, depth, &lopt_lstm_kernel, LOPT_KERNEL_FAST,
                            LOPT_KERNEL_LOOP, 0, 6, 1e-3, 0);
        printf("lstm_lopt fast vs loop, depth %d: max rel err %.2e\n", depth, e);
        assert_true(e < 1e-4);
    }
}

/* The sgemm kernel equals the plain per-parameter loop within 1e-4 relative,
 * under every activation. */
static void test_mlp_blas_kernel_matches_loop(void **st)
{
    (void)st;
    for (int act = 0; act < LOPT_ACT_COUNT; act++)
    for (int depth = 1; depth <= 3; depth++) {
        int H = 16;
        size_t cnt = 200, ld = 256;
        size_t nt = lopt_theta_count(LOPT_ARCH_MLP, H, depth);
        float *theta = malloc(nt * sizeof(float)), *x = malloc(LOPT_NFEAT * ld * sizeof(float));
        float *work = malloc(2 * (size_t)H * ld * sizeof(float)), bias[16];
        float o0[256], o1[256], r0[256], r1[256];
        rng r;
        rng_seed(&r, 42 + (uint64_t)depth);
        rng_normal_fill(&r, theta, nt, 0, 0.5f);
        rng_normal_fill(&r, x, LOPT_NFEAT * ld, 0, 1);
        rng_normal_fill(&r, bias, 16, 0, 0.5f);
        lopt_mlp_net_loop(theta, H, depth, act, bias, x, ld, cnt, work, r0, r1);
        lopt_mlp_net_blas(theta, H, depth, act, bias, x, ld, cnt, work, o0, o1);
        for (size_t k = 0; k < cnt; k++) {
            assert_true(fabsf(o0[k] - r0[k]) <= 1e-4f * fmaxf(1.0f, fabsf(r0[k])));
            assert_true(fabsf(o1[k] - r1[k]) <= 1e-4f * fmaxf(1.0f, fabsf(r1[k])));
        }
        free(theta); free(x); free(work);
    }
}

/* Untrained mlp_lopt: first step ≈ −1e-3·sign(g) (normalised Adam direction;
 * the small random weights perturb it by < 5%), and it lowers a quadratic. */
static void test_mlp_default_is_small_adam_like_step_and_descends(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay);
    opt o;
    make_opt(&o, "mlp_lopt", &lay);
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

    task *tk;
    task_params tp = {0};
    tp.dim = 10;
    assert_int_equal(task_create("quadratic", &tp, 3, &tk), 0);
    make_opt(&o, "mlp_lopt", &tk->lay);
    float *x = malloc(tk->n * sizeof(float)), *gr = malloc(tk->n * sizeof(float));
    float *up = malloc(tk->n * sizeof(float));
    task_init_params(tk, 1, x);
    double l0 = task_eval_loss(tk, x);
    rng r;
    rng_seed(&r, 1);
    for (int t = 0; t < 300; t++) {
        task_loss_grad(tk, x, gr, &r);
        assert_int_equal(opt_step(&o, x, gr, up, NULL), 0);
    }
    double l1 = task_eval_loss(tk, x);
    assert_true(l1 < 0.9 * l0);
    opt_deinit(&o);
    task_free(tk);
    free(x); free(gr); free(up);
}

/* make_opt, but mlp_lopt at g_act (depth 2 when not relu: the deeper
 * default init too). */
static void make_opt_act(opt *o, const char *name, const layout *lay)
{
    if (strcmp(name, "mlp_lopt") == 0 && g_act != LOPT_ACT_RELU) make_opt_hd(o, name, lay, 8, 2);
    else make_opt(o, name, lay);
}

/* Run 5 steps, save, run 4 more; a fresh optimizer loaded from the save
 * must reproduce those 4 updates bit for bit. */
static void check_save_load_bitwise(const char *name)
{
    layout lay;
    test_layout(&lay);
    size_t n = lay.n;
    opt a, b;
    make_opt_act(&a, name, &lay);
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    float *pb = malloc(n * sizeof(float)), *ua = malloc(4 * n * sizeof(float));
    rng r;
    rng_seed(&r, 9);
    for (int t = 0; t < 5; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, u, NULL), 0);
    }
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    memcpy(pb, p, n * sizeof(float));
    rng r2 = r;
    for (int t = 0; t < 4; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, ua + (size_t)t * n, NULL), 0);
    }
    make_opt_act(&b, name, &lay);
    lopt_opt_weights(&b)->theta[1] += 1.0f;      /* the blob's theta must win */
    assert_int_equal(opt_load(&b, blob, len), 0);
    for (int t = 0; t < 4; t++) {
        rng_normal_fill(&r2, g, n, 0, 1);
        assert_int_equal(opt_step(&b, pb, g, u, NULL), 0);
        assert_memory_equal(u, ua + (size_t)t * n, n * sizeof(float));
    }
    assert_memory_equal(p, pb, n * sizeof(float));
    blob[len - 7] ^= 1;
    assert_int_equal(opt_load(&b, blob, len), ERR_CORRUPT);
    free(blob);
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(g); free(u); free(pb); free(ua);
    layout_deinit(&lay);
}

static void test_mlp_lopt_state_roundtrips_bitwise(void **st) { (void)st; check_save_load_bitwise("mlp_lopt"); }
/* A gelu and a swish session (depth 2) restart from their snapshot bit for bit. */
static void test_mlp_lopt_state_roundtrips_bitwise_under_gelu_and_swish(void **st)
{
    (void)st;
    for (g_act = LOPT_ACT_GELU; g_act <= LOPT_ACT_SWISH; g_act++) check_save_load_bitwise("mlp_lopt");
    g_act = LOPT_ACT_RELU;
}
static void test_lstm_lopt_state_roundtrips_bitwise(void **st) { (void)st; check_save_load_bitwise("lstm_lopt"); }
static void test_nn_adam_state_roundtrips_bitwise(void **st) { (void)st; check_save_load_bitwise("nn_adam"); }
static void test_attn_lopt_state_roundtrips_bitwise(void **st) { (void)st; check_save_load_bitwise("attn_lopt"); }

/* Untrained lstm_lopt ≈ sign-SGD at 1e-3 (the LSTM read-out starts at 1% of
 * it): within 2e-4 of ∓1e-3 for |g| > 1e-3 over 6 steps. */
static void test_lstm_default_is_sign_sgd_like(void **st)
{
    (void)st;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 300, 1000), 0);
    opt a;
    make_opt(&a, "lstm_lopt", &lay);
    float p[300] = {0}, g[300], ua[300];
    rng r;
    rng_seed(&r, 4);
    for (int t = 0; t < 6; t++) {
        rng_normal_fill(&r, g, 300, 0, 1);
        assert_int_equal(opt_step(&a, p, g, ua, NULL), 0);
        for (int i = 0; i < 300; i++)
            if (fabsf(g[i]) > 1e-3f) assert_true(fabsf(ua[i] + 1e-3f * (g[i] > 0 ? 1 : -1)) < 2e-4f);
    }
    opt_deinit(&a);
    layout_deinit(&lay);
}

/* Untrained nn_adam is Adam (same lr, 0.9, 0.999, 1e-8) within 1e-5 relative
 * over 20 steps. */
static void test_nn_adam_default_equals_adam(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay);
    size_t n = lay.n;
    opt a, b;
    make_opt(&a, "nn_adam", &lay);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_int_equal(opt_init(&b, &cfg, &lay), 0);
    float *p = calloc(n, sizeof(float)), *q = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
    float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 2);
    for (int t = 0; t < 20; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        assert_int_equal(opt_step(&a, p, g, ua, NULL), 0);
        assert_int_equal(opt_step(&b, q, g, ub, NULL), 0);
        for (size_t i = 0; i < n; i++) assert_true(fabsf(ua[i] - ub[i]) <= 1e-5f * fabsf(ub[i]) + 1e-9f);
    }
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(q); free(g); free(ua); free(ub);
    layout_deinit(&lay);
}

/* Weights that overflow the output give ERR_NON_FINITE_UPDATE, params untouched. */
static void test_non_finite_update_is_an_error(void **st)
{
    (void)st;
    layout lay;
    test_layout(&lay);
    size_t n = lay.n;
    opt o;
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "guard", 0), 0);   /* the safeguard off */
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    lopt_weights *w = lopt_opt_weights(&o);
    w->theta[w->ntheta - LOPT_MLP_NSCALE - 1] = 1e38f;  /* bo[1]: exp(λ₂·m) overflows */
    float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) g[i] = 1.0f;
    assert_int_equal(opt_step(&o, p, g, u, NULL), ERR_NON_FINITE_UPDATE);
    for (size_t i = 0; i < n; i++) assert_true(p[i] == 0.0f);
    opt_deinit(&o);
    free(p); free(g); free(u);
    layout_deinit(&lay);
}

/* ---- mlp_lopt's safeguard -------------------------------------------------- */

/* An mlp_lopt on the odd layout with kernel `kernel`, guard k, and the
 * network's output biases set to bo0, bo1 (the d and m outputs). */
static void make_guarded(opt *o, const layout *lay, double k, float bo0, float bo1)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "guard", k), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(o, &cfg, lay), 0);
    lopt_weights *w = lopt_opt_weights(o);
    w->theta[w->ntheta - LOPT_MLP_NSCALE - 2] = bo0;
    w->theta[w->ntheta - LOPT_MLP_NSCALE - 1] = bo1;
}

static double guard_diag(const opt *o)
{
    opt_diag_value d[OPT_DIAG_MAX];
    int n = opt_diag(o, d, OPT_DIAG_MAX);
    for (int i = 0; i < n; i++)
        if (strcmp(d[i].name, "guard_fallbacks") == 0) return d[i].value;
    fail_msg("no guard_fallbacks diagnostic");
    return -1;
}

/* Steps the odd layout 3 times with N(0,1)·scale gradients under both
 * kernels (fast and the reference loop) and returns the largest relative
 * difference; the fast run's updates of the last step in u_out (n). */
static double guard_pair(double k, float bo0, float bo1, float *u_out, double *diag_fast, double *diag_loop,
                         int *rc_out)
{
    layout lay;
    odd_layout(&lay);
    size_t n = lay.n;
    opt a, b;
    make_guarded(&a, &lay, k, bo0, bo1);
    make_guarded(&b, &lay, k, bo0, bo1);
    float *p = calloc(n, sizeof(float)), *q = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
    float *ub = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 5);
    double worst = 0;
    *rc_out = 0;
    for (int t = 0; t < 3 && !*rc_out; t++) {
        rng_normal_fill(&r, g, n, 0, 1);
        lopt_mlp_kernel = LOPT_KERNEL_FAST;
        int ra = opt_step(&a, p, g, u_out, NULL);
        lopt_mlp_kernel = LOPT_KERNEL_LOOP;
        int rb = opt_step(&b, q, g, ub, NULL);
        lopt_mlp_kernel = LOPT_KERNEL_FAST;
        assert_int_equal(ra, rb);
        *rc_out = ra;
        if (ra) break;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)u_out[i] - ub[i]) / fmax(fabs(ub[i]), 1e-9);
            if (e > worst) worst = e;
        }
    }
    *diag_fast = guard_diag(&a);
    *diag_loop = guard_diag(&b);
    opt_deinit(&a); opt_deinit(&b);
    free(p); free(q); free(g); free(ub);
    layout_deinit(&lay);
    return worst;
}

/* The guard falls back to the tensor-normalised Adam step (−1e-3 · the
 * clipped, RMS-normalised m₂/√(v+ε) at the default lr) when the network's
 * update is too large or non-finite, on both kernels alike, and counts
 * the tensors; with the guard off the same weights give the huge update
 * or the non-finite error; the untrained weights never trip it. */
static void test_mlp_guard_falls_back_to_normalised_adam(void **st)
{
    (void)st;
    layout lay;
    odd_layout(&lay);
    size_t n = lay.n;
    layout_deinit(&lay);
    float *u = malloc(n * sizeof(float)), *u0 = malloc(n * sizeof(float));
    double df, dl;
    int rc;
    /* d = 1e6: RMS(u) ≈ 1e3 ≫ guard 1000 × 1e-3 = 1 */
    double e = guard_pair(1000, 1e6f, 0, u, &df, &dl, &rc);
    assert_int_equal(rc, 0);
    assert_true(e < 1e-5);
    assert_true(df == 3 && dl == 3);
    double ss = 0, umax = 0;
    for (size_t i = 0; i < n; i++) { ss += (double)u[i] * u[i]; umax = fmax(umax, fabs(u[i])); }
    assert_true(sqrt(ss / (double)n) <= 1.0001e-3);   /* the normalised step: RMS ≤ base */
    assert_true(sqrt(ss / (double)n) > 0.5e-3);
    assert_true(umax <= 1e-3f * LOPT_FEAT_CLIP);
    /* guard off: the network's own update, ~1e3 in size */
    e = guard_pair(0, 1e6f, 0, u0, &df, &dl, &rc);
    assert_int_equal(rc, 0);
    assert_true(df == 0 && dl == 0);
    ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)u0[i] * u0[i];
    assert_true(sqrt(ss / (double)n) > 100);
    /* a guard above the update's size does not trip */
    guard_pair(1e9, 1e6f, 0, u0, &df, &dl, &rc);
    assert_true(df == 0 && dl == 0);
    /* exp(λ₂ m) overflows: falls back instead of failing; off: the error */
    e = guard_pair(1000, 0, 1e38f, u, &df, &dl, &rc);
    assert_int_equal(rc, 0);
    assert_true(df == 3 && dl == 3);
    for (size_t i = 0; i < n; i++) assert_true(isfinite(u[i]));
    guard_pair(0, 0, 1e38f, u0, &df, &dl, &rc);
    assert_int_equal(rc, ERR_NON_FINITE_UPDATE);
    /* the untrained default: never trips, the same bits as with the guard off */
    guard_pair(1000, 0, 0, u, &df, &dl, &rc);
    assert_true(rc == 0 && df == 0 && dl == 0);
    guard_pair(0, 0, 0, u0, &df, &dl, &rc);
    assert_memory_equal(u, u0, n * sizeof(float));
    free(u); free(u0);
}

/* The guard's sum of squares and trip rule: RMS above k·base, NaN and ∞
 * trip; k = 0 never does. */
static void test_mlp_guard_rule(void **st)
{
    (void)st;
    float u[2000];
    for (int i = 0; i < 2000; i++) u[i] = (i % 2) ? 0.5f : -0.5f;
    float ss = lopt_mlp_guard_sumsq(u, 2000);
    assert_true(fabsf(ss - 500.0f) < 1e-3f);
    assert_false(lopt_mlp_guard_trips(ss, 2000, 10, 0.0501f));   /* RMS 0.5 ≤ 0.501 */
    assert_true(lopt_mlp_guard_trips(ss, 2000, 10, 0.0499f));
    assert_false(lopt_mlp_guard_trips(ss, 2000, 0, 1e-9f));
    u[1999] = NAN;
    assert_true(lopt_mlp_guard_trips(lopt_mlp_guard_sumsq(u, 2000), 2000, 10, 1.0f));
    u[1999] = INFINITY;
    assert_true(lopt_mlp_guard_trips(lopt_mlp_guard_sumsq(u, 2000), 2000, 1e9f, 1.0f));
}

/* ---- µP width scaling ------------------------------------------------------ */

/* A 3-layer MLP's layout: (64,32), (32), (32,48), (48), (48,10), (10). */
static void mlp_layout(layout *lay)
{
    const char *names[] = {"w0", "b0", "w1", "b1", "w2", "b2"};
    int ndims[] = {2, 1, 2, 1, 2, 1};
    int64_t shapes[6][LAYOUT_MAX_DIMS] = {{64, 32}, {32}, {32, 48}, {48}, {48, 10}, {10}};
    assert_int_equal(layout_init(lay, 6, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100000), 0);
}

/* lopt_mup_mult: the first matrix and the vectors keep their step, the
 * other matrices get B / fan_in; B = 0 is off.  The record carries
 * mup_base through its blob and through the optimizer's saved state; an
 * lstm_lopt record with one is refused. */
static void test_mup_rule_and_record(void **st)
{
    (void)st;
    layout lay;
    mlp_layout(&lay);
    const double want[6] = {1, 1, 8.0 / 32, 1, 8.0 / 48, 1};
    for (int t = 0; t < 6; t++) {
        assert_true(lopt_mup_mult(8, &lay, lopt_mup_first(&lay), t) == want[t]);
        assert_true(lopt_mup_mult(0, &lay, lopt_mup_first(&lay), t) == 1.0);
    }
    lopt_weights w, r;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 8, 1, 1), 0);
    w.mup_base = 8;
    uint8_t *buf;
    size_t len;
    assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), 0);
    assert_int_equal(r.mup_base, 8);
    assert_int_equal(r.depth, 1);
    free(buf);
    lopt_weights_deinit(&r);
    assert_int_equal(lopt_registry_put("mup@test", &w), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    cfg.weights = "mup@test";
    opt o, o2;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    assert_int_equal(lopt_opt_weights(&o)->mup_base, 8);
    assert_int_equal(opt_save(&o, &buf, &len), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(&o2, &cfg, &lay), 0);
    assert_int_equal(lopt_opt_weights(&o2)->mup_base, 0);
    assert_int_equal(opt_load(&o2, buf, len), 0);
    assert_int_equal(lopt_opt_weights(&o2)->mup_base, 8);
    free(buf);
    opt_deinit(&o); opt_deinit(&o2);
    lopt_registry_clear();
    lopt_weights_deinit(&w);
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_LSTM, 8, 2, 1), 0);
    w.mup_base = 8;
    assert_int_equal(lopt_weights_save(&w, &buf, &len), 0);
    assert_int_equal(lopt_weights_load(&r, buf, len), ERR_CORRUPT);
    free(buf);
    lopt_weights_deinit(&w);
    layout_deinit(&lay);
}

/* With mup_base 8 the updates of the second and third matrices are those
 * without µP times 8/32 and 8/48 (within float rounding), every other
 * tensor's are the same bits; on both kernels. */
static void test_mup_scales_the_hidden_and_output_matrices(void **st)
{
    (void)st;
    layout lay;
    mlp_layout(&lay);
    size_t n = lay.n;
    float *p = calloc(n, sizeof(float)), *q = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
    float *u0 = malloc(n * sizeof(float)), *u1 = malloc(n * sizeof(float));
    const double want[6] = {1, 1, 8.0 / 32, 1, 8.0 / 48, 1};
    for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel += LOPT_KERNEL_FAST) {
        lopt_mlp_kernel = kernel;
        opt a, b;
        make_opt(&a, "mlp_lopt", &lay);
        make_opt(&b, "mlp_lopt", &lay);
        lopt_opt_weights(&b)->mup_base = 8;
        rng r;
        rng_seed(&r, 3);
        for (int step = 0; step < 3; step++) {
            rng_normal_fill(&r, g, n, 0, 1);
            assert_int_equal(opt_step(&a, p, g, u0, NULL), 0);
            assert_int_equal(opt_step(&b, q, g, u1, NULL), 0);
        }
        for (int t = 0; t < lay.ntensors; t++) {
            const layout_tensor *lt = &lay.tensors[t];
            for (size_t i = lt->offset; i < lt->offset + lt->size; i++) {
                if (want[t] == 1) assert_true(u0[i] == u1[i]);
                else assert_true(fabs(u1[i] - want[t] * u0[i]) <= 1e-6 * fabs(u0[i]) + 1e-12);
            }
        }
        opt_deinit(&a); opt_deinit(&b);
    }
    lopt_mlp_kernel = LOPT_KERNEL_FAST;
    free(p); free(q); free(g); free(u0); free(u1);
    layout_deinit(&lay);
}

/* ---- lstm_lopt kernels: every build and the batched-GEMM path ---------- */

/* One lstm_lopt 8 × 2 over a flat layout of n with randomised weights (std
 * 0.3 added), stepped 5 times on N(0,1) gradients scaled by 10^U(−6, 1)
 * with a zero and a sub-e^−10 one: the fast kernel's AVX-512 (where the
 * CPU has it), AVX2 and SSE2 builds give the same updates bit for bit;
 * the fast kernel and the batched sgemm path (LOPT_KERNEL_BLAS) equal the
 * one-coordinate reference within 1e-4 relative (to max(|u|, 1e-3·max|u|);
 * measured 1.6e-5 and 4.8e-6).  Sizes cover partial 8-blocks, odd and even
 * block counts (the AVX-512 build runs pairs of blocks and hands an odd
 * last block to the AVX2 build) and more than one 256-coordinate GEMM
 * block. */
static void test_lstm_kernels_agree_across_sizes_and_isas(void **st)
{
    (void)st;
    static const size_t sizes[] = {1, 5, 8, 13, 16, 17, 24, 31, 33, 300, 1001};
    enum { NK = 5 };   /* fast best, fast AVX2, fast SSE2, BLAS, loop (reference) */
    const int kern[NK] = {LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, LOPT_KERNEL_BLAS,
                          LOPT_KERNEL_LOOP};
    const int force[NK] = {0, 2, 1, 0, 0};
    double worst_fast = 0, worst_blas = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        layout lay;
        assert_int_equal(layout_init_flat(&lay, (int64_t)n, 100000), 0);
        opt o[NK];
        float *p[NK], *u[NK];
        rng r;
        rng_seed(&r, 500 + n);
        for (int k = 0; k < NK; k++) {
            make_opt_hd(&o[k], "lstm_lopt", &lay, 8, 2);
            p[k] = calloc(n, sizeof(float));
            u[k] = malloc(n * sizeof(float));
        }
        lopt_weights *w0 = lopt_opt_weights(&o[0]);
        for (size_t i = 0; i < w0->ntheta; i++) w0->theta[i] += rng_normal(&r) * 0.3f;
        for (int k = 1; k < NK; k++) memcpy(lopt_opt_weights(&o[k])->theta, w0->theta, w0->ntheta * sizeof(float));
        float *g = malloc(n * sizeof(float));
        for (int t = 0; t < 5; t++) {
            rng_normal_fill(&r, g, n, 0, 1);
            for (size_t i = 0; i < n; i++) g[i] *= powf(10.0f, (float)(7 * rng_uniform(&r) - 6));
            g[0] = 0.0f;
            if (n > 3) g[3] = 1e-7f;
            for (int k = 0; k < NK; k++) {
                lopt_lstm_kernel = kern[k];
                lopt_fast_force_generic = force[k];
                assert_int_equal(opt_step(&o[k], p[k], g, u[k], NULL), 0);
            }
            lopt_lstm_kernel = LOPT_KERNEL_FAST;
            lopt_fast_force_generic = 0;
            assert_memory_equal(u[0], u[1], n * sizeof(float));
            assert_memory_equal(u[0], u[2], n * sizeof(float));
            double umax = 0;
            for (size_t i = 0; i < n; i++) umax = fmax(umax, fabs(u[4][i]));
            for (size_t i = 0; i < n; i++) {
                double d = fmax(fabs(u[4][i]), 1e-3 * umax);
                worst_fast = fmax(worst_fast, fabs((double)u[0][i] - u[4][i]) / d);
                worst_blas = fmax(worst_blas, fabs((double)u[3][i] - u[4][i]) / d);
            }
        }
        for (int k = 0; k < NK; k++) { opt_deinit(&o[k]); free(p[k]); free(u[k]); }
        free(g);
        layout_deinit(&lay);
    }
    printf("lstm_lopt vs loop over sizes: fast %.2e, blas %.2e\n", worst_fast, worst_blas);
    assert_true(worst_fast < 1e-4);
    assert_true(worst_blas < 1e-4);
}

/* lstm_lopt answers ERR_NON_FINITE_UPDATE (params untouched) on every
 * kernel and build when a weight inside the LSTM is NaN (it must travel
 * through the clamped gate exponentials) or when the read-out overflows,
 * n = 37 (a partial block and an odd block count). */
static void test_lstm_non_finite_update_is_an_error(void **st)
{
    (void)st;
    const int kern[5] = {LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, LOPT_KERNEL_FAST, LOPT_KERNEL_BLAS,
                         LOPT_KERNEL_LOOP};
    const int force[5] = {0, 2, 1, 0, 0};
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 37, 100000), 0);
    float p[37] = {0}, g[37], u[37];
    for (int i = 0; i < 37; i++) g[i] = 0.1f * (float)(i - 18);
    for (int bad = 0; bad < 2; bad++)
        for (int k = 0; k < 5; k++) {
            opt o;
            make_opt_hd(&o, "lstm_lopt", &lay, 8, 2);
            lopt_weights *w = lopt_opt_weights(&o);
            if (bad == 0) w->theta[w->ntheta - 8 - 1 - 1] = NAN;   /* layer 2's last bias (o gate, unit 8) */
            else { w->theta[0] = 3e38f; w->theta[w->ntheta - 1] = 3e38f; } /* a·s + b overflows */
            lopt_lstm_kernel = kern[k];
            lopt_fast_force_generic = force[k];
            int rc = opt_step(&o, p, g, u, NULL);
            lopt_lstm_kernel = LOPT_KERNEL_FAST;
            lopt_fast_force_generic = 0;
            assert_int_equal(rc, ERR_NON_FINITE_UPDATE);
            for (int i = 0; i < 37; i++) assert_true(p[i] == 0.0f);
            opt_deinit(&o);
        }
    layout_deinit(&lay);
}

/* ---- mlp_lopt's hold --------------------------------------------------- */

/* hold_zero_grad = 1: on both kernels, a parameter whose gradient is exactly
 * 0 gets u = 0 (params unchanged), every other one the same update as with
 * the hold off on the first step (later the params, an input, differ) —
 * over 4 steps where the same coordinates stay at 0 (a dead unit), which
 * the run without the hold keeps moving. */
static void test_mlp_hold_zero_grad(void **st)
{
    (void)st;
    layout lay;
    odd_layout(&lay);
    size_t n = lay.n;
    for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel += LOPT_KERNEL_FAST) {
        lopt_mlp_kernel = kernel;
        opt on, off;
        opt_config cfg;
        assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
        cfg.weights = LOPT_WEIGHTS_DEFAULT;
        assert_int_equal(opt_config_set(&cfg, "hold_zero_grad", 0), 0);
        assert_int_equal(opt_init(&off, &cfg, &lay), 0);
        assert_int_equal(opt_config_set(&cfg, "hold_zero_grad", 1), 0);
        assert_int_equal(opt_init(&on, &cfg, &lay), 0);
        float *p = calloc(n, sizeof(float)), *q = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
        float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
        rng r;
        rng_seed(&r, 11);
        size_t held = 0, moved_off = 0;
        for (int t = 0; t < 4; t++) {
            for (size_t i = 0; i < n; i++) g[i] = i % 7 == 3 ? 0.0f : (float)rng_normal(&r);
            assert_int_equal(opt_step(&on, p, g, ua, NULL), 0);
            assert_int_equal(opt_step(&off, q, g, ub, NULL), 0);
            for (size_t i = 0; i < n; i++) {
                if (g[i] == 0.0f) {
                    assert_true(ua[i] == 0.0f && p[i] == 0.0f);
                    held++;
                    moved_off += ub[i] != 0.0f;
                } else if (t == 0) {
                    assert_true(ua[i] == ub[i]);   /* later the params (an input) differ */
                }
            }
        }
        assert_true(held > 0);
        assert_true(moved_off > held / 2);   /* without the hold they do move */
        opt_deinit(&on); opt_deinit(&off);
        free(p); free(q); free(g); free(ua); free(ub);
    }
    lopt_mlp_kernel = LOPT_KERNEL_FAST;
    layout_deinit(&lay);
}

/* ---- mlp_lopt's trust ------------------------------------------------------ */

static double tensor_rms(const float *u, size_t n)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)u[i] * u[i];
    return sqrt(ss / (double)n);
}

/* Two mlp_lopts on lay with big steps (bo[0] = 3), trust k and 0. */
static void make_trust_pair(opt *on, opt *off, const layout *lay, double k)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "hypergrad", 0), 0);   /* the trust alone */
    assert_int_equal(opt_config_set(&cfg, "anneal", 0), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(off, &cfg, lay), 0);
    assert_int_equal(opt_config_set(&cfg, "trust", k), 0);
    assert_int_equal(opt_init(on, &cfg, lay), 0);
    lopt_weights *w[2] = {lopt_opt_weights(on), lopt_opt_weights(off)};
    for (int x = 0; x < 2; x++) w[x]->theta[w[x]->ntheta - LOPT_MLP_NSCALE - 2] = 3.0f;
}

/* Each tensor's u_on / u_off factor (one factor for the whole tensor, or
 * the test fails); returns the smallest and largest over tensors. */
static void trust_factors(const layout *lay, const float *ua, const float *ub, double *lo, double *hi)
{
    *lo = INFINITY; *hi = 0;
    for (int t = 0; t < lay->ntensors; t++) {
        size_t o0 = lay->tensors[t].offset, nt = lay->tensors[t].size;
        double c = tensor_rms(ua + o0, nt) / tensor_rms(ub + o0, nt);
        for (size_t i = 0; i < nt; i++) assert_true(fabs(ua[o0 + i] - c * ub[o0 + i]) <= 1e-6 * fabs(ub[o0 + i]) + 1e-12);
        *lo = fmin(*lo, c); *hi = fmax(*hi, c);
    }
}

/* trust = k multiplies each tensor's update by min(1, k·l), l = the RMS of
 * Adam's bias-corrected m/√v: on both kernels, (1) at step 1 l = 1 (m̂/√v̂
 * = ±1), so k = 0.5 halves every tensor's update and the diagnostic counts
 * every tensor; (2) after 60 steps of pure-noise gradients l has shrunk
 * (noise gives m̂/√v̂ well below 1), so from the same state (loaded into an
 * optimizer without trust) the factor is below 0.5·0.6; (3) a huge k never
 * scales: 60 steps bit-identical to trust = 0, no diagnostic count. */
static void test_mlp_trust(void **st)
{
    (void)st;
    layout lay;
    odd_layout(&lay);
    size_t n = lay.n;
    for (int kernel = LOPT_KERNEL_LOOP; kernel <= LOPT_KERNEL_FAST; kernel += LOPT_KERNEL_FAST) {
        lopt_mlp_kernel = kernel;
        opt on, off;
        make_trust_pair(&on, &off, &lay, 0.5);
        float *p = calloc(n, sizeof(float)), *q = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float));
        float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
        rng r;
        rng_seed(&r, 12);
        for (size_t i = 0; i < n; i++) g[i] = (float)rng_normal(&r);
        assert_int_equal(opt_step(&on, p, g, ua, NULL), 0);
        assert_int_equal(opt_step(&off, q, g, ub, NULL), 0);
        double lo, hi;
        trust_factors(&lay, ua, ub, &lo, &hi);
        assert_true(lo >= 0.5 * (1 - 3e-3) && hi <= 0.5 * (1 + 1e-6));   /* l = 1 up to ε */
        opt_diag_value d[OPT_DIAG_MAX];
        assert_int_equal(opt_diag(&on, d, OPT_DIAG_MAX), 2);
        assert_string_equal(d[1].name, "trust_scaled");
        assert_true(d[1].value == lay.ntensors);
        assert_int_equal(opt_diag(&off, d, OPT_DIAG_MAX), 1);   /* off: no trust diagnostic */
        for (int s2 = 0; s2 < 60; s2++) {
            for (size_t i = 0; i < n; i++) g[i] = (float)rng_normal(&r) * 1e-4f;
            assert_int_equal(opt_step(&on, p, g, ua, NULL), 0);
        }
        uint8_t *blob;
        size_t len;
        assert_int_equal(opt_save(&on, &blob, &len), 0);
        assert_int_equal(opt_load(&off, blob, len), 0);   /* the same state, trust 0 */
        free(blob);
        memcpy(q, p, n * sizeof(float));
        for (size_t i = 0; i < n; i++) g[i] = (float)rng_normal(&r) * 1e-4f;
        assert_int_equal(opt_step(&on, p, g, ua, NULL), 0);
        assert_int_equal(opt_step(&off, q, g, ub, NULL), 0);
        trust_factors(&lay, ua, ub, &lo, &hi);
        assert_true(hi < 0.5 * 0.6 && lo > 0);
        opt_deinit(&on); opt_deinit(&off);
        /* (3) */
        make_trust_pair(&on, &off, &lay, 1e6);
        memset(p, 0, n * sizeof(float)); memset(q, 0, n * sizeof(float));
        for (int s2 = 0; s2 < 60; s2++) {
            for (size_t i = 0; i < n; i++) g[i] = (float)rng_normal(&r) * (s2 ? 1e-4f : 1.0f);
            assert_int_equal(opt_step(&on, p, g, ua, NULL), 0);
            assert_int_equal(opt_step(&off, q, g, ub, NULL), 0);
            assert_memory_equal(ua, ub, n * sizeof(float));
        }
        assert_int_equal(opt_diag(&on, d, OPT_DIAG_MAX), 2);
        assert_true(d[1].value == 0);
        opt_deinit(&on); opt_deinit(&off);
        free(p); free(q); free(g); free(ua); free(ub);
    }
    lopt_mlp_kernel = LOPT_KERNEL_FAST;
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_blob_roundtrip_and_corruption),
        cmocka_unit_test(test_registry_resolves_names_and_rejects_wrong_arch),
        cmocka_unit_test(test_features_match_definition_after_one_step),
        cmocka_unit_test(test_logsign_preprocessing),
        cmocka_unit_test(test_tensor_features_read_signal_noise_and_decay),
        cmocka_unit_test(test_step_scale_head_scales_updates),
        cmocka_unit_test(test_weights_without_the_head_load_with_a_zero_head),
        cmocka_unit_test(test_mlp_blas_kernel_matches_loop),
        cmocka_unit_test(test_mlp_fast_path_matches_reference),
        cmocka_unit_test(test_lstm_fast_path_matches_reference),
        cmocka_unit_test(test_fast_kernels_same_bits_on_every_isa),
        cmocka_unit_test(test_mlp_fast_path_matches_reference_under_gelu_and_swish),
        cmocka_unit_test(test_activation_derivatives_and_odd_part),
        cmocka_unit_test(test_mlp_untrained_default_same_rule_under_every_activation),
        cmocka_unit_test(test_activation_record_roundtrip),
        cmocka_unit_test(test_mlp_lopt_state_roundtrips_bitwise_under_gelu_and_swish),
        cmocka_unit_test(test_mlp_default_is_small_adam_like_step_and_descends),
        cmocka_unit_test(test_mlp_lopt_state_roundtrips_bitwise),
        cmocka_unit_test(test_lstm_lopt_state_roundtrips_bitwise),
        cmocka_unit_test(test_nn_adam_state_roundtrips_bitwise),
        cmocka_unit_test(test_attn_lopt_state_roundtrips_bitwise),
        cmocka_unit_test(test_lstm_default_is_sign_sgd_like),
        cmocka_unit_test(test_nn_adam_default_equals_adam),
        cmocka_unit_test(test_non_finite_update_is_an_error),
        cmocka_unit_test(test_mlp_guard_falls_back_to_normalised_adam),
        cmocka_unit_test(test_mlp_guard_rule),
        cmocka_unit_test(test_mlp_hold_zero_grad),
        cmocka_unit_test(test_mlp_trust),
        cmocka_unit_test(test_mup_rule_and_record),
        cmocka_unit_test(test_mup_scales_the_hidden_and_output_matrices),
        cmocka_unit_test(test_lstm_kernels_agree_across_sizes_and_isas),
        cmocka_unit_test(test_lstm_non_finite_update_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
