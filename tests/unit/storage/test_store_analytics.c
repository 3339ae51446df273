/* test_store_analytics.c — the rollup behind downsampled curves
 * (store_analytics.c) against a brute-force computation over the raw rows.
 *
 * Every check reads the session's metrics rows (joined with step_extra for
 * the update cosine) straight from the database file with a read-only SQLite
 * connection, buckets them by step / width in C, and compares with what
 * store_metrics_downsample answers: the bucket list, each bucket's step
 * range and counts, each column's count, min and max and the steps where
 * they first occur must match exactly (tolerance 0); the mean within
 * 1e-12 relative (the rollup sums in a different order).  Ranges and widths
 * are random (seeded), including widths that are multiples of every rollup
 * level, odd widths, open and closed ends, ranges past the last step; the
 * data has ties (quantized values, a constant lr), missing values (NaN, inf,
 * steps without extras) and two sessions written in the same batches.
 * Also: rows after the rollup's top (a lost analytics write) are served raw
 * and repaired by the next write or, past a threshold, by the read; a
 * schema-5 database migrates to 6 and serves correct buckets; the bucket
 * width rule. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "errors.h"
#include "store.h"

#define NC STORE_AN_NCOLS

static char g_dir[256];
static int  g_seq;

/* ---- helpers --------------------------------------------------------------- */

static uint64_t g_rng = 0x243F6A8885A308D3ULL;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ULL;
}

static int64_t rnd_in(int64_t lo, int64_t hi)   /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static void db_path(char *out, size_t n)
{
    snprintf(out, n, "%s/a%03d.db", g_dir, ++g_seq);
}

static void create_session(store *s, const char *id)
{
    void *snap = malloc(4);
    assert_non_null(snap);
    memset(snap, 7, 4);
    assert_int_equal(store_session_create_take(s, id, "{}", 1, 0, snap, 4), 0);
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(const char *path, const char *sql, const char *id)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (id) sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The session's raw rows, ascending: step and the NC values (NAN = NULL). */
typedef struct rawrows { size_t n, cap; int64_t *step; double (*v)[NC]; } rawrows;

static void raw_load(const char *path, const char *id, rawrows *r)
{
    memset(r, 0, sizeof *r);
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT m.step, m.loss, m.grad_norm, m.update_norm, m.param_norm, m.lr,"
                                        " e.update_cos FROM metrics m LEFT JOIN step_extra e"
                                        " ON e.session_id = m.session_id AND e.step = m.step"
                                        " WHERE m.session_id = ?1 ORDER BY m.step",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 1024;
            r->step = realloc(r->step, r->cap * sizeof *r->step);
            r->v = realloc(r->v, r->cap * sizeof *r->v);
            assert_non_null(r->step);
            assert_non_null(r->v);
        }
        r->step[r->n] = sqlite3_column_int64(st, 0);
        for (int c = 0; c < NC; c++)
            r->v[r->n][c] = sqlite3_column_type(st, 1 + c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1 + c);
        r->n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void raw_free(rawrows *r)
{
    free(r->step);
    free(r->v);
    memset(r, 0, sizeof *r);
}

typedef struct blist { size_t n, cap; store_metric_bucket *b; } blist;

static int collect(void *ctx, const store_metric_bucket *b)
{
    blist *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->b = realloc(l->b, l->cap * sizeof *l->b);
        assert_non_null(l->b);
    }
    l->b[l->n++] = *b;
    return 0;
}

/* The buckets step / width of the raw rows with steps in [from, to]. */
static void brute(const rawrows *r, int64_t from, int64_t to, int64_t width, blist *out)
{
    memset(out, 0, sizeof *out);
    double sum[NC] = {0};
    store_metric_bucket cur;
    int64_t key = -1;
    for (size_t i = 0; i <= r->n; i++) {
        int in = i < r->n && r->step[i] >= from && r->step[i] <= to;
        int64_t k = in ? r->step[i] / width : -2;
        if (key >= 0 && (i == r->n || (in && k != key))) {
            for (int c = 0; c < NC; c++) cur.col[c].mean = cur.col[c].count ? sum[c] / (double)cur.col[c].count : NAN;
            collect(out, &cur);
            key = -1;
        }
        if (!in) continue;
        if (key < 0) {
            key = k;
            memset(&cur, 0, sizeof cur);
            cur.step_first = r->step[i];
            for (int c = 0; c < NC; c++) {
                sum[c] = 0;
                cur.col[c].min = cur.col[c].max = NAN;
                cur.col[c].min_step = cur.col[c].max_step = -1;
            }
        }
        cur.step_last = r->step[i];
        cur.count++;
        for (int c = 0; c < NC; c++) {
            double v = r->v[i][c];
            if (isnan(v)) continue;
            if (!cur.col[c].count || v < cur.col[c].min) { cur.col[c].min = v; cur.col[c].min_step = r->step[i]; }
            if (!cur.col[c].count || v > cur.col[c].max) { cur.col[c].max = v; cur.col[c].max_step = r->step[i]; }
            cur.col[c].count++;
            sum[c] += v;
        }
    }
}

