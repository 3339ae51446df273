/* test_updbuf.c — reference-counted update vectors: zeroed, aligned, shared
 * while held, freed by the last put (leaks show under make asan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "updbuf.h"

static void test_new_is_zeroed_aligned_and_alone(void **st)
{
    (void)st;
    float *v = updbuf_new(1000);
    assert_non_null(v);
    assert_int_equal((uintptr_t)v % 64, 0);
    for (size_t i = 0; i < 1000; i++) assert_true(v[i] == 0.0f);
    assert_int_equal(updbuf_shared(v), 0);
    updbuf_put(v);
}

static void test_hold_shares_until_put(void **st)
{
    (void)st;
    float *v = updbuf_new(3);
    assert_non_null(v);
    updbuf_hold(v);
    updbuf_hold(v);
    assert_int_equal(updbuf_shared(v), 1);
    updbuf_put(v);
    assert_int_equal(updbuf_shared(v), 1);
    updbuf_put_cb(v);
    assert_int_equal(updbuf_shared(v), 0);
    v[2] = 5.0f;   /* still the owner's */
    updbuf_put(v);
    updbuf_put(NULL);
}

static void test_absurd_size_is_refused(void **st)
{
    (void)st;
    assert_null(updbuf_new(SIZE_MAX / 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_zeroed_aligned_and_alone),
        cmocka_unit_test(test_hold_shares_until_put),
        cmocka_unit_test(test_absurd_size_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
