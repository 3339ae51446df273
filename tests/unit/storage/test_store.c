/* test_store.c — sessions through the store.h API (store_sessions.c, and
 * the reader pool of store_read.c) against real database files in a
 * mkdtemp() directory: sessions, snapshots (replace, chunks, coalescing,
 * reopen), metrics and feedback queries, non-finite values, delete, and the
 * NULL-argument promises of the API.  Every test ends with PRAGMA
 * integrity_check and foreign_key_check on the closed database.  Doubles
 * written and read back must match exactly (SQLite REAL is an IEEE double):
 * tolerance 0.  (The schema, the writer, keys and meta-jobs have their own
 * test_store_*.c.) */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

#define STORE_TEST_NAME "test_store"
#include "store_test_util.h"

/* ---- tests ------------------------------------------------------------------ */

static void test_store_creates_loads_lists_and_paginates_sessions(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    /* created out of order; listed by id */
    for (int k = 0; k < 25; k++) {
        int i = (k * 7) % 25;
        char id[16];
        snprintf(id, sizeof id, "s%02d", i);
        create_session(s, id, i, (size_t)i + 1, (unsigned char)i);
    }
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 25);
    for (int i = 0; i < 25; i++) {
        char id[16], meta[64];
        snprintf(id, sizeof id, "s%02d", i);
        snprintf(meta, sizeof meta, "{\"name\":\"%s\"}", id);
        assert_string_equal(all->id[i], id);
        assert_string_equal(all->meta[i], meta);
        assert_string_equal(all->status[i], "active");
        assert_int_equal(all->step[i], i);
        assert_int_equal(all->snap_len[i], (size_t)i + 1);
        assert_int_equal(all->snap_first[i], i);
    }
    free(all);

    /* pages of 10 */
    const char *after = NULL;
    char last[16] = "";
    int pages[4] = {0}, total = 0;
    for (int p = 0; p < 4; p++) {
        sess_rows c = {0};
        assert_int_equal(store_sessions_list(s, after, 10, sess_collect, &c), 0);
        pages[p] = c.n;
        for (int i = 0; i < c.n; i++) {
            char id[16];
            snprintf(id, sizeof id, "s%02d", total + i);
            assert_string_equal(c.id[i], id);
            assert_int_equal(c.snap_len[i], 0); /* lists carry no snapshot */
        }
        total += c.n;
        if (c.n) snprintf(last, sizeof last, "%s", c.id[c.n - 1]);
        after = last;
    }
    assert_int_equal(pages[0], 10);
    assert_int_equal(pages[1], 10);
    assert_int_equal(pages[2], 5);
    assert_int_equal(pages[3], 0);
    sess_rows c = {0};
    assert_int_equal(store_sessions_list(s, NULL, -1, sess_collect, &c), 0);
    assert_int_equal(c.n, 25);
    sess_rows one = {.stop_after = 1};
    assert_int_equal(store_sessions_list(s, "s03", 10, sess_collect, &one), 0);
    assert_int_equal(one.n, 1);
    assert_string_equal(one.id[0], "s04");

    /* a duplicate id fails and changes nothing */
    assert_int_equal(store_session_create_take(s, "s05", "{}", 1, 99, snap_new(3, 0xEE), 3), ERR_STORAGE);
    sess_rows s5 = {0};
    assert_int_equal(store_session_load(s, "s05", sess_collect, &s5), 0);
    assert_int_equal(s5.n, 1);
    assert_int_equal(s5.step[0], 5);
    assert_int_equal(s5.snap_first[0], 5);
    sess_rows none = {0};
    assert_int_equal(store_session_load(s, "nope", sess_collect, &none), ERR_SESSION_NOT_FOUND);
    assert_int_equal(none.n, 0);

    /* status update keeps meta when meta is NULL; meta update keeps status */
    assert_int_equal(store_session_update(s, "s07", "diverged", NULL), 0);
    assert_int_equal(store_session_update(s, "s08", NULL, "{\"x\":1}"), 0);
    assert_int_equal(store_flush(s), 0);
    sess_rows u = {0};
    assert_int_equal(store_sessions_list(s, "s06", 2, sess_collect, &u), 0);
    assert_string_equal(u.status[0], "diverged");
    assert_string_equal(u.meta[0], "{\"name\":\"s07\"}");
    assert_string_equal(u.status[1], "active");
    assert_string_equal(u.meta[1], "{\"x\":1}");
    store_close(s);
    check_integrity(path);
}

