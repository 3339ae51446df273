/* pg_meta_jobs.c — meta-training jobs shared through PostgreSQL: the
 * synchronous insert, the tracked jobs and the thread that writes them and
 * listens for cancels, and the reads.  See pg_meta_jobs.h. */
#include "pg_meta_jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "pg_conn.h"

#define CHANNEL   "optirs_meta_jobs"
#define ERROR_MAX 4000          /* bytes of a job's error text written (the table's CHECK: 4096) */

typedef struct track {
    char     id[PG_META_JOBS_ID_MAX + 1];
    int      dirty;             /* a write is due at `due` */
    int      urgent;            /* a status change or a cancel is among what is due */
    int      cancel;            /* the next write sets cancel_requested */
    double   due, last;         /* monotonic seconds: when the write is due, when the last one was */
    int64_t  pushed;            /* the last curve step written (INT64_MIN: none) */
    unsigned gen;               /* bumped by every touch */
} track;

struct pg_meta_jobs {
    char               *target;
    char                shard[PG_META_JOBS_SHARD_MAX];
    pg_meta_jobs_load   load;
    pg_meta_jobs_cancel cancel;
    void               *ctx;
    /* the tracked jobs, under mu */
    pthread_mutex_t     mu;
    track              *t;
    size_t              n;
    int                 warned_full;
    int                 stop;
    /* the thread, its connection (writes and LISTEN) and its wake-up pipe */
    pthread_t           thread;
    PGconn             *w;
    int                 wake[2];
    /* the connection of the synchronous calls, under rmu */
    pthread_mutex_t     rmu;
    PGconn             *r;
};

