/* test_session.c — the session registry of src/service/session.c over a
 * real store (session_fixture.h), without a socket: create, lookup, list
 * and describe; the attachment made for each session and freed with it; a
 * snapshot round trip through the session (a registry restored from the
 * store steps on exactly as the original does); delete (storage first,
 * parked workers answered session_not_found, a held reference refused);
 * the size, session-count and budget refusals; feedback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "service/session_fixture.h"
#include "session_life.h"

static const char *const SGD3 = "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[3]}]}";

typedef struct seen { int n; char ids[8][40]; } seen;

static void collect(void *ctx, session *s)
{
    seen *c = ctx;
    snprintf(c->ids[c->n++], 40, "%s", session_id(s));
}

static void test_create_get_list_describe(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s[3];
    for (int i = 0; i < 3; i++) s[i] = fx_create(reg, SGD3);
    assert_int_equal(g_attached, 3);
    assert_int_equal(sessions_count(reg), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(strlen(session_id(s[i])), 36);
        assert_non_null(session_attachment(s[i]));
        assert_int_equal(session_num_params(s[i]), 3);
        assert_int_equal(session_workers(s[i]), 1);
        assert_string_equal(session_tenant(s[i]), "");
        session *g = sessions_get(reg, session_id(s[i]));
        assert_ptr_equal(g, s[i]);
        session_unref(g);
        assert_int_equal(fx_stored_step(db, session_id(s[i])), 0);   /* persisted before the answer */
    }
    assert_null(sessions_get(reg, "no-such-id"));
    /* the list (session_life.h): same creation time, so id descending */
    seen all = {0};
    char next[SESSION_PAGE_TOKEN_MAX];
    session_filter every = {0};
    assert_int_equal(session_list(reg, &every, NULL, 10, collect, &all, next), 3);
    assert_string_equal(next, "");
    assert_true(strcmp(all.ids[0], all.ids[1]) > 0 && strcmp(all.ids[1], all.ids[2]) > 0);
    seen page = {0};
    assert_int_equal(session_list(reg, &every, NULL, 1, collect, &page, next), 1);
    assert_string_equal(page.ids[0], all.ids[0]);
    seen page2 = {0};
    assert_int_equal(session_list(reg, &every, next, 1, collect, &page2, next), 1);
    assert_string_equal(page2.ids[0], all.ids[1]);
    seen other = {0};
    session_filter someone = {.tenant = "someone"};
    assert_int_equal(session_list(reg, &someone, NULL, 10, collect, &other, next), 0);
    cJSON *d = session_describe(s[0]);
    assert_string_equal(cJSON_GetObjectItem(d, "id")->valuestring, session_id(s[0]));
    assert_string_equal(cJSON_GetObjectItem(d, "status")->valuestring, "active");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "last_loss")));
    assert_true(cJSON_GetObjectItem(d, "created_ms")->valuedouble == 1000000.0);   /* hooks.now_ms */
    assert_null(cJSON_GetObjectItem(d, "pending_workers"));
    cJSON_Delete(d);
    for (int i = 0; i < 3; i++) session_unref(s[i]);
    assert_int_equal(g_attached, 3);   /* the registry still holds them */
    sessions_free(reg);
    assert_int_equal(g_attached, 0);
    /* a registry that could not answer a parked waiter is refused */
    sessions_hooks h = fx_hooks();
    h.answer = NULL;
    sessions *none = NULL;
    assert_int_equal(sessions_new(db, &cfg, &h, &none), ERR_INVALID_ARGUMENT);
    assert_null(none);
    store_close(db);
}

static const char *const ADAM_ADAPT = "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[5]}],"
                                      "\"adapt\":{\"lr\":\"hypergradient\"}}";

static void grads_for(int64_t k, float *g)
{
    for (int i = 0; i < 5; i++) g[i] = 0.3f * (float)(i + 1) - 0.1f * (float)k;
}

static void test_snapshot_round_trip_through_the_session(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *a = fx_registry(db, &cfg);
    session *s = fx_create(a, ADAM_ADAPT);
    char id[40];
    snprintf(id, sizeof id, "%s", session_id(s));
    float g[5];
    int w;
    session_answer ans;
    for (int64_t k = 1; k <= 3; k++) {
        grads_for(k, g);
        step_request sr = fx_req(k, g, 2.0 - 0.1 * (double)k, NULL);
        assert_int_equal(session_step(s, &w, &sr, &ans), 0);
        assert_int_equal(ans.err, 0);
    }
    float update3[5];
    memcpy(update3, ans.update, sizeof update3);
    assert_int_equal(sessions_checkpoint_all(a), 0);
    assert_int_equal(store_flush(db), 0);
    assert_int_equal(fx_stored_step(db, id), 3);
    fx_params p3 = fx_read_params(s);

    /* a second registry on the same store: the session as stored */
    sessions *b = fx_registry(db, &cfg);
    assert_int_equal(sessions_restore(b), 1);
    session *r = sessions_get(b, id);
    assert_non_null(r);
    fx_params q3 = fx_read_params(r);
    assert_int_equal(q3.step, 3);
    assert_memory_equal(p3.v, q3.v, sizeof p3.v);
    assert_true(fx_describe_num(r, "last_loss") == 2.0 - 0.3);
    assert_true(fx_describe_num(r, "saved_step") == 3);
    /* the retry of step 3 is answered from the snapshot */
    step_request sr = fx_req(3, g, 1.7, NULL);
    assert_int_equal(session_step(r, &w, &sr, &ans), 0);
    assert_int_equal(ans.err, 0);
    assert_memory_equal(ans.update, update3, sizeof update3);
    /* step 4 on both: the optimizer and adaptation states came back whole */
    grads_for(4, g);
    sr = fx_req(4, g, 1.5, NULL);
    float u_orig[5];
    assert_int_equal(session_step(s, &w, &sr, &ans), 0);
    memcpy(u_orig, ans.update, sizeof u_orig);
    assert_int_equal(session_step(r, &w, &sr, &ans), 0);
    assert_int_equal(ans.err, 0);
    assert_memory_equal(ans.update, u_orig, sizeof u_orig);
    assert_memory_equal(fx_read_params(s).v, fx_read_params(r).v, sizeof p3.v);
    session_unref(r);
    session_unref(s);
    sessions_free(b);
    sessions_free(a);
    assert_int_equal(g_attached, 0);
    store_close(db);
}

