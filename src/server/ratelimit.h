/* ratelimit.h — per-key token buckets, keyed by the exact key id.
 *
 * Each API key id that has authenticated gets its own bucket of `burst`
 * tokens refilled at `rate` per second; a request takes one token.  Buckets
 * are found by comparing the whole id (a hash only picks the chain), so two
 * ids can never share or reset each other's bucket.  Only the caller decides
 * who gets a bucket: auth.c charges a key after its secret was verified, so
 * an unknown or bogus key never creates, touches or resets a real key's
 * bucket.
 * Bounded: a bucket idle long enough to have refilled completely is the same
 * as a new one, so it is dropped when its chain is walked, and every chain
 * is swept once the table holds max(RATELIMIT_SWEEP_EVERY, twice what the
 * last sweep left) buckets.  The table therefore holds at most about twice
 * the number of keys used in the last burst / rate seconds, or
 * RATELIMIT_SWEEP_EVERY buckets, whichever is more.
 * Thread rules: every function is safe from any thread (one mutex per
 * table); ratelimit_free must be the last call. */
#ifndef OPTIRS_RATELIMIT_H
#define OPTIRS_RATELIMIT_H

#include <stddef.h>

#define RATELIMIT_ID_MAX      32      /* ids are shorter than this (keys: 16 hex digits) */
#define RATELIMIT_SWEEP_EVERY 1024

typedef struct ratelimit ratelimit;

/* A table with no buckets; NULL when out of memory.  The caller frees it with
 * ratelimit_free (NULL is fine). */
ratelimit *ratelimit_new(void);
void       ratelimit_free(ratelimit *rl);

/* Takes one token from the bucket of `id` at time `now` (seconds, monotonic)
 * with refill `rate` (> 0, tokens per second) and size `burst` (>= 1); a new
 * bucket starts full.  Returns 0 when the request may go on, ERR_RATE_LIMITED
 * with *retry_after_s (whole seconds, >= 1) when the bucket is empty,
 * ERR_INVALID_ARGUMENT for an id that is empty or too long, ERR_NO_MEMORY.
 * A refused request takes no token. */
int        ratelimit_take(ratelimit *rl, const char *id, double now, double rate, double burst, int *retry_after_s);

/* Number of buckets held (for tests and /metrics). */
size_t     ratelimit_count(ratelimit *rl);

#endif
