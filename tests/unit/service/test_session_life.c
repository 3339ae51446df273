/* test_session_life.c — the session lifecycle of src/service/session_life.c
 * over a real store (session_fixture.h): the change body's parser and its
 * hostile inputs, the allowed and refused status changes, a closed session's
 * refused steps (its retry still answered), the change kept across a
 * restart, the filtered list newest first with its pages, the counts by
 * status, and the retention policy on the fixture's clock (a busy session
 * skipped, not waited for). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "service/session_fixture.h"
#include "session_internal.h"   /* the session's mutex, for the busy case */
#include "session_life.h"

static const char *const SGD2 = "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[2]}]}";

static int parse_text(const char *txt, session_change *ch, char *msg, size_t cap, cJSON **keep)
{
    *keep = cJSON_Parse(txt);
    assert_non_null(*keep);
    return session_change_parse(*keep, ch, msg, cap);
}

static void expect_parse_err(const char *txt, int code, const char *needle)
{
    session_change ch;
    char msg[300];
    cJSON *root;
    int rc = parse_text(txt, &ch, msg, sizeof msg, &root);
    if (rc != code || !strstr(msg, needle)) {
        print_error("%s: got %s \"%s\", want %s with \"%s\"\n", txt, err_name(rc), msg, err_name(code), needle);
        fail();
    }
    cJSON_Delete(root);
}

static void test_change_parse_hostile_bodies(void **unused)
{
    (void)unused;
    expect_parse_err("[]", ERR_INVALID_ARGUMENT, "object");
    expect_parse_err("\"finished\"", ERR_INVALID_ARGUMENT, "object");
    expect_parse_err("{}", ERR_MISSING_FIELD, "changes nothing");
    expect_parse_err("{\"status\":\"done\"}", ERR_INVALID_ARGUMENT, "status");
    expect_parse_err("{\"status\":\"diverged\"}", ERR_INVALID_ARGUMENT, "status");
    expect_parse_err("{\"status\":\"Finished\"}", ERR_INVALID_ARGUMENT, "status");
    expect_parse_err("{\"status\":1}", ERR_INVALID_ARGUMENT, "status");
    expect_parse_err("{\"status\":null}", ERR_INVALID_ARGUMENT, "status");
    expect_parse_err("{\"name\":5}", ERR_INVALID_ARGUMENT, "name");
    expect_parse_err("{\"name\":null}", ERR_INVALID_ARGUMENT, "name");
    expect_parse_err("{\"tags\":[\"a\"]}", ERR_INVALID_ARGUMENT, "tags");
    expect_parse_err("{\"tags\":{\"a\":1}}", ERR_INVALID_ARGUMENT, "tags");
    expect_parse_err("{\"tags\":{\"a\":\"x\",\"a\":\"y\"}}", ERR_INVALID_JSON, "twice");
    expect_parse_err("{\"name\":\"a\",\"name\":\"b\"}", ERR_INVALID_JSON, "twice");
    expect_parse_err("{\"optimizer\":\"adam\"}", ERR_UNKNOWN_FIELD, "optimizer");
    expect_parse_err("{\"name\":\"a\",\"step\":3}", ERR_UNKNOWN_FIELD, "step");
    char big[400];
    memset(big, 'x', sizeof big);
    snprintf(big, sizeof big, "{\"name\":\"%0*d\"}", SPEC_NAME_MAX, 0);
    expect_parse_err(big, ERR_OUT_OF_RANGE, "name");
    snprintf(big, sizeof big, "{\"name\":\"%0*d\"}", SPEC_NAME_MAX - 1, 0);
    session_change ch;
    char msg[300];
    cJSON *root;
    assert_int_equal(parse_text(big, &ch, msg, sizeof msg, &root), 0);
    assert_int_equal(strlen(ch.name), SPEC_NAME_MAX - 1);
    cJSON_Delete(root);
    assert_int_equal(parse_text("{\"name\":\"\",\"tags\":{},\"status\":\"archived\"}", &ch, msg, sizeof msg, &root), 0);
    assert_string_equal(ch.name, "");
    assert_string_equal(ch.status, "archived");
    assert_non_null(ch.tags);
    cJSON_Delete(root);
}

static int apply_text(session *s, const char *txt, char *msg, size_t cap)
{
    session_change ch;
    cJSON *root;
    int rc = parse_text(txt, &ch, msg, cap, &root);
    if (!rc) rc = session_change_apply(s, &ch, msg, cap);
    cJSON_Delete(root);
    return rc;
}

static const char *describe_str(session *s, const char *key, char *out, size_t cap)
{
    cJSON *d = session_describe(s);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : cJSON_IsObject(v) ? "<object>" : "<none>");
    cJSON_Delete(d);
    return out;
}

