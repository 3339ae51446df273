/* test_lopt_gru.c — gru_lopt (lopt_gru.c): its updates against a scalar
 * double-precision reference written here from gru.h's equations (state
 * carried over several steps, depth 1 and 2, a partial second block), the
 * untrained default ≈ sign-SGD at 1e-3, save/load bit for bit and the
 * refusals of damaged or foreign states, non-finite updates, and the
 * memory figure against what it allocates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "opt.h"
#include "rng.h"

static void make_gru(opt *o, const layout *lay, int hidden, int depth)
{
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "gru_lopt"), 0);
    assert_int_equal(opt_config_set(&cfg, "hidden", hidden), 0);
    assert_int_equal(opt_config_set(&cfg, "depth", depth), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_init(o, &cfg, lay), 0);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One GRU layer for one coordinate, in double, from gru.h:
 *   gx = x Wx + bx, gh = h Wh + bh (gate blocks r, z, n)
 *   r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r·gh_n)
 *   h' = (1 − z)·n + z·h
 * p: the layer's block, Wx (in, 3H), Wh (H, 3H), bx (3H), bh (3H). */
static void ref_layer(const float *p, int in, int H, const double *x, double *h)
{
    const float *Wx = p, *Wh = Wx + (size_t)in * 3 * H, *bx = Wh + (size_t)H * 3 * H, *bh = bx + 3 * H;
    double gx[3 * LOPT_MAX_HIDDEN], gh[3 * LOPT_MAX_HIDDEN], hn[LOPT_MAX_HIDDEN];
    for (int c = 0; c < 3 * H; c++) {
        gx[c] = bx[c];
        gh[c] = bh[c];
        for (int i = 0; i < in; i++) gx[c] += x[i] * Wx[(size_t)i * 3 * H + c];
        for (int i = 0; i < H; i++) gh[c] += h[i] * Wh[(size_t)i * 3 * H + c];
    }
    for (int j = 0; j < H; j++) {
        double r = sigmoid(gx[j] + gh[j]), z = sigmoid(gx[H + j] + gh[H + j]);
        double n = tanh(gx[2 * H + j] + r * gh[2 * H + j]);
        hn[j] = (1 - z) * n + z * h[j];
    }
    memcpy(h, hn, (size_t)H * sizeof(double));
}

/* The update of one coordinate with gradient g at lr multiplier 1; h: its
 * state (D, H), advanced.  theta as lopt_gru.c documents it. */
static double ref_update(const float *theta, size_t ntheta, int H, int D, float g, double *h)
{
    float x0, x1;
    lopt_logsign(g, &x0, &x1);
    double x[LOPT_MAX_HIDDEN] = {x0, x1};
    const float *p = theta + 1;
    for (int l = 0; l < D; l++) {
        int in = l == 0 ? 2 : H;
        ref_layer(p, in, H, x, h + (size_t)l * H);
        memcpy(x, h + (size_t)l * H, (size_t)H * sizeof(double));
        p += (size_t)in * 3 * H + (size_t)H * 3 * H + 6 * (size_t)H;
    }
    assert_true(p + H + 1 == theta + ntheta);   /* the layout adds up */
    double z = theta[ntheta - 1] + theta[0] * x1;
    for (int j = 0; j < H; j++) z += theta[ntheta - 1 - H + j] * x[j];
    return -1e-3 * z;
}

static void test_theta_count_follows_the_layout(void **st)
{
    (void)st;
    /* a | layer 1: 2·24 + 8·24 + 48 | layer 2: 8·24 + 8·24 + 48 | w (8) | b */
    assert_int_equal(lopt_theta_count(LOPT_ARCH_GRU, 8, 2), 1 + 288 + 432 + 8 + 1);
    assert_int_equal(lopt_theta_count(LOPT_ARCH_GRU, 3, 1), 1 + (6 * 3 + 9 * 3 + 6 * 3) + 3 + 1);
    assert_int_equal(lopt_theta_count(LOPT_ARCH_GRU, 0, 1), 0);
    assert_int_equal(lopt_theta_count(LOPT_ARCH_GRU, 8, LOPT_MAX_DEPTH + 1), 0);
    assert_string_equal(lopt_arch_name(LOPT_ARCH_GRU), "gru_lopt");
    assert_int_equal(lopt_arch_from_name("gru_lopt"), LOPT_ARCH_GRU);
}

