/* sessions.c — see sessions.h.  The registry, session lifetime and the
 * step protocol around the service modules; the timers and the shutdown
 * are in sessions_timers.c, the shared definitions in sessions_internal.h. */
#include "sessions.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "errors.h"
#include "store.h"
#include "analytics.h"
#include "step.h"
#include "jwriter.h"
#include "meta_weights.h"
#include "pool.h"
#include "rollback.h"
#include "snapshot.h"
#include "step_codec.h"
#include "step_seq.h"
#include "registry.h"
#include "sessions_internal.h"

/* Copies the described fields to s->info.  Called with s->mu held, or
 * before the session is shared. */
static void session_publish(session *s)
{
    pthread_mutex_lock(&s->info_mu);
    s->info.step = s->step;
    s->info.saved_step = s->saved_step;
    s->info.rolled_back_to = s->rolled_back_to;
    s->info.last_loss = s->last_loss;
    memcpy(s->info.status, s->status, sizeof s->info.status);
    memcpy(s->info.reason, s->reason, sizeof s->info.reason);
    s->info.npend = s->g.npend;
    pthread_mutex_unlock(&s->info_mu);
}

void session_unlock(session *s)
{
    session_publish(s);
    pthread_mutex_unlock(&s->mu);
}

/* ---- snapshots ---------------------------------------------------------- */

/* A view of s's state for the snapshot codec (snapshot.h). */
static snapshot_state snapshot_view(session *s)
{
    return (snapshot_state){.n = s->sp.lay.n, .step = s->step, .last_loss = s->last_loss, .best_loss = s->best_loss,
                            .last_applied = s->last_applied, .params = s->params, .last_update = s->last_update,
                            .o = &s->o, .ad = &s->ad, .es = &s->es};
}

static int snapshot_encode_session(session *s, uint8_t **out, size_t *len)
{
    snapshot_state st = snapshot_view(s);
    return snapshot_encode(&st, out, len);
}

/* Copies back to s what a decode (whose result is rc) read into st.  As
 * before the codec moved to service/, the scalar fields read before an
 * error stay written; the step (and its saved/durable marks) changes only
 * on success. */
static int session_take_state(session *s, const snapshot_state *st, int rc)
{
    s->last_loss = st->last_loss;
    s->best_loss = st->best_loss;
    s->last_applied = st->last_applied;
    if (rc) return rc;
    s->es_dirty = 0;
    s->step = s->saved_step = s->durable_step = st->step;
    return 0;
}

/* Reads a snapshot back into s (restart). */
static int snapshot_decode_session(session *s, const void *data, size_t len)
{
    snapshot_state st = snapshot_view(s);
    return session_take_state(s, &st, snapshot_decode(&st, data, len));
}

/* The session's last stored state read back into s (rollback.h). */
static int rollback_session(session *s, int flush)
{
    snapshot_state st = snapshot_view(s);
    return session_take_state(s, &st, rollback_load(s->app->db, s->id, flush, &st));
}

int session_snapshot_save(session *s, int wait)
{
    uint8_t *buf;
    size_t len;
    int rc = snapshot_encode_session(s, &buf, &len);
    if (rc) return rc;
    rc = store_snapshot_put_owned(s->app->db, s->id, s->step, buf, len, wait);
    if (rc) return rc;
    s->saved_step = s->step;
    s->saved_time = http_now_mono();
    s->es_dirty = 0;
    if (wait) s->durable_step = s->step;
    return 0;
}

/* ---- lifetime ----------------------------------------------------------- */

static void session_free(session *s)
{
    if (!s) return;
    if (s->reserved) budget_release(s->app->reg->budget, s->sp.tenant, s->reserved_bytes, (int64_t)s->sp.lay.n);
    adapt_deinit(&s->ad);
    online_es_deinit(&s->es);
    opt_deinit(&s->o);
    spec_deinit(&s->sp);
    free(s->meta_json);
    free(s->params);
    free(s->last_update);
    free(s->spare);
    gather_deinit(&s->g);
    free(s->pend_req);
    free(s->pend_enc);
    live_feed_close(s->feed);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->info_mu);
    free(s);
}

