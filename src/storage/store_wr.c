/* store_wr.c — one bound write statement on the writer's connection
 * (store_internal.h: store_wr), shared by the stores of studies and
 * meta-sessions. */
#include "errors.h"
#include "store_internal.h"

int store_wr_fn(sqlite3 *db, void *ctx)
{
    store_wr *w = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, w->sql, -1, &st, NULL);
    if (rc) return rc;
    for (int k = 0; w->types[k]; k++) {
        switch (w->types[k]) {
        case 't': store_bind_text(st, k + 1, w->t[k]); break;
        case 'i': sqlite3_bind_int64(st, k + 1, w->i[k]); break;
        case 'r': store_bind_real(st, k + 1, w->r[k]); break;
        case 'b': sqlite3_bind_blob(st, k + 1, w->b[k], w->blen[k], SQLITE_STATIC); break;
        }
    }
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    w->changed = rc == SQLITE_OK ? sqlite3_changes(db) : 0;
    return rc;
}

int store_wr_run(store *s, store_wr *w)
{
    if (!s) return ERR_INVALID_ARGUMENT;
    return store_call(s, store_wr_fn, w);
}

