/* test_meta_robust.c — meta-training for robustness (meta.h): the
 * outlier-punishing objective against a reference Adam path (its constant
 * part cancels in antithetic ES; α > 0 changes the estimate), weighted task
 * draws over more than 8 tasks, the curriculum over unrolls and horizons,
 * checkpoint resume and two threads bit for bit with all of them on; and
 * TBPTT through mlp_lopt's safeguard; µP's multipliers in meta-training. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_cache.h"
#include "errors.h"
#include "lopt_internal.h"
#include "meta.h"
#include "meta_threads.h"

/* Quadratics dim 5 and rosenbrock, mlp_lopt 2×1, ES, unroll 10. */
static void base_cfg(meta_config *c, int estimator)
{
    meta_config_defaults(c);
    c->hidden = 2;
    c->depth = 1;
    c->estimator = estimator;
    c->nparticles = 6;
    c->unroll = 10;
    c->horizon_min = 15; c->horizon_max = 40;
    c->ntasks = 2;
    c->tasks[0].params.dim = 5;
    snprintf(c->tasks[1].family, META_FAMILY_MAX, "rosenbrock");
}

static void run_steps(meta_job *j, int n)
{
    for (int s = 0; s < n; s++) {
        assert_int_equal(meta_step_begin(j), 0);
        for (int k = meta_job_nparticles(j) - 1; k >= 0; k--)
            assert_int_equal(meta_eval_particle(j, k), 0);
        assert_int_equal(meta_step_end(j, NULL), 0);
    }
}

/* With α = 0 the reference's log-loss is a constant per particle, so the
 * antithetic estimate equals the log objective's (within rounding: the
 * same numbers summed as differences), while the reported meta-loss moves
 * by the reference's level.  With α > 0 the estimate changes. */
static void test_reference_cancels_at_alpha_zero_and_alpha_reweights(void **st)
{
    (void)st;
    meta_config c;
    base_cfg(&c, META_ES);
    c.outer_lr = 0;
    meta_job *a, *b, *d;
    meta_report ra, rb, rd;
    assert_int_equal(meta_job_new(&c, NULL, &a), 0);
    c.objective = META_OBJ_REF;
    c.ref_lr = 0.05;
    assert_int_equal(meta_job_new(&c, NULL, &b), 0);
    c.outlier_alpha = 2.0;
    assert_int_equal(meta_job_new(&c, NULL, &d), 0);
    assert_int_equal(meta_step(a, &ra), 0);
    assert_int_equal(meta_step(b, &rb), 0);
    assert_int_equal(meta_step(d, &rd), 0);
    size_t nt = meta_job_weights(a)->ntheta;
    double num = 0, den = 0, numd = 0;
    for (size_t i = 0; i < nt; i++) {
        double ga = meta_job_grad(a)[i], gb = meta_job_grad(b)[i], gd = meta_job_grad(d)[i];
        num += (ga - gb) * (ga - gb);
        numd += (ga - gd) * (ga - gd);
        den += ga * ga;
    }
    printf("ref objective: |g_ref(α=0) − g_log| / |g_log| %.2e, α=2: %.2e; meta-loss log %.3f ref %.3f ref(α=2) %.3f\n",
           sqrt(num / den), sqrt(numd / den), ra.meta_loss, rb.meta_loss, rd.meta_loss);
    assert_true(den > 0);
    assert_true(sqrt(num / den) < 1e-4);
    assert_true(sqrt(numd / den) > 1e-2);
    assert_true(fabs(ra.meta_loss - rb.meta_loss) > 0.1);
    assert_true(rd.meta_loss >= rb.meta_loss);   /* α·max(r, 0)² ≥ 0 */
    meta_job_free(a); meta_job_free(b); meta_job_free(d);
}

