/* store_files.c — is the database the writer holds open still the file at
 * its path, and can it still be written?
 *
 * SQLite keeps writing to a database (or WAL) file that was deleted or
 * replaced under it: every commit "succeeds" into an unlinked inode and is
 * lost at the next start.  So the writer compares, before each transaction,
 * the device and inode recorded when the store was opened with what the path
 * holds now (stat), for the database and its -wal file, and asks whether
 * both are still writable (access(W_OK): mode bits for a normal user; a
 * read-only mount or an immutable file for root too).  An in-memory
 * database has nothing to check.  See store_internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "store_internal.h"

/* Identity of `path` now: 0, or -1 when it cannot be stat'ed. */
static int identity(const char *path, dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

int store_files_init(store_files *f, sqlite3 *db)
{
    memset(f, 0, sizeof *f);
    const char *name = sqlite3_db_filename(db, "main");
    if (!name || !name[0]) return 0;          /* in memory */
    const char *wal = sqlite3_filename_wal(name);
    f->db = strdup(name);
    f->wal = wal && wal[0] ? strdup(wal) : NULL;
    if (!f->db || (wal && wal[0] && !f->wal)) {
        store_files_deinit(f);
        return ERR_NO_MEMORY;
    }
    if (identity(f->db, &f->db_dev, &f->db_ino) != 0) {
        store_files_deinit(f);
        return ERR_STORAGE;
    }
    /* The -wal file exists from the first transaction in WAL mode until the
     * last connection closes (the writer's, at store_close). */
    f->have_wal = f->wal && identity(f->wal, &f->wal_dev, &f->wal_ino) == 0;
    return 0;
}

void store_files_deinit(store_files *f)
{
    free(f->db);
    free(f->wal);
    memset(f, 0, sizeof *f);
}

int store_files_check(const store_files *f, const char **reason)
{
    const char *why = NULL;
    dev_t dev;
    ino_t ino;
    if (!f->db) return 0;
    if (identity(f->db, &dev, &ino) != 0) why = errno == ENOENT ? "database_deleted" : "database_unreachable";
    else if (dev != f->db_dev || ino != f->db_ino) why = "database_replaced";
    else if (f->have_wal && identity(f->wal, &dev, &ino) != 0) why = "database_deleted";   /* its WAL */
    else if (f->have_wal && (dev != f->wal_dev || ino != f->wal_ino)) why = "database_replaced";
    else if (access(f->db, W_OK) != 0 || (f->have_wal && access(f->wal, W_OK) != 0)) why = "database_read_only";
    if (reason) *reason = why;
    return why ? ERR_STORAGE : 0;
}
