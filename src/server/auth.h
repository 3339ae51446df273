/* auth.h — API keys, tenants and per-key rate limits.
 *
 * A key looks like `ok_<16 hex id>_<48 hex secret>`; only its SHA-256 is
 * stored, looked up by id and compared in constant time.  Keys are created
 * by `optirsd keys create` or by an admin key over the API, and revoked the
 * same ways; the daemon caches what it read for at most one second, so a key
 * created or revoked by another process takes effect within a second.  With
 * --cluster-db the store answers from the cluster's keys (pg_keys.h), and
 * serve.c forgets this cache whenever another daemon changed them.
 * Open mode (every caller is an admin of the empty tenant) is one decision:
 * no key has EVER been created in the database (a durable fact the store
 * sets with the first key, see store_keys_ever), and the listen address is a
 * loopback one or a unix socket, or --allow-open is 1.  Both halves are checked every time
 * open mode is derived.  Once a key has existed every request needs one,
 * for good: revoking the last key leaves the daemon closed (recovery:
 * `optirsd keys create` against the database).
 * Rate limits: one token bucket per verified key id (ratelimit.h), charged
 * after the secret matched; a bad or unknown key never touches a bucket.
 * Thread rules: every function is safe from any thread. */
#ifndef OPTIRS_AUTH_H
#define OPTIRS_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct app app;
typedef struct store store;
typedef struct store_key store_key;

#define AUTH_KEY_LEN   (3 + 16 + 1 + 48)   /* ok_ + id + _ + secret */
#define AUTH_TENANT_MAX 64

typedef struct principal {
    int  admin;
    char tenant[AUTH_TENANT_MAX];
    char key_id[32];        /* "" in open mode */
} principal;

/* Authenticates the Authorization header value (may be NULL).  Returns 0
 * with *who filled, ERR_UNAUTHORIZED, or ERR_RATE_LIMITED with
 * *retry_after_s set. */
int  auth_request(app *a, const char *authorization, principal *who, int *retry_after_s);
/* 1 when the daemon serves without keys: no key was ever created and the
 * listener is loopback or --allow-open 1.  Re-read at most once a second
 * until the first key is seen, then 0 for the life of the process. */
int  auth_open(app *a);
/* 1 once any key has been created in the database (revoked or not; a
 * storage error counts as 1).  Sticky, like auth_open. */
int  auth_keys_ever(app *a);
/* Creates a key for `tenant`: writes the key text (AUTH_KEY_LEN + 1 bytes)
 * into key_out and the stored record into *rec.  0 or an ERR_*. */
int  auth_key_create(store *db, const char *tenant, int admin, char *key_out, store_key *rec);
/* Checks a tenant name: 1..63 bytes of [A-Za-z0-9._-]. */
int  auth_tenant_valid(const char *tenant);
/* SHA-256 of n bytes into out. */
void auth_sha256(const void *data, size_t n, uint8_t out[32]);
/* Whether a listen address is a local one: loopback (127.0.0.0/8,
 * localhost) or a unix socket (unix:PATH). */
int  auth_loopback(const char *listen);
/* Forgets cached keys (after this daemon changed one). */
void auth_invalidate(void);

#endif
