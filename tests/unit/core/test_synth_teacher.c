/* test_synth_teacher.c — synth_teacher.h: the same seed gives the same
 * data bit for bit and another seed other data; the targets are the teacher
 * network's outputs (recomputed here in double from the same rng stream:
 * x, then W1, W2, then the biases) plus noise of the stated std; argmax
 * labels; minibatch sampling; the memory check (tasks_arena.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "synth_teacher.h"

/* The teacher in double: draws in the order synth_teacher_make documents. */
static void ref_targets(uint64_t seed, int dim, int ydim, int rows, double *y)
{
    enum { Hd = SYNTH_TEACHER_HIDDEN };
    rng r;
    rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * rows * dim), *w1 = malloc(sizeof(float) * dim * Hd);
    float *w2 = malloc(sizeof(float) * Hd * ydim), b1[Hd], *b2 = malloc(sizeof(float) * ydim);
    rng_normal_fill(&r, x, (size_t)rows * dim, 0.0f, 1.0f);
    rng_normal_fill(&r, w1, (size_t)dim * Hd, 0.0f, (float)sqrt(1.0 / dim));
    rng_normal_fill(&r, w2, (size_t)Hd * ydim, 0.0f, (float)sqrt(1.0 / Hd));
    rng_normal_fill(&r, b1, Hd, 0.0f, 0.1f);
    rng_normal_fill(&r, b2, (size_t)ydim, 0.0f, 0.1f);
    for (int i = 0; i < rows; i++)
        for (int o = 0; o < ydim; o++) {
            double s = b2[o];
            for (int h = 0; h < Hd; h++) {
                double a = b1[h];
                for (int k = 0; k < dim; k++) a += (double)x[i * dim + k] * w1[k * Hd + h];
                s += tanh(a) * w2[h * ydim + o];
            }
            y[i * ydim + o] = s;
        }
    free(x); free(w1); free(w2); free(b2);
}

static void test_teacher_targets_and_seed(void **st)
{
    (void)st;
    synth_set a, b, c;
    assert_int_equal(synth_teacher_make(&a, "t", 5, 6, 3, 200, 100, 0.0), 0);
    assert_int_equal(synth_teacher_make(&b, "t", 5, 6, 3, 200, 100, 0.0), 0);
    assert_int_equal(synth_teacher_make(&c, "t", 6, 6, 3, 200, 100, 0.0), 0);
    assert_memory_equal(a.x, b.x, sizeof(float) * 300 * 6);
    assert_memory_equal(a.y, b.y, sizeof(float) * 300 * 3);
    assert_memory_not_equal(a.x, c.x, sizeof(float) * 300 * 6);
    double *y = malloc(sizeof(double) * 300 * 3);
    ref_targets(5, 6, 3, 300, y);
    double e = 0;
    for (int i = 0; i < 900; i++) e = fmax(e, fabs(y[i] - a.y[i]));
    assert_true(e < 1e-5);
    /* noise: same x, targets differ by N(0, 0.5^2) */
    synth_set nz;
    assert_int_equal(synth_teacher_make(&nz, "t", 5, 6, 3, 200, 100, 0.5), 0);
    assert_memory_equal(a.x, nz.x, sizeof(float) * 300 * 6);
    double s = 0, s2 = 0;
    for (int i = 0; i < 900; i++) { double d = nz.y[i] - a.y[i]; s += d; s2 += d * d; }
    double sd = sqrt(s2 / 900 - (s / 900) * (s / 900));
    assert_true(fabs(sd - 0.5) < 0.05);
    /* labels: argmax, first index on ties */
    int lab[300];
    synth_argmax(a.y, 300, 3, lab);
    for (int i = 0; i < 300; i++)
        for (int j = 0; j < 3; j++) assert_true(a.y[i * 3 + j] <= a.y[i * 3 + lab[i]]);
    float tie[3] = {1.0f, 1.0f, 0.0f};
    synth_argmax(tie, 1, 3, lab);
    assert_int_equal(lab[0], 0);
    free(y);
    synth_free(&a); synth_free(&b); synth_free(&c); synth_free(&nz);
}

static void test_sample_draws_training_rows(void **st)
{
    (void)st;
    synth_set s;
    assert_int_equal(synth_teacher_make(&s, "t", 1, 4, 2, 10, 5, 0.0), 0);
    float xb[8 * 4], yb[8 * 2];
    rng r, r2;
    rng_seed(&r, 3);
    r2 = r;
    synth_sample(&s, 8, &r, xb, yb);
    for (int k = 0; k < 8; k++) {
        size_t i = (size_t)rng_below(&r2, 10);
        assert_memory_equal(xb + k * 4, s.x + i * 4, sizeof(float) * 4);
        assert_memory_equal(yb + k * 2, s.y + i * 2, sizeof(float) * 2);
    }
    synth_free(&s);
}

static void test_refusals(void **st)
{
    (void)st;
    synth_set s;
    assert_int_equal(synth_teacher_make(&s, "t", 1, 0, 2, 10, 5, 0.0), ERR_OUT_OF_RANGE);
    assert_int_equal(synth_teacher_make(&s, "t", 1, 4, 2, 0, 5, 0.0), ERR_OUT_OF_RANGE);
    assert_int_equal(synth_teacher_make(&s, "fam", 1, 100000, 2, 1000000, 5, 0.0), ERR_OUT_OF_RANGE);
    assert_null(s.block);
    synth_free(&s);   /* harmless after a failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_targets_and_seed),
        cmocka_unit_test(test_sample_draws_training_rows),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
