/* h_sessions.c — handlers of /v1/sessions and its sub-resources: decode and
 * validate the request completely (a step through step_decode.h, a state
 * through state_codec.h), then hand it to the service (session.h).  Creates run
 * on the compute pool; steps, feedback, parameter reads and deletes in the
 * session's lane of it (compute.h), so a heavy one holds no HTTP thread. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "compute.h"
#include "domain.h"
#include "errors.h"
#include "h_body.h"
#include "handlers.h"
#include "h_idem.h"
#include "idemlane.h"
#include "jsonwalk.h"
#include "live.h"
#include "sessions.h"
#include "spec.h"
#include "state_codec.h"
#include "step_decode.h"
#include "study_bind.h"
#include "wire_dtype.h"
#include "store.h"

/* The session named by the path, or NULL after answering 404. */
static session *path_session(req *r)
{
    session *s = sessions_get(r->app->reg, r->param[0]);
    /* Another tenant's session answers exactly like a missing one. */
    if (s && !r->who.admin && strcmp(session_tenant(s), r->who.tenant) != 0) {
        session_unref(s);
        s = NULL;
    }
    if (!s) http_resp_error(r, ERR_SESSION_NOT_FOUND, "no session has id %s", r->param[0]);
    return s;
}

static void h_sessions_create_once(req *r);

/* ---- compute jobs ------------------------------------------------------------ */

/* What a deferred request carries to its compute thread; the request itself
 * (body, parameters, principal) stays valid while it is suspended. */
typedef struct job {
    session     *s;                /* a reference, for session routes */
    idemlane    *key_lane;         /* a reference, for a create with a key */
    h_idem       im;
    step_request sr;
    float       *grads;            /* a JSON step's decoded gradients */
    uint8_t     *skip;             /* a step's skip mask (skip_mask.h), or NULL */
    cJSON       *hyper;            /* a step's hyperparams (groups.h), or NULL */
    int          enc;
} job;

static void job_free(void *ctx)
{
    job *j = ctx;
    if (j->s) session_unref(j->s);
    idemlane_put(j->key_lane);
    free(j->grads);
    free(j->skip);
    cJSON_Delete(j->hyper);
    free(j);
}

/* Queues work for r on the session's lane (s: taken over) or, with s NULL,
 * on no lane; ctx is a job from job_new. */
static void defer(req *r, session *s, compute_fn work, job *j)
{
    j->s = s;
    int limit = 1;
    pool_lane *lane = s ? session_lane(s, &limit) : NULL;
    compute_defer(r, lane, limit, work, job_free, j);
}

/* A zeroed job, or NULL after answering 503 (s, when given, is put). */
static job *job_new(req *r, session *s)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        session_unref(s);
    }
    return j;
}

static int create_work(req *r, void *ctx)
{
    job *j = ctx;
    if (h_idem_begin(r, &j->im)) return COMPUTE_DONE;
    h_sessions_create_once(r);
    h_idem_end(r, &j->im);
    return COMPUTE_DONE;
}

/* A create runs on the pool: in its key's lane when it has an
 * Idempotency-Key, else on no lane. */
void h_sessions_create(req *r)
{
    job *j = job_new(r, NULL);
    if (!j) return;
    if (h_idem_prepare(r, &j->im, "sessions_create")) {
        free(j);
        return;
    }
    h_idem_defer(r, &j->im, &j->key_lane, create_work, job_free, j);
}

