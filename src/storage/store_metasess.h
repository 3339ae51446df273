/* store_metasess.h — meta-sessions (schema version 12), for the meta-session
 * service (src/service/metasess.c).
 *
 * A meta-session row: id, owning tenant, name, the normalised request as
 * JSON, creation time, the current round, the state blob (the service's:
 * θ then the outer optimizer's moments, native doubles) and the task ids
 * of the last round applied (a JSON array).  A contribution row: (session,
 * task) → the round it belongs to and its outer gradient (native float32);
 * only the current round's are kept.  Deleting a meta-session deletes its
 * contributions (ON DELETE CASCADE).
 *
 * Writes run on the writer thread (store_call) and are synchronous: when
 * one returns 0 the change is committed.  store_msess_advance is one
 * transaction: the new round and state, and the round's contributions
 * gone — a crash leaves either the round before or the round after.
 * Rows handed to callbacks are valid only during the call.
 * Errors: 0, ERR_NOT_FOUND (named below), ERR_STORAGE, ERR_NO_MEMORY.
 * Thread rules: any thread. */
#ifndef OPTIRS_STORE_METASESS_H
#define OPTIRS_STORE_METASESS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct store_msess_row {
    const char *id;
    const char *tenant;          /* "" for open mode */
    const char *name;
    const char *spec_json;
    int64_t     created_ms;
    int64_t     round;
    const void *state;           /* state_len bytes */
    size_t      state_len;
    const char *last_tasks;      /* JSON array of strings */
} store_msess_row;

int store_msess_insert(store *s, const store_msess_row *r);
/* ERR_NOT_FOUND when no meta-session has that id. */
int store_msess_delete(store *s, const char *id);
/* Records (or replaces) task's contribution to `round`. */
int store_msess_contrib_put(store *s, const char *id, int64_t round, const char *task, const float *grad, size_t n);
/* In one transaction: the session's round, state and last tasks set, and
 * every contribution of it deleted.  ERR_NOT_FOUND when it is gone. */
int store_msess_advance(store *s, const char *id, int64_t round, const void *state, size_t state_len,
                        const char *last_tasks);
/* Every meta-session (by creation), then every contribution (by session,
 * task), in one read transaction.  A non-zero return of a callback stops
 * the read and is returned. */
int store_msess_load(store *s, int (*sess_fn)(void *ctx, const store_msess_row *r),
                     int (*contrib_fn)(void *ctx, const char *id, int64_t round, const char *task,
                                       const float *grad, size_t n),
                     void *ctx);

#endif
