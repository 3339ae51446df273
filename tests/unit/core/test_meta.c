/* test_meta.c — meta-training: ES and PES estimates agree with the exact
 * meta-gradient on a quadratic; a short seeded run lowers the meta-loss;
 * determinism; checkpoint resume equals the uninterrupted run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt_internal.h"
#include "meta.h"
#include "meta_threads.h"

/* One fixed noiseless quadratic (dim 5), mlp_lopt 2×1 (55 meta-parameters). */
static void small_cfg(meta_config *c, int estimator)
{
    meta_config_defaults(c);
    c->hidden = 2;
    c->depth = 1;
    c->estimator = estimator;
    c->tasks[0].params.dim = 5;
    c->task_seed = 7;
    c->unroll = 10;
    c->outer_lr = 0;          /* estimates only: theta stays put */
    c->clip = 0;
}

/* Exact gradient of (scale × meta_unroll_loss over `steps`) by central
 * differences in double on theta (h = 1e-3). */
static void exact_grad(const meta_config *c, const lopt_weights *w, int steps, double scale, double *g)
{
    float *th = malloc(w->ntheta * sizeof(float));
    memcpy(th, w->theta, w->ntheta * sizeof(float));
    const float h = 1e-3f;
    for (size_t i = 0; i < w->ntheta; i++) {
        double lp, lm;
        float keep = th[i];
        th[i] = keep + h;
        double hp = (double)th[i] - keep;
        assert_int_equal(meta_unroll_loss(c, th, 0, c->task_seed, c->task_seed, c->task_seed + 1, steps, &lp), 0);
        th[i] = keep - h;
        double hm = (double)keep - th[i];
        assert_int_equal(meta_unroll_loss(c, th, 0, c->task_seed, c->task_seed, c->task_seed + 1, steps, &lm), 0);
        th[i] = keep;
        g[i] = scale * (lp - lm) / (hp + hm);
    }
    free(th);
}

static double cosine(const double *a, const double *b, size_t n, double *ratio)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    *ratio = sqrt(aa / bb);
    return ab / sqrt(aa * bb);
}

/* Antithetic ES with 1000 pairs, σ = 0.01, unroll 10: cosine with the exact
 * gradient > 0.9 and norm ratio within [0.75, 1.33]. */
static void test_es_estimate_agrees_with_exact_gradient(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c, META_ES);
    c.nparticles = 1000;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    size_t nt = meta_job_weights(j)->ntheta;
    double *ex = malloc(nt * sizeof(double)), *es = malloc(nt * sizeof(double));
    exact_grad(&c, meta_job_weights(j), c.unroll, 1.0, ex);
    meta_report rep;
    assert_int_equal(meta_step(j, &rep), 0);
    for (size_t i = 0; i < nt; i++) es[i] = meta_job_grad(j)[i];
    double ratio, cs = cosine(es, ex, nt, &ratio);
    printf("ES: cosine %.4f, |es|/|exact| %.3f\n", cs, ratio);
    assert_true(cs > 0.9);
    assert_true(ratio > 0.75 && ratio < 1.33);
    free(ex); free(es);
    meta_job_free(j);
}

/* PES with 1000 pairs over one episode of 4 truncations (horizon 40, no
 * offsets): the sum of the 4 estimates vs the exact gradient of the summed
 * truncation losses (4 × the 40-step meta-loss): cosine > 0.9, norm ratio
 * within [0.75, 1.33]. */
static void test_pes_estimate_agrees_with_exact_gradient(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c, META_PES);
    c.nparticles = 1000;
    c.horizon_min = c.horizon_max = 40;
    c.pes_offsets = 0;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    size_t nt = meta_job_weights(j)->ntheta;
    double *ex = malloc(nt * sizeof(double)), *pes = calloc(nt, sizeof(double));
    exact_grad(&c, meta_job_weights(j), 40, 4.0, ex);
    for (int s = 0; s < 4; s++) {
        assert_int_equal(meta_step(j, NULL), 0);
        for (size_t i = 0; i < nt; i++) pes[i] += meta_job_grad(j)[i];
    }
    double ratio, cs = cosine(pes, ex, nt, &ratio);
    printf("PES: cosine %.4f, |pes|/|exact| %.3f\n", cs, ratio);
    assert_true(cs > 0.9);
    assert_true(ratio > 0.75 && ratio < 1.33);
    free(ex); free(pes);
    meta_job_free(j);
}

