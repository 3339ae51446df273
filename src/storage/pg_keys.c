/* pg_keys.c — API keys shared through PostgreSQL: the in-memory copy, its
 * refresh thread (LISTEN/NOTIFY and the periodic re-read) and the writes.
 * See pg_keys.h. */
#include "pg_keys.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "pg_conn.h"

#define CHANNEL "optirs_keys"
/* The weights records' channel (pg_weights.h): the refresh thread listens on
 * it too and runs the tick callback on its notifications. */
#define CHANNEL_WEIGHTS "optirs_weights"

struct pg_keys {
    char           *target;
    double          grace_s;
    /* the copy, under mu */
    pthread_mutex_t mu;
    store_key      *keys;           /* sorted by id (strcmp) */
    size_t          n;
    double          synced;         /* monotonic seconds of the last full read */
    void          (*on_change)(void *);
    void           *cb_ctx;
    void          (*tick)(void *);
    void           *tick_ctx;
    /* the write connection, under wmu (never taken with mu held) */
    pthread_mutex_t wmu;
    PGconn         *w;
    /* the refresh thread and its LISTEN connection (the thread's own) */
    pthread_t       thread;
    PGconn         *l;
    int             wake[2];        /* a pipe: a byte on wake[1] stops the thread */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int key_cmp(const void *x, const void *y)
{
    return strcmp(((const store_key *)x)->id, ((const store_key *)y)->id);
}

static int created_cmp(const void *x, const void *y)
{
    const store_key *a = x, *b = y;
    if (a->created_ms != b->created_ms) return a->created_ms < b->created_ms ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* One row of the SELECT in read_all into *k; 0 or ERR_CORRUPT. */
static int key_from_row(PGresult *r, int i, store_key *k)
{
    memset(k, 0, sizeof *k);
    const char *id = PQgetvalue(r, i, 0), *tenant = PQgetvalue(r, i, 1), *hex = PQgetvalue(r, i, 2);
    if (strlen(id) >= sizeof k->id || strlen(tenant) >= sizeof k->tenant || strlen(hex) != 64) return ERR_CORRUPT;
    snprintf(k->id, sizeof k->id, "%s", id);
    snprintf(k->tenant, sizeof k->tenant, "%s", tenant);
    for (int j = 0; j < 32; j++) {
        int hi = hex_val(hex[2 * j]), lo = hex_val(hex[2 * j + 1]);
        if (hi < 0 || lo < 0) return ERR_CORRUPT;
        k->hash[j] = (uint8_t)(hi << 4 | lo);
    }
    k->admin = strcmp(PQgetvalue(r, i, 3), "t") == 0;
    k->created_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10);
    k->revoked_ms = PQgetisnull(r, i, 5) ? 0 : strtoll(PQgetvalue(r, i, 5), NULL, 10);
    return 0;
}

/* Reads the whole table into a new sorted array.  0, ERR_CLUSTER_DB (the
 * connection failed, or the table is over PG_KEYS_MAX), ERR_CORRUPT or
 * ERR_NO_MEMORY. */
static int read_all(PGconn *c, store_key **out, size_t *n)
{
    PGresult *r = PQexec(c, "SELECT id, tenant, encode(hash, 'hex'), admin, created_ms, revoked_ms"
                            " FROM optirs_api_keys");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return ERR_CLUSTER_DB;
    }
    int rows = PQntuples(r), rc = 0;
    if (rows > PG_KEYS_MAX) {
        fprintf(stderr, "cluster db: %d keys, more than the %d this daemon loads\n", rows, PG_KEYS_MAX);
        PQclear(r);
        return ERR_CLUSTER_DB;
    }
    store_key *keys = rows ? calloc((size_t)rows, sizeof *keys) : NULL;
    if (rows && !keys) rc = ERR_NO_MEMORY;
    for (int i = 0; !rc && i < rows; i++) rc = key_from_row(r, i, &keys[i]);
    PQclear(r);
    if (rc) {
        free(keys);
        return rc;
    }
    if (rows) qsort(keys, (size_t)rows, sizeof *keys, key_cmp);
    *out = keys;
    *n = (size_t)rows;
    return 0;
}

/* Replaces the copy with a fresh read; *changed = it differs from the old. */
static void install(pg_keys *pk, store_key *keys, size_t n, int *changed)
{
    pthread_mutex_lock(&pk->mu);
    *changed = n != pk->n || (n && memcmp(keys, pk->keys, n * sizeof *keys) != 0);
    free(pk->keys);
    pk->keys = keys;
    pk->n = n;
    pk->synced = mono_s();
    pthread_mutex_unlock(&pk->mu);
}