static void test_delete_answers_parked_workers(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, "{\"optimizer\":\"sgd\",\"workers\":3,\"tensors\":[{\"shape\":[3]}]}");
    char id[40];
    snprintf(id, sizeof id, "%s", session_id(s));
    const float g[3] = {1, 2, 3};
    int wa, wb, wc;
    session_answer a;
    step_request sr = fx_req(1, g, NAN, "a");
    assert_int_equal(session_step(s, &wa, &sr, &a), 1);
    sr = fx_req(1, g, NAN, "b");
    assert_int_equal(session_step(s, &wb, &sr, &a), 1);
    assert_int_equal(sessions_delete(reg, id), 0);
    assert_int_equal(g_nanswers, 2);
    for (int i = 0; i < 2; i++) assert_int_equal(g_answers[i].a.err, ERR_SESSION_NOT_FOUND);
    assert_ptr_equal(g_answers[0].waiter, &wa);
    assert_ptr_equal(g_answers[1].waiter, &wb);
    assert_null(sessions_get(reg, id));
    assert_int_equal(sessions_count(reg), 0);
    assert_int_equal(fx_stored_step(db, id), -1);
    assert_int_equal(sessions_delete(reg, id), ERR_SESSION_NOT_FOUND);
    /* a request that still holds a reference is refused */
    sr = fx_req(1, g, NAN, "c");
    assert_int_equal(session_step(s, &wc, &sr, &a), 0);
    assert_int_equal(a.err, ERR_SESSION_NOT_FOUND);
    char msg[100];
    assert_int_equal(session_feedback(s, 0, 1.0, NULL, msg, sizeof msg), ERR_SESSION_NOT_FOUND);
    assert_int_equal(g_attached, 1);
    session_unref(s);                     /* the last reference frees it */
    assert_int_equal(g_attached, 0);
    sessions_free(reg);
    store_close(db);
}

static void test_limits_refuse_before_allocating(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    cfg.max_sessions = 1;
    cfg.max_session_bytes = 1 << 20;
    sessions *reg = fx_registry(db, &cfg);
    char body[120], msg[400];
    uint64_t needed = 0;
    spec sp;
    snprintf(body, sizeof body, "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[1000000]}]}");
    assert_int_equal(spec_parse(&sp, body, strlen(body), 1 << 20, 0, msg, sizeof msg), 0);
    session *s = NULL;
    assert_int_equal(sessions_create(reg, &sp, &s, msg, sizeof msg, &needed), ERR_SESSION_TOO_LARGE);
    assert_true(needed > 1 << 20);
    assert_non_null(strstr(msg, "--max-session-bytes is 1048576"));
    assert_int_equal(g_attached, 0);
    session *one = fx_create(reg, SGD3);
    assert_int_equal(spec_parse(&sp, SGD3, strlen(SGD3), 1 << 20, 0, msg, sizeof msg), 0);
    assert_int_equal(sessions_create(reg, &sp, &s, msg, sizeof msg, &needed), ERR_TOO_MANY_SESSIONS);
    assert_int_equal(g_attached, 1);
    /* a delete gives the slot back at once, while a reference is still held */
    assert_int_equal(sessions_delete(reg, session_id(one)), 0);
    session *two = fx_create(reg, SGD3);
    session_unref(one);
    session_unref(two);
    sessions_free(reg);
    assert_int_equal(g_attached, 0);
    store_close(db);
}

typedef struct fb_count { int n; double loss; } fb_count;

static int count_fb(void *ctx, const store_feedback_row *row)
{
    fb_count *c = ctx;
    c->n++;
    c->loss = row->loss;
    return 0;
}

static void test_feedback_for_taken_steps_only(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SGD3);
    char msg[200];
    assert_int_equal(session_feedback(s, 1, 0.5, NULL, msg, sizeof msg), ERR_OUT_OF_RANGE);
    assert_non_null(strstr(msg, "has not been taken yet"));
    const float g[3] = {1, 1, 1};
    int w;
    session_answer a;
    step_request sr = fx_req(1, g, 1.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &a), 0);
    assert_int_equal(session_feedback(s, 1, 0.25, "{\"acc\":0.5}", msg, sizeof msg), 0);
    fb_count c = {0};
    assert_int_equal(store_feedback_query(db, session_id(s), 0, -1, count_fb, &c), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.loss == 0.25);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

int main(void)
{
    if (fx_dir("test_session") != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list_describe, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_round_trip_through_the_session, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_answers_parked_workers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_limits_refuse_before_allocating, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_feedback_for_taken_steps_only, fx_setup, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