/* Antithetic ES with the reference objective at α = 1 (1000 pairs, σ 0.01,
 * one fixed quadratic dim 5, unroll 10, the reference Adam at lr 0.05 far
 * ahead so that r > 0 and the quadratic term matters) estimates the
 * gradient of meta_unroll_loss's ref-mode meta-loss: cosine with central
 * differences (h = 1e-3) > 0.9 and norm ratio within [0.75, 1.33], as the
 * log objective's estimate does in test_meta.c. */
static void test_es_estimates_the_ref_objective_gradient(void **st)
{
    (void)st;
    meta_config c;
    base_cfg(&c, META_ES);
    c.ntasks = 1;
    c.task_seed = 7;
    c.nparticles = 1000;
    c.outer_lr = 0;
    c.clip = 0;
    c.objective = META_OBJ_REF;
    c.ref_lr = 0.05;
    c.outlier_alpha = 1.0;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    const lopt_weights *w = meta_job_weights(j);
    size_t nt = w->ntheta;
    double *fd = malloc(nt * sizeof(double));
    float *th = malloc(nt * sizeof(float));
    memcpy(th, w->theta, nt * sizeof(float));
    double r0;
    assert_int_equal(meta_unroll_loss(&c, th, 0, 7, 7, 8, c.unroll, &r0), 0);
    for (size_t i = 0; i < nt; i++) {
        double lp, lm;
        float keep = th[i];
        th[i] = keep + 1e-3f;
        double hp = (double)th[i] - keep;
        assert_int_equal(meta_unroll_loss(&c, th, 0, 7, 7, 8, c.unroll, &lp), 0);
        th[i] = keep - 1e-3f;
        double hm = (double)keep - th[i];
        assert_int_equal(meta_unroll_loss(&c, th, 0, 7, 7, 8, c.unroll, &lm), 0);
        th[i] = keep;
        fd[i] = (lp - lm) / (hp + hm);
    }
    assert_int_equal(meta_step(j, NULL), 0);
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < nt; i++) {
        double e = meta_job_grad(j)[i];
        ab += e * fd[i]; aa += e * e; bb += fd[i] * fd[i];
    }
    double cs = ab / sqrt(aa * bb), ratio = sqrt(aa / bb);
    printf("ES on the ref objective (mean term %.3f): cosine %.4f, |es|/|fd| %.3f\n", r0, cs, ratio);
    assert_true(r0 > 0.5);
    assert_true(cs > 0.9);
    assert_true(ratio > 0.75 && ratio < 1.33);
    free(fd); free(th);
    meta_job_free(j);
}

/* meta_unroll_loss in ref mode: at α = 0 it differs from the log mode by a
 * constant that does not depend on theta (the reference's mean log-loss);
 * the untrained optimizer (1e-3 steps) is behind Adam at lr 0.05 on the
 * quadratic (r > 0), so α > 0 adds at least α·r̄² (Jensen). */
static void test_unroll_loss_in_ref_mode(void **st)
{
    (void)st;
    meta_config c;
    base_cfg(&c, META_ES);
    c.ntasks = 1;
    lopt_weights w1, w2;
    assert_int_equal(lopt_weights_init_default(&w1, LOPT_ARCH_MLP, 2, 1, 1), 0);
    assert_int_equal(lopt_weights_init_default(&w2, LOPT_ARCH_MLP, 2, 1, 2), 0);
    for (size_t i = 0; i < w2.ntheta; i++) w2.theta[i] *= 1.5f;
    double l1, l2, r1, r2, q1;
    assert_int_equal(meta_unroll_loss(&c, w1.theta, 0, 3, 4, 5, 20, &l1), 0);
    assert_int_equal(meta_unroll_loss(&c, w2.theta, 0, 3, 4, 5, 20, &l2), 0);
    c.objective = META_OBJ_REF;
    c.ref_lr = 0.05;
    assert_int_equal(meta_unroll_loss(&c, w1.theta, 0, 3, 4, 5, 20, &r1), 0);
    assert_int_equal(meta_unroll_loss(&c, w2.theta, 0, 3, 4, 5, 20, &r2), 0);
    assert_true(fabs(l1 - l2) > 1e-4);
    assert_true(fabs((r1 - l1) - (r2 - l2)) < 1e-9);
    assert_true(r1 > 0);
    c.outlier_alpha = 1.0;
    assert_int_equal(meta_unroll_loss(&c, w1.theta, 0, 3, 4, 5, 20, &q1), 0);
    assert_true(q1 >= r1 + r1 * r1 - 1e-9);
    /* a per-task reference lr overrides the job's */
    c.outlier_alpha = 0;
    c.tasks[0].ref_lr = 1e-4;
    double r3;
    assert_int_equal(meta_unroll_loss(&c, w1.theta, 0, 3, 4, 5, 20, &r3), 0);
    assert_true(fabs(r3 - r1) > 1e-3);
    lopt_weights_deinit(&w1); lopt_weights_deinit(&w2);
}

