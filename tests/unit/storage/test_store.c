/* test_store.c — the SQLite store against real database files in a mkdtemp()
 * directory: sessions, snapshots (replace, coalescing, reopen), metrics and
 * feedback queries, non-finite values, delete, schema versions and migration
 * from v1, group commit and ordering, concurrent writers, a bad job failing
 * alone, and a full disk (PRAGMA max_page_count; RLIMIT_FSIZE) from which the
 * writer recovers.  Every test ends with PRAGMA integrity_check and
 * foreign_key_check on the closed database.  Doubles written and read back
 * must match exactly (SQLite REAL is an IEEE double): tolerance 0. */
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

#define SCHEMA_VERSION_NOW store_schema_version()

static char g_dir[256];
static int  g_seq;

/* ---- helpers --------------------------------------------------------------- */

static void db_path(char *out, size_t n)
{
    snprintf(out, n, "%s/t%03d.db", g_dir, ++g_seq);
}

static void *snap_new(size_t n, unsigned char fill)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memset(p, fill, n);
    return p;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (no time limit: not a timed assertion) until n jobs are queued. */
static void wait_queue_depth(store *s, int64_t n)
{
    for (;;) {
        store_stats st;
        store_get_stats(s, &st);
        if (st.queue_depth >= n) return;
        sleep_ms(1);
    }
}

/* A raw read-only connection for checks that the API does not expose. */
static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    return db;
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* integrity_check says "ok" and foreign_key_check finds nothing. */
static void check_integrity(const char *path)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static store *open_new(char *path, size_t n)
{
    db_path(path, n);
    store *s = NULL;
    assert_int_equal(store_open(path, &s), 0);
    assert_non_null(s);
    return s;
}

static void create_session(store *s, const char *id, int64_t step, size_t snap_len, unsigned char fill)
{
    char meta[64];
    snprintf(meta, sizeof meta, "{\"name\":\"%s\"}", id);
    assert_int_equal(store_session_create_take(s, id, meta, 1000 + step, step, snap_new(snap_len, fill), snap_len), 0);
}

static step_metric metric_for(int64_t step)
{
    step_metric m = {.step = step, .time_ms = 1700000000000 + step, .loss = 1.0 / (double)(step + 1),
                     .grad_norm = 0.25 * (double)step, .update_norm = 1e-3 * (double)step,
                     .param_norm = 10.0 + (double)step, .lr = 1e-3, .duration_us = 12.5};
    return m;
}

/* Collectors. */
typedef struct sess_rows {
    int  n, stop_after;
    char id[64][16];
    char meta[64][64];
    char status[64][16];
    int64_t step[64];
    size_t snap_len[64];
    unsigned char snap_first[64], snap_last[64];
} sess_rows;

static int sess_collect(void *ctx, const store_session_row *r)
{
    sess_rows *c = ctx;
    assert_true(c->n < 64);
    snprintf(c->id[c->n], sizeof c->id[0], "%s", r->id);
    snprintf(c->meta[c->n], sizeof c->meta[0], "%s", r->meta_json);
    snprintf(c->status[c->n], sizeof c->status[0], "%s", r->status);
    c->step[c->n] = r->step;
    c->snap_len[c->n] = r->snapshot_len;
    if (r->snapshot && r->snapshot_len) {
        const unsigned char *p = r->snapshot;
        c->snap_first[c->n] = p[0];
        c->snap_last[c->n] = p[r->snapshot_len - 1];
        for (size_t i = 0; i < r->snapshot_len; i++) assert_int_equal(p[i], p[0]);
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

typedef struct metric_rows {
    int n;
    step_metric m[8192];
} metric_rows;

static int metric_collect(void *ctx, const step_metric *m)
{
    metric_rows *c = ctx;
    assert_true(c->n < 8192);
    c->m[c->n++] = *m;
    return 0;
}

typedef struct fb_rows {
    int n;
    int64_t step[64];
    double loss[64];
    char json[64][64];
    int json_null[64];
} fb_rows;

static int fb_collect(void *ctx, const store_feedback_row *f)
{
    fb_rows *c = ctx;
    assert_true(c->n < 64);
    c->step[c->n] = f->step;
    c->loss[c->n] = f->loss;
    c->json_null[c->n] = f->metrics_json == NULL;
    snprintf(c->json[c->n], sizeof c->json[0], "%s", f->metrics_json ? f->metrics_json : "");
    c->n++;
    return 0;
}

static int count_metrics(store *s, const char *id)
{
    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, id, INT64_MIN, -1, metric_collect, c), 0);
    int n = c->n;
    free(c);
    return n;
}

