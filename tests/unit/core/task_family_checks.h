/* task_family_checks.h — the checks every task family's unit test runs,
 * written once for the test_task_<family>.c files (include after cmocka.h).
 *
 * family_check_all(family, params, seed, h, tol, adam_lr, adam_steps):
 *  - builds the task (with Debian's data through data_cache_source) and checks
 *    its layout tiles the parameter vector;
 *  - the minibatch loss and the held-out loss are finite at initial params;
 *  - the gradient matches central finite differences of the same minibatch
 *    (the rng copied) at up to 40 coordinates spread over the vector:
 *    max_i |g_i - fd_i| / max_i |fd_i| < tol, the step divided by the actual
 *    float difference (p+h) - (p-h);
 *  - determinism: two tasks from one seed give the same initial params,
 *    losses and gradients; eval_loss twice gives the same value;
 *  - the rng contract: loss_grad advances the caller's rng by exactly one
 *    rng_u64 draw, with or without a gradient;
 *  - non-finite params give NAN from loss_grad and eval_loss (no crash);
 *  - `adam_steps` steps of Adam (src/core/opt, lr adam_lr) lower the
 *    held-out loss by at least 5%.
 *
 * family_check_gradient_per_tensor(t, h, tol): every coordinate of every
 * tensor against central differences, each tensor held to its own scale
 * (so a small tensor whose gradient is wrong cannot hide behind a large
 * one).
 *
 * family_fingerprint(t, out): values of a task at fixed seeds (initial
 * parameters, the first minibatch loss and gradient norm, held-out losses
 * before and after 10 Adam steps) that a test pins to recorded figures with
 * family_check_fingerprint, so a change that was meant to leave a family
 * alone is seen to.  Relative tolerance, not bits: the products go through
 * BLAS, whose kernel (and rounding) depends on the CPU. */
#ifndef TASK_FAMILY_CHECKS_H
#define TASK_FAMILY_CHECKS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_cache.h"
#include "opt.h"
#include "tasks.h"

static task *family_make(const char *family, task_params p, uint64_t seed)
{
    task *t = NULL;
    p.data = &data_cache_source;
    int rc = task_create(family, &p, seed, &t);
    if (rc) printf("task_create(%s): %s\n", family, tasks_last_error());
    assert_int_equal(rc, 0);
    assert_non_null(t);
    assert_int_equal(t->n, t->lay.n);
    size_t sum = 0;
    for (int i = 0; i < t->lay.ntensors; i++) {
        assert_int_equal(t->lay.tensors[i].offset, sum);
        sum += t->lay.tensors[i].size;
    }
    assert_int_equal(sum, t->n);
    return t;
}

static void family_check_gradient(task *t, float h, double tol)
{
    size_t n = t->n;
    float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    task_init_params(t, 12, p);
    rng r0, r;
    rng_seed(&r0, 13);
    r = r0;
    double f0 = task_loss_grad(t, p, g, &r);
    assert_true(isfinite(f0));
    int k = n < 40 ? (int)n : 40;
    double maxerr = 0, maxfd = 0;
    for (int j = 0; j < k; j++) {
        size_t i = (size_t)((double)j * n / k);
        float s = p[i];
        p[i] = s + h; float up = p[i]; r = r0; double fp = task_loss_grad(t, p, NULL, &r);
        p[i] = s - h; float dn = p[i]; r = r0; double fm = task_loss_grad(t, p, NULL, &r);
        p[i] = s;
        double fd = (fp - fm) / ((double)up - (double)dn);
        if (fabs(fd - g[i]) > maxerr) maxerr = fabs(fd - g[i]);
        if (fabs(fd) > maxfd) maxfd = fabs(fd);
    }
    double rel = maxerr / (maxfd > 1e-12 ? maxfd : 1e-12);
    printf("  %-16s n=%-6zu loss %.4f grad rel err %.2e (tol %.0e)\n", t->family, n, f0, rel, tol);
    assert_true(maxfd > 0);
    assert_true(rel < tol);
    free(p); free(g);
}

