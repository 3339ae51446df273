/* store_weights.c — weights records, meta-training jobs and their meta-loss
 * curves (schema version 4).  Writes run on the store's writer thread through
 * store_call (the single-writer rule); reads use the pooled read-only
 * connections.  See store.h for the contract. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "pg_meta_jobs.h"
#include "pg_weights.h"
#include "store.h"
#include "store_internal.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

/* Doubles that are not finite go in as NULL (store.h: Values). */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* ---- weights ------------------------------------------------------------- */

typedef struct wput_ctx {
    const store_weights_row *w;
    int only_if_new;
    int replace;        /* the cluster's copy of (name, version) wins over this file's */
    int64_t version;
} wput_ctx;

static int weights_put_fn(sqlite3 *db, void *ctx)
{
    wput_ctx *c = ctx;
    const store_weights_row *w = c->w;
    sqlite3_stmt *st;
    int64_t count = 0, next = 1;
    int rc = sqlite3_prepare_v2(db, "SELECT COUNT(*), COALESCE(MAX(version), 0) + 1 FROM weights WHERE name = ?1",
                                -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, w->name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        count = sqlite3_column_int64(st, 0);
        next = sqlite3_column_int64(st, 1);
    }
    rc = sqlite3_finalize(st);
    if (rc) return rc;
    c->version = 0;
    if (c->only_if_new && count > 0) return SQLITE_OK;
    int64_t version = w->version > 0 ? w->version : next;
    rc = sqlite3_prepare_v2(db,
                            c->replace ? "INSERT OR REPLACE INTO weights(name, version, arch, hidden, depth, ntheta,"
                                         " domain, provenance_json, eval_json, created_ms, blob)"
                                         " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)" :
                            "INSERT INTO weights(name, version, arch, hidden, depth, ntheta, domain, provenance_json,"
                            " eval_json, created_ms, blob) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                            -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_text(st, 3, w->arch, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, w->hidden);
    sqlite3_bind_int(st, 5, w->depth);
    sqlite3_bind_int64(st, 6, w->ntheta);
    sqlite3_bind_text(st, 7, w->domain ? w->domain : "synthetic", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, w->provenance_json ? w->provenance_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, w->eval_json ? w->eval_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, w->created_ms ? w->created_ms : wall_ms());
    sqlite3_bind_blob(st, 11, w->blob, (int)w->blob_len, SQLITE_STATIC);
    rc = step_done(db, st);
    if (rc == SQLITE_OK) c->version = version;
    return rc;
}

int store_weights_put(store *s, const store_weights_row *w, int only_if_new, int64_t *version)
{
    if (!s || !w || !w->name || !w->arch || !w->blob) return ERR_INVALID_ARGUMENT;
    if (version) *version = 0;
    store_weights_row row = *w;
    wput_ctx c = {&row, only_if_new, 0, 0};
    if (s->cluster_w) {
        /* The cluster allocates the version; this file keeps a copy (the
         * reads stay local, and keep working while PostgreSQL is away). */
        if (row.created_ms <= 0) row.created_ms = wall_ms();
        int64_t v = 0;
        int rc = pg_weights_put(s->cluster_w, &row, only_if_new, &v);
        if (rc) return rc;
        if (v > 0) {
            row.version = v;
            c.only_if_new = 0;
            c.replace = 1;
        }
    }
    int rc = store_call(s, weights_put_fn, &c);
    if (version && !rc && (!s->cluster_w || c.replace)) *version = c.version;
    return rc;
}

/* ---- cluster mode: records of other daemons (pg_weights.h) ------------------ */

/* A record the cluster holds and this process has not seen: into this file
 * (replacing a local record of the same reference: the cluster's wins),
 * then to the daemon's callback. */
static int mirror_cb(void *ctx, const store_weights_row *w)
{
    store *s = ctx;
    wput_ctx c = {w, 0, 1, 0};
    int rc = store_call(s, weights_put_fn, &c);
    if (rc) return rc;   /* not seen: the next sync tries again */
    if (s->weights_fn && (rc = s->weights_fn(s->weights_ctx, w)) != 0)
        fprintf(stderr, "cluster db: weights %s@%lld stored but not loaded: %s\n", w->name, (long long)w->version,
                err_message(rc));
    return 0;
}

static void weights_tick(void *ctx)
{
    store *s = ctx;
    int n = pg_weights_sync(s->cluster_w, mirror_cb, s);
    if (n < 0) fprintf(stderr, "cluster db: the weights records could not be read: %s\n", err_message(n));
}

int store_cluster_on_weights(store *s, int (*fn)(void *ctx, const store_weights_row *w), void *ctx)
{
    if (!s->cluster_w) return 0;
    s->weights_fn = fn;
    s->weights_ctx = ctx;
    int n = pg_weights_sync(s->cluster_w, mirror_cb, s);
    store_cluster_on_tick(s, weights_tick, s);
    return n;
}

typedef struct weval_ctx { const char *name; int64_t version; const char *json; int changed; } weval_ctx;

static int weights_eval_fn(sqlite3 *db, void *ctx)
{
    weval_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "UPDATE weights SET eval_json = ?3 WHERE name = ?1 AND version = ?2", -1, &st,
                                NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->version);
    sqlite3_bind_text(st, 3, c->json, -1, SQLITE_STATIC);
    rc = step_done(db, st);
    c->changed = sqlite3_changes(db);
    return rc;
}