/* Weighted draws over 32 tasks follow the weights; cycle mode is k mod n;
 * the draw does not advance the caller's stream. */
static void test_weighted_task_draws(void **st)
{
    (void)st;
    meta_config c;
    meta_config_defaults(&c);
    c.ntasks = META_MAX_TASKS;
    for (int i = 0; i < c.ntasks; i++) {
        snprintf(c.tasks[i].family, META_FAMILY_MAX, "quadratic");
        c.tasks[i].weight = i == 3 ? 31.0 : 1.0;   /* task 3: half the mass */
    }
    rng r;
    rng_seed(&r, 9);
    assert_int_equal(meta_draw_task(&c, 37, &r), 37 % META_MAX_TASKS);
    c.task_draw = META_DRAW_WEIGHTED;
    int count[META_MAX_TASKS] = {0};
    for (int n = 0; n < 8000; n++) {
        rng child;
        rng_split(&r, (uint64_t)n, &child);
        rng before = child;
        int t = meta_draw_task(&c, 0, &child);
        assert_memory_equal(&before, &child, sizeof child);
        assert_true(t >= 0 && t < META_MAX_TASKS);
        count[t]++;
    }
    printf("weighted draws: task 3 %.3f (0.5), task 0 %.4f (%.4f)\n", count[3] / 8000.0, count[0] / 8000.0, 1 / 62.0);
    assert_true(fabs(count[3] / 8000.0 - 0.5) < 0.03);
    for (int i = 0; i < META_MAX_TASKS; i++)
        if (i != 3) assert_true(count[i] > 40 && count[i] < 240);   /* expected 129 */
    /* a job with 32 tasks and weighted draws runs */
    c.nparticles = 3;
    c.unroll = 5;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    run_steps(j, 2);
    meta_job_free(j);
    /* a weight other than 1 in cycle mode is refused */
    c.task_draw = META_DRAW_CYCLE;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
}

/* The curriculum grows geometrically from the start values to the final
 * ones over curriculum_steps, monotone, then stays; without it (or without
 * a start) the final values; horizon_max never below horizon_min. */