static void test_status_changes_steps_and_restart(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SGD2);
    char id[40], msg[300], buf[200];
    snprintf(id, sizeof id, "%s", session_id(s));
    float g[2] = {1, 2};
    int w;
    session_answer ans;
    step_request sr = fx_req(1, g, 1.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &ans), 0);
    assert_int_equal(ans.err, 0);

    assert_int_equal(apply_text(s, "{\"name\":\"run-a\",\"tags\":{\"team\":\"vision\"}}", msg, sizeof msg), 0);
    assert_string_equal(describe_str(s, "name", buf, sizeof buf), "run-a");
    assert_string_equal(describe_str(s, "status", buf, sizeof buf), "active");
    /* active → active is no change; back to active from finished is refused */
    assert_int_equal(apply_text(s, "{\"status\":\"active\"}", msg, sizeof msg), 0);
    assert_int_equal(apply_text(s, "{\"status\":\"finished\"}", msg, sizeof msg), 0);
    assert_string_equal(describe_str(s, "status", buf, sizeof buf), "finished");
    assert_int_equal(apply_text(s, "{\"status\":\"active\"}", msg, sizeof msg), ERR_SESSION_CLOSED);
    assert_non_null(strstr(msg, "finished"));
    assert_string_equal(describe_str(s, "status", buf, sizeof buf), "finished");

    /* a finished session refuses new steps; the retry of its last still answers */
    sr = fx_req(2, g, 1.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &ans), 0);
    assert_int_equal(ans.err, ERR_SESSION_CLOSED);
    sr = fx_req(1, g, 1.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &ans), 0);
    assert_int_equal(ans.err, 0);
    assert_int_equal(ans.step, 1);
    /* name and tags may still change; finished → archived; archived → finished refused */
    assert_int_equal(apply_text(s, "{\"name\":\"run-b\"}", msg, sizeof msg), 0);
    assert_int_equal(apply_text(s, "{\"status\":\"archived\"}", msg, sizeof msg), 0);
    assert_int_equal(apply_text(s, "{\"status\":\"finished\"}", msg, sizeof msg), ERR_SESSION_CLOSED);
    sr = fx_req(2, g, 1.0, NULL);
    assert_int_equal(session_step(s, &w, &sr, &ans), 0);
    assert_int_equal(ans.err, ERR_SESSION_CLOSED);

    /* everything survives a restart */
    sessions *b = fx_registry(db, &cfg);
    assert_int_equal(sessions_restore(b), 1);
    session *r = sessions_get(b, id);
    assert_non_null(r);
    assert_string_equal(describe_str(r, "status", buf, sizeof buf), "archived");
    assert_string_equal(describe_str(r, "name", buf, sizeof buf), "run-b");
    cJSON *d = session_describe(r);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "tags"), "team")->valuestring, "vision");
    cJSON_Delete(d);
    session_unref(r);
    sessions_free(b);

    /* a deleted session takes no change */
    assert_int_equal(sessions_delete(reg, id), 0);
    assert_int_equal(apply_text(s, "{\"name\":\"x\"}", msg, sizeof msg), ERR_SESSION_NOT_FOUND);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

static void test_storage_failure_changes_nothing(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, SGD2);
    char msg[300], buf[200];
    assert_int_equal(apply_text(s, "{\"name\":\"kept\"}", msg, sizeof msg), 0);
    /* a trigger refuses every write of the sessions table */
    assert_int_equal(store_test_exec(db, "CREATE TRIGGER no_update BEFORE UPDATE ON sessions BEGIN "
                                         "SELECT RAISE(ABORT, 'refused'); END"), 0);
    assert_int_equal(apply_text(s, "{\"name\":\"lost\",\"tags\":{\"a\":\"b\"},\"status\":\"finished\"}", msg, sizeof msg),
                     ERR_STORAGE);
    assert_string_equal(describe_str(s, "name", buf, sizeof buf), "kept");
    assert_string_equal(describe_str(s, "status", buf, sizeof buf), "active");
    cJSON *d = session_describe(s);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "tags")), 0);
    cJSON_Delete(d);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

