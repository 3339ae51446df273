/* test_tasks_augment.c — task augmentation (tasks_augment.c): the
 * augmented task is exactly lambda * L(s * q) with the factors it reports;
 * its gradient matches central finite differences of its own loss (the
 * test the rescaling most easily breaks: a missing or inverted factor);
 * its HVP matches finite differences of its gradient; init maps back to
 * the family's initialisation; the factors are deterministic per seed, in
 * range and spread log-uniformly; the rng contract holds; a bad value is
 * refused.  Finite differences as in test_tasks.c (same minibatch,
 * divide by the actual float step; max error over the checked coordinates
 * relative to the largest difference quotient). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_cache.h"
#include "errors.h"
#include "tasks_internal.h"

static task *make(const char *fam, task_params p, int augment, uint64_t seed)
{
    p.data = &data_cache_source;
    p.augment = augment;
    task *t = NULL;
    int rc = task_create(fam, &p, seed, &t);
    if (rc) printf("%s: %s\n", fam, tasks_last_error());
    assert_int_equal(rc, 0);
    return t;
}

/* The index of the tensor holding coordinate i. */
static int tensor_of(const task *t, size_t i)
{
    for (int k = 0; k < t->lay.ntensors; k++)
        if (i < t->lay.tensors[k].offset + t->lay.tensors[k].size) return k;
    return -1;
}

/* Relative gradient error over every coordinate (n small) or 60 spread
 * ones.  The step in q is h / s_k, so the family's parameter moves by h
 * whatever its scale (a fixed step in q would be 100x larger in p on one
 * tensor than on another, and the curvature error with it). */
static double grad_rel_err(task *t, float h)
{
    size_t n = t->n;
    double lam, *sc = malloc(sizeof(double) * t->lay.ntensors);
    assert_int_equal(tasks_augment_factors(t, &lam, sc), 0);
    float *q = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    task_init_params(t, 12, q);
    rng r0, r;
    rng_seed(&r0, 13);
    r = r0;
    assert_true(isfinite(task_loss_grad(t, q, g, &r)));
    size_t k = n < 60 ? n : 60;
    double maxerr = 0, maxfd = 0;
    for (size_t j = 0; j < k; j++) {
        size_t i = (size_t)((double)j * n / k);
        float s = q[i], step = (float)(h / sc[tensor_of(t, i)]);
        q[i] = s + step; float up = q[i]; r = r0; double fp = task_loss_grad(t, q, NULL, &r);
        q[i] = s - step; float dn = q[i]; r = r0; double fm = task_loss_grad(t, q, NULL, &r);
        q[i] = s;
        double fd = (fp - fm) / ((double)up - (double)dn);
        if (fabs(fd - g[i]) > maxerr) maxerr = fabs(fd - g[i]);
        if (fabs(fd) > maxfd) maxfd = fabs(fd);
    }
    free(q); free(g); free(sc);
    return maxerr / (maxfd > 0 ? maxfd : 1e-300);
}

static void test_augmented_gradient_matches_fd(void **st)
{
    (void)st;
    struct { const char *fam; task_params p; float h; double tol; } cs[] = {
        {"quadratic", {.dim = 6, .noise = -1}, 1e-3f, 1e-4},
        {"softmax_regression", {.dim = 5, .classes = 3, .batch = 8, .n_train = 100}, 1e-2f, 3e-3},
        {"gru_classifier", {.dim = 3, .width = 4, .seq_len = 5, .classes = 3, .batch = 4, .n_train = 50}, 1e-2f, 3e-3},
        {"transformer_lm", {.width = 8, .heads = 2, .seq_len = 4, .batch = 2, .activation = 3}, 1e-2f, 3e-3},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            task *t = make(cs[c].fam, cs[c].p, 1, seed);
            double lam;
            assert_int_equal(tasks_augment_factors(t, &lam, NULL), 0);
            double e = grad_rel_err(t, cs[c].h);
            printf("  %-20s seed %d lambda %9.3g  grad rel err %.2e (tol %.0e)\n", cs[c].fam, (int)seed, lam, e, cs[c].tol);
            assert_true(e < cs[c].tol);
            task_free(t);
        }
}

