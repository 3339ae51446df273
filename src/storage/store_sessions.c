/* store_sessions.c — sessions and what they own: the session rows and their
 * snapshots (split into snapshot_chunks above the chunk size), step metrics
 * and feedback.  Writes are jobs for the writer (store_writer.c); reads run
 * on pooled read-only connections (store_read.c).
 *
 * Invariants: a row for a session that does not exist is dropped, not an
 * error (WHERE EXISTS); a session's chunks are replaced whole in the job that
 * writes its row; a snapshot read back with missing or extra chunks comes
 * back empty (the blob's own CRC check then answers ERR_CORRUPT).
 * See store.h for the contract. */
#include "store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store_internal.h"

/* ---- statements ---------------------------------------------------------------- */

const char *const store_stmt_sql[ST_COUNT] = {
    [ST_CREATE] = "INSERT INTO sessions(id, meta_json, created_ms, updated_ms, step, snapshot, nchunks)"
                  " VALUES(?1, ?2, ?3, ?3, ?4, ?5, ?6)",
    [ST_SNAPSHOT] = "UPDATE sessions SET snapshot = ?2, step = ?3, updated_ms = ?4, nchunks = ?5 WHERE id = ?1",
    [ST_UPDATE] = "UPDATE sessions SET status = coalesce(?2, status), meta_json = coalesce(?3, meta_json),"
                  " updated_ms = ?4 WHERE id = ?1",
    /* WHERE EXISTS: a row for a missing session is dropped, not an FK error. */
    [ST_METRIC] = "INSERT OR REPLACE INTO metrics(session_id, step, time_ms, loss, grad_norm, update_norm,"
                  " param_norm, lr, duration_us, group_lr) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"
                  " WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    /* The same statement as store_analytics_write's (store_analytics.c). */
    [ST_EXTRA] = "INSERT OR REPLACE INTO step_extra(session_id, step, update_cos, update_ratio, lr_mult,"
                 " tensors_json, extra_json) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
                 " WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    [ST_FEEDBACK] = "INSERT OR REPLACE INTO feedback(session_id, step, loss, metrics_json, time_ms)"
                    " SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
    /* Explicit child deletes: the session's rows go even if FK enforcement were off. */
    [ST_CHUNK] = "INSERT INTO snapshot_chunks(session_id, seq, data) VALUES(?1, ?2, ?3)",
    [ST_DEL_METRICS] = "DELETE FROM metrics WHERE session_id = ?1",
    [ST_DEL_FEEDBACK] = "DELETE FROM feedback WHERE session_id = ?1",
    [ST_DEL_CHUNKS] = "DELETE FROM snapshot_chunks WHERE session_id = ?1",
    [ST_DEL_SESSION] = "DELETE FROM sessions WHERE id = ?1",
};

/* Read statements, prepared lazily on each read-only connection. */
const char *const store_rq_sql[RQ_COUNT] = {
    [RQ_LOAD] = "SELECT id, meta_json, status, created_ms, step, snapshot, nchunks, updated_ms, status_ms"
                " FROM sessions ORDER BY id",
    [RQ_LOAD_ONE] = "SELECT id, meta_json, status, created_ms, step, snapshot, nchunks, updated_ms, status_ms"
                    " FROM sessions WHERE id = ?1",
    [RQ_LIST_FIRST] = "SELECT id, meta_json, status, created_ms, step FROM sessions ORDER BY id LIMIT ?2",
    [RQ_LIST_AFTER] = "SELECT id, meta_json, status, created_ms, step FROM sessions WHERE id > ?1"
                      " ORDER BY id LIMIT ?2",
    [RQ_METRICS] = "SELECT step, time_ms, loss, grad_norm, update_norm, param_norm, lr, duration_us, group_lr"
                   " FROM metrics WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
    [RQ_FEEDBACK] = "SELECT step, loss, metrics_json, time_ms FROM feedback"
                    " WHERE session_id = ?1 AND step > ?2 ORDER BY step LIMIT ?3",
    [RQ_CHUNKS_SIZE] = "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(min(seq), 0), coalesce(max(seq), -1)"
                       " FROM snapshot_chunks WHERE session_id = ?1",
    [RQ_CHUNKS] = "SELECT data FROM snapshot_chunks WHERE session_id = ?1 ORDER BY seq",
};