static void test_store_snapshot_replace_then_reopen_shows_latest(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "a", 0, 100, 0x01);
    assert_int_equal(store_snapshot_put_owned(s, "a", 5, snap_new(200, 0x05), 200, 1), 0);
    assert_int_equal(store_snapshot_put_owned(s, "a", 6, snap_new(300, 0x06), 300, 0), 0);
    store_close(s);   /* drains the async snapshot */
    /* TRUNCATE checkpoint on close leaves an empty (or no) WAL */
    char wal[310];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat stw;
    if (stat(wal, &stw) == 0) assert_int_equal(stw.st_size, 0);

    assert_int_equal(store_open(path, &s), 0);
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 1);
    assert_int_equal(all->step[0], 6);
    assert_int_equal(all->snap_len[0], 300);
    assert_int_equal(all->snap_first[0], 0x06);
    free(all);
    store_close(s);
    check_integrity(path);
}

/* A snapshot whose byte i is (i * 7 + seed) % 251: chunk order matters. */
static void *snap_pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((i * 7 + seed) % 251);
    return p;
}

typedef struct pattern_check { size_t len; unsigned seed; int seen, equal; } pattern_check;

static int pattern_collect(void *ctx, const store_session_row *r)
{
    pattern_check *c = ctx;
    c->seen++;
    unsigned char *want = snap_pattern(c->len, c->seed);
    c->equal = r->snapshot && r->snapshot_len == c->len && memcmp(r->snapshot, want, c->len) == 0;
    free(want);
    return 0;
}

static pattern_check load_pattern(store *s, const char *id, size_t len, unsigned seed)
{
    pattern_check c = {len, seed, 0, 0};
    assert_int_equal(store_session_load(s, id, pattern_collect, &c), 0);
    return c;
}