int store_weights_set_eval(store *s, const char *name, int64_t version, const char *eval_json)
{
    if (!s || !name || !eval_json) return ERR_INVALID_ARGUMENT;
    weval_ctx c = {name, version, eval_json, 0};
    int rc = store_call(s, weights_eval_fn, &c);
    return rc ? rc : c.changed ? 0 : ERR_NOT_FOUND;
}

#define W_COLS "name, version, arch, hidden, depth, ntheta, domain, provenance_json, eval_json, created_ms"

/* Runs a weights query on a pooled reader; *found counts rows. */
static int weights_query(store *s, const char *sql, const char *name, int64_t version, int with_blob,
                         int (*fn)(void *, const store_weights_row *), void *ctx, int *found)
{
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc) {
        store_reader_release(s, db);
        return ERR_STORAGE;
    }
    if (name) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, version);
    }
    *found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_weights_row w = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .version = sqlite3_column_int64(st, 1),
            .arch = (const char *)sqlite3_column_text(st, 2),
            .hidden = sqlite3_column_int(st, 3),
            .depth = sqlite3_column_int(st, 4),
            .ntheta = sqlite3_column_int64(st, 5),
            .domain = (const char *)sqlite3_column_text(st, 6),
            .provenance_json = (const char *)sqlite3_column_text(st, 7),
            .eval_json = (const char *)sqlite3_column_text(st, 8),
            .created_ms = sqlite3_column_int64(st, 9),
        };
        if (with_blob) {
            w.blob = sqlite3_column_blob(st, 10);
            w.blob_len = (size_t)sqlite3_column_bytes(st, 10);
        }
        (*found)++;
        if (fn(ctx, &w) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return rc == SQLITE_DONE ? 0 : ERR_STORAGE;
}

int store_weights_list(store *s, int with_blob, int (*fn)(void *ctx, const store_weights_row *w), void *ctx)
{
    if (!s || !fn) return ERR_INVALID_ARGUMENT;
    int found;
    return weights_query(s, "SELECT " W_COLS ", blob FROM weights ORDER BY name, version", NULL, 0, with_blob, fn,
                         ctx, &found);
}

int store_weights_get(store *s, const char *name, int64_t version, int with_blob,
                      int (*fn)(void *ctx, const store_weights_row *w), void *ctx)
{
    if (!s || !name || !fn) return ERR_INVALID_ARGUMENT;
    int found;
    int rc = weights_query(s,
                           version > 0 ? "SELECT " W_COLS ", blob FROM weights WHERE name = ?1 AND version = ?2"
                                       : "SELECT " W_COLS ", blob FROM weights WHERE name = ?1 AND ?2 = ?2"
                                         " ORDER BY version DESC LIMIT 1",
                           name, version, with_blob, fn, ctx, &found);
    if (rc) return rc;
    return found ? 0 : ERR_NOT_FOUND;
}

/* ---- meta-training jobs ----------------------------------------------------- */

static int job_insert_fn(sqlite3 *db, void *ctx)
{
    const store_meta_job_row *j = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO meta_jobs(id, name, source, status, config_json, created_ms, updated_ms,"
                                " step, outer_steps, wall_s, error, checkpoint, tenant)"
                                " VALUES(?1,?2,?3,?4,?5,?6,?6,?7,?8,?9,?10,?11,?12)",
                                -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, j->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, j->created_ms ? j->created_ms : wall_ms());
    sqlite3_bind_int64(st, 7, j->step);
    sqlite3_bind_int64(st, 8, j->outer_steps);
    sqlite3_bind_double(st, 9, j->wall_s);
    bind_opt_text(st, 10, j->error);
    if (j->checkpoint) sqlite3_bind_blob(st, 11, j->checkpoint, (int)j->checkpoint_len, SQLITE_STATIC);
    else sqlite3_bind_null(st, 11);
    sqlite3_bind_text(st, 12, j->tenant ? j->tenant : "", -1, SQLITE_STATIC);
    return step_done(db, st);
}