/* ---- writes -------------------------------------------------------------------- */

/* Chunks j's snapshot takes: 0 when it fits in the session row. */
static int64_t snapshot_nchunks(const store *s, const store_job *j)
{
    return j->blob_len > s->chunk_bytes ? (int64_t)((j->blob_len + s->chunk_bytes - 1) / s->chunk_bytes) : 0;
}

/* Replaces the session's chunks by the nchunks pieces of j's snapshot
 * (none: just drops the old ones).  Runs after the session row is written. */
static int snapshot_put_chunks(store *s, const store_job *j, int64_t nchunks)
{
    sqlite3_stmt *st = s->st[ST_DEL_CHUNKS];
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    int rc = store_step_done(st);
    for (int64_t k = 0; rc == SQLITE_OK && k < nchunks; k++) {
        size_t off = (size_t)k * s->chunk_bytes;
        size_t len = j->blob_len - off < s->chunk_bytes ? j->blob_len - off : s->chunk_bytes;
        st = s->st[ST_CHUNK];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, k);
        sqlite3_bind_blob64(st, 3, (const char *)j->blob + off, len, SQLITE_STATIC);
        rc = store_step_done(st);
    }
    return rc;
}

/* The metrics row of a metric or step job. */
static int metric_put(store *s, const store_job *j)
{
    sqlite3_stmt *st = s->st[ST_METRIC];
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, j->m.step);
    sqlite3_bind_int64(st, 3, j->m.time_ms);
    store_bind_real(st, 4, j->m.loss);
    store_bind_real(st, 5, j->m.grad_norm);
    store_bind_real(st, 6, j->m.update_norm);
    store_bind_real(st, 7, j->m.param_norm);
    store_bind_real(st, 8, j->m.lr);
    store_bind_real(st, 9, j->m.duration_us);
    char *glr = store_group_lr_json(j->m.group_lr, j->m.ngroup_lr);   /* NULL: none, or no memory */
    store_bind_text(st, 10, glr);
    int rc = store_step_done(st);   /* resets the statement: glr is no longer used */
    free(glr);
    return rc;
}

/* The extras row of a step job (store_analytics_row's columns); its JSON is
 * formatted here, on the writer thread (store_extras.c), not on the step path. */
static int extra_put(store *s, const store_job *j)
{
    char *tj = store_xcopy_tensors_json(j->xc);
    char *ej = j->xc && j->xc->ndiag ? store_xcopy_extra_json(j->xc) : NULL;
    sqlite3_stmt *st = s->st[ST_EXTRA];
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, j->m.step);
    store_bind_real(st, 3, j->x_cos);
    store_bind_real(st, 4, j->x_ratio);
    store_bind_real(st, 5, j->x_mult);
    store_bind_text(st, 6, tj);
    store_bind_text(st, 7, ej);
    int rc = store_step_done(st);   /* resets the statement: the bound texts are no longer used */
    free(tj);
    free(ej);
    return rc;
}

/* Runs one session job's statements on the write connection, inside the
 * writer's transaction.  SQLITE_OK or an SQLite error code. */