static void test_store_snapshots_over_the_chunk_size_are_stored_in_chunks_in_order(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    store_set_chunk_bytes(s, 1024);
    assert_int_equal(store_session_create_take(s, "a", "{}", 1, 0, snap_pattern(10000, 3), 10000), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(raw_int(path, "SELECT nchunks FROM sessions WHERE id = 'a'"), 10);
    assert_int_equal(raw_int(path, "SELECT length(snapshot) FROM sessions WHERE id = 'a'"), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM snapshot_chunks WHERE session_id = 'a'"), 10);
    pattern_check c = load_pattern(s, "a", 10000, 3);
    assert_true(c.seen == 1 && c.equal);

    /* a small snapshot goes back into the row and drops the chunks */
    assert_int_equal(store_snapshot_put_owned(s, "a", 1, snap_pattern(1000, 4), 1000, 1), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM snapshot_chunks"), 0);
    c = load_pattern(s, "a", 1000, 4);
    assert_true(c.equal);
    /* a bigger one (not a multiple of the chunk) replaces it; a reopened
     * store with another chunk size reads it back */
    assert_int_equal(store_snapshot_put_owned(s, "a", 2, snap_pattern(5000, 5), 5000, 0), 0);
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM snapshot_chunks WHERE session_id = 'a'"), 5);
    assert_int_equal(store_open(path, &s), 0);
    c = load_pattern(s, "a", 5000, 5);
    assert_true(c.equal);
    pattern_check all = {5000, 5, 0, 0};
    assert_int_equal(store_sessions_load(s, pattern_collect, &all), 0);
    assert_true(all.seen == 1 && all.equal);

    /* deleting the session deletes its chunks */
    assert_int_equal(store_session_delete(s, "a"), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM snapshot_chunks"), 0);
    store_close(s);
    check_integrity(path);
}

static void test_store_a_missing_chunk_reads_as_an_empty_snapshot(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    store_set_chunk_bytes(s, 1024);
    assert_int_equal(store_session_create_take(s, "b", "{}", 1, 0, snap_pattern(4096, 1), 4096), 0);
    store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM snapshot_chunks WHERE seq = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(path, &s), 0);
    sess_rows one = {0};
    assert_int_equal(store_session_load(s, "b", sess_collect, &one), 0);
    assert_int_equal(one.n, 1);
    assert_int_equal(one.snap_len[0], 0);     /* the blob reader then says corrupt */
    store_close(s);
    check_integrity(path);
}

static void test_store_coalesces_queued_async_snapshots_keeping_the_latest(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "c", 0, 10, 0);
    create_session(s, "d", 0, 10, 0);
    store_test_hold(s, 1);
    for (int k = 1; k <= 5; k++)
        assert_int_equal(store_snapshot_put_owned(s, "c", k, snap_new(4096, (unsigned char)k), 4096, 0), 0);
    assert_int_equal(store_snapshot_put_owned(s, "d", 1, snap_new(64, 0xD1), 64, 0), 0);
    store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.coalesced, 4);   /* c's 1..4 freed at once; d untouched */
    store_test_hold(s, 0);
    assert_int_equal(store_flush(s), 0);
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 2);
    assert_string_equal(all->id[0], "c");
    assert_int_equal(all->step[0], 5);
    assert_int_equal(all->snap_first[0], 5);
    assert_int_equal(all->snap_len[0], 4096);
    assert_int_equal(all->step[1], 1);
    assert_int_equal(all->snap_first[1], 0xD1);
    free(all);
    store_get_stats(s, &st);
    assert_int_equal(st.jobs_failed, 0);
    store_close(s);
    check_integrity(path);
}

static void test_store_metrics_and_feedback_query_with_after_and_limit(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "m", 0, 8, 0);
    create_session(s, "other", 0, 8, 0);
    for (int k = 100; k >= 1; k--) {   /* queued out of order; read ascending */
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "m", &m), 0);
    }
    step_metric mo = metric_for(50);
    assert_int_equal(store_metric(s, "other", &mo), 0);
    assert_int_equal(store_flush(s), 0);

    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, "m", 0, 10, metric_collect, c), 0);
    assert_int_equal(c->n, 10);
    for (int i = 0; i < 10; i++) {
        step_metric e = metric_for(i + 1);
        assert_int_equal(c->m[i].step, e.step);
        assert_int_equal(c->m[i].time_ms, e.time_ms);
        assert_true(c->m[i].loss == e.loss);
        assert_true(c->m[i].grad_norm == e.grad_norm);
        assert_true(c->m[i].update_norm == e.update_norm);
        assert_true(c->m[i].param_norm == e.param_norm);
        assert_true(c->m[i].lr == e.lr);
        assert_true(c->m[i].duration_us == e.duration_us);
    }
    c->n = 0;
    assert_int_equal(store_metrics_query(s, "m", 95, 10, metric_collect, c), 0);
    assert_int_equal(c->n, 5);
    assert_int_equal(c->m[0].step, 96);
    assert_int_equal(c->m[4].step, 100);
    c->n = 0;
    assert_int_equal(store_metrics_query(s, "m", 0, -1, metric_collect, c), 0);
    assert_int_equal(c->n, 100);
    c->n = 0;
    assert_int_equal(store_metrics_query(s, "m", 100, 10, metric_collect, c), 0);
    assert_int_equal(c->n, 0);
    free(c);

    for (int k = 1; k <= 5; k++) {
        char js[32];
        snprintf(js, sizeof js, "{\"acc\":%d}", k);
        assert_int_equal(store_feedback(s, "m", k, 0.5 * k, js), 0);
    }
    /* a later feedback for step 3 replaces the earlier */
    assert_int_equal(store_feedback(s, "m", 3, 7.25, NULL), 0);
    fb_rows f = {0};
    assert_int_equal(store_feedback_query(s, "m", 0, 100, fb_collect, &f), 0);
    assert_int_equal(f.n, 5);
    assert_int_equal(f.step[2], 3);
    assert_true(f.loss[2] == 7.25);
    assert_true(f.json_null[2]);
    assert_string_equal(f.json[3], "{\"acc\":4}");
    fb_rows g = {0};
    assert_int_equal(store_feedback_query(s, "m", 2, 2, fb_collect, &g), 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.step[0], 3);
    assert_int_equal(g.step[1], 4);
    store_close(s);
    check_integrity(path);
}