static inline void family_check_gradient_per_tensor(task *t, float h, double tol)
{
    size_t n = t->n;
    float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    double *fd = malloc(sizeof(double) * n);
    task_init_params(t, 12, p);
    rng r0, r;
    rng_seed(&r0, 13);
    r = r0;
    assert_true(isfinite(task_loss_grad(t, p, g, &r)));
    double fdmax = 0;
    for (size_t i = 0; i < n; i++) {
        float s = p[i];
        p[i] = s + h; float up = p[i]; r = r0; double fp = task_loss_grad(t, p, NULL, &r);
        p[i] = s - h; float dn = p[i]; r = r0; double fm = task_loss_grad(t, p, NULL, &r);
        p[i] = s;
        fd[i] = (fp - fm) / ((double)up - (double)dn);
        if (fabs(fd[i]) > fdmax) fdmax = fabs(fd[i]);
    }
    assert_true(fdmax > 0);
    for (int k = 0; k < t->lay.ntensors; k++) {
        const layout_tensor *lt = &t->lay.tensors[k];
        double err = 0, scale = 0;
        for (size_t i = lt->offset; i < lt->offset + lt->size; i++) {
            if (fabs(fd[i] - g[i]) > err) err = fabs(fd[i] - g[i]);
            if (fabs(fd[i]) > scale) scale = fabs(fd[i]);
        }
        double rel = err / (scale > 1e-12 ? scale : 1e-12);
        printf("  %-16s %-10s %5zu  max|fd| %.2e  rel err %.2e (tol %.0e)\n", t->family, lt->name, lt->size,
               scale, rel, tol);
        assert_true(scale > 1e-6 * fdmax);
        assert_true(rel < tol);
    }
    free(p); free(g); free(fd);
}

enum { FAMILY_FP_N = 8 };
static const char *const family_fp_names[FAMILY_FP_N] = {
    "p[0]", "p[n/2]", "sum p^2", "loss", "|grad|", "eval", "loss after 10 Adam", "eval after 10 Adam"};

/* Initial parameters (seed 3), the minibatch loss and gradient norm at
 * them (rng seed 11), the held-out loss, then the loss of the next minibatch
 * and the held-out loss after 10 Adam steps (lr 3e-3) on that stream. */
static inline void family_fingerprint(task *t, double out[FAMILY_FP_N])
{
    size_t n = t->n;
    float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n);
    task_init_params(t, 3, p);
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)p[i] * p[i];
    out[0] = p[0]; out[1] = p[n / 2]; out[2] = sq;
    opt_config cfg;
    opt o;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", 3e-3), 0);
    assert_int_equal(opt_init(&o, &cfg, &t->lay), 0);
    rng r;
    rng_seed(&r, 11);
    for (int s = 0; s < 10; s++) {
        step_info info = {.loss = NAN};
        info.loss = task_loss_grad(t, p, g, &r);
        if (s == 0) {
            double gs = 0;
            for (size_t i = 0; i < n; i++) gs += (double)g[i] * g[i];
            out[3] = info.loss; out[4] = sqrt(gs); out[5] = task_eval_loss(t, p);
        }
        assert_int_equal(opt_step(&o, p, g, u, &info), 0);
    }
    out[6] = task_loss_grad(t, p, NULL, &r);
    out[7] = task_eval_loss(t, p);
    opt_deinit(&o);
    free(p); free(g); free(u);
}

/* Each fingerprint value within rtol (relative) of want's. */
static inline void family_check_fingerprint(task *t, const double want[FAMILY_FP_N], double rtol)
{
    double got[FAMILY_FP_N];
    family_fingerprint(t, got);
    for (int i = 0; i < FAMILY_FP_N; i++) {
        double rel = fabs(got[i] - want[i]) / fmax(fabs(want[i]), 1e-30);
        if (!(rel <= rtol))
            printf("  %s: %s %.17g, recorded %.17g (rel %.1e > %.0e)\n", t->family, family_fp_names[i], got[i],
                   want[i], rel, rtol);
        assert_true(rel <= rtol);
    }
}

