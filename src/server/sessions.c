/* sessions.c — see sessions.h.  The server's hooks of the session registry
 * (service/session.h) and the HTTP form of its answers. */
#include "sessions.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "errors.h"
#include "jwriter.h"
#include "http.h"
#include "live.h"
#include "log.h"
#include "numfmt.h"
#include "session_life.h"
#include "step_codec.h"
#include "study_bind.h"
#include "updbuf.h"

enum { TRIAL_UNKNOWN = 0, TRIAL_RUNNING = 1, TRIAL_PRUNED = 2 };   /* 0: calloc's */

/* A session's attachment: what the server keeps per session. */
typedef struct session_glue {
    app       *app;
    pool_lane  lane;    /* its steps, feedback, reads and delete, in order (pool.h) */
    live_feed *feed;    /* its event streams (live.h) */
    atomic_int trial_pruned;   /* its study trial: TRIAL_UNKNOWN, _RUNNING or _PRUNED (study_bind.h) */
} session_glue;

static void *glue_new(void *ctx)
{
    session_glue *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->app = ctx;
    pool_lane_init(&g->lane);
    g->feed = live_feed_new();
    if (!g->feed) {
        free(g);
        return NULL;
    }
    return g;
}

static void glue_free(void *ctx, void *attach)
{
    (void)ctx;
    session_glue *g = attach;
    live_feed_close(g->feed);
    free(g);
}

/* X-Optirs-Step: the step in decimal (numfmt_i64; every answer of a step
 * sets it, so no printf). */
static void step_header(req *r, int64_t step)
{
    char t[NUMFMT_MAX];
    int n = numfmt_i64(t, step);
    if ((size_t)n >= sizeof r->hdr_step) n = 0;   /* cannot happen: an int64 is at most 20 characters */
    memcpy(r->hdr_step, t, (size_t)n);
    r->hdr_step[n] = '\0';
}

void session_answer_http(req *r, const session_answer *a)
{
    if (a->err == ERR_STEP_CONFLICT) {
        http_resp_error_int(r, a->err, "expected", a->expected, "%s", a->msg);
        return;
    }
    if (a->err) {
        if (a->msg[0]) http_resp_error(r, a->err, "%s", a->msg);
        else http_resp_error(r, a->err, NULL);
        return;
    }
    if (a->encoding == ENC_BINARY) {
        /* float32 as the session holds it: sent from the session's vector,
         * which the answer holds until it is out (updbuf.h) */
        updbuf_hold(a->update);
        http_resp_lend(r, 200, "application/octet-stream", a->update, a->n * sizeof(float), updbuf_put_cb,
                       (void *)(uintptr_t)a->update);
    } else {
        /* JSON, or a 16-bit dtype (encoded into a new buffer, proto/binary.md §8) */
        char *buf;
        size_t len;
        const char *type = "application/json";
        int rc = a->encoding == ENC_JSON ? step_codec_update(a->step, a->update, a->n, a->applied, a->encoding, &buf, &len)
                                         : step_codec_vector(a->update, a->n, a->encoding, &buf, &len, &type);
        if (rc) {
            http_resp_error(r, rc, NULL);
            return;
        }
        http_resp_take(r, 200, type, buf, len);
    }
    step_header(r, a->step);
    r->hdr_not_applied = !a->applied;
}

/* hooks.answer: a parked worker's answer, then its resume. */
static void answer_parked(void *ctx, void *waiter, const session_answer *a)
{
    (void)ctx;
    req *r = waiter;
    session_answer_http(r, a);
    http_resume(r);
}

/* hooks.stepped: the step's counters, event and store job (live.h). */
static void on_stepped(void *ctx, session *s, const step_metric *m, const step_result *res)
{
    app *a = ctx;
    session_glue *g = session_attachment(s);
    live_record_step(g->feed, a->db, session_id(s), session_opt(s), m, res);
    /* a session bound to a trial: its loss is the trial's value at this step */
    const char *trial = session_trial(s);
    if (trial[0] && isfinite(m->loss) && a->studies) {
        int pruned = 0;
        int rc = study_bind_report(a->studies, session_tenant(s), trial, m->step, m->loss, &pruned);
        if (rc) log_msg(LOG_WARN, "session %s: reporting step %lld to trial %s: %s", session_id(s),
                        (long long)m->step, trial, err_message(rc));
        if (pruned) atomic_store(&g->trial_pruned, TRIAL_PRUNED);
    }
}

