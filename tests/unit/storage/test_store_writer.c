/* test_store_writer.c — the writer thread and its queue (store_writer.c):
 * concurrent writers land exactly once, a synchronous call sees every job
 * queued before it, a queued batch commits in one transaction, the linger
 * obeys a hold, a flush and store_close, a bad job
 * fails alone, a full disk (PRAGMA max_page_count; RLIMIT_FSIZE) fails the
 * job that needs the space and the writer recovers, writes are refused while
 * the database file is gone, replaced or read-only, store_close drains the
 * queue, and store_call / borrowed readers work.  Every test ends with PRAGMA
 * integrity_check and foreign_key_check on the closed database. */
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

#define STORE_TEST_NAME "test_store_writer"
#include "store_test_util.h"

/* ---- tests ------------------------------------------------------------------ */

typedef struct enq_arg {
    store *s;
    int    t;
} enq_arg;

#define ENQ_THREADS 8
#define ENQ_EACH    500

static void *enqueue_main(void *p)
{
    enq_arg *a = p;
    for (int k = 0; k < ENQ_EACH; k++) {
        step_metric m = metric_for((int64_t)a->t * ENQ_EACH + k + 1);
        if (store_metric(a->s, "conc", &m) != 0) return (void *)1;
        /* some synchronous traffic in between */
        if (k % 100 == 99 && store_feedback(a->s, "conc", m.step, 1.0, NULL) != 0) return (void *)1;
    }
    return NULL;
}

static void test_store_eight_threads_enqueueing_land_exactly_once(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "conc", 0, 8, 0);
    store_stats before;
    store_get_stats(s, &before);
    pthread_t th[ENQ_THREADS];
    enq_arg a[ENQ_THREADS];
    for (int t = 0; t < ENQ_THREADS; t++) {
        a[t] = (enq_arg){s, t};
        assert_int_equal(pthread_create(&th[t], NULL, enqueue_main, &a[t]), 0);
    }
    for (int t = 0; t < ENQ_THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        assert_null(r);
    }
    assert_int_equal(store_flush(s), 0);
    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, "conc", 0, -1, metric_collect, c), 0);
    assert_int_equal(c->n, ENQ_THREADS * ENQ_EACH);
    for (int i = 0; i < c->n; i++) {   /* ascending, each step once, values intact */
        step_metric e = metric_for(i + 1);
        assert_int_equal(c->m[i].step, i + 1);
        assert_true(c->m[i].loss == e.loss);
        assert_true(c->m[i].param_norm == e.param_norm);
    }
    free(c);
    store_stats after;
    store_get_stats(s, &after);
    assert_int_equal(after.jobs - before.jobs, ENQ_THREADS * ENQ_EACH + ENQ_THREADS * (ENQ_EACH / 100) + 1);
    assert_int_equal(after.jobs_failed, 0);
    assert_int_equal(after.queue_depth, 0);
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics"), ENQ_THREADS * ENQ_EACH);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM feedback"), ENQ_THREADS * (ENQ_EACH / 100));
    check_integrity(path);
}

static void test_store_sync_call_after_async_ones_sees_them_committed(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "o", 0, 8, 0);
    for (int round = 0; round < 5; round++) {
        for (int k = 1; k <= 200; k++) {
            step_metric m = metric_for(round * 200 + k);
            assert_int_equal(store_metric(s, "o", &m), 0);
        }
        int64_t step = (round + 1) * 200;
        assert_int_equal(store_snapshot_put_owned(s, "o", step, snap_new(32, (unsigned char)round), 32, 0), 0);
        /* no flush: the synchronous feedback returns after its commit, and
         * everything queued before it rode the same or an earlier commit */
        assert_int_equal(store_feedback(s, "o", step, 1.0, NULL), 0);
        assert_int_equal(count_metrics(s, "o"), (round + 1) * 200);
        sess_rows one = {0};
        assert_int_equal(store_session_load(s, "o", sess_collect, &one), 0);
        assert_int_equal(one.step[0], step);
        assert_int_equal(one.snap_first[0], round);
    }
    store_close(s);
    check_integrity(path);
}

static void test_store_group_commit_writes_a_queued_batch_in_one_transaction(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "g", 0, 8, 0);
    store_stats before, after;
    store_get_stats(s, &before);
    store_test_hold(s, 1);
    for (int k = 1; k <= 1000; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "g", &m), 0);
    }
    store_get_stats(s, &after);
    assert_int_equal(after.queue_depth, 1000);
    assert_int_equal(after.commits, before.commits);
    store_test_hold(s, 0);
    assert_int_equal(store_flush(s), 0);
    store_get_stats(s, &after);
    /* 1000 jobs, one transaction (a flush alone commits nothing) */
    assert_int_equal(after.commits - before.commits, 1);
    assert_int_equal(after.jobs - before.jobs, 1001);
    assert_true(after.commit_us_total >= after.commit_us_max);
    assert_true(after.commit_us_max > 0);
    assert_int_equal(count_metrics(s, "g"), 1000);
    store_close(s);
    check_integrity(path);
}

