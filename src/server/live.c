/* live.c — see live.h.
 *
 * Locking (lock order: hub.mu, then a feed's mu, then a stream's mu):
 *  - hub.mu guards the list of every stream (live_tick, live_revalidate,
 *    live_drain, /metrics and opening a stream take it; a step never does).
 *  - a feed's mu guards its session's stream list; a step takes it only when
 *    the feed has streams (f->nstreams > 0).
 *  - a stream's mu guards its queue and flags.  Its connection is suspended
 *    and resumed only with its mu held, so a resume can never overtake the
 *    suspend it answers.
 * libmicrohttpd's free callback (stream_free_cb) takes no lock: it only marks
 * the stream closed and drops its reference; live_tick takes it off its
 * feed's and the hub's lists and drops theirs.  A closed stream is never
 * suspended (libmicrohttpd closes only connections it is processing), so
 * nothing resumes a dead connection.  The read callback lets go of the
 * stream's mu while it re-checks the stream's reader (a session lookup and
 * maybe a store read), and takes it again before it decides what to send or
 * suspends.
 * A step's metrics row and its extras go to the store as one queued job
 * (store_step_record); what waits for the batched rollup refresh is only
 * (id, step), on a lock-free stack (steps push, live_flush takes the whole
 * stack at once and restores the order). */
#include "live.h"

#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "errors.h"
#include "jwriter.h"
#include "sessions.h"

struct live_feed {
    _Atomic int     refs;         /* the session's and one per listed stream */
    atomic_int      nstreams;     /* streams listed below (read without mu) */
    pthread_mutex_t mu;
    struct stream **v;            /* the streams of this session */
    int             n, cap;
};

typedef struct stream {
    pthread_mutex_t mu;
    _Atomic int refs;
    _Atomic int closed;           /* libmicrohttpd is done with it */
    _Atomic int recheck;          /* read the key again before the next event */
    struct MHD_Connection *conn;
    app     *app;
    live_feed *feed;              /* NULL until listed */
    principal who;                /* who opened it (re-checked, see stream_allowed) */
    double   key_checked;         /* monotonic time of the last key read; the read callback's */
    char     id[40];
    int      suspended;
    int      ping;
    int64_t  dropped;
    char    *q[LIVE_STREAM_QUEUE]; /* ring of formatted events */
    int      qhead, qlen;
    char    *cur;                 /* event being written */
    size_t   cur_len, cur_off;
} stream;

typedef struct xrow { struct xrow *next; char id[40]; store_analytics_row r; } xrow;