static void test_curriculum_schedule(void **st)
{
    (void)st;
    meta_config c;
    meta_config_defaults(&c);
    c.unroll = 40;
    c.horizon_min = 50; c.horizon_max = 5000;
    assert_int_equal(meta_unroll_at(&c, 0), 40);
    assert_int_equal(meta_horizon_max_at(&c, 0), 5000);
    c.curriculum_steps = 100;
    c.unroll_start = 5;
    c.horizon_max_start = 10;
    assert_int_equal(meta_unroll_at(&c, 0), 5);
    assert_int_equal(meta_horizon_max_at(&c, 0), 50);          /* 10, raised to horizon_min */
    assert_int_equal(meta_unroll_at(&c, 50), 14);              /* √(5·40) = 14.1 */
    assert_int_equal(meta_horizon_max_at(&c, 50), 224);        /* √(10·5000) = 223.6 */
    assert_int_equal(meta_unroll_at(&c, 100), 40);
    assert_int_equal(meta_horizon_max_at(&c, 1000), 5000);
    int prev_u = 0, prev_h = 0;
    for (int64_t s = 0; s <= 120; s++) {
        int u = meta_unroll_at(&c, s), h = meta_horizon_max_at(&c, s);
        assert_true(u >= prev_u && u <= 40 && h >= prev_h && h <= 5000);
        prev_u = u; prev_h = h;
    }
    /* ES unrolls follow it: the first steps run 5 inner steps, so a job
     * with unroll_start = unroll (no growth) reports a different loss */
    base_cfg(&c, META_ES);
    c.curriculum_steps = 10;
    c.unroll_start = 2;
    meta_job *a, *b;
    meta_report ra, rb;
    assert_int_equal(meta_job_new(&c, NULL, &a), 0);
    c.unroll_start = c.unroll;
    assert_int_equal(meta_job_new(&c, NULL, &b), 0);
    assert_int_equal(meta_step(a, &ra), 0);
    assert_int_equal(meta_step(b, &rb), 0);
    assert_true(ra.meta_loss != rb.meta_loss);
    meta_job_free(a); meta_job_free(b);
    /* out of range */
    c.unroll_start = c.unroll + 1;
    assert_int_equal(meta_job_new(&c, NULL, &a), ERR_INVALID_ARGUMENT);
}

/* Everything on (ref objective, α, weighted draws, curriculum), ES and
 * PES: two threads give the serial run's theta bit for bit, and a job
 * resumed from a checkpoint after 3 steps ends where the uninterrupted one
 * does after 7. */
static void test_threads_and_checkpoints_with_everything_on(void **st)
{
    (void)st;
    for (int est = META_ES; est <= META_PES; est++) {
        meta_config c;
        base_cfg(&c, est);
        c.objective = META_OBJ_REF;
        c.outlier_alpha = 0.5;
        c.task_draw = META_DRAW_WEIGHTED;
        c.tasks[0].weight = 2;
        c.tasks[1].ref_lr = 1e-3;
        c.curriculum_steps = 5;
        c.unroll_start = 4;
        c.horizon_max_start = 20;
        meta_job *a, *b, *d;
        assert_int_equal(meta_job_new(&c, NULL, &a), 0);
        assert_int_equal(meta_job_new(&c, NULL, &b), 0);
        run_steps(a, 3);
        meta_steps_two_threads(b, 3);
        size_t nt = meta_job_weights(a)->ntheta;
        assert_memory_equal(meta_job_weights(a)->theta, meta_job_weights(b)->theta, nt * sizeof(float));
        uint8_t *blob;
        size_t len;
        assert_int_equal(meta_save(a, &blob, &len), 0);
        run_steps(a, 4);
        assert_int_equal(meta_job_new(&c, NULL, &d), 0);
        assert_int_equal(meta_load(d, blob, len), 0);
        run_steps(d, 4);
        assert_memory_equal(meta_job_weights(a)->theta, meta_job_weights(d)->theta, nt * sizeof(float));
        /* a job of another objective does not take the checkpoint */
        meta_job_free(d);
        c.objective = META_OBJ_LOG;
        c.tasks[1].ref_lr = 0;
        assert_int_equal(meta_job_new(&c, NULL, &d), 0);
        assert_int_equal(meta_load(d, blob, len), ERR_CORRUPT);
        free(blob);
        meta_job_free(a); meta_job_free(b); meta_job_free(d);
    }
}

/* The reference objective is ES/PES only; α < 0 and ref_lr <= 0 are refused. */
static void test_bad_robust_config_is_rejected(void **st)
{
    (void)st;
    meta_config c;
    meta_job *j;
    base_cfg(&c, META_TBPTT);
    c.objective = META_OBJ_REF;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    base_cfg(&c, META_ES);
    c.objective = META_OBJ_REF;
    c.outlier_alpha = -1;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    c.outlier_alpha = 0;
    c.ref_lr = 0;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    base_cfg(&c, META_ES);
    c.task_draw = 7;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
}