static void family_check_determinism_and_rng(const char *family, task_params pp, uint64_t seed)
{
    task *a = family_make(family, pp, seed), *b = family_make(family, pp, seed);
    size_t n = a->n;
    float *pa = malloc(sizeof(float) * n), *pb = malloc(sizeof(float) * n);
    float *ga = malloc(sizeof(float) * n), *gb = malloc(sizeof(float) * n);
    task_init_params(a, 5, pa);
    task_init_params(b, 5, pb);
    assert_memory_equal(pa, pb, sizeof(float) * n);
    rng ra, rb;
    rng_seed(&ra, 77);
    rng_seed(&rb, 77);
    for (int s = 0; s < 3; s++) {
        double la = task_loss_grad(a, pa, ga, &ra), lb = task_loss_grad(b, pb, gb, &rb);
        assert_true(la == lb);
        assert_memory_equal(ga, gb, sizeof(float) * n);
    }
    double e1 = task_eval_loss(a, pa), e2 = task_eval_loss(a, pa);
    assert_true(isfinite(e1));
    assert_true(e1 == e2);
    assert_true(e1 == task_eval_loss(b, pb));
    /* exactly one rng_u64 draw per call, gradient or not */
    rng r1, r2, r3;
    rng_seed(&r1, 9);
    r2 = r1;
    r3 = r1;
    double l1 = task_loss_grad(a, pa, ga, &r1), l2 = task_loss_grad(a, pa, NULL, &r2);
    assert_true(l1 == l2);
    (void)rng_u64(&r3);
    assert_memory_equal(r1.s, r3.s, sizeof r1.s);
    assert_memory_equal(r2.s, r3.s, sizeof r2.s);
    /* another init seed gives other initial parameters */
    task_init_params(b, 6, pb);
    assert_memory_not_equal(pa, pb, sizeof(float) * n);
    free(pa); free(pb); free(ga); free(gb);
    task_free(a); task_free(b);
}

static void family_check_nonfinite(task *t)
{
    float *p = malloc(sizeof(float) * t->n), *g = malloc(sizeof(float) * t->n);
    task_init_params(t, 1, p);
    p[0] = NAN;
    p[t->n - 1] = INFINITY;
    rng r;
    rng_seed(&r, 1);
    assert_true(isnan(task_loss_grad(t, p, g, &r)));
    assert_true(isnan(task_eval_loss(t, p)));
    free(p); free(g);
}

static void family_check_adam_lowers_loss(task *t, double lr, int steps)
{
    size_t n = t->n;
    float *p = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n);
    task_init_params(t, 52, p);
    opt_config cfg;
    assert_int_equal(opt_config_defaults(&cfg, "adam"), 0);
    assert_int_equal(opt_config_set(&cfg, "lr", lr), 0);
    opt o;
    assert_int_equal(opt_init(&o, &cfg, &t->lay), 0);
    rng r;
    rng_seed(&r, 53);
    double before = task_eval_loss(t, p);
    for (int s = 0; s < steps; s++) {
        step_info info = {.loss = NAN};
        info.loss = task_loss_grad(t, p, g, &r);
        assert_true(isfinite(info.loss));
        assert_int_equal(opt_step(&o, p, g, u, &info), 0);
    }
    double after = task_eval_loss(t, p);
    printf("  %-16s held-out loss %.4f -> %.4f after %d Adam steps (lr %g)\n", t->family, before, after,
           steps, lr);
    assert_true(isfinite(after));
    assert_true(after < 0.95 * before);
    opt_deinit(&o);
    free(p); free(g); free(u);
}

static void family_check_all(const char *family, task_params pp, uint64_t seed, float h, double tol,
                             double adam_lr, int adam_steps)
{
    task *t = family_make(family, pp, seed);
    float *p = malloc(sizeof(float) * t->n);
    task_init_params(t, 3, p);
    rng r;
    rng_seed(&r, 4);
    assert_true(isfinite(task_loss_grad(t, p, NULL, &r)));
    assert_true(isfinite(task_eval_loss(t, p)));
    free(p);
    family_check_gradient(t, h, tol);
    family_check_nonfinite(t);
    family_check_adam_lowers_loss(t, adam_lr, adam_steps);
    task_free(t);
    family_check_determinism_and_rng(family, pp, seed);
}

#endif
