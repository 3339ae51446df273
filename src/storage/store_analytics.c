/* store_analytics.c — step analytics in the store: the per-step extras
 * (step_extra, schema 5) and the rollup of the metrics in levels
 * (metrics_rollup, schema 6) that makes downsampling a long curve cheap.
 * Writes run on the writer thread through store_call (the single-writer
 * rule) and come in batches; reads use the pooled read-only connections.
 * The aggregation (counts, sums, extremes and where they occur) is done here
 * in C, one pass over rows in step order, so that the rollup rows and the
 * raw rows merge by the same code.  See store.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

#define NCOLS  STORE_AN_NCOLS
#define LEVELS STORE_ROLLUP_LEVELS
/* Rows after the rollup's top beyond which a read first repairs the rollup. */
#define REPAIR_ROWS (STORE_ROLLUP_WIDTH * STORE_ROLLUP_FANOUT * STORE_ROLLUP_FANOUT)

/* Column name prefixes in metrics_rollup, in STORE_AN_* order. */
static const char *const rcols[NCOLS] = {"loss", "grad", "upd", "param", "lr", "cos"};

static int64_t level_width(int l)
{
    int64_t w = STORE_ROLLUP_WIDTH;
    while (l-- > 0) w *= STORE_ROLLUP_FANOUT;
    return w;
}

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

/* ---- aggregation ---------------------------------------------------------- */

/* A bucket being built: `key` is its index (bucket or step / width). */
typedef struct acc {
    int64_t key, step_first, step_last, n;
    struct { int64_t n; double sum, min, max; int64_t min_step, max_step; } c[NCOLS];
} acc;

static void acc_reset(acc *a, int64_t key)
{
    a->key = key;
    a->step_first = a->step_last = -1;
    a->n = 0;
    for (int c = 0; c < NCOLS; c++) {
        a->c[c].n = 0;
        a->c[c].sum = 0;
        a->c[c].min = a->c[c].max = NAN;
        a->c[c].min_step = a->c[c].max_step = -1;
    }
}

/* Merges piece p (whose steps all come after a's) into a.  Ties keep a's
 * extremes: the first step holding the value wins, as in a scan in step
 * order. */
static void acc_merge(acc *a, const acc *p)
{
    if (!p->n) return;
    if (!a->n) a->step_first = p->step_first;
    a->step_last = p->step_last;
    a->n += p->n;
    for (int c = 0; c < NCOLS; c++) {
        if (!p->c[c].n) continue;
        if (!a->c[c].n || p->c[c].min < a->c[c].min) { a->c[c].min = p->c[c].min; a->c[c].min_step = p->c[c].min_step; }
        if (!a->c[c].n || p->c[c].max > a->c[c].max) { a->c[c].max = p->c[c].max; a->c[c].max_step = p->c[c].max_step; }
        a->c[c].n += p->c[c].n;
        a->c[c].sum += p->c[c].sum;
    }
}

/* The raw-row query: step then the NCOLS values, ascending, steps in [?2, ?3]. */
static const char raw_sql[] =
    "SELECT m.step, m.loss, m.grad_norm, m.update_norm, m.param_norm, m.lr, e.update_cos"
    " FROM metrics m LEFT JOIN step_extra e ON e.session_id = m.session_id AND e.step = m.step"
    " WHERE m.session_id = ?1 AND m.step >= ?2 AND m.step <= ?3 ORDER BY m.step";

/* One raw row (raw_sql's columns) as a one-step piece. */
static void acc_from_raw(acc *p, sqlite3_stmt *st)
{
    int64_t step = sqlite3_column_int64(st, 0);
    p->key = 0;
    p->step_first = p->step_last = step;
    p->n = 1;
    for (int c = 0; c < NCOLS; c++) {
        if (sqlite3_column_type(st, 1 + c) == SQLITE_NULL) {
            p->c[c].n = 0;
            p->c[c].sum = 0;
            p->c[c].min = p->c[c].max = NAN;
            p->c[c].min_step = p->c[c].max_step = -1;
        } else {
            double v = sqlite3_column_double(st, 1 + c);
            p->c[c].n = 1;
            p->c[c].sum = p->c[c].min = p->c[c].max = v;
            p->c[c].min_step = p->c[c].max_step = step;
        }
    }
}

