/* pg_weights.h — learned-optimizer weights records (metadata and blob)
 * shared by a cluster of daemons through PostgreSQL (`--cluster-db`,
 * docs/operations.md "A cluster of daemons").
 *
 * The table optirs_weights (pg_conn.c, schema step 2) is the cluster's
 * authority on (name, version) → record: rows are only inserted, never
 * changed.  pg_weights_put allocates the version in PostgreSQL (the next one
 * of the name unless the caller gives one) and inserts the row with a NOTIFY
 * optirs_weights in one statement; when two daemons race for the same
 * (name, version) the first commit keeps it and an automatic version is
 * retried as the next one (at most PG_WEIGHTS_PUT_TRIES times), so every
 * daemon ends with the same blob under the same reference.
 * pg_weights_sync lists the table's (name, version, blob size) and fetches,
 * one at a time, the records this process has not seen yet, handing each to
 * a callback (the store mirrors it into its SQLite file, the daemon publishes
 * it).  It runs on the keys' refresh thread (pg_keys_on_tick): on every
 * notification and at least every PG_KEYS_REREAD_S seconds.  Listing every
 * row, not "rows after the last one seen", is what makes a record whose
 * transaction committed late still arrive.
 * Limits: a blob is at most PG_WEIGHTS_BLOB_MAX bytes (checked before it is
 * sent, by the table's CHECK, and from octet_length before a fetch
 * allocates it); at most PG_WEIGHTS_MAX records are tracked (more are
 * refused with a log line).
 * Thread rules: every function is safe from any thread except
 * pg_weights_close; put and sync are serialised by the module's lock, and
 * the sync callback runs under it (it must not call pg_weights_*). */
#ifndef OPTIRS_PG_WEIGHTS_H
#define OPTIRS_PG_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PG_WEIGHTS_BLOB_MAX  (64u << 20)
#define PG_WEIGHTS_NAME_MAX  63
#define PG_WEIGHTS_MAX       100000
#define PG_WEIGHTS_PUT_TRIES 8

typedef struct pg_weights pg_weights;

/* Connects (the connection is re-opened on demand after a loss).  0,
 * ERR_NO_MEMORY, or ERR_CLUSTER_DB with the reason in err. */
int  pg_weights_open(const char *target, pg_weights **out, char *err, size_t errn);
/* NULL is a no-op. */
void pg_weights_close(pg_weights *pw);
/* As store_weights_put, in the cluster database; the record counts as seen
 * (a later sync does not hand it back).  0, ERR_OUT_OF_RANGE (a blob or text
 * over the limits), ERR_STORAGE (an explicit version that exists), or
 * ERR_CLUSTER_DB. */
int  pg_weights_put(pg_weights *pw, const store_weights_row *w, int only_if_new, int64_t *version);
/* Hands fn every record not seen yet, with its blob, in (name, version)
 * order; a record counts as seen once fn returned 0.  Returns the number of
 * records handed over, or ERR_CLUSTER_DB / ERR_NO_MEMORY. */
int  pg_weights_sync(pg_weights *pw, int (*fn)(void *ctx, const store_weights_row *w), void *ctx);

#endif