int sessions_trial_pruned(session *s)
{
    session_glue *g = session_attachment(s);
    return g && atomic_load(&g->trial_pruned) == TRIAL_PRUNED;
}

int sessions_trial_check(session *s)
{
    session_glue *g = session_attachment(s);
    const char *trial = session_trial(s);
    if (!g || !trial[0] || !g->app->studies) return 0;
    if (atomic_load(&g->trial_pruned) == TRIAL_UNKNOWN) {
        int pruned = 0;
        int rc = study_bind_pruned(g->app->studies, session_tenant(s), trial, &pruned);
        if (rc && rc != ERR_NOT_FOUND)   /* a failed read: asked again at the next step */
            log_msg(LOG_WARN, "session %s: reading trial %s: %s", session_id(s), trial, err_message(rc));
        else {
            /* a report may have pruned it meanwhile: never overwrite that */
            int expect = TRIAL_UNKNOWN;
            atomic_compare_exchange_strong(&g->trial_pruned, &expect, pruned ? TRIAL_PRUNED : TRIAL_RUNNING);
        }
    }
    return atomic_load(&g->trial_pruned) == TRIAL_PRUNED;
}

int sessions_open(app *a)
{
    const config *c = &a->cfg;
    sessions_config cfg = {.max_params = c->max_params, .max_session_bytes = c->max_session_bytes,
                           .memory_budget = c->memory_budget, .max_sessions = c->max_sessions,
                           .tenant_max_sessions = c->tenant_max_sessions, .tenant_max_params = c->tenant_max_params,
                           .checkpoint_every = c->checkpoint_every, .checkpoint_interval = c->checkpoint_interval,
                           .step_timeout = c->step_timeout, .snapshot_chunk_bytes = c->snapshot_chunk_bytes};
    sessions_hooks hooks = {.ctx = a, .now_mono = http_now_mono, .now_ms = http_now_ms, .attach_new = glue_new,
                            .attach_free = glue_free, .answer = answer_parked, .stepped = on_stepped};
    return sessions_new(a->db, &cfg, &hooks, &a->reg);
}

void sessions_timer(app *a, double now)
{
    live_tick(a, now);
    sessions_tick(a->reg, now);
    /* The retention policy, once a second at most (session_life.h). */
    static double last_retention;
    if (a->cfg.session_ttl > 0 && now - last_retention >= 1.0) {
        last_retention = now;
        int archived, deleted;
        session_retention(a->reg, http_now_ms(), a->cfg.session_ttl * 1000, &archived, &deleted);
        if (archived || deleted)
            log_msg(LOG_INFO, "retention (--session-ttl %lld s): %d sessions archived, %d deleted",
                   (long long)a->cfg.session_ttl, archived, deleted);
    }
}

void sessions_drain(app *a)
{
    live_drain(a);
    sessions_release_waiters(a->reg);
}

int sessions_final_checkpoint(app *a)
{
    int rc = sessions_checkpoint_all(a->reg);
    live_flush(a);
    int e = store_flush(a->db);
    return rc ? rc : e;
}

struct live_feed *session_live_feed(const session *s)
{
    return ((session_glue *)session_attachment(s))->feed;
}

pool_lane *session_lane(session *s, int *limit)
{
    session_glue *g = session_attachment(s);
    int64_t q = g->app->cfg.compute_session_queue;
    int w = session_workers(s);
    /* Every worker of a shared session must be able to post its gradients. */
    *limit = (int)(q > w ? q : w);
    return &g->lane;
}

typedef struct params_ctx { req *r; int enc; } params_ctx;

/* Encodes the parameters into r, with the session's mutex held. */
static int params_answer(void *ctx, int64_t step, const float *p, size_t n)
{
    params_ctx *c = ctx;
    char *buf = NULL;
    size_t len = 0;
    const char *type = "application/json";
    int rc = c->enc == ENC_JSON ? step_codec_json(step, "params", p, n, &buf, &len)
                                : step_codec_vector(p, n, c->enc, &buf, &len, &type);
    if (rc) http_resp_error(c->r, rc, NULL);
    else {
        http_resp_take(c->r, 200, type, buf, len);
        step_header(c->r, step);
    }
    return rc;
}

void session_params_http(session *s, req *r, int enc)
{
    params_ctx c = {.r = r, .enc = enc};
    session_read_params(s, params_answer, &c);
}