static struct {
    pthread_mutex_t mu;
    atomic_int draining;
    stream **v;
    int      n, cap;
    double   last_ping, last_check;
    _Atomic(xrow *) rows;         /* extras waiting for the store, newest first */
    atomic_size_t nrows;
    _Atomic uint64_t dropped_rows;
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* steps by optimizer (registry index) */
#define LIVE_MAX_OPT 64
static _Atomic uint64_t steps_by_opt[LIVE_MAX_OPT];
static _Atomic uint64_t step_ns_by_opt[LIVE_MAX_OPT];   /* the optimizer part of each step (duration_us) */
static _Atomic uint64_t adapted_steps;

static void stream_put(stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (int i = 0; i < s->qlen; i++) free(s->q[(s->qhead + i) % LIVE_STREAM_QUEUE]);
    free(s->cur);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- feeds -------------------------------------------------------------- */

live_feed *live_feed_new(void)
{
    live_feed *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    atomic_init(&f->nstreams, 0);
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

static void feed_put(live_feed *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1) return;
    free(f->v);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void live_feed_close(live_feed *f) { feed_put(f); }

/* Lists s in f (hub.mu held).  0 or ERR_NO_MEMORY. */
static int feed_add(live_feed *f, stream *s)
{
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 4;
        stream **v = realloc(f->v, (size_t)cap * sizeof *v);
        if (!v) rc = ERR_NO_MEMORY;
        else { f->v = v; f->cap = cap; }
    }
    if (!rc) {
        f->v[f->n++] = s;
        atomic_fetch_add(&f->refs, 1);
        atomic_store(&f->nstreams, f->n);
        s->feed = f;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Takes s off its feed's list and drops the feed reference it held (hub.mu
 * held). */
static void feed_remove(stream *s)
{
    live_feed *f = s->feed;
    if (!f) return;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++)
        if (f->v[i] == s) {
            f->v[i] = f->v[--f->n];
            break;
        }
    atomic_store(&f->nstreams, f->n);
    pthread_mutex_unlock(&f->mu);
    s->feed = NULL;
    feed_put(f);
}

/* ---- formatting --------------------------------------------------------- */

/* "id: k\nevent: step\ndata: {...}\n\n" for one step; NULL on failure. */
char *live_format_event(const step_metric *m, double cos, double ratio, double mult)
{
    static const char *const keys[] = {"loss", "grad_norm", "update_norm", "param_norm", "lr",
                                       "update_cos", "update_ratio", "lr_mult"};
    const double v[] = {m->loss, m->grad_norm, m->update_norm, m->param_norm, m->lr, cos, ratio, mult};
    jwriter w;
    jw_init(&w, LIVE_EVENT_MAX);
    jw_lit(&w, "id: ");
    jw_i64(&w, m->step);
    jw_lit(&w, "\nevent: step\ndata: {\"step\":");
    jw_i64(&w, m->step);
    jw_lit(&w, ",\"time_ms\":");
    jw_i64(&w, m->time_ms);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        jw_lit(&w, ",");
        jw_key(&w, keys[i]);
        jw_num_or_null(&w, v[i], 9);
    }
    jw_lit(&w, "}\n\n");
    return jw_take(&w, NULL);
}

/* ---- streams ------------------------------------------------------------ */

/* Appends an event to a stream (s->mu held); takes ev. */
static void stream_push(stream *s, char *ev)
{
    if (s->qlen == LIVE_STREAM_QUEUE) {
        free(s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % LIVE_STREAM_QUEUE;
        s->qlen--;
        s->dropped++;
    }
    s->q[(s->qhead + s->qlen) % LIVE_STREAM_QUEUE] = ev;
    s->qlen++;
}

/* Resumes a suspended stream (s->mu held). */
static void stream_wake(stream *s)
{
    if (!s->suspended || atomic_load(&s->closed)) return;
    s->suspended = 0;
    MHD_resume_connection(s->conn);
}

/* Whether the stream's reader may still read it (called before every event
 * and heartbeat, without s->mu): its session still exists and belongs to
 * its tenant (or it is an admin's), and its key is still active with the
 * same tenant and rights — read from the store at most once per
 * LIVE_RECHECK_S (as auth's cache does for requests) and at once after
 * live_revalidate.  A stream opened in open mode (no key) ends once the
 * daemon is no longer open. */
static int stream_allowed(stream *s)
{
    app *a = s->app;
    if (!a) return 1;                  /* a stream without an app (tests) */
    session *se = a->reg ? sessions_get(a->reg, s->id) : NULL;
    if (!se) return 0;
    int ok = s->who.admin || strcmp(session_tenant(se), s->who.tenant) == 0;
    session_unref(se);
    if (!ok) return 0;
    double now = http_now_mono();
    if (!atomic_exchange(&s->recheck, 0) && now - s->key_checked < LIVE_RECHECK_S) return 1;
    s->key_checked = now;
    if (!s->who.key_id[0]) return auth_open(a);
    store_key k;
    if (store_key_get(a->db, s->who.key_id, &k) != 0) return 0;   /* gone, or unreadable: closed */
    return !k.revoked_ms && !k.admin == !s->who.admin && strcmp(k.tenant, s->who.tenant) == 0;
}

static ssize_t stream_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->cur && s->cur_off < s->cur_len) {
            size_t n = s->cur_len - s->cur_off;
            if (n > max) n = max;
            memcpy(buf, s->cur + s->cur_off, n);
            s->cur_off += n;
            pthread_mutex_unlock(&s->mu);
            return (ssize_t)n;
        }
        free(s->cur);
        s->cur = NULL;
        /* between events: may the reader still read? (the store read is
         * done without s->mu, which every step of its session takes) */
        pthread_mutex_unlock(&s->mu);
        int allowed = stream_allowed(s);
        pthread_mutex_lock(&s->mu);
        if (!allowed) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->dropped) {
            jwriter w;
            jw_init(&w, 64);
            jw_lit(&w, "event: dropped\ndata: {\"dropped\":");
            jw_i64(&w, s->dropped);
            jw_lit(&w, "}\n\n");
            s->cur = jw_take(&w, NULL);
            s->dropped = 0;
        } else if (s->qlen) {
            s->cur = s->q[s->qhead];
            s->qhead = (s->qhead + 1) % LIVE_STREAM_QUEUE;
            s->qlen--;
        } else if (atomic_load(&hub.draining)) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        } else if (s->ping) {
            s->ping = 0;
            s->cur = strdup(": ping\n\n");
        } else {
            s->suspended = 1;
            MHD_suspend_connection(s->conn);
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
        if (!s->cur) {   /* out of memory: end the stream */
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        s->cur_len = strlen(s->cur);
        s->cur_off = 0;
    }
}

