/* test_fewshot.c — the few-shot network's gradient and Hessian-vector
 * product, and each method's outer gradient, against central finite
 * differences in double precision; Reptile's direction on a case computed
 * by hand; determinism of a job.
 *
 * Finite differences use step 1e-5 on a 1-4-4-1 ReLU network whose inputs
 * are random (no pre-activation near 0 at that scale, so the loss is smooth
 * around the point); truncation error is ~1e-10, so the tolerance is 1e-6
 * relative to the largest entry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fewshot.h"
#include "fsnet.h"
#include "rng.h"

#define NS 5
#define NQ 7

typedef struct fx {
    fsnet  n;
    double *theta, *alpha;
    double xs[NS], ys[NS], xq[NQ], yq[NQ];
    double *work, *nwork;
} fx;

static void fx_init(fx *f, uint64_t seed)
{
    int sizes[4] = {1, 4, 4, 1};
    assert_int_equal(fsnet_init(&f->n, 3, sizes), 0);
    assert_int_equal(f->n.nparams, 1 * 4 + 4 + 4 * 4 + 4 + 4 + 1);
    rng r;
    rng_seed(&r, seed);
    size_t P = f->n.nparams;
    f->theta = calloc(P, sizeof(double));
    f->alpha = calloc(P, sizeof(double));
    fsnet_init_params(&f->n, f->theta, &r);
    for (size_t i = 0; i < P; i++) {
        f->theta[i] += 0.1 * rng_normal(&r);   /* non-zero biases too */
        f->alpha[i] = 0.02 + 0.03 * rng_uniform(&r);
    }
    fewshot_sine t;
    fewshot_sine_draw(&r, &t);
    fewshot_sine_points(&t, &r, f->xs, f->ys, NS);
    fewshot_sine_points(&t, &r, f->xq, f->yq, NQ);
    f->work = malloc(fewshot_task_work(&f->n, 3, NQ) * sizeof(double));
    f->nwork = malloc(fsnet_work_size(&f->n, NQ) * sizeof(double));
}

static void fx_free(fx *f)
{
    free(f->theta);
    free(f->alpha);
    free(f->work);
    free(f->nwork);
}

static double maxabs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static void assert_close(const double *a, const double *b, size_t n, double rel)
{
    double scale = fmax(maxabs(a, n), maxabs(b, n));
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > rel * scale + 1e-12)
            fail_msg("entry %zu: %.12g vs %.12g (scale %.3g)", i, a[i], b[i], scale);
}

static void test_grad_and_hvp_match_fd(void **unused)
{
    (void)unused;
    fx f;
    fx_init(&f, 3);
    size_t P = f.n.nparams;
    double *g = calloc(P, sizeof *g), *fd = calloc(P, sizeof *fd), *p = calloc(P, sizeof *p);
    double *v = calloc(P, sizeof *v), *hv = calloc(P, sizeof *hv), *gp = calloc(P, sizeof *gp),
           *gm = calloc(P, sizeof *gm);
    fsnet_grad(&f.n, f.theta, f.xs, f.ys, NS, g, f.nwork);
    const double h = 1e-5;
    for (size_t i = 0; i < P; i++) {
        memcpy(p, f.theta, P * sizeof *p);
        p[i] += h;
        double lp = fsnet_loss(&f.n, p, f.xs, f.ys, NS, f.nwork);
        p[i] -= 2 * h;
        double lm = fsnet_loss(&f.n, p, f.xs, f.ys, NS, f.nwork);
        fd[i] = (lp - lm) / (2 * h);
    }
    assert_close(g, fd, P, 1e-6);
    rng r;
    rng_seed(&r, 9);
    for (size_t i = 0; i < P; i++) v[i] = rng_normal(&r);
    fsnet_hvp(&f.n, f.theta, f.xs, f.ys, NS, v, hv, f.nwork);
    for (size_t i = 0; i < P; i++) p[i] = f.theta[i] + h * v[i];
    fsnet_grad(&f.n, p, f.xs, f.ys, NS, gp, f.nwork);
    for (size_t i = 0; i < P; i++) p[i] = f.theta[i] - h * v[i];
    fsnet_grad(&f.n, p, f.xs, f.ys, NS, gm, f.nwork);
    for (size_t i = 0; i < P; i++) fd[i] = (gp[i] - gm[i]) / (2 * h);
    assert_close(hv, fd, P, 1e-6);
    free(g); free(fd); free(p); free(v); free(hv); free(gp); free(gm);
    fx_free(&f);
}