/* The rollup columns after session_id, level: bucket, step_first, step_last,
 * n, then per column n, sum, min, max, min_step, max_step. */
#define RCOLS_N (4 + 6 * NCOLS)

static int rollup_cols(char *buf, size_t cap)
{
    int len = snprintf(buf, cap, "bucket, step_first, step_last, n");
    for (int c = 0; c < NCOLS && len < (int)cap; c++)
        len += snprintf(buf + len, cap - (size_t)len, ", %s_n, %s_sum, %s_min, %s_max, %s_min_step, %s_max_step",
                        rcols[c], rcols[c], rcols[c], rcols[c], rcols[c], rcols[c]);
    return len < (int)cap ? 0 : -1;
}

/* A rollup row (rollup_cols from column `k0` on) as a piece. */
static void acc_from_rollup(acc *p, sqlite3_stmt *st, int k0)
{
    p->key = sqlite3_column_int64(st, k0);
    p->step_first = sqlite3_column_int64(st, k0 + 1);
    p->step_last = sqlite3_column_int64(st, k0 + 2);
    p->n = sqlite3_column_int64(st, k0 + 3);
    for (int c = 0; c < NCOLS; c++) {
        int k = k0 + 4 + 6 * c;
        p->c[c].n = sqlite3_column_int64(st, k);
        p->c[c].sum = p->c[c].n ? sqlite3_column_double(st, k + 1) : 0;
        p->c[c].min = p->c[c].n ? col_real(st, k + 2) : NAN;
        p->c[c].max = p->c[c].n ? col_real(st, k + 3) : NAN;
        p->c[c].min_step = p->c[c].n ? sqlite3_column_int64(st, k + 4) : -1;
        p->c[c].max_step = p->c[c].n ? sqlite3_column_int64(st, k + 5) : -1;
    }
}

/* ---- writes ------------------------------------------------------------- */

typedef struct write_ctx {
    store *s;
    const store_analytics_row *rows;
    size_t n;
    int    refresh_only;       /* store_analytics_refresh: the rows are written already */
} write_ctx;

/* The write connection's statements of this file (s->an_st), prepared once,
 * on first use, by the writer thread (they run only inside store_call), and
 * finalized by store_close: a refresh runs ten times a second under load,
 * and preparing its five statements each time was a quarter of its cost. */
enum { AN_INS, AN_TOP, AN_RAW, AN_READ, AN_PUT, AN_N };
_Static_assert(AN_N == STORE_AN_STMTS, "store_internal.h sizes an_st");

static const char top_sql[] =
    "SELECT bucket, step_last FROM metrics_rollup WHERE session_id = ?1 AND level = 0 ORDER BY bucket DESC LIMIT 1";

/* s->an_st[k], reset, or NULL when it cannot be prepared (the error is on s->w). */
static sqlite3_stmt *an_stmt(store *s, int k)
{
    if (s->an_st[k]) {
        sqlite3_reset(s->an_st[k]);
        return s->an_st[k];
    }
    char cols[1024], sql[2048];
    const char *text = sql;
    switch (k) {
    case AN_INS:
        text = "INSERT OR REPLACE INTO step_extra(session_id, step, update_cos, update_ratio, lr_mult,"
               " tensors_json, extra_json) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
               " WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)";
        break;
    case AN_TOP: text = top_sql; break;
    case AN_RAW: text = raw_sql; break;
    case AN_READ:
        if (rollup_cols(cols, sizeof cols)) return NULL;
        snprintf(sql, sizeof sql, "SELECT %s FROM metrics_rollup WHERE session_id = ?1 AND level = ?2"
                                  " AND bucket >= ?3 AND bucket <= ?4 ORDER BY bucket", cols);
        break;
    default: {
        if (rollup_cols(cols, sizeof cols)) return NULL;
        int len = snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO metrics_rollup(session_id, level, %s)"
                                            " VALUES(?1, ?2", cols);
        for (int i = 0; i < RCOLS_N; i++) len += snprintf(sql + len, sizeof sql - (size_t)len, ", ?%d", 3 + i);
        snprintf(sql + len, sizeof sql - (size_t)len, ")");
        break;
    }
    }
    if (sqlite3_prepare_v3(s->w, text, -1, SQLITE_PREPARE_PERSISTENT, &s->an_st[k], NULL) != SQLITE_OK) {
        sqlite3_finalize(s->an_st[k]);
        s->an_st[k] = NULL;
    }
    return s->an_st[k];
}