/* Reads the table on the LISTEN connection and installs it; calls the change
 * callback when it differs.  0 or an ERR_*. */
static int refresh(pg_keys *pk)
{
    store_key *keys = NULL;
    size_t n = 0;
    int rc = read_all(pk->l, &keys, &n);
    if (rc) return rc;
    int changed;
    install(pk, keys, n, &changed);
    pthread_mutex_lock(&pk->mu);
    void (*fn)(void *) = pk->on_change;
    void *ctx = pk->cb_ctx;
    pthread_mutex_unlock(&pk->mu);
    if (changed && fn) fn(ctx);
    return 0;
}

/* (Re)connects the LISTEN connection: schema, LISTEN, a full read.  0 or an
 * ERR_* (the connection is closed again). */
static int listen_connect(pg_keys *pk, char *err, size_t errn)
{
    pk->l = pg_conn_open(pk->target, err, errn);
    if (!pk->l) return ERR_CLUSTER_DB;
    int rc = pg_conn_schema(pk->l, err, errn);
    if (!rc) rc = pg_conn_exec(pk->l, "LISTEN " CHANNEL "; LISTEN " CHANNEL_WEIGHTS, err, errn);
    if (!rc) rc = refresh(pk);
    if (rc) {
        if (err && !err[0]) snprintf(err, errn, "%s", err_message(rc));
        PQfinish(pk->l);
        pk->l = NULL;
    }
    return rc;
}

/* Waits up to `s` seconds for the LISTEN socket (fd >= 0) or the stop pipe.
 * 1: stop asked; 0: timeout or the socket is readable. */
static int wait_for(pg_keys *pk, int fd, double s)
{
    struct pollfd p[2] = {{pk->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
    int ms = s <= 0 ? 0 : (int)(s * 1000) + 1;
    if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR) usleep(10000);
    return (p[0].revents & POLLIN) != 0;
}

/* Runs the tick callback (pg_keys_on_tick), outside mu. */
static void tick(pg_keys *pk)
{
    pthread_mutex_lock(&pk->mu);
    void (*fn)(void *) = pk->tick;
    void *ctx = pk->tick_ctx;
    pthread_mutex_unlock(&pk->mu);
    if (fn) fn(ctx);
}

static void drop_listen(pg_keys *pk, const char *why)
{
    fprintf(stderr, "cluster db: lost the connection (%s); retrying every %.0f s\n", why, PG_KEYS_RECONNECT_S);
    PQfinish(pk->l);
    pk->l = NULL;
}

static void *refresh_thread(void *arg)
{
    pg_keys *pk = arg;
    double next_read = mono_s() + PG_KEYS_REREAD_S;
    for (;;) {
        if (!pk->l) {
            if (wait_for(pk, -1, PG_KEYS_RECONNECT_S)) break;
            char err[256] = "";
            if (listen_connect(pk, err, sizeof err) == 0) {
                fprintf(stderr, "cluster db: reconnected\n");
                tick(pk);
                next_read = mono_s() + PG_KEYS_REREAD_S;
            }
            continue;
        }
        /* A notification that came while refresh's statement ran on this
         * connection is in libpq's queue already, not on the socket: take
         * those before waiting, or a revocation would wait for the re-read. */
        int notified = 0;
        PGnotify *nt;
        while ((nt = PQnotifies(pk->l)) != NULL) {
            notified = 1;
            PQfreemem(nt);
        }
        if (!notified) {
            if (wait_for(pk, PQsocket(pk->l), next_read - mono_s())) break;
            if (!PQconsumeInput(pk->l)) {
                drop_listen(pk, PQerrorMessage(pk->l));
                continue;
            }
            while ((nt = PQnotifies(pk->l)) != NULL) {
                notified = 1;
                PQfreemem(nt);
            }
        }
        if (!notified && mono_s() < next_read) continue;
        int rc = refresh(pk);
        if (rc == ERR_CLUSTER_DB && PQstatus(pk->l) != CONNECTION_OK) drop_listen(pk, PQerrorMessage(pk->l));
        else if (rc) fprintf(stderr, "cluster db: the key table could not be loaded: %s\n", err_message(rc));
        if (!rc) tick(pk);
        next_read = mono_s() + PG_KEYS_REREAD_S;
    }
    return NULL;
}

int pg_keys_open(const char *target, double grace_s, pg_keys **out, char *err, size_t errn)
{
    *out = NULL;
    if (err && errn) err[0] = '\0';
    pg_keys *pk = calloc(1, sizeof *pk);
    if (!pk || !(pk->target = strdup(target))) {
        free(pk);
        return ERR_NO_MEMORY;
    }
    pk->grace_s = grace_s;
    pk->wake[0] = pk->wake[1] = -1;
    pthread_mutex_init(&pk->mu, NULL);
    pthread_mutex_init(&pk->wmu, NULL);
    int rc = pipe(pk->wake) != 0 ? ERR_INTERNAL : listen_connect(pk, err, errn);
    if (!rc && pthread_create(&pk->thread, NULL, refresh_thread, pk) != 0) rc = ERR_INTERNAL;
    if (rc) {
        PQfinish(pk->l);
        if (pk->wake[0] >= 0) close(pk->wake[0]);
        if (pk->wake[1] >= 0) close(pk->wake[1]);
        pthread_mutex_destroy(&pk->mu);
        pthread_mutex_destroy(&pk->wmu);
        free(pk->keys);
        free(pk->target);
        free(pk);
        return rc;
    }
    *out = pk;
    return 0;
}

void pg_keys_close(pg_keys *pk)
{
    if (!pk) return;
    char b = 1;
    while (write(pk->wake[1], &b, 1) < 0 && errno == EINTR) {}
    pthread_join(pk->thread, NULL);
    PQfinish(pk->l);
    PQfinish(pk->w);
    close(pk->wake[0]);
    close(pk->wake[1]);
    pthread_mutex_destroy(&pk->mu);
    pthread_mutex_destroy(&pk->wmu);
    free(pk->keys);
    free(pk->target);
    free(pk);
}

void pg_keys_on_change(pg_keys *pk, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&pk->mu);
    pk->on_change = fn;
    pk->cb_ctx = ctx;
    pthread_mutex_unlock(&pk->mu);
}

