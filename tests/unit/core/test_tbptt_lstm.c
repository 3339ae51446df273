/* test_tbptt_lstm.c — truncated backprop through the unroll (META_TBPTT,
 * meta_unroll_grad) for lstm_lopt: the exact meta-gradient against central
 * finite differences, the first-order one against finite differences of a
 * frozen-gradient reference unroll, refusal of exact mode without HVP, and
 * a short seeded TBPTT meta-training run that lowers the meta-loss. */
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
#include "rng.h"
#include "tasks.h"

/* One fixed noiseless quadratic (dim 5, task seed 7), 10 inner steps,
 * lstm_lopt 4 × 2 (262 meta-parameters: both layers and the read-out). */
static void small_cfg(meta_config *c)
{
    meta_config_defaults(c);
    snprintf(c->optimizer, sizeof c->optimizer, "lstm_lopt");
    c->hidden = 4;
    c->depth = 2;
    c->estimator = META_TBPTT;
    c->tasks[0].params.dim = 5;
    c->task_seed = 7;
    c->unroll = 10;
}

/* Default weights made loud, so that the update is ~1e-1 per step (the
 * quadratic's gradient moves by a fair fraction of itself over the unroll)
 * and depends strongly on the log-magnitude input x0 = log|g|/10: skip
 * weight a = 100, read-out w ×3e4, layer 1's x0 weights ×30.  Then the
 * Hessian terms of the exact gradient are well above the finite-difference
 * noise (with the untrained weights ∂update/∂g ~ 1e-5 and exact = first
 * order to 4e-6). */
static void test_weights(const meta_config *c, lopt_weights *w)
{
    assert_int_equal(lopt_weights_init_default(w, LOPT_ARCH_LSTM, c->hidden, c->depth, 3), 0);
    w->theta[0] = 100.0f;
    float *wo = w->theta + w->ntheta - c->hidden - 1;
    for (int j = 0; j < c->hidden; j++) wo[j] *= 3e4f;
    for (int j = 0; j < 4 * c->hidden; j++) w->theta[1 + j] *= 30.0f;   /* Wx row 0 (x0) */
}

#define H_FD 3e-3f

static double rel_err(const double *a, const double *b, size_t n)
{
    double e = 0, nb = 0;
    for (size_t i = 0; i < n; i++) { e += (a[i] - b[i]) * (a[i] - b[i]); nb += b[i] * b[i]; }
    return sqrt(e / nb);
}

static double cosine(const double *a, const double *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return ab / sqrt(aa * bb);
}

/* ---- the first-order reference ------------------------------------------ */

/* A frozen-gradient unroll: lstm_lopt (the production float optimizer)
 * steps on the gradient sequence G[0..K-1] recorded at theta0, whatever
 * theta is, while the loss of each step is evaluated at the params it
 * produces.  Its derivative at theta0 is by definition the first-order
 * meta-gradient (∂g/∂p = 0, loss terms exact).  record = 1 records G from
 * the real trajectory (then this is meta_unroll_loss). */
typedef struct frozen {
    const meta_config *c;
    task *tk;
    float *G;          /* (K, n) */
    int K;
} frozen;

static double frozen_loss(frozen *f, const float *theta, int record)
{
    const meta_config *c = f->c;
    size_t n = f->tk->n;
    opt_config oc;
    assert_int_equal(opt_config_defaults(&oc, c->optimizer), 0);
    assert_int_equal(opt_config_set(&oc, "hidden", c->hidden), 0);
    assert_int_equal(opt_config_set(&oc, "depth", c->depth), 0);
    oc.weights = LOPT_WEIGHTS_DEFAULT;
    opt o;
    assert_int_equal(opt_init(&o, &oc, &f->tk->lay), 0);
    lopt_weights *w = lopt_opt_weights(&o);
    memcpy(w->theta, theta, w->ntheta * sizeof(float));
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    rng data;
    rng_seed(&data, c->task_seed + 1);
    task_init_params(f->tk, c->task_seed, p);
    task_loss_grad(f->tk, p, g, &data);
    double sum = 0;
    for (int k = 0; k < f->K; k++) {
        if (record) memcpy(f->G + (size_t)k * n, g, n * sizeof(float));
        else memcpy(g, f->G + (size_t)k * n, n * sizeof(float));
        assert_int_equal(opt_step(&o, p, g, u, NULL), 0);
        double l = task_loss_grad(f->tk, p, g, &data);
        assert_true(isfinite(l) && l > 1e-30);
        sum += log(l);
    }
    opt_deinit(&o);
    free(p); free(g); free(u);
    return sum / f->K;
}