/* Resets every statement of s->an_st: none stays active past its call. */
static void an_reset(store *s)
{
    for (int k = 0; k < AN_N; k++)
        if (s->an_st[k]) sqlite3_reset(s->an_st[k]);
}

void store_analytics_close(store *s)
{
    for (int k = 0; k < AN_N; k++) {
        sqlite3_finalize(s->an_st[k]);
        s->an_st[k] = NULL;
    }
}

/* Statements of one rollup refresh (on the write connection). */
typedef struct refresher {
    sqlite3 *db;
    const char *id;
    sqlite3_stmt *raw, *read, *put;
} refresher;

static int refresher_open(refresher *r, store *s, const char *id)
{
    r->db = s->w;
    r->id = id;
    r->raw = an_stmt(s, AN_RAW);
    r->read = r->raw ? an_stmt(s, AN_READ) : NULL;
    r->put = r->read ? an_stmt(s, AN_PUT) : NULL;
    return r->put ? SQLITE_OK : (sqlite3_errcode(s->w) != SQLITE_OK ? sqlite3_errcode(s->w) : SQLITE_ERROR);
}

static int put_bucket(refresher *r, int level, const acc *a)
{
    if (!a->n) return SQLITE_OK;
    sqlite3_stmt *st = r->put;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, level);
    sqlite3_bind_int64(st, 3, a->key);
    sqlite3_bind_int64(st, 4, a->step_first);
    sqlite3_bind_int64(st, 5, a->step_last);
    sqlite3_bind_int64(st, 6, a->n);
    for (int c = 0; c < NCOLS; c++) {
        int k = 7 + 6 * c;
        sqlite3_bind_int64(st, k, a->c[c].n);
        if (a->c[c].n) {
            sqlite3_bind_double(st, k + 1, a->c[c].sum);
            bind_real(st, k + 2, a->c[c].min);
            bind_real(st, k + 3, a->c[c].max);
            sqlite3_bind_int64(st, k + 4, a->c[c].min_step);
            sqlite3_bind_int64(st, k + 5, a->c[c].max_step);
        } else {
            for (int j = 1; j <= 5; j++) sqlite3_bind_null(st, k + j);
        }
    }
    return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(r->db);
}

/* Recomputes the level-0 buckets [b0, b1] from the metrics, then the
 * buckets above them level by level from the level below. */
static int rollup_refresh(refresher *r, int64_t b0, int64_t b1)
{
    acc cur, p;
    acc_reset(&cur, b0);
    sqlite3_stmt *st = r->raw;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, b0 * STORE_ROLLUP_WIDTH);
    sqlite3_bind_int64(st, 3, (b1 + 1) * STORE_ROLLUP_WIDTH - 1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        acc_from_raw(&p, st);
        int64_t key = p.step_first / STORE_ROLLUP_WIDTH;
        if (key != cur.key) {
            int e = put_bucket(r, 0, &cur);
            if (e != SQLITE_OK) return e;
            acc_reset(&cur, key);
        }
        acc_merge(&cur, &p);
    }
    if (rc != SQLITE_DONE) return sqlite3_errcode(r->db);
    rc = put_bucket(r, 0, &cur);
    for (int l = 1; l < LEVELS && rc == SQLITE_OK; l++) {
        b0 /= STORE_ROLLUP_FANOUT;
        b1 /= STORE_ROLLUP_FANOUT;
        st = r->read;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, l - 1);
        sqlite3_bind_int64(st, 3, b0 * STORE_ROLLUP_FANOUT);
        sqlite3_bind_int64(st, 4, (b1 + 1) * STORE_ROLLUP_FANOUT - 1);
        acc_reset(&cur, b0);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            acc_from_rollup(&p, st, 0);
            int64_t key = p.key / STORE_ROLLUP_FANOUT;
            rc = SQLITE_OK;
            if (key != cur.key) {
                rc = put_bucket(r, l, &cur);
                acc_reset(&cur, key);
            }
            acc_merge(&cur, &p);
        }
        if (rc == SQLITE_DONE) rc = put_bucket(r, l, &cur);
        else if (rc == SQLITE_ROW) rc = SQLITE_OK;
    }
    return rc;
}