struct pg_meta_jobs_sink {
    int      has_row, oom;
    char    *name, *source, *tenant, *status, *config_json, *error, *weights_name;
    int64_t  created_ms, updated_ms, step, outer_steps, weights_version;
    double   wall_s;
    int64_t *steps;
    double  *loss, *gn;
    size_t   np, cap;
    int      more;              /* points beyond PG_META_JOBS_CURVE_BATCH were left out */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the sink ------------------------------------------------------------------ */

static char *dup_or_null(const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

void pg_meta_jobs_sink_row(pg_meta_jobs_sink *k, const store_meta_job_row *j)
{
    if (!k || !j || k->has_row) return;
    k->has_row = 1;
    k->name = dup_or_null(j->name ? j->name : "", &k->oom);
    k->source = dup_or_null(j->source ? j->source : "api", &k->oom);
    k->tenant = dup_or_null(j->tenant ? j->tenant : "", &k->oom);
    k->status = dup_or_null(j->status ? j->status : "failed", &k->oom);
    k->config_json = dup_or_null(j->config_json ? j->config_json : "{}", &k->oom);
    k->error = dup_or_null(j->error, &k->oom);
    k->weights_name = dup_or_null(j->weights_name, &k->oom);
    k->created_ms = j->created_ms;
    k->updated_ms = j->updated_ms;
    k->step = j->step;
    k->outer_steps = j->outer_steps;
    k->weights_version = j->weights_version;
    k->wall_s = j->wall_s;
}

void pg_meta_jobs_sink_point(pg_meta_jobs_sink *k, int64_t step, double meta_loss, double grad_norm)
{
    if (!k || k->oom) return;
    if (k->np >= PG_META_JOBS_CURVE_BATCH) {
        k->more = 1;
        return;
    }
    if (k->np == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        int64_t *s = realloc(k->steps, cap * sizeof *s);
        if (s) k->steps = s;
        double *l = s ? realloc(k->loss, cap * sizeof *l) : NULL;
        if (l) k->loss = l;
        double *g = l ? realloc(k->gn, cap * sizeof *g) : NULL;
        if (g) k->gn = g;
        if (!g) {
            k->oom = 1;
            return;
        }
        k->cap = cap;
    }
    k->steps[k->np] = step;
    k->loss[k->np] = meta_loss;
    k->gn[k->np++] = grad_norm;
}

static void sink_free(pg_meta_jobs_sink *k)
{
    free(k->name);
    free(k->source);
    free(k->tenant);
    free(k->status);
    free(k->config_json);
    free(k->error);
    free(k->weights_name);
    free(k->steps);
    free(k->loss);
    free(k->gn);
}

/* ---- formatting --------------------------------------------------------------- */

/* A double as PostgreSQL's float8 reads it (NaN and the infinities by name). */
static void fmt_double(char *out, size_t n, double v)
{
    if (isnan(v)) snprintf(out, n, "NaN");
    else if (isinf(v)) snprintf(out, n, v > 0 ? "Infinity" : "-Infinity");
    else snprintf(out, n, "%.17g", v);
}

/* An error text as the table takes it: printable ASCII (anything else
 * becomes '?': the text is the daemon's, not the user's, and a byte that is
 * not UTF-8 would make the database refuse the whole write), at most
 * ERROR_MAX bytes.  The caller frees it; NULL for NULL or no memory. */
static char *clean_error(const char *e)
{
    if (!e) return NULL;
    size_t n = strlen(e);
    if (n > ERROR_MAX) n = ERROR_MAX;
    char *c = malloc(n + 1);
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++) c[i] = (e[i] >= 0x20 && e[i] < 0x7f) ? e[i] : '?';
    c[n] = '\0';
    return c;
}

/* The sink's points as three array literals ("{1,2}", "{0.5,NaN}"). */
static int curve_arrays(const pg_meta_jobs_sink *k, char **steps, char **loss, char **gn)
{
    size_t cap = 2 + k->np * 32;
    *steps = malloc(cap);
    *loss = malloc(cap);
    *gn = malloc(cap);
    if (!*steps || !*loss || !*gn) return ERR_NO_MEMORY;
    size_t a = 0, b = 0, c = 0;
    (*steps)[a++] = (*loss)[b++] = (*gn)[c++] = '{';
    for (size_t i = 0; i < k->np; i++) {
        char x[32];
        a += (size_t)snprintf(*steps + a, cap - a, "%s%lld", i ? "," : "", (long long)k->steps[i]);
        fmt_double(x, sizeof x, k->loss[i]);
        b += (size_t)snprintf(*loss + b, cap - b, "%s%s", i ? "," : "", x);
        fmt_double(x, sizeof x, k->gn[i]);
        c += (size_t)snprintf(*gn + c, cap - c, "%s%s", i ? "," : "", x);
    }
    snprintf(*steps + a, cap - a, "}");
    snprintf(*loss + b, cap - b, "}");
    snprintf(*gn + c, cap - c, "}");
    return 0;
}

/* ---- statements ------------------------------------------------------------------ */

/* Runs a statement on c.  0; ERR_CLUSTER_DB when the link failed (the
 * caller drops the connection); ERR_INVALID_ARGUMENT when the database
 * refused the statement over a working link (its reason on stderr). */
static int run(PGconn *c, const char *sql, int n, const char *const *vals, PGresult **out)
{
    if (out) *out = NULL;
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out) *out = r;
        else PQclear(r);
        return 0;
    }
    /* Refused: data (22), a constraint (23) or the statement (42) over a
     * working link.  Anything else (a server shutting down, 57; the link,
     * 08; no answer at all) is the database's unavailability. */
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int refused = PQstatus(c) == CONNECTION_OK && state &&
                  (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 || strncmp(state, "42", 2) == 0);
    if (refused) fprintf(stderr, "cluster db: meta jobs: %s", PQerrorMessage(c));
    PQclear(r);
    return refused ? ERR_INVALID_ARGUMENT : ERR_CLUSTER_DB;
}

static const char UPSERT_SQL[] =
    "INSERT INTO optirs_meta_jobs (id, tenant, shard, name, source, status, config_json, created_ms, updated_ms,"
    " step, outer_steps, wall_s, error, weights_name, weights_version, cancel_requested)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint, $10::bigint, $11::bigint, $12::float8, $13, $14,"
    " $15::bigint, $16::boolean)"
    " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_ms = EXCLUDED.updated_ms,"
    " step = EXCLUDED.step, wall_s = EXCLUDED.wall_s, error = EXCLUDED.error, weights_name = EXCLUDED.weights_name,"
    " weights_version = EXCLUDED.weights_version,"
    " cancel_requested = optirs_meta_jobs.cancel_requested OR EXCLUDED.cancel_requested"
    " WHERE optirs_meta_jobs.shard = EXCLUDED.shard";

