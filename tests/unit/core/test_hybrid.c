/* test_hybrid.c — the `hybrid` optimizer (opt_hybrid.c).
 *
 * What must hold:
 *   - each update equals w_L·u_L + w_C·u_C where u_L, u_C come from an
 *     mlp_lopt and an Adam driven separately with the same gradients and
 *     parameters (|diff| <= 1e-6·(|w_L u_L| + |w_C u_C|) + 1e-12 per element:
 *     float32 rounding of the mix only), and the weights follow the rule of
 *     opt_hybrid.h recomputed here in double from those separate proposals
 *     (|diff| <= 1e-9);
 *   - on a quadratic, the weights move toward the component whose steps
 *     reduce the loss faster (Adam at an absurdly small lr: the learned part;
 *     the learned part scaled down 100x against Adam at a good lr: Adam);
 *   - save/load mid-run continues bit for bit; a corrupt blob is refused and
 *     changes nothing;
 *   - the weights stay on the simplex, finite, each >= share/2, under noisy,
 *     huge, tiny and zero gradients;
 *   - bad hyperparameters and weights are refused; non-finite gradients
 *     change nothing; a non-finite component update is ERR_NON_FINITE_UPDATE. */
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
#include "opt_hybrid.h"
#include "rng.h"

#define N 27

/* "w" (4, 5) and "b" (7). */
static void make_layout(layout *lay)
{
    const char *names[] = {"w", "b"};
    int ndims[] = {2, 1};
    int64_t shapes[2][LAYOUT_MAX_DIMS] = {{4, 5}, {7}};
    assert_int_equal(layout_init(lay, 2, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 1000), 0);
}

/* f(x) = ½ Σ h_i (x_i − c_i)², h_i log-spaced in [0.1, 10]. */
typedef struct quad { double h[N], c[N]; } quad;

static void quad_init(quad *q, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < N; i++) {
        q->h[i] = pow(10.0, -1.0 + 2.0 * i / (N - 1));
        q->c[i] = rng_normal(&r);
    }
}

static double quad_grad(const quad *q, const float *x, float *g)
{
    double f = 0;
    for (int i = 0; i < N; i++) {
        double d = x[i] - q->c[i];
        f += 0.5 * q->h[i] * d * d;
        g[i] = (float)(q->h[i] * d);
    }
    return f;
}

static void hybrid_config(opt_config *cfg, double lr)
{
    assert_int_equal(opt_config_defaults(cfg, "hybrid"), 0);
    assert_int_equal(opt_config_set(cfg, "lr", lr), 0);
    cfg->weights = LOPT_WEIGHTS_DEFAULT;
}

