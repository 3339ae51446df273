/* test_meta_reptile.c — Reptile across task families over a learned
 * optimizer's weights (meta_reptile.h): the families and the inner job's
 * configuration of each outer step; one step with step size 1 is exactly
 * k plain outer steps of the inner job; a smaller step size moves theta
 * that fraction of the way towards the adapted weights; a failing inner
 * step leaves the job as it was; checkpoints carry the Reptile settings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "meta.h"
#include "meta_reptile.h"

/* mlp_lopt 2×1 on small quadratics; ES, a real outer lr. */
static void small_cfg(meta_config *c)
{
    meta_config_defaults(c);
    c->hidden = 2;
    c->depth = 1;
    c->estimator = META_ES;
    c->nparticles = 2;
    c->tasks[0].params.dim = 5;
    c->unroll = 5;
    c->outer_lr = 1e-2;
    c->maml_inner_steps = 2;
    c->maml_step = 1;
}

static void add_task(meta_config *c, const char *family, int dim)
{
    meta_task_spec *t = &c->tasks[c->ntasks++];
    memset(t, 0, sizeof *t);
    strcpy(t->family, family);
    t->params.dim = dim;
}

static void test_families_and_inner_config(void **state)
{
    (void)state;
    meta_config c, ic;
    small_cfg(&c);
    c.ntasks = 0;
    add_task(&c, "quadratic", 5);
    add_task(&c, "rosenbrock", 2);
    add_task(&c, "quadratic", 3);
    assert_int_equal(meta_reptile_families(&c), 2);
    assert_int_equal(meta_reptile_inner_config(&c, 0, &ic), 0);
    assert_int_equal(ic.ntasks, 2);
    assert_string_equal(ic.tasks[0].family, "quadratic");
    assert_int_equal(ic.tasks[0].params.dim, 5);
    assert_int_equal(ic.tasks[1].params.dim, 3);
    assert_int_equal(ic.maml_inner_steps, 0);
    uint64_t s0 = ic.seed;
    assert_int_equal(meta_reptile_inner_config(&c, 1, &ic), 0);
    assert_int_equal(ic.ntasks, 1);
    assert_string_equal(ic.tasks[0].family, "rosenbrock");
    assert_true(ic.seed != s0);
    assert_int_equal(meta_reptile_inner_config(&c, 2, &ic), 0);
    assert_string_equal(ic.tasks[0].family, "quadratic");
    assert_true(ic.seed != s0);   /* a fresh seed every outer step */
    c.maml_inner_steps = 0;
    assert_int_equal(meta_reptile_inner_config(&c, 0, &ic), ERR_INVALID_ARGUMENT);
}

/* theta after k = maml_inner_steps plain steps of step s's inner job from w. */
static float *adapted(const meta_config *c, const lopt_weights *w, int64_t s)
{
    meta_config ic;
    assert_int_equal(meta_reptile_inner_config(c, s, &ic), 0);
    meta_job *in = NULL;
    assert_int_equal(meta_job_new(&ic, w, &in), 0);
    for (int i = 0; i < c->maml_inner_steps; i++) {
        meta_report r;
        assert_int_equal(meta_step(in, &r), 0);
    }
    const lopt_weights *aw = meta_job_weights(in);
    float *out = malloc(aw->ntheta * sizeof(float));
    memcpy(out, aw->theta, aw->ntheta * sizeof(float));
    meta_job_free(in);
    return out;
}

static void test_step_one_is_the_adapted_weights(void **state)
{
    (void)state;
    meta_config c;
    small_cfg(&c);
    meta_job *j = NULL;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    lopt_weights w0 = {0};
    assert_int_equal(lopt_weights_copy(&w0, meta_job_weights(j)), 0);
    float *tk = adapted(&c, &w0, 0);
    meta_report rep;
    assert_int_equal(meta_reptile_step(j, NULL, NULL, &rep), 0);
    assert_int_equal(rep.step, 1);
    assert_int_equal(meta_job_step(j), 1);
    const lopt_weights *w = meta_job_weights(j);
    assert_memory_equal(w->theta, tk, w->ntheta * sizeof(float));
    assert_memory_not_equal(w->theta, w0.theta, w->ntheta * sizeof(float));   /* the inner steps moved it */
    assert_true(isfinite(rep.meta_loss));
    assert_true(rep.grad_norm > 0);
    free(tk);
    lopt_weights_deinit(&w0);
    meta_job_free(j);
}

