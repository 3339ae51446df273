/* test_step.c — core's one entry point for a session step (step.c).
 *
 * What must hold:
 *   - step_run equals the hand-sequenced calls that sessions.c made before
 *     it existed (online_es_observe/begin_step, adapt_before_step, opt_step,
 *     adapt_after_step, online_es_after_step, analytics_step_stats,
 *     online_es_diag + opt_diag, the multiplier), bit for bit over 30 steps
 *     with a skipped step among them: params, updates, step_info, the
 *     analytics, the diagnostics and the multiplier — for adam with
 *     per-tensor hypergradient adaptation, and for a learned optimizer
 *     (mlp_lopt) with the online ES learner fed the losses;
 *   - a non-finite update is flagged (non_finite, ERR_NON_FINITE_UPDATE) and
 *     nothing is applied: params and the step count unchanged, no analytics,
 *     the learner's after-step not run;
 *   - a step the learner cannot begin is ERR_INTERNAL before anything runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "rng.h"
#include "step.h"

#define NSTEPS 30
#define SKIP_AT 11

static layout two_tensors(void)
{
    layout lay;
    const char *names[] = {"w", "b"};
    int nd[] = {2, 1};
    int64_t sh[2][LAYOUT_MAX_DIMS] = {{4, 5}, {7}};
    assert_int_equal(layout_init(&lay, 2, names, nd, (const int64_t(*)[LAYOUT_MAX_DIMS])sh, 1000), 0);
    return lay;
}

/* One side of the comparison: a session's core state and its two update
 * buffers (the answer of the last step and the spare the next is written
 * to, swapped after each step as sessions.c does). */
typedef struct side {
    opt       o;
    adapt     ad;
    online_es es;
    float    *params, *last_update, *spare;
} side;

static void side_init(side *s, const opt_config *oc, const adapt_config *ac, const online_es_config *ec,
                      const layout *lay)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(opt_init(&s->o, oc, lay), 0);
    if (ac) assert_int_equal(adapt_init(&s->ad, ac, &s->o), 0);
    if (ec) assert_int_equal(online_es_init(&s->es, ec, lay), 0);
    s->params = calloc(lay->n, sizeof(float));
    s->last_update = calloc(lay->n, sizeof(float));
    s->spare = calloc(lay->n, sizeof(float));
    assert_non_null(s->params);
    assert_non_null(s->last_update);
    assert_non_null(s->spare);
    rng r;
    rng_seed(&r, 99);
    rng_normal_fill(&r, s->params, lay->n, 0.0f, 1.0f);
}

static void side_deinit(side *s)
{
    adapt_deinit(&s->ad);
    online_es_deinit(&s->es);
    opt_deinit(&s->o);
    free(s->params);
    free(s->last_update);
    free(s->spare);
}

static void side_swap(side *s)
{
    float *t = s->last_update;
    s->last_update = s->spare;
    s->spare = t;
}

/* What sessions.c's apply_step did before step_run: the calls one by one. */
static int hand_step(side *s, const layout *lay, int64_t k, const float *g, double loss, int skip,
                     step_result *out)
{
    step_info info = {.loss = loss, .grad_norm = NAN, .update_norm = 0, .param_norm = NAN, .lr = NAN};
    memset(out, 0, sizeof *out);
    int rc = 0;
    if (s->es.K) {
        if (isfinite(loss)) online_es_observe(&s->es, k, loss);
        if (online_es_begin_step(&s->es, k) != 0) return ERR_INTERNAL;
    }
    if (skip) memset(s->spare, 0, lay->n * sizeof(float));
    else {
        if (s->ad.nmult) adapt_before_step(&s->ad, &s->o, g, s->last_update);
        rc = opt_step(&s->o, s->params, g, s->spare, &info);
        if (!rc && s->ad.nmult) adapt_after_step(&s->ad, &s->o, s->params, s->spare, &info);
        if (!rc && s->es.K) online_es_after_step(&s->es, lay, s->params, s->spare, &info);
    }
    if (rc) return rc;
    side_swap(s);
    out->info = info;
    if (!skip) {
        analytics_step_stats(lay, g, s->params, s->last_update, s->spare, info.update_norm, info.param_norm,
                             &out->stats);
        out->has_stats = 1;
    }
    int n = 0;
    if (s->es.K) n += online_es_diag(&s->es, lay, out->diag, OPT_DIAG_MAX);
    n += opt_diag(&s->o, out->diag + n, OPT_DIAG_MAX);
    out->ndiag = n;
    out->lr_mult = s->es.K ? online_es_mean_scale(&s->es, lay)
                 : s->ad.nmult ? adapt_mean_multiplier(&s->ad, &s->o) : NAN;
    return 0;
}