static void h_sessions_create_once(req *r)
{
    /* on the pool: the daemon may have begun draining while this waited */
    if (!http_ready(r) || !h_body_want_json(r)) return;
    spec sp;
    char msg[300];
    /* {"state": …}: a session continuing an exported one (state_codec.h) */
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int64_t state_step = 0;
    int rc = state_codec_import_body(r->body, r->body_len, (size_t)r->app->cfg.max_params, &sp, &blob, &blob_len,
                                     &state_step, msg, sizeof msg);
    if (rc == 1) rc = spec_parse(&sp, r->body, r->body_len, (size_t)r->app->cfg.max_params, 0, msg, sizeof msg);
    if (rc) {
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    rc = domain_resolve(r->app->db, &sp, msg, sizeof msg);
    if (rc) {
        free(blob);
        spec_deinit(&sp);
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    snprintf(sp.tenant, sizeof sp.tenant, "%s", r->who.tenant);
    rc = study_bind_spec(r->app->studies, &sp, msg, sizeof msg);   /* "trial": its hyperparameters */
    if (rc) {
        free(blob);
        spec_deinit(&sp);
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    session *s;
    char weights[sizeof sp.weights];
    memcpy(weights, sp.weights, sizeof weights);
    int msgd = strcmp(sp.ocfg.name, "meta_sgd") == 0;
    char why[400];
    uint64_t needed = 0;
    rc = blob ? sessions_import(r->app->reg, &sp, blob, blob_len, state_step, &s, why, sizeof why, &needed)
              : sessions_create(r->app->reg, &sp, &s, why, sizeof why, &needed);
    free(blob);
    if (rc == ERR_SESSION_TOO_LARGE || rc == ERR_MEMORY_BUDGET)
        http_resp_error_int(r, rc, "needed_bytes", (int64_t)needed, "%s", why);
    else if (rc == ERR_INVALID_STATE)
        http_resp_error(r, rc, "%s", why);
    else if (rc == ERR_NOT_FOUND)
        http_resp_error(r, ERR_INVALID_ARGUMENT, "no weights record named \"%s\" (GET /v1/optimizers lists them)",
                        weights);
    else if (msgd && rc == ERR_MISSING_FIELD)
        http_resp_error(r, rc, "meta_sgd needs weights: a few-shot record (POST /v1/meta/jobs with \"method\")");
    else if (msgd && rc == ERR_INVALID_ARGUMENT)
        http_resp_error(r, rc, "the tensors do not hold as many parameters as weights record \"%s\" (GET "
                        "/v1/weights/NAME/init gives its tensors)", weights);
    else if (rc == ERR_QUOTA_EXCEEDED)
        http_resp_error(r, rc, "tenant \"%s\" is at its quota (--tenant-max-sessions %lld, --tenant-max-params %lld)",
                        r->who.tenant, (long long)r->app->cfg.tenant_max_sessions,
                        (long long)r->app->cfg.tenant_max_params);
    else if (rc && why[0])   /* the service's reason (e.g. a shape its weights record fixes) */
        http_resp_error(r, rc, "%s", why);
    else if (rc == ERR_OUT_OF_RANGE)
        http_resp_error(r, rc,
                        "the hyperparameters do not fit together (e.g. nesterov needs momentum > 0 and dampening 0)");
    else if (rc)
        http_resp_error(r, rc, NULL);
    if (rc) return;
    http_resp_json(r, 201, session_describe(s));
    session_unref(s);
}

void h_session_get(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    http_resp_json(r, 200, session_describe(s));
    session_unref(s);
}

static int delete_work(req *r, void *ctx)
{
    (void)ctx;
    int rc = sessions_delete(r->app->reg, r->param[0]);
    if (rc == ERR_SESSION_NOT_FOUND) http_resp_error(r, rc, "no session has id %s", r->param[0]);
    else if (rc) http_resp_error(r, rc, NULL);
    else {
        live_revalidate();   /* its event streams end now */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", r->param[0]);
        cJSON_AddBoolToObject(o, "deleted", 1);
        http_resp_json(r, 200, o);
    }
    return COMPUTE_DONE;
}

/* In the session's lane: after the steps sent before it. */
void h_session_delete(req *r)
{
    session *s = path_session(r); /* answers 404 for another tenant's session too */
    if (!s) return;
    job *j = job_new(r, s);
    if (j) defer(r, s, delete_work, j);
}

/* ---- step ---------------------------------------------------------------- */

/* A JSON step spends at most this many bytes per gradient (a double's 17
 * digits, sign, exponent, separator and generous whitespace), plus slack
 * for the other fields. */
#define STEP_JSON_BYTES_PER_NUMBER 48
#define STEP_JSON_SLACK            65536

void h_session_step_begin(req *r)
{
    if (atomic_load(&r->app->state) != APP_READY) return;   /* dispatch answers 503 */
    session *s = sessions_get(r->app->reg, r->param[0]);
    if (s && !r->who.admin && strcmp(session_tenant(s), r->who.tenant) != 0) {
        session_unref(s);
        s = NULL;
    }
    if (!s) {
        r->early_error = ERR_SESSION_NOT_FOUND;
        snprintf(r->early_msg, sizeof r->early_msg, "no session has id %.80s", r->param[0]);
        return;
    }
    size_t n = session_num_params(s);
    session_unref(s);
    /* Accept, then the dtype of a binary body, before a byte of it is read
     * (the order of proto/binary.md §5); the decode checks them again. */
    int dt = wire_dtype_request(r, r->early_msg, sizeof r->early_msg);
    if (wire_dtype_answer(r, dt < 0 ? WIRE_F32 : (wire_dtype)dt, r->early_msg, sizeof r->early_msg) < 0) {
        r->early_error = ERR_NOT_ACCEPTABLE;
        return;
    }
    if (dt < 0) {
        r->early_error = dt;
        return;
    }
    if (r->ctype == CT_BINARY) {
        r->body_exact = n * wire_dtype_size((wire_dtype)dt); /* n <= --max-params: no wrap */
    } else {
        size_t cap = n > (SIZE_MAX - STEP_JSON_SLACK) / STEP_JSON_BYTES_PER_NUMBER
                         ? SIZE_MAX : n * STEP_JSON_BYTES_PER_NUMBER + STEP_JSON_SLACK;
        if (cap < r->body_limit) r->body_limit = cap;
    }
}

/* Decodes r's step for session s into j (JSON gradients into j->grads; a
 * binary step's stay in r's body, which lives as long as r).  0, or an
 * error with r answered. */
static int step_decode(req *r, session *s, job *j)
{
    size_t n = session_num_params(s);
    step_request sr = {.loss = NAN};
    char msg[200] = "";
    int rc = 0;
    int dt = wire_dtype_request(r, msg, sizeof msg);
    int enc = wire_dtype_answer(r, dt < 0 ? WIRE_F32 : (wire_dtype)dt, msg, sizeof msg);
    if (enc < 0) {
        rc = ERR_NOT_ACCEPTABLE;
    } else if (dt < 0) {
        rc = dt;
    } else {
        rc = step_decode_request(r, n, session_layout(s), &sr, &j->grads, &j->skip, &j->hyper, msg, sizeof msg);
    }
    if (rc) {
        http_resp_error(r, rc, "%s", msg[0] ? msg : err_message(rc));
        return rc;
    }
    sr.encoding = enc;
    j->sr = sr;
    return 0;
}

/* Decoding a large JSON step is heavy too: it runs here, in the lane. */
static int step_work(req *r, void *ctx)
{
    job *j = ctx;
    /* a bound session (always here, never inline): its trial may have been
     * pruned before a restart, or by the step just before this one */
    if (sessions_trial_check(j->s)) {
        http_resp_error(r, ERR_TRIAL_PRUNED, "the pruner stopped trial %s, which this session trains",
                        session_trial(j->s));
        return COMPUTE_DONE;
    }
    if (step_decode(r, j->s, j)) return COMPUTE_DONE;
    session_answer ans;
    /* Parked: a peer's step, the timer or the drain answers r (sessions.h). */
    if (session_step(j->s, r, &j->sr, &ans)) return COMPUTE_PARKED;
    session_answer_http(r, &ans);
    return COMPUTE_DONE;
}

/* A step of at most this many parameters runs on the HTTP thread when its
 * session's lane is idle: the compute pool's two thread hand-offs (suspend,
 * resume) cost more than such a step (~20% of the steps/s of 32 connections
 * of N = 100 steps, bench/README.md).  At most ~1 ms even for the costliest
 * learned optimizer; shared sessions (their steps park) and durability=step
 * (each step waits for a commit) always go to the pool. */
#define STEP_INLINE_MAX_PARAMS 4096

void h_session_step(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    if (sessions_trial_pruned(s)) {
        http_resp_error(r, ERR_TRIAL_PRUNED, "the pruner stopped trial %s, which this session trains", session_trial(s));
        session_unref(s);
        return;
    }
    job *j = job_new(r, s);
    if (!j) return;
    /* (a session bound to a trial reports each step to its study: a commit,
     * never on an HTTP thread) */
    if (session_num_params(s) <= STEP_INLINE_MAX_PARAMS && session_workers(s) <= 1 && !session_durable_steps(s) &&
        !session_trial(s)[0]) {
        int limit;
        j->s = s;
        if (compute_try_inline(r, session_lane(s, &limit), step_work, job_free, j)) return;
        j->s = NULL;
    }
    defer(r, s, step_work, j);
}

static int params_work(req *r, void *ctx)
{
    job *j = ctx;
    session_params_http(j->s, r, j->enc);
    return COMPUTE_DONE;
}

/* In the session's lane: the parameters after the steps sent before. */
void h_session_params(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    char msg[120];
    int enc = wire_dtype_params_answer(r, msg, sizeof msg);
    if (enc < 0) {
        http_resp_error(r, ERR_NOT_ACCEPTABLE, "%s", msg);
        session_unref(s);
        return;
    }
    job *j = job_new(r, s);
    if (!j) return;
    j->enc = enc;
    defer(r, s, params_work, j);
}

/* ---- feedback --------------------------------------------------------------- */

typedef struct fb_ctx { int64_t step; double loss; int have_step, have_loss; cJSON *metrics; char msg[200]; } fb_ctx;

static int fb_member(void *ctx, const char *key, const char *val, size_t avail, size_t *used)
{
    fb_ctx *c = ctx;
    cJSON *v = jsonwalk_cjson(val, avail, used);
    if (!v) {
        snprintf(c->msg, sizeof c->msg, "malformed value of \"%s\"", key);
        return ERR_INVALID_JSON;
    }
    int rc = 0;
    if (strcmp(key, "step") == 0) {
        if (jsonwalk_int(v, 1, 9e15, &c->step) != 0) {
            snprintf(c->msg, sizeof c->msg, "step must be a positive integer");
            rc = ERR_INVALID_ARGUMENT;
        } else c->have_step = 1;
    } else if (strcmp(key, "loss") == 0) {
        if (!cJSON_IsNumber(v)) { snprintf(c->msg, sizeof c->msg, "loss must be a number"); rc = ERR_INVALID_ARGUMENT; }
        else if (!isfinite(v->valuedouble)) { snprintf(c->msg, sizeof c->msg, "loss is not finite"); rc = ERR_NON_FINITE; }
        else { c->loss = v->valuedouble; c->have_loss = 1; }
    } else if (strcmp(key, "metrics") == 0) {
        int k = 0;
        if (!cJSON_IsObject(v)) {
            snprintf(c->msg, sizeof c->msg, "metrics must be an object of numbers");
            rc = ERR_INVALID_ARGUMENT;
        } else if (jsonwalk_has_duplicate(v)) {
            snprintf(c->msg, sizeof c->msg, "metrics names a member twice");
            rc = ERR_INVALID_JSON;
        }
        for (cJSON *m = v->child; !rc && m; m = m->next, k++) {
            if (!cJSON_IsNumber(m) || strlen(m->string) > 64 || k >= 64) {
                snprintf(c->msg, sizeof c->msg, "metrics must map at most 64 names (<= 64 bytes) to numbers");
                rc = ERR_INVALID_ARGUMENT;
            } else if (!isfinite(m->valuedouble)) {
                snprintf(c->msg, sizeof c->msg, "metric %s is not finite", m->string);
                rc = ERR_NON_FINITE;
            }
        }
        if (!rc) { c->metrics = v; v = NULL; }
    } else {
        snprintf(c->msg, sizeof c->msg, "unknown field \"%s\"", key);
        rc = ERR_UNKNOWN_FIELD;
    }
    cJSON_Delete(v);
    return rc;
}

static void h_session_feedback_once(req *r, session *s);

static int feedback_work(req *r, void *ctx)
{
    job *j = ctx;
    if (!h_idem_begin(r, &j->im)) {
        h_session_feedback_once(r, j->s);
        h_idem_end(r, &j->im);
    }
    return COMPUTE_DONE;
}

/* In the session's lane: feedback may adapt the online learner. */
void h_session_feedback(req *r)
{
    if (!h_body_want_json(r)) return;
    session *s = path_session(r);
    if (!s) return;
    job *j = job_new(r, s);
    if (!j) return;
    /* The route of a feedback record includes its session. */
    char route_key[96];
    snprintf(route_key, sizeof route_key, "feedback/%s", session_id(s));
    if (h_idem_prepare(r, &j->im, route_key)) {
        free(j);
        session_unref(s);
        return;
    }
    defer(r, s, feedback_work, j);
}

static void h_session_feedback_once(req *r, session *s)
{
    fb_ctx c = {0};
    int rc = jsonwalk_object(r->body, r->body_len, fb_member, &c, c.msg, sizeof c.msg);
    if (!rc && !c.have_step) { rc = ERR_MISSING_FIELD; snprintf(c.msg, sizeof c.msg, "step is required"); }
    if (!rc && !c.have_loss) { rc = ERR_MISSING_FIELD; snprintf(c.msg, sizeof c.msg, "loss is required"); }
    char *mj = NULL;
    if (!rc && c.metrics) {
        mj = cJSON_PrintUnformatted(c.metrics);
        if (!mj) rc = ERR_NO_MEMORY;
    }
    if (!rc) rc = session_feedback(s, c.step, c.loss, mj, c.msg, sizeof c.msg);
    if (rc) http_resp_error(r, rc, "%s", c.msg[0] ? c.msg : err_message(rc));
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)c.step);
        cJSON_AddNumberToObject(o, "loss", c.loss);
        cJSON_AddBoolToObject(o, "stored", 1);
        http_resp_json(r, 200, o);
    }
    free(mj);
    cJSON_Delete(c.metrics);
}

