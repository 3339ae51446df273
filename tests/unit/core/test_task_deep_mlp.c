/* test_task_deep_mlp.c — the deep_mlp family: the common family checks
 * (task_family_checks.h) at depths 2 and 6 with each activation, its
 * defaults and layout, that the seed picks the data, and its refusals.
 * Tolerance 3e-3 as for the other float32 networks; the relu case uses a
 * small h (1e-3) so a step rarely crosses a kink.
 *
 * layernorm=1: the family checks and a gradient check of every coordinate
 * of every tensor (each tensor to its own scale, so the LayerNorm gains and
 * biases are checked, not drowned by the weights) for each activation; the
 * parameter count and layout (a gain and a bias per hidden layer), the
 * weights drawn as without it; and layernorm=0 (the default) pinned to the
 * figures the family gave before the option existed (recorded at 5a43664). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "layers.h"
#include "task_family_checks.h"

static void test_deep_mlp_checks(void **st)
{
    (void)st;
    task_params a = {.depth = 2, .width = 8, .dim = 5, .classes = 3, .batch = 8, .n_train = 100,
                     .activation = ACT_TANH};
    family_check_all("deep_mlp", a, 11, 1e-2f, 3e-3, 1e-2, 100);
    task_params b = {.depth = 6, .width = 8, .dim = 5, .classes = 4, .batch = 8, .n_train = 100,
                     .activation = ACT_GELU};
    family_check_all("deep_mlp", b, 12, 1e-2f, 3e-3, 1e-2, 100);
    task_params c = {.depth = 4, .width = 8, .dim = 6, .classes = 5, .batch = 8, .n_train = 100,
                     .activation = ACT_RELU};
    family_check_all("deep_mlp", c, 13, 1e-3f, 3e-3, 1e-2, 100);
}

static void test_deep_mlp_defaults_and_seed(void **st)
{
    (void)st;
    task *t = family_make("deep_mlp", (task_params){0}, 1), *o = family_make("deep_mlp", (task_params){0}, 2);
    assert_int_equal(t->p.depth, 3);
    assert_int_equal(t->p.width, 32);
    assert_int_equal(t->p.dim, 16);
    assert_int_equal(t->p.classes, 10);
    assert_int_equal(t->lay.ntensors, 8);
    assert_int_equal(t->lay.tensors[0].shape[0], 16);
    assert_int_equal(t->lay.tensors[6].shape[1], 10);
    assert_int_equal(t->n, 16 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10);
    float *p = malloc(sizeof(float) * t->n);
    task_init_params(t, 3, p);
    /* another seed, other data */
    assert_true(task_eval_loss(t, p) != task_eval_loss(o, p));
    free(p);
    family_check_adam_lowers_loss(t, 3e-3, 150);
    task_free(t); task_free(o);
}

static void test_deep_mlp_layernorm_checks(void **st)
{
    (void)st;
    task_params a = {.depth = 2, .width = 8, .dim = 5, .classes = 3, .batch = 8, .n_train = 100,
                     .activation = ACT_TANH, .layernorm = 1};
    task_params b = {.depth = 6, .width = 8, .dim = 5, .classes = 4, .batch = 8, .n_train = 100,
                     .activation = ACT_GELU, .layernorm = 1};
    task_params c = {.depth = 4, .width = 8, .dim = 6, .classes = 5, .batch = 8, .n_train = 100,
                     .activation = ACT_RELU, .layernorm = 1};
    family_check_all("deep_mlp", a, 11, 1e-2f, 3e-3, 1e-2, 100);
    family_check_all("deep_mlp", b, 12, 1e-2f, 3e-3, 1e-2, 100);
    family_check_all("deep_mlp", c, 13, 1e-3f, 3e-3, 1e-2, 100);
    /* every coordinate, h 1e-3: 1e-2 leaves a truncation error near 1e-2 at depth 6 */
    const task_params *all[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        task *t = family_make("deep_mlp", *all[i], 21 + (uint64_t)i);
        family_check_gradient_per_tensor(t, 1e-3f, 1e-2);
        task_free(t);
    }
}

/* Default sizes with layernorm=1: the plain block plus a gain and a bias of
 * 32 per hidden layer, after that layer's bias; gains 1, biases 0 at init
 * and every weight and bias as the plain task draws them; another loss. */