/* TBPTT of lstm_lopt on the fixed quadratic, 10 steps, against central
 * differences in double with h = 3e-3 on theta (1e-2 gives ~1e-4 of
 * truncation error on the read-out's gradient, 1e-3 more float noise):
 *   exact (through task_hvp) vs FD of the tape's own double meta-loss:
 *     ‖Δ‖/‖fd‖ < 1e-4 (measured 1.7e-5: FD truncation and the
 *     rounding of params to float for the task);
 *   exact vs FD of the float meta_unroll_loss: < 1e-3 (measured 1.1e-4,
 *     the float path's rounding); the two losses agree within 1e-5 rel.;
 *   first order vs FD of the frozen-gradient float reference (whose exact
 *     derivative is the first-order gradient): < 1e-3 (measured 1.2e-4);
 *   first order vs exact: ‖Δ‖/‖exact‖ > 2e-3 (measured 6.4e-3), and each
 *     check above is 10× tighter than that gap (exact vs the double FD;
 *     first order vs the frozen FD, against exact vs the frozen FD): the
 *     Hessian terms are really there and really right.  Cosine printed. */
static void test_lstm_tbptt_matches_finite_differences(void **st)
{
    (void)st;
    meta_config c;
    small_cfg(&c);
    lopt_weights w;
    test_weights(&c, &w);
    size_t nt = w.ntheta;
    uint64_t s0 = c.task_seed;
    int K = c.unroll;
    double *g = malloc(nt * sizeof(double)), *g1 = malloc(nt * sizeof(double));
    double *fd = calloc(nt, sizeof(double)), *fdd = calloc(nt, sizeof(double));
    double *fdo = calloc(nt, sizeof(double)), *scratch = malloc(nt * sizeof(double));
    double L, L1, Lf;
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 1, &L, g), 0);
    assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 0, &L1, g1), 0);
    assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, K, &Lf), 0);
    printf("lstm TBPTT loss %.8f (first order %.8f), meta_unroll_loss %.8f\n", L, L1, Lf);
    assert_true(L == L1);
    assert_true(fabs(L - Lf) <= 1e-5 * fabs(Lf));

    frozen fz = {&c, NULL, NULL, K};
    assert_int_equal(task_create(c.tasks[0].family, &c.tasks[0].params, s0, &fz.tk), 0);
    fz.G = malloc((size_t)K * fz.tk->n * sizeof(float));
    double Lr = frozen_loss(&fz, w.theta, 1);
    assert_true(Lr == Lf);   /* recording run = meta_unroll_loss, bit for bit */

    for (size_t i = 0; i < nt; i++) {
        float keep = w.theta[i];
        double lp, lm, dp, dm, op, om;
        w.theta[i] = keep + H_FD;
        double hp = (double)w.theta[i] - keep;
        assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, K, &lp), 0);
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 0, &dp, scratch), 0);
        op = frozen_loss(&fz, w.theta, 0);
        w.theta[i] = keep - H_FD;
        double hm = (double)keep - w.theta[i];
        assert_int_equal(meta_unroll_loss(&c, w.theta, 0, s0, s0, s0 + 1, K, &lm), 0);
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, s0, s0, s0 + 1, K, 0, &dm, scratch), 0);
        om = frozen_loss(&fz, w.theta, 0);
        w.theta[i] = keep;
        fd[i] = (lp - lm) / (hp + hm);
        fdd[i] = (dp - dm) / (hp + hm);
        fdo[i] = (op - om) / (hp + hm);
    }
    double e_d = rel_err(g, fdd, nt), e_f = rel_err(g, fd, nt), e_o = rel_err(g1, fdo, nt);
    double e_fo = rel_err(g1, g, nt), cs = cosine(g1, g, nt);
    printf("lstm TBPTT exact vs fd(double loss) %.2e, vs fd(float loss) %.2e; first order vs fd(frozen "
           "reference) %.2e; first order vs exact %.2e (cosine %.4f)\n", e_d, e_f, e_o, e_fo, cs);
    assert_true(e_d < 1e-4);
    assert_true(e_f < 1e-3);
    assert_true(e_o < 1e-3);
    assert_true(e_fo > 2e-3);
    assert_true(e_d < e_fo / 10 && e_o < rel_err(g, fdo, nt) / 10);
    free(g); free(g1); free(fd); free(fdd); free(fdo); free(scratch);
    free(fz.G);
    task_free(fz.tk);
    lopt_weights_deinit(&w);
}

/* Depth 1 and the default 8 × 2 on a 2-tensor task (softmax regression,
 * no HVP): exact mode is refused, first order runs and its loss equals
 * meta_unroll_loss within 1e-5 relative. */