static void stream_free_cb(void *cls)
{
    stream *s = cls;
    atomic_store(&s->closed, 1);
    stream_put(s);
}

typedef struct backlog_ctx { stream *s; int err; } backlog_ctx;

static int backlog_row(void *ctx, const step_metric *m)
{
    backlog_ctx *c = ctx;
    char *ev = live_format_event(m, NAN, m->param_norm > 0 ? m->update_norm / m->param_norm : NAN, NAN);
    if (!ev) { c->err = 1; return 1; }
    stream_push(c->s, ev);
    return 0;
}

int live_stream_open(req *r, live_feed *f, const char *id, int64_t after, int backlog)
{
    stream *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->refs, 2);   /* the hub and the response */
    s->conn = r->conn;
    s->app = r->app;
    s->who = r->who;
    s->key_checked = http_now_mono();   /* the request was just authenticated */
    snprintf(s->id, sizeof s->id, "%s", id);
    s->cur = strdup("retry: 2000\n\n");
    s->cur_len = s->cur ? strlen(s->cur) : 0;
    /* The backlog is read before the stream is listed; steps that land in
     * between come live (a step may then arrive twice; its id says so). */
    int rc = live_flush(r->app);
    if (!rc) rc = store_flush(r->app->db);
    if (!rc && backlog > 0) {
        backlog_ctx c = {.s = s};
        rc = store_metrics_query(r->app->db, id, after, backlog, backlog_row, &c);
        if (!rc && c.err) rc = ERR_NO_MEMORY;
    }
    pthread_mutex_lock(&hub.mu);
    if (!rc && hub.n == hub.cap) {
        int cap = hub.cap ? hub.cap * 2 : 16;
        stream **v = realloc(hub.v, (size_t)cap * sizeof *v);
        if (!v) rc = ERR_NO_MEMORY;
        else { hub.v = v; hub.cap = cap; }
    }
    if (!rc) rc = f ? feed_add(f, s) : ERR_INTERNAL;
    if (!rc) hub.v[hub.n++] = s;
    pthread_mutex_unlock(&hub.mu);
    if (rc) {
        atomic_store(&s->refs, 1);
        stream_put(s);
        return rc;
    }
    http_resp_stream(r, 200, "text/event-stream", stream_read_cb, s, stream_free_cb);
    return 0;
}

/* ---- recording ------------------------------------------------------------ */

/* Queues (id, step) for live_flush's rollup refresh (lock-free).  0, or -1
 * when the queue is full or memory is out. */
