/* serve.c — optirsd the daemon: configuration, start-up, the libuv loop
 * (signals and timers) and the orderly shutdown.  See serve.h.
 *
 * Start-up: load the configuration, open the store, start HTTP (printing
 * `listening on http://HOST:PORT`, or `unix:///PATH`, as the first line), restore the sessions
 * (readyz answers 503 meanwhile), then serve.  SIGTERM/SIGINT drain: readyz
 * turns 503, no new connections, waiting workers are released, in-flight
 * requests finish (the compute pool runs what it has queued; what is still
 * queued after the drain limit answers shutting_down), every session gets a
 * final checkpoint, exit 0. */
#include <errno.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "errors.h"
#include "http.h"
#include "live.h"
#include "log.h"
#include "meta_jobs.h"
#include "pg_meta_jobs.h"
#include "pool.h"
#include "serve.h"
#include "session.h"
#include "session_life.h"
#include "sessions.h"
#include "study.h"
#include "metasess.h"
#include "store.h"

#define TICK_MS        100
#define DRAIN_POLL_MS  20
#define DRAIN_LIMIT_S  8.0

static app        the_app;
static uv_timer_t tick_timer, drain_timer;
static uv_signal_t sig_term, sig_int, sig_hup;
static double     drain_deadline;

static void on_tick(uv_timer_t *t)
{
    (void)t;
    sessions_timer(&the_app, http_now_mono());
}

static void on_drain_poll(uv_timer_t *t)
{
    /* Workers of shared sessions could wait for peers that can no longer
     * connect: answer them now, then let the other requests finish. */
    sessions_drain(&the_app);
    if (http_inflight() > 0 && http_now_mono() < drain_deadline) return;
    uv_timer_stop(t);
    uv_timer_stop(&tick_timer);
    uv_stop(t->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (signum == SIGHUP) {
        log_msg(LOG_INFO, "SIGHUP: nothing to reopen (logs go to stdout/stderr)");
        return;
    }
    if (atomic_load(&the_app.state) == APP_DRAINING) return;
    log_msg(LOG_INFO, "%s: draining", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&the_app.state, APP_DRAINING);
    http_quiesce(&the_app);
    drain_deadline = http_now_mono() + DRAIN_LIMIT_S;
    uv_timer_start(&drain_timer, on_drain_poll, 0, DRAIN_POLL_MS);
    (void)s;
}

/* mkdir -p of the directory that will hold `path`. */
static int make_parent_dir(const char *path)
{
    char buf[2048];
    size_t len = strlen(path);
    if (len >= sizeof buf) return -1;
    memcpy(buf, path, len + 1);
    char *dir = dirname(buf);
    char part[2048] = "";
    for (char *p = dir; ; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - dir);
            if (n > 0 && n < sizeof part) {
                memcpy(part, dir, n);
                part[n] = '\0';
                if (mkdir(part, 0755) != 0 && errno != EEXIST) return -1;
            }
            if (*p == '\0') break;
        }
    }
    return 0;
}

/* Another daemon created or revoked a key: forget cached keys, and end the
 * event streams of a revoked one. */
static void keys_changed(void *ctx)
{
    (void)ctx;
    auth_invalidate();
    live_revalidate();
}

/* A weights record another daemon stored (already copied into our file):
 * into the registry, so that sessions may name it. */
static int weights_arrived(void *ctx, const store_weights_row *w)
{
    (void)ctx;
    return meta_weights_publish(w);
}

/* ---- the cluster's session index (pg_sessions.h) ---------------------------- */

typedef struct enum_ctx { pg_sessions_emit emit; void *ectx; } enum_ctx;

static void enum_one(void *ctx, session *s)
{
    enum_ctx *e = ctx;
    e->emit(e->ectx, session_id(s), session_tenant(s));
}

/* Every live session of this shard, page by page (the index's reconcile). */
static int enum_local(void *ctx, pg_sessions_emit emit, void *ectx)
{
    sessions *reg = ctx;
    enum_ctx e = {emit, ectx};
    session_filter all = {0};
    char tok[SESSION_PAGE_TOKEN_MAX] = "", next[SESSION_PAGE_TOKEN_MAX];
    for (;;) {
        int k = session_list(reg, &all, tok[0] ? tok : NULL, 1000, enum_one, &e, next);
        if (k < 0) return k;
        if (!next[0]) return 0;
        memcpy(tok, next, sizeof tok);
    }
}

/* A cancel of one of this daemon's jobs asked through another daemon
 * (pg_meta_jobs.h; on the module's thread). */
static void cancel_asked(void *ctx, const char *id)
{
    (void)ctx;
    char state[32];
    int rc = meta_jobs_cancel(id, state, sizeof state);
    if (rc && rc != ERR_NOT_FOUND) log_msg(LOG_WARN, "meta-training job %s: the cluster's cancel failed: %s", id, err_message(rc));
}

/* The address the index names this shard by: --cluster-advertise, else the
 * listen address with the port actually bound. */