int store_sessions_job_run(store *s, store_job *j)
{
    int64_t nch;
    int rc;
    sqlite3_stmt *st;
    switch (j->kind) {
    case JOB_CREATE:
        nch = snapshot_nchunks(s, j);
        st = s->st[ST_CREATE];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        store_bind_text(st, 2, j->text);
        sqlite3_bind_int64(st, 3, j->i1);
        sqlite3_bind_int64(st, 4, j->i2);
        sqlite3_bind_blob64(st, 5, j->blob && !nch ? j->blob : "", nch ? 0 : j->blob_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, nch);
        rc = store_step_done(st);
        return rc == SQLITE_OK && nch ? snapshot_put_chunks(s, j, nch) : rc;
    case JOB_SNAPSHOT:
        nch = snapshot_nchunks(s, j);
        st = s->st[ST_SNAPSHOT];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 2, j->blob && !nch ? j->blob : "", nch ? 0 : j->blob_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, j->i1);
        sqlite3_bind_int64(st, 4, store_wall_ms());
        sqlite3_bind_int64(st, 5, nch);
        rc = store_step_done(st);
        return rc == SQLITE_OK ? snapshot_put_chunks(s, j, nch) : rc;
    case JOB_UPDATE:
        st = s->st[ST_UPDATE];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        store_bind_text(st, 2, j->text);
        store_bind_text(st, 3, j->text2);
        sqlite3_bind_int64(st, 4, store_wall_ms());
        return store_step_done(st);
    case JOB_METRIC:
        return metric_put(s, j);
    case JOB_STEP:
        rc = metric_put(s, j);
        return rc == SQLITE_OK && j->has_extra ? extra_put(s, j) : rc;
    case JOB_FEEDBACK:
        st = s->st[ST_FEEDBACK];
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, j->i1);
        store_bind_real(st, 3, j->loss);
        store_bind_text(st, 4, j->text);
        sqlite3_bind_int64(st, 5, store_wall_ms());
        return store_step_done(st);
    case JOB_DELETE:
        for (int k = ST_DEL_METRICS; k <= ST_DEL_SESSION; k++) {
            sqlite3_bind_text(s->st[k], 1, j->id, -1, SQLITE_STATIC);
            rc = store_step_done(s->st[k]);
            if (rc != SQLITE_OK) return rc;
        }
        return SQLITE_OK;
    case JOB_FLUSH: case JOB_EXEC: case JOB_CALL:
        break;              /* not session jobs: store_writer.c runs them */
    }
    return SQLITE_MISUSE;
}

int store_session_create_take(store *s, const char *id, const char *meta_json, int64_t created_ms, int64_t step,
                              void *snapshot, size_t snapshot_len)
{
    if (!s || !id || !meta_json) {
        free(snapshot);
        return ERR_INVALID_ARGUMENT;
    }
    store_job *j = store_job_new(JOB_CREATE, id);
    if (!j || store_dup_opt(meta_json, &j->text)) {
        store_job_free(j);
        free(snapshot);
        return ERR_NO_MEMORY;
    }
    j->i1 = created_ms;
    j->i2 = step;
    j->blob = snapshot;
    j->blob_len = snapshot_len;
    j->wait = 1;
    return store_submit(s, j);
}

int store_snapshot_put_owned(store *s, const char *id, int64_t step, void *snapshot, size_t snapshot_len, int wait)
{
    if (!s || !id) {
        free(snapshot);
        return ERR_INVALID_ARGUMENT;
    }
    store_job *j = store_job_new(JOB_SNAPSHOT, id);
    if (!j) {
        free(snapshot);
        return ERR_NO_MEMORY;
    }
    j->i1 = step;
    j->blob = snapshot;
    j->blob_len = snapshot_len;
    j->wait = wait != 0;
    return store_submit(s, j);
}

int store_session_update(store *s, const char *id, const char *status, const char *meta_json)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_UPDATE, id);
    if (!j || store_dup_opt(status, &j->text) || store_dup_opt(meta_json, &j->text2)) {
        store_job_free(j);
        return ERR_NO_MEMORY;
    }
    return store_submit(s, j);
}

typedef struct patch_ctx {
    const char *id, *status, *meta_json;
    int64_t     now_ms;
    int         found;
} patch_ctx;

static int patch_fn(sqlite3 *db, void *ctx)
{
    patch_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE sessions SET status = coalesce(?2, status), meta_json = coalesce(?3, meta_json),"
                                " status_ms = CASE WHEN ?2 IS NULL OR ?2 = status THEN status_ms ELSE ?4 END,"
                                " updated_ms = ?4 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    store_bind_text(st, 2, c->status);
    store_bind_text(st, 3, c->meta_json);
    sqlite3_bind_int64(st, 4, c->now_ms);
    rc = sqlite3_step(st);
    c->found = sqlite3_changes(db) > 0;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_session_patch(store *s, const char *id, const char *status, const char *meta_json, int64_t now_ms)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    patch_ctx c = {.id = id, .status = status, .meta_json = meta_json, .now_ms = now_ms};
    int rc = store_call(s, patch_fn, &c);
    if (rc) return rc;
    return c.found ? 0 : ERR_SESSION_NOT_FOUND;
}

/* j->m = *m, its group_lr copied into j->glr.  0, ERR_INVALID_ARGUMENT or
 * ERR_NO_MEMORY (j is the caller's either way). */