static int rows_push(const char *id, const step_metric *m)
{
    if (atomic_fetch_add(&hub.nrows, 1) >= LIVE_BUFFER_MAX) {
        atomic_fetch_sub(&hub.nrows, 1);
        return -1;
    }
    xrow *w = malloc(sizeof *w);
    if (!w) {
        atomic_fetch_sub(&hub.nrows, 1);
        return -1;
    }
    size_t n = strnlen(id, sizeof w->id - 1);   /* as snprintf("%s") would cut it, without printf */
    memcpy(w->id, id, n);
    w->id[n] = '\0';
    w->r = (store_analytics_row){.id = NULL, .step = m->step};
    w->next = atomic_load(&hub.rows);
    while (!atomic_compare_exchange_weak(&hub.rows, &w->next, w)) {}
    return 0;
}

/* live_record_step's body, from the parts of step_run's result. */
static void record(live_feed *f, store *db, const char *id, const opt *o, const step_metric *m, const analytics_step *x,
                   double lr_mult, const opt_diag_value *diag, int ndiag)
{
    for (int i = 0; i < opt_registry_count() && i < LIVE_MAX_OPT; i++)
        if (opt_registry_at(i) == o->vt) {
            atomic_fetch_add_explicit(&steps_by_opt[i], 1, memory_order_relaxed);
            if (isfinite(m->duration_us) && m->duration_us > 0)
                atomic_fetch_add_explicit(&step_ns_by_opt[i], (uint64_t)(m->duration_us * 1e3), memory_order_relaxed);
            break;
        }
    if (isfinite(lr_mult)) atomic_fetch_add_explicit(&adapted_steps, 1, memory_order_relaxed);
    double cos = x ? x->update_cos : NAN, ratio = x ? x->update_ratio : NAN;
    /* the session's streams: only when it has any */
    if (f && atomic_load(&f->nstreams) > 0) {
        pthread_mutex_lock(&f->mu);
        for (int i = 0; i < f->n; i++) {
            stream *s = f->v[i];
            if (atomic_load(&s->closed)) continue;
            char *ev = live_format_event(m, cos, ratio, lr_mult);
            if (!ev) continue;
            pthread_mutex_lock(&s->mu);
            stream_push(s, ev);
            stream_wake(s);
            pthread_mutex_unlock(&s->mu);
        }
        pthread_mutex_unlock(&f->mu);
    }
    /* One queued job carries the step's metrics row and its extras as
     * numbers (the writer thread formats their JSON); the stack keeps only
     * (id, step) for the batched rollup refresh. */
    store_step_extras ex = {.update_cos = cos, .update_ratio = ratio, .lr_mult = lr_mult, .stats = x,
                            .lay = &o->lay, .diag = diag, .ndiag = ndiag};
    if (db) store_step_record(db, id, m, &ex);
    if (rows_push(id, m) != 0) atomic_fetch_add(&hub.dropped_rows, 1);
}

void live_record_step(live_feed *f, store *db, const char *id, const opt *o, const step_metric *m,
                      const step_result *res)
{
    record(f, db, id, o, m, res->has_stats ? &res->stats : NULL, res->lr_mult, res->diag, res->ndiag);
}

int live_flush(app *a)
{
    /* take the whole stack; it is newest first: reverse it into b */
    xrow *head = atomic_exchange(&hub.rows, NULL);
    size_t n = 0;
    for (xrow *w = head; w; w = w->next) n++;
    if (!n) return 0;
    atomic_fetch_sub(&hub.nrows, n);
    xrow **b = malloc(n * sizeof *b);
    if (!b) {
        atomic_fetch_add(&hub.dropped_rows, n);
        while (head) {
            xrow *next = head->next;
            free(head);
            head = next;
        }
        return ERR_NO_MEMORY;
    }
    size_t k = n;
    for (xrow *w = head; w; w = w->next) b[--k] = w;
    store_analytics_row *rows = malloc(n * sizeof *rows);
    int rc = rows ? 0 : ERR_NO_MEMORY;
    if (rows) {
        for (size_t i = 0; i < n; i++) {
            rows[i] = b[i]->r;
            rows[i].id = b[i]->id;
        }
        rc = a->db ? store_analytics_refresh(a->db, rows, n) : 0;
    }
    if (rc) atomic_fetch_add(&hub.dropped_rows, n);
    for (size_t i = 0; i < n; i++) free(b[i]);
    free(rows);
    free(b);
    return rc;
}

