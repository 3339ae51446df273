/* test_meta_continual.c — staged meta-training (meta_continual.h): the EWC
 * penalty's gradient against finite differences; the Fisher estimate on a
 * quadratic meta-loss with a known answer and inside a job; the penalty in
 * the job's estimate; ewc_lambda = 0 and replay = 0 equal to the chain of
 * separate jobs bit for bit; checkpoint/resume in the middle of stages;
 * replay's draws; bad stage settings refused. */
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
#include "meta.h"
#include "meta_continual.h"
#include "rng.h"

/* R(θ) = λ/2 Σ_s Σ_i F_s,i (θ_i − θ*_s,i)², written out. */
static double penalty_direct(const double *F0, const double *t0, const double *F1, const double *t1,
                             const double *th, double lambda, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += F0[i] * (th[i] - t0[i]) * (th[i] - t0[i]) + F1[i] * (th[i] - t1[i]) * (th[i] - t1[i]);
    return 0.5 * lambda * s;
}

static void test_ewc_gradient_matches_finite_differences(void **st)
{
    (void)st;
    enum { N = 12 };
    double F0[N], F1[N], t0[N], t1[N], F[N], b[N], th[N], c = 0;
    rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < N; i++) {
        F0[i] = rng_uniform(&r) * 3; F1[i] = rng_uniform(&r);
        t0[i] = rng_normal(&r); t1[i] = rng_normal(&r); th[i] = rng_normal(&r);
        F[i] = F0[i] + F1[i];
        b[i] = F0[i] * t0[i] + F1[i] * t1[i];
        c += F0[i] * t0[i] * t0[i] + F1[i] * t1[i] * t1[i];
    }
    const double lambda = 0.7;
    double R = meta_ewc_penalty(F, b, c, th, lambda, N);
    assert_true(fabs(R - penalty_direct(F0, t0, F1, t1, th, lambda, N)) < 1e-9 * (1 + fabs(R)));
    float thf[N], g[N];
    for (int i = 0; i < N; i++) { thf[i] = (float)th[i]; th[i] = thf[i]; g[i] = 0.25f; }
    meta_ewc_grad(g, F, b, thf, lambda, 0, N);
    for (int i = 0; i < N; i++) {
        const double h = 1e-4;
        double keep = th[i];
        th[i] = keep + h;
        double rp = meta_ewc_penalty(F, b, c, th, lambda, N);
        th[i] = keep - h;
        double rm = meta_ewc_penalty(F, b, c, th, lambda, N);
        th[i] = keep;
        double fd = (rp - rm) / (2 * h);
        assert_true(fabs((g[i] - 0.25) - fd) < 1e-5 * (1 + fabs(fd)));
    }
    /* only [lo, hi) is touched */
    float g2[N] = {0};
    meta_ewc_grad(g2, F, b, thf, lambda, 3, 5);
    for (int i = 0; i < N; i++) assert_true((i >= 3 && i < 5) == (g2[i] != 0));
}

/* The antithetic ES sample of a quadratic meta-loss L(θ) = ½ Σ h_i θ_i² is
 * g = (L(θ+ε) − L(θ−ε)) ε / (2σ²) = (ε·a) ε / σ², a = ∇L(θ); so
 * E[g_i²] = 2 a_i² + |a|² (Gaussian fourth moments). */
static void test_fisher_of_quadratic_meta_loss(void **st)
{
    (void)st;
    enum { N = 6, S = 200000 };
    const double h[N] = {1, 2, 0.5, 3, 1.5, 0.2}, th[N] = {0.3, -0.2, 1.0, 0.1, -0.5, 2.0}, sigma = 0.05;
    double a[N], aa = 0, acc[N] = {0};
    for (int i = 0; i < N; i++) { a[i] = h[i] * th[i]; aa += a[i] * a[i]; }
    rng r;
    rng_seed(&r, 9);
    float eps[N];
    for (int s = 0; s < S; s++) {
        rng_normal_fill(&r, eps, N, 0.0f, (float)sigma);
        double Lp = 0, Lm = 0;
        for (int i = 0; i < N; i++) {
            Lp += 0.5 * h[i] * (th[i] + eps[i]) * (th[i] + eps[i]);
            Lm += 0.5 * h[i] * (th[i] - eps[i]) * (th[i] - eps[i]);
        }
        meta_fisher_add(acc, eps, (Lp - Lm) / (2 * sigma * sigma), 1.0 / S, 0, N);
    }
    for (int i = 0; i < N; i++) {
        double want = 2 * a[i] * a[i] + aa;
        assert_true(fabs(acc[i] - want) < 0.03 * want);
    }
}