static sess_rows *load_all(store *s)
{
    sess_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_sessions_load(s, sess_collect, c), 0);
    return c;
}

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

/* The schema as shipped at user_version 1 (a copy: this is what old files hold). */
static const char schema_v1[] =
    "CREATE TABLE sessions("
    "  id TEXT PRIMARY KEY, meta_json TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  snapshot BLOB NOT NULL);"
    "CREATE TABLE metrics("
    "  session_id TEXT NOT NULL, step INTEGER NOT NULL, time_ms INTEGER NOT NULL, loss REAL,"
    "  grad_norm REAL, update_norm REAL, param_norm REAL, lr REAL, duration_us REAL,"
    "  PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE feedback("
    "  session_id TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, metrics_json TEXT,"
    "  time_ms INTEGER NOT NULL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "INSERT INTO sessions VALUES('old', '{\"v\":1}', 'active', 5, 6, 7, x'0707');"
    "INSERT INTO metrics VALUES('old', 1, 10, 0.5, NULL, NULL, NULL, NULL, NULL);"
    "INSERT INTO metrics VALUES('old', 2, 20, NULL, 1.5, NULL, NULL, NULL, NULL);"
    "INSERT INTO metrics VALUES('gone', 1, 10, 0.5, NULL, NULL, NULL, NULL, NULL);"
    "INSERT INTO feedback VALUES('old', 1, 0.25, '{}', 11);"
    "INSERT INTO feedback VALUES('gone', 1, 0.25, '{}', 11);"
    "PRAGMA user_version = 1;";

static void test_store_sets_schema_version_and_migrates_a_v1_database(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    store_close(s);
    assert_true(SCHEMA_VERSION_NOW >= 3);   /* 1 backbone, 2 foreign keys, 3 auth, … */
    assert_int_equal(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION_NOW);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_list('metrics')"), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_list('feedback')"), 1);
    assert_int_equal(raw_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    /* reopening an existing, current database works and changes nothing */
    assert_int_equal(store_open(path, &s), 0);
    create_session(s, "after_reopen", 1, 4, 4);
    store_close(s);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION_NOW);

    /* a v1 file from the backbone: migrated forward, rows kept, orphans dropped */
    char old[300];
    db_path(old, sizeof old);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(old, &s), 0);
    sess_rows *all = load_all(s);
    assert_int_equal(all->n, 1);
    assert_string_equal(all->id[0], "old");
    assert_int_equal(all->step[0], 7);
    assert_int_equal(all->snap_len[0], 2);
    assert_int_equal(all->snap_first[0], 7);
    free(all);
    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, "old", 0, -1, metric_collect, c), 0);
    assert_int_equal(c->n, 2);
    assert_true(c->m[0].loss == 0.5);
    assert_true(isnan(c->m[1].loss));
    assert_true(c->m[1].grad_norm == 1.5);
    free(c);
    assert_int_equal(count_metrics(s, "gone"), 0);
    store_close(s);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), SCHEMA_VERSION_NOW);
    assert_int_equal(raw_int(old, "PRAGMA user_version"), SCHEMA_VERSION_NOW);
    assert_int_equal(raw_int(old, "SELECT count(*) FROM feedback"), 1);
    check_integrity(old);
    check_integrity(path);

    /* a file from a newer daemon is refused, not downgraded */
    char newer[300];
    db_path(newer, sizeof newer);
    assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = (store *)1;
    assert_int_equal(store_open(newer, &s), ERR_STORAGE);
    assert_null(s);
    assert_int_equal(raw_int(newer, "PRAGMA user_version"), 99);
}

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