int store_meta_job_insert(store *s, const store_meta_job_row *j)
{
    if (!s || !j || !j->id || !j->name || !j->source || !j->status || !j->config_json) return ERR_INVALID_ARGUMENT;
    if (!s->cmeta) return store_call(s, job_insert_fn, (void *)j);
    /* Cluster mode: the cluster first (a job it cannot record is not
     * started), then this file, the job's authority; when this file fails
     * the queued write finds no row and marks the cluster's "interrupted". */
    store_meta_job_row row = *j;
    if (!row.created_ms) row.created_ms = wall_ms();
    int rc = pg_meta_jobs_insert(s->cmeta, &row);
    if (!rc && (rc = store_call(s, job_insert_fn, &row)) != 0) pg_meta_jobs_touch(s->cmeta, row.id, 1, 0);
    return rc;
}

typedef struct jupd_ctx {
    const char *id, *status, *error, *wname;
    int64_t step, wversion;
    double wall_s;
    const void *ckpt;
    size_t ckpt_len;
    int changed;
} jupd_ctx;

static int job_update_fn(sqlite3 *db, void *ctx)
{
    jupd_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE meta_jobs SET status = COALESCE(?2, status), step = ?3, wall_s = ?4,"
                                " error = COALESCE(?5, error), weights_name = COALESCE(?6, weights_name),"
                                " weights_version = CASE WHEN ?6 IS NULL THEN weights_version ELSE ?7 END,"
                                " checkpoint = COALESCE(?8, checkpoint), updated_ms = ?9 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    bind_opt_text(st, 2, c->status);
    sqlite3_bind_int64(st, 3, c->step);
    bind_real(st, 4, c->wall_s);
    bind_opt_text(st, 5, c->error);
    bind_opt_text(st, 6, c->wname);
    sqlite3_bind_int64(st, 7, c->wversion);
    if (c->ckpt) sqlite3_bind_blob(st, 8, c->ckpt, (int)c->ckpt_len, SQLITE_STATIC);
    else sqlite3_bind_null(st, 8);
    sqlite3_bind_int64(st, 9, wall_ms());
    rc = step_done(db, st);
    c->changed = sqlite3_changes(db);
    return rc;
}

int store_meta_job_update(store *s, const char *id, const char *status, int64_t step, double wall_s,
                          const char *error, const char *wname, int64_t wversion,
                          const void *checkpoint, size_t checkpoint_len)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    /* The caller's buffers outlive the call: store_call waits for the commit. */
    jupd_ctx c = {id, status, error, wname, step, wversion, wall_s, checkpoint, checkpoint_len, 0};
    int rc = store_call(s, job_update_fn, &c);
    if (!rc && c.changed && s->cmeta) pg_meta_jobs_touch(s->cmeta, id, status != NULL, 0);   /* queued, never waited on */
    return rc ? rc : c.changed ? 0 : ERR_NOT_FOUND;
}

typedef struct curve_ctx { const char *id; int64_t step; double loss, gn; } curve_ctx;

static int curve_add_fn(sqlite3 *db, void *ctx)
{
    curve_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO meta_curve(job_id, step, meta_loss, grad_norm)"
                                " SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM meta_jobs WHERE id = ?1)",
                                -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->step);
    bind_real(st, 3, c->loss);
    bind_real(st, 4, c->gn);
    return step_done(db, st);
}

int store_meta_curve_add(store *s, const char *id, int64_t step, double meta_loss, double grad_norm)
{
    if (!s || !id) return ERR_INVALID_ARGUMENT;
    curve_ctx c = {id, step, meta_loss, grad_norm};
    int rc = store_call(s, curve_add_fn, &c);
    if (!rc && s->cmeta) pg_meta_jobs_touch(s->cmeta, id, 0, 0);
    return rc;
}

static int jobs_interrupt_fn(sqlite3 *db, void *ctx)
{
    int64_t *n = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE meta_jobs SET status = 'interrupted', updated_ms = ?1"
                                " WHERE status IN ('queued', 'running')",
                                -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, wall_ms());
    rc = step_done(db, st);
    *n = sqlite3_changes(db);
    return rc;
}

int store_meta_jobs_interrupt(store *s, int64_t *count)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    int64_t n = 0;
    int rc = store_call(s, jobs_interrupt_fn, &n);
    if (count) *count = rc ? 0 : n;
    return rc;
}

#define J_COLS "id, name, source, status, config_json, created_ms, updated_ms, step, outer_steps, wall_s, error," \
               " weights_name, weights_version, tenant"

/* The list's extra bindings (?3 tenant, ?4 after_ms, ?5 after_id, ?6 limit). */
typedef struct jobs_page { const char *tenant; int64_t after_ms; const char *after_id; int limit; } jobs_page;