/* Two tasks (a quadratic dim 5, logistic regression dim 5), mlp_lopt 2×1. */
static void staged_cfg(meta_config *c, int estimator)
{
    meta_config_defaults(c);
    c->hidden = 2;
    c->depth = 1;
    c->estimator = estimator;
    c->ntasks = 2;
    snprintf(c->tasks[0].family, META_FAMILY_MAX, "quadratic");
    c->tasks[0].params.dim = 5;
    snprintf(c->tasks[1].family, META_FAMILY_MAX, "logistic_regression");
    c->tasks[1].params.dim = 5;
    c->nparticles = 3;
    c->unroll = 5;
    c->horizon_min = 6;
    c->horizon_max = 20;
    c->nstages = 2;
    c->stage_steps[0] = 3;
    c->stage_steps[1] = 4;
    c->stage_tasks[0] = 1u << 0;
    c->stage_tasks[1] = 1u << 1;
}

static void run(meta_job *j, int64_t to)
{
    while (meta_job_step(j) < to) assert_int_equal(meta_step(j, NULL), 0);
}

/* λ = 0, replay = 0: stage 1 then stage 2 in one job = job A on stage 1's
 * tasks, then job B on stage 2's started from A's theta. */
static void sequential_equals_separate_jobs(int estimator)
{
    meta_config c, a, b;
    staged_cfg(&c, estimator);
    meta_job *js, *ja, *jb;
    assert_int_equal(meta_job_new(&c, NULL, &js), 0);
    run(js, 7);
    a = c;
    a.nstages = 0;
    a.ntasks = 1;
    assert_int_equal(meta_job_new(&a, NULL, &ja), 0);
    run(ja, 3);
    b = a;
    b.tasks[0] = c.tasks[1];
    assert_int_equal(meta_job_new(&b, meta_job_weights(ja), &jb), 0);
    run(jb, 4);
    const lopt_weights *ws = meta_job_weights(js), *wb = meta_job_weights(jb);
    assert_int_equal(ws->ntheta, wb->ntheta);
    assert_memory_equal(ws->theta, wb->theta, ws->ntheta * sizeof(float));
    /* and the stages did move theta away from A's */
    assert_true(memcmp(ws->theta, meta_job_weights(ja)->theta, ws->ntheta * sizeof(float)) != 0);
    meta_job_free(js); meta_job_free(ja); meta_job_free(jb);
}

static void test_sequential_equals_separate_jobs_es(void **st) { (void)st; sequential_equals_separate_jobs(META_ES); }
static void test_sequential_equals_separate_jobs_pes(void **st) { (void)st; sequential_equals_separate_jobs(META_PES); }

/* One particle: the job's estimate is that particle's own, so F over the
 * window is the mean of the squared estimates of the window's steps. */