/* store_auth.c through the store.h API: keys and idempotency records persist,
 * a duplicate key id or a second idempotency record changes nothing. */
typedef struct key_rows { int n; store_key k[16]; } key_rows;

static int key_collect(void *ctx, const store_key *k)
{
    key_rows *c = ctx;
    assert_true(c->n < 16);
    c->k[c->n++] = *k;
    return 0;
}

static void test_store_keys_and_idempotency_records_persist(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    store_key k = {.id = "k_a", .tenant = "acme", .admin = 1, .created_ms = 10};
    for (int i = 0; i < 32; i++) k.hash[i] = (uint8_t)(i * 7);
    assert_int_equal(store_key_insert(s, &k), 0);
    store_key k2 = {.id = "k_b", .tenant = "beta", .admin = 0, .created_ms = 20};
    assert_int_equal(store_key_insert(s, &k2), 0);
    store_key dup = k2;
    snprintf(dup.tenant, sizeof dup.tenant, "other");
    assert_int_equal(store_key_insert(s, &dup), ERR_STORAGE);       /* the id is taken */

    store_key got;
    assert_int_equal(store_key_get(s, "k_a", &got), 0);
    assert_string_equal(got.tenant, "acme");
    assert_memory_equal(got.hash, k.hash, 32);
    assert_int_equal(got.admin, 1);
    assert_int_equal(got.created_ms, 10);
    assert_int_equal(got.revoked_ms, 0);
    assert_int_equal(store_key_get(s, "k_b", &got), 0);
    assert_string_equal(got.tenant, "beta");                        /* the duplicate changed nothing */
    assert_int_equal(store_key_get(s, "k_zz", &got), ERR_NOT_FOUND);
    int64_t active = -1;
    assert_int_equal(store_keys_active(s, &active), 0);
    assert_int_equal(active, 2);
    assert_int_equal(store_key_revoke(s, "k_b", 99), 0);
    assert_int_equal(store_key_revoke(s, "k_b", 100), ERR_NOT_FOUND);   /* already revoked: kept at 99 */
    assert_int_equal(store_key_revoke(s, "k_zz", 100), ERR_NOT_FOUND);
    assert_int_equal(store_keys_active(s, &active), 0);
    assert_int_equal(active, 1);

    uint8_t h1[32], h2[32], hout[32];
    memset(h1, 0x11, 32);
    memset(h2, 0x22, 32);
    const char body[] = "{\"a\":1}\0tail";                   /* binary-safe, embedded NUL */
    assert_int_equal(store_idem_put(s, "acme", "idem-1", "sessions_create", h1, 201, body, sizeof body), 0);
    assert_int_equal(store_idem_put(s, "acme", "idem-1", "sessions_create", h2, 500, "x", 1), 0); /* kept first */
    assert_int_equal(store_idem_put(s, "acme", "idem-2", "sessions_create", h2, 400, NULL, 0), 0);
    store_close(s);

    /* everything survives a reopen */
    assert_int_equal(store_open(path, &s), 0);
    key_rows keys = {0};
    assert_int_equal(store_keys_list(s, key_collect, &keys), 0);
    assert_int_equal(keys.n, 2);
    assert_string_equal(keys.k[0].id, "k_a");               /* ordered by created_ms */
    assert_int_equal(keys.k[0].revoked_ms, 0);
    assert_memory_equal(keys.k[0].hash, k.hash, 32);
    assert_string_equal(keys.k[1].id, "k_b");
    assert_int_equal(keys.k[1].revoked_ms, 99);
    int status = 0;
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(store_idem_get(s, "acme", "idem-1", "sessions_create", hout, &status, &out, &out_len), 0);
    assert_int_equal(status, 201);
    assert_memory_equal(hout, h1, 32);
    assert_int_equal(out_len, sizeof body);
    assert_memory_equal(out, body, sizeof body);
    free(out);
    out = NULL;
    assert_int_equal(store_idem_get(s, "acme", "idem-2", "sessions_create", hout, &status, &out, &out_len), 0);
    assert_int_equal(status, 400);
    assert_int_equal(out_len, 0);
    assert_string_equal(out, "");
    free(out);
    out = NULL;
    /* the record is scoped by tenant and route */
    assert_int_equal(store_idem_get(s, "beta", "idem-1", "sessions_create", hout, &status, &out, &out_len),
                     ERR_NOT_FOUND);
    assert_int_equal(store_idem_get(s, "acme", "idem-1", "step", hout, &status, &out, &out_len), ERR_NOT_FOUND);
    assert_null(out);
    store_close(s);
    check_integrity(path);
}