static const char CURVE_SQL[] =
    "INSERT INTO optirs_meta_curve (job_id, step, meta_loss, grad_norm)"
    " SELECT $1, s, l, g FROM unnest($2::bigint[], $3::float8[], $4::float8[]) AS t(s, l, g)"
    " ON CONFLICT (job_id, step) DO UPDATE SET meta_loss = EXCLUDED.meta_loss, grad_norm = EXCLUDED.grad_norm";

/* Writes job `id` as the sink holds it (its row and curve points) in one
 * transaction.  0 or run()'s codes. */
static int write_job(pg_meta_jobs *pm, const char *id, int cancel, const pg_meta_jobs_sink *k)
{
    char created[24], updated[24], step[24], outer[24], wall[32], wver[24];
    snprintf(created, sizeof created, "%lld", (long long)(k->created_ms > 0 ? k->created_ms : wall_ms()));
    snprintf(updated, sizeof updated, "%lld", (long long)(k->updated_ms > 0 ? k->updated_ms : wall_ms()));
    snprintf(step, sizeof step, "%lld", (long long)k->step);
    snprintf(outer, sizeof outer, "%lld", (long long)k->outer_steps);
    fmt_double(wall, sizeof wall, k->wall_s);
    snprintf(wver, sizeof wver, "%lld", (long long)k->weights_version);
    char *error = clean_error(k->error);
    if (k->error && !error) return ERR_NO_MEMORY;
    const char *v[16] = {id, k->tenant, pm->shard, k->name, k->source, k->status, k->config_json, created, updated,
                         step, outer, wall, error, k->weights_name, wver, cancel ? "t" : "f"};
    int rc = run(pm->w, "BEGIN", 0, NULL, NULL);
    if (!rc) rc = run(pm->w, UPSERT_SQL, 16, v, NULL);
    free(error);
    if (!rc && k->np) {
        char *s = NULL, *l = NULL, *g = NULL;
        rc = curve_arrays(k, &s, &l, &g);
        const char *cv[4] = {id, s, l, g};
        if (!rc) rc = run(pm->w, CURVE_SQL, 4, cv, NULL);
        free(s);
        free(l);
        free(g);
    }
    if (!rc) rc = run(pm->w, "COMMIT", 0, NULL, NULL);
    else if (PQstatus(pm->w) == CONNECTION_OK) run(pm->w, "ROLLBACK", 0, NULL, NULL);
    return rc;
}

/* A job this daemon's file does not hold: it cannot run here any more. */
static int write_missing(pg_meta_jobs *pm, const char *id)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)wall_ms());
    const char *v[3] = {id, pm->shard, now};
    return run(pm->w,
               "UPDATE optirs_meta_jobs SET status = 'interrupted', updated_ms = $3::bigint,"
               " error = coalesce(error, 'the daemon that ran it has no record of it any more')"
               " WHERE id = $1 AND shard = $2 AND status IN ('queued', 'running')",
               3, v, NULL);
}

/* ---- the tracked jobs (under mu) ------------------------------------------------- */

static track *find_locked(pg_meta_jobs *pm, const char *id)
{
    for (size_t i = 0; i < pm->n; i++)
        if (strcmp(pm->t[i].id, id) == 0) return &pm->t[i];
    return NULL;
}

