/* test_session_timers.c — src/service/session_timers.c over a real store
 * (session_fixture.h), with the clock the test sets: a shared step whose
 * workers do not all arrive within step_timeout is answered step_timeout
 * (not a moment before: the deadline is read from hooks.now_mono, not
 * waited for); the drain answers parked workers shutting_down; the
 * checkpoint_interval scan snapshots a durability=checkpoint session with
 * unsaved steps; the final checkpoint queues a snapshot of every session
 * with unsaved steps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "service/session_fixture.h"

static const char *const SHARED2 = "{\"optimizer\":\"sgd\",\"workers\":2,\"tensors\":[{\"shape\":[2]}]}";

static void test_shared_step_times_out(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();   /* step_timeout 5 s */
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SHARED2);
    const float g[2] = {1, 2};
    int wa, wb;
    session_answer a;
    step_request sr = fx_req(1, g, NAN, "a");
    assert_int_equal(session_step(s, &wa, &sr, &a), 1);
    g_now += 4.9;
    sessions_tick(reg, g_now);
    assert_int_equal(g_nanswers, 0);
    g_now += 0.2;
    sessions_tick(reg, g_now);
    assert_int_equal(g_nanswers, 1);
    assert_ptr_equal(g_answers[0].waiter, &wa);
    assert_int_equal(g_answers[0].a.err, ERR_STEP_TIMEOUT);
    assert_non_null(strstr(g_answers[0].a.msg, "only 1 of 2 workers"));
    assert_true(fx_describe_num(s, "pending_workers") == 0);
    /* the step starts over: both workers again, and it is applied */
    assert_int_equal(session_step(s, &wa, &sr, &a), 1);
    sr = fx_req(1, g, NAN, "b");
    assert_int_equal(session_step(s, &wb, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(g_nanswers, 2);
    assert_int_equal(g_answers[1].a.err, 0);
    sessions_tick(reg, g_now + 100);
    assert_int_equal(g_nanswers, 2);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

static void test_drain_answers_parked_workers(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SHARED2);
    const float g[2] = {1, 2};
    int wa;
    session_answer a;
    step_request sr = fx_req(1, g, NAN, "a");
    assert_int_equal(session_step(s, &wa, &sr, &a), 1);
    sessions_release_waiters(reg);
    assert_int_equal(g_nanswers, 1);
    assert_int_equal(g_answers[0].a.err, ERR_SHUTTING_DOWN);
    sessions_release_waiters(reg);   /* nothing parked: nothing answered twice */
    assert_int_equal(g_nanswers, 1);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

static void test_checkpoint_interval_and_final_checkpoint(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();   /* every 100 steps or 30 s */
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[2]}]}");
    session *t = fx_create(reg, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[2]}]}");
    const float g[2] = {1, 2};
    int w;
    session_answer a;
    for (int64_t k = 1; k <= 2; k++) {
        step_request sr = fx_req(k, g, 1.0, NULL);
        assert_int_equal(session_step(s, &w, &sr, &a), 0);
    }
    sessions_tick(reg, g_now + 29);
    assert_int_equal(store_flush(db), 0);
    assert_int_equal(fx_stored_step(db, session_id(s)), 0);
    sessions_tick(reg, g_now + 30);
    assert_int_equal(store_flush(db), 0);
    assert_int_equal(fx_stored_step(db, session_id(s)), 2);
    assert_true(fx_describe_num(s, "saved_step") == 2);
    /* one more step on each: the final checkpoint saves both */
    step_request sr = fx_req(3, g, 1.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &a), 0);
    sr = fx_req(1, g, 1.0, NULL);
    assert_int_equal(session_step(t, &w, &sr, &a), 0);
    assert_int_equal(sessions_checkpoint_all(reg), 0);
    assert_int_equal(store_flush(db), 0);
    assert_int_equal(fx_stored_step(db, session_id(s)), 3);
    assert_int_equal(fx_stored_step(db, session_id(t)), 1);
    session_unref(s);
    session_unref(t);
    sessions_free(reg);
    store_close(db);
}

int main(void)
{
    if (fx_dir("test_session_timers") != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_step_times_out, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_drain_answers_parked_workers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_interval_and_final_checkpoint, fx_setup, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