static void same_double(double a, double b, const char *what, int64_t at)
{
    if (isnan(a) && isnan(b)) return;
    if (a != b) fail_msg("%s at bucket of step %lld: %.17g != %.17g", what, (long long)at, a, b);
}

/* store_metrics_downsample(from, to, width) == brute force. */
static void check_range(store *s, const rawrows *r, const char *id, int64_t from, int64_t to, int64_t width)
{
    blist got = {0}, want;
    assert_int_equal(store_metrics_downsample(s, id, from, to, width, collect, &got), 0);
    brute(r, from, to, width, &want);
    if (got.n != want.n)
        fail_msg("from %lld to %lld width %lld: %zu buckets, want %zu", (long long)from, (long long)to,
                 (long long)width, got.n, want.n);
    for (size_t i = 0; i < got.n; i++) {
        const store_metric_bucket *g = &got.b[i], *w = &want.b[i];
        int64_t at = w->step_first;
        if (g->step_first != w->step_first || g->step_last != w->step_last || g->count != w->count)
            fail_msg("from %lld to %lld width %lld bucket %zu: steps %lld..%lld n %lld, want %lld..%lld n %lld",
                     (long long)from, (long long)to, (long long)width, i, (long long)g->step_first,
                     (long long)g->step_last, (long long)g->count, (long long)w->step_first,
                     (long long)w->step_last, (long long)w->count);
        for (int c = 0; c < NC; c++) {
            if (g->col[c].count != w->col[c].count) fail_msg("col %d count at %lld", c, (long long)at);
            same_double(g->col[c].min, w->col[c].min, "min", at);
            same_double(g->col[c].max, w->col[c].max, "max", at);
            if (g->col[c].min_step != w->col[c].min_step || g->col[c].max_step != w->col[c].max_step)
                fail_msg("width %lld col %d at %lld: min/max steps %lld/%lld, want %lld/%lld", (long long)width, c,
                         (long long)at, (long long)g->col[c].min_step, (long long)g->col[c].max_step,
                         (long long)w->col[c].min_step, (long long)w->col[c].max_step);
            double gm = g->col[c].mean, wm = w->col[c].mean;
            if (isnan(gm) != isnan(wm) || (!isnan(wm) && fabs(gm - wm) > 1e-12 * fmax(1.0, fabs(wm))))
                fail_msg("col %d mean at %lld: %.17g, want %.17g", c, (long long)at, gm, wm);
        }
    }
    free(got.b);
    free(want.b);
}

/* Random ranges and widths over rows r (steps up to `last`). */
static void check_random(store *s, const rawrows *r, const char *id, int64_t last, int rounds)
{
    static const int64_t widths[] = {64, 128, 512, 1024, 4096, 12288, 32768, 65536, 192, 1000, 63, 65, 1, 7};
    for (int i = 0; i < rounds; i++) {
        int64_t from = rnd() % 4 == 0 ? 0 : rnd_in(0, last + 10);
        int64_t width = widths[rnd() % (sizeof widths / sizeof widths[0])];
        if (rnd() % 4 == 0) width = store_metrics_bucket_width(from, last, rnd_in(2, 3000));
        int64_t span_max = width < 64 ? 3000 : last + 100;   /* keep raw-row widths cheap */
        int64_t to = rnd() % 3 == 0 && width >= 64 ? INT64_MAX : from + rnd_in(0, span_max);
        check_range(s, r, id, from, to, width);
    }
}

/* Writes steps [k0, k1] of session id: metrics always, extras (and so the
 * rollup refresh) only when `extras`; in batches of random size. */