static void diag_get(const opt *o, double *wl, double *wc, double *rl, double *rc, double *scale)
{
    opt_diag_value v[OPT_DIAG_MAX];
    int k = opt_diag(o, v, OPT_DIAG_MAX);
    assert_int_equal(k, 5);
    assert_string_equal(v[0].name, "mix_learned");
    assert_string_equal(v[1].name, "mix_classic");
    assert_string_equal(v[2].name, "reward_learned");
    assert_string_equal(v[3].name, "reward_classic");
    assert_string_equal(v[4].name, "reward_scale");
    *wl = v[0].value; *wc = v[1].value;
    if (rl) *rl = v[2].value;
    if (rc) *rc = v[3].value;
    if (scale) *scale = v[4].value;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

static void test_hybrid_update_is_the_mix_of_separately_driven_components(void **st)
{
    (void)st;
    layout lay;
    make_layout(&lay);
    quad q;
    quad_init(&q, 11);
    const double lr = 0.02, eta = 0.3, share = 0.05;
    opt_config hc, lc, cc;
    hybrid_config(&hc, lr);
    assert_int_equal(opt_config_set(&hc, "eta", eta), 0);
    assert_int_equal(opt_config_set(&hc, "share", share), 0);
    assert_int_equal(opt_config_set(&hc, "init_learned", 0.3), 0);
    assert_int_equal(opt_config_set(&hc, "beta1", 0.8), 0);
    assert_int_equal(opt_config_defaults(&lc, "mlp_lopt"), 0);   /* lr 1e-3: its meta-trained step */
    lc.weights = LOPT_WEIGHTS_DEFAULT;
    assert_int_equal(opt_config_defaults(&cc, "adam"), 0);
    assert_int_equal(opt_config_set(&cc, "lr", lr), 0);
    assert_int_equal(opt_config_set(&cc, "beta1", 0.8), 0);
    opt h, lo, ad;
    assert_int_equal(opt_init(&h, &hc, &lay), 0);
    assert_int_equal(opt_init(&lo, &lc, &lay), 0);
    assert_int_equal(opt_init(&ad, &cc, &lay), 0);

    float x[N], g[N], u[N], pl[N], pc[N], ul[N], uc[N], prev_ul[N], prev_uc[N];
    for (int i = 0; i < N; i++) x[i] = 0;
    double wl_ref = (1 - share) * 0.3 + share / 2, scale_ref = 0;
    int moved = 0;
    for (int t = 1; t <= 60; t++) {
        quad_grad(&q, x, g);
        if (t > 1) {
            double xl = 0, xc = 0;
            for (int i = 0; i < N; i++) { xl -= (double)g[i] * prev_ul[i]; xc -= (double)g[i] * prev_uc[i]; }
            double m = fmax(fabs(xl), fabs(xc));
            scale_ref = scale_ref > 0 ? 0.9 * scale_ref + 0.1 * m : m;
            double rl = clampd(xl / scale_ref, -1, 1), rc = clampd(xc / scale_ref, -1, 1);
            double v = wl_ref * exp(eta * rl) / (wl_ref * exp(eta * rl) + (1 - wl_ref) * exp(eta * rc));
            wl_ref = (1 - share) * v + share / 2;
        }
        memcpy(pl, x, sizeof x);
        memcpy(pc, x, sizeof x);
        step_info info = {.loss = NAN};
        assert_int_equal(opt_step(&lo, pl, g, ul, &info), 0);
        assert_int_equal(opt_step(&ad, pc, g, uc, &info), 0);
        assert_int_equal(opt_step(&h, x, g, u, &info), 0);
        double wl, wc;
        diag_get(&h, &wl, &wc, NULL, NULL, NULL);
        if (fabs(wl - wl_ref) > 1e-9) fail_msg("step %d: w_L %.12f, rule %.12f", t, wl, wl_ref);
        assert_true(fabs(wl + wc - 1) <= 1e-15);
        if (fabs(wl - 0.3 * (1 - share) - share / 2) > 0.05) moved = 1;
        for (int i = 0; i < N; i++) {
            double want = wl * ul[i] + wc * uc[i];
            double tol = 1e-6 * (fabs(wl * ul[i]) + fabs(wc * uc[i])) + 1e-12;
            if (fabs(u[i] - want) > tol) fail_msg("step %d elem %d: %.9g vs %.9g", t, i, u[i], want);
        }
        memcpy(prev_ul, ul, sizeof ul);
        memcpy(prev_uc, uc, sizeof uc);
    }
    assert_true(moved);   /* the check above was not on constant weights */
    assert_int_equal(h.t, 60);
    assert_int_equal(opt_hybrid_learned(&h)->t, 60);
    assert_int_equal(opt_hybrid_classic(&h)->t, 60);
    opt_deinit(&h);
    opt_deinit(&lo);
    opt_deinit(&ad);
    layout_deinit(&lay);
}

/* Runs `steps` hybrid steps on the quadratic; returns the final loss and the
 * final learned weight. */
static double run_quad(opt_config *cfg, int steps, double *wl_out, double *f0_out)
{
    layout lay;
    make_layout(&lay);
    quad q;
    quad_init(&q, 5);
    opt h;
    assert_int_equal(opt_init(&h, cfg, &lay), 0);
    float x[N], g[N], u[N];
    memset(x, 0, sizeof x);
    double f = quad_grad(&q, x, g);
    if (f0_out) *f0_out = f;
    for (int t = 0; t < steps; t++) {
        step_info info = {.loss = f};
        assert_int_equal(opt_step(&h, x, g, u, &info), 0);
        f = quad_grad(&q, x, g);
    }
    double wc;
    diag_get(&h, wl_out, &wc, NULL, NULL, NULL);
    opt_deinit(&h);
    layout_deinit(&lay);
    return f;
}

static void test_weights_move_toward_the_faster_component(void **st)
{
    (void)st;
    opt_config cfg;
    double wl, f0, f;
    /* Adam at lr 1e-7 barely moves: the learned part must take over (the
     * default fixed share caps the winner near 0.99). */
    hybrid_config(&cfg, 1e-7);
    f = run_quad(&cfg, 150, &wl, &f0);
    printf("# adam lr 1e-7: w_L %.4f, loss %.4g -> %.4g\n", wl, f0, f);
    assert_true(wl > 0.9);
    assert_true(f < 0.9 * f0);
    /* Adam at a good lr against the learned part scaled down 100x: Adam. */
    hybrid_config(&cfg, 0.05);
    assert_int_equal(opt_config_set(&cfg, "lo_scale", 0.01), 0);
    f = run_quad(&cfg, 100, &wl, &f0);
    printf("# adam lr 0.05 vs lo_scale 0.01: w_L %.4f, loss %.4g -> %.4g\n", wl, f0, f);
    assert_true(wl < 0.1);
    assert_true(f < 0.01 * f0);
    /* share = 1 is the fixed 50/50 mix: no adaptation at all. */
    hybrid_config(&cfg, 1e-7);
    assert_int_equal(opt_config_set(&cfg, "share", 1), 0);
    f = run_quad(&cfg, 50, &wl, &f0);
    assert_true(wl == 0.5);
}

static void test_save_load_continues_bit_for_bit(void **st)
{
    (void)st;
    layout lay;
    make_layout(&lay);
    quad q;
    quad_init(&q, 3);
    opt_config cfg;
    hybrid_config(&cfg, 0.01);
    assert_int_equal(opt_config_set(&cfg, "eta", 0.5), 0);
    opt a, b;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    float xa[N], xb[N], g[N], ua[N], ub[N];
    memset(xa, 0, sizeof xa);
    for (int t = 0; t < 15; t++) {
        quad_grad(&q, xa, g);
        assert_int_equal(opt_step(&a, xa, g, ua, NULL), 0);
    }
    uint8_t *blob;
    size_t len;
    assert_int_equal(opt_save(&a, &blob, &len), 0);
    /* b starts from other weights (seeded differently through the table)
     * and another init_learned: the blob must bring everything. */
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 8, 1, 999), 0);
    assert_int_equal(lopt_registry_put("other", &w), 0);
    lopt_weights_deinit(&w);
    opt_config cfgb = cfg;
    cfgb.weights = "other";
    assert_int_equal(opt_init(&b, &cfgb, &lay), 0);
    assert_int_equal(opt_load(&b, blob, len), 0);
    assert_int_equal(b.t, 15);
    memcpy(xb, xa, sizeof xa);
    for (int t = 0; t < 25; t++) {
        quad_grad(&q, xa, g);
        assert_int_equal(opt_step(&a, xa, g, ua, NULL), 0);
        assert_int_equal(opt_step(&b, xb, g, ub, NULL), 0);
        assert_memory_equal(ua, ub, sizeof ua);
        assert_memory_equal(xa, xb, sizeof xa);
        opt_diag_value da[OPT_DIAG_MAX], db[OPT_DIAG_MAX];
        int na = opt_diag(&a, da, OPT_DIAG_MAX), nb = opt_diag(&b, db, OPT_DIAG_MAX);
        assert_int_equal(na, nb);
        for (int k = 0; k < na; k++) assert_memory_equal(&da[k].value, &db[k].value, sizeof(double));
    }
    uint8_t *sa, *sb;
    size_t la, lb;
    assert_int_equal(opt_save(&a, &sa, &la), 0);
    assert_int_equal(opt_save(&b, &sb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    free(sa);
    free(sb);
    free(blob);
    lopt_registry_remove("other");
    opt_deinit(&a);
    opt_deinit(&b);
    layout_deinit(&lay);
}

/* A blob that decodes but whose hybrid part is invalid, or that is cut
 * short, is refused and leaves the optimizer exactly as it was. */
static void test_bad_state_is_refused_and_changes_nothing(void **st)
{
    (void)st;
    layout lay;
    make_layout(&lay);
    quad q;
    quad_init(&q, 4);
    opt_config cfg;
    hybrid_config(&cfg, 0.01);
    opt a;
    assert_int_equal(opt_init(&a, &cfg, &lay), 0);
    float x[N], g[N], u[N];
    memset(x, 0, sizeof x);
    for (int t = 0; t < 5; t++) {
        quad_grad(&q, x, g);
        assert_int_equal(opt_step(&a, x, g, u, NULL), 0);
    }
    uint8_t *good, *other, *after;
    size_t glen, olen, alen;
    assert_int_equal(opt_save(&a, &good, &glen), 0);
    quad_grad(&q, x, g);
    assert_int_equal(opt_step(&a, x, g, u, NULL), 0);
    assert_int_equal(opt_save(&a, &other, &olen), 0);   /* the state at step 6 */
    assert_int_equal(opt_load(&a, good, glen - 7), ERR_CORRUPT);
    /* Blobs with a valid header and CRC whose hybrid part is wrong: an
     * unknown format, have_prev = 2, w_L = 2 (off the simplex).  Built from
     * the good blob's parts: name | n | t | format | have_prev | w_L | rest. */
    blob_reader r;
    uint32_t ver;
    assert_int_equal(blob_reader_init(&r, good, glen, BLOB_KIND_OPT_STATE, &ver), 0);
    char name[OPT_NAME_MAX];
    blob_get_str(&r, name, sizeof name);
    uint64_t n = blob_get_u64(&r), t = blob_get_u64(&r);
    size_t hyb_at = r.pos;
    for (int variant = 0; variant < 3; variant++) {
        blob_writer w;
        assert_int_equal(blob_writer_init(&w, BLOB_KIND_OPT_STATE, ver), 0);
        blob_put_str(&w, name);
        blob_put_u64(&w, n);
        blob_put_u64(&w, t);
        blob_reader rr = r;
        rr.pos = hyb_at;
        uint32_t format = blob_get_u32(&rr), have_prev = blob_get_u32(&rr);
        double wl = blob_get_f64(&rr);
        if (variant == 0) format = 7;
        if (variant == 1) have_prev = 2;
        if (variant == 2) wl = 2.0;
        blob_put_u32(&w, format);
        blob_put_u32(&w, have_prev);
        blob_put_f64(&w, wl);
        blob_put_bytes(&w, rr.p + rr.pos, rr.len - rr.pos);
        uint8_t *bad;
        size_t blen;
        assert_int_equal(blob_writer_finish(&w, &bad, &blen), 0);
        assert_int_equal(opt_load(&a, bad, blen), ERR_CORRUPT);
        free(bad);
    }
    assert_int_equal(opt_save(&a, &after, &alen), 0);
    assert_int_equal(alen, olen);
    assert_memory_equal(after, other, olen);
    /* the good blob still loads */
    assert_int_equal(opt_load(&a, good, glen), 0);
    assert_int_equal(a.t, 5);
    free(good);
    free(other);
    free(after);
    opt_deinit(&a);
    layout_deinit(&lay);
}

static void test_weights_stay_on_the_simplex(void **st)
{
    (void)st;
    layout lay;
    make_layout(&lay);
    rng r;
    rng_seed(&r, 77);
    const double etas[] = {1e-3, 0.1, 10}, shares[] = {1e-6, 0.02, 0.5, 1};
    for (int ei = 0; ei < 3; ei++)
        for (int si = 0; si < 4; si++) {
            opt_config cfg;
            hybrid_config(&cfg, 0.01);
            assert_int_equal(opt_config_set(&cfg, "eta", etas[ei]), 0);
            assert_int_equal(opt_config_set(&cfg, "share", shares[si]), 0);
            assert_int_equal(opt_config_set(&cfg, "init_learned", si % 2 ? 1.0 : 0.0), 0);
            opt h;
            assert_int_equal(opt_init(&h, &cfg, &lay), 0);
            float x[N], g[N], u[N];
            memset(x, 0, sizeof x);
            for (int t = 0; t < 150; t++) {
                /* noisy gradients whose scale jumps over 20 orders of magnitude, sometimes zero */
                double sc = t % 37 == 0 ? 0 : pow(10.0, -10 + 20 * rng_uniform(&r));
                for (int i = 0; i < N; i++) g[i] = (float)(sc * rng_normal(&r));
                step_info info = {.loss = NAN};
                int rc = opt_step(&h, x, g, u, &info);
                assert_true(rc == 0 || rc == ERR_NON_FINITE_UPDATE);
                if (rc) break;   /* a huge gradient may overflow the learned part's moments */
                double wl, wc, rl, rc2, scale;
                diag_get(&h, &wl, &wc, &rl, &rc2, &scale);
                assert_true(isfinite(wl) && isfinite(wc) && isfinite(rl) && isfinite(rc2) && isfinite(scale));
                assert_true(fabs(wl + wc - 1) <= 1e-15);
                assert_true(wl >= shares[si] / 2 && wc >= shares[si] / 2 * (1 - 1e-12));
                assert_true(rl >= -1 && rl <= 1 && rc2 >= -1 && rc2 <= 1 && scale >= 0);
                for (int i = 0; i < N; i++) x[i] = 0;   /* keep params bounded */
            }
            opt_deinit(&h);
        }
    layout_deinit(&lay);
}

static void test_bad_hyperparameters_and_weights_are_refused(void **st)
{
    (void)st;
    layout lay;
    make_layout(&lay);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "hybrid"), 0);
    assert_int_equal(opt_config_set(&cfg, "eta", 0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "eta", 11), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "share", 0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "share", 1.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "init_learned", -0.1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "lo_scale", 0), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "beta1", 1), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "hidden", 2.5), ERR_OUT_OF_RANGE);
    assert_int_equal(opt_config_set(&cfg, "eta", NAN), ERR_NON_FINITE);
    assert_int_equal(opt_config_set(&cfg, "momentum", 0.9), ERR_UNKNOWN_HYPERPARAM);
    /* opt_init re-checks a config written directly */
    opt h;
    int ie = opt_hparam_index(opt_find("hybrid"), "share");
    assert_true(ie > 0);
    cfg.hp[ie] = -1;
    assert_int_equal(opt_init(&h, &cfg, &lay), ERR_OUT_OF_RANGE);
    /* weights: unknown name, wrong architecture */
    assert_int_equal(opt_config_defaults(&cfg, "hybrid"), 0);
    cfg.weights = "no-such-record";
    assert_int_equal(opt_init(&h, &cfg, &lay), ERR_NOT_FOUND);
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_LSTM, 4, 1, 1), 0);
    assert_int_equal(lopt_registry_put("an-lstm", &w), 0);
    lopt_weights_deinit(&w);
    cfg.weights = "an-lstm";
    assert_int_equal(opt_init(&h, &cfg, &lay), ERR_INVALID_ARGUMENT);
    lopt_registry_remove("an-lstm");
    layout_deinit(&lay);
}

