/* store_cluster_sessions.c — the store's side of the cluster's session
 * index (pg_sessions.h): opened in cluster mode, fed by the session
 * service's creates and deletes, read by the session list. */
#include "errors.h"
#include "pg_sessions.h"
#include "store.h"
#include "store_internal.h"

int store_cluster_sessions_open(store *s, const char *target, const char *shard, pg_sessions_local local, void *lctx,
                                char *err, size_t errn)
{
    if (!s || s->csess) return ERR_INVALID_ARGUMENT;
    return pg_sessions_open(target, shard, local, lctx, &s->csess, err, errn);
}

void store_cluster_sessions_close(store *s)
{
    if (!s) return;
    pg_sessions_close(s->csess);
    s->csess = NULL;
}

int store_cluster_sessions_on(store *s)
{
    return s && s->csess;
}

void store_cluster_session_put(store *s, const char *id, const char *tenant)
{
    if (s && s->csess) pg_sessions_put(s->csess, id, tenant);
}

void store_cluster_session_del(store *s, const char *id)
{
    if (s && s->csess) pg_sessions_del(s->csess, id);
}

int store_cluster_sessions_page(store *s, const char *tenant, const char *after, int limit,
                                void (*fn)(void *ctx, const char *id, const char *tenant, const char *shard),
                                void *ctx, int *more, char *err, size_t errn)
{
    if (!s || !s->csess) return ERR_NOT_FOUND;
    return pg_sessions_page(s->csess, tenant, after, limit, fn, ctx, more, err, errn);
}