/* Runs a jobs query with up to two text bindings and optionally a page. */
static int jobs_query(store *s, const char *sql, const char *a1, const char *a2, const jobs_page *pg, int with_ckpt,
                      int (*fn)(void *, const store_meta_job_row *), void *ctx, int *found)
{
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_reader_release(s, db);
        return ERR_STORAGE;
    }
    if (a1) sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
    if (a2) sqlite3_bind_text(st, 2, a2, -1, SQLITE_STATIC);
    if (pg) {
        if (pg->tenant) sqlite3_bind_text(st, 3, pg->tenant, -1, SQLITE_STATIC);
        if (pg->after_id) {
            sqlite3_bind_int64(st, 4, pg->after_ms);
            sqlite3_bind_text(st, 5, pg->after_id, -1, SQLITE_STATIC);
        }
        sqlite3_bind_int(st, 6, pg->limit);
    }
    int rc;
    *found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_meta_job_row j = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .name = (const char *)sqlite3_column_text(st, 1),
            .source = (const char *)sqlite3_column_text(st, 2),
            .status = (const char *)sqlite3_column_text(st, 3),
            .config_json = (const char *)sqlite3_column_text(st, 4),
            .created_ms = sqlite3_column_int64(st, 5),
            .updated_ms = sqlite3_column_int64(st, 6),
            .step = sqlite3_column_int64(st, 7),
            .outer_steps = sqlite3_column_int64(st, 8),
            .wall_s = col_real(st, 9),
            .error = (const char *)sqlite3_column_text(st, 10),
            .weights_name = (const char *)sqlite3_column_text(st, 11),
            .weights_version = sqlite3_column_int64(st, 12),
            .tenant = (const char *)sqlite3_column_text(st, 13),
        };
        if (with_ckpt && sqlite3_column_type(st, 14) == SQLITE_BLOB) {
            j.checkpoint = sqlite3_column_blob(st, 14);
            j.checkpoint_len = (size_t)sqlite3_column_bytes(st, 14);
        }
        (*found)++;
        if (fn(ctx, &j) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return rc == SQLITE_DONE ? 0 : ERR_STORAGE;
}

int store_meta_jobs_list(store *s, const char *tenant, int64_t after_ms, const char *after_id, int limit,
                         int (*fn)(void *ctx, const store_meta_job_row *j), void *ctx)
{
    if (!s || !fn) return ERR_INVALID_ARGUMENT;
    int found;
    jobs_page pg = {tenant, after_ms, after_id, limit};
    /* Keyset paging in the list's own order: a page never repeats or skips
     * a job, whatever is inserted meanwhile. */
    return jobs_query(s,
                      "SELECT " J_COLS ", NULL FROM meta_jobs WHERE (?3 IS NULL OR tenant = ?3)"
                      " AND (?5 IS NULL OR created_ms < ?4 OR (created_ms = ?4 AND id > ?5))"
                      " ORDER BY created_ms DESC, id LIMIT ?6",
                      NULL, NULL, &pg, 0, fn, ctx, &found);
}

int store_meta_job_get(store *s, const char *id, int with_checkpoint,
                       int (*fn)(void *ctx, const store_meta_job_row *j), void *ctx)
{
    if (!s || !id || !fn) return ERR_INVALID_ARGUMENT;
    int found;
    int rc = jobs_query(s, "SELECT " J_COLS ", checkpoint FROM meta_jobs WHERE id = ?1", id, NULL, NULL, with_checkpoint,
                        fn, ctx, &found);
    return rc ? rc : found ? 0 : ERR_NOT_FOUND;
}

int store_meta_job_find_resumable(store *s, const char *name, const char *config_json,
                                  int (*fn)(void *ctx, const store_meta_job_row *j), void *ctx)
{
    if (!s || !name || !config_json || !fn) return ERR_INVALID_ARGUMENT;
    int found;
    int rc = jobs_query(s,
                        "SELECT " J_COLS ", checkpoint FROM meta_jobs WHERE source = 'cli' AND name = ?1"
                        " AND config_json = ?2 AND status <> 'done' ORDER BY created_ms DESC LIMIT 1",
                        name, config_json, NULL, 1, fn, ctx, &found);
    return rc ? rc : found ? 0 : ERR_NOT_FOUND;
}

int store_meta_curve(store *s, const char *id, int (*fn)(void *ctx, int64_t step, double meta_loss, double grad_norm),
                     void *ctx)
{
    if (!s || !id || !fn) return ERR_INVALID_ARGUMENT;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT step, meta_loss, grad_norm FROM meta_curve WHERE job_id = ?1 ORDER BY step",
                           -1, &st, NULL) != SQLITE_OK) {
        store_reader_release(s, db);
        return ERR_STORAGE;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(st, 0), col_real(st, 1), col_real(st, 2)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return rc == SQLITE_DONE ? 0 : ERR_STORAGE;
}