static int metric_copy(store_job *j, const step_metric *m)
{
    j->m = *m;
    j->m.group_lr = NULL;
    j->m.ngroup_lr = 0;
    if (m->ngroup_lr == 0) return 0;
    if (m->ngroup_lr < 0 || m->ngroup_lr > STORE_GROUP_LR_MAX || !m->group_lr) return ERR_INVALID_ARGUMENT;
    j->glr = malloc((size_t)m->ngroup_lr * sizeof *j->glr);   /* bounded: 2 KiB at most */
    if (!j->glr) return ERR_NO_MEMORY;
    memcpy(j->glr, m->group_lr, (size_t)m->ngroup_lr * sizeof *j->glr);
    j->m.group_lr = j->glr;
    j->m.ngroup_lr = m->ngroup_lr;
    return 0;
}

int store_metric(store *s, const char *id, const step_metric *m)
{
    if (!s || !id || !m) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_METRIC, id);
    if (!j) return ERR_NO_MEMORY;
    int rc = metric_copy(j, m);
    if (rc) {
        store_job_free(j);
        return rc;
    }
    return store_submit(s, j);
}

int store_step_record(store *s, const char *id, const step_metric *m, const store_step_extras *extra)
{
    if (!s || !id || !m) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_STEP, id);
    if (!j || (extra && store_xcopy_new(extra, &j->xc))) {
        store_job_free(j);
        return ERR_NO_MEMORY;
    }
    int rc = metric_copy(j, m);
    if (rc) {
        store_job_free(j);
        return rc;
    }
    if (extra) {
        j->has_extra = 1;
        j->x_cos = extra->update_cos;
        j->x_ratio = extra->update_ratio;
        j->x_mult = extra->lr_mult;
    }
    return store_submit(s, j);
}

int store_feedback(store *s, const char *id, int64_t step, double loss, const char *metrics_json)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_FEEDBACK, id);
    if (!j || store_dup_opt(metrics_json, &j->text)) {
        store_job_free(j);
        return ERR_NO_MEMORY;
    }
    j->i1 = step;
    j->loss = loss;
    j->wait = 1;
    return store_submit(s, j);
}

int store_session_delete(store *s, const char *id)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    store_job *j = store_job_new(JOB_DELETE, id);
    if (!j) return ERR_NO_MEMORY;
    j->wait = 1;
    return store_submit(s, j);
}


/* ---- reads ------------------------------------------------------------------------ */

/* Reads the nch chunks of session `id` in seq order into one malloc'd
 * buffer (*out, *len; the caller frees it).  Leaves *out NULL when the
 * chunks are not exactly seq 0 … nch − 1 or memory runs out. */
static void chunks_join(store_reader *r, const char *id, int64_t nch, void **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    sqlite3_stmt *st = store_reader_stmt(r, RQ_CHUNKS_SIZE);
    if (!st) return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == nch &&
             sqlite3_column_int64(st, 2) == 0 && sqlite3_column_int64(st, 3) == nch - 1;
    sqlite3_int64 total = ok ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    char *buf = ok && total > 0 && (uint64_t)total <= SIZE_MAX ? malloc((size_t)total) : NULL;
    if (!buf || !(st = store_reader_stmt(r, RQ_CHUNKS))) {
        free(buf);
        return;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    size_t at = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > (size_t)total - at) break;
        if (n) memcpy(buf + at, p, n);
        at += n;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE || at != (size_t)total) {
        free(buf);
        return;
    }
    *out = buf;
    *len = at;
}

static int session_rows(store *s, int q, const char *after, int limit,
                        int (*fn)(void *, const store_session_row *), void *ctx)
{
    store_reader *r = store_reader_get(s);
    if (!r) return ERR_STORAGE;
    sqlite3_stmt *st = store_reader_stmt(r, q);
    if (!st) {
        store_reader_put(s, r, 1);
        return ERR_STORAGE;
    }
    if (q == RQ_LOAD_ONE) {
        store_bind_text(st, 1, after);
    } else if (q != RQ_LOAD) {
        store_bind_text(st, 1, after);
        sqlite3_bind_int(st, 2, limit);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_session_row row = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .meta_json = (const char *)sqlite3_column_text(st, 1),
            .status = (const char *)sqlite3_column_text(st, 2),
            .created_ms = sqlite3_column_int64(st, 3),
            .step = sqlite3_column_int64(st, 4),
        };
        void *joined = NULL;
        if (q == RQ_LOAD || q == RQ_LOAD_ONE) {
            row.updated_ms = sqlite3_column_int64(st, 7);
            row.status_ms = sqlite3_column_int64(st, 8);
            int64_t nch = sqlite3_column_int64(st, 6);
            if (nch > 0) {
                /* A missing, extra or unreadable chunk leaves an empty
                 * snapshot: the reader's check answers ERR_CORRUPT. */
                chunks_join(r, row.id, nch, &joined, &row.snapshot_len);
                row.snapshot = joined;
            } else {
                row.snapshot = sqlite3_column_blob(st, 5);
                row.snapshot_len = (size_t)sqlite3_column_bytes(st, 5);
            }
        }
        int stop = fn(ctx, &row);
        free(joined);
        if (stop) break;
    }
    return store_query_end(s, r, st, rc);
}