static track *add_locked(pg_meta_jobs *pm, const char *id)
{
    if (pm->n >= PG_META_JOBS_TRACK_MAX) {
        if (!pm->warned_full)
            fprintf(stderr, "cluster db: more than %d meta jobs to write; the others wait for the re-read\n",
                    PG_META_JOBS_TRACK_MAX);
        pm->warned_full = 1;
        return NULL;
    }
    if (!pm->t) {
        pm->t = calloc(PG_META_JOBS_TRACK_MAX, sizeof *pm->t);   /* 4096 * 80 bytes, once */
        if (!pm->t) return NULL;
    }
    track *t = &pm->t[pm->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    t->pushed = INT64_MIN;
    t->last = -1e9;
    return t;
}

static void remove_locked(pg_meta_jobs *pm, track *t)
{
    size_t i = (size_t)(t - pm->t);
    memmove(pm->t + i, pm->t + i + 1, (pm->n - i - 1) * sizeof *pm->t);
    pm->n--;
}

static void wake(pg_meta_jobs *pm)
{
    char b = 1;
    ssize_t w = write(pm->wake[1], &b, 1);   /* non-blocking: a full pipe already wakes it */
    (void)w;
}

void pg_meta_jobs_touch(pg_meta_jobs *pm, const char *id, int state, int cancel)
{
    if (!pm || !id || !id[0] || strlen(id) > PG_META_JOBS_ID_MAX) return;
    double now = mono_s();
    pthread_mutex_lock(&pm->mu);
    track *t = find_locked(pm, id);
    if (!t) t = add_locked(pm, id);
    int woke = 0;
    if (t) {
        double due = state || cancel ? now : t->last + PG_META_JOBS_FLUSH_S;
        if (due < now) due = now;
        if (!t->dirty || due < t->due) {
            t->due = due;
            woke = 1;
        }
        t->dirty = 1;
        t->urgent |= state || cancel;
        t->cancel |= cancel;
        t->gen++;
    }
    pthread_mutex_unlock(&pm->mu);
    if (woke) wake(pm);
}

static int final_status(const char *s)
{
    return strcmp(s, "queued") != 0 && strcmp(s, "running") != 0;
}

/* Writes the tracked jobs whose write is due (every dirty one with all = 1).
 * 0, or ERR_CLUSTER_DB when the link failed (what was not written stays
 * due). */
static int flush_due(pg_meta_jobs *pm, int all)
{
    for (int pass = 0; pass < 2 * PG_META_JOBS_TRACK_MAX; pass++) {
        double now = mono_s();
        char id[PG_META_JOBS_ID_MAX + 1];
        int cancel = 0, urgent = 0;
        unsigned gen = 0;
        int64_t pushed = INT64_MIN;
        pthread_mutex_lock(&pm->mu);
        track *t = NULL;
        for (size_t i = 0; i < pm->n && !t; i++)
            if (pm->t[i].dirty && (all ? pm->t[i].due < INFINITY : pm->t[i].due <= now)) t = &pm->t[i];
        if (t) {
            snprintf(id, sizeof id, "%s", t->id);
            cancel = t->cancel;
            urgent = t->urgent;
            t->urgent = 0;              /* set again by a touch during the write */
            gen = t->gen;
            pushed = t->pushed;
            if (all) t->due = INFINITY;   /* one attempt each when closing */
        }
        pthread_mutex_unlock(&pm->mu);
        if (!t) return 0;

        pg_meta_jobs_sink k = {0};
        int lrc = pm->load(pm->ctx, id, pushed, &k);
        int rc = 0;
        if (lrc == ERR_NOT_FOUND) rc = write_missing(pm, id);
        else if (!lrc && k.has_row && !k.oom) rc = write_job(pm, id, cancel, &k);
        else lrc = lrc ? lrc : ERR_NO_MEMORY;

        pthread_mutex_lock(&pm->mu);
        t = find_locked(pm, id);
        if (t && rc == ERR_CLUSTER_DB) {
            t->urgent |= urgent;
            pthread_mutex_unlock(&pm->mu);
            sink_free(&k);
            return rc;
        }
        if (t && lrc && lrc != ERR_NOT_FOUND) {
            t->urgent |= urgent;
            if (!all) t->due = now + PG_META_JOBS_FLUSH_S;   /* this file could not be read: later */
        } else if (t) {
            /* Written, or refused over a working link (its reason is logged;
             * retrying the same write would only be refused again). */
            if (!rc && k.np) t->pushed = k.steps[k.np - 1];
            t->last = now;
            if (!rc && k.more) t->due = now;          /* the rest of the curve: next */
            else if (t->gen == gen) {
                t->dirty = 0;
                if (!rc && cancel) t->cancel = 0;
                if (lrc == ERR_NOT_FOUND || rc || final_status(k.status)) remove_locked(pm, t);
            } else if (!t->urgent && t->due < now + PG_META_JOBS_FLUSH_S) {
                t->due = now + PG_META_JOBS_FLUSH_S;   /* progress touched meanwhile: its second */
            }
        }
        pthread_mutex_unlock(&pm->mu);
        sink_free(&k);
    }
    return 0;
}

/* Reads this shard's unfinished rows: hands the ones with a cancel request
 * to the cancel callback and tracks the others it did not track (the
 * restart's reconcile and the fallback for a lost write).  0 or run()'s
 * codes. */
static int reread(pg_meta_jobs *pm)
{
    PGresult *res;
    const char *v[1] = {pm->shard};
    int rc = run(pm->w, "SELECT id, cancel_requested FROM optirs_meta_jobs"
                        " WHERE shard = $1 AND status IN ('queued', 'running') ORDER BY id", 1, v, &res);
    if (rc) return rc;
    int n = PQntuples(res);
    char (*cancel)[PG_META_JOBS_ID_MAX + 1] = n ? calloc((size_t)n, sizeof *cancel) : NULL;
    int nc = 0;
    double now = mono_s();
    pthread_mutex_lock(&pm->mu);
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, i, 0);
        if (strlen(id) > PG_META_JOBS_ID_MAX) continue;   /* the table's CHECK refuses it */
        if (PQgetvalue(res, i, 1)[0] == 't' && cancel) snprintf(cancel[nc++], sizeof cancel[0], "%s", id);
        /* Untracked, or not written for a re-read's time (a job whose
         * progress other processes write into this file, the MPI ranks of
         * meta_launch.h): written again from this file. */
        track *t = find_locked(pm, id);
        if (t && (t->dirty || now - t->last < PG_META_JOBS_REREAD_S)) continue;
        if (!t) t = add_locked(pm, id);
        if (t) {
            t->dirty = 1;
            t->due = now;
        }
    }
    pthread_mutex_unlock(&pm->mu);
    PQclear(res);
    for (int i = 0; i < nc; i++) pm->cancel(pm->ctx, cancel[i]);
    free(cancel);
    return 0;
}

