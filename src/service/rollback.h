/* rollback.h — a session's last stored state, read back from the store into
 * its live state: a diverged session rolls back to it, and a step whose
 * commit failed under durability=step is undone with it.
 *
 * The store's writer may still hold the newest snapshot in its queue; with
 * flush = 1 it is written first, so that the state read back is the newest
 * handed to the store (not merely the newest committed).
 * Thread rules: the caller serialises access to the state st views; the
 * store is safe from any thread. */
#ifndef OPTIRS_ROLLBACK_H
#define OPTIRS_ROLLBACK_H

#include "snapshot.h"
#include "store.h"

/* Decodes session id's stored snapshot into st (snapshot_decode's rules:
 * on an error st may be partly overwritten, st->step changes only on
 * success).  0, ERR_SESSION_NOT_FOUND, ERR_STORAGE or snapshot_decode's
 * error. */
int rollback_load(store *db, const char *id, int flush, snapshot_state *st);

#endif