static void test_non_finite_is_refused_and_weights_reach_the_learned_part(void **st)
{
    (void)st;
    layout lay;
    make_layout(&lay);
    opt_config cfg;
    hybrid_config(&cfg, 0.01);
    opt h;
    assert_int_equal(opt_init(&h, &cfg, &lay), 0);
    assert_null(lopt_opt_weights(&h));               /* not a learned optimizer itself */
    assert_null(opt_hybrid_learned(opt_hybrid_classic(&h)));
    lopt_weights *lw = lopt_opt_weights(opt_hybrid_learned(&h));
    assert_non_null(lw);
    assert_int_equal(lw->arch, LOPT_ARCH_MLP);
    assert_string_equal(opt_hybrid_classic(&h)->vt->name, "adam");
    float x[N], g[N], u[N];
    for (int i = 0; i < N; i++) { x[i] = 0.5f; g[i] = 0.1f * (float)(i - 13); }
    assert_int_equal(opt_step(&h, x, g, u, NULL), 0);
    uint8_t *before, *after;
    size_t lb, la;
    assert_int_equal(opt_save(&h, &before, &lb), 0);
    g[3] = NAN;
    assert_int_equal(opt_step(&h, x, g, u, NULL), ERR_NON_FINITE);
    assert_int_equal(opt_save(&h, &after, &la), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(after, before, lb);
    free(after);
    /* A learned part whose output overflows: with mlp_lopt's safeguard (on
     * by default) the learned part falls back to its normalised Adam step
     * and the hybrid's step succeeds; with the safeguard off it fails and
     * leaves the params alone (opt_step applies only finite updates). */
    g[3] = 0.2f;
    lw->theta[lw->ntheta - LOPT_MLP_NSCALE - 1] = 1e30f;   /* bo[1]: exp(λ₂ m) = inf */
    float x0[N];
    memcpy(x0, x, sizeof x);
    opt *lo = opt_hybrid_learned(&h);
    int gi = opt_hparam_index(lo->vt, "guard");
    assert_true(gi > 0 && lo->cfg.hp[gi] > 0);
    assert_int_equal(opt_step(&h, x, g, u, NULL), 0);
    for (int i = 0; i < N; i++) assert_true(isfinite(u[i]));
    assert_int_equal(opt_load(&h, before, lb), 0);
    memcpy(x, x0, sizeof x);
    lw = lopt_opt_weights(lo);
    lw->theta[lw->ntheta - LOPT_MLP_NSCALE - 1] = 1e30f;
    lo->cfg.hp[gi] = 0;
    assert_int_equal(opt_step(&h, x, g, u, NULL), ERR_NON_FINITE_UPDATE);
    assert_memory_equal(x, x0, sizeof x);
    assert_int_equal(h.t, 1);
    /* restoring the snapshot brings back a working optimizer */
    assert_int_equal(opt_load(&h, before, lb), 0);
    assert_int_equal(opt_step(&h, x, g, u, NULL), 0);
    free(before);
    opt_deinit(&h);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hybrid_update_is_the_mix_of_separately_driven_components),
        cmocka_unit_test(test_weights_move_toward_the_faster_component),
        cmocka_unit_test(test_save_load_continues_bit_for_bit),
        cmocka_unit_test(test_bad_state_is_refused_and_changes_nothing),
        cmocka_unit_test(test_weights_stay_on_the_simplex),
        cmocka_unit_test(test_bad_hyperparameters_and_weights_are_refused),
        cmocka_unit_test(test_non_finite_is_refused_and_weights_reach_the_learned_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
