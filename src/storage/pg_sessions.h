/* pg_sessions.h — the cluster's session index in PostgreSQL: which shard
 * (a daemon's --cluster-advertise address) holds which session
 * (`--cluster-db`, docs/operations.md "A cluster of daemons").
 *
 * A session's state stays in its shard's SQLite; the index holds only
 * (id, tenant, shard), so that `GET /v1/sessions` through any daemon can
 * list the whole cluster.  Writes are queued and applied by a thread of
 * the module's own (the create and delete paths never wait on the
 * network); the thread also reconciles — replaces every row of this shard
 * with the shard's live sessions, as the `local` callback enumerates them —
 * at open, after every reconnection, after a queued write failed, and at
 * least every PG_SESSIONS_RECONCILE_S seconds.  So the index converges to
 * the shards' truth even when a write was lost with the database.
 * Reads (pg_sessions_page) use a connection of their own and fail with
 * ERR_CLUSTER_DB when the database does not answer: there is no copy.
 * Limits: at most PG_SESSIONS_QUEUE_MAX queued writes (beyond: they are
 * dropped and a reconcile is due); a page holds at most
 * PG_SESSIONS_PAGE_MAX rows.
 * Thread rules: every function is safe from any thread except
 * pg_sessions_close; `local` runs on the module's thread (and in
 * pg_sessions_open), under no lock of this module. */
#ifndef OPTIRS_PG_SESSIONS_H
#define OPTIRS_PG_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#define PG_SESSIONS_RECONCILE_S 60.0
#define PG_SESSIONS_QUEUE_MAX   10000
#define PG_SESSIONS_PAGE_MAX    1000
#define PG_SESSIONS_SHARD_MAX   256      /* bytes of a shard address, with its NUL */

typedef struct pg_sessions pg_sessions;

/* emit(ectx, id, tenant) once per live session of this shard. */
typedef void (*pg_sessions_emit)(void *ectx, const char *id, const char *tenant);
/* Enumerates this shard's live sessions through emit; 0 or an error code
 * (a failed enumeration leaves the index as it was). */
typedef int (*pg_sessions_local)(void *ctx, pg_sessions_emit emit, void *ectx);

/* Connects, creates or migrates the schema, reconciles this shard's rows and
 * starts the thread.  shard: 1 .. PG_SESSIONS_SHARD_MAX - 1 bytes.  0,
 * ERR_INVALID_ARGUMENT, ERR_NO_MEMORY, or ERR_CLUSTER_DB with the reason in
 * err (errn bytes). */
int  pg_sessions_open(const char *target, const char *shard, pg_sessions_local local, void *lctx,
                      pg_sessions **out, char *err, size_t errn);
/* Applies the queued writes that the database takes, stops the thread,
 * closes the connections.  NULL is a no-op. */
void pg_sessions_close(pg_sessions *ps);

/* Queue "session id (tenant) lives on this shard" / "session id is gone". */
void pg_sessions_put(pg_sessions *ps, const char *id, const char *tenant);
void pg_sessions_del(pg_sessions *ps, const char *id);
/* Asks the thread to reconcile now (asynchronous). */
void pg_sessions_reconcile_soon(pg_sessions *ps);

/* One page of the index ordered by id: the rows with id > after (NULL or ""
 * = from the first), of `tenant` only when it is not NULL, at most limit
 * (1 .. PG_SESSIONS_PAGE_MAX).  fn(ctx, id, tenant, shard) per row; *more = 1
 * when rows follow the last one given.  0, ERR_INVALID_ARGUMENT, or
 * ERR_CLUSTER_DB with the reason in err. */
int  pg_sessions_page(pg_sessions *ps, const char *tenant, const char *after, int limit,
                      void (*fn)(void *ctx, const char *id, const char *tenant, const char *shard), void *ctx,
                      int *more, char *err, size_t errn);

#endif
