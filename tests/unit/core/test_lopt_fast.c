/* test_lopt_fast.c — mlp_lopt's fast kernel (lopt_fast.c) keeps its bits
 * through structural changes: the updates, parameters, norms, diagnostics
 * and saved state of the shipped weights records (and of default networks
 * of other widths and depths, the guard, the trust and the hold) hash to
 * the values the kernel gave before its network ran unit by unit over
 * blocks and before the guard's sum and the hold moved into its pieces
 * (recorded at 3a79058, both ISA builds); and the pieces the kernel takes
 * (guard sum, hold) equal the whole-tensor routines of lopt_mlp.c.  Each
 * runs on every build the machine has (isa = lopt_fast_force_generic: 0
 * the best, AVX-512's network where the CPU has it; 1 SSE2; 2 AVX2).
 *
 * A deliberate change of mlp_lopt's rule changes these hashes; it also
 * changes what the shipped weights' evaluation figures measured, which is
 * why they are pinned. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "lopt_internal.h"
#include "opt.h"
#include "weights_builtin.h"

typedef struct fnv { uint64_t h; } fnv;

static void fnv_add(fnv *f, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) { f->h ^= c[i]; f->h *= 1099511628211ull; }
}

/* xorshift64 and a rough normal from it (the test's own data). */
static uint64_t g_s = 88172645463325252ull;
static double ru(void)
{
    g_s ^= g_s << 13; g_s ^= g_s >> 7; g_s ^= g_s << 17;
    return (double)(g_s >> 11) * 0x1p-53;
}
static float rn(void)
{
    double a = 0;
    for (int i = 0; i < 4; i++) a += ru() - 0.5;
    return (float)(a * 1.7);
}

/* lay 0: (37,45), (1003), (2,1,3), (64,9): row tails, run tails, the
 * per-element fallback; lay 1: one flat tensor of 100003 (pieces of 1024
 * and a partial last vector). */
static void make_layout(layout *lay, int kind)
{
    if (kind == 0) {
        const char *nm[] = {"w", "b", "k", "w2"};
        int nd[] = {2, 1, 3, 2};
        int64_t sh[4][LAYOUT_MAX_DIMS] = {{37, 45}, {1003}, {2, 1, 3}, {64, 9}};
        assert_int_equal(layout_init(lay, 4, nm, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh, 100000), 0);
    } else {
        assert_int_equal(layout_init_flat(lay, 100003, 200000), 0);
    }
}

/* Steps mlp_lopt `steps` times on varied gradients (exact zeros, tiny
 * values, a guard-tripping spike, a −0) and hashes everything a session
 * keeps.  wname NULL: the default network of (hidden, depth), perturbed. */
static void run(fnv *f, const char *wname, int hidden, int depth, double guard, double trust, int hold,
                double hypergrad, double anneal, int lay_kind, int steps, int isa)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "mlp_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "hidden", hidden), 0);
    assert_int_equal(opt_config_set(&cfg, "depth", depth), 0);
    assert_int_equal(opt_config_set(&cfg, "guard", guard), 0);
    assert_int_equal(opt_config_set(&cfg, "trust", trust), 0);
    assert_int_equal(opt_config_set(&cfg, "hold_zero_grad", hold), 0);
    assert_int_equal(opt_config_set(&cfg, "hypergrad", hypergrad), 0);
    assert_int_equal(opt_config_set(&cfg, "anneal", anneal), 0);
    cfg.weights = wname ? wname : LOPT_WEIGHTS_DEFAULT;
    layout lay;
    make_layout(&lay, lay_kind);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    size_t n = lay.n;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    assert_non_null(p); assert_non_null(g); assert_non_null(u);
    lopt_weights *w = lopt_opt_weights(&o);
    if (!wname) {
        g_s ^= 12345;
        for (size_t i = 0; i < w->ntheta; i++) w->theta[i] += (float)(rn() * 0.3);
    }
    for (size_t i = 0; i < n; i++) p[i] = rn();
    for (int t = 0; t < steps; t++) {
        double sc = pow(10.0, -4 + 4 * ru());
        for (size_t i = 0; i < n; i++) {
            g[i] = (float)(rn() * sc * (i % 7 == 0 ? 10 : 1));
            if (i % 13 == 0) g[i] = 0;
            if (i % 101 == 3) g[i] = 1e-9f;
        }
        if (t == steps / 2) g[n / 2] = 1e15f;
        if (t == steps - 2) g[1] = -0.0f;
        step_info info = {.loss = NAN};
        lopt_fast_force_generic = isa;
        int rc = opt_step(&o, p, g, u, &info);
        lopt_fast_force_generic = 0;
        fnv_add(f, &rc, sizeof rc);
        fnv_add(f, u, n * sizeof(float));
        fnv_add(f, p, n * sizeof(float));
        fnv_add(f, &info.update_norm, sizeof(double));
        fnv_add(f, &info.param_norm, sizeof(double));
        opt_diag_value dv[8];
        int nd = opt_diag(&o, dv, 8);
        for (int k = 0; k < nd; k++) fnv_add(f, &dv[k].value, sizeof(double));
    }
    uint8_t *blob;
    size_t bl;
    assert_int_equal(opt_save(&o, &blob, &bl), 0);
    fnv_add(f, blob, bl);
    free(blob);
    opt_deinit(&o);
    layout_deinit(&lay);
    free(p); free(g); free(u);
}

