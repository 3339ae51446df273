/* store_analytics.c — step analytics in the store (schema version 5): the
 * per-step extras (step_extra) and the 64-step rollup of the metrics
 * (metrics_rollup) that makes downsampling a long curve cheap.  Writes run
 * on the writer thread through store_call (the single-writer rule) and come
 * in batches; reads use the pooled read-only connections.  See store.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

#define ROLLUP_WIDTH STORE_ROLLUP_WIDTH

/* The rolled-up columns: name in metrics_rollup, expression over the join. */
static const char *const rcols[STORE_AN_NCOLS][2] = {
    {"loss", "m.loss"}, {"grad", "m.grad_norm"}, {"upd", "m.update_norm"},
    {"param", "m.param_norm"}, {"lr", "m.lr"}, {"cos", "e.update_cos"},
};

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

/* ---- writes ------------------------------------------------------------- */

typedef struct write_ctx { const store_analytics_row *rows; size_t n; } write_ctx;

/* Recomputes the rollup buckets [b0, b1] of session `id` from the metrics. */
static int rollup_refresh(sqlite3 *db, const char *id, int64_t b0, int64_t b1)
{
    char sql[2048];
    int len = snprintf(sql, sizeof sql,
                       "INSERT OR REPLACE INTO metrics_rollup SELECT m.session_id, m.step / %d, min(m.step),"
                       " max(m.step), count(*)", ROLLUP_WIDTH);
    for (int c = 0; c < STORE_AN_NCOLS; c++)
        len += snprintf(sql + len, sizeof sql - (size_t)len, ", count(%s), sum(%s), min(%s), max(%s)",
                        rcols[c][1], rcols[c][1], rcols[c][1], rcols[c][1]);
    snprintf(sql + len, sizeof sql - (size_t)len,
             " FROM metrics m LEFT JOIN step_extra e ON e.session_id = m.session_id AND e.step = m.step"
             " WHERE m.session_id = ?1 AND m.step >= ?2 AND m.step < ?3 GROUP BY m.step / %d", ROLLUP_WIDTH);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, b0 * ROLLUP_WIDTH);
    sqlite3_bind_int64(st, 3, (b1 + 1) * ROLLUP_WIDTH);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

static int write_fn(sqlite3 *db, void *ctx)
{
    write_ctx *c = ctx;
    sqlite3_stmt *ins = NULL, *top = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO step_extra(session_id, step, update_cos, update_ratio, lr_mult,"
                                " tensors_json, extra_json) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
                                " WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT max(bucket) FROM metrics_rollup WHERE session_id = ?1", -1, &top, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < c->n; i++) {
        const store_analytics_row *r = &c->rows[i];
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, r->step);
        bind_real(ins, 3, r->update_cos);
        bind_real(ins, 4, r->update_ratio);
        bind_real(ins, 5, r->lr_mult);
        bind_opt_text(ins, 6, r->tensors_json);
        bind_opt_text(ins, 7, r->extra_json);
        if (sqlite3_step(ins) != SQLITE_DONE) rc = sqlite3_errcode(db);
    }
    /* Rows come grouped by session in step order from the caller, but not
     * necessarily: find each session's step range. */
    for (size_t i = 0; rc == SQLITE_OK && i < c->n; i++) {
        const char *id = c->rows[i].id;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = strcmp(c->rows[j].id, id) == 0;
        if (seen) continue;
        int64_t lo = c->rows[i].step, hi = lo;
        for (size_t j = i + 1; j < c->n; j++)
            if (strcmp(c->rows[j].id, id) == 0) {
                if (c->rows[j].step < lo) lo = c->rows[j].step;
                if (c->rows[j].step > hi) hi = c->rows[j].step;
            }
        int64_t b0 = lo / ROLLUP_WIDTH, b1 = hi / ROLLUP_WIDTH;
        /* Repair: buckets after the newest rolled-up one that a lost batch
         * (a crash between the metrics and this write) left out. */
        sqlite3_reset(top);
        sqlite3_bind_text(top, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(top) == SQLITE_ROW) {
            int64_t b = sqlite3_column_type(top, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(top, 0);
            if (b < b0) b0 = b;
        }
        sqlite3_reset(top);
        rc = rollup_refresh(db, id, b0, b1);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(top);
    return rc;
}

int store_analytics_write(store *s, const store_analytics_row *rows, size_t n)
{
    if (!s || (!rows && n)) return ERR_INVALID_ARGUMENT;
    if (!n) return 0;
    write_ctx c = {rows, n};
    return store_call(s, write_fn, &c);
}

/* ---- reads -------------------------------------------------------------- */

static int reader_fail(store *s, sqlite3 *db, sqlite3_stmt *st)
{
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return ERR_STORAGE;
}

int store_metrics_span(store *s, const char *id, int64_t *count, int64_t *first, int64_t *last)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    /* min/max use the primary key; the count comes from the rollup plus the
     * rows after it, so that it costs O(buckets) rather than O(steps). */
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT min(step) FROM metrics WHERE session_id = ?1),"
                           " (SELECT max(step) FROM metrics WHERE session_id = ?1),"
                           " (SELECT coalesce(sum(n), 0) FROM metrics_rollup WHERE session_id = ?1) +"
                           " (SELECT count(*) FROM metrics WHERE session_id = ?1 AND step > ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return reader_fail(s, db, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    /* a bound, not a subquery: the tail count is then an index range */
    sqlite3_stmt *q;
    int64_t top = -1;
    if (sqlite3_prepare_v2(db, "SELECT max(step_last) FROM metrics_rollup WHERE session_id = ?1", -1, &q, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) top = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_bind_int64(st, 2, top);
    if (sqlite3_step(st) != SQLITE_ROW) return reader_fail(s, db, st);
    *first = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
    *last = sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 1);
    *count = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return 0;
}

