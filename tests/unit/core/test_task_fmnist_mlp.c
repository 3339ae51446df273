/* test_task_fmnist_mlp.c — fmnist_mlp's layernorm option (its other checks
 * are test_tasks.c's): with layernorm=1 the common family checks
 * (task_family_checks.h) and a gradient check of every coordinate of every
 * tensor, each to its own scale, for each activation; the parameter count
 * and layout (a gain and a bias per hidden layer); layernorm=0 (the
 * default) pinned to the figures the family gave before the option existed
 * (family_fingerprint, recorded at 5a43664); values other than 0 and 1
 * refused.  Reads Debian's Fashion-MNIST through data_cache_source. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "layers.h"
#include "task_family_checks.h"

static void test_fmnist_mlp_layernorm_checks(void **st)
{
    (void)st;
    /* h 1e-3 throughout: a LayerNorm over 6 units curves the loss enough
     * that h 1e-2 leaves a truncation error of ~2e-2 (tanh; 1.4e-4 at 1e-3) */
    static const task_params cases[] = {
        {.width = 6, .depth = 2, .batch = 8, .activation = ACT_TANH, .layernorm = 1},
        {.width = 6, .depth = 3, .batch = 8, .activation = ACT_GELU, .layernorm = 1},
        {.width = 6, .depth = 2, .batch = 8, .activation = ACT_RELU, .layernorm = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        family_check_all("fmnist_mlp", cases[i], 1, 1e-3f, 3e-3, 1e-2, 100);
        task *t = family_make("fmnist_mlp", cases[i], 1);
        family_check_gradient_per_tensor(t, 1e-3f, 1e-2);   /* every coordinate */
        task_free(t);
    }
}

/* depth 2, width 32, 8x8: the plain block plus 2 * 32 per hidden layer,
 * named l<k>.ln.g / l<k>.ln.b after l<k>.b; the weights as without it. */
static void test_fmnist_mlp_layernorm_layout(void **st)
{
    (void)st;
    task *t = family_make("fmnist_mlp", (task_params){.depth = 2, .layernorm = 1}, 1);
    task *o = family_make("fmnist_mlp", (task_params){.depth = 2}, 1);
    assert_int_equal(o->n, 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10);
    assert_int_equal(t->n, o->n + 2 * 2 * 32);
    static const char *const names[] = {"l0.w", "l0.b", "l0.ln.g", "l0.ln.b", "l1.w",
                                        "l1.b", "l1.ln.g", "l1.ln.b", "l2.w", "l2.b"};
    assert_int_equal(t->lay.ntensors, 10);
    for (int i = 0; i < 10; i++) assert_string_equal(t->lay.tensors[i].name, names[i]);
    float *p = malloc(sizeof(float) * t->n), *q = malloc(sizeof(float) * o->n);
    task_init_params(t, 3, p);
    task_init_params(o, 3, q);
    assert_memory_equal(p + t->lay.tensors[4].offset, q + o->lay.tensors[2].offset, sizeof(float) * 32 * 32);
    for (int j = 0; j < 32; j++) {
        assert_true(p[t->lay.tensors[6].offset + j] == 1.0f);
        assert_true(p[t->lay.tensors[7].offset + j] == 0.0f);
    }
    free(p); free(q);
    task_free(t); task_free(o);
}

static void test_fmnist_mlp_layernorm_off_is_unchanged(void **st)
{
    (void)st;
    static const struct { task_params p; size_t n; int nt; double fp[FAMILY_FP_N]; } pins[] = {
        {{0}, 2410, 4,
         {-0.12151335924863815, -0.067432411015033722, 53.185801272262673, 2.3051278619297304,
          0.71596523293508318, 2.3108123776728116, 2.0059989729845098, 1.9732749148506559}},
        {{.depth = 3, .activation = ACT_GELU, .width = 16, .batch = 32, .image_side = 28, .layernorm = 0},
         13274, 8,
         {-0.0347181037068367, -0.049581620842218399, 96.099235953142809, 2.3082507346732473,
          0.89370772074896532, 2.3326225909869414, 2.0728793881100804, 2.045478580204894}},
    };
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        task *t = family_make("fmnist_mlp", pins[i].p, 1);
        assert_int_equal(t->n, pins[i].n);
        assert_int_equal(t->lay.ntensors, pins[i].nt);
        family_check_fingerprint(t, pins[i].fp, 1e-5);
        task_free(t);
    }
}

static void test_fmnist_mlp_layernorm_refusals(void **st)
{
    (void)st;
    task *t = (task *)1;
    const int bad[] = {2, -1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        task_params p = {.layernorm = bad[i], .data = &data_cache_source};
        assert_int_equal(task_create("fmnist_mlp", &p, 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
        assert_non_null(strstr(tasks_last_error(), "layernorm 0 or 1"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmnist_mlp_layernorm_refusals),
        cmocka_unit_test(test_fmnist_mlp_layernorm_layout),
        cmocka_unit_test(test_fmnist_mlp_layernorm_off_is_unchanged),
        cmocka_unit_test(test_fmnist_mlp_layernorm_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
