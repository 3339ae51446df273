/* pg_sessions.c — the cluster's session index: the write queue and its
 * thread, the reconcile, and the paged read.  See pg_sessions.h. */
#include "pg_sessions.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "pg_conn.h"

typedef struct op {
    struct op *next;
    int        del;             /* 1 = delete id, 0 = put (id, tenant) */
    char      *id, *tenant;
} op;

struct pg_sessions {
    char              *target;
    char               shard[PG_SESSIONS_SHARD_MAX];
    pg_sessions_local  local;
    void              *lctx;
    /* the queue, guarded by mu; the thread waits on cv */
    pthread_mutex_t    mu;
    pthread_cond_t     cv;
    op                *head, *tail;
    int                nq;
    int                reconcile;      /* a reconcile is due */
    int                stop;
    pthread_t          thread;
    PGconn            *w;              /* the thread's connection (and open's) */
    /* the read connection, guarded by rmu */
    pthread_mutex_t    rmu;
    PGconn            *r;
};

static void op_free(op *o)
{
    if (!o) return;
    free(o->id);
    free(o->tenant);
    free(o);
}

static int exec_params(PGconn *c, const char *sql, int n, const char *const *vals)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : ERR_CLUSTER_DB;
}

/* ---- the reconcile ------------------------------------------------------------ */

/* The local sessions, collected before any is written: the enumeration
 * may hold the registry's lock, the writes wait on the network. */
typedef struct rec_ctx { char **ids, **tenants; size_t n, cap; int rc; } rec_ctx;

static void rec_emit(void *ectx, const char *id, const char *tenant)
{
    rec_ctx *c = ectx;
    if (c->rc) return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        char **a = realloc(c->ids, cap * sizeof *a);
        if (a) c->ids = a;
        char **b = a ? realloc(c->tenants, cap * sizeof *b) : NULL;
        if (b) c->tenants = b;
        if (!a || !b) {
            c->rc = ERR_NO_MEMORY;
            return;
        }
        c->cap = cap;
    }
    char *i = strdup(id), *t = strdup(tenant);
    if (!i || !t) {
        free(i);
        free(t);
        c->rc = ERR_NO_MEMORY;
        return;
    }
    c->ids[c->n] = i;
    c->tenants[c->n++] = t;
}

#define PUT_SQL "INSERT INTO optirs_sessions (id, tenant, shard) VALUES ($1, $2, $3)" \
                " ON CONFLICT (id) DO UPDATE SET tenant = EXCLUDED.tenant, shard = EXCLUDED.shard"

/* This shard's rows := its live sessions, in one transaction (readers see
 * the old rows or the new ones, never a half). */
static int reconcile(pg_sessions *ps, char *err, size_t errn)
{
    rec_ctx c = {0};
    int rc = ps->local(ps->lctx, rec_emit, &c);
    if (!rc) rc = c.rc;
    if (rc && err) snprintf(err, errn, "listing this shard's sessions: %s", err_message(rc));
    if (!rc) rc = pg_conn_exec(ps->w, "BEGIN", err, errn);
    const char *v[3] = {ps->shard, NULL, ps->shard};
    if (!rc && (rc = exec_params(ps->w, "DELETE FROM optirs_sessions WHERE shard = $1", 1, v)) && err)
        snprintf(err, errn, "clearing this shard's index rows: %s", PQerrorMessage(ps->w));
    for (size_t i = 0; !rc && i < c.n; i++) {
        v[0] = c.ids[i];
        v[1] = c.tenants[i];
        if ((rc = exec_params(ps->w, PUT_SQL, 3, v)) && err)
            snprintf(err, errn, "writing this shard's index rows: %s", PQerrorMessage(ps->w));
    }
    if (!rc) rc = pg_conn_exec(ps->w, "COMMIT", err, errn);
    else if (ps->w) pg_conn_exec(ps->w, "ROLLBACK", NULL, 0);
    for (size_t i = 0; i < c.n; i++) {
        free(c.ids[i]);
        free(c.tenants[i]);
    }
    free(c.ids);
    free(c.tenants);
    return rc;
}