/* ---- the thread ------------------------------------------------------------------ */

static PGconn *connect_listen(pg_meta_jobs *pm, char *err, size_t errn)
{
    PGconn *c = pg_conn_open(pm->target, err, errn);
    if (c && pg_conn_exec(c, "LISTEN " CHANNEL, err, errn) != 0) {
        PQfinish(c);
        c = NULL;
    }
    return c;
}

/* Waits up to s seconds for the connection's socket (fd >= 0) or the pipe;
 * drains the pipe.  1 when the module is stopping. */
static int wait_for(pg_meta_jobs *pm, int fd, double s)
{
    struct pollfd p[2] = {{pm->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
    int ms = s <= 0 ? 0 : s > 3600 ? 3600000 : (int)(s * 1000) + 1;
    if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR) usleep(10000);
    if (p[0].revents & POLLIN) {
        char b[64];
        while (read(pm->wake[0], b, sizeof b) > 0) {}
    }
    pthread_mutex_lock(&pm->mu);
    int stop = pm->stop;
    pthread_mutex_unlock(&pm->mu);
    return stop;
}

static double next_due(pg_meta_jobs *pm)
{
    double d = INFINITY;
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n; i++)
        if (pm->t[i].dirty && pm->t[i].due < d) d = pm->t[i].due;
    pthread_mutex_unlock(&pm->mu);
    return d;
}

static void drop_conn(pg_meta_jobs *pm)
{
    PQfinish(pm->w);
    pm->w = NULL;
}

static void *thread_fn(void *arg)
{
    pg_meta_jobs *pm = arg;
    double next_read = 0;   /* at once: the reconcile */
    for (;;) {
        pthread_mutex_lock(&pm->mu);
        int stop = pm->stop;
        pthread_mutex_unlock(&pm->mu);
        if (stop) break;
        if (!pm->w) {
            if (!(pm->w = connect_listen(pm, NULL, 0))) {
                if (wait_for(pm, -1, 1.0)) break;
                continue;
            }
            next_read = 0;
        }
        /* A notification that came during the last statement is already in
         * libpq's queue, not on the socket: look there before waiting. */
        PGnotify *nt;
        while ((nt = PQnotifies(pm->w)) != NULL) {
            next_read = 0;
            PQfreemem(nt);
        }
        double now = mono_s(), until = next_due(pm);
        if (next_read < until) until = next_read;
        if (until > now && wait_for(pm, PQsocket(pm->w), until - now)) break;
        if (!PQconsumeInput(pm->w)) {
            drop_conn(pm);
            continue;
        }
        while ((nt = PQnotifies(pm->w)) != NULL) {
            next_read = 0;
            PQfreemem(nt);
        }
        if (mono_s() >= next_read) {
            if (reread(pm) == ERR_CLUSTER_DB) {
                drop_conn(pm);
                continue;
            }
            next_read = mono_s() + PG_META_JOBS_REREAD_S;
        }
        if (flush_due(pm, 0) == ERR_CLUSTER_DB) {
            drop_conn(pm);
            if (wait_for(pm, -1, 1.0)) break;   /* back off before reconnecting */
        }
    }
    if (!pm->w) pm->w = pg_conn_open(pm->target, NULL, 0);
    if (pm->w) flush_due(pm, 1);
    return NULL;
}