/* Issue 13, finding 2: "a key has existed" is durable and survives revoking
 * (or even deleting) every key row, and a key row alone counts as well. */
static void test_store_keys_ever_survives_revoking_every_key(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    int ever = -1;
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 0);
    store_key k = {.id = "k_only", .tenant = "ops", .admin = 1, .created_ms = 1};
    assert_int_equal(store_key_insert(s, &k), 0);
    assert_int_equal(store_key_revoke(s, "k_only", 2), 0);
    int64_t active = -1;
    assert_int_equal(store_keys_active(s, &active), 0);
    assert_int_equal(active, 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    store_close(s);
    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    /* Either sign is enough: the fact without key rows… */
    assert_int_equal(store_test_exec(s, "DELETE FROM api_keys"), 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    /* …and a key row without the fact (a database keyed before schema 7). */
    assert_int_equal(store_key_insert(s, &k), 0);
    assert_int_equal(store_test_exec(s, "DELETE FROM daemon_facts"), 0);
    assert_int_equal(store_keys_ever(s, &ever), 0);
    assert_int_equal(ever, 1);
    store_close(s);
    check_integrity(path);
}

typedef struct job_page { int n; char id[8][40]; char tenant[8][16]; int64_t ms[8]; } job_page;

static int job_collect(void *ctx, const store_meta_job_row *j)
{
    job_page *p = ctx;
    assert_true(p->n < 8);
    snprintf(p->id[p->n], sizeof p->id[0], "%s", j->id);
    snprintf(p->tenant[p->n], sizeof p->tenant[0], "%s", j->tenant);
    p->ms[p->n++] = j->created_ms;
    return 0;
}

/* Issue 13, finding 13: jobs carry their tenant; the list filters by tenant
 * and pages by (created_ms descending, id) without repeating or skipping a
 * job, also across equal timestamps. */
static void test_store_meta_jobs_list_pages_by_tenant(void **unused)
{
    (void)unused;
    char path[300];
    store *s = open_new(path, sizeof path);
    /* id, tenant, created_ms: j2 and j3 share a millisecond. */
    const struct { const char *id, *tenant; int64_t ms; } jobs[] = {
        {"j1", "a", 10}, {"j2", "b", 20}, {"j3", "a", 20}, {"j4", "", 30}, {"j5", "a", 40}};
    for (int i = 0; i < 5; i++) {
        store_meta_job_row row = {.id = jobs[i].id, .name = "w", .source = "api", .tenant = jobs[i].tenant,
                                  .status = "queued", .config_json = "{}", .created_ms = jobs[i].ms, .outer_steps = 1};
        assert_int_equal(store_meta_job_insert(s, &row), 0);
    }
    store_meta_job_row untenanted = {.id = "j0", .name = "w", .source = "cli", .status = "done",
                                     .config_json = "{}", .created_ms = 5, .outer_steps = 1};
    assert_int_equal(store_meta_job_insert(s, &untenanted), 0);   /* NULL tenant is stored as "" */
    const char *all_order[] = {"j5", "j4", "j2", "j3", "j1", "j0"};

    /* Every tenant, two per page. */
    int seen = 0;
    const char *after = NULL;
    int64_t after_ms = 0;
    char last[40];
    for (int page = 0; page < 4; page++) {
        job_page p = {0};
        assert_int_equal(store_meta_jobs_list(s, NULL, after_ms, after, 2, job_collect, &p), 0);
        for (int i = 0; i < p.n; i++) assert_string_equal(p.id[i], all_order[seen + i]);
        seen += p.n;
        if (p.n < 2) break;
        snprintf(last, sizeof last, "%s", p.id[p.n - 1]);
        after = last;
        after_ms = p.ms[p.n - 1];
    }
    assert_int_equal(seen, 6);

    /* Tenant a only, one per page. */
    const char *a_order[] = {"j5", "j3", "j1"};
    after = NULL;
    seen = 0;
    for (;;) {
        job_page p = {0};
        assert_int_equal(store_meta_jobs_list(s, "a", after_ms, after, 1, job_collect, &p), 0);
        if (p.n == 0) break;
        assert_int_equal(seen < 3, 1);
        assert_string_equal(p.id[0], a_order[seen]);
        assert_string_equal(p.tenant[0], "a");
        seen++;
        snprintf(last, sizeof last, "%s", p.id[0]);
        after = last;
        after_ms = p.ms[0];
    }
    assert_int_equal(seen, 3);

    /* The empty tenant is a tenant like any other; no limit lists all. */
    job_page p = {0};
    assert_int_equal(store_meta_jobs_list(s, "", 0, NULL, 10, job_collect, &p), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.id[0], "j4");
    assert_string_equal(p.id[1], "j0");
    job_page q = {0};
    assert_int_equal(store_meta_jobs_list(s, NULL, 0, NULL, -1, job_collect, &q), 0);
    assert_int_equal(q.n, 6);
    store_close(s);
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

/* BUG (src/storage/store.c reader_get:791 and session_rows/range_begin; also
 * store_auth.c reads via store_reader_acquire): store.h promises
 * ERR_INVALID_ARGUMENT for a NULL store, and every write keeps that promise,
 * but every read locks s->rmu first and crashes on NULL.  Proposed fix:
 * `if (!s) return ERR_INVALID_ARGUMENT;` (NULL for store_reader_acquire) at
 * the top of store_sessions_load, store_session_load, store_sessions_list,
 * store_metrics_query, store_feedback_query and store_reader_acquire.
 * Run in a forked child so that the crash fails this test only. */
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

/* ---- setup ------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_store.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 1; i <= g_seq; i++) {
        for (size_t k = 0; k < sizeof sfx / sizeof sfx[0]; k++) {
            char p[320];
            snprintf(p, sizeof p, "%s/t%03d.db%s", g_dir, i, sfx[k]);
            unlink(p);
        }
    }
    return rmdir(g_dir);
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
        cmocka_unit_test(test_store_sets_schema_version_and_migrates_a_v1_database),
        cmocka_unit_test(test_store_eight_threads_enqueueing_land_exactly_once),
        cmocka_unit_test(test_store_sync_call_after_async_ones_sees_them_committed),
        cmocka_unit_test(test_store_group_commit_writes_a_queued_batch_in_one_transaction),
        cmocka_unit_test(test_store_bad_job_fails_alone_and_others_in_its_batch_commit),
        cmocka_unit_test(test_store_full_disk_by_max_page_count_fails_the_big_job_only),
        cmocka_unit_test(test_store_full_disk_by_rlimit_fsize_gives_err_storage_then_recovers),
        cmocka_unit_test(test_store_refuses_writes_while_its_file_is_gone_replaced_or_read_only),
        cmocka_unit_test(test_store_close_drains_queued_async_jobs),
        cmocka_unit_test(test_store_call_and_borrowed_readers_work),
        cmocka_unit_test(test_store_keys_and_idempotency_records_persist),
        cmocka_unit_test(test_store_keys_ever_survives_revoking_every_key),
        cmocka_unit_test(test_store_meta_jobs_list_pages_by_tenant),
        cmocka_unit_test(test_store_writes_refuse_null_store_or_id),
        cmocka_unit_test(test_store_reads_refuse_a_null_store),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