static int apply(pg_sessions *ps, const op *o)
{
    if (o->del) {
        const char *v[2] = {o->id, ps->shard};
        return exec_params(ps->w, "DELETE FROM optirs_sessions WHERE id = $1 AND shard = $2", 2, v);
    }
    const char *v[3] = {o->id, o->tenant, ps->shard};
    return exec_params(ps->w, PUT_SQL, 3, v);
}

/* ---- the thread ------------------------------------------------------------------ */

static void drop_conn(pg_sessions *ps)
{
    PQfinish(ps->w);
    ps->w = NULL;
}

static void *writer_thread(void *arg)
{
    pg_sessions *ps = arg;
    pthread_mutex_lock(&ps->mu);
    for (;;) {
        if (!ps->head && !ps->reconcile && !ps->stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += (time_t)PG_SESSIONS_RECONCILE_S;
            if (pthread_cond_timedwait(&ps->cv, &ps->mu, &until) == ETIMEDOUT) ps->reconcile = 1;
        }
        if (ps->stop && (!ps->head || !ps->w)) break;
        op *o = ps->head;
        int rec = ps->reconcile;
        if (o) {
            ps->head = o->next;
            if (!ps->head) ps->tail = NULL;
            ps->nq--;
        }
        ps->reconcile = 0;
        pthread_mutex_unlock(&ps->mu);

        int fail = 0;
        if (!ps->w) {
            ps->w = pg_conn_open(ps->target, NULL, 0);
            rec = 1;                      /* what was lost while disconnected */
            fail = !ps->w;
        }
        if (!fail && rec) fail = reconcile(ps, NULL, 0) != 0;
        /* An op that came before a reconcile is covered by it only if the
         * reconcile saw its effect; applying it again is harmless. */
        if (!fail && o) fail = apply(ps, o) != 0;
        op_free(o);
        if (fail) drop_conn(ps);

        pthread_mutex_lock(&ps->mu);
        if (fail) {
            ps->reconcile = 1;
            if (!ps->stop) {
                /* Back off before reconnecting; the reconcile restores what is dropped. */
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&ps->cv, &ps->mu, &until);
            }
        }
    }
    pthread_mutex_unlock(&ps->mu);
    return NULL;
}

