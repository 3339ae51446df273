/* test_tbptt_attn.c — truncated backprop through the unroll (META_TBPTT,
 * meta_unroll_grad) for attn_lopt, over more steps than sequence_length (so
 * the ring wraps): the tape's loss equals the float optimizer's
 * meta_unroll_loss (the recorder is the update rule); on a quadratic the
 * exact meta-gradient matches central finite differences of the tape's own
 * double-precision meta-loss; on logistic regression (two tensors, so the
 * attention mixes them; minibatches, whose Hessian its full-batch HVP is
 * not, so first order) the first-order gradient matches finite differences
 * of the float optimizer stepping on the recorded gradient sequence. */
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
#include "opt.h"
#include "rng.h"
#include "tasks.h"

/* family dim 5, task seed 7, 6 inner steps; attn_lopt 4 wide, 1 block,
 * 2 heads, sequence_length 2. */
static void small_cfg(meta_config *c, const char *family)
{
    meta_config_defaults(c);
    snprintf(c->optimizer, sizeof c->optimizer, "attn_lopt");
    snprintf(c->tasks[0].family, META_FAMILY_MAX, "%s", family);
    c->tasks[0].params.dim = 5;
    c->hidden = 4;
    c->depth = 1;
    c->heads = 2;
    c->seq = 2;
    c->estimator = META_TBPTT;
    c->task_seed = 7;
    c->unroll = 6;
}

static double rel_err(const double *a, const double *b, size_t n)
{
    double e = 0, nb = 0;
    for (size_t i = 0; i < n; i++) { e += (a[i] - b[i]) * (a[i] - b[i]); nb += b[i] * b[i]; }
    return sqrt(e / nb);
}

#define H_FD 3e-3f

/* Default weights with a read-out loud enough that the step scales and
 * mixes move (the untrained optimizer is ~Adam). */
static void loud_weights(const meta_config *c, lopt_weights *w)
{
    assert_int_equal(lopt_weights_init_default(w, LOPT_ARCH_ATTN, c->hidden, c->depth, 3), 0);
    for (size_t i = w->ntheta - 2 - 2 * (size_t)c->hidden; i < w->ntheta; i++) w->theta[i] *= 300.0f;
}

/* The float optimizer at theta stepping on G[0..K-1] (recorded from the
 * real trajectory when record = 1: then this is meta_unroll_loss), the
 * loss of each step at the params it produces: its derivative is the
 * first-order meta-gradient. */
static double frozen_loss(const meta_config *c, task *tk, float *G, int K, const float *theta, int record)
{
    size_t n = tk->n;
    opt_config oc;
    assert_int_equal(meta_inner_config(c, &oc), 0);
    opt o;
    assert_int_equal(opt_init(&o, &oc, &tk->lay), 0);
    lopt_weights *w = lopt_opt_weights(&o);
    memcpy(w->theta, theta, w->ntheta * sizeof(float));
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    rng data;
    rng_seed(&data, c->task_seed + 1);
    task_init_params(tk, c->task_seed, p);
    task_loss_grad(tk, p, g, &data);
    double sum = 0;
    for (int k = 0; k < K; k++) {
        if (record) memcpy(G + (size_t)k * n, g, n * sizeof(float));
        else memcpy(g, G + (size_t)k * n, n * sizeof(float));
        assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
        double l = task_loss_grad(tk, p, g, &data);
        assert_true(isfinite(l) && l > 1e-30);
        sum += log(l);
    }
    opt_deinit(&o);
    free(p); free(g); free(u);
    return sum / K;
}

static void test_attn_tbptt_first_order_on_two_tensors(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c, "logistic_regression");
    lopt_weights w;
    loud_weights(&c, &w);
    size_t nt = w.ntheta;
    uint64_t s0 = c.task_seed;
    int K = c.unroll;
    task *tk;
    assert_int_equal(task_create(c.tasks[0].family, &c.tasks[0].params, s0, &tk), 0);
    assert_int_equal(tk->lay.ntensors, 2);
    float *G = malloc((size_t)K * tk->n * sizeof(float));
    double *g = malloc(nt * sizeof(double)), *fd = calloc(nt, sizeof(double)), L, Lf;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 0, &L, g), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, K, &Lf), 0);
    assert_true(fabs(L - Lf) <= 1e-5 * fabs(Lf));
    assert_true(frozen_loss(&c, tk, G, K, w.theta, 1) == Lf);
    for (size_t i = 0; i < nt; i++) {
        float keep = w.theta[i];
        w.theta[i] = keep + H_FD;
        double hp = (double)w.theta[i] - keep, lp = frozen_loss(&c, tk, G, K, w.theta, 0);
        w.theta[i] = keep - H_FD;
        double hm = (double)keep - w.theta[i], lm = frozen_loss(&c, tk, G, K, w.theta, 0);
        w.theta[i] = keep;
        fd[i] = (lp - lm) / (hp + hm);
    }
    double e = rel_err(g, fd, nt);
    printf("attn TBPTT first order vs fd(frozen float reference) %.2e on 2 tensors\n", e);
    assert_true(e < 1e-3);
    free(G); free(g); free(fd);
    task_free(tk);
    lopt_weights_deinit(&w);
}

static void test_attn_tbptt_matches_finite_differences(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c, "quadratic");
    lopt_weights w;
    loud_weights(&c, &w);
    size_t nt = w.ntheta;
    uint64_t s0 = c.task_seed;
    int K = c.unroll;
    double *g = malloc(nt * sizeof(double)), *fdd = calloc(nt, sizeof(double)), *scratch = malloc(nt * sizeof(double));
    double L, Lf;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 1, &L, g), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, K, &Lf), 0);
    printf("attn TBPTT loss %.8f, meta_unroll_loss %.8f\n", L, Lf);
    assert_true(fabs(L - Lf) <= 1e-5 * fabs(Lf));
    for (size_t i = 0; i < nt; i++) {
        float keep = w.theta[i];
        double dp, dm;
        w.theta[i] = keep + H_FD;
        double hp = (double)w.theta[i] - keep;
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 0, &dp, scratch), 0);
        w.theta[i] = keep - H_FD;
        double hm = (double)keep - w.theta[i];
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 0, &dm, scratch), 0);
        w.theta[i] = keep;
        fdd[i] = (dp - dm) / (hp + hm);
    }
    if (getenv("TB_DEBUG"))
        for (size_t i = 0; i < nt; i++)
            if (fabs(g[i] - fdd[i]) > 1e-3) printf("  theta[%zu]: tape %.6e fd %.6e\n", i, g[i], fdd[i]);
    double e = rel_err(g, fdd, nt), gn = 0;
    for (size_t i = 0; i < nt; i++) gn += g[i] * g[i];
    printf("attn TBPTT exact vs fd(double loss) %.2e, |grad| %.3e over %zu meta-parameters\n", e, sqrt(gn), nt);
    assert_true(gn > 0);
    assert_true(e < 1e-4);
    free(g); free(fdd); free(scratch);
    lopt_weights_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attn_tbptt_matches_finite_differences),
        cmocka_unit_test(test_attn_tbptt_first_order_on_two_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