static int run_step(side *s, const layout *lay, int64_t k, const float *g, double loss, int skip, step_result *out)
{
    step_state st = {.o = &s->o, .ad = &s->ad, .es = &s->es, .lay = lay, .params = s->params,
                     .prev_update = s->last_update, .update = s->spare, .clock = NULL};
    int rc = step_run(&st, k, g, loss, skip, out);
    if (rc == 0) side_swap(s);
    return rc;
}

/* Bit-for-bit equality of two doubles (NAN equals NAN of the same bits). */
static void assert_same_double(double a, double b)
{
    assert_memory_equal(&a, &b, sizeof a);
}

static void assert_same_result(const step_result *a, const step_result *b)
{
    assert_int_equal(a->info.t, b->info.t);
    assert_same_double(a->info.loss, b->info.loss);
    assert_same_double(a->info.lr, b->info.lr);
    assert_same_double(a->info.grad_norm, b->info.grad_norm);
    assert_same_double(a->info.update_norm, b->info.update_norm);
    assert_same_double(a->info.param_norm, b->info.param_norm);
    assert_int_equal(a->info.clipped, b->info.clipped);
    assert_int_equal(a->has_stats, b->has_stats);
    if (a->has_stats) {
        assert_same_double(a->stats.update_cos, b->stats.update_cos);
        assert_same_double(a->stats.update_ratio, b->stats.update_ratio);
        assert_int_equal(a->stats.ntensors, b->stats.ntensors);
        for (int i = 0; i < a->stats.ntensors; i++) {
            assert_same_double(a->stats.grad[i], b->stats.grad[i]);
            assert_same_double(a->stats.update[i], b->stats.update[i]);
            assert_same_double(a->stats.param[i], b->stats.param[i]);
        }
    }
    assert_same_double(a->lr_mult, b->lr_mult);
    assert_int_equal(a->ndiag, b->ndiag);
    for (int i = 0; i < a->ndiag; i++) {
        assert_string_equal(a->diag[i].name, b->diag[i].name);
        assert_same_double(a->diag[i].value, b->diag[i].value);
    }
}

/* Drives both sides through NSTEPS steps of a noisy quadratic (gradient
 * = params + noise, loss = |params|^2 / 2), step SKIP_AT skipped. */
static void drive_both(side *a, side *b, const layout *lay, int expect_diag)
{
    size_t n = lay->n;
    float *g = malloc(n * sizeof(float));
    assert_non_null(g);
    rng noise;
    rng_seed(&noise, 5);
    for (int64_t k = 1; k <= NSTEPS; k++) {
        double loss = 0;
        for (size_t i = 0; i < n; i++) loss += 0.5 * (double)a->params[i] * a->params[i];
        rng_normal_fill(&noise, g, n, 0.0f, 0.1f);
        for (size_t i = 0; i < n; i++) g[i] += a->params[i];
        int skip = k == SKIP_AT;
        step_result ra, rb;
        assert_int_equal(run_step(a, lay, k, g, loss, skip, &ra), 0);
        assert_int_equal(hand_step(b, lay, k, g, loss, skip, &rb), 0);
        assert_same_result(&ra, &rb);
        assert_int_equal(ra.non_finite, 0);
        assert_int_equal(ra.has_stats, !skip);
        assert_true(isnan(ra.duration));   /* no clock given */
        if (expect_diag) assert_true(ra.ndiag > 0);
        assert_memory_equal(a->params, b->params, n * sizeof(float));
        assert_memory_equal(a->last_update, b->last_update, n * sizeof(float));
        assert_int_equal(a->o.t, b->o.t);
    }
    assert_true(isfinite(a->params[0]));
    free(g);
}

static void test_step_equals_hand_sequence_for_adam_with_adaptation(void **st)
{
    (void)st;
    layout lay = two_tensors();
    opt_config oc;
    assert_int_equal(opt_config_defaults(&oc, "adam"), 0);
    assert_int_equal(opt_config_set(&oc, "lr", 0.01), 0);
    adapt_config ac;
    adapt_config_defaults(&ac);
    ac.lr = ADAPT_LR_HYPERGRADIENT;
    ac.beta = 1e-3;
    ac.per_tensor = 1;
    side a, b;
    side_init(&a, &oc, &ac, NULL, &lay);
    side_init(&b, &oc, &ac, NULL, &lay);
    drive_both(&a, &b, &lay, 0);
    assert_memory_equal(a.ad.mult, b.ad.mult, a.ad.nmult * sizeof(double));
    assert_true(a.ad.mult[0] != 1.0);   /* the adaptation did act */
    side_deinit(&a);
    side_deinit(&b);
    layout_deinit(&lay);
}