static void register_shipped(void)
{
    for (int i = 0; i < weights_builtin_count(); i++) {
        const weights_builtin *b = weights_builtin_at(i);
        lopt_weights w;
        assert_int_equal(lopt_weights_load(&w, b->blob, b->blob_len), 0);
        if (w.arch == LOPT_ARCH_MLP) assert_int_equal(lopt_registry_put(b->name, &w), 0);
        lopt_weights_deinit(&w);
    }
}

/* The shipped records on both layouts, with the default hyperparameters
 * (guard 1e4, hold on) but the hypergradient scale and the anneal off
 * (their own cases below), on every build. */
static void test_shipped_records_keep_their_bits(void **st)
{
    (void)st;
    register_shipped();
    static const struct { const char *name; int lay; uint64_t h; } want[] = {
        {"mlp_lopt", 0, 0xf2a5c0cc64a2caacull},         {"mlp_lopt", 1, 0x7ab52ac8d7cf3985ull},
        {"mlp_lopt.vision", 0, 0x8823dfe67fdfa289ull},  {"mlp_lopt.vision", 1, 0x993c0c678d5bd5fbull},
        {"mlp_lopt.text", 0, 0x32a60e52bb474365ull},    {"mlp_lopt.text", 1, 0xcc2a257b3f36ee87ull},
        {"mlp_lopt.tabular", 0, 0xe31fcd4df6b13624ull}, {"mlp_lopt.tabular", 1, 0xcd69433612d7ebb9ull},
    };
    int wrong = 0;
    for (int isa = 0; isa <= 2; isa++) {
        g_s = 88172645463325252ull;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            fnv f = {1469598103934665603ull};
            run(&f, want[i].name, 8, 1, 1e4, 0, 1, 0, 0, want[i].lay, 12, isa);
            if (f.h != want[i].h) {
                printf("%s lay %d isa %d: %016llx, pinned %016llx\n", want[i].name, want[i].lay, isa,
                       (unsigned long long)f.h, (unsigned long long)want[i].h);
                wrong++;
            }
        }
    }
    assert_int_equal(wrong, 0);
    lopt_registry_clear();
}

/* Default networks of other shapes (the general network code: widths
 * not a multiple of 8, depths 2 and 3), the guard, trust and hold
 * settings (guard 0.01 trips often; guard 3 with trust 0.5 scales), the
 * hypergradient scale (its rule: test_lopt_hypergrad.c) and the anneal
 * (test_lopt_anneal.c). */
static void test_other_shapes_and_settings_keep_their_bits(void **st)
{
    (void)st;
    register_shipped();
    static const struct { const char *w; int h, d; double guard, trust; int hold; double hg, an; uint64_t hash; } want[] = {
        {NULL, 8, 1, 1e4, 0, 1, 0, 0, 0x1f15906b637fdd83ull},      {NULL, 16, 1, 1e4, 0, 1, 0, 0, 0xfa8f1d97f569aeb0ull},
        {NULL, 5, 2, 1e4, 0, 1, 0, 0, 0x4521c442e8749f83ull},      {NULL, 8, 3, 1e4, 0, 1, 0, 0, 0x8211445cf7809a7bull},
        {"mlp_lopt", 8, 1, 0, 0, 0, 0, 0, 0x5cbac8e63bacd4a9ull},  {"mlp_lopt", 8, 1, 3, 0.5, 1, 0, 0, 0x0317d04d7a13adfdull},
        {NULL, 8, 1, 0.01, 2, 1, 0, 0, 0xf03edf8ba24f13d3ull},     {NULL, 3, 1, 0.01, 0, 0, 0, 0, 0x83a5ce7d80a25c61ull},
        /* the hypergradient scale on (pinned when it was added) */
        {"mlp_lopt", 8, 1, 1e4, 0, 1, 0.05, 0, 0x75a94ace6f968f6dull}, {"mlp_lopt", 8, 1, 1e4, 0, 1, 0.05, 0, 0x337884d380f5678bull},
        {NULL, 8, 1, 1e4, 0, 1, 0.05, 0, 0x9583438b66749971ull},       {NULL, 8, 1, 3, 0.5, 1, 0.05, 0, 0x66181461e809090aull},
        /* the anneal on at its default (pinned when it was added) */
        {"mlp_lopt", 8, 1, 1e4, 0, 1, 0.01, 3, 0x04cc34ad22ade3eeull}, {"mlp_lopt", 8, 1, 1e4, 0, 1, 0.01, 3, 0x6b330e935526f37aull},
        {NULL, 8, 1, 3, 0.5, 1, 0.05, 1, 0x91cd2ae75240dffbull},
    };
    int wrong = 0;
    for (int isa = 0; isa <= 2; isa++) {
        g_s = 88172645463325252ull;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            fnv f = {1469598103934665603ull};
            run(&f, want[i].w, want[i].h, want[i].d, want[i].guard, want[i].trust, want[i].hold, want[i].hg,
                want[i].an, (int)(i % 2), 8, isa);
            if (f.h != want[i].hash) {
                printf("case %zu isa %d: %016llx, pinned %016llx\n", i, isa, (unsigned long long)f.h,
                       (unsigned long long)want[i].hash);
                wrong++;
            }
        }
    }
    assert_int_equal(wrong, 0);
    lopt_registry_clear();
}