/* ---- open / close ---------------------------------------------------------------- */

int pg_meta_jobs_open(const char *target, const char *shard, pg_meta_jobs_load load, pg_meta_jobs_cancel cancel,
                      void *ctx, pg_meta_jobs **out, char *err, size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!out) return ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!target || !load || !cancel) return ERR_INVALID_ARGUMENT;
    if (!shard || !shard[0] || strlen(shard) >= PG_META_JOBS_SHARD_MAX) {
        if (err) snprintf(err, errn, "the shard address must be 1 to %d bytes", PG_META_JOBS_SHARD_MAX - 1);
        return ERR_INVALID_ARGUMENT;
    }
    pg_meta_jobs *pm = calloc(1, sizeof *pm);
    if (!pm || !(pm->target = strdup(target))) {
        free(pm);
        return ERR_NO_MEMORY;
    }
    snprintf(pm->shard, sizeof pm->shard, "%s", shard);
    pm->load = load;
    pm->cancel = cancel;
    pm->ctx = ctx;
    pm->wake[0] = pm->wake[1] = -1;
    pthread_mutex_init(&pm->mu, NULL);
    pthread_mutex_init(&pm->rmu, NULL);
    int rc = pipe(pm->wake) != 0 ? ERR_INTERNAL : 0;
    if (!rc && (fcntl(pm->wake[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(pm->wake[1], F_SETFL, O_NONBLOCK) != 0))
        rc = ERR_INTERNAL;
    if (!rc) rc = (pm->r = pg_conn_open(target, err, errn)) ? 0 : ERR_CLUSTER_DB;
    if (!rc) rc = pg_conn_schema(pm->r, err, errn);
    if (!rc) rc = (pm->w = connect_listen(pm, err, errn)) ? 0 : ERR_CLUSTER_DB;
    if (!rc && pthread_create(&pm->thread, NULL, thread_fn, pm) != 0) rc = ERR_INTERNAL;
    if (rc) {
        PQfinish(pm->r);
        PQfinish(pm->w);
        if (pm->wake[0] >= 0) close(pm->wake[0]);
        if (pm->wake[1] >= 0) close(pm->wake[1]);
        pthread_mutex_destroy(&pm->mu);
        pthread_mutex_destroy(&pm->rmu);
        free(pm->target);
        free(pm);
        return rc;
    }
    *out = pm;
    return 0;
}

void pg_meta_jobs_close(pg_meta_jobs *pm)
{
    if (!pm) return;
    pthread_mutex_lock(&pm->mu);
    pm->stop = 1;
    pthread_mutex_unlock(&pm->mu);
    wake(pm);
    pthread_join(pm->thread, NULL);
    PQfinish(pm->w);
    PQfinish(pm->r);
    close(pm->wake[0]);
    close(pm->wake[1]);
    pthread_mutex_destroy(&pm->mu);
    pthread_mutex_destroy(&pm->rmu);
    free(pm->t);
    free(pm->target);
    free(pm);
}

/* ---- the synchronous calls -------------------------------------------------------- */

/* Runs a statement on the read connection, (re)connecting once when the link
 * was lost.  Caller holds rmu.  0 or run()'s codes (reason in err). */
static int rquery(pg_meta_jobs *pm, const char *sql, int n, const char *const *vals, PGresult **out, char *err,
                  size_t errn)
{
    int rc = ERR_CLUSTER_DB;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!pm->r && !(pm->r = pg_conn_open(pm->target, err, errn))) return ERR_CLUSTER_DB;
        rc = run(pm->r, sql, n, vals, out);
        if (rc != ERR_CLUSTER_DB) break;
        if (err) snprintf(err, errn, "%s", PQerrorMessage(pm->r));
        PQfinish(pm->r);
        pm->r = NULL;
    }
    if (rc == ERR_INVALID_ARGUMENT && err && pm->r) snprintf(err, errn, "%s", PQerrorMessage(pm->r));
    if (err) {
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n' || err[l - 1] == ' ')) err[--l] = '\0';
    }
    return rc;
}

