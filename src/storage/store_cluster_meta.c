/* store_cluster_meta.c — the store's side of the cluster's meta-training
 * jobs (pg_meta_jobs.h): opened in cluster mode, fed by the job writes of
 * store_weights.c, read by the job routes.  The module's load callback
 * reads a job back from this file, so that what reaches PostgreSQL is
 * always what this daemon committed. */
#include <sqlite3.h>

#include "errors.h"
#include "pg_meta_jobs.h"
#include "store.h"
#include "store_internal.h"

static int load_row_cb(void *ctx, const store_meta_job_row *j)
{
    pg_meta_jobs_sink_row(ctx, j);
    return 1;
}

/* The job's row, then its curve points after `after` (at most a batch). */
static int load(void *ctx, const char *id, int64_t after, pg_meta_jobs_sink *k)
{
    store *s = ctx;
    int rc = store_meta_job_get(s, id, 0, load_row_cb, k);
    if (rc) return rc;
    sqlite3 *db = store_reader_acquire(s);
    if (!db) return ERR_STORAGE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT step, meta_loss, grad_norm FROM meta_curve WHERE job_id = ?1 AND step > ?2"
                               " ORDER BY step LIMIT ?3", -1, &st, NULL) != SQLITE_OK) {
        store_reader_release(s, db);
        return ERR_STORAGE;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, PG_META_JOBS_CURVE_BATCH + 1);   /* one more: the sink notes that more follow */
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        pg_meta_jobs_sink_point(k, sqlite3_column_int64(st, 0), store_col_real(st, 1), store_col_real(st, 2));
    }
    sqlite3_finalize(st);
    store_reader_release(s, db);
    return src == SQLITE_DONE ? 0 : ERR_STORAGE;
}

static void cancel_cb(void *ctx, const char *id)
{
    store *s = ctx;
    if (s->cmeta_cancel) s->cmeta_cancel(s->cmeta_cancel_ctx, id);
}

int store_cluster_meta_open(store *s, const char *target, const char *shard, void (*cancel)(void *ctx, const char *id),
                            void *ctx, char *err, size_t errn)
{
    if (!s || s->cmeta || !cancel) return ERR_INVALID_ARGUMENT;
    s->cmeta_cancel = cancel;
    s->cmeta_cancel_ctx = ctx;
    return pg_meta_jobs_open(target, shard, load, cancel_cb, s, &s->cmeta, err, errn);
}

void store_cluster_meta_close(store *s)
{
    if (!s) return;
    pg_meta_jobs_close(s->cmeta);
    s->cmeta = NULL;
}

int store_cluster_meta_on(store *s)
{
    return s && s->cmeta;
}

void store_cluster_meta_touch(store *s, const char *id, int state, int cancel)
{
    if (s && s->cmeta) pg_meta_jobs_touch(s->cmeta, id, state, cancel);
}

int store_cluster_meta_page(store *s, const char *tenant, int64_t after_ms, const char *after_id, int limit,
                            store_cluster_job_fn fn, void *ctx, char *err, size_t errn)
{
    if (!s || !s->cmeta) return ERR_NOT_FOUND;
    return pg_meta_jobs_page(s->cmeta, tenant, after_ms, after_id, limit, fn, ctx, err, errn);
}

int store_cluster_meta_get(store *s, const char *id, store_cluster_job_fn fn, void *ctx, char *err, size_t errn)
{
    if (!s || !s->cmeta) return ERR_NOT_FOUND;
    return pg_meta_jobs_get(s->cmeta, id, fn, ctx, err, errn);
}

int store_cluster_meta_curve(store *s, const char *id,
                             int (*fn)(void *ctx, int64_t step, double meta_loss, double grad_norm), void *ctx,
                             char *err, size_t errn)
{
    if (!s || !s->cmeta) return ERR_NOT_FOUND;
    return pg_meta_jobs_curve(s->cmeta, id, fn, ctx, err, errn);
}

int store_cluster_meta_request_cancel(store *s, const char *id, char *err, size_t errn)
{
    if (!s || !s->cmeta) return ERR_NOT_FOUND;
    return pg_meta_jobs_request_cancel(s->cmeta, id, err, errn);
}