int store_sessions_load(store *s, int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    return session_rows(s, RQ_LOAD, NULL, -1, fn, ctx);
}

typedef struct one_ctx {
    int found;
    int (*fn)(void *, const store_session_row *);
    void *ctx;
} one_ctx;

static int one_row(void *ctx, const store_session_row *row)
{
    one_ctx *c = ctx;
    c->found = 1;
    c->fn(c->ctx, row);
    return 1;
}

int store_session_load(store *s, const char *id, int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    if (!id) return ERR_INVALID_ARGUMENT;
    one_ctx c = {0, fn, ctx};
    int rc = session_rows(s, RQ_LOAD_ONE, id, 1, one_row, &c);
    if (rc) return rc;
    return c.found ? 0 : ERR_SESSION_NOT_FOUND;
}

int store_sessions_list(store *s, const char *after_id, int limit,
                        int (*fn)(void *ctx, const store_session_row *row), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    return session_rows(s, after_id ? RQ_LIST_AFTER : RQ_LIST_FIRST, after_id, limit < 0 ? -1 : limit, fn, ctx);
}

/* Prepares query q for (id, after, limit) on a pooled reader. */
static sqlite3_stmt *range_begin(store *s, int q, const char *id, int64_t after, int limit, store_reader **out)
{
    store_reader *r = store_reader_get(s);
    if (!r) return NULL;
    sqlite3_stmt *st = store_reader_stmt(r, q);
    if (!st) {
        store_reader_put(s, r, 1);
        return NULL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit < 0 ? -1 : limit);
    *out = r;
    return st;
}

int store_metrics_query(store *s, const char *id, int64_t after, int limit,
                        int (*fn)(void *ctx, const step_metric *m), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    store_reader *r;
    sqlite3_stmt *st = id ? range_begin(s, RQ_METRICS, id, after, limit, &r) : NULL;
    if (!st) return id ? ERR_STORAGE : ERR_INVALID_ARGUMENT;
    int rc;
    double glr[STORE_GROUP_LR_MAX];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        step_metric m = {.step = sqlite3_column_int64(st, 0), .time_ms = sqlite3_column_int64(st, 1),
                         .loss = store_col_real(st, 2), .grad_norm = store_col_real(st, 3), .update_norm = store_col_real(st, 4),
                         .param_norm = store_col_real(st, 5), .lr = store_col_real(st, 6), .duration_us = store_col_real(st, 7)};
        m.ngroup_lr = store_group_lr_parse((const char *)sqlite3_column_text(st, 8), glr, STORE_GROUP_LR_MAX);
        m.group_lr = m.ngroup_lr ? glr : NULL;
        if (fn(ctx, &m) != 0) break;
    }
    return store_query_end(s, r, st, rc);
}

int store_feedback_query(store *s, const char *id, int64_t after, int limit,
                         int (*fn)(void *ctx, const store_feedback_row *f), void *ctx)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    store_reader *r;
    sqlite3_stmt *st = id ? range_begin(s, RQ_FEEDBACK, id, after, limit, &r) : NULL;
    if (!st) return id ? ERR_STORAGE : ERR_INVALID_ARGUMENT;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_feedback_row f = {.step = sqlite3_column_int64(st, 0), .loss = store_col_real(st, 1),
                                .metrics_json = (const char *)sqlite3_column_text(st, 2),
                                .time_ms = sqlite3_column_int64(st, 3)};
        if (fn(ctx, &f) != 0) break;
    }
    return store_query_end(s, r, st, rc);
}
