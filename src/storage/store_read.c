/* store_read.c — the pool of read-only connections.  Every query runs on a
 * connection of its own thread's choosing, taken from the pool (or opened
 * lazily) and given back when the query ends; store_reader_acquire lends one
 * raw to the other files of the module.  store_close closes them all.
 *
 * Invariants: readers are opened SQLITE_OPEN_READONLY with busy_timeout set
 * and never checkpoint (PITFALLS: only the writer may); the pool is under
 * s->rmu, never held together with s->mu; a reader given back with a
 * statement of the borrower's still open is closed, not reused. */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "store_internal.h"

static void reader_close(store_reader *r)
{
    if (!r) return;
    for (int i = 0; i < RQ_COUNT; i++) sqlite3_finalize(r->st[i]);
    sqlite3_close(r->db);
    free(r);
}

/* A read-only connection for the calling thread: an idle one from the pool
 * or a new one.  NULL when the database cannot be opened. */
store_reader *store_reader_get(store *s)
{
    store_reader *r = NULL;
    pthread_mutex_lock(&s->rmu);
    if (s->nidle) r = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->rmu);
    if (r) return r;
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(r->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        reader_close(r);
        return NULL;
    }
    /* A reader never checkpoints (PITFALLS: only the writer may). */
    sqlite3_db_config(r->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    return r;
}

/* Returns r to the pool; a reader that failed is closed instead. */
void store_reader_put(store *s, store_reader *r, int failed)
{
    if (!failed) {
        pthread_mutex_lock(&s->rmu);
        if (s->nidle == s->cap_idle) {
            int cap = s->cap_idle ? s->cap_idle * 2 : 8;
            store_reader **v = realloc(s->idle, (size_t)cap * sizeof *v);
            if (v) {
                s->idle = v;
                s->cap_idle = cap;
            }
        }
        if (s->nidle < s->cap_idle) {
            s->idle[s->nidle++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&s->rmu);
    }
    reader_close(r);
}

/* 1 when every statement open on r's connection is one of its own cached
 * ones (so nothing a borrower prepared is left behind). */
static int reader_owns_all(store_reader *r)
{
    for (sqlite3_stmt *p = sqlite3_next_stmt(r->db, NULL); p; p = sqlite3_next_stmt(r->db, p)) {
        int mine = 0;
        for (int q = 0; q < RQ_COUNT; q++) mine |= p == r->st[q];
        if (!mine) return 0;
    }
    return 1;
}

/* The prepared statement `q` of reader r, prepared on first use. */
sqlite3_stmt *store_reader_stmt(store_reader *r, int q)
{
    if (!r->st[q] && sqlite3_prepare_v3(r->db, store_rq_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &r->st[q], NULL) != SQLITE_OK)
        return NULL;
    return r->st[q];
}

/* Resets st (ending its read transaction, so it pins no WAL snapshot),
 * returns the reader and maps the last step result to 0/ERR_STORAGE. */
int store_query_end(store *s, store_reader *r, sqlite3_stmt *st, int rc)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int failed = rc != SQLITE_DONE && rc != SQLITE_ROW;
    store_reader_put(s, r, failed);
    return failed ? ERR_STORAGE : 0;
}

sqlite3 *store_reader_acquire(store *s)
{
    if (!s) return NULL;
    store_reader *r = store_reader_get(s);
    if (!r) return NULL;
    pthread_mutex_lock(&s->rmu);
    if (s->nlent == s->cap_lent) {
        int cap = s->cap_lent ? s->cap_lent * 2 : 8;
        store_reader **v = realloc(s->lent, (size_t)cap * sizeof *v);
        if (v) {
            s->lent = v;
            s->cap_lent = cap;
        }
    }
    int ok = s->nlent < s->cap_lent;
    if (ok) s->lent[s->nlent++] = r;
    pthread_mutex_unlock(&s->rmu);
    if (!ok) {
        reader_close(r);
        return NULL;
    }
    return r->db;
}

void store_reader_release(store *s, sqlite3 *db)
{
    if (!db) return;
    store_reader *r = NULL;
    pthread_mutex_lock(&s->rmu);
    for (int i = 0; i < s->nlent; i++) {
        if (s->lent[i]->db == db) {
            r = s->lent[i];
            s->lent[i] = s->lent[--s->nlent];
            break;
        }
    }
    pthread_mutex_unlock(&s->rmu);
    /* A caller may have left a statement open; such a reader is not reused. */
    if (r) store_reader_put(s, r, !reader_owns_all(r));
}

void store_readers_close(store *s)
{
    for (int i = 0; i < s->nidle; i++) reader_close(s->idle[i]);
    free(s->idle);
    for (int i = 0; i < s->nlent; i++) reader_close(s->lent[i]);   /* not given back: a caller's bug */
    free(s->lent);
    s->idle = s->lent = NULL;
    s->nidle = s->nlent = s->cap_idle = s->cap_lent = 0;
}
