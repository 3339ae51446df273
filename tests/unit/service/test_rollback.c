/* test_rollback.c — src/service/rollback.c against a real store in a
 * mkdtemp() directory: a session that stepped on past its stored snapshot
 * rolls back to exactly that state (and its next step is the one the stored
 * session would take); with flush, a snapshot still queued for the writer is
 * the one read back; an unknown session is ERR_SESSION_NOT_FOUND with the
 * live state untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "errors.h"
#include "rollback.h"
#include "service/state_fixture.h"
#include "store.h"

static char g_dir[64];
static char g_path[128];

static const char *const BODY = "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[4]}],"
                                "\"adapt\":{\"lr\":\"hypergradient\"}}";

static store *open_store(void)
{
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    return db;
}

static void save(store *db, fixture *f, int create)
{
    uint8_t *blob;
    size_t len;
    snapshot_state st = view(f);
    assert_int_equal(snapshot_encode(&st, &blob, &len), 0);
    if (create) assert_int_equal(store_session_create_take(db, "s1", "{}", 1, f->step, blob, len), 0);
    else assert_int_equal(store_snapshot_put_owned(db, "s1", f->step, blob, len, 0), 0);
}

static void test_rolls_back_to_the_stored_state(void **unused)
{
    (void)unused;
    store *db = open_store();
    fixture live, ref;
    fixture_init(&live, BODY);
    fixture_init(&ref, BODY);
    take_step(&live, 3.0);
    take_step(&live, 2.0);
    take_step(&ref, 3.0);
    take_step(&ref, 2.0);
    save(db, &live, 1);
    take_step(&live, 1.0);
    take_step(&live, 50.0);    /* the step that blew up */
    snapshot_state st = view(&live);
    assert_int_equal(rollback_load(db, "s1", 1, &st), 0);
    assert_int_equal(st.step, 2);
    assert_true(st.last_loss == 2.0);
    assert_true(st.best_loss == 2.0);
    assert_memory_equal(live.params, ref.params, 4 * sizeof(float));
    assert_memory_equal(live.update, ref.update, 4 * sizeof(float));
    live.step = st.step;
    live.last_loss = st.last_loss;
    live.best_loss = st.best_loss;
    take_step(&live, 1.5);
    take_step(&ref, 1.5);
    assert_memory_equal(live.params, ref.params, 4 * sizeof(float));
    assert_memory_equal(live.update, ref.update, 4 * sizeof(float));
    fixture_deinit(&live);
    fixture_deinit(&ref);
    store_close(db);
}

static void test_flush_reads_the_queued_snapshot(void **unused)
{
    (void)unused;
    store *db = open_store();
    fixture live;
    fixture_init(&live, BODY);
    take_step(&live, 3.0);
    save(db, &live, 1);
    take_step(&live, 2.0);
    save(db, &live, 0);         /* queued, not waited for */
    take_step(&live, 1.0);
    snapshot_state st = view(&live);
    assert_int_equal(rollback_load(db, "s1", 1, &st), 0);
    assert_int_equal(st.step, 2);
    fixture_deinit(&live);
    store_close(db);
}

static void test_unknown_session_is_not_found(void **unused)
{
    (void)unused;
    store *db = open_store();
    fixture live;
    fixture_init(&live, BODY);
    take_step(&live, 3.0);
    float before[4];
    memcpy(before, live.params, sizeof before);
    snapshot_state st = view(&live);
    assert_int_equal(rollback_load(db, "nobody", 1, &st), ERR_SESSION_NOT_FOUND);
    assert_int_equal(st.step, 1);
    assert_memory_equal(live.params, before, sizeof before);
    fixture_deinit(&live);
    store_close(db);
}

/* Each test gets a fresh database file. */
static int setup(void **state)
{
    (void)state;
    static int seq;
    snprintf(g_path, sizeof g_path, "%s/t%d.db", g_dir, ++seq);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t k = 0; k < sizeof sfx / sizeof sfx[0]; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", g_path, sfx[k]);
        unlink(p);
    }
    return 0;
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_rollback.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rolls_back_to_the_stored_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_reads_the_queued_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_session_is_not_found, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return failed;
}