/* The newest level-0 bucket of session `id` (-1 when none) and its step_last. */
static int rollup_top(sqlite3_stmt *top, const char *id, int64_t *bucket, int64_t *step_last)
{
    sqlite3_reset(top);
    sqlite3_bind_text(top, 1, id, -1, SQLITE_STATIC);
    *bucket = *step_last = -1;
    int rc = sqlite3_step(top);
    if (rc == SQLITE_ROW) {
        *bucket = sqlite3_column_int64(top, 0);
        *step_last = sqlite3_column_int64(top, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(top);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Refreshes the rollup of session `id` over level-0 buckets [b0, b1],
 * extended down to its current top bucket (the repair of a lost write). */
static int refresh_session(store *s, const char *id, int64_t b0, int64_t b1)
{
    sqlite3_stmt *top = an_stmt(s, AN_TOP);
    if (!top) return SQLITE_ERROR;
    int64_t tb, tl;
    int rc = rollup_top(top, id, &tb, &tl);
    if (rc != SQLITE_OK) return rc;
    if (tb < 0) b0 = 0;               /* no rollup yet (new, or migrated from v5): all of it */
    else if (tb < b0) b0 = tb;
    refresher r;
    rc = refresher_open(&r, s, id);
    if (rc == SQLITE_OK) rc = rollup_refresh(&r, b0, b1);
    return rc;
}

/* A row's session and step, sorted by session then step. */
typedef struct id_step { const char *id; int64_t step; } id_step;

static int id_step_cmp(const void *a, const void *b)
{
    const id_step *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->step > y->step) - (x->step < y->step);
}

static int write_fn(sqlite3 *db, void *ctx)
{
    write_ctx *c = ctx;
    store *s = c->s;
    int rc = SQLITE_OK;
    sqlite3_stmt *ins = c->refresh_only ? NULL : an_stmt(s, AN_INS);
    if (!c->refresh_only && !ins) rc = SQLITE_ERROR;
    for (size_t i = 0; rc == SQLITE_OK && !c->refresh_only && i < c->n; i++) {
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
    /* Each session's step range: the rows sorted by session (n log n; the
     * caller's rows interleave many sessions). */
    id_step *ix = rc == SQLITE_OK && c->n <= SIZE_MAX / sizeof *ix ? malloc(c->n * sizeof *ix) : NULL;
    if (rc == SQLITE_OK && !ix) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) {
        for (size_t i = 0; i < c->n; i++) ix[i] = (id_step){c->rows[i].id, c->rows[i].step};
        qsort(ix, c->n, sizeof *ix, id_step_cmp);
    }
    for (size_t i = 0, j; rc == SQLITE_OK && i < c->n; i = j) {
        for (j = i + 1; j < c->n && strcmp(ix[j].id, ix[i].id) == 0; j++) {}
        int64_t lo = ix[i].step, hi = ix[j - 1].step;
        if (lo < 0) lo = 0;
        if (hi < 0) continue;
        rc = refresh_session(s, ix[i].id, lo / STORE_ROLLUP_WIDTH, hi / STORE_ROLLUP_WIDTH);
    }
    free(ix);
    an_reset(s);
    return rc;
}

int store_analytics_write(store *s, const store_analytics_row *rows, size_t n)
{
    if (!s || (!rows && n)) return ERR_INVALID_ARGUMENT;
    if (!n) return 0;
    write_ctx c = {s, rows, n, 0};
    return store_call(s, write_fn, &c);
}

int store_analytics_refresh(store *s, const store_analytics_row *rows, size_t n)
{
    if (!s || (!rows && n)) return ERR_INVALID_ARGUMENT;
    if (!n) return 0;
    write_ctx c = {s, rows, n, 1};
    return store_call(s, write_fn, &c);
}

/* Brings the rollup of one session up to its newest metrics row. */
typedef struct repair_ctx { store *s; const char *id; } repair_ctx;

static int repair_fn(sqlite3 *db, void *ctx)
{
    repair_ctx *c = ctx;
    sqlite3_stmt *mx = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT max(step) FROM metrics WHERE session_id = ?1", -1, &mx, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(mx, 1, c->id, -1, SQLITE_STATIC);
        if (sqlite3_step(mx) == SQLITE_ROW && sqlite3_column_type(mx, 0) != SQLITE_NULL) {
            int64_t last = sqlite3_column_int64(mx, 0);
            rc = last >= 0 ? refresh_session(c->s, c->id, last / STORE_ROLLUP_WIDTH, last / STORE_ROLLUP_WIDTH)
                           : SQLITE_OK;
        }
    }
    sqlite3_finalize(mx);
    an_reset(c->s);
    return rc;
}

/* ---- reads -------------------------------------------------------------- */

static int reader_fail(store *s, sqlite3 *db, sqlite3_stmt *st)
{
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return ERR_STORAGE;
}

/* The rollup's top step (-1 when none) and the newest metrics step (-1). */
static int read_tops(sqlite3 *db, const char *id, int64_t *top, int64_t *last)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT step_last FROM metrics_rollup WHERE session_id = ?1 AND level = 0"
                           " ORDER BY bucket DESC LIMIT 1), (SELECT max(step) FROM metrics WHERE session_id = ?1)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        *top = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
        *last = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int store_metrics_span(store *s, const char *id, int64_t *count, int64_t *first, int64_t *last)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    int64_t top = -1, mx = -1;
    if (read_tops(db, id, &top, &mx)) return reader_fail(s, db, NULL);
    sqlite3_stmt *st;
    /* min/max use the primary key; the count comes from the coarsest rollup
     * level plus the rows after its top: O(steps / 32768) rows. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT min(step) FROM metrics WHERE session_id = ?1),"
             " (SELECT coalesce(sum(n), 0) FROM metrics_rollup WHERE session_id = ?1 AND level = %d) +"
             " (SELECT count(*) FROM metrics WHERE session_id = ?1 AND step > ?2)", LEVELS - 1);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return reader_fail(s, db, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, top);
    if (sqlite3_step(st) != SQLITE_ROW) return reader_fail(s, db, st);
    int none = sqlite3_column_type(st, 0) == SQLITE_NULL;
    *first = none ? 0 : sqlite3_column_int64(st, 0);
    *last = none ? 0 : mx;
    *count = none ? 0 : sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return 0;
}

int64_t store_metrics_bucket_width(int64_t lo, int64_t hi, int64_t max_points)
{
    if (max_points < 2) max_points = 2;
    if (lo < 0) lo = 0;
    if (hi < lo) hi = lo;
    int64_t span = hi - lo + 1, w0 = (span + max_points - 1) / max_points;
    int64_t want = (max_points + 1) / 2;
    for (int l = LEVELS; l >= 0; l--) {
        int64_t L = l ? level_width(l - 1) : 1;
        int64_t w = (w0 + L - 1) / L * L;
        /* aligned buckets may add one; stay within max_points */
        while (hi / w - lo / w + 1 > max_points) w += L;
        if (l == 0 || hi / w - lo / w + 1 >= want) return w;
    }
    return w0;
}

