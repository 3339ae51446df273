/* pg_keys.h — API keys and their tenants shared by a cluster of daemons
 * through PostgreSQL (`--cluster-db`, docs/operations.md "A cluster of
 * daemons").
 *
 * Writes (create, revoke) go to PostgreSQL at once on a write connection of
 * their own and notify every daemon (NOTIFY optirs_keys, sent on commit).
 * Reads never touch the network: each daemon keeps a copy of the whole key
 * table in memory, sorted by id, refreshed by a thread of its own that
 * LISTENs on a second connection and re-reads the table on every
 * notification and at least every PG_KEYS_REREAD_S seconds (the fallback
 * if a notification is lost, and the probe that notices a dead database).
 * A write made by this daemon updates the copy before it returns.
 * Bounded staleness: reads answer from the copy while its last successful
 * read is at most `grace_s` seconds old; after that they fail with
 * ERR_CLUSTER_DB until the database answers again.  Writes fail with
 * ERR_CLUSTER_DB as soon as the database cannot take them.
 * Limits: at most PG_KEYS_MAX keys (a larger table is not loaded: the copy
 * ages and reads fail once it is older than grace_s).
 * Thread rules: every function is safe from any thread except
 * pg_keys_close; the change callback runs on the refresh thread, never under
 * a lock of this module; so does the tick callback. */
#ifndef OPTIRS_PG_KEYS_H
#define OPTIRS_PG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PG_KEYS_REREAD_S   5.0
#define PG_KEYS_RECONNECT_S 1.0
#define PG_KEYS_MAX        100000

typedef struct pg_keys pg_keys;

/* Connects, creates or migrates the schema, reads the key table and starts
 * the refresh thread.  0, ERR_NO_MEMORY, or ERR_CLUSTER_DB with the reason
 * in err (errn bytes): the daemon does not start on a database it cannot
 * reach. */
int  pg_keys_open(const char *target, double grace_s, pg_keys **out, char *err, size_t errn);
/* Stops the thread and closes both connections.  NULL is a no-op. */
void pg_keys_close(pg_keys *pk);
/* fn(ctx) is called on the refresh thread after the copy changed because of
 * another process's write (or a re-read found a difference).  Set before the
 * daemon serves; NULL turns it off. */
void pg_keys_on_change(pg_keys *pk, void (*fn)(void *ctx), void *ctx);
/* fn(ctx) is called on the refresh thread after every successful read of
 * the key table (a notification on optirs_keys or optirs_weights, the
 * periodic re-read, a reconnection): the hook through which the weights
 * records (pg_weights.h) share this thread instead of running their own.
 * NULL turns it off. */
void pg_keys_on_tick(pg_keys *pk, void (*fn)(void *ctx), void *ctx);

/* As store_key_insert / store_key_revoke, with ERR_CLUSTER_DB for a
 * database that cannot take the write. */
int  pg_keys_insert(pg_keys *pk, const store_key *k);
int  pg_keys_revoke(pg_keys *pk, const char *id, int64_t now_ms);
/* From the copy: 0, ERR_NOT_FOUND, or ERR_CLUSTER_DB when the copy is older
 * than grace_s. */
int  pg_keys_get(pg_keys *pk, const char *id, store_key *out);
int  pg_keys_list(pg_keys *pk, int (*fn)(void *ctx, const store_key *k), void *ctx);
int  pg_keys_active(pg_keys *pk, int64_t *count);
int  pg_keys_ever(pg_keys *pk, int *ever);
/* Seconds since the copy was last read in full (monotonic clock). */
double pg_keys_age(pg_keys *pk);

#endif