static void write_steps(store *s, const char *const *ids, int nids, int64_t k0, int64_t k1, int extras)
{
    size_t cap = 4096 * (size_t)nids;
    store_analytics_row *rows = malloc(cap * sizeof *rows);
    assert_non_null(rows);
    size_t n = 0;
    int64_t batch = rnd_in(1, 700);
    for (int64_t k = k0; k <= k1; k++) {
        for (int j = 0; j < nids; j++) {
            double t = (double)k;
            step_metric m = {.step = k, .time_ms = k, .loss = floor((double)(rnd() % 64)) / 8.0 + 1.0 / (1.0 + t),
                             .grad_norm = (double)(rnd() % 16), .update_norm = 1e-3 * (double)(rnd() % 1000),
                             .param_norm = 10.0 + (double)(k % 97), .lr = 0.01, .duration_us = 1};
            if (rnd() % 50 == 0) m.loss = NAN;
            if (rnd() % 200 == 0) m.grad_norm = INFINITY;   /* stored as NULL: missing */
            if (rnd() % 10 == 0) m.loss = 3.0;              /* ties across buckets */
            assert_int_equal(store_metric(s, ids[j], &m), 0);
            if (extras && rnd() % 20 != 0)                 /* some steps have no extras row */
                rows[n++] = (store_analytics_row){.id = ids[j], .step = k,
                                                  .update_cos = rnd() % 30 ? (double)((int)(rnd() % 21) - 10) / 10.0
                                                                           : NAN,
                                                  .update_ratio = 0.1, .lr_mult = NAN};
        }
        if (--batch == 0 || k == k1 || n + (size_t)nids > cap) {
            assert_int_equal(store_flush(s), 0);
            if (n) assert_int_equal(store_analytics_write(s, rows, n), 0);
            n = 0;
            batch = rnd_in(1, 700);
        }
    }
    free(rows);
    assert_int_equal(store_flush(s), 0);
}

static const char top_sql[] =
    "SELECT step_last FROM metrics_rollup WHERE session_id = ?1 AND level = 0 ORDER BY bucket DESC LIMIT 1";

/* Every level of the rollup holds exactly the rows up to its top. */
static void check_levels(const char *path, const char *id)
{
    int64_t top = raw_int(path, top_sql, id);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM metrics WHERE session_id = ?1 AND step <= %lld", (long long)top);
    int64_t n = raw_int(path, sql, id);
    for (int l = 0; l < STORE_ROLLUP_LEVELS; l++) {
        snprintf(sql, sizeof sql, "SELECT coalesce(sum(n), 0) FROM metrics_rollup WHERE session_id = ?1 AND level = %d",
                 l);
        assert_int_equal(raw_int(path, sql, id), n);
    }
}

/* ---- tests ----------------------------------------------------------------- */

static void test_downsample_matches_brute_force_for_random_ranges_and_widths(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    const char *ids[2] = {"a", "b"};
    create_session(s, "a");
    create_session(s, "b");
    int64_t last = 70000;   /* past two buckets of the coarsest level (32768) */
    write_steps(s, ids, 2, 1, last, 1);
    check_levels(path, "a");
    assert_int_equal(raw_int(path, top_sql, "a"), last);
    rawrows r;
    raw_load(path, "a", &r);
    assert_int_equal((int64_t)r.n, last);
    check_random(s, &r, "a", last, 250);
    /* whole curve at each level's width and the widths the rule picks */
    for (int64_t w = 64; w <= 65536; w *= 2) check_range(s, &r, "a", 0, INT64_MAX, w);
    for (int64_t mp = 2; mp <= 10000; mp = mp * 3 + 1)
        check_range(s, &r, "a", 1, last, store_metrics_bucket_width(1, last, mp));
    /* the span and count */
    int64_t count, first, lst;
    assert_int_equal(store_metrics_span(s, "a", &count, &first, &lst), 0);
    assert_int_equal(count, last);
    assert_int_equal(first, 1);
    assert_int_equal(lst, last);
    /* stopping early */
    blist one = {0};
    assert_int_equal(store_metrics_downsample(s, "nobody", 0, INT64_MAX, 64, collect, &one), 0);
    assert_int_equal(one.n, 0);
    raw_free(&r);
    store_close(s);
}

