/* store_internal.h — what the other files of the storage module use of
 * store.c: a synchronous call on the writer thread (inside its transaction,
 * so it rides group commit like every other write) and the pool of read-only
 * connections.  Not for use outside src/storage/. */
#ifndef OPTIRS_STORE_INTERNAL_H
#define OPTIRS_STORE_INTERNAL_H

#include <sqlite3.h>
#include <sys/types.h>
#include "store.h"

/* Runs fn(write connection, ctx) on the writer thread inside a transaction
 * and waits for the commit.  fn returns SQLITE_OK or an SQLite error (the
 * job then fails alone).  0 or ERR_STORAGE. */
int      store_call(store *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx);
/* A read-only connection from the pool (NULL on failure); give it back. */
sqlite3 *store_reader_acquire(store *s);
void     store_reader_release(store *s, sqlite3 *db);

/* store_files.c: the identity (device, inode) of the database file and of
 * its -wal file as the writer opened them, to notice them being deleted,
 * replaced or made read-only under the running daemon.  Immutable after
 * store_files_init, so store_files_check is safe from any thread. */
typedef struct store_files {
    char  *db, *wal;            /* absolute paths; db NULL: in memory, nothing to check */
    dev_t  db_dev, wal_dev;
    ino_t  db_ino, wal_ino;
    int    have_wal;            /* the -wal file existed at init */
} store_files;

/* Records the files of `db`'s main database.  0, ERR_NO_MEMORY, or
 * ERR_STORAGE (the file cannot be stat'ed).  Free with store_files_deinit. */
int  store_files_init(store_files *f, sqlite3 *db);
void store_files_deinit(store_files *f);
/* 0 while both files are the ones recorded and writable; else ERR_STORAGE
 * and *reason (may be NULL) one of "database_deleted", "database_replaced",
 * "database_read_only", "database_unreachable" (stat failed otherwise). */
int  store_files_check(const store_files *f, const char **reason);

#endif