/* With random weights of order 1 everywhere (so the GRU path, its biases
 * — bh_n inside the reset gate's product — and the read-out all weigh in),
 * the updates of coordinates in both blocks (n = 300: 256 + 44) equal the
 * double reference within 1e-4 of the step scale over 6 steps. */
static void test_updates_match_the_scalar_gru_reference(void **st)
{
    (void)st;
    enum { N = 300, STEPS = 6, NCHK = 6 };
    const size_t chk[NCHK] = {0, 7, 255, 256, 257, 299};
    for (int depth = 1; depth <= 2; depth++) {
        const int H = 5;
        layout lay;
        assert_int_equal(layout_init_flat(&lay, N, 100000), 0);
        opt o;
        make_gru(&o, &lay, H, depth);
        lopt_weights *w = lopt_opt_weights(&o);
        assert_non_null(w);
        assert_int_equal(w->ntheta, lopt_theta_count(LOPT_ARCH_GRU, H, depth));
        rng r;
        rng_seed(&r, 11 + (uint64_t)depth);
        rng_normal_fill(&r, w->theta, w->ntheta, 0.0f, 0.7f);
        double h[NCHK][LOPT_MAX_DEPTH * 8] = {{0}};
        float p[N] = {0}, g[N], u[N];
        double worst = 0;
        for (int t = 0; t < STEPS; t++) {
            rng_normal_fill(&r, g, N, 0.0f, 1.0f);
            g[256] = 1e-6f * (float)(t - 2);   /* the tiny-gradient branch of the preprocessing */
            assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
            for (int c = 0; c < NCHK; c++) {
                double want = ref_update(w->theta, w->ntheta, H, depth, g[chk[c]], h[c]);
                double e = fabs(u[chk[c]] - want) / 1e-3;
                if (e > worst) worst = e;
            }
        }
        printf("gru_lopt depth %d vs the scalar reference: max err %.2e (of the step scale)\n", depth, worst);
        assert_true(worst < 1e-4);
        opt_deinit(&o);
        layout_deinit(&lay);
    }
}

/* The reference itself must see the state: a run that forgets it (fresh
 * h each step) departs from the optimizer's updates after step 1. */
static void test_reference_check_sees_the_state_carry(void **st)
{
    (void)st;
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 4, 1000), 0);
    opt o;
    make_gru(&o, &lay, 4, 2);
    lopt_weights *w = lopt_opt_weights(&o);
    rng r;
    rng_seed(&r, 3);
    rng_normal_fill(&r, w->theta, w->ntheta, 0.0f, 0.7f);
    float p[4] = {0}, g[4] = {0.5f, -2.0f, 1e-3f, 3.0f}, u[4];
    assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
    assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
    double h[2 * 4] = {0};
    double fresh = ref_update(w->theta, w->ntheta, 4, 2, g[0], h);
    assert_true(fabs(u[0] - fresh) > 1e-3 * 1e-3);
    opt_deinit(&o);
    layout_deinit(&lay);
}

/* Untrained (the default init, default hidden 8 × depth 2): every update is
 * −1e-3·sign(g) up to the small read-out (|w·h| ≤ Σ|w_j| ≈ 0.02 of the
 * step) over 5 steps, and twice the lr doubles it. */
