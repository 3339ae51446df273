/* test_session_step.c — the step protocol of src/service/session_step.c,
 * driven without a socket over a real store (session_fixture.h):
 * sequencing (a retried step answers the stored update and applies nothing;
 * any other step is step_conflict with expected = last+1; the non_finite
 * policies), the shared-worker gather with parked waiters (a second request
 * of the same worker supersedes the first, which is answered
 * worker_conflict; the last worker's step answers every waiter with the
 * update of the mean), divergence (rolled back to the stored state, further
 * steps refused, the retry of the last good step still answered) and
 * durability=step (a step is acknowledged only once its snapshot is
 * committed; a failed commit undoes it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "service/session_fixture.h"
#include "vecmath.h"

static const char *const SGD4 = "{\"optimizer\":\"sgd\",\"hyperparams\":{\"lr\":0.5},\"tensors\":[{\"shape\":[4]}]}";

static void test_retry_replays_and_other_steps_conflict(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SGD4);
    const float g1[4] = {1, 2, 3, 4}, other[4] = {9, 9, 9, 9};
    int w1, w2, w3;
    session_answer a;

    step_request sr = fx_req(1, g1, 1.0, NULL);
    assert_int_equal(session_step(s, &w1, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 1);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.applied, 1);
    for (int i = 0; i < 4; i++) assert_true(a.update[i] == -0.5f * g1[i]);
    fx_params p1 = fx_read_params(s);
    assert_int_equal(p1.step, 1);
    assert_int_equal(g_nstepped, 1);
    assert_int_equal(g_last_metric.step, 1);

    /* the retry of step 1 with other gradients: the stored answer, nothing applied */
    sr = fx_req(1, other, 0.5, NULL);
    sr.encoding = 7;   /* passed through untouched */
    assert_int_equal(session_step(s, &w2, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 1);
    assert_int_equal(a.encoding, 7);
    for (int i = 0; i < 4; i++) assert_true(a.update[i] == -0.5f * g1[i]);
    fx_params p2 = fx_read_params(s);
    assert_memory_equal(p1.v, p2.v, sizeof p1.v);
    assert_int_equal(g_nstepped, 1);

    /* ahead, and behind: step_conflict with the step expected */
    int64_t bad[] = {3, 0, 100};
    for (int i = 0; i < 3; i++) {
        sr = fx_req(bad[i], other, 1.0, NULL);
        assert_int_equal(session_step(s, &w3, &sr, &a), 0);
        assert_int_equal(a.err, ERR_STEP_CONFLICT);
        assert_int_equal(a.expected, 2);
        assert_non_null(strstr(a.msg, "not the next step (2)"));
    }
    assert_int_equal(fx_read_params(s).step, 1);
    assert_int_equal(g_nstepped, 1);
    assert_int_equal(g_nanswers, 0);   /* nothing was parked */
    session_unref(s);
    sessions_free(reg);
    assert_int_equal(g_attached, 0);
    store_close(db);
}