static int id_ok(const char *id)
{
    return id && id[0] && strlen(id) <= PG_META_JOBS_ID_MAX;
}

int pg_meta_jobs_insert(pg_meta_jobs *pm, const store_meta_job_row *j)
{
    if (!pm || !j || !id_ok(j->id) || !j->name || !j->source || !j->status || !j->config_json)
        return ERR_INVALID_ARGUMENT;
    pg_meta_jobs_sink k = {0};
    pg_meta_jobs_sink_row(&k, j);
    if (!k.created_ms) k.created_ms = wall_ms();
    if (!k.updated_ms) k.updated_ms = k.created_ms;
    char created[24], step[24], outer[24], wall[32], wver[24];
    snprintf(created, sizeof created, "%lld", (long long)k.created_ms);
    snprintf(step, sizeof step, "%lld", (long long)k.step);
    snprintf(outer, sizeof outer, "%lld", (long long)k.outer_steps);
    fmt_double(wall, sizeof wall, k.wall_s);
    snprintf(wver, sizeof wver, "%lld", (long long)k.weights_version);
    char *error = clean_error(k.error);
    int rc = k.oom || (k.error && !error) ? ERR_NO_MEMORY : 0;
    const char *v[15] = {j->id, k.tenant, pm->shard, k.name, k.source, k.status, k.config_json, created, created,
                         step, outer, wall, error, k.weights_name, wver};
    PGresult *res = NULL;
    pthread_mutex_lock(&pm->rmu);
    if (!rc)
        rc = rquery(pm,
                    "INSERT INTO optirs_meta_jobs (id, tenant, shard, name, source, status, config_json, created_ms,"
                    " updated_ms, step, outer_steps, wall_s, error, weights_name, weights_version)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint, $10::bigint, $11::bigint,"
                    " $12::float8, $13, $14, $15::bigint) ON CONFLICT (id) DO NOTHING RETURNING id",
                    15, v, &res, NULL, 0);
    if (!rc && PQntuples(res) != 1) rc = ERR_STORAGE;   /* that id exists */
    pthread_mutex_unlock(&pm->rmu);
    PQclear(res);
    free(error);
    sink_free(&k);
    return rc;
}

#define ROW_COLS "id, name, source, status, config_json, created_ms, updated_ms, step, outer_steps, wall_s, error," \
                 " weights_name, weights_version, tenant, shard, cancel_requested"

/* Hands fn the rows of res; stops when fn answers non-zero. */
static void hand_rows(PGresult *res, pg_meta_jobs_row_fn fn, void *ctx)
{
    for (int i = 0; i < PQntuples(res); i++) {
        store_meta_job_row j = {
            .id = PQgetvalue(res, i, 0),
            .name = PQgetvalue(res, i, 1),
            .source = PQgetvalue(res, i, 2),
            .status = PQgetvalue(res, i, 3),
            .config_json = PQgetvalue(res, i, 4),
            .created_ms = strtoll(PQgetvalue(res, i, 5), NULL, 10),
            .updated_ms = strtoll(PQgetvalue(res, i, 6), NULL, 10),
            .step = strtoll(PQgetvalue(res, i, 7), NULL, 10),
            .outer_steps = strtoll(PQgetvalue(res, i, 8), NULL, 10),
            .wall_s = strtod(PQgetvalue(res, i, 9), NULL),
            .error = PQgetisnull(res, i, 10) ? NULL : PQgetvalue(res, i, 10),
            .weights_name = PQgetisnull(res, i, 11) ? NULL : PQgetvalue(res, i, 11),
            .weights_version = strtoll(PQgetvalue(res, i, 12), NULL, 10),
            .tenant = PQgetvalue(res, i, 13),
        };
        if (fn(ctx, &j, PQgetvalue(res, i, 14), PQgetvalue(res, i, 15)[0] == 't') != 0) break;
    }
}