/* A particle's memory counts the reference path when there is one. */
static void test_particle_bytes(void **st)
{
    (void)st;
    meta_config c;
    meta_config_defaults(&c);
    layout lay;
    assert_int_equal(layout_init_flat(&lay, 100000, 1u << 30), 0);
    uint64_t b2, b3;
    assert_int_equal(meta_particle_bytes(&c, 213, &lay, &b2), 0);
    c.objective = META_OBJ_REF;
    assert_int_equal(meta_particle_bytes(&c, 213, &lay, &b3), 0);
    assert_true(b2 > 2 * 3 * 100000 * sizeof(float));
    assert_true(b3 > b2 + 3 * 100000 * sizeof(float));   /* + paths + Adam's 2 moments */
    layout_deinit(&lay);
}

/* TBPTT records mlp_lopt's safeguard.  Reference: the default 2×1
 * network with its small random weights zeroed computes exactly
 * d = relu(x₇) − relu(−x₇) = x₇ and m = 0, i.e. the fallback's update, and
 * never trips the guard (its tape is the one the finite-difference tests
 * of test_meta.c check).  The same network with bo[0] = 1e6 trips it on
 * every tensor at every step (the default guard, 1e4): its loss and its
 * gradient with respect to the decays must equal the reference's, its
 * gradient is zero for every other meta-parameter, and the float path
 * (meta_unroll_loss, which falls back the same way) gives the same loss.
 * A noisy quadratic, so that the normalised m₂/√v depends on the decays. */
static void test_tbptt_records_the_guard(void **st)
{
    (void)st;
    meta_config c;
    base_cfg(&c, META_TBPTT);
    c.ntasks = 1;
    snprintf(c.tasks[0].family, META_FAMILY_MAX, "noisy_quadratic");
    c.tasks[0].params.dim = 20;
    c.tasks[0].params.noise = 1.0;
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 2, 1, 3), 0);
    size_t nt = w.ntheta, IN = LOPT_MLP_IN;
    float *W0 = w.theta + LOPT_NDECAY, *Wo = W0 + 2 * IN + 2;
    for (size_t i = LOPT_NDECAY; i < nt; i++) w.theta[i] = 0.0f;
    W0[0 * IN + 7] = 1.0f;
    W0[1 * IN + 7] = -1.0f;
    Wo[0] = 1.0f;
    Wo[1] = -1.0f;
    double *gr = malloc(nt * sizeof(double)), *gg = malloc(nt * sizeof(double)), Lr, Lg, Lf;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 10, 1, &Lr, gr), 0);
    Wo[4] = 1e6f;   /* bo[0] */
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 10, 1, &Lg, gg), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, 7, 7, 8, 10, &Lf), 0);
    double gmax = 0, worst = 0;
    for (int i = 0; i < LOPT_NDECAY; i++) {
        gmax = fmax(gmax, fabs(gr[i]));
        worst = fmax(worst, fabs(gr[i] - gg[i]));
    }
    printf("TBPTT through the guard: loss %.6f (reference %.6f, float path %.6f); decay gradient max %.3e, "
           "max |guarded − reference| %.2e\n", Lg, Lr, Lf, gmax, worst);
    assert_true(fabs(Lg - Lr) <= 1e-9 * fabs(Lr));
    assert_true(fabs(Lf - Lg) <= 1e-5 * fabs(Lg));
    assert_true(gmax > 1e-6);
    assert_true(worst <= 1e-6 * gmax);
    for (size_t i = LOPT_NDECAY; i < nt; i++) assert_true(gg[i] == 0.0);
    free(gr); free(gg);
    lopt_weights_deinit(&w);
}

/* TBPTT records mlp_lopt's hold (hold_zero_grad, on by default) and refuses
 * its trust region (not recorded): on a ReLU
 * regression whose dead units give exactly-zero gradients, the double
 * re-run's loss equals the float path's with the hold on and with it off,
 * and the two settings give different losses (the hold did act). */
