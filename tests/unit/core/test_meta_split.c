/* test_meta_split.c — an outer step whose particles several "processes"
 * (here: several jobs in one process) evaluated gives bit-identical theta,
 * estimate and checkpoint to the unsplit step (ES, PES, TBPTT, each also staged with EWC and replay); a checkpoint
 * assembled from the owners' particle sections resumes under another split;
 * bad scalars, ranges and parts are refused with the job untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "meta.h"

#define MAXR 4

/* 7 particles (so no split is even), two task families, PES episodes of
 * 10–30 steps with truncations of 8: episodes end and restart within a few
 * outer steps. */
static void split_cfg(meta_config *c, int est)
{
    meta_config_defaults(c);
    c->estimator = est;
    c->nparticles = 7;
    c->unroll = 8;
    c->horizon_min = 10; c->horizon_max = 30;
    c->ntasks = 2;
    snprintf(c->tasks[1].family, META_FAMILY_MAX, "rosenbrock");
    if (est == META_PES) {   /* the reference path too: three paths per particle */
        c->objective = META_OBJ_REF;
        c->outlier_alpha = 0.5;
    }
}

/* Process r of R owns [lo(r), lo(r+1)). */
static int lo_of(int r, int R, int P) { return (int)((long)P * r / R); }

/* One outer step over R jobs, each evaluating its own range, the scalars
 * (and TBPTT's gradients) exchanged as a transport would. */
static void split_step(meta_job **J, int R)
{
    int P = meta_job_nparticles(J[0]);
    size_t nt = meta_job_weights(J[0])->ntheta;
    double *ret = calloc((size_t)P * META_RET_N, sizeof(double));
    float *grads = calloc((size_t)P * nt, sizeof(float));
    assert_non_null(ret);
    assert_non_null(grads);
    for (int r = 0; r < R; r++) {
        assert_int_equal(meta_step_begin(J[r]), 0);
        for (int k = lo_of(r, R, P); k < lo_of(r + 1, R, P); k++) {
            assert_int_equal(meta_eval_particle(J[r], k), 0);
            assert_int_equal(meta_particle_returns(J[r], k, ret + (size_t)k * META_RET_N), 0);
            const float *g = meta_particle_grad(J[r], k);
            if (g) memcpy(grads + (size_t)k * nt, g, nt * sizeof(float));
        }
    }
    meta_report rep0 = {0};
    for (int r = 0; r < R; r++) {
        meta_report rep;
        assert_int_equal(meta_step_end_split(J[r], lo_of(r, R, P), lo_of(r + 1, R, P), ret, grads, &rep), 0);
        if (r == 0) rep0 = rep;
        assert_memory_equal(&rep.meta_loss, &rep0.meta_loss, sizeof(double));
        assert_memory_equal(&rep.grad_norm, &rep0.grad_norm, sizeof(double));
    }
    free(ret);
    free(grads);
}

/* The checkpoint of a split: process 0's job with every other particle's
 * section from its owner. */
static void split_save(meta_job **J, int R, uint8_t **out, size_t *len)
{
    int P = meta_job_nparticles(J[0]);
    uint8_t *parts[64] = {0};
    size_t lens[64] = {0};
    for (int r = 1; r < R; r++)
        for (int k = lo_of(r, R, P); k < lo_of(r + 1, R, P); k++)
            assert_int_equal(meta_particle_save(J[r], k, &parts[k], &lens[k]), 0);
    assert_int_equal(meta_save_parts(J[0], (const uint8_t *const *)parts, lens, out, len), 0);
    for (int k = 0; k < P; k++) free(parts[k]);
}

static void assert_same(meta_job *a, meta_job *b)
{
    size_t nt = meta_job_weights(a)->ntheta;
    assert_int_equal(meta_job_step(a), meta_job_step(b));
    assert_memory_equal(meta_job_weights(a)->theta, meta_job_weights(b)->theta, nt * sizeof(float));
    assert_memory_equal(meta_job_grad(a), meta_job_grad(b), nt * sizeof(float));
}

static void test_split_equals_unsplit_and_resumes_under_another_split(void **st)
{
    (void)st;
    for (int v = 0; v < 6; v++) {
        int est = v % 3;
        meta_config c;
        split_cfg(&c, est);
        if (v >= 3) {   /* staged: the boundary after step 3, EWC and replay (meta_continual.h) */
            c.nstages = 2;
            c.stage_steps[0] = 3; c.stage_steps[1] = 9;
            c.stage_tasks[0] = 1; c.stage_tasks[1] = 2;
            c.ewc_lambda = 0.5; c.replay = 0.5; c.ewc_window = 2;
        }
        meta_job *a, *J[MAXR], *K[MAXR];
        assert_int_equal(meta_job_new(&c, NULL, &a), 0);
        for (int r = 0; r < 3; r++) assert_int_equal(meta_job_new(&c, NULL, &J[r]), 0);
        for (int s = 0; s < 4; s++) {
            assert_int_equal(meta_step(a, NULL), 0);
            split_step(J, 3);
            for (int r = 0; r < 3; r++) assert_same(a, J[r]);
        }
        /* the assembled checkpoint is the unsplit job's, byte for byte */
        uint8_t *ca, *cs;
        size_t la, ls;
        assert_int_equal(meta_save(a, &ca, &la), 0);
        split_save(J, 3, &cs, &ls);
        assert_int_equal(la, ls);
        assert_memory_equal(ca, cs, la);
        /* resumed under 2 processes and under 4, it goes on as the unsplit job */
        for (int s = 0; s < 4; s++) assert_int_equal(meta_step(a, NULL), 0);
        for (int R = 2; R <= 4; R += 2) {
            for (int r = 0; r < R; r++) {
                assert_int_equal(meta_job_new(&c, NULL, &K[r]), 0);
                assert_int_equal(meta_load(K[r], cs, ls), 0);
            }
            for (int s = 0; s < 4; s++) split_step(K, R);
            for (int r = 0; r < R; r++) { assert_same(a, K[r]); meta_job_free(K[r]); }
        }
        free(ca); free(cs);
        meta_job_free(a);
        for (int r = 0; r < 3; r++) meta_job_free(J[r]);
    }
}