void pg_keys_on_tick(pg_keys *pk, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&pk->mu);
    pk->tick = fn;
    pk->tick_ctx = ctx;
    pthread_mutex_unlock(&pk->mu);
}

/* Runs a parameterised write on the write connection, (re)connecting once if
 * the connection was lost since its last use.  Returns the number of rows the
 * statement returned, or ERR_CLUSTER_DB.  Caller holds wmu. */
static int write_locked(pg_keys *pk, const char *sql, int nparams, const char *const *params)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!pk->w && !(pk->w = pg_conn_open(pk->target, NULL, 0))) return ERR_CLUSTER_DB;
        PGresult *r = PQexecParams(pk->w, sql, nparams, NULL, params, NULL, NULL, 0);
        int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
        int rows = ok ? PQntuples(r) : 0;
        PQclear(r);
        if (ok) return rows;
        if (PQstatus(pk->w) == CONNECTION_OK) return ERR_CLUSTER_DB;   /* the statement failed, not the link */
        PQfinish(pk->w);
        pk->w = NULL;
    }
    return ERR_CLUSTER_DB;
}

/* The copy's entry of id, or NULL.  Caller holds mu. */
static store_key *find_locked(pg_keys *pk, const char *id)
{
    store_key probe;
    snprintf(probe.id, sizeof probe.id, "%s", id);
    return pk->n ? bsearch(&probe, pk->keys, pk->n, sizeof *pk->keys, key_cmp) : NULL;
}

/* Puts k into the copy at once (this daemon's own write). */
static int copy_put(pg_keys *pk, const store_key *k)
{
    int rc = 0;
    pthread_mutex_lock(&pk->mu);
    store_key *e = find_locked(pk, k->id);
    if (e) *e = *k;
    else if (pk->n >= PG_KEYS_MAX) rc = 0;   /* the next re-read decides; nothing to add to */
    else {
        store_key *grown = realloc(pk->keys, (pk->n + 1) * sizeof *grown);
        if (!grown) rc = ERR_NO_MEMORY;
        else {
            size_t at = 0;
            while (at < pk->n && strcmp(grown[at].id, k->id) < 0) at++;
            memmove(grown + at + 1, grown + at, (pk->n - at) * sizeof *grown);
            grown[at] = *k;
            pk->keys = grown;
            pk->n++;
        }
    }
    pthread_mutex_unlock(&pk->mu);
    return rc;
}