static void test_deep_mlp_layernorm_layout_and_init(void **st)
{
    (void)st;
    task *t = family_make("deep_mlp", (task_params){.layernorm = 1}, 1);
    task *o = family_make("deep_mlp", (task_params){0}, 1);
    assert_int_equal(t->p.layernorm, 1);
    assert_int_equal(o->p.layernorm, 0);
    assert_int_equal(t->n, o->n + 3 * 2 * 32);
    assert_int_equal(t->n, 16 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10 + 3 * 2 * 32);
    assert_int_equal(t->lay.ntensors, 8 + 3 * 2);
    static const char *const names[] = {"l0.w", "l0.b", "l0.ln.g", "l0.ln.b", "l1.w", "l1.b", "l1.ln.g",
                                        "l1.ln.b", "l2.w", "l2.b", "l2.ln.g", "l2.ln.b", "l3.w", "l3.b"};
    for (int i = 0; i < 14; i++) assert_string_equal(t->lay.tensors[i].name, names[i]);
    assert_int_equal(t->lay.tensors[2].ndim, 1);
    assert_int_equal(t->lay.tensors[2].shape[0], 32);
    assert_int_equal(t->lay.tensors[13].shape[0], 10);
    float *p = malloc(sizeof(float) * t->n), *q = malloc(sizeof(float) * o->n);
    task_init_params(t, 3, p);
    task_init_params(o, 3, q);
    for (int i = 0, j = 0; i < t->lay.ntensors; i++) {
        const layout_tensor *a = &t->lay.tensors[i];
        if (strstr(a->name, ".ln.")) {
            float want = strstr(a->name, ".ln.g") ? 1.0f : 0.0f;
            for (size_t k = 0; k < a->size; k++) assert_true(p[a->offset + k] == want);
            continue;
        }
        const layout_tensor *b = &o->lay.tensors[j++];
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->size, b->size);
        assert_memory_equal(p + a->offset, q + b->offset, sizeof(float) * a->size);
    }
    assert_true(task_eval_loss(t, p) != task_eval_loss(o, q));
    free(p); free(q);
    task_free(t); task_free(o);
    /* depth 6, width 16: 6 hidden layers, 2 * 16 more each */
    t = family_make("deep_mlp", (task_params){.depth = 6, .width = 16, .layernorm = 1}, 1);
    o = family_make("deep_mlp", (task_params){.depth = 6, .width = 16}, 1);
    assert_int_equal(t->n, o->n + 6 * 2 * 16);
    assert_int_equal(t->lay.ntensors, o->lay.ntensors + 12);
    task_free(t); task_free(o);
}

/* layernorm=0, given or by default, gives what the family gave before the
 * option existed: family_fingerprint's figures recorded at 5a43664. */
static void test_deep_mlp_layernorm_off_is_unchanged(void **st)
{
    (void)st;
    static const struct { task_params p; uint64_t seed; size_t n; int nt; double fp[FAMILY_FP_N]; } pins[] = {
        {{0}, 7, 2986, 8,
         {-0.24302671849727631, 0.14184127748012543, 180.6950281605524, 2.7900120727908395,
          1.8756984688670604, 2.8933829678048673, 2.2830616163663349, 2.2966218322287282}},
        {{.depth = 6, .activation = ACT_GELU, .width = 16}, 8, 1802, 14,
         {-0.24302671849727631, -0.54674011468887329, 200.80047191423535, 2.9014384899216816,
          2.766023051433367, 2.6330028591605075, 2.2935370214577975, 2.2981571559074383}},
        {{.depth = 2, .activation = ACT_TANH, .layernorm = 0}, 9, 1930, 6,
         {-0.24302671849727631, 0.5040053129196167, 75.823024965331697, 2.5256045740411297,
          1.0267499879690147, 2.4364110886372412, 2.1992249744370089, 2.1148779889523519}},
    };
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        task *t = family_make("deep_mlp", pins[i].p, pins[i].seed);
        assert_int_equal(t->n, pins[i].n);
        assert_int_equal(t->lay.ntensors, pins[i].nt);
        for (int k = 0; k < t->lay.ntensors; k++) assert_null(strstr(t->lay.tensors[k].name, ".ln."));
        family_check_fingerprint(t, pins[i].fp, 1e-5);
        task_free(t);
    }
}

static void test_deep_mlp_refusals(void **st)
{
    (void)st;
    task *t = (task *)1;
    task_params bad[] = {{.depth = 1}, {.depth = 7}, {.classes = 1}, {.dim = -1}, {.width = 5000},
                         {.n_train = -5}, {.activation = 9}, {.layernorm = 2}, {.layernorm = -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(task_create("deep_mlp", &bad[i], 1, &t), ERR_OUT_OF_RANGE);
        assert_null(t);
        assert_non_null(strstr(tasks_last_error(), "deep_mlp"));
    }
    /* a data size beyond the scratch limit is refused before allocating */
    task_params huge = {.dim = 4096, .n_train = 1000000};
    assert_int_equal(task_create("deep_mlp", &huge, 1, &t), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(tasks_last_error(), "MiB"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_mlp_refusals),
        cmocka_unit_test(test_deep_mlp_checks),
        cmocka_unit_test(test_deep_mlp_defaults_and_seed),
        cmocka_unit_test(test_deep_mlp_layernorm_checks),
        cmocka_unit_test(test_deep_mlp_layernorm_layout_and_init),
        cmocka_unit_test(test_deep_mlp_layernorm_off_is_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