int store_metrics_downsample(store *s, const char *id, int64_t from, int64_t to, int64_t width,
                             int (*fn)(void *ctx, const store_metric_bucket *b), void *ctx)
{
    if (!s || !id || width < 1) return ERR_INVALID_ARGUMENT;
    char sql[3072];
    int len;
    /* Buckets of `width` steps: bucket = step / width.  From the rollup when
     * width is a multiple of its 64 and the range is bucket-aligned (rollup
     * rows are then whole inside one output bucket), else from the rows.
     * Rows after the newest rollup bucket come from the metrics. */
    int use_rollup = width % ROLLUP_WIDTH == 0 && from % ROLLUP_WIDTH == 0 && to == INT64_MAX;
    if (use_rollup) {
        len = snprintf(sql, sizeof sql,
                       "WITH u AS (SELECT step_first AS sf, step_last AS sl, n");
        for (int c = 0; c < STORE_AN_NCOLS; c++)
            len += snprintf(sql + len, sizeof sql - (size_t)len, ", %s_n AS %s_n, %s_sum AS %s_sum, %s_min AS %s_min,"
                            " %s_max AS %s_max", rcols[c][0], rcols[c][0], rcols[c][0], rcols[c][0], rcols[c][0],
                            rcols[c][0], rcols[c][0], rcols[c][0]);
        len += snprintf(sql + len, sizeof sql - (size_t)len,
                        " FROM metrics_rollup WHERE session_id = ?1 AND step_first >= ?2 AND step_last <= ?3"
                        " UNION ALL SELECT m.step, m.step, 1");
        for (int c = 0; c < STORE_AN_NCOLS; c++)
            len += snprintf(sql + len, sizeof sql - (size_t)len, ", %s IS NOT NULL, %s, %s, %s", rcols[c][1],
                            rcols[c][1], rcols[c][1], rcols[c][1]);
        len += snprintf(sql + len, sizeof sql - (size_t)len,
                        " FROM metrics m LEFT JOIN step_extra e ON e.session_id = m.session_id AND e.step = m.step"
                        " WHERE m.session_id = ?1 AND m.step >= ?2 AND m.step <= ?3 AND m.step > ?5)"
                        " SELECT sf / ?4 AS b, min(sf), max(sl), sum(n)");
        for (int c = 0; c < STORE_AN_NCOLS; c++)
            len += snprintf(sql + len, sizeof sql - (size_t)len, ", sum(%s_n), sum(%s_sum), min(%s_min), max(%s_max)",
                            rcols[c][0], rcols[c][0], rcols[c][0], rcols[c][0]);
        len += snprintf(sql + len, sizeof sql - (size_t)len, " FROM u GROUP BY b ORDER BY b");
    } else {
        len = snprintf(sql, sizeof sql, "SELECT m.step / ?4 AS b, min(m.step), max(m.step), count(*)");
        for (int c = 0; c < STORE_AN_NCOLS; c++)
            len += snprintf(sql + len, sizeof sql - (size_t)len, ", count(%s), sum(%s), min(%s), max(%s)",
                            rcols[c][1], rcols[c][1], rcols[c][1], rcols[c][1]);
        len += snprintf(sql + len, sizeof sql - (size_t)len,
                        " FROM metrics m LEFT JOIN step_extra e ON e.session_id = m.session_id AND e.step = m.step"
                        " WHERE m.session_id = ?1 AND m.step >= ?2 AND m.step <= ?3 GROUP BY b ORDER BY b");
    }
    if (len >= (int)sizeof sql) return ERR_INTERNAL;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return reader_fail(s, db, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    sqlite3_bind_int64(st, 4, width);
    if (use_rollup) {
        /* A bound, not a subquery, so that the raw tail is an index range. */
        int64_t top = -1;
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db, "SELECT max(step_last) FROM metrics_rollup WHERE session_id = ?1", -1, &q, NULL) !=
            SQLITE_OK) {
            sqlite3_finalize(st);
            return reader_fail(s, db, NULL);
        }
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) top = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        sqlite3_bind_int64(st, 5, top);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_metric_bucket b;
        b.step_first = sqlite3_column_int64(st, 1);
        b.step_last = sqlite3_column_int64(st, 2);
        b.count = sqlite3_column_int64(st, 3);
        for (int c = 0; c < STORE_AN_NCOLS; c++) {
            int k = 4 + 4 * c;
            int64_t nn = sqlite3_column_int64(st, k);
            b.col[c].count = nn;
            b.col[c].mean = nn ? col_real(st, k + 1) / (double)nn : NAN;
            b.col[c].min = col_real(st, k + 2);
            b.col[c].max = col_real(st, k + 3);
        }
        if (fn(ctx, &b)) { rc = SQLITE_DONE; break; }
    }
    int ok = rc == SQLITE_DONE;
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return ok ? 0 : ERR_STORAGE;
}

