/* test_tasks_arena.c — tasks_arena_alloc: every buffer 64-byte aligned,
 * disjoint and writable; sizes whose total (or a single product) passes the
 * limit, including ones that overflow size_t, refused with ERR_OUT_OF_RANGE
 * and a message naming the family, leaving every pointer NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tasks.h"
#include "tasks_arena.h"

static void test_buffers_aligned_disjoint_writable(void **st)
{
    (void)st;
    float *a, *b;
    int *c;
    double *d;
    void *block;
    const tasks_buf bufs[] = {{(void **)&a, 3, sizeof(float)}, {(void **)&b, 100, sizeof(float)},
                              {(void **)&c, 0, sizeof(int)}, {(void **)&d, 17, sizeof(double)}};
    assert_int_equal(tasks_arena_alloc("fam", bufs, 4, &block), 0);
    assert_non_null(block);
    void *ptrs[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) assert_int_equal((uintptr_t)ptrs[i] % 64, 0);
    assert_true((char *)b >= (char *)a + 3 * sizeof(float));
    assert_true((char *)c >= (char *)b + 100 * sizeof(float));
    assert_true((char *)d >= (char *)c);
    memset(a, 1, 3 * sizeof(float));
    memset(b, 2, 100 * sizeof(float));
    memset(d, 3, 17 * sizeof(double));
    assert_int_equal(((unsigned char *)a)[11], 1);
    assert_int_equal(((unsigned char *)b)[0], 2);
    free(block);
}

static void test_too_large_refused(void **st)
{
    (void)st;
    float *a = (float *)1, *b = (float *)1;
    void *block = (void *)1;
    /* each half the limit is fine alone; together one element too many */
    const tasks_buf over2[] = {{(void **)&a, TASKS_ARENA_MAX / 8, 4}, {(void **)&b, TASKS_ARENA_MAX / 8 + 1, 4}};
    assert_int_equal(tasks_arena_alloc("famX", over2, 2, &block), ERR_OUT_OF_RANGE);
    assert_null(block); assert_null(a); assert_null(b);
    assert_non_null(strstr(tasks_last_error(), "famX"));
    const tasks_buf wrap[] = {{(void **)&a, SIZE_MAX / 2, 4}};   /* count * elem overflows */
    assert_int_equal(tasks_arena_alloc("famY", wrap, 1, &block), ERR_OUT_OF_RANGE);
    assert_null(block);
    assert_non_null(strstr(tasks_last_error(), "famY"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffers_aligned_disjoint_writable),
        cmocka_unit_test(test_too_large_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