static void enqueue(pg_sessions *ps, op *o)
{
    pthread_mutex_lock(&ps->mu);
    if (ps->nq >= PG_SESSIONS_QUEUE_MAX) {
        op_free(o);
        ps->reconcile = 1;          /* the reconcile writes what was dropped */
    } else {
        if (ps->tail) ps->tail->next = o;
        else ps->head = o;
        ps->tail = o;
        ps->nq++;
    }
    pthread_cond_signal(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
}

void pg_sessions_put(pg_sessions *ps, const char *id, const char *tenant)
{
    if (!ps || !id || !tenant) return;
    op *o = calloc(1, sizeof *o);
    if (o && (o->id = strdup(id)) && (o->tenant = strdup(tenant))) {
        enqueue(ps, o);
        return;
    }
    op_free(o);
    pg_sessions_reconcile_soon(ps);
}

void pg_sessions_del(pg_sessions *ps, const char *id)
{
    if (!ps || !id) return;
    op *o = calloc(1, sizeof *o);
    if (o && (o->id = strdup(id))) {
        o->del = 1;
        enqueue(ps, o);
        return;
    }
    op_free(o);
    pg_sessions_reconcile_soon(ps);
}

void pg_sessions_reconcile_soon(pg_sessions *ps)
{
    if (!ps) return;
    pthread_mutex_lock(&ps->mu);
    ps->reconcile = 1;
    pthread_cond_signal(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
}

/* ---- open / close ------------------------------------------------------------------ */

int pg_sessions_open(const char *target, const char *shard, pg_sessions_local local, void *lctx,
                     pg_sessions **out, char *err, size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!out) return ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!target || !shard || !local || !shard[0] || strlen(shard) >= PG_SESSIONS_SHARD_MAX) {
        if (err) snprintf(err, errn, "the shard address must be 1 to %d bytes", PG_SESSIONS_SHARD_MAX - 1);
        return ERR_INVALID_ARGUMENT;
    }
    pg_sessions *ps = calloc(1, sizeof *ps);
    if (!ps || !(ps->target = strdup(target))) {
        free(ps);
        return ERR_NO_MEMORY;
    }
    snprintf(ps->shard, sizeof ps->shard, "%s", shard);
    ps->local = local;
    ps->lctx = lctx;
    pthread_mutex_init(&ps->mu, NULL);
    pthread_mutex_init(&ps->rmu, NULL);
    pthread_cond_init(&ps->cv, NULL);
    int rc = (ps->w = pg_conn_open(target, err, errn)) ? 0 : ERR_CLUSTER_DB;
    if (!rc) rc = pg_conn_schema(ps->w, err, errn);
    if (!rc) rc = reconcile(ps, err, errn);
    if (!rc && pthread_create(&ps->thread, NULL, writer_thread, ps) != 0) rc = ERR_INTERNAL;
    if (rc) {
        PQfinish(ps->w);
        pthread_mutex_destroy(&ps->mu);
        pthread_mutex_destroy(&ps->rmu);
        pthread_cond_destroy(&ps->cv);
        free(ps->target);
        free(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void pg_sessions_close(pg_sessions *ps)
{
    if (!ps) return;
    pthread_mutex_lock(&ps->mu);
    ps->stop = 1;
    pthread_cond_signal(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
    pthread_join(ps->thread, NULL);
    while (ps->head) {
        op *o = ps->head;
        ps->head = o->next;
        op_free(o);
    }
    PQfinish(ps->w);
    PQfinish(ps->r);
    pthread_mutex_destroy(&ps->mu);
    pthread_mutex_destroy(&ps->rmu);
    pthread_cond_destroy(&ps->cv);
    free(ps->target);
    free(ps);
}

/* ---- the read ------------------------------------------------------------------------ */

int pg_sessions_page(pg_sessions *ps, const char *tenant, const char *after, int limit,
                     void (*fn)(void *ctx, const char *id, const char *tenant, const char *shard), void *ctx,
                     int *more, char *err, size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!ps || !fn || !more || limit < 1 || limit > PG_SESSIONS_PAGE_MAX) return ERR_INVALID_ARGUMENT;
    *more = 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit + 1);      /* one more: are there rows after the page? */
    const char *v[3] = {after ? after : "", lim, tenant};
    const char *sql = tenant ? "SELECT id, tenant, shard FROM optirs_sessions WHERE id > $1 AND tenant = $3"
                               " ORDER BY id LIMIT $2"
                             : "SELECT id, tenant, shard FROM optirs_sessions WHERE id > $1"
                               " ORDER BY id LIMIT $2";
    pthread_mutex_lock(&ps->rmu);
    PGresult *res = NULL;
    for (int attempt = 0; attempt < 2 && !res; attempt++) {
        /* A connection the database dropped (a restart) is replaced once. */
        if (!ps->r && !(ps->r = pg_conn_open(ps->target, err, errn))) break;
        res = PQexecParams(ps->r, sql, tenant ? 3 : 2, NULL, v, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
            if (err) snprintf(err, errn, "reading the session index: %s", PQerrorMessage(ps->r));
            PQclear(res);
            res = NULL;
            PQfinish(ps->r);
            ps->r = NULL;
        }
    }
    if (!res) {
        pthread_mutex_unlock(&ps->rmu);
        return ERR_CLUSTER_DB;
    }
    int n = PQntuples(res);
    if (n > limit) {
        *more = 1;
        n = limit;
    }
    for (int i = 0; i < n; i++) fn(ctx, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    PQclear(res);
    pthread_mutex_unlock(&ps->rmu);
    return 0;
}