/* L_q(θ_N(θ, α)) computed directly (the function MAML differentiates). */
static double adapted_loss(fx *f, const double *theta, const double *alpha, double alpha_s, int steps)
{
    size_t P = f->n.nparams;
    double *p = calloc(P, sizeof *p), *g = calloc(P, sizeof *g);
    memcpy(p, theta, P * sizeof *p);
    for (int s = 0; s < steps; s++) {
        fsnet_grad(&f->n, p, f->xs, f->ys, NS, g, f->nwork);
        for (size_t i = 0; i < P; i++) p[i] -= (alpha ? alpha[i] : alpha_s) * g[i];
    }
    double l = fsnet_loss(&f->n, p, f->xq, f->yq, NQ, f->nwork);
    free(p);
    free(g);
    return l;
}

static void test_maml_meta_gradient_matches_fd(void **unused)
{
    (void)unused;
    fx f;
    fx_init(&f, 5);
    size_t P = f.n.nparams;
    const double a = 0.05, h = 1e-5;
    double *g = calloc(P, sizeof *g), *fd = calloc(P, sizeof *fd), *p = calloc(P, sizeof *p), loss;
    fewshot_task_grad(&f.n, FEWSHOT_MAML, f.theta, NULL, a, 2, f.xs, f.ys, NS, f.xq, f.yq, NQ, g, NULL, &loss,
                      f.work);
    assert_true(fabs(loss - adapted_loss(&f, f.theta, NULL, a, 2)) < 1e-12);
    for (size_t i = 0; i < P; i++) {
        memcpy(p, f.theta, P * sizeof *p);
        p[i] += h;
        double lp = adapted_loss(&f, p, NULL, a, 2);
        p[i] -= 2 * h;
        fd[i] = (lp - adapted_loss(&f, p, NULL, a, 2)) / (2 * h);
    }
    assert_close(g, fd, P, 1e-6);
    /* and FOMAML's is not it: the second-order term matters here */
    double *fo = calloc(P, sizeof *fo);
    fewshot_task_grad(&f.n, FEWSHOT_FOMAML, f.theta, NULL, a, 2, f.xs, f.ys, NS, f.xq, f.yq, NQ, fo, NULL, &loss,
                      f.work);
    double diff = 0;
    for (size_t i = 0; i < P; i++) diff = fmax(diff, fabs(fo[i] - g[i]));
    assert_true(diff > 1e-3 * maxabs(g, P));
    free(g); free(fd); free(p); free(fo);
    fx_free(&f);
}

/* One inner step: MAML − FOMAML = −α H_s(θ) ∇L_q(θ_1), the Hessian product
 * taken here by finite differences of the support gradient. */