static void test_closing_answers_parked_workers(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    session *s = fx_create(reg, "{\"optimizer\":\"sgd\",\"workers\":3,\"tensors\":[{\"shape\":[2]}]}");
    const float g[2] = {1, 2};
    int wa, wb, wc;
    session_answer a;
    step_request sr = fx_req(1, g, NAN, "a");
    assert_int_equal(session_step(s, &wa, &sr, &a), 1);
    sr = fx_req(1, g, NAN, "b");
    assert_int_equal(session_step(s, &wb, &sr, &a), 1);
    char msg[300];
    /* a name change leaves them waiting */
    assert_int_equal(apply_text(s, "{\"name\":\"shared\"}", msg, sizeof msg), 0);
    assert_int_equal(g_nanswers, 0);
    assert_int_equal(apply_text(s, "{\"status\":\"finished\"}", msg, sizeof msg), 0);
    assert_int_equal(g_nanswers, 2);
    for (int i = 0; i < 2; i++) assert_int_equal(g_answers[i].a.err, ERR_SESSION_CLOSED);
    assert_true(fx_describe_num(s, "pending_workers") == 0);
    sr = fx_req(1, g, NAN, "c");
    assert_int_equal(session_step(s, &wc, &sr, &a), 0);
    assert_int_equal(a.err, ERR_SESSION_CLOSED);
    session_unref(s);
    sessions_free(reg);
    store_close(db);
}

typedef struct seen { int n; char ids[8][40]; } seen;

static void collect(void *ctx, session *s)
{
    seen *c = ctx;
    snprintf(c->ids[c->n++], 40, "%s", session_id(s));
}

static int list_ids(sessions *reg, const session_filter *f, seen *out)
{
    char next[SESSION_PAGE_TOKEN_MAX];
    memset(out, 0, sizeof *out);
    return session_list(reg, f, NULL, 8, collect, out, next);
}