static online_es_config learner_cfg(void)
{
    online_es_config c;
    online_es_config_defaults(&c);
    c.enabled = 1;
    c.rate = 0.05;
    c.memory = 16;
    c.sigma = 0.1;
    c.window = 2;
    c.per_tensor = 1;
    c.seed = 3;
    return c;
}

static void test_step_equals_hand_sequence_for_learned_with_online_es(void **st)
{
    (void)st;
    layout lay = two_tensors();
    opt_config oc;
    assert_int_equal(opt_config_defaults(&oc, "mlp_lopt"), 0);
    online_es_config ec = learner_cfg();
    side a, b;
    side_init(&a, &oc, NULL, &ec, &lay);
    side_init(&b, &oc, NULL, &ec, &lay);
    drive_both(&a, &b, &lay, 1);
    assert_true(a.es.updates > 0);   /* the learner did update its controls */
    assert_memory_equal(a.es.c, b.es.c, a.es.K * sizeof(double));
    assert_memory_equal(a.es.m, b.es.m, a.es.K * sizeof(double));
    side_deinit(&a);
    side_deinit(&b);
    layout_deinit(&lay);
}

static void test_step_flags_a_non_finite_update_and_applies_nothing(void **st)
{
    (void)st;
    layout lay = two_tensors();
    opt_config oc;
    assert_int_equal(opt_config_defaults(&oc, "sgd"), 0);
    assert_int_equal(opt_config_set(&oc, "lr", 10), 0);
    online_es_config ec = learner_cfg();
    side s;
    side_init(&s, &oc, NULL, &ec, &lay);
    size_t n = lay.n;
    float *g = malloc(n * sizeof(float)), *before = malloc(n * sizeof(float));
    assert_non_null(g);
    assert_non_null(before);
    for (size_t i = 0; i < n; i++) g[i] = 3e38f;   /* finite, but 10 × it overflows float32 */
    memcpy(before, s.params, n * sizeof(float));
    step_state ss = {.o = &s.o, .ad = &s.ad, .es = &s.es, .lay = &lay, .params = s.params,
                     .prev_update = s.last_update, .update = s.spare};
    step_result res;
    assert_int_equal(step_run(&ss, 1, g, 1.0, 0, &res), ERR_NON_FINITE_UPDATE);
    assert_int_equal(res.non_finite, 1);
    assert_int_equal(res.has_stats, 0);
    assert_int_equal(res.ndiag, 0);
    assert_memory_equal(s.params, before, n * sizeof(float));
    assert_int_equal(s.o.t, 0);
    /* an ordinary error is not flagged as a non-finite update */
    g[0] = INFINITY;
    assert_int_equal(step_run(&ss, 1, g, 1.0, 0, &res), ERR_NON_FINITE);
    assert_int_equal(res.non_finite, 0);
    assert_memory_equal(s.params, before, n * sizeof(float));
    free(g);
    free(before);
    side_deinit(&s);
    layout_deinit(&lay);
}

static void test_step_the_learner_cannot_begin_is_internal(void **st)
{
    (void)st;
    layout lay = two_tensors();
    opt_config oc;
    assert_int_equal(opt_config_defaults(&oc, "sgd"), 0);
    online_es_config ec = learner_cfg();
    side s;
    side_init(&s, &oc, NULL, &ec, &lay);
    float *g = calloc(lay.n, sizeof(float));
    float *before = malloc(lay.n * sizeof(float));
    assert_non_null(g);
    assert_non_null(before);
    memcpy(before, s.params, lay.n * sizeof(float));
    step_state ss = {.o = &s.o, .es = &s.es, .lay = &lay, .params = s.params, .prev_update = s.last_update,
                     .update = s.spare};
    step_result res;
    assert_int_equal(step_run(&ss, 5, g, 1.0, 0, &res), ERR_INTERNAL);   /* step 1 is next */
    assert_int_equal(res.non_finite, 0);
    assert_memory_equal(s.params, before, lay.n * sizeof(float));
    assert_int_equal(s.o.t, 0);
    free(g);
    free(before);
    side_deinit(&s);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_equals_hand_sequence_for_adam_with_adaptation),
        cmocka_unit_test(test_step_equals_hand_sequence_for_learned_with_online_es),
        cmocka_unit_test(test_step_flags_a_non_finite_update_and_applies_nothing),
        cmocka_unit_test(test_step_the_learner_cannot_begin_is_internal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