int pg_keys_insert(pg_keys *pk, const store_key *k)
{
    static const char hex[] = "0123456789abcdef";
    char hash[65], admin[2] = {k->admin ? 't' : 'f', 0}, created[24];
    for (int i = 0; i < 32; i++) {
        hash[2 * i] = hex[k->hash[i] >> 4];
        hash[2 * i + 1] = hex[k->hash[i] & 15];
    }
    hash[64] = '\0';
    snprintf(created, sizeof created, "%lld", (long long)k->created_ms);
    const char *params[] = {k->id, k->tenant, hash, admin, created};
    pthread_mutex_lock(&pk->wmu);
    /* One statement, one transaction: the row and its notification commit together. */
    int rows = write_locked(pk, "WITH k AS (INSERT INTO optirs_api_keys(id, tenant, hash, admin, created_ms)"
                                " VALUES ($1, $2, decode($3, 'hex'), $4::boolean, $5::bigint) RETURNING id)"
                                " SELECT pg_notify('" CHANNEL "', id) FROM k", 5, params);
    pthread_mutex_unlock(&pk->wmu);
    if (rows < 0) return rows;
    return rows == 1 ? copy_put(pk, k) : ERR_CLUSTER_DB;
}

int pg_keys_revoke(pg_keys *pk, const char *id, int64_t now_ms)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *params[] = {id, now};
    pthread_mutex_lock(&pk->wmu);
    int rows = write_locked(pk, "WITH k AS (UPDATE optirs_api_keys SET revoked_ms = $2::bigint"
                                " WHERE id = $1 AND revoked_ms IS NULL RETURNING id)"
                                " SELECT pg_notify('" CHANNEL "', id) FROM k", 2, params);
    pthread_mutex_unlock(&pk->wmu);
    if (rows < 0) return rows;
    if (rows == 0) return ERR_NOT_FOUND;
    pthread_mutex_lock(&pk->mu);
    store_key *e = find_locked(pk, id);
    if (e && !e->revoked_ms) e->revoked_ms = now_ms;
    pthread_mutex_unlock(&pk->mu);
    return 0;
}

/* 1 while the copy may be answered from.  Caller holds mu. */
static int fresh_locked(const pg_keys *pk)
{
    return pk->synced > 0 && mono_s() - pk->synced <= pk->grace_s;
}

int pg_keys_get(pg_keys *pk, const char *id, store_key *out)
{
    pthread_mutex_lock(&pk->mu);
    int rc = ERR_CLUSTER_DB;
    if (fresh_locked(pk)) {
        const store_key *e = find_locked(pk, id);
        if (e) *out = *e;
        rc = e ? 0 : ERR_NOT_FOUND;
    }
    pthread_mutex_unlock(&pk->mu);
    return rc;
}

int pg_keys_list(pg_keys *pk, int (*fn)(void *ctx, const store_key *k), void *ctx)
{
    /* A snapshot, so fn runs without the lock. */
    pthread_mutex_lock(&pk->mu);
    int rc = fresh_locked(pk) ? 0 : ERR_CLUSTER_DB;
    size_t n = pk->n;
    store_key *copy = NULL;
    if (!rc && n && !(copy = malloc(n * sizeof *copy))) rc = ERR_NO_MEMORY;
    if (!rc && n) memcpy(copy, pk->keys, n * sizeof *copy);
    pthread_mutex_unlock(&pk->mu);
    if (rc) return rc;
    /* The SQLite store lists by creation time; so does the cluster. */
    if (n) qsort(copy, n, sizeof *copy, created_cmp);
    for (size_t i = 0; i < n; i++)
        if (fn(ctx, &copy[i])) break;
    free(copy);
    return 0;
}

int pg_keys_active(pg_keys *pk, int64_t *count)
{
    pthread_mutex_lock(&pk->mu);
    int rc = fresh_locked(pk) ? 0 : ERR_CLUSTER_DB;
    int64_t c = 0;
    for (size_t i = 0; !rc && i < pk->n; i++) c += pk->keys[i].revoked_ms == 0;
    pthread_mutex_unlock(&pk->mu);
    if (!rc) *count = c;
    return rc;
}

int pg_keys_ever(pg_keys *pk, int *ever)
{
    pthread_mutex_lock(&pk->mu);
    int rc = fresh_locked(pk) ? 0 : ERR_CLUSTER_DB;
    if (!rc) *ever = pk->n > 0;   /* rows are never deleted */
    pthread_mutex_unlock(&pk->mu);
    return rc;
}

double pg_keys_age(pg_keys *pk)
{
    pthread_mutex_lock(&pk->mu);
    double age = mono_s() - pk->synced;
    pthread_mutex_unlock(&pk->mu);
    return age;
}