static int query_range(req *r, int64_t *after, int64_t *limit)
{
    *after = 0;
    *limit = 1000;
    const char *a = http_req_query(r, "after"), *l = http_req_query(r, "limit");
    if (a && step_decode_digits(a, 0, (int64_t)9e15, after) != 0) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "after must be a non-negative integer");
        return -1;
    }
    if (l && step_decode_digits(l, 1, 10000, limit) != 0) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "limit must be an integer in [1, 10000]");
        return -1;
    }
    return 0;
}

static void add_num_or_null(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* A page of metrics holds at most this many group_lr values (256 groups x
 * 1024 rows): with many groups a page ends before `limit` rows, and
 * next_after says where to go on.  Bounds the answer's tree (~16 MiB). */
#define METRICS_GROUP_LR_PAGE_MAX 262144

typedef struct rows_ctx { cJSON *arr; int64_t last; int count; int64_t glr_values; int cut; } rows_ctx;

static int metric_row(void *ctx, const step_metric *m)
{
    rows_ctx *c = ctx;
    if (c->count > 0 && c->glr_values + m->ngroup_lr > METRICS_GROUP_LR_PAGE_MAX) {
        c->cut = 1;   /* the page is full: the client goes on after c->last */
        return 1;
    }
    c->glr_values += m->ngroup_lr > 0 ? m->ngroup_lr : 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)m->step);
    cJSON_AddNumberToObject(o, "time_ms", (double)m->time_ms);
    add_num_or_null(o, "loss", m->loss);
    add_num_or_null(o, "grad_norm", m->grad_norm);
    add_num_or_null(o, "update_norm", m->update_norm);
    add_num_or_null(o, "param_norm", m->param_norm);
    add_num_or_null(o, "lr", m->lr);
    add_num_or_null(o, "duration_us", m->duration_us);
    if (m->ngroup_lr > 0) {   /* the lr of every parameter group, in the session's group order */
        cJSON *g = cJSON_AddArrayToObject(o, "group_lr");
        for (int i = 0; g && i < m->ngroup_lr; i++)
            cJSON_AddItemToArray(g, isfinite(m->group_lr[i]) ? cJSON_CreateNumber(m->group_lr[i]) : cJSON_CreateNull());
    } else cJSON_AddNullToObject(o, "group_lr");
    cJSON_AddItemToArray(c->arr, o);
    c->last = m->step;
    c->count++;
    return 0;
}