void session_put(session *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) session_free(s);
}

/* Builds a session from a parsed spec (taking sp's contents). */
static int session_build(app *a, spec *sp, session **out)
{
    session *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->info_mu, NULL);
    atomic_init(&s->refs, 1);
    pool_lane_init(&s->lane);
    s->app = a;
    s->sp = *sp;
    memset(sp, 0, sizeof *sp);
    size_t n = s->sp.lay.n;
    s->sp.ocfg.weights = s->sp.weights[0] ? s->sp.weights : NULL;
    s->last_loss = NAN;
    s->best_loss = NAN;
    s->last_applied = 1;
    s->rolled_back_to = -1;
    snprintf(s->status, sizeof s->status, "active");
    s->params = s->sp.params ? s->sp.params : calloc(n, sizeof(float));
    s->sp.params = NULL;
    s->last_update = calloc(n, sizeof(float));
    s->spare = calloc(n, sizeof(float));
    s->feed = live_feed_new();
    int rc = (!s->params || !s->last_update || !s->spare || !s->feed) ? ERR_NO_MEMORY : 0;
    if (!rc && s->sp.workers > 1) {
        size_t k = (size_t)s->sp.workers;
        rc = gather_init(&s->g, s->sp.workers, n);
        s->pend_req = calloc(k, sizeof(req *));
        s->pend_enc = calloc(k, sizeof(int));
        if (!s->pend_req || !s->pend_enc) rc = ERR_NO_MEMORY;
    }
    if (!rc) {
        meta_weights_lock();
        rc = opt_init(&s->o, &s->sp.ocfg, &s->sp.lay);
        meta_weights_unlock();
        if (!rc && s->sp.adapt.lr != ADAPT_LR_NONE && (rc = adapt_init(&s->ad, &s->sp.adapt, &s->o)) != 0)
            opt_deinit(&s->o);
        if (!rc && s->sp.learner.enabled && (rc = online_es_init(&s->es, &s->sp.learner, &s->sp.lay)) != 0) {
            adapt_deinit(&s->ad);
            opt_deinit(&s->o);
        }
    }
    if (rc) {
        /* opt_init failed: nothing to deinit in o */
        memset(&s->o, 0, sizeof s->o);
        session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void new_id(char *out)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* getrandom on Linux does not fail for 16 bytes once seeded; fall back
         * to a clock-derived value rather than an all-zero id. */
        uint64_t t = (uint64_t)http_now_ms() ^ ((uint64_t)(uintptr_t)out << 17);
        for (int i = 0; i < 16; i++) b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)i;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
}

/* ---- registry ----------------------------------------------------------- */

static const char *session_key(const void *item) { return ((const session *)item)->id; }

int sessions_new(app *a, sessions **out)
{
    sessions *reg = calloc(1, sizeof *reg);
    if (!reg) return ERR_NO_MEMORY;
    if (budget_new((uint64_t)a->cfg.memory_budget, a->cfg.max_sessions, a->cfg.tenant_max_sessions,
                   a->cfg.tenant_max_params, &reg->budget) != 0) {
        free(reg);
        return ERR_NO_MEMORY;
    }
    reg->app = a;
    store_set_chunk_bytes(a->db, (size_t)a->cfg.snapshot_chunk_bytes);
    registry_init(&reg->ids, session_key);
    pthread_rwlock_init(&reg->lock, NULL);
    atomic_init(&reg->npending, 0);
    reg->last_ckpt_scan = http_now_mono();
    *out = reg;
    return 0;
}