static void test_fomaml_is_maml_without_second_order_term(void **unused)
{
    (void)unused;
    fx f;
    fx_init(&f, 7);
    size_t P = f.n.nparams;
    const double a = 0.03, h = 1e-5;
    double *mg = calloc(P, sizeof *mg), *fo = calloc(P, sizeof *fo), *t1 = calloc(P, sizeof *t1),
           *g = calloc(P, sizeof *g), *p = calloc(P, sizeof *p), *gp = calloc(P, sizeof *gp),
           *gm = calloc(P, sizeof *gm), loss;
    fewshot_task_grad(&f.n, FEWSHOT_MAML, f.theta, NULL, a, 1, f.xs, f.ys, NS, f.xq, f.yq, NQ, mg, NULL, &loss,
                      f.work);
    fewshot_task_grad(&f.n, FEWSHOT_FOMAML, f.theta, NULL, a, 1, f.xs, f.ys, NS, f.xq, f.yq, NQ, fo, NULL, &loss,
                      f.work);
    fsnet_grad(&f.n, f.theta, f.xs, f.ys, NS, g, f.nwork);
    for (size_t i = 0; i < P; i++) t1[i] = f.theta[i] - a * g[i];
    double *v = calloc(P, sizeof *v);
    fsnet_grad(&f.n, t1, f.xq, f.yq, NQ, v, f.nwork);
    assert_close(fo, v, P, 1e-12);   /* FOMAML = ∇L_q(θ_1) exactly */
    double vs = maxabs(v, P);   /* steps of h along v / max|v| */
    for (size_t i = 0; i < P; i++) p[i] = f.theta[i] + h * v[i] / vs;
    fsnet_grad(&f.n, p, f.xs, f.ys, NS, gp, f.nwork);
    for (size_t i = 0; i < P; i++) p[i] = f.theta[i] - h * v[i] / vs;
    fsnet_grad(&f.n, p, f.xs, f.ys, NS, gm, f.nwork);
    double *d = calloc(P, sizeof *d), *want = calloc(P, sizeof *want);
    for (size_t i = 0; i < P; i++) {
        d[i] = mg[i] - fo[i];
        want[i] = -a * vs * (gp[i] - gm[i]) / (2 * h);
    }
    assert_close(d, want, P, 1e-6);
    free(mg); free(fo); free(t1); free(g); free(p); free(gp); free(gm); free(v); free(d); free(want);
    fx_free(&f);
}

static void test_meta_sgd_gradients_match_fd(void **unused)
{
    (void)unused;
    fx f;
    fx_init(&f, 11);
    size_t P = f.n.nparams;
    const double h = 1e-5;
    double *gt = calloc(P, sizeof *gt), *ga = calloc(P, sizeof *ga), *fd = calloc(P, sizeof *fd),
           *q = calloc(P, sizeof *q), loss;
    for (int steps = 1; steps <= 2; steps++) {
        fewshot_task_grad(&f.n, FEWSHOT_META_SGD, f.theta, f.alpha, 0, steps, f.xs, f.ys, NS, f.xq, f.yq, NQ, gt, ga,
                          &loss, f.work);
        for (size_t i = 0; i < P; i++) {
            memcpy(q, f.alpha, P * sizeof *q);
            q[i] += h;
            double lp = adapted_loss(&f, f.theta, q, 0, steps);
            q[i] -= 2 * h;
            fd[i] = (lp - adapted_loss(&f, f.theta, q, 0, steps)) / (2 * h);
        }
        assert_close(ga, fd, P, 1e-6);
        for (size_t i = 0; i < P; i++) {
            memcpy(q, f.theta, P * sizeof *q);
            q[i] += h;
            double lp = adapted_loss(&f, q, f.alpha, 0, steps);
            q[i] -= 2 * h;
            fd[i] = (lp - adapted_loss(&f, q, f.alpha, 0, steps)) / (2 * h);
        }
        assert_close(gt, fd, P, 1e-6);
    }
    free(gt); free(ga); free(fd); free(q);
    fx_free(&f);
}

/* y = w x + b, one support point (1, 0), θ = (1, 0), α = 0.1, 2 steps:
 * ∇ = 2(w+b)(x, 1) = (2, 2) → θ_1 = (0.8, −0.2); ∇ = (1.2, 1.2) →
 * θ_2 = (0.68, −0.32); direction θ − θ_2 = (0.32, 0.32). */
static void test_reptile_direction_by_hand(void **unused)
{
    (void)unused;
    fsnet n;
    int sizes[2] = {1, 1};
    assert_int_equal(fsnet_init(&n, 1, sizes), 0);
    double theta[2] = {1, 0}, g[2], loss, xs[1] = {1}, ys[1] = {0}, xq[1] = {2}, yq[1] = {1};
    double *w = malloc(fewshot_task_work(&n, 2, 1) * sizeof *w);
    fewshot_task_grad(&n, FEWSHOT_REPTILE, theta, NULL, 0.1, 2, xs, ys, 1, xq, yq, 1, g, NULL, &loss, w);
    assert_true(fabs(g[0] - 0.32) < 1e-12 && fabs(g[1] - 0.32) < 1e-12);
    /* the query loss at θ_2: (0.68·2 − 0.32 − 1)² = 0.0016 */
    assert_true(fabs(loss - 0.0016) < 1e-12);
    free(w);
}