/* One downsampling read: the statements and the bucket being built. */
typedef struct reader {
    const char *id;
    sqlite3_stmt *raw, *roll;
    int64_t width, top;
    acc cur;
    int started, stop, err;
    int (*fn)(void *ctx, const store_metric_bucket *b);
    void *ctx;
} reader;

static void reader_flush(reader *r)
{
    if (!r->started || !r->cur.n || r->stop) return;
    store_metric_bucket b;
    b.step_first = r->cur.step_first;
    b.step_last = r->cur.step_last;
    b.count = r->cur.n;
    for (int c = 0; c < NCOLS; c++) {
        int64_t n = r->cur.c[c].n;
        b.col[c].count = n;
        b.col[c].mean = n ? r->cur.c[c].sum / (double)n : NAN;
        b.col[c].min = n ? r->cur.c[c].min : NAN;
        b.col[c].max = n ? r->cur.c[c].max : NAN;
        b.col[c].min_step = n ? r->cur.c[c].min_step : -1;
        b.col[c].max_step = n ? r->cur.c[c].max_step : -1;
    }
    if (r->fn(r->ctx, &b)) r->stop = 1;
}

static void reader_piece(reader *r, const acc *p)
{
    int64_t key = p->step_first / r->width;
    if (!r->started || key != r->cur.key) {
        reader_flush(r);
        acc_reset(&r->cur, key);
        r->started = 1;
    }
    acc_merge(&r->cur, p);
}