static void test_lstm_tbptt_other_shapes_and_no_hvp(void **st)
{
    (void)st;
    for (int depth = 1; depth <= 2; depth++) {
        meta_config c;
        small_cfg(&c);
        c.hidden = depth == 1 ? 4 : 8;
        c.depth = depth;
        snprintf(c.tasks[0].family, META_FAMILY_MAX, "softmax_regression");
        c.tasks[0].params.dim = 0;
        lopt_weights w;
        assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_LSTM, c.hidden, c.depth, 5), 0);
        double *g = malloc(w.ntheta * sizeof(double)), L, Lf;
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 1, 1, 2, 5, 1, &L, g), ERR_INVALID_ARGUMENT);
        assert_int_equal(meta_unroll_grad(&c, w.theta, 0, 1, 1, 2, 5, 0, &L, g), 0);
        assert_int_equal(meta_unroll_loss(&c, w.theta, 0, 1, 1, 2, 5, &Lf), 0);
        assert_true(fabs(L - Lf) <= 1e-5 * fabs(Lf));
        double nrm = 0;
        for (size_t i = 0; i < w.ntheta; i++) nrm += g[i] * g[i];
        assert_true(isfinite(nrm) && nrm > 0);
        free(g);
        lopt_weights_deinit(&w);
    }
}

/* ---- meta-training ------------------------------------------------------- */

static double heldout_loss(const meta_config *c, const float *theta)
{
    double s = 0;
    for (uint64_t seed = 1000; seed < 1004; seed++) {
        double l;
        assert_int_equal(meta_unroll_loss(c, theta, 0, seed, seed, seed + 1, c->unroll, &l), 0);
        s += l / 4;
    }
    return s;
}

/* 30 outer steps of TBPTT meta-training of lstm_lopt 8 × 2 from its
 * default weights (first order, the default; 4 particles on random
 * quadratics of dim 10 drawn from seed 1, unroll 20; the mean of the
 * particles' meta_unroll_grad, global-norm clip 1, Adam(0.1)) — the outer
 * loop meta.c runs for META_TBPTT, written out here because meta_job_new
 * accepts META_TBPTT for mlp_lopt only until meta.c lifts that check —
 * lower the held-out meta-loss (4 unseen quadratics) by at least 0.2 nats
 * (measured 5.26 -> 4.77), and the same run in exact mode does too. */
static void test_lstm_tbptt_meta_training_lowers_meta_loss(void **st)
{
    (void)st;
    for (int exact = 0; exact <= 1; exact++) {
        meta_config c;
        meta_config_defaults(&c);
        snprintf(c.optimizer, sizeof c.optimizer, "lstm_lopt");
        c.hidden = 8;
        c.depth = 2;
        c.estimator = META_TBPTT;
        c.tbptt_exact = exact;
        lopt_weights w;
        assert_int_equal(lopt_weights_init_default(&w, LOPT_ARCH_LSTM, c.hidden, c.depth, c.seed), 0);
        size_t nt = w.ntheta;
        double *gs = malloc(nt * sizeof(double)), *gk = malloc(nt * sizeof(double));
        double *am = calloc(nt, sizeof(double)), *av = calloc(nt, sizeof(double));
        double before = heldout_loss(&c, w.theta), last = 0;
        rng r;
        rng_seed(&r, 1);
        const int P = 4, S = 30;
        const double lr = 0.1, b1 = 0.9, b2 = 0.999;
        for (int s = 1; s <= S; s++) {
            memset(gs, 0, nt * sizeof(double));
            last = 0;
            for (int k = 0; k < P; k++) {
                uint64_t ts = rng_u64(&r), is = rng_u64(&r), ds = rng_u64(&r);
                double L;
                assert_int_equal(meta_unroll_grad(&c, w.theta, 0, ts, is, ds, c.unroll, exact, &L, gk), 0);
                for (size_t i = 0; i < nt; i++) gs[i] += gk[i] / P;
                last += L / P;
            }
            double nrm = 0;
            for (size_t i = 0; i < nt; i++) nrm += gs[i] * gs[i];
            nrm = sqrt(nrm);
            double sc = nrm > c.clip ? c.clip / nrm : 1;
            for (size_t i = 0; i < nt; i++) {
                double gi = gs[i] * sc;
                am[i] = b1 * am[i] + (1 - b1) * gi;
                av[i] = b2 * av[i] + (1 - b2) * gi * gi;
                double mh = am[i] / (1 - pow(b1, s)), vh = av[i] / (1 - pow(b2, s));
                w.theta[i] -= (float)(lr * mh / (sqrt(vh) + 1e-8));
            }
        }
        double after = heldout_loss(&c, w.theta);
        printf("lstm TBPTT (%s) held-out meta-loss %.4f -> %.4f (last train %.4f)\n",
               exact ? "exact" : "first order", before, after, last);
        assert_true(after < before - 0.2);
        free(gs); free(gk); free(am); free(av);
        lopt_weights_deinit(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_tbptt_matches_finite_differences),
        cmocka_unit_test(test_lstm_tbptt_other_shapes_and_no_hvp),
        cmocka_unit_test(test_lstm_tbptt_meta_training_lowers_meta_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