void sessions_free(sessions *reg)
{
    if (!reg) return;
    for (int i = 0; i < reg->ids.n; i++) session_put(reg->ids.v[i]);
    registry_deinit(&reg->ids);
    budget_free(reg->budget);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

static int registry_add(sessions *reg, session *s)
{
    pthread_rwlock_wrlock(&reg->lock);
    int rc = registry_insert(&reg->ids, s);
    pthread_rwlock_unlock(&reg->lock);
    return rc;
}

session *sessions_get(sessions *reg, const char *id)
{
    pthread_rwlock_rdlock(&reg->lock);
    session *s = registry_find(&reg->ids, id);
    if (s) atomic_fetch_add(&s->refs, 1);
    pthread_rwlock_unlock(&reg->lock);
    return s;
}

int sessions_count(sessions *reg)
{
    pthread_rwlock_rdlock(&reg->lock);
    int n = reg->ids.n;
    pthread_rwlock_unlock(&reg->lock);
    return n;
}

int sessions_list(sessions *reg, const char *tenant, const char *after, int limit,
                  void (*fn)(void *ctx, session *s), void *ctx)
{
    /* Take references under the lock, describe outside it. */
    session **pick = calloc((size_t)limit + 1, sizeof *pick);
    if (!pick) return ERR_NO_MEMORY;
    int k = 0;
    pthread_rwlock_rdlock(&reg->lock);
    int i = after ? registry_lower_bound(&reg->ids, after) : 0;
    if (after && registry_find(&reg->ids, after)) i++;
    for (; i < reg->ids.n && k < limit; i++) {
        session *si = reg->ids.v[i];
        if (tenant && strcmp(si->sp.tenant, tenant) != 0) continue;
        pick[k] = si;
        atomic_fetch_add(&pick[k]->refs, 1);
        k++;
    }
    pthread_rwlock_unlock(&reg->lock);
    for (int j = 0; j < k; j++) {
        fn(ctx, pick[j]);
        session_put(pick[j]);
    }
    free(pick);
    return k;
}

const char *session_id(const session *s) { return s->id; }
const char *session_tenant(const session *s) { return s->sp.tenant; }
struct live_feed *session_live_feed(const session *s) { return s->feed; }
size_t session_num_params(const session *s) { return s->sp.lay.n; }

pool_lane *session_lane(session *s, int *limit)
{
    int64_t q = s->app->cfg.compute_session_queue;
    /* Every worker of a shared session must be able to post its gradients. */
    *limit = (int)(q > s->sp.workers ? q : s->sp.workers);
    return &s->lane;
}

static char *make_meta(session *s, int64_t created_ms)
{
    cJSON *m = spec_to_json(&s->sp);
    if (!m) return NULL;
    cJSON *id = cJSON_CreateString(s->id);
    cJSON_AddItemToObject(m, "id", id);
    cJSON_AddStringToObject(m, "tenant", s->sp.tenant);
    cJSON_AddNumberToObject(m, "created_ms", (double)created_ms);
    char *txt = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return txt;
}

/* The figures of a session that needs `sb`: 0, or ERR_SESSION_TOO_LARGE
 * with the figures in msg. */
static int session_fits(app *a, const session_bytes *sb, char *msg, size_t cap)
{
    if (sb->total > (uint64_t)a->cfg.max_session_bytes) {
        snprintf(msg, cap,
                 "the session needs %llu bytes (parameters %llu, optimizer state %llu, worker buffers %llu, "
                 "snapshot %llu); --max-session-bytes is %lld",
                 (unsigned long long)sb->total, (unsigned long long)sb->params, (unsigned long long)sb->state,
                 (unsigned long long)sb->workers, (unsigned long long)sb->snapshot,
                 (long long)a->cfg.max_session_bytes);
        return ERR_SESSION_TOO_LARGE;
    }
    return 0;
}

/* What sp costs, under the weights lock (learned optimizers read the table). */
static int spec_bytes(const spec *sp, session_bytes *sb)
{
    meta_weights_lock();
    int rc = session_bytes_of(sp, sb);
    meta_weights_unlock();
    return rc;
}

/* Reserves sb for sp's tenant (force = 1: a restored session, never
 * refused), builds the session from sp (taken, also on failure) and hands it
 * the reservation, which is given back when the build fails or the session
 * is freed.  0 or the errors of budget_reserve and session_build. */
static int build_reserved(sessions *reg, spec *sp, const session_bytes *sb, int force, uint64_t *in_use,
                          session **out)
{
    char tenant[sizeof sp->tenant];
    memcpy(tenant, sp->tenant, sizeof tenant);
    int64_t nparams = (int64_t)sp->lay.n;
    int rc = budget_reserve(reg->budget, tenant, sb->total, nparams, force, in_use);
    if (!rc && (rc = session_build(reg->app, sp, out)) != 0) budget_release(reg->budget, tenant, sb->total, nparams);
    if (rc) {
        spec_deinit(sp);   /* session_build emptied it, or it is still whole */
        return rc;
    }
    (*out)->reserved = 1;
    (*out)->reserved_bytes = sb->total;
    return 0;
}

int sessions_create(sessions *reg, spec *sp, session **out, char *msg, size_t msgcap, uint64_t *needed)
{
    app *a = reg->app;
    msg[0] = '\0';
    /* Every figure is settled before a byte of the session is allocated. */
    session_bytes sb;
    int rc = spec_bytes(sp, &sb);
    if (!rc) {
        *needed = sb.total;
        rc = session_fits(a, &sb, msg, msgcap);
    }
    if (rc) {
        spec_deinit(sp);
        return rc;
    }
    uint64_t in_use = 0;
    session *s;
    rc = build_reserved(reg, sp, &sb, 0, &in_use, &s);
    if (rc == ERR_MEMORY_BUDGET) {
        uint64_t lim = budget_limit(reg->budget);
        snprintf(msg, msgcap, "the session needs %llu bytes; live sessions hold %llu of the daemon's "
                 "--memory-budget of %llu bytes (%llu free)", (unsigned long long)sb.total,
                 (unsigned long long)in_use, (unsigned long long)lim,
                 (unsigned long long)(in_use < lim ? lim - in_use : 0));
    }
    if (rc) return rc;
    new_id(s->id);
    int64_t created = http_now_ms();
    s->meta_json = make_meta(s, created);
    uint8_t *snap = NULL;
    size_t snap_len = 0;
    rc = s->meta_json ? snapshot_encode_session(s, &snap, &snap_len) : ERR_NO_MEMORY;
    if (!rc) rc = store_session_create_take(a->db, s->id, s->meta_json, created, 0, snap, snap_len);
    session_publish(s);
    if (!rc) rc = registry_add(reg, s);
    if (rc) {
        session_free(s);
        return rc;
    }
    s->saved_time = http_now_mono();
    atomic_fetch_add(&s->refs, 1); /* the caller's */
    *out = s;
    return 0;
}

static int restore_one(void *ctx, const store_session_row *row)
{
    sessions *reg = ctx;
    spec sp;
    char msg[256];
    int rc = spec_parse(&sp, row->meta_json, strlen(row->meta_json), (size_t)reg->app->cfg.max_params, 1, msg,
                        sizeof msg);
    session *s = NULL;
    /* What is stored is loaded even above lowered limits, and counted. */
    session_bytes sb;
    if (!rc && (rc = spec_bytes(&sp, &sb)) != 0) spec_deinit(&sp);
    if (!rc) rc = build_reserved(reg, &sp, &sb, 1, NULL, &s);
    if (!rc) {
        snprintf(s->id, sizeof s->id, "%s", row->id);
        s->meta_json = strdup(row->meta_json);
        rc = s->meta_json ? snapshot_decode_session(s, row->snapshot, row->snapshot_len) : ERR_NO_MEMORY;
    }
    if (!rc) {
        if (row->status) snprintf(s->status, sizeof s->status, "%s", row->status);
        if (strcmp(s->status, "diverged") == 0)
            snprintf(s->reason, sizeof s->reason, "the session diverged before the daemon restarted");
        s->saved_time = http_now_mono();
        session_publish(s);
        rc = registry_add(reg, s);
    }
    if (rc) {
        fprintf(stderr, "optirsd: session %s not restored: %s%s%s\n", row->id, err_name(rc), msg[0] ? ": " : "",
                msg);
        session_free(s);
    }
    return 0;
}

int sessions_restore(sessions *reg)
{
    int rc = store_sessions_load(reg->app->db, restore_one, reg);
    return rc ? rc : sessions_count(reg);
}

/* ---- answers ------------------------------------------------------------- */

/* Builds the answer to step s->step (JSON or binary); the caller frees it. */
static int encode_update(session *s, int enc, char **out, size_t *len)
{
    return step_codec_update(s->step, s->last_update, s->sp.lay.n, s->last_applied, enc, out, len);
}

static void answer_update(session *s, req *r, int enc)
{
    /* durability=step: acknowledge only what is committed. */
    if (s->sp.dur == DURABILITY_STEP && s->durable_step < s->step) {
        int rc = session_snapshot_save(s, 1);
        if (rc) {
            http_resp_error(r, ERR_STORAGE, "step %lld was applied but could not be made durable; retry it",
                            (long long)s->step);
            return;
        }
    }
    char *buf;
    size_t len;
    int rc = encode_update(s, enc, &buf, &len);
    if (rc) {
        http_resp_error(r, rc, NULL);
        return;
    }
    http_resp_take(r, 200, enc == ENC_BINARY ? "application/octet-stream" : "application/json", buf, len);
    snprintf(r->hdr_step, sizeof r->hdr_step, "%lld", (long long)s->step);
    r->hdr_not_applied = !s->last_applied;
}

/* The session blew up at step k: restore its last stored (good) state, mark
 * it diverged with `reason`, refuse further steps.  Called with s->mu held. */
static void diverge(session *s, const char *reason)
{
    /* The newest snapshot may still be queued for the writer: let it land. */
    int rc = rollback_session(s, 1);
    snprintf(s->status, sizeof s->status, "diverged");
    if (rc)
        snprintf(s->reason, sizeof s->reason, "%s; the last stored state could not be read back (%s)", reason,
                 err_name(rc));
    else {
        s->rolled_back_to = s->step;
        snprintf(s->reason, sizeof s->reason, "%s; rolled back to step %lld", reason, (long long)s->step);
    }
    store_session_update(s->app->db, s->id, s->status, NULL);
}

/* Hands the state after step s->step to the store as durability asks.  For
 * durability=step a failed commit puts the session back to its last durable
 * state, so that the step is as if never sent (ERR_STORAGE). */
static int persist_step(session *s)
{
    if (s->sp.dur != DURABILITY_STEP) {
        if (s->step - s->saved_step >= s->app->cfg.checkpoint_every) session_snapshot_save(s, 0);
        return 0;
    }
    int rc = session_snapshot_save(s, 1);
    if (rc && rollback_session(s, 0) != 0) {
        /* Could not even read the last state back: keep the step in memory;
         * answer_update retries the commit before acknowledging it. */
        return 0;
    }
    return rc ? ERR_STORAGE : 0;
}

/* The step's `extra` object: the online learner's figures and the
 * optimizer's diagnostics (step_run's diag), each "name": value (null when
 * not finite), written by jwriter.  NULL when there is nothing to report (or
 * on OOM); the caller frees the text. */
static char *step_extra_json(const step_result *res)
{
    if (res->ndiag == 0) return NULL;
    jwriter w;
    jw_init(&w, 4096);
    for (int i = 0; i < res->ndiag; i++) {
        jw_lit(&w, i ? "," : "{");
        jw_key(&w, res->diag[i].name);
        jw_num_or_null(&w, res->diag[i].value, 0);
    }
    jw_lit(&w, "}");
    return jw_take(&w, NULL);
}

/* Applies step k with gradients g (skip: counts the step, changes nothing)
 * through core's step_run.  Called with s->mu held. */
static int apply_step(session *s, int64_t k, const float *g, double loss, int skip)
{
    /* durability=step: refused before it is applied when the database file
     * is gone, replaced or read-only (no 200 that is not durable). */
    if (s->sp.dur == DURABILITY_STEP && store_health(s->app->db, 0, NULL) != 0) return ERR_STORAGE;
    if (!skip && step_seq_diverges(s->sp.divergence_factor, s->best_loss, loss)) {
        char why[160];
        snprintf(why, sizeof why, "the loss %g at step %lld exceeds %g times the best loss %g", loss, (long long)k,
                 s->sp.divergence_factor, s->best_loss);
        diverge(s, why);
        return ERR_SESSION_DIVERGED;
    }
    step_state st = {.o = &s->o, .ad = &s->ad, .es = &s->es, .lay = &s->sp.lay, .params = s->params,
                     .prev_update = s->last_update, .update = s->spare, .clock = http_now_mono};
    step_result res;
    int rc = step_run(&st, k, g, loss, skip, &res);
    if (res.non_finite) {
        char why[96];
        snprintf(why, sizeof why, "step %lld produced a non-finite update", (long long)k);
        diverge(s, why);
    }
    if (rc) return rc;
    float *t = s->last_update;
    s->last_update = s->spare;
    s->spare = t;
    s->step = k;
    s->last_applied = !skip;
    s->last_loss = isfinite(loss) ? loss : NAN;
    if (!skip && isfinite(loss) && (isnan(s->best_loss) || loss < s->best_loss)) s->best_loss = loss;
    step_metric m = {.step = k, .time_ms = http_now_ms(), .loss = s->last_loss, .grad_norm = res.info.grad_norm,
                     .update_norm = res.info.update_norm, .param_norm = res.info.param_norm, .lr = res.info.lr,
                     .duration_us = res.duration * 1e6};
    int rc2 = persist_step(s);
    if (rc2 == 0) {
        char *extra = step_extra_json(&res);
        live_record(s->feed, s->app->db, s->id, &s->o, &m, res.has_stats ? &res.stats : NULL, res.lr_mult, extra);
        free(extra);
    }
    return rc2;
}

void sessions_pend_clear(sessions *reg, session *s)
{
    if (s->g.npend) atomic_fetch_sub(&reg->npending, 1);
    gather_clear(&s->g);
    for (int j = 0; j < s->sp.workers; j++) s->pend_req[j] = NULL;
}

void session_pend_answer_all(session *s, req *self, int e, const char *msg)
{
    for (int j = 0; j < s->g.npend; j++) {
        req *w = s->pend_req[j];
        if (!w || w == self) continue;
        if (e == ERR_STEP_CONFLICT) http_resp_error_int(w, e, "expected", s->step + 1, "%s", msg);
        else if (e) http_resp_error(w, e, "%s", msg);
        else answer_update(s, w, s->pend_enc[j]);
        w->wait = NULL;
        http_resume(w);
    }
}

static sessions *registry_of(session *s) { return s->app->reg; }

int session_step(session *s, req *r, const step_request *sr)
{
    int parked = 0;
    pthread_mutex_lock(&s->mu);
    int64_t k = sr->step;
    int skip = sr->nonfinite && s->sp.non_finite == NON_FINITE_SKIP;
    step_seq_in in = {.last = s->step, .k = k, .nonfinite = sr->nonfinite, .skip_nonfinite = skip,
                      .deleted = s->deleted, .diverged = strcmp(s->status, "diverged") == 0,
                      .workers = s->sp.workers, .has_worker = sr->worker[0] != '\0'};
    step_seq_action act = step_seq_decide(&in);
    if (act == STEP_SEQ_NON_FINITE) {
        http_resp_error(r, ERR_NON_FINITE, "a gradient or the loss is NaN, infinite or overflows float32 "
                   "(the session's non_finite policy is reject; nothing changed)");
    } else if (act == STEP_SEQ_DELETED) {
        http_resp_error(r, ERR_SESSION_NOT_FOUND, "session %s was deleted", s->id);
    } else if (act == STEP_SEQ_REPLAY) {
        answer_update(s, r, sr->encoding); /* a retry: the stored answer, nothing applied */
    } else if (act == STEP_SEQ_DIVERGED) {
        http_resp_error(r, ERR_SESSION_DIVERGED, "%s", s->reason[0] ? s->reason : "the session diverged");
    } else if (act == STEP_SEQ_CONFLICT) {
        http_resp_error_int(r, ERR_STEP_CONFLICT, "expected", s->step + 1, "step %lld is not the next step (%lld)",
                       (long long)k, (long long)(s->step + 1));
    } else if (act == STEP_SEQ_APPLY) {
        int rc = apply_step(s, k, sr->grads, sr->loss, skip);
        if (rc) http_resp_error(r, rc, "%s", s->reason[0] ? s->reason : err_message(rc));
        else answer_update(s, r, sr->encoding);
    } else if (act == STEP_SEQ_NO_WORKER) {
        http_resp_error(r, ERR_BAD_HEADER, "this session is shared by %d workers: name the worker "
                   "(X-Optirs-Worker header or \"worker\" field)", s->sp.workers);
    } else { /* STEP_SEQ_GATHER */
        sessions *reg = registry_of(s);
        if (s->g.npend == 0) {
            s->g.step = k;
            s->pend_deadline = http_now_mono() + s->app->cfg.step_timeout;
            atomic_fetch_add(&reg->npending, 1);
        }
        int existed;
        int j = gather_slot(&s->g, sr->worker, &existed);
        if (existed && s->pend_req[j]) {
            /* The same worker again: a retry after a lost connection.  Its
             * newer request replaces the older one. */
            req *old = s->pend_req[j];
            http_resp_error(old, ERR_WORKER_CONFLICT, "superseded by a newer request of worker %s for step %lld",
                            sr->worker, (long long)k);
            old->wait = NULL;
            http_resume(old);
        }
        gather_put(&s->g, j, sr->grads, sr->loss, skip);
        s->pend_req[j] = r;
        s->pend_enc[j] = sr->encoding;
        if (!gather_full(&s->g)) {
            /* r stays suspended; whoever completes, times out or releases
             * the step resumes it. */
            r->wait = s;
            parked = 1;
        } else {
            /* Every worker is here: the mean of their gradients, once.  One
             * worker's non-finite gradient (policy skip) skips the whole step. */
            double loss;
            int any_skip;
            const float *mean = gather_mean(&s->g, &loss, &any_skip);
            int rc = apply_step(s, k, mean, loss, any_skip);
            const char *msg = rc ? (s->reason[0] ? s->reason : err_message(rc)) : NULL;
            session_pend_answer_all(s, r, rc, msg);
            if (rc) http_resp_error(r, rc, "%s", msg);
            else answer_update(s, r, sr->encoding);
            sessions_pend_clear(reg, s);
        }
    }
    session_unlock(s);
    return parked;
}

void session_params(session *s, req *r, int enc)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->sp.lay.n;
    char *buf = NULL;
    size_t len = 0;
    int rc;
    if (enc == ENC_BINARY) {
        buf = malloc(n * sizeof(float) + 1);
        rc = buf ? 0 : ERR_NO_MEMORY;
        if (buf) memcpy(buf, s->params, n * sizeof(float));
        len = n * sizeof(float);
    } else {
        rc = step_codec_json(s->step, "params", s->params, n, &buf, &len);
    }
    if (rc) http_resp_error(r, rc, NULL);
    else {
        http_resp_take(r, 200, enc == ENC_BINARY ? "application/octet-stream" : "application/json", buf, len);
        snprintf(r->hdr_step, sizeof r->hdr_step, "%lld", (long long)s->step);
    }
    session_unlock(s);
}