static void test_untrained_default_is_sign_sgd_like(void **st)
{
    (void)st;
    enum { N = 300 };
    layout lay;
    assert_int_equal(layout_init_flat(&lay, N, 100000), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "gru_lopt"), 0);
    cfg.weights = LOPT_WEIGHTS_DEFAULT;
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    assert_int_equal(lopt_opt_weights(&a)->hidden, 8);
    assert_int_equal(lopt_opt_weights(&a)->depth, 2);
    assert_int_equal(opt_config_set(&cfg, "lr", 2 * cfg.hp[HP_LR]), 0);
    assert_int_equal(opt_init(&b, &cfg, &lay), 0);
    float p[N] = {0}, q[N] = {0}, g[N], ua[N], ub[N];
    rng r;
    rng_seed(&r, 5);
    double worst = 0;
    for (int t = 0; t < 5; t++) {
        rng_normal_fill(&r, g, N, 0.0f, 1.0f);
        assert_int_equal(opt_step(&a, p, g, ua, NULL), 0);
        assert_int_equal(opt_step(&b, q, g, ub, NULL), 0);
        for (int i = 0; i < N; i++) {
            if (fabsf(g[i]) < 1e-4f) continue;
            double e = fabs(ua[i] + 1e-3 * (g[i] > 0 ? 1 : -1));
            if (e > worst) worst = e;
            assert_true(fabsf(ub[i] - 2 * ua[i]) <= 1e-6f * fabsf(ua[i]));
        }
    }
    printf("gru_lopt untrained: max |u + 1e-3 sign g| = %.2e\n", worst);
    assert_true(worst < 1e-5);
    opt_deinit(&a);
    opt_deinit(&b);
    layout_deinit(&lay);
}

/* 5 steps, save, 4 more; a fresh optimizer (its theta perturbed: the blob's
 * must win) loaded from the save repeats the 4 updates bit for bit.  A
 * flipped byte, a truncated blob and the state of another width are
 * ERR_CORRUPT. */
static void test_save_load_is_bitwise_and_refuses_damage(void **st)
{
    (void)st;
    enum { N = 300 };
    layout lay;
    assert_int_equal(layout_init_flat(&lay, N, 100000), 0);
    opt a, b, c;
    make_gru(&a, &lay, 6, 2);
    float p[N] = {0}, pb[N], g[N], u[N], ua[4][N];
    rng r;
    rng_seed(&r, 9);
    for (int t = 0; t < 5; t++) {
        rng_normal_fill(&r, g, N, 0.0f, 1.0f);
        assert_int_equal(opt_step(&a, p, g, u, NULL), 0);
    }
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    memcpy(pb, p, sizeof p);
    rng r2 = r;
    for (int t = 0; t < 4; t++) {
        rng_normal_fill(&r, g, N, 0.0f, 1.0f);
        assert_int_equal(opt_step(&a, p, g, ua[t], NULL), 0);
    }
    make_gru(&b, &lay, 6, 2);
    lopt_opt_weights(&b)->theta[3] += 1.0f;
    assert_int_equal(opt_load(&b, blob, len), 0);
    for (int t = 0; t < 4; t++) {
        rng_normal_fill(&r2, g, N, 0.0f, 1.0f);
        assert_int_equal(opt_step(&b, pb, g, u, NULL), 0);
        assert_memory_equal(u, ua[t], sizeof u);
    }
    assert_memory_equal(p, pb, sizeof p);

    assert_int_equal(opt_load(&b, blob, len - 8), ERR_CORRUPT);
    make_gru(&c, &lay, 7, 2);
    assert_int_equal(opt_load(&c, blob, len), ERR_CORRUPT);   /* another width */
    blob[len / 2] ^= 1;
    assert_int_equal(opt_load(&b, blob, len), ERR_CORRUPT);
    free(blob);
    opt_deinit(&a);
    opt_deinit(&b);
    opt_deinit(&c);
    layout_deinit(&lay);
}

/* A NaN gradient reaching the rule gives ERR_NON_FINITE_UPDATE (opt_step
 * itself refuses it earlier, as ERR_NON_FINITE); a NaN weight inside the
 * GRU (the last layer's n-gate bias) gives ERR_NON_FINITE_UPDATE through
 * opt_step with the params untouched. */