int pg_meta_jobs_page(pg_meta_jobs *pm, const char *tenant, int64_t after_ms, const char *after_id, int limit,
                      pg_meta_jobs_row_fn fn, void *ctx, char *err, size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!pm || !fn || limit < 1 || limit > PG_META_JOBS_PAGE_MAX || (after_id && !id_ok(after_id)))
        return ERR_INVALID_ARGUMENT;
    char ms[24], lim[16];
    snprintf(ms, sizeof ms, "%lld", (long long)after_ms);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[4] = {tenant, ms, after_id, lim};
    PGresult *res;
    pthread_mutex_lock(&pm->rmu);
    int rc = rquery(pm,
                    "SELECT " ROW_COLS " FROM optirs_meta_jobs WHERE ($1::text IS NULL OR tenant = $1)"
                    " AND ($3::text IS NULL OR created_ms < $2::bigint OR (created_ms = $2::bigint AND id > $3))"
                    " ORDER BY created_ms DESC, id LIMIT $4::integer",
                    4, v, &res, err, errn);
    pthread_mutex_unlock(&pm->rmu);
    if (rc) return rc;
    hand_rows(res, fn, ctx);
    PQclear(res);
    return 0;
}

int pg_meta_jobs_get(pg_meta_jobs *pm, const char *id, pg_meta_jobs_row_fn fn, void *ctx, char *err, size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!pm || !fn || !id_ok(id)) return ERR_INVALID_ARGUMENT;
    const char *v[1] = {id};
    PGresult *res;
    pthread_mutex_lock(&pm->rmu);
    int rc = rquery(pm, "SELECT " ROW_COLS " FROM optirs_meta_jobs WHERE id = $1", 1, v, &res, err, errn);
    pthread_mutex_unlock(&pm->rmu);
    if (rc) return rc;
    int n = PQntuples(res);
    if (n) hand_rows(res, fn, ctx);
    PQclear(res);
    return n ? 0 : ERR_NOT_FOUND;
}

int pg_meta_jobs_curve(pg_meta_jobs *pm, const char *id,
                       int (*fn)(void *ctx, int64_t step, double meta_loss, double grad_norm), void *ctx, char *err,
                       size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!pm || !fn || !id_ok(id)) return ERR_INVALID_ARGUMENT;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", PG_META_JOBS_CURVE_MAX);
    const char *v[2] = {id, lim};
    PGresult *res;
    pthread_mutex_lock(&pm->rmu);
    int rc = rquery(pm, "SELECT step, meta_loss, grad_norm FROM optirs_meta_curve WHERE job_id = $1"
                        " ORDER BY step LIMIT $2::integer", 2, v, &res, err, errn);
    pthread_mutex_unlock(&pm->rmu);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(res); i++)
        if (fn(ctx, strtoll(PQgetvalue(res, i, 0), NULL, 10), strtod(PQgetvalue(res, i, 1), NULL),
               strtod(PQgetvalue(res, i, 2), NULL)) != 0)
            break;
    PQclear(res);
    return 0;
}

int pg_meta_jobs_request_cancel(pg_meta_jobs *pm, const char *id, char *err, size_t errn)
{
    if (err && errn) err[0] = '\0';
    if (!pm || !id_ok(id)) return ERR_INVALID_ARGUMENT;
    const char *v[1] = {id};
    PGresult *res;
    pthread_mutex_lock(&pm->rmu);
    /* One statement: the flag and the owner's notification commit together. */
    int rc = rquery(pm,
                    "WITH u AS (UPDATE optirs_meta_jobs SET cancel_requested = true"
                    " WHERE id = $1 AND status IN ('queued', 'running') RETURNING shard)"
                    " SELECT EXISTS (SELECT 1 FROM optirs_meta_jobs WHERE id = $1),"
                    " (SELECT count(pg_notify('" CHANNEL "', shard)) FROM u)",
                    1, v, &res, err, errn);
    pthread_mutex_unlock(&pm->rmu);
    if (rc) return rc;
    int found = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return found ? 0 : ERR_NOT_FOUND;
}
