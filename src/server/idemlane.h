/* idemlane.h — one compute lane per Idempotency-Key.
 *
 * Creates that carry an Idempotency-Key run in the lane of (tenant, route,
 * key) (pool.h): two copies of one request run one after the other, so the
 * second finds (replays) the answer the first stored, and no thread waits
 * for it meanwhile; requests with different keys have different lanes and
 * never wait on each other.  Only keys in use have an entry: each job holds
 * a reference until its release, and the last reference frees the entry.
 * (Feedback needs no lane of its own: its key's route names the session,
 * whose lane already runs its requests one at a time.)
 * Thread rules: any thread. */
#ifndef OPTIRS_IDEMLANE_H
#define OPTIRS_IDEMLANE_H

#include "pool.h"

typedef struct idemlane idemlane;

/* The entry of (tenant, route, key), made on first use, with a reference
 * for the caller.  NULL when out of memory. */
idemlane  *idemlane_get(const char *tenant, const char *route, const char *key);
/* Its lane; valid while the caller holds its reference. */
pool_lane *idemlane_lane(idemlane *l);
/* Drops a reference.  idemlane_put(NULL) does nothing. */
void       idemlane_put(idemlane *l);
/* Entries in use now (for tests). */
int        idemlane_count(void);

#endif