static void test_job_is_deterministic_and_learns(void **unused)
{
    (void)unused;
    for (int m = 0; m < FEWSHOT_NMETHODS; m++) {
        fewshot_config c;
        fewshot_config_defaults(&c);
        c.method = m;
        c.hidden = 16;
        c.meta_batch = 4;
        c.inner_steps = 2;
        c.seed = 42;
        fewshot_job *a, *b;
        assert_int_equal(fewshot_job_new(&c, &a), 0);
        assert_int_equal(fewshot_job_new(&c, &b), 0);
        double la, lb, ga, gb;
        for (int s = 0; s < 3; s++) {
            assert_int_equal(fewshot_step(a, &la, &ga), 0);
            assert_int_equal(fewshot_step(b, &lb, &gb), 0);
            assert_true(la == lb && ga == gb);
        }
        size_t P = fewshot_job_net(a)->nparams;
        assert_memory_equal(fewshot_job_theta(a), fewshot_job_theta(b), P * sizeof(double));
        assert_int_equal(fewshot_job_alpha(a) != NULL, m == FEWSHOT_META_SGD);
        assert_int_equal(fewshot_job_step(a), 3);
        fewshot_job_free(a);
        fewshot_job_free(b);
    }
    /* MAML on the sinusoids: 300 outer steps lower the 1-step query MSE of
     * fresh tasks below that of the initial network's */
    fewshot_config c;
    fewshot_config_defaults(&c);
    c.hidden = 20;
    c.meta_batch = 10;
    c.shots = 5;
    fewshot_job *j;
    assert_int_equal(fewshot_job_new(&c, &j), 0);
    int steps[1] = {1};
    double m0, m1, ci;
    const fsnet *n = fewshot_job_net(j);
    assert_int_equal(fewshot_eval(n, fewshot_job_theta(j), NULL, c.inner_lr, 5, 50, 200, steps, 1, 99, &m0, &ci), 0);
    double l, g;
    for (int s = 0; s < 300; s++) assert_int_equal(fewshot_step(j, &l, &g), 0);
    assert_int_equal(fewshot_eval(n, fewshot_job_theta(j), NULL, c.inner_lr, 5, 50, 200, steps, 1, 99, &m1, &ci), 0);
    assert_true(m1 < m0);
    fewshot_job_free(j);
}

static void test_bad_configs_refused(void **unused)
{
    (void)unused;
    fewshot_config c;
    fewshot_job *j;
    uint64_t b;
    fewshot_config_defaults(&c);
    assert_int_equal(fewshot_job_bytes(&c, &b), 0);
    assert_true(b > 1761 * 5 * sizeof(double));
    c.method = 9;
    assert_int_equal(fewshot_job_new(&c, &j), ERR_INVALID_ARGUMENT);
    fewshot_config_defaults(&c);
    c.shots = 0;
    assert_int_equal(fewshot_job_new(&c, &j), ERR_INVALID_ARGUMENT);
    fewshot_config_defaults(&c);
    c.inner_steps = FEWSHOT_MAX_STEPS + 1;
    assert_int_equal(fewshot_job_new(&c, &j), ERR_INVALID_ARGUMENT);
    fewshot_config_defaults(&c);
    c.inner_lr = NAN;
    assert_int_equal(fewshot_job_bytes(&c, &b), ERR_INVALID_ARGUMENT);
    assert_int_equal(fewshot_method_from_name("meta_sgd"), FEWSHOT_META_SGD);
    assert_int_equal(fewshot_method_from_name("nope"), -1);
    assert_null(fewshot_method_name(FEWSHOT_NMETHODS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_and_hvp_match_fd),
        cmocka_unit_test(test_maml_meta_gradient_matches_fd),
        cmocka_unit_test(test_fomaml_is_maml_without_second_order_term),
        cmocka_unit_test(test_meta_sgd_gradients_match_fd),
        cmocka_unit_test(test_reptile_direction_by_hand),
        cmocka_unit_test(test_job_is_deterministic_and_learns),
        cmocka_unit_test(test_bad_configs_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