/* The guard's sum taken piece by piece equals the whole-tensor sum, bit
 * for bit, at lengths around the piece size. */
static void test_guard_sum_by_pieces(void **st)
{
    (void)st;
    const size_t lens[] = {0, 1, 7, 8, 9, 1023, 1024, 1025, 3000, 4096};
    float *u = malloc(4096 * sizeof(float));
    assert_non_null(u);
    for (size_t i = 0; i < 4096; i++) u[i] = rn() * (float)pow(10.0, 6 * ru() - 3);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        double ss = 0;
        for (size_t i = 0; i < n; i += LOPT_MLP_GUARD_CHUNK)
            lopt_mlp_guard_sumsq_add(u + i, n - i < LOPT_MLP_GUARD_CHUNK ? n - i : LOPT_MLP_GUARD_CHUNK, &ss);
        float a = (float)ss, b = lopt_mlp_guard_sumsq(u, n);
        assert_memory_equal(&a, &b, sizeof a);
    }
    free(u);
}

/* lopt_fast_mlp_apply with the guard's sum and the hold taken in its
 * pieces equals the kernel alone followed by lopt_mlp_guard_sumsq and
 * lopt_mlp_hold_zero_grad over the whole tensor (2-D with rows crossing
 * the pieces, and 1-D), on every build. */
static void test_apply_pieces_equal_whole_tensor_passes(void **st)
{
    (void)st;
    static const int64_t shapes[][2] = {{37, 45}, {300, 333}, {1, 5003}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t R = shapes[si][0], C = shapes[si][1];
        size_t n = (size_t)(R * C);
        lopt_feat_tensor ft;
        memset(&ft, 0, sizeof ft);
        ft.n = n;
        float *acc = calloc(5 * n + (size_t)(R + C), sizeof(float));
        float *g = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float));
        float *ua = malloc(n * sizeof(float)), *ub = malloc(n * sizeof(float));
        float *rs = malloc((size_t)R * sizeof(float)), *cs = malloc((size_t)C * sizeof(float));
        assert_non_null(acc); assert_non_null(g); assert_non_null(p); assert_non_null(ua); assert_non_null(ub);
        assert_non_null(rs); assert_non_null(cs);
        for (int k = 0; k < 3; k++) ft.m[k] = acc + (size_t)k * n;
        ft.v = acc + 3 * n;
        if (R > 1) { ft.rows = R; ft.cols = C; ft.r = acc + 4 * n; ft.c = ft.r + R; }
        else ft.d = acc + 4 * n;
        for (size_t i = 0; i < n; i++) {
            g[i] = i % 11 == 0 ? (i % 22 == 0 ? 0.0f : -0.0f) : rn() * 1e-2f;
            p[i] = rn();
        }
        const float b[LOPT_NDECAY] = {0.5f, 0.9f, 0.99f, 0.999f, 0.999f};
        lopt_fast_mlp net;
        memset(&net, 0, sizeof net);
        float theta[8 * LOPT_MLP_IN + 8 + 16 + 2];
        for (size_t i = 0; i < sizeof theta / sizeof theta[0]; i++) theta[i] = rn() * 0.3f;
        net.hidden = 8; net.depth = 1;
        net.W0 = theta; net.ldw0 = LOPT_MLP_IN; net.bias0 = theta + 8 * LOPT_MLP_IN;
        net.Wo = theta + 8 * LOPT_MLP_IN + 8; net.bo = net.Wo + 16;
        net.mult = 1e-3f;
        for (int isa = 0; isa <= 2; isa++) {
            lopt_fast_force_generic = isa;
            lopt_fast_mlp_stats(&ft, g, p, b, rs, cs, net.inv_rms);
            float usq = -1.0f;
            int bad_a = lopt_fast_mlp_apply(&ft, g, p, &net, ua, 1, &usq, NULL);
            int bad_b = lopt_fast_mlp_apply(&ft, g, p, &net, ub, 0, NULL, NULL);
            lopt_fast_force_generic = 0;
            float want = lopt_mlp_guard_sumsq(ub, n);
            lopt_mlp_hold_zero_grad(g, ub, n);
            assert_int_equal(bad_a, bad_b);
            assert_memory_equal(&usq, &want, sizeof usq);
            assert_memory_equal(ua, ub, n * sizeof(float));
        }
        free(acc); free(g); free(p); free(ua); free(ub); free(rs); free(cs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_records_keep_their_bits),
        cmocka_unit_test(test_other_shapes_and_settings_keep_their_bits),
        cmocka_unit_test(test_guard_sum_by_pieces),
        cmocka_unit_test(test_apply_pieces_equal_whole_tensor_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