int session_feedback(session *s, int64_t step, double loss, const char *metrics_json, char *msg, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->deleted) rc = ERR_SESSION_NOT_FOUND;
    else if (step > s->step) {
        snprintf(msg, cap, "step %lld has not been taken yet (the last step is %lld)", (long long)step,
                 (long long)s->step);
        rc = ERR_OUT_OF_RANGE;
    }
    session_unlock(s);
    if (!rc) rc = store_feedback(s->app->db, s->id, step, loss, metrics_json);
    if (!rc) {
        /* The online learner takes the loss of a taken step once (a loss
         * already sent with the step, or too old, is ignored). */
        pthread_mutex_lock(&s->mu);
        if (!s->deleted && s->es.K && online_es_observe(&s->es, step, loss)) {
            s->es_dirty = 1;
            if (s->sp.dur == DURABILITY_STEP) session_snapshot_save(s, 1);
        }
        session_unlock(s);
    }
    return rc;
}

cJSON *session_describe(session *s)
{
    pthread_mutex_lock(&s->info_mu);
    cJSON *o = cJSON_Parse(s->meta_json);
    if (o) {
        cJSON_AddNumberToObject(o, "step", (double)s->info.step);
        cJSON_AddStringToObject(o, "status", s->info.status);
        if (s->info.reason[0]) cJSON_AddStringToObject(o, "reason", s->info.reason);
        if (s->info.rolled_back_to >= 0) cJSON_AddNumberToObject(o, "rolled_back_to", (double)s->info.rolled_back_to);
        if (isfinite(s->info.last_loss)) cJSON_AddNumberToObject(o, "last_loss", s->info.last_loss);
        else cJSON_AddNullToObject(o, "last_loss");
        cJSON_AddNumberToObject(o, "saved_step", (double)s->info.saved_step);
        if (s->sp.workers > 1) cJSON_AddNumberToObject(o, "pending_workers", s->info.npend);
    }
    pthread_mutex_unlock(&s->info_mu);
    return o;
}