static double heldout_loss(const meta_config *c, const lopt_weights *w)
{
    double s = 0;
    for (uint64_t seed = 1000; seed < 1004; seed++) {
        double l;
        assert_int_equal(meta_unroll_loss(c, w->theta, 0, seed, seed, seed + 1, c->unroll, &l), 0);
        s += l / 4;
    }
    return s;
}

/* 30 outer ES steps (8 pairs, random quadratics dim 10) lower the held-out
 * meta-loss (4 unseen seeds) by at least 0.1 nats. */
static void test_seeded_meta_training_lowers_meta_loss(void **st)
{
    (void)st;
    meta_config c;
    meta_config_defaults(&c);
    c.outer_lr = 0.03;
    c.sigma = 0.03;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    double before = heldout_loss(&c, meta_job_weights(j));
    meta_report rep;
    for (int s = 0; s < 30; s++) assert_int_equal(meta_step(j, &rep), 0);
    double after = heldout_loss(&c, meta_job_weights(j));
    printf("held-out meta-loss %.4f -> %.4f (last train %.4f)\n", before, after, rep.meta_loss);
    assert_true(after < before - 0.1);
    assert_int_equal(rep.step, 30);
    meta_job_free(j);
}

static void run_steps(meta_job *j, int n)
{
    for (int s = 0; s < n; s++) {
        assert_int_equal(meta_step_begin(j), 0);
        for (int k = meta_job_nparticles(j) - 1; k >= 0; k--)   /* order must not matter */
            assert_int_equal(meta_eval_particle(j, k), 0);
        assert_int_equal(meta_step_end(j, NULL), 0);
    }
}

static void test_same_seed_same_theta_other_seed_differs(void **st)
{
    (void)st;
    for (int est = META_ES; est <= META_PES; est++) {
        meta_config c;
        meta_config_defaults(&c);
        c.estimator = est;
        c.nparticles = 4;
        c.horizon_min = 15; c.horizon_max = 60;
        meta_job *a, *b, *d;
        assert_int_equal(meta_job_new(&c, NULL, &a), 0);
        assert_int_equal(meta_job_new(&c, NULL, &b), 0);
        c.seed = 2;
        assert_int_equal(meta_job_new(&c, meta_job_weights(a), &d), 0);
        run_steps(a, 3);
        assert_int_equal(meta_step(b, NULL), 0);
        run_steps(b, 2);
        run_steps(d, 3);
        size_t nt = meta_job_weights(a)->ntheta;
        assert_memory_equal(meta_job_weights(a)->theta, meta_job_weights(b)->theta, nt * sizeof(float));
        assert_memory_not_equal(meta_job_weights(a)->theta, meta_job_weights(d)->theta, nt * sizeof(float));
        meta_job_free(a); meta_job_free(b); meta_job_free(d);
    }
}

/* Save after 3 steps, continue 4: a new job loaded from the checkpoint and
 * run 4 steps ends with the same theta, bit for bit (PES: persistent inner
 * states included; episodes end inside the window). */
static void test_checkpoint_resume_equals_uninterrupted(void **st)
{
    (void)st;
    for (int est = META_ES; est <= META_PES; est++) {
        meta_config c;
        meta_config_defaults(&c);
        c.estimator = est;
        c.nparticles = 3;
        c.unroll = 10;
        c.horizon_min = 20; c.horizon_max = 50;
        meta_job *a, *b;
        assert_int_equal(meta_job_new(&c, NULL, &a), 0);
        run_steps(a, 3);
        uint8_t *blob;
        size_t len;
        assert_int_equal(meta_save(a, &blob, &len), 0);
        run_steps(a, 4);
        assert_int_equal(meta_job_new(&c, NULL, &b), 0);
        assert_int_equal(meta_load(b, blob, len), 0);
        assert_int_equal(meta_job_step(b), 3);
        run_steps(b, 4);
        size_t nt = meta_job_weights(a)->ntheta;
        assert_memory_equal(meta_job_weights(a)->theta, meta_job_weights(b)->theta, nt * sizeof(float));
        blob[len / 2] ^= 4;
        assert_int_equal(meta_load(b, blob, len), ERR_CORRUPT);
        free(blob);
        meta_job_free(a); meta_job_free(b);
    }
}

