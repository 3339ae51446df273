/* idemlock.h — one lock per Idempotency-Key.
 *
 * A request that carries an Idempotency-Key holds the lock of (tenant, route,
 * key) from its look-up of the stored answer until its own answer is stored,
 * so that two copies of one request cannot both miss the record: the second
 * waits for the first and then finds (replays) its answer.  Requests with
 * different keys never wait on each other.  Only keys in flight have an
 * entry; an entry is freed by its last user.
 * Thread rules: any thread; a holder must not acquire a second key. */
#ifndef OPTIRS_IDEMLOCK_H
#define OPTIRS_IDEMLOCK_H

typedef struct idemlock idemlock;

/* Waits until no other request holds (tenant, route, key), then holds it.
 * NULL when out of memory (nothing held). */
idemlock *idemlock_acquire(const char *tenant, const char *route, const char *key);
/* Lets the next waiter for the same key in.  idemlock_release(NULL) does
 * nothing. */
void      idemlock_release(idemlock *l);
/* Keys held or waited for now (for tests). */
int       idemlock_count(void);

#endif