static void test_tbptt_records_the_hold(void **st)
{
    (void)st;
    meta_config c;
    base_cfg(&c, META_TBPTT);
    c.ntasks = 1;
    snprintf(c.tasks[0].family, META_FAMILY_MAX, "mlp_regression");
    c.tasks[0].params.depth = 3;
    c.tasks[0].params.width = 16;
    c.tasks[0].params.batch = 8;
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 2, 1, 3), 0);
    double *gr = malloc(w.ntheta * sizeof(double)), L[2], Lf[2];
    for (int hold = 0; hold <= 1; hold++) {
        c.hold_zero_grad = hold ? -1 : 0;   /* -1: the optimizer's default, on */
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 40, 0, &L[hold], gr), 0);
        assert_int_equal(meta_unroll_loss(&c, w.theta, 0, 7, 7, 8, 40, &Lf[hold]), 0);
        printf("TBPTT with hold_zero_grad %d: loss %.9f, float path %.9f\n", hold, L[hold], Lf[hold]);
        assert_true(fabs(L[hold] - Lf[hold]) <= 1e-5 * fabs(L[hold]));
    }
    assert_true(fabs(L[1] - L[0]) > 1e-4 * fabs(L[0]));
    /* the trust region is not recorded: TBPTT refuses it, and so does a job */
    c.trust = 10;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 40, 0, &L[0], gr), ERR_INVALID_ARGUMENT);
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    c.trust = 0;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 40, 0, &L[0], gr), 0);
    free(gr);
    lopt_weights_deinit(&w);
}

/* µP in meta-training: the job's weights carry mup_base; on a 2-hidden-
 * layer Fashion-MNIST MLP (matrices (64,8), (8,8), (8,10)) the TBPTT tape
 * applies the same 8/fan_in multipliers as the float path (equal losses
 * with µP at base 2, and both differ from the losses without it). */
static void test_mup_in_meta_training(void **st)
{
    (void)st;
    meta_config c;
    base_cfg(&c, META_TBPTT);
    c.ntasks = 1;
    snprintf(c.tasks[0].family, META_FAMILY_MAX, "fmnist_mlp");
    c.tasks[0].params = (task_params){.width = 8, .depth = 2, .batch = 8, .data = &data_cache_source};
    lopt_weights w;
    assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_MLP, 2, 1, 3), 0);
    double *g = malloc(w.ntheta * sizeof(double)), L0, Lf0, L1, Lf1;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 8, 0, &L0, g), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, 7, 7, 8, 8, &Lf0), 0);
    c.mup_base = 2;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 7, 7, 8, 8, 0, &L1, g), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, 7, 7, 8, 8, &Lf1), 0);
    printf("µP: tape %.7f float %.7f; without µP %.7f / %.7f\n", L1, Lf1, L0, Lf0);
    assert_true(fabs(L1 - Lf1) <= 1e-5 * fabs(Lf1));
    assert_true(fabs(L0 - Lf0) <= 1e-5 * fabs(Lf0));
    assert_true(fabs(L1 - L0) > 1e-5 * fabs(L0));
    meta_job *j;
    c.estimator = META_ES;
    c.nparticles = 2;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    assert_int_equal(meta_job_weights(j)->mup_base, 2);
    meta_job_free(j);
    snprintf(c.optimizer, sizeof c.optimizer, "lstm_lopt");
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    free(g);
    lopt_weights_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_cancels_at_alpha_zero_and_alpha_reweights),
        cmocka_unit_test(test_unroll_loss_in_ref_mode),
        cmocka_unit_test(test_es_estimates_the_ref_objective_gradient),
        cmocka_unit_test(test_weighted_task_draws),
        cmocka_unit_test(test_curriculum_schedule),
        cmocka_unit_test(test_threads_and_checkpoints_with_everything_on),
        cmocka_unit_test(test_bad_robust_config_is_rejected),
        cmocka_unit_test(test_particle_bytes),
        cmocka_unit_test(test_tbptt_records_the_guard),
        cmocka_unit_test(test_tbptt_records_the_hold),
        cmocka_unit_test(test_mup_in_meta_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