void live_tick(app *a, double now)
{
    live_flush(a);
    pthread_mutex_lock(&hub.mu);
    int ping = now - hub.last_ping >= LIVE_HEARTBEAT_S;
    if (ping) hub.last_ping = now;
    /* idle streams wake to re-check their key and session (stream_allowed) */
    int check = now - hub.last_check >= LIVE_RECHECK_S;
    if (check) hub.last_check = now;
    int k = 0;
    for (int i = 0; i < hub.n; i++) {
        stream *s = hub.v[i];
        if (atomic_load(&s->closed)) {
            feed_remove(s);
            stream_put(s);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        if (ping) s->ping = 1;
        if (ping || check) stream_wake(s);
        pthread_mutex_unlock(&s->mu);
        hub.v[k++] = s;
    }
    hub.n = k;
    pthread_mutex_unlock(&hub.mu);
}

void live_revalidate(void)
{
    pthread_mutex_lock(&hub.mu);
    for (int i = 0; i < hub.n; i++) {
        stream *s = hub.v[i];
        atomic_store(&s->recheck, 1);
        pthread_mutex_lock(&s->mu);
        stream_wake(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&hub.mu);
}

void live_drain(app *a)
{
    (void)a;
    atomic_store(&hub.draining, 1);
    pthread_mutex_lock(&hub.mu);
    for (int i = 0; i < hub.n; i++) {
        stream *s = hub.v[i];
        pthread_mutex_lock(&s->mu);
        stream_wake(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&hub.mu);
}

char *live_prom_text(void)
{
    jwriter w;
    jw_init(&w, 64u << 10);
    static const char *const kinds[] = {"classic", "learned", "hybrid"};
    jw_lit(&w, "# HELP optirs_optimizer_steps_total Steps applied, by optimizer and kind.\n"
               "# TYPE optirs_optimizer_steps_total counter\n");
    for (int i = 0; i < opt_registry_count() && i < LIVE_MAX_OPT; i++) {
        const opt_vtbl *vt = opt_registry_at(i);
        int kd = (int)vt->kind;
        jw_printf(&w, "optirs_optimizer_steps_total{optimizer=\"%s\",kind=\"%s\"} %llu\n", vt->name,
                  kd >= 0 && kd < 3 ? kinds[kd] : "other", (unsigned long long)atomic_load(&steps_by_opt[i]));
    }
    jw_lit(&w, "# HELP optirs_optimizer_step_seconds_total Time of the optimizer part of the steps (step_run), by "
               "optimizer; over optirs_optimizer_steps_total, the mean per step.\n"
               "# TYPE optirs_optimizer_step_seconds_total counter\n");
    for (int i = 0; i < opt_registry_count() && i < LIVE_MAX_OPT; i++)
        jw_printf(&w, "optirs_optimizer_step_seconds_total{optimizer=\"%s\"} %.9f\n", opt_registry_at(i)->name,
                  (double)atomic_load(&step_ns_by_opt[i]) * 1e-9);
    pthread_mutex_lock(&hub.mu);
    int nstreams = hub.n;
    pthread_mutex_unlock(&hub.mu);
    jw_printf(&w,
              "# HELP optirs_adapted_steps_total Steps whose learning rate was adapted online.\n"
              "# TYPE optirs_adapted_steps_total counter\noptirs_adapted_steps_total %llu\n"
              "# HELP optirs_event_streams Open Server-Sent Event streams.\n"
              "# TYPE optirs_event_streams gauge\noptirs_event_streams %d\n"
              "# HELP optirs_analytics_rows_dropped_total Step analytics rows that could not be stored.\n"
              "# TYPE optirs_analytics_rows_dropped_total counter\noptirs_analytics_rows_dropped_total %llu\n",
              (unsigned long long)atomic_load(&adapted_steps), nstreams,
              (unsigned long long)atomic_load(&hub.dropped_rows));
    return jw_take(&w, NULL);
}