/* loss_aug(q) == lambda * loss_plain(s * q) and grad_aug == lambda * s *
 * grad_plain (same minibatch), eval likewise; init: s * q0 == p0. */
static void test_augmented_is_the_rescaled_plain_task(void **st)
{
    (void)st;
    task_params p = {.dim = 4, .width = 5, .seq_len = 6, .classes = 3, .batch = 4, .n_train = 60};
    task *a = make("lstm_classifier", p, 1, 7), *b = make("lstm_classifier", p, 0, 7);
    assert_int_equal(a->n, b->n);
    size_t n = a->n;
    int nt = a->lay.ntensors;
    double lam, *s = malloc(sizeof(double) * nt);
    assert_int_equal(tasks_augment_factors(a, &lam, s), 0);
    assert_int_equal(tasks_augment_factors(b, &lam, s), ERR_INVALID_ARGUMENT);
    assert_int_equal(tasks_augment_factors(a, &lam, s), 0);
    float *q = malloc(sizeof(float) * n), *pp = malloc(sizeof(float) * n), *p0 = malloc(sizeof(float) * n);
    float *ga = malloc(sizeof(float) * n), *gb = malloc(sizeof(float) * n);
    task_init_params(a, 3, q);
    task_init_params(b, 3, p0);
    for (int k = 0; k < nt; k++)
        for (size_t i = a->lay.tensors[k].offset; i < a->lay.tensors[k].offset + a->lay.tensors[k].size; i++) {
            pp[i] = (float)s[k] * q[i];      /* as the wrapper does: the factor as a float */
            assert_true(fabsf(pp[i] - p0[i]) <= 1e-6f * (1 + fabsf(p0[i])));
        }
    rng ra, rb;
    rng_seed(&ra, 5);
    rb = ra;
    double fa = task_loss_grad(a, q, ga, &ra), fb = task_loss_grad(b, pp, gb, &rb);
    assert_true(fabs(fa - lam * fb) <= 1e-12 * fabs(fa) + 1e-300);
    assert_memory_equal(ra.s, rb.s, sizeof ra.s);    /* one draw each */
    for (int k = 0; k < nt; k++)
        for (size_t i = a->lay.tensors[k].offset; i < a->lay.tensors[k].offset + a->lay.tensors[k].size; i++)
            assert_true(fabs(ga[i] - lam * s[k] * gb[i]) <= 1e-5 * (fabs(lam * s[k] * gb[i]) + 1e-30));
    assert_true(fabs(task_eval_loss(a, q) - lam * task_eval_loss(b, pp)) <= 1e-12 * fabs(task_eval_loss(a, q)));
    /* a different seed: other factors (the seed also changes the data here) */
    task *c = make("lstm_classifier", p, 1, 8);
    double lam2;
    assert_int_equal(tasks_augment_factors(c, &lam2, NULL), 0);
    assert_true(lam2 != lam);
    /* the same seed: the same factors */
    task *d = make("lstm_classifier", p, 1, 7);
    double lam3, *s3 = malloc(sizeof(double) * nt);
    assert_int_equal(tasks_augment_factors(d, &lam3, s3), 0);
    assert_true(lam3 == lam);
    assert_memory_equal(s, s3, sizeof(double) * nt);
    free(s); free(s3); free(q); free(pp); free(p0); free(ga); free(gb);
    task_free(a); task_free(b); task_free(c); task_free(d);
}

/* Over 300 seeds of a 4-tensor task: every factor inside its range, and
 * log-uniform: the mean of log10 within 0.15 of the centre (se ~0.03 for
 * lambda, ~0.017 for s), and both ends of each range reached within 10%. */