static void test_rows_after_the_rollup_top_are_served_raw_and_repaired(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    const char *ids[1] = {"c"};
    create_session(s, "c");
    rawrows r;
    write_steps(s, ids, 1, 1, 1000, 1);
    assert_int_equal(raw_int(path, top_sql, "c"), 1000);
    /* a lost analytics write (crash between the metrics and the rollup): */
    write_steps(s, ids, 1, 1001, 1500, 0);
    assert_int_equal(raw_int(path, top_sql, "c"), 1000);
    raw_load(path, "c", &r);
    check_random(s, &r, "c", 1500, 80);
    int64_t count, first, last;
    assert_int_equal(store_metrics_span(s, "c", &count, &first, &last), 0);
    assert_int_equal(count, 1500);
    assert_int_equal(last, 1500);
    raw_free(&r);
    /* the next write repairs from the old top on */
    write_steps(s, ids, 1, 1501, 1600, 1);
    assert_int_equal(raw_int(path, top_sql, "c"), 1600);
    check_levels(path, "c");
    raw_load(path, "c", &r);
    check_random(s, &r, "c", 1600, 80);
    raw_free(&r);
    /* a long lost stretch: the read repairs the rollup first */
    write_steps(s, ids, 1, 1601, 1601 + 3 * STORE_ROLLUP_WIDTH * STORE_ROLLUP_FANOUT * STORE_ROLLUP_FANOUT, 0);
    int64_t end = 1601 + 3 * STORE_ROLLUP_WIDTH * STORE_ROLLUP_FANOUT * STORE_ROLLUP_FANOUT;
    assert_int_equal(raw_int(path, top_sql, "c"), 1600);
    raw_load(path, "c", &r);
    check_range(s, &r, "c", 0, INT64_MAX, 512);
    assert_int_equal(raw_int(path, top_sql, "c"), end);
    check_levels(path, "c");
    check_random(s, &r, "c", end, 80);
    /* rewriting old steps (a replay) refreshes their buckets */
    write_steps(s, ids, 1, 700, 900, 1);
    raw_free(&r);
    raw_load(path, "c", &r);
    check_levels(path, "c");
    check_random(s, &r, "c", end, 60);
    raw_free(&r);
    store_close(s);
}

/* The schema as it stood at user_version 5 (a copy: this is what such files
 * hold), with one session of 10000 steps, extras, and a v5 rollup. */
static const char schema_v5[] =
    "CREATE TABLE sessions("
    "  id TEXT PRIMARY KEY, meta_json TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  snapshot BLOB NOT NULL);"
    "CREATE TABLE metrics("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL, loss REAL, grad_norm REAL, update_norm REAL, param_norm REAL, lr REAL,"
    "  duration_us REAL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE feedback("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  loss REAL, metrics_json TEXT, time_ms INTEGER NOT NULL, PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE api_keys("
    "  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash BLOB NOT NULL, admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL, revoked_ms INTEGER);"
    "CREATE TABLE idempotency("
    "  tenant TEXT NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, body_hash BLOB NOT NULL,"
    "  status INTEGER NOT NULL, response BLOB, created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, key, route)) WITHOUT ROWID;"
    "CREATE TABLE weights("
    "  name TEXT NOT NULL, version INTEGER NOT NULL, arch TEXT NOT NULL, hidden INTEGER NOT NULL,"
    "  depth INTEGER NOT NULL, ntheta INTEGER NOT NULL, domain TEXT NOT NULL, provenance_json TEXT NOT NULL,"
    "  eval_json TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL, blob BLOB NOT NULL,"
    "  PRIMARY KEY(name, version)) WITHOUT ROWID;"
    "CREATE TABLE meta_jobs("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,"
    "  config_json TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    "  step INTEGER NOT NULL DEFAULT 0, outer_steps INTEGER NOT NULL, wall_s REAL NOT NULL DEFAULT 0,"
    "  error TEXT, weights_name TEXT, weights_version INTEGER, checkpoint BLOB);"
    "CREATE TABLE meta_curve("
    "  job_id TEXT NOT NULL REFERENCES meta_jobs(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  meta_loss REAL, grad_norm REAL, PRIMARY KEY(job_id, step)) WITHOUT ROWID;"
    "CREATE TABLE step_extra("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, step INTEGER NOT NULL,"
    "  update_cos REAL, update_ratio REAL, lr_mult REAL, tensors_json TEXT, extra_json TEXT,"
    "  PRIMARY KEY(session_id, step)) WITHOUT ROWID;"
    "CREATE TABLE metrics_rollup("
    "  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, bucket INTEGER NOT NULL,"
    "  step_first INTEGER NOT NULL, step_last INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  loss_n INTEGER, loss_sum REAL, loss_min REAL, loss_max REAL,"
    "  grad_n INTEGER, grad_sum REAL, grad_min REAL, grad_max REAL,"
    "  upd_n INTEGER, upd_sum REAL, upd_min REAL, upd_max REAL,"
    "  param_n INTEGER, param_sum REAL, param_min REAL, param_max REAL,"
    "  lr_n INTEGER, lr_sum REAL, lr_min REAL, lr_max REAL,"
    "  cos_n INTEGER, cos_sum REAL, cos_min REAL, cos_max REAL,"
    "  PRIMARY KEY(session_id, bucket)) WITHOUT ROWID;"
    "INSERT INTO sessions VALUES('v5', '{}', 'active', 1, 1, 10000, x'0707');"
    "INSERT INTO sessions VALUES('v5b', '{}', 'active', 1, 1, 300, x'0707');"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 10000)"
    "  INSERT INTO metrics SELECT 'v5', i, i, CASE WHEN i % 97 = 0 THEN NULL ELSE (i * 7919 % 113) / 8.0 END,"
    "  (i * 31 % 17), 0.5, 10 + i % 13, 0.01, 1 FROM k;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 10000)"
    "  INSERT INTO step_extra SELECT 'v5', i, (i * 13 % 21 - 10) / 10.0, 0.1, NULL, NULL, NULL FROM k WHERE i % 11 <> 0;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 300)"
    "  INSERT INTO metrics SELECT 'v5b', i, i, i % 7, 1, 1, 1, 0.01, 1 FROM k;"
    "INSERT INTO metrics_rollup SELECT session_id, step / 64, min(step), max(step), count(*),"
    "  count(loss), sum(loss), min(loss), max(loss), count(grad_norm), sum(grad_norm), min(grad_norm), max(grad_norm),"
    "  count(update_norm), sum(update_norm), min(update_norm), max(update_norm),"
    "  count(param_norm), sum(param_norm), min(param_norm), max(param_norm), count(lr), sum(lr), min(lr), max(lr),"
    "  0, NULL, NULL, NULL FROM metrics GROUP BY session_id, step / 64;"
    "PRAGMA user_version = 5;";

