/* test_step_seq.c — src/service/step_seq.c: the sequencing rules of the
 * step protocol (k == last + 1 is applied, k == last is a replay of the
 * stored answer, any other k is step_conflict), the order in which the
 * checks win over one another, and the divergence rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "step_seq.h"

static step_seq_action decide(int64_t last, int64_t k)
{
    step_seq_in in = {.last = last, .k = k, .workers = 1};
    return step_seq_decide(&in);
}

static void test_next_step_is_applied(void **unused)
{
    (void)unused;
    assert_int_equal(decide(0, 1), STEP_SEQ_APPLY);
    assert_int_equal(decide(41, 42), STEP_SEQ_APPLY);
}

static void test_last_step_again_is_a_replay(void **unused)
{
    (void)unused;
    assert_int_equal(decide(1, 1), STEP_SEQ_REPLAY);
    assert_int_equal(decide(42, 42), STEP_SEQ_REPLAY);
}

static void test_any_other_step_conflicts(void **unused)
{
    (void)unused;
    assert_int_equal(decide(0, 0), STEP_SEQ_CONFLICT);    /* step 0 is never a replay */
    assert_int_equal(decide(0, 2), STEP_SEQ_CONFLICT);
    assert_int_equal(decide(5, 4), STEP_SEQ_CONFLICT);
    assert_int_equal(decide(5, 7), STEP_SEQ_CONFLICT);
    assert_int_equal(decide(5, -6), STEP_SEQ_CONFLICT);
    assert_int_equal(decide(5, INT64_MIN), STEP_SEQ_CONFLICT);
}

static void test_diverged_session_still_replays_its_last_answer(void **unused)
{
    (void)unused;
    step_seq_in in = {.last = 9, .k = 9, .workers = 1, .diverged = 1};
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_REPLAY);
    in.k = 10;
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_DIVERGED);
    in.k = 3;
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_DIVERGED);
}

static void test_rejected_non_finite_and_deleted_win(void **unused)
{
    (void)unused;
    step_seq_in in = {.last = 9, .k = 9, .workers = 1, .nonfinite = 1, .deleted = 1};
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_NON_FINITE);
    in.skip_nonfinite = 1;   /* policy skip: the step goes on, counted */
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_DELETED);
    in.deleted = 0;
    in.k = 10;
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_APPLY);
}

static void test_shared_session_gathers_named_workers(void **unused)
{
    (void)unused;
    step_seq_in in = {.last = 3, .k = 4, .workers = 3, .has_worker = 1};
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_GATHER);
    in.has_worker = 0;
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_NO_WORKER);
    in.k = 3;                /* a replay needs no worker name */
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_REPLAY);
    in.k = 5;
    assert_int_equal(step_seq_decide(&in), STEP_SEQ_CONFLICT);
}

static void test_divergence_rule(void **unused)
{
    (void)unused;
    assert_false(step_seq_diverges(0, 1.0, 1e9));        /* off */
    assert_false(step_seq_diverges(10, NAN, 1e9));       /* no best loss yet */
    assert_false(step_seq_diverges(10, 0.0, 1e9));       /* best loss not > 0 */
    assert_false(step_seq_diverges(10, 1.0, 10.0));      /* not above factor x best */
    assert_true(step_seq_diverges(10, 1.0, 10.5));
    assert_false(step_seq_diverges(10, 1.0, INFINITY));  /* non-finite: the non_finite policy's */
    assert_false(step_seq_diverges(10, 1.0, NAN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_step_is_applied),
        cmocka_unit_test(test_last_step_again_is_a_replay),
        cmocka_unit_test(test_any_other_step_conflicts),
        cmocka_unit_test(test_diverged_session_still_replays_its_last_answer),
        cmocka_unit_test(test_rejected_non_finite_and_deleted_win),
        cmocka_unit_test(test_shared_session_gathers_named_workers),
        cmocka_unit_test(test_divergence_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