static void test_factors_log_uniform_in_range(void **st)
{
    (void)st;
    double lmin = 1e9, lmax = 0, smin = 1e9, smax = 0, lsum = 0, ssum = 0;
    int ns = 0;
    for (uint64_t seed = 0; seed < 300; seed++) {
        task *t = make("softmax_regression", (task_params){.dim = 2, .classes = 2, .n_train = 2}, 1, seed);
        double lam, s[2];
        assert_int_equal(t->lay.ntensors, 2);
        assert_int_equal(tasks_augment_factors(t, &lam, s), 0);
        assert_true(lam >= TASKS_AUG_LOSS_LO && lam <= TASKS_AUG_LOSS_HI);
        lmin = fmin(lmin, lam); lmax = fmax(lmax, lam); lsum += log10(lam);
        for (int k = 0; k < 2; k++) {
            assert_true(s[k] >= TASKS_AUG_PARAM_LO && s[k] <= TASKS_AUG_PARAM_HI);
            smin = fmin(smin, s[k]); smax = fmax(smax, s[k]); ssum += log10(s[k]); ns++;
        }
        task_free(t);
    }
    printf("  lambda in [%.3g, %.3g], mean log10 %.3f; s in [%.3g, %.3g], mean log10 %.3f\n",
           lmin, lmax, lsum / 300, smin, smax, ssum / ns);
    assert_true(fabs(lsum / 300) < 0.15 && fabs(ssum / ns) < 0.15);
    assert_true(lmin < 1e-3 * 2 && lmax > 1e3 / 2 && smin < 0.1 * 1.3 && smax > 10 / 1.3);
}

static void test_augmented_hvp_matches_fd_of_gradient(void **st)
{
    (void)st;
    task *t = make("quadratic", (task_params){.dim = 8, .noise = -1}, 1, 4);
    assert_non_null(t->vt->hvp);
    size_t n = t->n;
    float q[8], v[8], hv[8], gp[8], gm[8], x[8];
    task_init_params(t, 2, q);
    rng r;
    rng_seed(&r, 1);
    rng_normal_fill(&r, v, n, 0.0f, 1.0f);
    assert_int_equal(task_hvp(t, q, v, hv), 0);
    const double eps = 1e-3;
    for (size_t i = 0; i < n; i++) x[i] = (float)(q[i] + eps * v[i]);
    task_loss_grad(t, x, gp, &r);
    for (size_t i = 0; i < n; i++) x[i] = (float)(q[i] - eps * v[i]);
    task_loss_grad(t, x, gm, &r);
    double me = 0, mf = 0;
    for (size_t i = 0; i < n; i++) {
        double fd = ((double)gp[i] - gm[i]) / (2 * eps);
        me = fmax(me, fabs(fd - hv[i]));
        mf = fmax(mf, fabs(fd));
    }
    printf("  quadratic augmented hvp rel err %.2e\n", me / mf);
    assert_true(me / mf < 1e-3);
    task_free(t);
    /* a family without HVP stays without */
    task *c = make("gru_classifier", (task_params){.n_train = 10}, 1, 1);
    assert_null(c->vt->hvp);
    task_free(c);
}

static void test_bad_augment_value_refused(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params p = {.augment = 2};
    assert_int_equal(task_create("quadratic", &p, 1, &t), ERR_OUT_OF_RANGE);
    assert_null(t);
    assert_non_null(strstr(tasks_last_error(), "augment"));
    p.augment = -1;
    assert_int_equal(task_create("rosenbrock", &p, 1, &t), ERR_OUT_OF_RANGE);
    /* NaN params: NaN, not a crash */
    t = make("quadratic", (task_params){.dim = 3}, 1, 1);
    float q[3] = {NAN, 0, 0}, g[3];
    rng r;
    rng_seed(&r, 1);
    assert_true(isnan(task_loss_grad(t, q, g, &r)));
    assert_true(isnan(task_eval_loss(t, q)));
    task_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_augmented_gradient_matches_fd),
        cmocka_unit_test(test_augmented_is_the_rescaled_plain_task),
        cmocka_unit_test(test_factors_log_uniform_in_range),
        cmocka_unit_test(test_augmented_hvp_matches_fd_of_gradient),
        cmocka_unit_test(test_bad_augment_value_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
