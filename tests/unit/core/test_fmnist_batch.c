/* test_fmnist_batch.c — fmnist_batch.h on Debian's Fashion-MNIST: an 8x8
 * image is the source's downsample and a 28x28 one the raw bytes / 255; a
 * minibatch holds the images and labels of rng_below(r, n_train) drawn in
 * order (replayed here on a copy of the rng) and never an index >= n_train;
 * test rows are the test split's; a task without a data source gets
 * ERR_NOT_FOUND naming the family. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "data_cache.h"
#include "errors.h"
#include "fmnist_batch.h"

static const task_fmnist_data *load(void)
{
    const task_fmnist_data *d = NULL;
    assert_int_equal(data_cache_source.fmnist(data_cache_source.ctx, NULL, &d), 0);
    assert_non_null(d);
    return d;
}

static void test_images(void **st)
{
    (void)st;
    const task_fmnist_data *d = load();
    float a[784];
    fmnist_image(d, 8, 0, 5, a);
    assert_memory_equal(a, d->train8 + 5 * 64, 64 * sizeof(float));
    fmnist_image(d, 8, 1, 7, a);
    assert_memory_equal(a, d->test8 + 7 * 64, 64 * sizeof(float));
    fmnist_image(d, 28, 0, 3, a);
    for (int k = 0; k < 784; k++) assert_true(a[k] == d->train28[3 * 784 + k] * (1.0f / 255.0f));
    fmnist_image(d, 28, 1, 9, a);
    for (int k = 0; k < 784; k++) assert_true(a[k] == d->test28[9 * 784 + k] * (1.0f / 255.0f));
}

static void test_sample_and_test_rows(void **st)
{
    (void)st;
    const task_fmnist_data *d = load();
    enum { B = 12, NT = 37 };
    float x[B * 64], want[64];
    int y[B];
    rng r, r2;
    rng_seed(&r, 4);
    r2 = r;
    fmnist_sample(d, 8, NT, B, &r, x, y);
    for (int k = 0; k < B; k++) {
        int i = (int)rng_below(&r2, NT);
        assert_true(i < NT);
        assert_memory_equal(x + k * 64, d->train8 + (size_t)i * 64, sizeof want);
        assert_int_equal(y[k], d->train_y[i]);
    }
    /* labels optional: the same images without them */
    float x2[B * 64];
    rng_seed(&r, 4);
    fmnist_sample(d, 8, NT, B, &r, x2, NULL);
    assert_memory_equal(x, x2, sizeof x);
    fmnist_test_rows(d, 8, 10, 3, x, y);
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(x + k * 64, d->test8 + (size_t)(10 + k) * 64, sizeof want);
        assert_int_equal(y[k], d->test_y[10 + k]);
    }
}

static void test_no_source(void **st)
{
    (void)st;
    task t;
    memset(&t, 0, sizeof t);
    const task_fmnist_data *d = (const task_fmnist_data *)1;
    assert_int_equal(fmnist_open(&t, "famZ", &d), ERR_NOT_FOUND);
    assert_null(d);
    assert_non_null(strstr(tasks_last_error(), "famZ"));
    t.p.data = &data_cache_source;
    assert_int_equal(fmnist_open(&t, "famZ", &d), 0);
    assert_non_null(d);
    assert_true(d->n_train > 0 && d->n_test > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_sample_and_test_rows),
        cmocka_unit_test(test_no_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