static void test_fisher_in_job_and_penalty_in_estimate(void **st)
{
    (void)st;
    meta_config c;
    staged_cfg(&c, META_ES);
    c.nparticles = 1;
    c.clip = 0;
    c.ewc_window = 2;
    c.ewc_lambda = 1;
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    size_t nt = meta_job_weights(j)->ntheta;
    double *want = calloc(nt, sizeof(double));
    for (int s = 0; s < 3; s++) {
        assert_int_equal(meta_step(j, NULL), 0);
        if (s >= 1)
            for (size_t i = 0; i < nt; i++) want[i] += 0.5 * (double)meta_job_grad(j)[i] * meta_job_grad(j)[i];
    }
    const double *F, *b;
    meta_job_ewc(j, &F, &b);
    assert_non_null(F);
    double tot = 0;
    for (size_t i = 0; i < nt; i++) {
        assert_true(fabs(F[i] - want[i]) <= 1e-5 * want[i] + 1e-12);
        assert_true(fabs(b[i] - F[i] * meta_job_weights(j)->theta[i]) <= 1e-6 * fabs(b[i]) + 1e-12);
        tot += F[i];
    }
    assert_true(tot > 0);
    /* Stage 2's estimate with λ = 3 minus λ = 1 is 2 (F⊙θ − b) while the
     * particles, theta and F are the same in both. */
    meta_config c3 = c;
    c3.ewc_lambda = 3;
    meta_job *j3;
    assert_int_equal(meta_job_new(&c3, NULL, &j3), 0);
    run(j3, 3);
    assert_memory_equal(meta_job_weights(j)->theta, meta_job_weights(j3)->theta, nt * sizeof(float));
    /* at stage 2's first step θ = θ*: no penalty, the same update */
    assert_int_equal(meta_step(j, NULL), 0);
    assert_int_equal(meta_step(j3, NULL), 0);
    assert_memory_equal(meta_job_weights(j)->theta, meta_job_weights(j3)->theta, nt * sizeof(float));
    meta_job *jr;   /* theta before the second step of stage 2, kept */
    assert_int_equal(meta_job_new(&c, NULL, &jr), 0);
    run(jr, 4);
    const float *th = meta_job_weights(jr)->theta;
    assert_int_equal(meta_step(j, NULL), 0);
    assert_int_equal(meta_step(j3, NULL), 0);
    double num = 0, den = 0;
    for (size_t i = 0; i < nt; i++) {
        double pen = F[i] * th[i] - b[i];
        double d = (double)meta_job_grad(j3)[i] - meta_job_grad(j)[i];
        num += (d - 2 * pen) * (d - 2 * pen);
        den += 4 * pen * pen;
    }
    assert_true(den > 0);
    assert_true(sqrt(num / den) < 1e-4);
    meta_job_free(j); meta_job_free(j3); meta_job_free(jr);
    free(want);
}

/* Saves j and loads the checkpoint into a new job of cfg. */
static meta_job *reload(const meta_config *c, meta_job *j)
{
    uint8_t *blob;
    size_t len;
    assert_int_equal(meta_save(j, &blob, &len), 0);
    meta_job *k;
    assert_int_equal(meta_job_new(c, NULL, &k), 0);
    assert_int_equal(meta_load(k, blob, len), 0);
    free(blob);
    meta_job_free(j);
    return k;
}

static void test_checkpoint_resume_mid_stage(void **st)
{
    (void)st;
    meta_config c;
    staged_cfg(&c, META_PES);
    c.ewc_lambda = 0.5;
    c.replay = 0.5;
    c.ewc_window = 2;
    meta_job *ju, *jr;
    assert_int_equal(meta_job_new(&c, NULL, &ju), 0);
    run(ju, 7);
    assert_int_equal(meta_job_new(&c, NULL, &jr), 0);
    run(jr, 2);           /* in stage 1's Fisher window */
    jr = reload(&c, jr);
    run(jr, 5);           /* in stage 2, the penalty on */
    jr = reload(&c, jr);
    run(jr, 7);
    size_t nt = meta_job_weights(ju)->ntheta;
    assert_memory_equal(meta_job_weights(ju)->theta, meta_job_weights(jr)->theta, nt * sizeof(float));
    const double *Fu, *bu, *Fr, *br;
    meta_job_ewc(ju, &Fu, &bu);
    meta_job_ewc(jr, &Fr, &br);
    assert_memory_equal(Fu, Fr, nt * sizeof(double));
    assert_memory_equal(bu, br, nt * sizeof(double));
    /* a checkpoint of another λ does not load */
    uint8_t *blob;
    size_t len;
    assert_int_equal(meta_save(ju, &blob, &len), 0);
    meta_config o = c;
    o.ewc_lambda = 1;
    meta_job *jo;
    assert_int_equal(meta_job_new(&o, NULL, &jo), 0);
    assert_int_equal(meta_load(jo, blob, len), ERR_CORRUPT);
    free(blob);
    meta_job_free(jo); meta_job_free(ju); meta_job_free(jr);
}

