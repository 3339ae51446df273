/* auth.c — API keys, the open-mode decision and per-key rate limits.  See
 * auth.h. */
#include "auth.h"

#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "app.h"
#include "errors.h"
#include "http.h"
#include "ratelimit.h"
#include "store.h"

#define CACHE_SLOTS 1024
#define CACHE_TTL_S 1.0

/* A cache slot holds what the store said about one key id; a slot is only
 * a cache (any id may take it over), so nothing that must survive another
 * id taking the slot lives here: rate-limit buckets are in ratelimit.c,
 * keyed by the exact id. */
typedef struct cached_key {
    store_key rec;
    int       found;            /* 0: the id is not in the store */
    double    fetched;          /* monotonic; 0 = empty slot */
} cached_key;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cached_key      cache[CACHE_SLOTS];
static double          ever_checked = -1e9;
static unsigned long   cache_gen;    /* bumped by auth_invalidate: reads begun before it are not cached */
static int             keys_ever;    /* sticky: once 1, never 0 again in this process */
static pthread_once_t  limits_once = PTHREAD_ONCE_INIT;
static ratelimit      *limits;

static void limits_init(void) { limits = ratelimit_new(); }

void auth_sha256(const void *data, size_t n, uint8_t out[32])
{
    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, out);
}

void auth_invalidate(void)
{
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++) cache[i].fetched = 0;
    ever_checked = -1e9;
    cache_gen++;
    pthread_mutex_unlock(&cache_mu);
}

int auth_keys_ever(app *a)
{
    double now = http_now_mono();
    pthread_mutex_lock(&cache_mu);
    int ever = keys_ever, stale = now - ever_checked > CACHE_TTL_S;
    unsigned long gen = cache_gen;
    pthread_mutex_unlock(&cache_mu);
    /* Once seen, never asked again: no later state of the store reopens. */
    if (ever || !stale) return ever;
    int stored = 0;
    /* A storage error counts as "a key exists": closed rather than open. */
    ever = store_keys_ever(a->db, &stored) != 0 || stored;
    pthread_mutex_lock(&cache_mu);
    keys_ever |= ever;
    ever = keys_ever;
    /* A key created while we read must not be hidden for a second. */
    if (gen == cache_gen) ever_checked = now;
    pthread_mutex_unlock(&cache_mu);
    return ever;
}

int auth_open(app *a)
{
    /* The listener is part of every derivation, not only of the start-up
     * check: a non-loopback address is never open without --allow-open. */
    if (!auth_loopback(a->cfg.listen) && !a->cfg.allow_open) return 0;
    return !auth_keys_ever(a);
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static unsigned slot_of(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 16777619u;
    return h % CACHE_SLOTS;
}

/* Constant-time comparison of two digests. */
static int digest_equal(const uint8_t *x, const uint8_t *y)
{
    volatile uint8_t d = 0;
    for (int i = 0; i < 32; i++) d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}

int auth_request(app *a, const char *authorization, principal *who, int *retry_after_s)
{
    memset(who, 0, sizeof *who);
    if (auth_open(a)) {
        who->admin = 1;
        return 0;
    }
    const char *k = authorization;
    if (!k || strncmp(k, "Bearer ", 7) != 0) return ERR_UNAUTHORIZED;
    k += 7;
    if (strlen(k) != AUTH_KEY_LEN || strncmp(k, "ok_", 3) != 0 || k[19] != '_' || !is_hex(k + 3, 16) ||
        !is_hex(k + 20, 48))
        return ERR_UNAUTHORIZED;
    char id[17];
    memcpy(id, k + 3, 16);
    id[16] = '\0';
    uint8_t digest[32];
    auth_sha256(k, AUTH_KEY_LEN, digest);

    unsigned slot = slot_of(id);
    double now = http_now_mono();
    pthread_mutex_lock(&cache_mu);
    cached_key c = cache[slot];
    int fresh = c.fetched > 0 && now - c.fetched < CACHE_TTL_S && strcmp(c.rec.id, id) == 0;
    unsigned long gen = cache_gen;
    pthread_mutex_unlock(&cache_mu);
    if (!fresh) {
        store_key rec;
        int rc = store_key_get(a->db, id, &rec);
        /* A cluster database out of reach for longer than the grace is its own 503. */
        if (rc && rc != ERR_NOT_FOUND) return rc == ERR_CLUSTER_DB ? rc : ERR_STORAGE;
        memset(&c, 0, sizeof c);
        if (rc == 0) c.rec = rec;
        else snprintf(c.rec.id, sizeof c.rec.id, "%s", id);
        c.found = rc == 0;
        c.fetched = now;
        /* A revocation by this daemon during the read must take effect at
         * once: what was read before it is used once, not cached.  An
         * unknown id never evicts a real key's fresh record (bogus keys
         * cannot make a real key's requests read the store every time). */
        pthread_mutex_lock(&cache_mu);
        const cached_key *old = &cache[slot];
        int keep = !c.found && old->found && now - old->fetched < CACHE_TTL_S;
        if (gen == cache_gen && !keep) cache[slot] = c;
        pthread_mutex_unlock(&cache_mu);
    }
    if (!c.found || c.rec.revoked_ms || !digest_equal(c.rec.hash, digest)) return ERR_UNAUTHORIZED;

    /* Charged only now, to the verified key's own bucket. */
    if (a->cfg.rate_limit > 0) {
        pthread_once(&limits_once, limits_init);
        int rc = limits ? ratelimit_take(limits, c.rec.id, now, a->cfg.rate_limit, a->cfg.rate_burst, retry_after_s)
                        : ERR_NO_MEMORY;
        if (rc) return rc;
    }
    who->admin = c.rec.admin;
    snprintf(who->tenant, sizeof who->tenant, "%s", c.rec.tenant);
    snprintf(who->key_id, sizeof who->key_id, "%s", c.rec.id);
    return 0;
}

int auth_tenant_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n >= AUTH_TENANT_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

int auth_key_create(store *db, const char *tenant, int admin, char *key_out, store_key *rec)
{
    if (!auth_tenant_valid(tenant)) return ERR_INVALID_ARGUMENT;
    unsigned char raw[8 + 24];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) return ERR_INTERNAL;
    static const char hex[] = "0123456789abcdef";
    char *p = key_out;
    memcpy(p, "ok_", 3);
    p += 3;
    for (int i = 0; i < 8; i++) { *p++ = hex[raw[i] >> 4]; *p++ = hex[raw[i] & 15]; }
    *p++ = '_';
    for (int i = 8; i < 32; i++) { *p++ = hex[raw[i] >> 4]; *p++ = hex[raw[i] & 15]; }
    *p = '\0';
    memset(rec, 0, sizeof *rec);
    memcpy(rec->id, key_out + 3, 16);
    snprintf(rec->tenant, sizeof rec->tenant, "%s", tenant);
    auth_sha256(key_out, AUTH_KEY_LEN, rec->hash);
    rec->admin = admin;
    rec->created_ms = http_now_ms();
    int rc = store_key_insert(db, rec);
    auth_invalidate();
    return rc;
}

int auth_loopback(const char *listen)
{
    /* A unix socket is local by construction, and its file mode narrows it further. */
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
           strncmp(listen, "unix:", 5) == 0;
}
