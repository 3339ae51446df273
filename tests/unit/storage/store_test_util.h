/* store_test_util.h — helpers shared by the tests of src/storage/ that use
 * real database files (test_store.c, test_store_schema.c,
 * test_store_writer.c, test_store_auth.c, test_store_weights.c): a mkdtemp()
 * directory per test program (named after STORE_TEST_NAME, which the
 * including file defines), fresh database paths in it, snapshots, raw
 * read-only SQLite access, the integrity check every test ends with, and row
 * collectors.  Include once per test program, after cmocka.h. */
#ifndef OPTIRS_STORE_TEST_UTIL_H
#define OPTIRS_STORE_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "errors.h"
#include "store.h"

#define SCHEMA_VERSION_NOW store_schema_version()

static char g_dir[256];
static int  g_seq;

/* ---- helpers --------------------------------------------------------------- */

static inline void db_path(char *out, size_t n)
{
    snprintf(out, n, "%s/t%03d.db", g_dir, ++g_seq);
}

static inline void *snap_new(size_t n, unsigned char fill)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memset(p, fill, n);
    return p;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (no time limit: not a timed assertion) until n jobs are queued. */
static inline void wait_queue_depth(store *s, int64_t n)
{
    for (;;) {
        store_stats st;
        store_get_stats(s, &st);
        if (st.queue_depth >= n) return;
        sleep_ms(1);
    }
}

/* A raw read-only connection for checks that the API does not expose. */
static inline sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    return db;
}

static inline int64_t raw_int(const char *path, const char *sql)
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
static inline void check_integrity(const char *path)
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

static inline store *open_new(char *path, size_t n)
{
    db_path(path, n);
    store *s = NULL;
    assert_int_equal(store_open(path, &s), 0);
    assert_non_null(s);
    return s;
}

static inline void create_session(store *s, const char *id, int64_t step, size_t snap_len, unsigned char fill)
{
    char meta[64];
    snprintf(meta, sizeof meta, "{\"name\":\"%s\"}", id);
    assert_int_equal(store_session_create_take(s, id, meta, 1000 + step, step, snap_new(snap_len, fill), snap_len), 0);
}

static inline step_metric metric_for(int64_t step)
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

static inline int sess_collect(void *ctx, const store_session_row *r)
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

static inline int metric_collect(void *ctx, const step_metric *m)
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

static inline int fb_collect(void *ctx, const store_feedback_row *f)
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

static inline int count_metrics(store *s, const char *id)
{
    metric_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_metrics_query(s, id, INT64_MIN, -1, metric_collect, c), 0);
    int n = c->n;
    free(c);
    return n;
}

static inline sess_rows *load_all(store *s)
{
    sess_rows *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_sessions_load(s, sess_collect, c), 0);
    return c;
}


/* ---- setup ------------------------------------------------------------------ */

static inline int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/%s.XXXXXX", STORE_TEST_NAME);
    return mkdtemp(g_dir) ? 0 : -1;
}

static inline int group_teardown(void **state)
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

#endif
