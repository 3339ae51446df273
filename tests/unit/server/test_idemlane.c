/* test_idemlane.c — src/server/idemlane.c: the same (tenant, route, key) gets
 * the same lane while it is in use, so that its jobs run one after the other
 * (pool.h); another tenant, route or key gets another lane; entries are
 * counted while referenced and freed by the last reference, after which the
 * key starts afresh with an idle lane. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "idemlane.h"

static void test_idemlane_same_key_shares_one_lane_others_do_not(void **st)
{
    (void)st;
    idemlane *a = idemlane_get("t1", "sessions_create", "K");
    idemlane *a2 = idemlane_get("t1", "sessions_create", "K");
    assert_non_null(a);
    assert_ptr_equal(a, a2);
    assert_ptr_equal(idemlane_lane(a), idemlane_lane(a2));
    idemlane *others[] = {idemlane_get("t1", "sessions_create", "K2"), idemlane_get("t1", "feedback/x", "K"),
                          idemlane_get("t2", "sessions_create", "K"),
                          /* the parts are delimited: "t1"+"sessions_createK" is not "t1sessions_create"+"K" */
                          idemlane_get("t1s", "essions_create", "K")};
    for (int i = 0; i < 4; i++) {
        assert_non_null(others[i]);
        assert_ptr_not_equal(idemlane_lane(others[i]), idemlane_lane(a));
        for (int k = 0; k < i; k++) assert_ptr_not_equal(others[i], others[k]);
    }
    assert_int_equal(idemlane_count(), 5);
    for (int i = 0; i < 4; i++) idemlane_put(others[i]);
    assert_int_equal(idemlane_count(), 1);
    idemlane_put(a);
    assert_int_equal(idemlane_count(), 1);      /* a2 still holds it */
    idemlane_put(a2);
    assert_int_equal(idemlane_count(), 0);
    idemlane_put(NULL);
}

static void test_idemlane_a_fresh_entry_has_an_idle_lane(void **st)
{
    (void)st;
    idemlane *a = idemlane_get("t", "r", "k");
    pool_lane *l = idemlane_lane(a);
    assert_null(l->head);
    assert_int_equal(l->queued, 0);
    assert_int_equal(l->scheduled, 0);
    idemlane_put(a);
    assert_int_equal(idemlane_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idemlane_same_key_shares_one_lane_others_do_not),
        cmocka_unit_test(test_idemlane_a_fresh_entry_has_an_idle_lane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