int store_analytics_query(store *s, const char *id, int64_t after, int limit,
                          int (*fn)(void *ctx, const store_analytics_row *r), void *ctx)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT step, update_cos, update_ratio, lr_mult, tensors_json, extra_json FROM step_extra"
                           " WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return reader_fail(s, db, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit < 0 ? -1 : limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_analytics_row r = {.id = id, .step = sqlite3_column_int64(st, 0), .update_cos = col_real(st, 1),
                                 .update_ratio = col_real(st, 2), .lr_mult = col_real(st, 3),
                                 .tensors_json = (const char *)sqlite3_column_text(st, 4),
                                 .extra_json = (const char *)sqlite3_column_text(st, 5)};
        if (fn(ctx, &r)) { rc = SQLITE_DONE; break; }
    }
    int ok = rc == SQLITE_DONE;
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return ok ? 0 : ERR_STORAGE;
}

int store_analytics_last(store *s, const char *id, int (*fn)(void *ctx, const store_analytics_row *r), void *ctx)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT step, update_cos, update_ratio, lr_mult, tensors_json, extra_json FROM step_extra"
                           " WHERE session_id = ?1 ORDER BY step DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return reader_fail(s, db, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store_analytics_row r = {.id = id, .step = sqlite3_column_int64(st, 0), .update_cos = col_real(st, 1),
                                 .update_ratio = col_real(st, 2), .lr_mult = col_real(st, 3),
                                 .tensors_json = (const char *)sqlite3_column_text(st, 4),
                                 .extra_json = (const char *)sqlite3_column_text(st, 5)};
        fn(ctx, &r);
        rc = SQLITE_DONE;
    }
    int ok = rc == SQLITE_DONE;
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return ok ? 0 : ERR_STORAGE;
}

/* The last `n` metric rows of a session, ascending (for trend windows). */
int store_metrics_tail(store *s, const char *id, int n, int (*fn)(void *ctx, const step_metric *m), void *ctx)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT * FROM (SELECT step, time_ms, loss, grad_norm, update_norm, param_norm, lr,"
                           " duration_us FROM metrics WHERE session_id = ?1 ORDER BY step DESC LIMIT ?2)"
                           " ORDER BY step",
                           -1, &st, NULL) != SQLITE_OK)
        return reader_fail(s, db, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, n);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        step_metric m = {.step = sqlite3_column_int64(st, 0), .time_ms = sqlite3_column_int64(st, 1),
                         .loss = col_real(st, 2), .grad_norm = col_real(st, 3), .update_norm = col_real(st, 4),
                         .param_norm = col_real(st, 5), .lr = col_real(st, 6), .duration_us = col_real(st, 7)};
        if (fn(ctx, &m)) { rc = SQLITE_DONE; break; }
    }
    int ok = rc == SQLITE_DONE;
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return ok ? 0 : ERR_STORAGE;
}
