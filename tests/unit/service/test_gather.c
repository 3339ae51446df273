/* test_gather.c — src/service/gather.c: a shared step is the mean of its K
 * workers' gradients, its loss the mean of the finite losses, one skipped
 * worker skips it; a worker sending again overwrites its own slot instead
 * of counting twice; a cleared gather starts over; gather_mean_by_name
 * sums in the workers' name order, whatever order they came in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "errors.h"
#include "gather.h"

static void test_mean_of_three_workers(void **unused)
{
    (void)unused;
    gather g;
    assert_int_equal(gather_init(&g, 3, 2), 0);
    const float a[2] = {1, 2}, b[2] = {3, 4}, c[2] = {5, -9};
    int existed;
    gather_put(&g, gather_slot(&g, "a", &existed), a, 1.0, 0);
    assert_false(existed);
    gather_put(&g, gather_slot(&g, "b", &existed), b, NAN, 0);
    assert_false(gather_full(&g));
    gather_put(&g, gather_slot(&g, "c", &existed), c, 4.0, 0);
    assert_true(gather_full(&g));
    double loss;
    int skip;
    const float *m = gather_mean(&g, &loss, &skip);
    assert_true(m[0] == 3.0f);
    assert_true(m[1] == -1.0f);
    assert_true(loss == 2.5);   /* (1 + 4) / 2: b sent none */
    assert_int_equal(skip, 0);
    gather_deinit(&g);
}

static void test_same_worker_again_overwrites_its_slot(void **unused)
{
    (void)unused;
    gather g;
    assert_int_equal(gather_init(&g, 2, 1), 0);
    const float one = 1, ten = 10, three = 3;
    int existed;
    int j = gather_slot(&g, "w", &existed);
    gather_put(&g, j, &one, 1, 0);
    int j2 = gather_slot(&g, "w", &existed);
    assert_int_equal(j2, j);
    assert_true(existed);
    assert_int_equal(g.npend, 1);
    gather_put(&g, j2, &ten, 1, 0);
    gather_put(&g, gather_slot(&g, "v", &existed), &three, 1, 0);
    double loss;
    int skip;
    assert_true(gather_mean(&g, &loss, &skip)[0] == 6.5f);
    gather_deinit(&g);
}

static void test_one_skipped_worker_skips_the_step(void **unused)
{
    (void)unused;
    gather g;
    assert_int_equal(gather_init(&g, 2, 2), 0);
    const float a[2] = {2, 2}, bad[2] = {NAN, INFINITY};
    int existed;
    gather_put(&g, gather_slot(&g, "a", &existed), a, NAN, 0);
    gather_put(&g, gather_slot(&g, "b", &existed), bad, INFINITY, 1);
    double loss;
    int skip;
    const float *m = gather_mean(&g, &loss, &skip);
    assert_int_equal(skip, 1);
    assert_true(isnan(loss));
    assert_true(m[0] == 1.0f && m[1] == 1.0f);   /* the skipped slot holds zeros */
    gather_deinit(&g);
}

static void test_clear_starts_a_new_step(void **unused)
{
    (void)unused;
    gather g;
    assert_int_equal(gather_init(&g, 2, 1), 0);
    const float x = 1;
    int existed;
    gather_put(&g, gather_slot(&g, "a", &existed), &x, 1, 0);
    gather_clear(&g);
    assert_int_equal(g.npend, 0);
    gather_slot(&g, "a", &existed);
    assert_false(existed);
    assert_int_equal(g.npend, 1);
    gather_deinit(&g);
    gather_deinit(&g);   /* deinit twice is harmless */
}

/* Values whose float sum depends on the order: 1e8, 1, −1e8 in float32
 * give 0 or 1 depending on what is added first; the doubles here do not
 * lose the 1, and the name order fixes the sequence anyway. */
static void test_mean_by_name_ignores_arrival_order(void **unused)
{
    (void)unused;
    const char *names[3] = {"b", "c", "a"};
    const float rows[3][2] = {{1e8f, 0.5f}, {1.0f, 0.25f}, {-1e8f, 2.0f}};
    const int orders[2][3] = {{0, 1, 2}, {2, 1, 0}};
    double out[2][2];
    for (int o = 0; o < 2; o++) {
        gather g;
        assert_int_equal(gather_init(&g, 3, 2), 0);
        for (int k = 0; k < 3; k++) {
            int i = orders[o][k], existed;
            gather_put(&g, gather_slot(&g, names[i], &existed), rows[i], NAN, 0);
        }
        assert_int_equal(gather_mean_by_name(&g, out[o]), 0);
        /* the slots are left as they were */
        assert_true(g.grads[0] == rows[orders[o][0]][0]);
        gather_deinit(&g);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_true(out[0][0] == 1.0 / 3 && out[0][1] == 2.75 / 3);
    gather g;
    assert_int_equal(gather_init(&g, 2, 2), 0);
    assert_int_equal(gather_mean_by_name(&g, out[0]), ERR_INVALID_ARGUMENT);   /* no slot */
    gather_deinit(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_of_three_workers),
        cmocka_unit_test(test_same_worker_again_overwrites_its_slot),
        cmocka_unit_test(test_one_skipped_worker_skips_the_step),
        cmocka_unit_test(test_clear_starts_a_new_step),
        cmocka_unit_test(test_mean_by_name_ignores_arrival_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