static void read_raw(reader *r, int64_t a, int64_t z)
{
    if (a > z || r->stop || r->err) return;
    sqlite3_stmt *st = r->raw;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 2, a);
    sqlite3_bind_int64(st, 3, z);
    acc p;
    int rc = SQLITE_DONE;
    while (!r->stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        acc_from_raw(&p, st);
        reader_piece(r, &p);
    }
    if (!r->stop && rc != SQLITE_DONE) r->err = 1;
    sqlite3_reset(st);
}

static void read_rollup(reader *r, int level, int64_t b0, int64_t b1)
{
    if (b0 > b1 || r->stop || r->err) return;
    sqlite3_stmt *st = r->roll;
    sqlite3_reset(st);
    sqlite3_bind_int(st, 2, level);
    sqlite3_bind_int64(st, 3, b0);
    sqlite3_bind_int64(st, 4, b1);
    acc p;
    int rc = SQLITE_DONE;
    while (!r->stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        acc_from_rollup(&p, st, 0);
        reader_piece(r, &p);
    }
    if (!r->stop && rc != SQLITE_DONE) r->err = 1;
    sqlite3_reset(st);
}

/* Steps [a, z] (z <= top; open: z == top, so a bucket holding top is whole)
 * from level `level` down: the level's buckets whole inside the range, the
 * edges from the levels below, raw rows below level 0.  Pieces come in step
 * order, each inside one output bucket (the level widths divide width). */
static void cover(reader *r, int level, int64_t a, int64_t z, int open)
{
    if (a > z || r->stop || r->err) return;
    if (level < 0) {
        read_raw(r, a, z);
        return;
    }
    int64_t L = level_width(level);
    int64_t b0 = (a + L - 1) / L, b1 = open ? z / L : (z + 1) / L - 1;
    if (b0 > b1) {
        cover(r, level - 1, a, z, open);
        return;
    }
    cover(r, level - 1, a, b0 * L - 1, 0);
    read_rollup(r, level, b0, b1);
    if (!open) cover(r, level - 1, (b1 + 1) * L, z, 0);
}

int store_metrics_downsample(store *s, const char *id, int64_t from, int64_t to, int64_t width,
                             int (*fn)(void *ctx, const store_metric_bucket *b), void *ctx)
{
    if (!s || !id || !fn || width < 1) return ERR_INVALID_ARGUMENT;
    if (from < 0) from = 0;
    if (from > to) return 0;
    char cols[1024], sql[2048];
    if (rollup_cols(cols, sizeof cols)) return ERR_INTERNAL;
    snprintf(sql, sizeof sql, "SELECT %s FROM metrics_rollup WHERE session_id = ?1 AND level = ?2"
                              " AND bucket >= ?3 AND bucket <= ?4 ORDER BY bucket", cols);
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    int64_t top, last;
    if (read_tops(db, id, &top, &last)) return reader_fail(s, db, NULL);
    if (last - top > REPAIR_ROWS) {
        /* A rollup far behind its metrics: rebuild it first (writer thread).
         * If that fails (e.g. a full disk) the rows after top are read raw:
         * slower, still exact. */
        repair_ctx rc = {s, id};
        if (store_call(s, repair_fn, &rc) == 0 && read_tops(db, id, &top, &last)) return reader_fail(s, db, NULL);
    }
    reader r = {.id = id, .width = width, .top = top, .fn = fn, .ctx = ctx};
    if (sqlite3_prepare_v2(db, raw_sql, -1, &r.raw, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &r.roll, NULL) != SQLITE_OK) {
        sqlite3_finalize(r.raw);
        return reader_fail(s, db, r.roll);
    }
    sqlite3_bind_text(r.raw, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(r.roll, 1, id, -1, SQLITE_STATIC);
    /* The coarsest level whose width divides the output width. */
    int level = -1;
    for (int l = LEVELS - 1; l >= 0 && level < 0; l--)
        if (width % level_width(l) == 0) level = l;
    int64_t z = to < top ? to : top;
    if (from <= z) cover(&r, level, from, z, z == top);
    read_raw(&r, from > top + 1 ? from : top + 1, to);
    reader_flush(&r);
    sqlite3_finalize(r.raw);
    sqlite3_finalize(r.roll);
    store_reader_release(s, db);
    return r.err ? ERR_STORAGE : 0;
}

/* The newest step_extra row of `id`, handed to fn (not called when none). */
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