static int feedback_row(void *ctx, const store_feedback_row *f)
{
    rows_ctx *c = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)f->step);
    cJSON_AddNumberToObject(o, "time_ms", (double)f->time_ms);
    add_num_or_null(o, "loss", f->loss);
    cJSON *m = f->metrics_json ? cJSON_Parse(f->metrics_json) : NULL;
    cJSON_AddItemToObject(o, "metrics", m ? m : cJSON_CreateObject());
    cJSON_AddItemToArray(c->arr, o);
    c->last = f->step;
    c->count++;
    return 0;
}

/* Shared by the metrics and feedback listings: the rows after `after`. */
static void list_rows(req *r, const char *key, int feedback)
{
    session *s = path_session(r);
    if (!s) return;
    int64_t after, limit;
    if (query_range(r, &after, &limit) == 0) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "id", session_id(s));
        rows_ctx c = {.arr = cJSON_AddArrayToObject(root, key)};
        /* Rows ride the writer's group commit; flush so a reader sees every
         * step that was answered before it asked. */
        int rc = store_flush(r->app->db);
        if (!rc)
            rc = feedback ? store_feedback_query(r->app->db, session_id(s), after, (int)limit, feedback_row, &c)
                          : store_metrics_query(r->app->db, session_id(s), after, (int)limit, metric_row, &c);
        if (rc) {
            cJSON_Delete(root);
            http_resp_error(r, rc, NULL);
        } else {
            if (c.count == limit || c.cut) cJSON_AddNumberToObject(root, "next_after", (double)c.last);
            else cJSON_AddNullToObject(root, "next_after");
            http_resp_json(r, 200, root);
        }
    }
    session_unref(s);
}