static void test_store_nan_loss_roundtrips_and_inf_is_stored_as_null(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "n", 0, 8, 0);
    step_metric m = metric_for(1);
    m.loss = NAN;
    m.grad_norm = INFINITY;
    m.lr = -INFINITY;
    m.update_norm = 1.0;
    assert_int_equal(store_metric(s, "n", &m), 0);
    assert_int_equal(store_feedback(s, "n", 1, NAN, "{}"), 0);
    assert_int_equal(store_feedback(s, "n", 2, -INFINITY, NULL), 0);
    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, "n", 0, 10, metric_collect, c), 0);
    assert_int_equal(c->n, 1);
    assert_true(isnan(c->m[0].loss));
    assert_true(isnan(c->m[0].grad_norm));
    assert_true(isnan(c->m[0].lr));
    assert_true(c->m[0].update_norm == 1.0);
    assert_true(c->m[0].param_norm == m.param_norm);
    free(c);
    fb_rows f = {0};
    assert_int_equal(store_feedback_query(s, "n", 0, 10, fb_collect, &f), 0);
    assert_int_equal(f.n, 2);
    assert_true(isnan(f.loss[0]));
    assert_true(isnan(f.loss[1]));
    store_close(s);
    /* on disk they are NULLs, not infinities */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics WHERE loss IS NULL AND grad_norm IS NULL"
                                   " AND lr IS NULL AND update_norm = 1.0"), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM feedback WHERE loss IS NULL"), 2);
    check_integrity(path);
}

static void test_store_delete_removes_metrics_feedback_and_snapshot(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "x", 0, 1000, 0x0A);
    create_session(s, "y", 0, 10, 0x0B);
    for (int k = 1; k <= 10; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "x", &m), 0);
        assert_int_equal(store_metric(s, "y", &m), 0);
    }
    for (int k = 1; k <= 3; k++) assert_int_equal(store_feedback(s, "x", k, 1.0, NULL), 0);
    assert_int_equal(store_feedback(s, "y", 1, 1.0, NULL), 0);
    assert_int_equal(store_session_delete(s, "x"), 0);
    assert_int_equal(count_metrics(s, "x"), 0);
    fb_rows f = {0};
    assert_int_equal(store_feedback_query(s, "x", 0, -1, fb_collect, &f), 0);
    assert_int_equal(f.n, 0);
    sess_rows none = {0};
    assert_int_equal(store_session_load(s, "x", sess_collect, &none), ERR_SESSION_NOT_FOUND);

    /* rows for a deleted or never-created session are dropped silently */
    step_metric m = metric_for(11);
    assert_int_equal(store_metric(s, "x", &m), 0);
    assert_int_equal(store_metric(s, "ghost", &m), 0);
    assert_int_equal(store_snapshot_put_owned(s, "x", 11, snap_new(16, 1), 16, 0), 0);
    assert_int_equal(store_snapshot_put_owned(s, "ghost", 11, snap_new(16, 1), 16, 1), 0);
    assert_int_equal(store_session_update(s, "x", "active", NULL), 0);
    assert_int_equal(store_feedback(s, "x", 11, 1.0, NULL), 0);
    assert_int_equal(store_flush(s), 0);
    store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.jobs_failed, 0);
    assert_int_equal(count_metrics(s, "y"), 10);
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 1);
    assert_string_equal(all->id[0], "y");
    free(all);
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics WHERE session_id <> 'y'"), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM feedback WHERE session_id <> 'y'"), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM sessions"), 1);
    check_integrity(path);
}