/* The linger (store_writer.c): after a batch of more than one job the writer
 * waits for more before it begins.  A hold set while it lingers is obeyed (it
 * takes nothing more), a flush gets every job queued before it committed,
 * and store_close while it lingers still drains the queue.  No timing is
 * asserted: a descheduled thread may let the linger run out, which changes
 * only how jobs are grouped, never which land. */
static void test_store_linger_obeys_hold_flush_and_close(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "l", 0, 8, 0);
    const int busy = STORE_LINGER_BUSY_JOBS;   /* steps 1..busy: a batch that means load */
    store_test_hold(s, 1);
    for (int k = 1; k <= busy; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "l", &m), 0);
    }
    store_stats before, after;
    store_get_stats(s, &before);
    store_test_hold(s, 0);                 /* the writer lingers next time */
    step_metric m = metric_for(busy + 1);
    assert_int_equal(store_metric(s, "l", &m), 0);   /* the writer wakes and lingers */
    store_test_hold(s, 1);
    for (int k = busy + 2; k <= busy + 1001; k++) {
        m = metric_for(k);
        assert_int_equal(store_metric(s, "l", &m), 0);
    }
    store_get_stats(s, &after);
    assert_true(after.queue_depth >= 1000);            /* held: nothing after step busy + 1 was taken */
    assert_true(after.commits - before.commits <= 2);  /* steps 1..busy, then maybe step busy + 1 */
    store_test_hold(s, 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(count_metrics(s, "l"), busy + 1001);
    for (int k = busy + 1002; k <= busy + 1001 + 2 * busy; k++) {   /* a busy batch, then closed during the linger */
        m = metric_for(k);
        assert_int_equal(store_metric(s, "l", &m), 0);
    }
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics"), busy + 1001 + 2 * busy);
    check_integrity(path);
}

typedef struct create_arg {
    store      *s;
    const char *id;
    int         rc;
    size_t      snap_len;
} create_arg;

static void *create_main(void *p)
{
    create_arg *a = p;
    a->rc = store_session_create_take(a->s, a->id, "{}", 1, 0, snap_new(a->snap_len, 0x33), a->snap_len);
    return NULL;
}

static void *snapshot_main(void *p)
{
    create_arg *a = p;
    a->rc = store_snapshot_put_owned(a->s, a->id, 1, snap_new(a->snap_len, 0x44), a->snap_len, 1);
    return NULL;
}

static void test_store_bad_job_fails_alone_and_others_in_its_batch_commit(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "dup", 0, 8, 0x01);
    store_stats before, after;
    store_get_stats(s, &before);
    store_test_hold(s, 1);
    for (int k = 1; k <= 50; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "dup", &m), 0);
    }
    create_arg bad = {s, "dup", -1, 16}, good = {s, "fresh", -1, 16};
    pthread_t tb, tg;
    assert_int_equal(pthread_create(&tb, NULL, create_main, &bad), 0);
    wait_queue_depth(s, 51);
    assert_int_equal(pthread_create(&tg, NULL, create_main, &good), 0);
    wait_queue_depth(s, 52);
    store_test_hold(s, 0);
    pthread_join(tb, NULL);
    pthread_join(tg, NULL);
    assert_int_equal(bad.rc, ERR_STORAGE);
    assert_int_equal(good.rc, 0);
    assert_int_equal(count_metrics(s, "dup"), 50);
    store_get_stats(s, &after);
    assert_int_equal(after.jobs_failed - before.jobs_failed, 1);
    assert_int_equal(after.errors - before.errors, 2);   /* the batch, then the bad job's own retry */
    assert_int_equal(after.commits - before.commits, 51);/* 50 metrics + the good create, one by one */
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 2);
    assert_int_equal(all->snap_first[0], 0x01);          /* "dup" kept its own snapshot */
    assert_string_equal(all->id[1], "fresh");
    free(all);
    /* the writer goes on normally */
    assert_int_equal(store_feedback(s, "fresh", 1, 1.0, NULL), 0);
    store_close(s);
    check_integrity(path);
}