/* Deletes session `id`: storage first, memory after.  The session's mutex is
 * held across the commit, so no step of it lands in between; a delete that
 * cannot be committed changes nothing (the session stays usable and the
 * answer is ERR_STORAGE), and a committed one is gone from memory before the
 * mutex is released.  Lock order: a session's mu, then the registry lock
 * (nothing takes them the other way round). */
int sessions_delete(sessions *reg, const char *id)
{
    session *s = sessions_get(reg, id);
    if (!s) return ERR_SESSION_NOT_FOUND;
    pthread_mutex_lock(&s->mu);
    int rc = s->deleted ? ERR_SESSION_NOT_FOUND : store_session_delete(reg->app->db, id);
    int removed = 0;
    if (!rc) {
        s->deleted = 1;
        if (s->g.npend) {
            session_pend_answer_all(s, NULL, ERR_SESSION_NOT_FOUND, "the session was deleted");
            sessions_pend_clear(reg, s);
        }
        pthread_rwlock_wrlock(&reg->lock);
        removed = registry_remove(&reg->ids, s);
        pthread_rwlock_unlock(&reg->lock);
        /* Its quota slot and bytes are given back now, not when the last
         * request holding it lets go: a create right after the answer counts
         * without it. */
        if (s->reserved) budget_release(reg->budget, s->sp.tenant, s->reserved_bytes, (int64_t)s->sp.lay.n);
        s->reserved = 0;
    }
    session_unlock(s);
    if (removed) session_put(s);   /* the registry's reference */
    session_put(s);
    return rc;
}