/* Default mlp_lopt 2×1 weights with the read-out scaled by 30, so that the
 * inner steps (~3e-2) move the quadratic's gradient enough for the Hessian
 * terms to matter (first order then differs from exact by ~2.6e-2). */
static void tbptt_weights(const meta_config *c, lopt_weights *w)
{
    assert_int_equal(lopt_weights_init_default_act(w, LOPT_ARCH_MLP, c->hidden, c->depth, c->act, 3), 0);
    float *head = w->theta + w->ntheta - LOPT_MLP_NSCALE, *Wo = head - 2 - 2 * (size_t)c->hidden;
    for (int i = 0; i < 2 * c->hidden; i++) Wo[i] *= 30.0f;
    /* a step-scale head that is not 0, so every path through the
     * per-tensor features (normalisers, bias corrections of the decays) is
     * on the tape and checked */
    for (int j = 0; j < LOPT_MLP_SCALE_IN; j++) head[j] = 0.05f * (float)((j % 5) - 2);
    head[LOPT_MLP_SCALE_IN] = 0.3f;
}

static double rel_err(const double *a, const double *b, size_t n)
{
    double e = 0, nb = 0;
    for (size_t i = 0; i < n; i++) { e += (a[i] - b[i]) * (a[i] - b[i]); nb += b[i] * b[i]; }
    return sqrt(e / nb);
}

/* Central differences (h = 1e-2, the float step actually taken) of one
 * truncation's meta-loss in theta: fd[i] of the float meta_unroll_loss,
 * fdd[i] of the tape's double loss (meta_unroll_grad in exact mode, its
 * gradient written to scratch and unused). */
static void tbptt_central_differences(const meta_config *c, lopt_weights *w, uint64_t s0, double *fd, double *fdd,
                                      double *scratch)
{
    for (size_t i = 0; i < w->ntheta; i++) {
        float keep = w->theta[i];
        double lp, lm, dp, dm;
        w->theta[i] = keep + 1e-2f;
        double hp = (double)w->theta[i] - keep;
        assert_int_equal(meta_unroll_loss(c, w->theta, 0, s0, s0, s0 + 1, c->unroll, &lp), 0);
        assert_int_equal(meta_unroll_grad(c, w->theta, 0, s0, s0, s0 + 1, c->unroll, 1, &dp, scratch), 0);
        w->theta[i] = keep - 1e-2f;
        double hm = (double)keep - w->theta[i];
        assert_int_equal(meta_unroll_loss(c, w->theta, 0, s0, s0, s0 + 1, c->unroll, &lm), 0);
        assert_int_equal(meta_unroll_grad(c, w->theta, 0, s0, s0, s0 + 1, c->unroll, 1, &dm, scratch), 0);
        w->theta[i] = keep;
        fd[i] = (lp - lm) / (hp + hm);
        fdd[i] = (dp - dm) / (hp + hm);
    }
}

/* TBPTT on the fixed quadratic of small_cfg (10 steps), against central
 * differences in double with h = 1e-2 on theta (truncation error measured
 * negligible: 1e-3 gives the same agreement within noise):
 *   exact mode (through task_hvp) vs FD of the tape's own double-precision
 *   meta-loss: ‖Δ‖/‖fd‖ < 3e-5 (measured 1.4e-5; 4e-6 before the step-scale
 *   head, whose exponential curves the loss more in θ); vs FD of the float
 *   meta_unroll_loss: < 2e-4 (measured 3e-5: the float path's rounding);
 *   its loss equals meta_unroll_loss within 1e-5 relative;
 *   first order (∂g/∂p = 0) vs exact: cosine > 0.99 but ‖Δ‖/‖exact‖ > 1e-3
 *   (measured 4.5e-2) — the HVP terms are really there and really right. */