static void test_non_finite_updates_are_errors(void **st)
{
    (void)st;
    enum { N = 37 };
    layout lay;
    assert_int_equal(layout_init_flat(&lay, N, 1000), 0);
    float p[N] = {0}, g[N], u[N];
    for (int i = 0; i < N; i++) g[i] = 0.1f * (float)(i - 18);
    opt o;
    make_gru(&o, &lay, 8, 2);
    g[30] = NAN;
    assert_int_equal(o.vt->step(&o, p, g, u, 1e-3, NULL), ERR_NON_FINITE_UPDATE);
    assert_int_equal(opt_step(&o, p, g, u, NULL), ERR_NON_FINITE);
    opt_deinit(&o);
    g[30] = 1.0f;
    make_gru(&o, &lay, 8, 2);
    lopt_weights *w = lopt_opt_weights(&o);
    w->theta[w->ntheta - 8 - 1 - 1] = NAN;   /* layer 2's bh, n gate, unit 8 */
    assert_int_equal(opt_step(&o, p, g, u, NULL), ERR_NON_FINITE_UPDATE);
    for (int i = 0; i < N; i++) assert_true(p[i] == 0.0f);
    opt_deinit(&o);
    layout_deinit(&lay);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* opt_bytes (the state_bytes figure before anything is allocated) is at
 * least what opt_init and three steps hold, at several sizes and shapes. */
static void test_state_bytes_cover_what_is_allocated(void **st)
{
    (void)st;
    static const struct { size_t n; int hidden, depth; } cases[] = {
        {1, 8, 2}, {37, 8, 2}, {1000, 16, 3}, {20000, 8, 2}, {513, 32, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        layout lay;
        assert_int_equal(layout_init_flat(&lay, cases[c].n, 1000000), 0);
        opt_config cfg;
        assert_int_equal(opt_config_defaults(&cfg, "gru_lopt"), 0);
        assert_int_equal(opt_config_set(&cfg, "hidden", cases[c].hidden), 0);
        assert_int_equal(opt_config_set(&cfg, "depth", cases[c].depth), 0);
        cfg.weights = LOPT_WEIGHTS_DEFAULT;
        uint64_t est = 0;
        assert_int_equal(opt_bytes(&cfg, &lay, &est), 0);
        size_t n = cases[c].n;
        float *p = calloc(n, sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
        assert_non_null(p);
        assert_non_null(g);
        assert_non_null(u);
        for (size_t i = 0; i < n; i++) g[i] = 0.01f * (float)((int)(i % 17) - 8);
        size_t before = heap_in_use();
        opt o;
        assert_int_equal(opt_init(&o, &cfg, &lay), 0);
        for (int t = 0; t < 3; t++) assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
        size_t used = heap_in_use() - before;
        opt_deinit(&o);
        if (used && est < used) {
            fprintf(stderr, "gru_lopt n %zu: opt_bytes %llu < heap %zu\n", n, (unsigned long long)est, used);
            fail();
        }
        /* the hidden state dominates: D·H floats per coordinate */
        assert_true(est >= (uint64_t)n * (uint64_t)(cases[c].depth * cases[c].hidden) * sizeof(float));
        free(p);
        free(g);
        free(u);
        layout_deinit(&lay);
    }
}

/* With no "weights", a record named gru_lopt in the table drives the
 * optimizer at its own shape (its hidden wins over the hyperparameter). */
static void test_a_record_named_gru_lopt_is_used(void **st)
{
    (void)st;
    lopt_weights rec;
    assert_int_equal(lopt_weights_init_default(&rec, LOPT_ARCH_GRU, 4, 1, 7), 0);
    rec.theta[0] = 0.5f;
    assert_int_equal(lopt_registry_put("gru_lopt", &rec), 0);
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 10, 1000), 0);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "gru_lopt"), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &lay), 0);
    lopt_weights *w = lopt_opt_weights(&o);
    assert_int_equal(w->hidden, 4);
    assert_int_equal(w->depth, 1);
    assert_memory_equal(w->theta, rec.theta, rec.ntheta * sizeof(float));
    opt_deinit(&o);
    lopt_registry_clear();
    lopt_weights_deinit(&rec);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_theta_count_follows_the_layout),
        cmocka_unit_test(test_updates_match_the_scalar_gru_reference),
        cmocka_unit_test(test_reference_check_sees_the_state_carry),
        cmocka_unit_test(test_untrained_default_is_sign_sgd_like),
        cmocka_unit_test(test_save_load_is_bitwise_and_refuses_damage),
        cmocka_unit_test(test_non_finite_updates_are_errors),
        cmocka_unit_test(test_state_bytes_cover_what_is_allocated),
        cmocka_unit_test(test_a_record_named_gru_lopt_is_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