static void test_store_full_disk_by_max_page_count_fails_the_big_job_only(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "big", 0, 16, 0x01);
    /* free pages for small rows: fill and delete a session's metrics */
    create_session(s, "pad", 0, 16, 0x02);
    for (int k = 1; k <= 3000; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "pad", &m), 0);
    }
    assert_int_equal(store_session_delete(s, "pad"), 0);
    /* the file may not grow any more (clamped to its current size) */
    assert_int_equal(store_test_exec(s, "PRAGMA max_page_count = 1"), 0);

    const size_t mb = 1 << 20;
    store_test_hold(s, 1);
    for (int k = 1; k <= 20; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "big", &m), 0);
    }
    create_arg snap = {s, "big", -1, mb};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, snapshot_main, &snap), 0);
    wait_queue_depth(s, 21);
    store_test_hold(s, 0);
    pthread_join(th, NULL);
    assert_int_equal(snap.rc, ERR_STORAGE);
    assert_int_equal(count_metrics(s, "big"), 20);   /* the small rows fit in free pages */
    sess_rows one = {0};
    assert_int_equal(store_session_load(s, "big", sess_collect, &one), 0);
    assert_int_equal(one.snap_len[0], 16);           /* old snapshot intact */

    /* room again: the same write succeeds */
    assert_int_equal(store_test_exec(s, "PRAGMA max_page_count = 1073741823"), 0);
    assert_int_equal(store_snapshot_put_owned(s, "big", 2, snap_new(mb, 0x55), mb, 1), 0);
    sess_rows two = {0};
    assert_int_equal(store_session_load(s, "big", sess_collect, &two), 0);
    assert_int_equal(two.snap_len[0], mb);
    assert_int_equal(two.snap_first[0], 0x55);
    assert_int_equal(two.step[0], 2);
    store_close(s);
    check_integrity(path);
}

static void test_store_full_disk_by_rlimit_fsize_gives_err_storage_then_recovers(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "r", 0, 64, 0x01);
    assert_int_equal(store_feedback(s, "r", 1, 1.0, NULL), 0);

    struct rlimit old, tiny;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    tiny = old;
    tiny.rlim_cur = 1;   /* every write past byte 1 of any file fails with EFBIG */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
    /* nothing may print while the limit is on: collect, then assert */
    int rc_fb = store_feedback(s, "r", 2, 2.0, NULL);
    int rc_snap = store_snapshot_put_owned(s, "r", 2, snap_new(8192, 0x02), 8192, 1);
    int rc_async = store_snapshot_put_owned(s, "r", 3, snap_new(8192, 0x03), 8192, 0);
    int rc_flush = store_flush(s);
    store_stats mid;
    store_get_stats(s, &mid);
    const char *why_files = "unset", *why_writes = NULL;
    int rc_files = store_health(s, 0, &why_files);     /* the files are fine… */
    int rc_writes = store_health(s, 1, &why_writes);   /* …but writes fail, the probe too */
    int restored = setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_sig);
    assert_int_equal(restored, 0);
    assert_int_equal(rc_fb, ERR_STORAGE);
    assert_int_equal(rc_snap, ERR_STORAGE);
    assert_int_equal(rc_async, 0);                   /* async: no waiter… */
    assert_true(rc_flush == 0 || rc_flush == ERR_STORAGE);
    assert_true(mid.jobs_failed >= 3);               /* …but counted */
    assert_true(mid.errors >= 3);
    assert_int_equal(rc_files, 0);
    assert_null(why_files);
    assert_int_equal(rc_writes, ERR_STORAGE);
    assert_string_equal(why_writes, "storage_write_failed");
    /* limit lifted: the health probe's one-page write commits and clears it */
    assert_int_equal(store_health(s, 1, &why_writes), 0);
    assert_null(why_writes);

    /* limit lifted: the writer is still there and writes succeed again */
    assert_int_equal(store_feedback(s, "r", 4, 4.0, NULL), 0);
    assert_int_equal(store_snapshot_put_owned(s, "r", 4, snap_new(8192, 0x04), 8192, 1), 0);
    fb_rows f = {0};
    assert_int_equal(store_feedback_query(s, "r", 0, -1, fb_collect, &f), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.step[0], 1);
    assert_int_equal(f.step[1], 4);
    sess_rows one = {0};
    assert_int_equal(store_session_load(s, "r", sess_collect, &one), 0);
    assert_int_equal(one.step[0], 4);
    assert_int_equal(one.snap_first[0], 0x04);
    store_close(s);
    check_integrity(path);
}

/* Issue 13, finding 10: SQLite goes on "committing" into a database file
 * deleted or replaced under it; the store notices and refuses. */