static void test_tbptt_matches_finite_differences(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c, META_TBPTT);
    lopt_weights w;
    tbptt_weights(&c, &w);
    size_t nt = w.ntheta;
    double *g = malloc(nt * sizeof(double)), *g1 = malloc(nt * sizeof(double));
    double *fd = malloc(nt * sizeof(double)), *fdd = malloc(nt * sizeof(double));
    double *scratch = malloc(nt * sizeof(double));
    double L, Lf;
    uint64_t s0 = c.task_seed;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, c.unroll, 1, &L, g), 0);
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, c.unroll, 0, &L, g1), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, c.unroll, &Lf), 0);
    assert_true(fabs(L - Lf) <= 1e-5 * fabs(Lf));
    tbptt_central_differences(&c, &w, s0, fd, fdd, scratch);
    double e_d = rel_err(g, fdd, nt), e_f = rel_err(g, fd, nt), e_fo = rel_err(g1, g, nt), ratio;
    double cs = cosine(g1, g, nt, &ratio);
    printf("TBPTT exact vs fd(double loss) %.2e, vs fd(float loss) %.2e; first order vs exact %.2e "
           "(cosine %.5f)\n", e_d, e_f, e_fo, cs);
    assert_true(e_d < 3e-5);
    assert_true(e_f < 2e-4);
    assert_true(cs > 0.99);
    assert_true(e_fo > 1e-3);
    free(g); free(g1); free(fd); free(fdd); free(scratch);
    lopt_weights_deinit(&w);
}

/* TBPTT of a gelu and a swish mlp_lopt (small_cfg's quadratic, 2 units,
 * depths 1 and 2: the deeper layer's carry rows of their default init) in
 * exact mode against central differences of the tape's double meta-loss
 * (h = 1e-2 as above): ‖Δ‖/‖fd‖ < 3e-5 as for relu, and against the float
 * meta_unroll_loss < 2e-4.  The activation's derivative on the tape is
 * lopt_act's. */
static void test_tbptt_matches_finite_differences_under_gelu_and_swish(void **st)
{
    (void)st;
    for (int act = LOPT_ACT_GELU; act <= LOPT_ACT_SWISH; act++)
        for (int depth = 1; depth <= 2; depth++) {
            meta_config c;
            small_cfg(&c, META_TBPTT);
            c.act = act;
            c.depth = depth;
            lopt_weights w;
            tbptt_weights(&c, &w);
            size_t nt = w.ntheta;
            double *g = malloc(nt * sizeof(double)), *fd = malloc(nt * sizeof(double));
            double *fdd = malloc(nt * sizeof(double)), *scratch = malloc(nt * sizeof(double));
            double L, Lf;
            uint64_t s0 = c.task_seed;
            assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, c.unroll, 1, &L, g), 0);
            assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, c.unroll, &Lf), 0);
            assert_true(fabs(L - Lf) <= 1e-5 * fabs(Lf));
            tbptt_central_differences(&c, &w, s0, fd, fdd, scratch);
            double e_d = rel_err(g, fdd, nt), e_f = rel_err(g, fd, nt);
            printf("TBPTT %s depth %d: exact vs fd(double loss) %.2e, vs fd(float loss) %.2e\n", lopt_act_name(act),
                   depth, e_d, e_f);
            assert_true(e_d < 3e-5);
            assert_true(e_f < 2e-4);
            free(g); free(fd); free(fdd); free(scratch);
            lopt_weights_deinit(&w);
        }
}