static void test_list_filters_search_order_and_pages(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    const char *bodies[4] = {
        "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[2]}],\"name\":\"mnist-sgd\",\"tags\":{\"team\":\"Vision\"}}",
        "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[2]}],\"name\":\"mnist-adam\",\"tags\":{\"team\":\"vision\",\"seed\":\"1\"}}",
        "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[2]}],\"name\":\"lm\",\"tags\":{\"team\":\"text\"}}",
        "{\"optimizer\":\"sgd\",\"tensors\":[{\"shape\":[2]}]}",
    };
    session *s[4];
    char ids[4][40];
    for (int i = 0; i < 4; i++) {
        g_now = 2000.0 + i;          /* created one second apart */
        s[i] = fx_create(reg, bodies[i]);
        snprintf(ids[i], 40, "%s", session_id(s[i]));
    }
    seen got;
    session_filter f = {0};
    assert_int_equal(list_ids(reg, &f, &got), 4);
    for (int i = 0; i < 4; i++) assert_string_equal(got.ids[i], ids[3 - i]);   /* newest first */
    f = (session_filter){.optimizer = "adam"};
    assert_int_equal(list_ids(reg, &f, &got), 2);
    assert_string_equal(got.ids[0], ids[2]);
    f = (session_filter){.name = "lm"};
    assert_int_equal(list_ids(reg, &f, &got), 1);
    f = (session_filter){.name = "mnist"};         /* name is exact; q searches */
    assert_int_equal(list_ids(reg, &f, &got), 0);
    f = (session_filter){.q = "MNIST"};
    assert_int_equal(list_ids(reg, &f, &got), 2);
    f = (session_filter){.q = "vision"};           /* a tag's value, any case */
    assert_int_equal(list_ids(reg, &f, &got), 2);
    f = (session_filter){.q = "seed"};             /* a tag's key */
    assert_int_equal(list_ids(reg, &f, &got), 1);
    f = (session_filter){.tag = "team:vision"};    /* a tag's value is exact */
    assert_int_equal(list_ids(reg, &f, &got), 1);
    assert_string_equal(got.ids[0], ids[1]);
    f = (session_filter){.tag = "team"};
    assert_int_equal(list_ids(reg, &f, &got), 3);
    f = (session_filter){.tag = "team:"};
    assert_int_equal(list_ids(reg, &f, &got), 0);
    f = (session_filter){.q = ""};
    assert_int_equal(list_ids(reg, &f, &got), 4);
    char msg[300];
    assert_int_equal(apply_text(s[0], "{\"status\":\"finished\"}", msg, sizeof msg), 0);
    f = (session_filter){.status = "finished"};
    assert_int_equal(list_ids(reg, &f, &got), 1);
    assert_string_equal(got.ids[0], ids[0]);
    f = (session_filter){.status = "active", .optimizer = "sgd"};
    assert_int_equal(list_ids(reg, &f, &got), 1);
    assert_string_equal(got.ids[0], ids[3]);
    session_status_counts sc;
    session_count_status(reg, &sc);
    assert_true(sc.active == 3 && sc.finished == 1 && sc.archived == 0 && sc.diverged == 0);

    /* pages of two: the token is the last one given, and a page ends with "" */
    char next[SESSION_PAGE_TOKEN_MAX], tok[SESSION_PAGE_TOKEN_MAX];
    f = (session_filter){0};
    memset(&got, 0, sizeof got);
    assert_int_equal(session_list(reg, &f, NULL, 2, collect, &got, next), 2);
    assert_true(next[0] != '\0');
    snprintf(tok, sizeof tok, "%s", next);
    assert_int_equal(session_list(reg, &f, tok, 2, collect, &got, next), 2);
    assert_string_equal(next, "");
    for (int i = 0; i < 4; i++) assert_string_equal(got.ids[i], ids[3 - i]);
    /* a session created meanwhile (newer) does not shift the later pages */
    g_now = 3000.0;
    session *late = fx_create(reg, SGD2);
    memset(&got, 0, sizeof got);
    assert_int_equal(session_list(reg, &f, tok, 2, collect, &got, next), 2);
    assert_string_equal(got.ids[0], ids[1]);
    /* hostile tokens and queries */
    const char *bad[] = {"", ".", "x.y", "-1.abc", "12", "12.", "1e3.abc",
                         "99999999999999999999999.a", "5.0123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(session_list(reg, &f, bad[i], 2, collect, &got, next), ERR_INVALID_ARGUMENT);
    char longq[SESSION_QUERY_MAX + 2];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    f = (session_filter){.q = longq};
    assert_int_equal(session_list(reg, &f, NULL, 2, collect, &got, next), ERR_INVALID_ARGUMENT);
    session_unref(late);
    for (int i = 0; i < 4; i++) session_unref(s[i]);
    sessions_free(reg);
    store_close(db);
}

static void test_retention_archives_idle_then_deletes(void **unused)
{
    (void)unused;
    store *db = fx_open_store();
    sessions_config cfg = fx_config();
    sessions *reg = fx_registry(db, &cfg);
    g_now = 5000.0;
    session *idle = fx_create(reg, SGD2), *busy = fx_create(reg, SGD2);
    char idle_id[40], busy_id[40], buf[200];
    snprintf(idle_id, 40, "%s", session_id(idle));
    snprintf(busy_id, 40, "%s", session_id(busy));
    int64_t ttl = 60 * 1000;
    int a, d;
    session_retention(reg, fx_now_ms() + ttl - 1, ttl, &a, &d);
    assert_true(a == 0 && d == 0);
    /* busy steps just before the deadline: only idle is archived */
    g_now = 5050.0;
    float g[2] = {1, 1};
    int w;
    session_answer ans;
    step_request sr = fx_req(1, g, 1.0, NULL);
    assert_int_equal(session_step(busy, &w, &sr, &ans), 0);
    /* a session whose mutex is held (a step running) is skipped, not waited for */
    pthread_mutex_lock(&idle->mu);
    session_retention(reg, 5000 * 1000 + ttl, ttl, &a, &d);
    pthread_mutex_unlock(&idle->mu);
    assert_true(a == 0 && d == 0);
    assert_string_equal(describe_str(idle, "status", buf, sizeof buf), "active");
    session_retention(reg, 5000 * 1000 + ttl, ttl, &a, &d);
    assert_true(a == 1 && d == 0);
    assert_string_equal(describe_str(idle, "status", buf, sizeof buf), "archived");
    assert_string_equal(describe_str(busy, "status", buf, sizeof buf), "active");
    /* the archive time is stored: a restarted registry deletes on time */
    sessions *b = fx_registry(db, &cfg);
    assert_int_equal(sessions_restore(b), 2);
    /* (busy's step was never snapshotted, so b knows it idle since its
     * creation: it may be archived here; restored sessions count from their
     * last stored write) */
    session_retention(b, 5000 * 1000 + 2 * ttl - 1, ttl, &a, &d);
    assert_true(d == 0);
    session_retention(b, 5000 * 1000 + 2 * ttl, ttl, &a, &d);
    assert_true(d == 1);       /* idle, archived ttl ago */
    assert_null(sessions_get(b, idle_id));
    assert_int_equal(fx_stored_step(db, idle_id), -1);
    session *bb = sessions_get(b, busy_id);  /* busy is archived at the earliest, never deleted in this pass */
    assert_non_null(bb);
    session_unref(bb);
    /* ttl 0: nothing happens */
    session_retention(b, INT64_MAX / 2, 0, &a, &d);
    assert_true(a == 0 && d == 0);
    sessions_free(b);
    session_unref(idle);
    session_unref(busy);
    sessions_free(reg);
    store_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_parse_hostile_bodies),
        cmocka_unit_test_setup_teardown(test_status_changes_steps_and_restart, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_storage_failure_changes_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_closing_answers_parked_workers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_search_order_and_pages, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retention_archives_idle_then_deletes, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
