/* test_registry.c — src/service/registry.c: items stay sorted by id
 * whatever the insertion order (checked against the ids sorted by qsort),
 * lower_bound lands on the first id >= the key (also for absent keys and
 * past the end), find returns the very item or NULL, and remove takes out
 * only the item given (not another item with the same id) and keeps order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "registry.h"

typedef struct { char id[16]; } item;

static const char *item_key(const void *p) { return ((const item *)p)->id; }

static int cmp_str(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void check_sorted(const registry *r)
{
    for (int i = 1; i < r->n; i++) assert_true(strcmp(item_key(r->v[i - 1]), item_key(r->v[i])) < 0);
}

static void test_insert_keeps_order_and_find_returns_the_item(void **state)
{
    (void)state;
    enum { N = 300 };   /* past the first growth (64) several times */
    static item it[N];
    static char ids[N][16];
    registry r;
    registry_init(&r, item_key);
    for (int i = 0; i < N; i++) {
        /* distinct ids in a scrambled order */
        snprintf(it[i].id, sizeof it[i].id, "s%05d", (i * 7919) % N * 3 + 1);
        memcpy(ids[i], it[i].id, sizeof ids[i]);
        assert_int_equal(registry_insert(&r, &it[i]), 0);
        check_sorted(&r);
    }
    assert_int_equal(r.n, N);
    qsort(ids, N, sizeof ids[0], cmp_str);
    for (int i = 0; i < N; i++) assert_string_equal(item_key(r.v[i]), ids[i]);
    for (int i = 0; i < N; i++) assert_ptr_equal(registry_find(&r, it[i].id), &it[i]);
    assert_null(registry_find(&r, "s00000"));   /* ids are 3k+1: absent */
    assert_null(registry_find(&r, "zzz"));
    registry_deinit(&r);
    assert_int_equal(r.n, 0);
}

static void test_lower_bound(void **state)
{
    (void)state;
    item a = {"b"}, b = {"d"}, c = {"f"};
    registry r;
    registry_init(&r, item_key);
    assert_int_equal(registry_lower_bound(&r, "a"), 0);   /* empty */
    assert_int_equal(registry_insert(&r, &c), 0);
    assert_int_equal(registry_insert(&r, &a), 0);
    assert_int_equal(registry_insert(&r, &b), 0);
    assert_int_equal(registry_lower_bound(&r, "a"), 0);
    assert_int_equal(registry_lower_bound(&r, "b"), 0);
    assert_int_equal(registry_lower_bound(&r, "c"), 1);
    assert_int_equal(registry_lower_bound(&r, "d"), 1);
    assert_int_equal(registry_lower_bound(&r, "e"), 2);
    assert_int_equal(registry_lower_bound(&r, "f"), 2);
    assert_int_equal(registry_lower_bound(&r, "g"), 3);
    registry_deinit(&r);
}

static void test_remove_takes_only_that_item(void **state)
{
    (void)state;
    item a = {"a"}, b = {"b"}, c = {"c"}, other_b = {"b"};
    registry r;
    registry_init(&r, item_key);
    assert_int_equal(registry_insert(&r, &a), 0);
    assert_int_equal(registry_insert(&r, &b), 0);
    assert_int_equal(registry_insert(&r, &c), 0);
    assert_int_equal(registry_remove(&r, &other_b), 0);   /* same id, another item */
    assert_int_equal(r.n, 3);
    assert_int_equal(registry_remove(&r, &b), 1);
    assert_int_equal(r.n, 2);
    assert_ptr_equal(r.v[0], &a);
    assert_ptr_equal(r.v[1], &c);
    assert_null(registry_find(&r, "b"));
    assert_int_equal(registry_remove(&r, &b), 0);          /* already gone */
    assert_int_equal(registry_remove(&r, &c), 1);          /* the last one */
    assert_int_equal(registry_remove(&r, &a), 1);
    assert_int_equal(r.n, 0);
    registry_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_keeps_order_and_find_returns_the_item),
        cmocka_unit_test(test_lower_bound),
        cmocka_unit_test(test_remove_takes_only_that_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