static void test_replay_draws(void **st)
{
    (void)st;
    meta_config c;
    staged_cfg(&c, META_ES);
    c.ewc_window = 1;
    rng r;
    rng_seed(&r, 3);
    for (int k = 0; k < 20; k++) {
        assert_int_equal(meta_stage_draw(&c, 0, k, &r), 0);
        assert_int_equal(meta_stage_draw(&c, 5, k, &r), 1);
    }
    c.replay = 1;
    for (int k = 0; k < 20; k++) {
        assert_int_equal(meta_stage_draw(&c, 1, k, &r), 0);   /* stage 1: nothing earlier */
        assert_int_equal(meta_stage_draw(&c, 3, k, &r), 0);   /* stage 2: always replayed */
    }
    c.replay = 0.5;
    int old = 0;
    for (int k = 0; k < 200; k++) {
        rng rk;
        rng_split(&r, (uint64_t)k, &rk);
        old += meta_stage_draw(&c, 4, k, &rk) == 0;
    }
    assert_true(old > 60 && old < 140);
    assert_int_equal(meta_stage_at(&c, 2), 0);
    assert_int_equal(meta_stage_at(&c, 3), 1);
    assert_int_equal(meta_stage_at(&c, 100), 1);
    assert_int_equal(meta_stage_start(&c, 1), 3);
    assert_int_equal(meta_stages_total(&c), 7);
    assert_true(meta_fisher_window(&c, 2) && !meta_fisher_window(&c, 1));
}

static void test_family_loss_is_deterministic(void **st)
{
    (void)st;
    meta_config c;
    staged_cfg(&c, META_ES);
    meta_job *j;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    double l1, l2;
    assert_int_equal(meta_family_loss(&c, meta_job_weights(j)->theta, "quadratic", 2, 10, &l1), 0);
    assert_int_equal(meta_family_loss(&c, meta_job_weights(j)->theta, "quadratic", 2, 10, &l2), 0);
    assert_true(isfinite(l1) && l1 == l2);
    assert_int_equal(meta_family_loss(&c, meta_job_weights(j)->theta, "char_rnn", 2, 10, &l1), ERR_NOT_FOUND);
    meta_job_free(j);
}

static void test_bad_stage_settings_refused(void **st)
{
    (void)st;
    meta_config c;
    meta_job *j = NULL;
    staged_cfg(&c, META_ES);
    c.replay = 1.5;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    staged_cfg(&c, META_ES);
    c.ewc_lambda = -1;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    staged_cfg(&c, META_ES);
    c.stage_tasks[1] = 1u << 0;   /* task 1 in no stage */
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    staged_cfg(&c, META_ES);
    c.stage_tasks[1] = 1u << 5;   /* past ntasks */
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    staged_cfg(&c, META_ES);
    c.stage_steps[0] = 0;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    staged_cfg(&c, META_ES);
    c.nstages = 0;
    c.replay = 0.1;               /* replay without stages */
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    staged_cfg(&c, META_ES);
    c.nstages = META_MAX_STAGES + 1;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    assert_null(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ewc_gradient_matches_finite_differences),
        cmocka_unit_test(test_fisher_of_quadratic_meta_loss),
        cmocka_unit_test(test_sequential_equals_separate_jobs_es),
        cmocka_unit_test(test_sequential_equals_separate_jobs_pes),
        cmocka_unit_test(test_fisher_in_job_and_penalty_in_estimate),
        cmocka_unit_test(test_checkpoint_resume_mid_stage),
        cmocka_unit_test(test_replay_draws),
        cmocka_unit_test(test_family_loss_is_deterministic),
        cmocka_unit_test(test_bad_stage_settings_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