static void test_non_finite_reject_and_skip(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *rej = fx_create(reg, SGD4);
    session *skp = fx_create(reg, "{\"optimizer\":\"sgd\",\"non_finite\":\"skip\",\"tensors\":[{\"shape\":[4]}]}");
    const float g[4] = {1, NAN, 3, 4};
    int w;
    session_answer a;
    step_request sr = fx_req(1, g, 1.0, NULL);
    sr.nonfinite = 1;
    fx_params before = fx_read_params(rej);
    assert_int_equal(session_step(rej, &w, &sr, &a), 0);
    assert_int_equal(a.err, ERR_NON_FINITE);
    assert_int_equal(fx_read_params(rej).step, 0);
    assert_memory_equal(before.v, fx_read_params(rej).v, sizeof before.v);

    before = fx_read_params(skp);
    assert_int_equal(session_step(skp, &w, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 1);
    assert_int_equal(a.applied, 0);
    for (int i = 0; i < 4; i++) assert_true(a.update[i] == 0.0f);
    fx_params after = fx_read_params(skp);
    assert_int_equal(after.step, 1);
    assert_memory_equal(before.v, after.v, sizeof before.v);
    session_unref(rej);
    session_unref(skp);
    sessions_free(reg);
    store_close(db);
}

static const char *const SHARED2 = "{\"optimizer\":\"sgd\",\"hyperparams\":{\"lr\":1},\"workers\":2,"
                                   "\"tensors\":[{\"shape\":[4]}]}";

static void test_gather_supersedes_and_answers_every_waiter(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SHARED2);
    const float ga_old[4] = {100, 100, 100, 100}, ga[4] = {1, 2, 3, 4}, gb[4] = {3, 2, 1, 0};
    int wa_old, wa, wb, wn;
    session_answer a;

    /* no worker named: refused, nothing gathered */
    step_request sr = fx_req(1, ga, NAN, NULL);
    assert_int_equal(session_step(s, &wn, &sr, &a), 0);
    assert_int_equal(a.err, ERR_BAD_HEADER);

    sr = fx_req(1, ga_old, 2.0, "a");
    sr.encoding = 1;
    assert_int_equal(session_step(s, &wa_old, &sr, &a), 1);   /* parked */
    assert_int_equal(g_nanswers, 0);
    assert_true(fx_describe_num(s, "pending_workers") == 1);

    /* worker a again (a retry after a lost connection): the first request
     * is answered worker_conflict, the newer one takes its slot */
    sr = fx_req(1, ga, 2.0, "a");
    sr.encoding = 2;
    assert_int_equal(session_step(s, &wa, &sr, &a), 1);
    assert_int_equal(g_nanswers, 1);
    assert_ptr_equal(g_answers[0].waiter, &wa_old);
    assert_int_equal(g_answers[0].a.err, ERR_WORKER_CONFLICT);
    assert_int_equal(g_answers[0].a.encoding, 1);
    assert_non_null(strstr(g_answers[0].a.msg, "superseded"));
    assert_true(fx_describe_num(s, "pending_workers") == 1);
    assert_int_equal(g_nstepped, 0);

    /* worker b completes the step: the mean of a's newer and b's gradients */
    sr = fx_req(1, gb, 4.0, "b");
    sr.encoding = 3;
    assert_int_equal(session_step(s, &wb, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 1);
    assert_int_equal(a.encoding, 3);
    for (int i = 0; i < 4; i++) assert_true(a.update[i] == -0.5f * (ga[i] + gb[i]));
    assert_int_equal(g_nanswers, 2);
    assert_ptr_equal(g_answers[1].waiter, &wa);
    assert_int_equal(g_answers[1].a.err, 0);
    assert_int_equal(g_answers[1].a.step, 1);
    assert_int_equal(g_answers[1].a.encoding, 2);
    assert_memory_equal(g_answers[1].update, a.update, 4 * sizeof(float));
    assert_int_equal(g_nstepped, 1);
    assert_true(g_last_metric.loss == 3.0);   /* the mean of the workers' losses */
    assert_true(fx_describe_num(s, "pending_workers") == 0);

    /* a retry of step 1 by a worker is answered at once, not gathered */
    sr = fx_req(1, ga, 2.0, "a");
    assert_int_equal(session_step(s, &wa, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 1);
    assert_int_equal(g_nanswers, 2);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

static const char *const DIVERGING = "{\"optimizer\":\"sgd\",\"hyperparams\":{\"lr\":0.1},\"divergence_factor\":2,"
                                     "\"tensors\":[{\"shape\":[4]}]}";

static void test_divergence_rolls_back_to_the_stored_state(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    cfg.checkpoint_every = 2;
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, DIVERGING);
    const float g[4] = {1, -1, 2, -2};
    int w;
    session_answer a;
    double loss[] = {1.0, 0.9, 0.8};
    fx_params at2 = {0};
    float update2[4];
    for (int k = 1; k <= 3; k++) {
        step_request sr = fx_req(k, g, loss[k - 1], NULL);
        assert_int_equal(session_step(s, &w, &sr, &a), 0);
        assert_int_equal(a.err, 0);
        if (k == 2) {
            at2 = fx_read_params(s);
            memcpy(update2, a.update, sizeof update2);
        }
    }
    /* step 4's loss is above twice the best (0.8): the session diverges and
     * goes back to its newest snapshot, step 2 */
    step_request sr = fx_req(4, g, 10.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &a), 0);
    assert_int_equal(a.err, ERR_SESSION_DIVERGED);
    assert_non_null(strstr(a.msg, "rolled back to step 2"));
    fx_params now = fx_read_params(s);
    assert_int_equal(now.step, 2);
    assert_memory_equal(now.v, at2.v, sizeof now.v);
    char status[16];
    fx_describe_status(s, status, sizeof status);
    assert_string_equal(status, "diverged");
    assert_true(fx_describe_num(s, "rolled_back_to") == 2);

    /* the next step is refused; the retry of step 2 still gets its answer */
    sr = fx_req(3, g, 0.5, NULL);
    assert_int_equal(session_step(s, &w, &sr, &a), 0);
    assert_int_equal(a.err, ERR_SESSION_DIVERGED);
    sr = fx_req(2, g, 0.9, NULL);
    assert_int_equal(session_step(s, &w, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 2);
    assert_memory_equal(a.update, update2, sizeof update2);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

/* A session big enough that its snapshot cannot fit in the free pages of
 * the file once it may not grow. */
#define BIG_N 65536

static void test_durability_step_acknowledges_only_what_is_committed(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    char body[160];
    snprintf(body, sizeof body, "{\"optimizer\":\"sgd\",\"durability\":\"step\",\"tensors\":[{\"shape\":[%d]}]}", BIG_N);
    session *dur = fx_create(reg, body);
    snprintf(body, sizeof body, "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[%d]}]}", BIG_N);
    session *ckp = fx_create(reg, body);
    float *g = malloc(BIG_N * sizeof(float));
    assert_non_null(g);
    for (int i = 0; i < BIG_N; i++) g[i] = (float)(i % 7) - 3.0f;
    int w;
    session_answer a;

    /* answered: already committed (read back without any flush) */
    step_request sr = fx_req(1, g, 1.0, NULL);
    assert_int_equal(session_step(dur, &w, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(fx_stored_step(db, session_id(dur)), 1);
    /* durability=checkpoint: answered before any snapshot (every 100 steps) */
    assert_int_equal(session_step(ckp, &w, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(store_flush(db), 0);
    assert_int_equal(fx_stored_step(db, session_id(ckp)), 0);
    fx_params at1 = fx_read_params(dur);
    int stepped = g_nstepped;

    /* the write connection refuses writes: step 2 is applied, its commit
     * fails, and the session goes back to step 1 as if step 2 was never
     * sent */
    assert_int_equal(store_test_exec(db, "PRAGMA query_only = 1"), 0);
    sr = fx_req(2, g, 0.5, NULL);
    assert_int_equal(session_step(dur, &w, &sr, &a), 0);
    assert_int_equal(a.err, ERR_STORAGE);
    fx_params now = fx_read_params(dur);
    assert_int_equal(now.step, 1);
    assert_memory_equal(now.v, at1.v, sizeof now.v);
    assert_int_equal(g_nstepped, stepped);   /* no metrics row for it */
    assert_int_equal(fx_stored_step(db, session_id(dur)), 1);

    /* its retry is refused the same way: nothing is acknowledged that is
     * not committed (the connection stays read-only: BEGIN IMMEDIATE fails,
     * so the pragma cannot be undone through the writer) */
    assert_int_equal(session_step(dur, &w, &sr, &a), 0);
    assert_int_equal(a.err, ERR_STORAGE);
    assert_int_equal(fx_read_params(dur).step, 1);
    sr = fx_req(1, g, 1.0, NULL);          /* the retry of step 1: its stored answer */
    assert_int_equal(session_step(dur, &w, &sr, &a), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.step, 1);
    free(g);
    session_unref(dur);
    session_unref(ckp);
    sessions_free(reg);
    store_close(db);
}

/* A decoder's sum of squares (step_request.has_gsq) reaches the optimizer
 * (opt_step_gsq): with the true vm_sumsq the steps equal those of a twin
 * session without it, bit for bit; a different sum changes the clipping,
 * so it is the one used. */
static void test_decoder_sum_reaches_the_step(void **unused)
{
    (void)unused;
    static const char *const ADAMCLIP =
        "{\"optimizer\":\"adam\",\"hyperparams\":{\"lr\":0.1,\"clip_norm\":1},\"tensors\":[{\"shape\":[4]}]}";
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *a = fx_create(reg, ADAMCLIP), *b = fx_create(reg, ADAMCLIP), *c = fx_create(reg, ADAMCLIP);
    int w;
    for (int k = 1; k <= 3; k++) {
        const float g[4] = {3.0f * (float)k, -4.0f, 0.5f, 2.0f};
        session_answer aa, ab, ac;
        step_request ra = fx_req(k, g, 1.0, NULL), rb = fx_req(k, g, 1.0, NULL), rc = fx_req(k, g, 1.0, NULL);
        rb.has_gsq = 1;
        rb.gsq = vm_sumsq(g, 4);
        rc.has_gsq = 1;
        rc.gsq = 0.25;   /* not the sum: norm 0.5 < clip_norm, so no clipping */
        assert_int_equal(session_step(a, &w, &ra, &aa), 0);
        assert_int_equal(session_step(b, &w, &rb, &ab), 0);
        assert_int_equal(session_step(c, &w, &rc, &ac), 0);
        assert_int_equal(aa.err, 0);
        assert_int_equal(ab.err, 0);
        assert_int_equal(ac.err, 0);
        assert_memory_equal(aa.update, ab.update, 4 * sizeof(float));
        if (k == 1) assert_memory_not_equal(aa.update, ac.update, 4 * sizeof(float));
    }
    fx_params pa = fx_read_params(a), pb = fx_read_params(b);
    assert_memory_equal(pa.v, pb.v, sizeof pa.v);
    session_unref(a);
    session_unref(b);
    session_unref(c);
    sessions_free(reg);
    store_close(db);
}

int main(void)
{
    if (fx_dir("test_session_step") != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_replays_and_other_steps_conflict, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_decoder_sum_reaches_the_step, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_non_finite_reject_and_skip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gather_supersedes_and_answers_every_waiter, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_divergence_rolls_back_to_the_stored_state, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_durability_step_acknowledges_only_what_is_committed, fx_setup,
                                        fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
