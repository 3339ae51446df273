/* store_internal.h — what the other files of the storage module use of
 * store.c: a synchronous call on the writer thread (inside its transaction,
 * so it rides group commit like every other write) and the pool of read-only
 * connections.  Not for use outside src/storage/. */
#ifndef OPTIRS_STORE_INTERNAL_H
#define OPTIRS_STORE_INTERNAL_H

#include <sqlite3.h>
#include "store.h"

/* Runs fn(write connection, ctx) on the writer thread inside a transaction
 * and waits for the commit.  fn returns SQLITE_OK or an SQLite error (the
 * job then fails alone).  0 or ERR_STORAGE. */
int      store_call(store *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx);
/* A read-only connection from the pool (NULL on failure); give it back. */
sqlite3 *store_reader_acquire(store *s);
void     store_reader_release(store *s, sqlite3 *db);

#endif