static void advertised(const app *a, char *out, size_t n)
{
    const char *colon = strrchr(a->cfg.listen, ':');
    if (a->cfg.cluster_advertise[0]) snprintf(out, n, "%s", a->cfg.cluster_advertise);
    else if (a->listen.is_unix || !colon) snprintf(out, n, "%s", a->cfg.listen);
    else snprintf(out, n, "%.*s:%d", (int)(colon - a->cfg.listen), a->cfg.listen, a->port);
}

static int serve(void)
{
    app *a = &the_app;
    if (make_parent_dir(a->cfg.db) != 0) {
        log_msg(LOG_ERROR, "cannot create the directory of %s: %s", a->cfg.db, strerror(errno));
        return 1;
    }
    if (store_open(a->cfg.db, &a->db) != 0) {
        log_msg(LOG_ERROR, "cannot open the database %s", a->cfg.db);
        return 1;
    }
    if (a->cfg.cluster_db[0]) {
        char err[512];
        int rc = store_cluster_open(a->db, a->cfg.cluster_db, a->cfg.cluster_db_grace, err, sizeof err);
        if (rc) {
            log_msg(LOG_ERROR, "cannot use the cluster database (--cluster-db): %s", err[0] ? err : err_message(rc));
            store_close(a->db);
            return 1;
        }
        store_cluster_on_change(a->db, keys_changed, NULL);
        if ((rc = store_cluster_studies_open(a->db, a->cfg.cluster_db, err, sizeof err)) != 0) {
            log_msg(LOG_ERROR, "cannot use the cluster database's studies (--cluster-db): %s",
                    err[0] ? err : err_message(rc));
            store_close(a->db);
            return 1;
        }
        log_msg(LOG_INFO, "cluster mode: API keys, weights records and studies are shared through the cluster database");
    }
    if (sessions_open(a) != 0) return 1;
    if (study_svc_new(store_study_store(a->db), (int64_t)(a->cfg.trial_heartbeat_timeout * 1000), NULL, &a->studies) != 0) {
        log_msg(LOG_ERROR, "cannot start the study service");
        store_close(a->db);
        return 1;
    }
    if (metasess_svc_new(a->db, (size_t)a->cfg.max_params, (uint64_t)a->cfg.max_session_bytes,
                         (uint64_t)a->cfg.memory_budget, NULL, &a->msess) != 0) {
        log_msg(LOG_ERROR, "cannot load the meta-sessions");
        store_close(a->db);
        return 1;
    }
    int open = auth_open(a);
    if (!open && !auth_keys_ever(a)) {
        log_msg(LOG_ERROR, "no API key exists and %s is not a loopback address: refusing to serve it open. "
                        "Create a key first (optirsd keys create --tenant NAME --admin --db %s) "
                        "or pass --allow-open 1 to serve without keys.", a->cfg.listen, a->cfg.db);
        store_close(a->db);
        return 1;
    }
    atomic_store(&a->state, APP_STARTING);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = a->cfg.threads ? (int)a->cfg.threads : (int)(cores > 0 ? cores : 1);
    int compute = a->cfg.compute_threads ? (int)a->cfg.compute_threads : (int)(cores > 0 ? cores : 1);
    if (pool_start(compute, (int)a->cfg.compute_queue) != 0) {
        log_msg(LOG_ERROR, "cannot start %d compute threads", compute);
        store_close(a->db);
        return 1;
    }
    if (http_start(a, threads, &a->port) != 0) {
        /* No SO_REUSEPORT: a port another process (another optirsd) listens on is refused. */
        if (strncmp(a->cfg.listen, "unix:", 5) == 0)   /* listen.c printed the reason */
            log_msg(LOG_ERROR, "cannot listen on %s", a->cfg.listen);
        else
            log_msg(LOG_ERROR, "cannot listen on %s (is another process, perhaps another optirsd, "
                            "already listening there?)", a->cfg.listen);
        pool_stop();
        store_close(a->db);
        return 1;
    }
    if (a->listen.is_unix) {
        printf("listening on unix://%s\n", a->listen.path);   /* the clients' URL of it */
    } else {
        char host[128];
        snprintf(host, sizeof host, "%.*s", (int)(strrchr(a->cfg.listen, ':') - a->cfg.listen), a->cfg.listen);
        printf("listening on %s://%s:%d\n", a->tls ? "https" : "http", host, a->port);
    }
    fflush(stdout);

    /* Learned-optimizer weights (built-in ones inserted on first start)
     * must be in core's table before sessions that name them come back. */
    int nw = meta_weights_bootstrap(a->db);
    if (nw < 0) log_msg(LOG_ERROR, "cannot load the weights records: %s", err_message(nw));
    if (a->cfg.cluster_db[0]) {
        /* the cluster's records this file lacks, now and on each notification */
        int nc = store_cluster_on_weights(a->db, weights_arrived, NULL);
        if (nc < 0) log_msg(LOG_WARN, "cannot read the cluster's weights records yet (%s): retrying", err_message(nc));
        else log_msg(LOG_INFO, "cluster mode: %d weights records loaded from the cluster database", nc);
    }

    int n = sessions_restore(a->reg);
    if (n < 0) {
        log_msg(LOG_ERROR, "cannot read sessions from %s", a->cfg.db);
        pool_stop();
        http_stop(a);
        store_close(a->db);
        return 1;
    }
    if (a->cfg.cluster_db[0]) {
        char shard[PG_SESSIONS_SHARD_MAX], err[512];
        advertised(a, shard, sizeof shard);
        int rc = store_cluster_sessions_open(a->db, a->cfg.cluster_db, shard, enum_local, a->reg, err, sizeof err);
        if (rc) {
            log_msg(LOG_ERROR, "cannot open the cluster's session index (--cluster-db): %s",
                    err[0] ? err : err_message(rc));
            pool_stop();
            http_stop(a);
            store_close(a->db);
            return 1;
        }
        log_msg(LOG_INFO, "cluster mode: this shard's sessions are indexed as %s", shard);
    }
    printf("restored %d sessions from %s; ready (%d threads, %d compute threads)\n", n, a->cfg.db, threads, compute);
    if (open)
        printf("no API keys: open access (%s); the first key created closes it\n",
               a->listen.is_unix ? "unix socket only" : auth_loopback(a->cfg.listen) ? "loopback only" : "--allow-open");
    else printf("API keys required (Authorization: Bearer KEY)\n");
    int64_t active = 0;
    if (!open && store_keys_active(a->db, &active) == 0 && active == 0)
        log_msg(LOG_WARN, "every API key is revoked, so every request is refused (a daemon that had keys "
                        "never serves open again); create one with: optirsd keys create --tenant NAME --admin --db %s\n",
                a->cfg.db);
    fflush(stdout);
    /* Before "ready": POST /v1/meta/jobs needs the queue (on the loop, which runs below). */
    if (meta_jobs_start(a, uv_default_loop()) != 0) log_msg(LOG_ERROR, "meta-training jobs are unavailable");
    if (a->cfg.cluster_db[0]) {
        /* After meta_jobs_start marked this file's unfinished jobs: the
         * module's first re-read writes them to this shard's rows. */
        char shard[PG_META_JOBS_SHARD_MAX], err[512];
        advertised(a, shard, sizeof shard);
        int rc = store_cluster_meta_open(a->db, a->cfg.cluster_db, shard, cancel_asked, NULL, err, sizeof err);
        if (rc) {
            log_msg(LOG_ERROR, "cannot open the cluster's meta jobs (--cluster-db): %s", err[0] ? err : err_message(rc));
            meta_jobs_stop();
            pool_stop();
            http_stop(a);
            store_close(a->db);
            return 1;
        }
        log_msg(LOG_INFO, "cluster mode: meta-training jobs are recorded in the cluster database as %s's", shard);
    }
    atomic_store(&a->state, APP_READY);

    uv_loop_t *loop = uv_default_loop();
    uv_timer_init(loop, &tick_timer);
    uv_timer_init(loop, &drain_timer);
    uv_timer_start(&tick_timer, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    uv_run(loop, UV_RUN_DEFAULT);

    meta_jobs_stop();   /* a running meta-training job stops after its outer step ("interrupted") */

    /* Running steps finish (and are answered); queued ones answer
     * shutting_down.  Before the waiters' release (no job can park another
     * one after it) and before http_stop (every suspended request resumed). */
    pool_stop();
    sessions_drain(a);
    http_stop(a);
    int rc = sessions_final_checkpoint(a);
    store_cluster_sessions_close(a->db);   /* its thread reads the registry */
    sessions_free(a->reg);
    a->reg = NULL;
    study_svc_free(a->studies);
    a->studies = NULL;
    metasess_svc_free(a->msess);
    a->msess = NULL;
    store_close(a->db);
    a->db = NULL;
    printf("stopped%s\n", rc ? " (the final checkpoint failed)" : "");
    uv_close((uv_handle_t *)&tick_timer, NULL);
    uv_close((uv_handle_t *)&drain_timer, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return rc ? 1 : 0;
}

int serve_main(int argc, char **argv)
{
    int rc = config_load(&the_app.cfg, argc, argv);
    if (rc == 1) {
        config_print_help(&the_app.cfg, stdout);
        return 0;
    }
    if (rc != 0) return 2;
    if (log_setup(the_app.cfg.log_level, the_app.cfg.log_format) != 0) return 2;   /* config_load checked the words */
    /* One malloc arena for the whole daemon, set before any thread starts.
     * With glibc's default (one arena per thread that allocates, up to 8 per
     * core), a step body allocated by an HTTP thread, a snapshot encoded by
     * a compute thread and freed by the store's writer each leave free
     * blocks in their own arena that no other thread reuses: a session of
     * Adam held ~36 bytes per parameter instead of its 20 (bench/README.md,
     * daemon_rss_per_param_1e6).  Steps allocate nothing (opt.h), so the
     * one arena's lock is taken per request, not per parameter. */
    mallopt(M_ARENA_MAX, 1);
    return serve();
}