/* On a family without HVP exact mode is refused, first order works. */
static void test_tbptt_exact_needs_hvp(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c, META_TBPTT);
    snprintf(c.tasks[0].family, META_FAMILY_MAX, "softmax_regression");
    c.tasks[0].params.dim = 0;
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, c.hidden, c.depth, 3), 0);
    double *g = malloc(w.ntheta * sizeof(double)), L;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 1, 1, 2, 5, 1, &L, g), ERR_INVALID_ARGUMENT);
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 1, 1, 2, 5, 0, &L, g), 0);
    assert_true(isfinite(L));
    free(g);
    lopt_weights_deinit(&w);
}

/* 30 outer TBPTT steps (exact, 4 particles, random quadratics dim 10) lower
 * the held-out meta-loss by at least 0.1 nats. */
static void test_tbptt_meta_training_lowers_meta_loss(void **st)
{
    (void)st;
    meta_config c;
    meta_config_defaults(&c);
    c.estimator = META_TBPTT;
    c.tbptt_exact = 1;
    c.nparticles = 4;
    c.outer_lr = 0.03;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    double before = heldout_loss(&c, meta_job_weights(j));
    meta_report rep;
    for (int s = 0; s < 30; s++) assert_int_equal(meta_step(j, &rep), 0);
    double after = heldout_loss(&c, meta_job_weights(j));
    printf("TBPTT held-out meta-loss %.4f -> %.4f\n", before, after);
    assert_true(after < before - 0.1);
    meta_job_free(j);
    /* TBPTT records mlp_lopt's and lstm_lopt's update rules, not nn_adam's */
    snprintf(c.optimizer, sizeof c.optimizer, "nn_adam");
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
}

/* Particles evaluated by 2 pthreads (interleaved k) give the same theta,
 * bit for bit, as the serial run, for ES, PES and TBPTT over 3 outer steps
 * (core has no threads; the caller's threads share one job). */
static void test_two_threads_give_bitwise_same_theta(void **st)
{
    (void)st;
    for (int est = META_ES; est <= META_TBPTT; est++) {
        meta_config c;
        meta_config_defaults(&c);
        c.estimator = est;
        c.nparticles = 6;
        c.unroll = 8;
        c.horizon_min = 10; c.horizon_max = 30;
        c.ntasks = 2;
        snprintf(c.tasks[1].family, META_FAMILY_MAX, "rosenbrock");
        meta_job *a, *b;
        assert_int_equal(meta_job_new(&c, NULL, &a), 0);
        assert_int_equal(meta_job_new(&c, NULL, &b), 0);
        run_steps(a, 3);
        meta_steps_two_threads(b, 3);
        size_t nt = meta_job_weights(a)->ntheta;
        assert_memory_equal(meta_job_weights(a)->theta, meta_job_weights(b)->theta, nt * sizeof(float));
        assert_memory_equal(meta_job_grad(a), meta_job_grad(b), nt * sizeof(float));
        meta_job_free(a); meta_job_free(b);
    }
}

static void test_bad_config_is_rejected(void **st)
{
    (void)st;
    meta_config c;
    meta_job *j;
    meta_config_defaults(&c);
    snprintf(c.optimizer, sizeof c.optimizer, "adam");
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_UNKNOWN_OPTIMIZER);
    meta_config_defaults(&c);
    snprintf(c.tasks[0].family, sizeof c.tasks[0].family, "nope");
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    meta_config_defaults(&c);
    c.sigma = 0;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es_estimate_agrees_with_exact_gradient),
        cmocka_unit_test(test_pes_estimate_agrees_with_exact_gradient),
        cmocka_unit_test(test_seeded_meta_training_lowers_meta_loss),
        cmocka_unit_test(test_same_seed_same_theta_other_seed_differs),
        cmocka_unit_test(test_checkpoint_resume_equals_uninterrupted),
        cmocka_unit_test(test_bad_config_is_rejected),
        cmocka_unit_test(test_tbptt_matches_finite_differences),
        cmocka_unit_test(test_tbptt_matches_finite_differences_under_gelu_and_swish),
        cmocka_unit_test(test_tbptt_exact_needs_hvp),
        cmocka_unit_test(test_tbptt_meta_training_lowers_meta_loss),
        cmocka_unit_test(test_two_threads_give_bitwise_same_theta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