static void test_a_v5_database_migrates_and_serves_correct_buckets(void **unused)
{
    (void)unused;
    char path[300];
    db_path(path, sizeof path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v5, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store *s;
    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), store_schema_version());
    assert_true(store_schema_version() >= 6);
    /* the v5 rollup is gone; the new one is empty until rebuilt */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics_rollup", NULL), 0);
    rawrows r;
    raw_load(path, "v5", &r);
    assert_int_equal((int64_t)r.n, 10000);
    /* the first read finds the rollup far behind and rebuilds it */
    check_range(s, &r, "v5", 0, INT64_MAX, 512);
    assert_int_equal(raw_int(path, top_sql, "v5"), 10000);
    check_levels(path, "v5");
    check_random(s, &r, "v5", 10000, 120);
    raw_free(&r);
    /* a small session: served raw, then rebuilt whole by its next write */
    raw_load(path, "v5b", &r);
    check_random(s, &r, "v5b", 300, 30);
    raw_free(&r);
    const char *ids[1] = {"v5b"};
    write_steps(s, ids, 1, 301, 310, 1);
    assert_int_equal(raw_int(path, top_sql, "v5b"), 310);
    check_levels(path, "v5b");
    raw_load(path, "v5b", &r);
    check_random(s, &r, "v5b", 310, 30);
    raw_free(&r);
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'", NULL),
                     0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_check", NULL), 0);
}

static void test_bucket_width_rule(void **unused)
{
    (void)unused;
    /* 1e6 steps to 1000 points: 1024 (a multiple of 512), 977 buckets */
    assert_int_equal(store_metrics_bucket_width(1, 1000000, 1000), 1024);
    /* 1e7 steps: 32768 gives 306 < 500, 4096 * 3 gives 814 */
    assert_int_equal(store_metrics_bucket_width(1, 10000000, 1000), 12288);
    /* short curves: one step per bucket */
    assert_int_equal(store_metrics_bucket_width(0, 99, 1000), 1);
    for (int i = 0; i < 20000; i++) {
        int64_t lo = rnd_in(0, 1000000), hi = lo + rnd_in(0, rnd() % 2 ? 100000 : 100000000);
        int64_t mp = rnd_in(2, 10000), w = store_metrics_bucket_width(lo, hi, mp);
        int64_t n = hi / w - lo / w + 1;
        assert_true(w >= 1);
        assert_true(n <= mp);
        if (hi - lo + 1 >= 2 * mp) assert_true(n >= (mp + 1) / 2);
        /* a multiple of a level's width once past 64 steps per bucket */
        if (w >= 64) assert_int_equal(w % 64, 0);
    }
}

static int setup(void **unused)
{
    (void)unused;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_store_analytics.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **unused)
{
    (void)unused;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_downsample_matches_brute_force_for_random_ranges_and_widths),
        cmocka_unit_test(test_rows_after_the_rollup_top_are_served_raw_and_repaired),
        cmocka_unit_test(test_a_v5_database_migrates_and_serves_correct_buckets),
        cmocka_unit_test(test_bucket_width_rule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