static int never_called(void *ctx, const store_session_row *r)
{
    (void)ctx;
    (void)r;
    fail_msg("callback called");
    return 1;
}

static void test_store_writes_refuse_null_store_or_id(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    step_metric m = metric_for(1);
    /* the take functions free the buffer even then (run under asan/valgrind to see a leak) */
    assert_int_equal(store_session_create_take(NULL, "a", "{}", 1, 0, snap_new(8, 0), 8), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_session_create_take(s, NULL, "{}", 1, 0, snap_new(8, 0), 8), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_snapshot_put_owned(NULL, "a", 1, snap_new(8, 0), 8, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_snapshot_put_owned(s, NULL, 1, snap_new(8, 0), 8, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_metric(NULL, "a", &m), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_metric(s, NULL, &m), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_metric(s, "a", NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_feedback(s, NULL, 1, 0.5, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_session_update(s, NULL, "x", NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_session_delete(s, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_flush(NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_session_load(s, NULL, never_called, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_metrics_query(s, NULL, 0, -1, NULL, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_feedback_query(s, NULL, 0, -1, NULL, NULL), ERR_INVALID_ARGUMENT);
    assert_int_equal(store_open(NULL, &s), ERR_INVALID_ARGUMENT);
    store_close(NULL);
    store_close(s);
    check_integrity(path);
}

/* Regression (once a crash: every read locked s->rmu of a NULL store in the
 * reader pool, now store_read.c): store.h promises ERR_INVALID_ARGUMENT for
 * a NULL store, for reads as for writes.  Run in a forked child so that a
 * crash fails this test only. */
static void test_store_reads_refuse_a_null_store(void **unused)
{
    (void)unused;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would longjmp back into the runner inside the child */
        const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
        int bad = 0;
        bad += store_sessions_load(NULL, never_called, NULL) != ERR_INVALID_ARGUMENT;
        bad += store_session_load(NULL, "a", never_called, NULL) != ERR_INVALID_ARGUMENT;
        bad += store_sessions_list(NULL, NULL, -1, never_called, NULL) != ERR_INVALID_ARGUMENT;
        bad += store_metrics_query(NULL, "a", 0, -1, metric_collect, NULL) != ERR_INVALID_ARGUMENT;
        bad += store_feedback_query(NULL, "a", 0, -1, fb_collect, NULL) != ERR_INVALID_ARGUMENT;
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) fail_msg("a read with a NULL store died of signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_creates_loads_lists_and_paginates_sessions),
        cmocka_unit_test(test_store_snapshot_replace_then_reopen_shows_latest),
        cmocka_unit_test(test_store_snapshots_over_the_chunk_size_are_stored_in_chunks_in_order),
        cmocka_unit_test(test_store_a_missing_chunk_reads_as_an_empty_snapshot),
        cmocka_unit_test(test_store_coalesces_queued_async_snapshots_keeping_the_latest),
        cmocka_unit_test(test_store_metrics_and_feedback_query_with_after_and_limit),
        cmocka_unit_test(test_store_nan_loss_roundtrips_and_inf_is_stored_as_null),
        cmocka_unit_test(test_store_delete_removes_metrics_feedback_and_snapshot),
        cmocka_unit_test(test_store_writes_refuse_null_store_or_id),
        cmocka_unit_test(test_store_reads_refuse_a_null_store),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