static void test_store_refuses_writes_while_its_file_is_gone_replaced_or_read_only(void **unused)
{
    (void)unused;
    char path[300], moved[320];
    store *s = open_new(path, sizeof path);
    create_session(s, "a", 0, 64, 0x01);
    const char *why = "unset";
    assert_int_equal(store_health(s, 1, &why), 0);
    assert_null(why);

    /* moved away (as good as deleted for the next start) */
    snprintf(moved, sizeof moved, "%s.moved", path);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(store_health(s, 0, &why), ERR_STORAGE);
    assert_string_equal(why, "database_deleted");
    store_stats before, after;
    store_get_stats(s, &before);
    assert_int_equal(store_feedback(s, "a", 1, 1.0, NULL), ERR_STORAGE);
    assert_int_equal(store_snapshot_put_owned(s, "a", 1, snap_new(64, 0x02), 64, 1), ERR_STORAGE);
    assert_int_equal(store_session_delete(s, "a"), ERR_STORAGE);
    store_get_stats(s, &after);
    assert_int_equal(after.jobs_failed - before.jobs_failed, 3);
    assert_int_equal(after.commits, before.commits);
    /* back at its path (the same inode): writable again, nothing was written meanwhile */
    assert_int_equal(rename(moved, path), 0);
    assert_int_equal(store_health(s, 1, &why), 0);
    assert_int_equal(store_feedback(s, "a", 2, 2.0, NULL), 0);
    fb_rows f = {0};
    assert_int_equal(store_feedback_query(s, "a", 0, -1, fb_collect, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.step[0], 2);

    if (geteuid() != 0) {   /* root ignores mode bits (the integration test uses chattr +i) */
        assert_int_equal(chmod(path, 0444), 0);
        assert_int_equal(store_health(s, 0, &why), ERR_STORAGE);
        assert_string_equal(why, "database_read_only");
        assert_int_equal(store_feedback(s, "a", 3, 3.0, NULL), ERR_STORAGE);
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(store_feedback(s, "a", 3, 3.0, NULL), 0);
    }

    /* replaced: another file (a copy) under the same name */
    char copy[340], cmd[800];
    snprintf(copy, sizeof copy, "%s.copy", path);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rename(copy, path), 0);
    assert_int_equal(store_health(s, 0, &why), ERR_STORAGE);
    assert_string_equal(why, "database_replaced");
    assert_int_equal(store_feedback(s, "a", 4, 4.0, NULL), ERR_STORAGE);
    store_close(s);
    check_integrity(path);
}

static void test_store_close_drains_queued_async_jobs(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    create_session(s, "q", 0, 8, 0);
    store_test_hold(s, 1);   /* close must release the hold and still drain */
    for (int k = 1; k <= 1000; k++) {
        step_metric m = metric_for(k);
        assert_int_equal(store_metric(s, "q", &m), 0);
    }
    assert_int_equal(store_snapshot_put_owned(s, "q", 1000, snap_new(100, 0x7E), 100, 0), 0);
    store_close(s);
    store_close(NULL);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics WHERE session_id = 'q'"), 1000);
    assert_int_equal(raw_int(path, "SELECT step FROM sessions WHERE id = 'q'"), 1000);
    check_integrity(path);
}

/* store_call (used by store_auth.c): runs on the writer; an error fails alone. */
static int call_insert(sqlite3 *db, void *ctx)
{
    (void)ctx;
    return sqlite3_exec(db, "INSERT INTO sessions(id, meta_json, created_ms, updated_ms, step, snapshot)"
                            " VALUES('viacall', '{}', 1, 1, 0, x'00')", NULL, NULL, NULL);
}

static int call_fail(sqlite3 *db, void *ctx)
{
    (void)db;
    (void)ctx;
    return SQLITE_CONSTRAINT;
}

static void test_store_call_and_borrowed_readers_work(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    assert_int_equal(store_call(s, call_insert, NULL), 0);
    assert_int_equal(store_call(s, call_fail, NULL), ERR_STORAGE);
    sqlite3 *db = store_reader_acquire(s);
    assert_non_null(db);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sessions", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    /* a borrowed connection is read-only */
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM sessions", NULL, NULL, NULL), SQLITE_OK);
    store_reader_release(s, db);
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 1);
    free(all);
    store_close(s);
    check_integrity(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_eight_threads_enqueueing_land_exactly_once),
        cmocka_unit_test(test_store_sync_call_after_async_ones_sees_them_committed),
        cmocka_unit_test(test_store_group_commit_writes_a_queued_batch_in_one_transaction),
        cmocka_unit_test(test_store_linger_obeys_hold_flush_and_close),
        cmocka_unit_test(test_store_bad_job_fails_alone_and_others_in_its_batch_commit),
        cmocka_unit_test(test_store_full_disk_by_max_page_count_fails_the_big_job_only),
        cmocka_unit_test(test_store_full_disk_by_rlimit_fsize_gives_err_storage_then_recovers),
        cmocka_unit_test(test_store_refuses_writes_while_its_file_is_gone_replaced_or_read_only),
        cmocka_unit_test(test_store_close_drains_queued_async_jobs),
        cmocka_unit_test(test_store_call_and_borrowed_readers_work),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