static void test_step_size_interpolates(void **state)
{
    (void)state;
    meta_config c;
    small_cfg(&c);
    c.maml_step = 0.25;
    c.ntasks = 0;
    add_task(&c, "quadratic", 5);
    add_task(&c, "rosenbrock", 2);
    meta_job *j = NULL;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    for (int64_t s = 0; s < 3; s++) {   /* families quadratic, rosenbrock, quadratic */
        lopt_weights w0 = {0};
        assert_int_equal(lopt_weights_copy(&w0, meta_job_weights(j)), 0);
        float *tk = adapted(&c, &w0, s);
        meta_report rep;
        assert_int_equal(meta_reptile_step(j, NULL, NULL, &rep), 0);
        const lopt_weights *w = meta_job_weights(j);
        double d2 = 0, moved = 0;
        for (size_t i = 0; i < w->ntheta; i++) {
            double want = (double)w0.theta[i] + 0.25 * ((double)tk[i] - (double)w0.theta[i]);
            assert_true(fabs((double)w->theta[i] - want) <= 1e-6 * (1 + fabs(want)));
            d2 += ((double)tk[i] - w0.theta[i]) * ((double)tk[i] - w0.theta[i]);
            moved += fabs((double)w->theta[i] - w0.theta[i]);
        }
        assert_true(moved > 0);
        assert_true(fabs(rep.grad_norm - sqrt(d2)) <= 1e-9 * (1 + sqrt(d2)));
        free(tk);
        lopt_weights_deinit(&w0);
    }
    meta_job_free(j);
}

static int failing(void *ctx, meta_job *inner, meta_report *rep)
{
    int *calls = ctx;
    if (++*calls == 2) return ERR_NON_FINITE;
    return meta_step(inner, rep);
}

static void test_failure_leaves_the_job(void **state)
{
    (void)state;
    meta_config c;
    small_cfg(&c);
    meta_job *j = NULL;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    lopt_weights w0 = {0};
    assert_int_equal(lopt_weights_copy(&w0, meta_job_weights(j)), 0);
    int calls = 0;
    meta_report rep;
    assert_int_equal(meta_reptile_step(j, failing, &calls, &rep), ERR_NON_FINITE);
    assert_int_equal(calls, 2);
    assert_int_equal(meta_job_step(j), 0);
    assert_memory_equal(meta_job_weights(j)->theta, w0.theta, w0.ntheta * sizeof(float));
    lopt_weights_deinit(&w0);
    meta_job_free(j);
}

static void test_checkpoint_carries_the_settings(void **state)
{
    (void)state;
    meta_config c;
    small_cfg(&c);
    meta_job *j = NULL, *k = NULL, *other = NULL;
    assert_int_equal(meta_job_new(&c, NULL, &j), 0);
    meta_report rep;
    assert_int_equal(meta_reptile_step(j, NULL, NULL, &rep), 0);
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(meta_save(j, &b, &n), 0);
    assert_int_equal(meta_job_new(&c, NULL, &k), 0);
    assert_int_equal(meta_load(k, b, n), 0);
    assert_int_equal(meta_job_step(k), 1);
    assert_memory_equal(meta_job_weights(k)->theta, meta_job_weights(j)->theta,
                        meta_job_weights(j)->ntheta * sizeof(float));
    /* resumed, the next step is the uninterrupted run's */
    assert_int_equal(meta_reptile_step(j, NULL, NULL, &rep), 0);
    assert_int_equal(meta_reptile_step(k, NULL, NULL, &rep), 0);
    assert_memory_equal(meta_job_weights(k)->theta, meta_job_weights(j)->theta,
                        meta_job_weights(j)->ntheta * sizeof(float));
    c.maml_inner_steps = 3;   /* another k: the checkpoint does not fit */
    assert_int_equal(meta_job_new(&c, NULL, &other), 0);
    assert_int_equal(meta_load(other, b, n), ERR_CORRUPT);
    free(b);
    meta_job_free(j);
    meta_job_free(k);
    meta_job_free(other);
}

static void test_bad_settings_refused(void **state)
{
    (void)state;
    meta_config c;
    small_cfg(&c);
    meta_job *j = NULL;
    c.maml_step = 1.5;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    c.maml_step = 0.5;
    c.maml_inner_steps = -1;
    assert_int_equal(meta_job_new(&c, NULL, &j), ERR_INVALID_ARGUMENT);
    assert_null(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_and_inner_config),
        cmocka_unit_test(test_step_one_is_the_adapted_weights),
        cmocka_unit_test(test_step_size_interpolates),
        cmocka_unit_test(test_failure_leaves_the_job),
        cmocka_unit_test(test_checkpoint_carries_the_settings),
        cmocka_unit_test(test_bad_settings_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