void h_session_metrics(req *r)
{
    /* Downsampled (and smoothed) curves: h_analytics.c. */
    if (http_req_query(r, "max_points") || http_req_query(r, "smooth")) h_analytics_metrics(r);
    else list_rows(r, "metrics", 0);
}
void h_session_feedback_list(req *r) { list_rows(r, "feedback", 1); }

/* ---- full state (state_codec.h) ---------------------------------------------- */
static int state_work(req *r, void *ctx)
{
    job *j = ctx;
    cJSON *spec_json;
    uint8_t *blob;
    char *text = NULL;
    size_t len = 0, text_len = 0;
    int64_t step = 0;
    int rc = session_export(j->s, &spec_json, &blob, &len, &step);
    if (!rc) rc = state_codec_encode(spec_json, step, blob, len, &text, &text_len);
    cJSON_Delete(spec_json);   /* NULL (and blob NULL) after a failed export */
    free(blob);
    if (rc) http_resp_error(r, rc, NULL);
    else http_resp_take(r, 200, "application/json", text, text_len);
    return COMPUTE_DONE;
}

/* In the session's lane: everything the session is, after the steps sent before. */
void h_session_state(req *r)
{
    session *s = path_session(r);
    if (!s) return;
    job *j = job_new(r, s);
    if (j) defer(r, s, state_work, j);
}