static void test_bad_scalars_ranges_and_parts_are_refused(void **st)
{
    (void)st;
    meta_config c;
    split_cfg(&c, META_PES);
    meta_job *J[2], *other;
    for (int r = 0; r < 2; r++) assert_int_equal(meta_job_new(&c, NULL, &J[r]), 0);
    split_step(J, 2);
    int P = c.nparticles;
    size_t nt = meta_job_weights(J[0])->ntheta;
    float *theta = malloc(nt * sizeof(float));
    memcpy(theta, meta_job_weights(J[0])->theta, nt * sizeof(float));
    double ret[64 * META_RET_N];
    assert_int_equal(meta_step_begin(J[0]), 0);
    for (int k = 0; k < P; k++) {
        if (k < 3) assert_int_equal(meta_eval_particle(J[0], k), 0);
        double *r = ret + (size_t)k * META_RET_N;
        for (int i = 0; i < META_RET_N; i++) r[i] = 0;
        if (k < 3) assert_int_equal(meta_particle_returns(J[0], k, r), 0);
    }
    double *r5 = ret + 5 * META_RET_N;
    r5[0] = NAN;
    assert_int_equal(meta_step_end_split(J[0], 0, 3, ret, NULL, NULL), ERR_INVALID_ARGUMENT);
    r5[0] = 1; r5[4] = 2;            /* a flag that is not 0 or 1 */
    assert_int_equal(meta_step_end_split(J[0], 0, 3, ret, NULL, NULL), ERR_INVALID_ARGUMENT);
    r5[4] = 0; r5[6] = -1;           /* a negative count */
    assert_int_equal(meta_step_end_split(J[0], 0, 3, ret, NULL, NULL), ERR_INVALID_ARGUMENT);
    r5[6] = 0.5;                     /* not an integer */
    assert_int_equal(meta_step_end_split(J[0], 0, 3, ret, NULL, NULL), ERR_INVALID_ARGUMENT);
    r5[6] = 0;
    assert_int_equal(meta_step_end_split(J[0], 4, 3, ret, NULL, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(meta_step_end_split(J[0], 0, P + 1, ret, NULL, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(meta_step_end_split(J[0], 0, 3, NULL, NULL, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(meta_particle_returns(J[0], P, ret), ERR_INVALID_ARGUMENT);
    assert_null(meta_particle_grad(J[0], 0));   /* PES has no per-particle gradient */
    /* refused: the job is untouched */
    assert_int_equal(meta_job_step(J[0]), 1);
    assert_memory_equal(meta_job_weights(J[0])->theta, theta, nt * sizeof(float));

    /* parts: missing, another particle's, another config's, damaged */
    uint8_t *parts[64] = {0}, *out = NULL;
    size_t lens[64] = {0}, lo;
    /* particles 3..6 are J[1]'s: without their parts, no checkpoint */
    assert_int_equal(meta_save(J[0], &out, &lo), ERR_INVALID_ARGUMENT);
    for (int k = 3; k < P; k++) assert_int_equal(meta_particle_save(J[1], k, &parts[k], &lens[k]), 0);
    assert_int_equal(meta_save_parts(J[0], (const uint8_t *const *)parts, lens, &out, &lo), 0);
    free(out);
    uint8_t *p4 = parts[4];
    size_t l4 = lens[4];
    parts[4] = parts[5]; lens[4] = lens[5];
    assert_int_equal(meta_save_parts(J[0], (const uint8_t *const *)parts, lens, &out, &lo), ERR_CORRUPT);
    parts[4] = p4; lens[4] = l4;
    meta_config c2 = c;
    c2.seed = 99;
    assert_int_equal(meta_job_new(&c2, NULL, &other), 0);
    assert_int_equal(meta_save_parts(other, (const uint8_t *const *)parts, lens, &out, &lo), ERR_CORRUPT);
    p4[l4 / 2] ^= 1;
    assert_int_equal(meta_save_parts(J[0], (const uint8_t *const *)parts, lens, &out, &lo), ERR_CORRUPT);
    assert_int_equal(meta_particle_save(J[0], -1, &out, &lo), ERR_INVALID_ARGUMENT);
    /* a part is no checkpoint */
    p4[l4 / 2] ^= 1;
    assert_int_equal(meta_load(J[0], p4, l4), ERR_CORRUPT);
    for (int k = 3; k < P; k++) free(parts[k]);
    free(theta);
    meta_job_free(other);
    for (int r = 0; r < 2; r++) meta_job_free(J[r]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_equals_unsplit_and_resumes_under_another_split),
        cmocka_unit_test(test_bad_scalars_ranges_and_parts_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
