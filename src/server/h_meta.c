/* h_meta.c — meta-training jobs (/v1/meta/jobs) and the weights registry
 * (/v1/weights): list, describe, export and import weights records.
 * Jobs belong to the tenant of the key that created them: a non-admin key
 * lists, reads and cancels only its tenant's jobs (another tenant's job is
 * 404 not_found, exactly like a missing one); admin keys see every job.  An
 * import runs on the compute pool (compute.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "compute.h"
#include "domain.h"
#include "errors.h"
#include "fewshot_record.h"
#include "h_body.h"
#include "handlers.h"
#include "lopt.h"
#include "meta_adapt.h"
#include "meta_jobs.h"
#include "meta_run.h"
#include "store.h"

/* ---- jobs ------------------------------------------------------------------ */

/* The job as the API shows it, with `status` (the row's, or "cancelling"). */
static cJSON *job_json_as(const store_meta_job_row *j, const char *status)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "source", j->source);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "step", (double)j->step);
    cJSON_AddNumberToObject(o, "outer_steps", (double)j->outer_steps);
    cJSON_AddNumberToObject(o, "progress", j->outer_steps > 0 ? (double)j->step / (double)j->outer_steps : 0);
    cJSON_AddNumberToObject(o, "wall_s", isfinite(j->wall_s) ? j->wall_s : 0);
    /* the pace: outer steps per second so far and the time left at it, while
     * the job may still advance (null when not measurable; eta 0 when done) */
    double rate, eta;
    meta_run_pace(j->step, j->outer_steps, j->wall_s, &rate, &eta);
    int moving = strcmp(status, "queued") == 0 || strcmp(status, "running") == 0 || strcmp(status, "cancelling") == 0;
    if (strcmp(status, "done") == 0) eta = 0;
    else if (!moving) eta = NAN;
    if (isfinite(rate)) cJSON_AddNumberToObject(o, "rate_per_s", rate);
    else cJSON_AddNullToObject(o, "rate_per_s");
    if (isfinite(eta)) cJSON_AddNumberToObject(o, "eta_s", eta);
    else cJSON_AddNullToObject(o, "eta_s");
    cJSON_AddNumberToObject(o, "created_ms", (double)j->created_ms);
    cJSON_AddNumberToObject(o, "updated_ms", (double)j->updated_ms);
    if (j->error) cJSON_AddStringToObject(o, "error", j->error);
    else cJSON_AddNullToObject(o, "error");
    if (j->weights_name) {
        char ref[META_WNAME_MAX + 24];
        snprintf(ref, sizeof ref, "%s@%lld", j->weights_name, (long long)j->weights_version);
        cJSON_AddStringToObject(o, "weights", ref);
    } else cJSON_AddNullToObject(o, "weights");
    cJSON *cfg = j->config_json ? cJSON_ParseWithLengthOpts(j->config_json, strlen(j->config_json), NULL, 0) : NULL;
    cJSON_AddItemToObject(o, "config", cfg ? cfg : cJSON_CreateObject());
    return o;
}

static cJSON *job_json(const store_meta_job_row *j)
{
    const char *status = j->status;
    if (strcmp(status, "running") == 0 && meta_jobs_cancelling(j->id)) status = "cancelling";
    return job_json_as(j, status);
}

/* A row of the cluster's jobs (pg_meta_jobs.h): "cancelling" once a cancel
 * was asked of a job that has not ended; and the daemon that runs it. */
static cJSON *cluster_job_json(const store_meta_job_row *j, const char *shard, int cancel_requested)
{
    const char *status = j->status;
    if (cancel_requested && (strcmp(status, "running") == 0 || strcmp(status, "queued") == 0)) status = "cancelling";
    cJSON *o = job_json_as(j, status);
    if (o) cJSON_AddStringToObject(o, "shard", shard);
    return o;
}

/* Job ids are "mj-" and 16 hex digits (the daemon's) or "cli-" and 12 (the
 * command line's): at most 39 bytes of letters, digits, '-' and '_'.  Any
 * other {id} names no job; it is refused before any lookup (and never
 * echoed: it may not be text). */
static int job_id_ok(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 39 && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* ?scope=local|cluster: 1 = the cluster's view (the default in cluster
 * mode), 0 = this daemon's; -1 after answering 400. */
static int cluster_scope(req *r)
{
    const char *scope = http_req_query(r, "scope");
    if (scope && strcmp(scope, "local") != 0 && strcmp(scope, "cluster") != 0) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "scope must be local or cluster");
        return -1;
    }
    int on = store_cluster_meta_on(r->app->db);
    if (scope && strcmp(scope, "cluster") == 0 && !on) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "scope=cluster needs a daemon started with --cluster-db");
        return -1;
    }
    return on && !(scope && strcmp(scope, "local") == 0);
}

typedef struct one_job { cJSON *o; char tenant[AUTH_TENANT_MAX]; } one_job;

static int one_job_cb(void *ctx, const store_meta_job_row *j)
{
    one_job *c = ctx;
    c->o = job_json(j);
    snprintf(c->tenant, sizeof c->tenant, "%s", j->tenant ? j->tenant : "");
    return 1;
}

static int status_only_cb(void *ctx, const store_meta_job_row *j)
{
    (void)ctx;
    (void)j;
    return 1;
}

/* Whether the caller may see a job of `tenant`. */
static int job_visible(const req *r, const char *tenant)
{
    return r->who.admin || strcmp(r->who.tenant, tenant) == 0;
}

/* Answers 404 for a job that does not exist or that the caller may not see;
 * returns 0 when it exists and is visible. */
static int job_check(req *r, const char *id)
{
    one_job c = {NULL, ""};
    int rc = store_meta_job_get(r->app->db, id, 0, one_job_cb, &c);
    cJSON_Delete(c.o);
    if (rc == ERR_NOT_FOUND || (!rc && !job_visible(r, c.tenant))) {
        http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", id);
        return -1;
    }
    if (rc) {
        http_resp_error(r, rc, NULL);
        return -1;
    }
    return 0;
}

static int curve_cb(void *ctx, int64_t step, double loss, double gn)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "step", (double)step);
    if (isfinite(loss)) cJSON_AddNumberToObject(p, "meta_loss", loss);
    else cJSON_AddNullToObject(p, "meta_loss");
    if (isfinite(gn)) cJSON_AddNumberToObject(p, "grad_norm", gn);
    else cJSON_AddNullToObject(p, "grad_norm");
    cJSON_AddItemToArray(ctx, p);
    return 0;
}

/* Answers job `o` with its curve (both taken) and the curve's last meta-loss. */
static void answer_with_curve(req *r, int status, cJSON *o, cJSON *curve)
{
    int n = cJSON_GetArraySize(curve);
    cJSON *last = n ? cJSON_GetArrayItem(curve, n - 1) : NULL;
    cJSON *ml = last ? cJSON_GetObjectItemCaseSensitive(last, "meta_loss") : NULL;
    if (ml && cJSON_IsNumber(ml)) cJSON_AddNumberToObject(o, "meta_loss", ml->valuedouble);
    else cJSON_AddNullToObject(o, "meta_loss");
    cJSON_AddItemToObject(o, "curve", curve);
    http_resp_json(r, status, o);
}

/* GET {id} and the answers of POST/DELETE: the job with its curve. */
static void answer_job(req *r, int status, const char *id)
{
    one_job c = {NULL, ""};
    int rc = store_meta_job_get(r->app->db, id, 0, one_job_cb, &c);
    if (rc == ERR_NOT_FOUND || (!rc && c.o && !job_visible(r, c.tenant))) {
        cJSON_Delete(c.o);
        http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", id);
        return;
    }
    cJSON *curve = cJSON_CreateArray();
    if (!rc) rc = store_meta_curve(r->app->db, id, curve_cb, curve);
    if (rc || !c.o) {
        cJSON_Delete(c.o);
        cJSON_Delete(curve);
        http_resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return;
    }
    answer_with_curve(r, status, c.o, curve);
}

static int cluster_one_cb(void *ctx, const store_meta_job_row *j, const char *shard, int cancel_requested)
{
    one_job *c = ctx;
    c->o = cluster_job_json(j, shard, cancel_requested);
    snprintf(c->tenant, sizeof c->tenant, "%s", j->tenant ? j->tenant : "");
    return 1;
}

/* GET {id} (and DELETE's answer) from the cluster database: the job with its
 * curve.  0 when answered; ERR_NOT_FOUND, with nothing answered, when the
 * cluster holds no such job (a job of the command line, or of this daemon
 * before it joined a cluster, is only in its file). */
static int cluster_answer_job(req *r, int status, const char *id)
{
    one_job c = {NULL, ""};
    char err[300];
    int rc = store_cluster_meta_get(r->app->db, id, cluster_one_cb, &c, err, sizeof err);
    if (rc == ERR_NOT_FOUND) return rc;
    if (!rc && c.o && !job_visible(r, c.tenant)) {
        cJSON_Delete(c.o);
        http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", id);
        return 0;
    }
    cJSON *curve = cJSON_CreateArray();
    if (!rc && c.o && curve) rc = store_cluster_meta_curve(r->app->db, id, curve_cb, curve, err, sizeof err);
    if (rc || !c.o || !curve) {
        cJSON_Delete(c.o);
        cJSON_Delete(curve);
        if (rc == ERR_CLUSTER_DB) http_resp_error(r, rc, "the cluster's meta jobs cannot be read: %s", err);
        else http_resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return 0;
    }
    answer_with_curve(r, status, c.o, curve);
    return 0;
}

static void answer_submit_error(req *r, int rc)
{
    if (rc == ERR_QUEUE_FULL)
        http_resp_error(r, rc, "the meta-training queue is full: %lld jobs wait (max-queued-jobs), or %lld of this "
                               "tenant's (tenant-max-queued-jobs)", (long long)r->app->cfg.max_queued_jobs,
                        (long long)r->app->cfg.tenant_max_queued_jobs);
    else http_resp_error(r, rc, NULL);
}

/* POST /v1/meta/jobs with "method": a few-shot meta-learning job (body taken). */
static void fewshot_create(req *r, cJSON *body)
{
    char msg[400];
    fewshot_spec fs;
    fewshot_spec_defaults(&fs);
    int rc = fewshot_spec_from_json(&fs, body, msg, sizeof msg);
    cJSON_Delete(body);
    if (!rc) rc = fewshot_run_check(r->app->db, &fs, msg, sizeof msg);
    if (rc) {
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    char id[40];
    rc = meta_jobs_submit_fewshot(&fs, r->who.tenant, id);
    if (rc) {
        answer_submit_error(r, rc);
        return;
    }
    answer_job(r, 202, id);
}

/* POST /v1/meta/jobs with "method": "nas": an architecture search (body taken). */
static void nas_create(req *r, cJSON *body)
{
    char msg[400];
    nas_spec *ns = malloc(sizeof *ns);
    if (!ns) {
        cJSON_Delete(body);
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    nas_spec_defaults(ns);
    int rc = nas_spec_from_json(ns, body, msg, sizeof msg);
    cJSON_Delete(body);
    if (rc) {
        free(ns);
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    char id[40];
    rc = meta_jobs_submit_nas(ns, r->who.tenant, id);
    free(ns);
    if (rc) {
        answer_submit_error(r, rc);
        return;
    }
    answer_job(r, 202, id);
}

void h_meta_jobs_create(req *r)
{
    cJSON *body = h_body_json(r);
    if (!body) return;
    char msg[400];
    int is_adapt = meta_adapt_is_request(body);
    if (!is_adapt && nas_spec_is_request(body)) {
        nas_create(r, body);
        return;
    }
    if (!is_adapt && fewshot_spec_is_request(body)) {
        fewshot_create(r, body);
        return;
    }
    meta_spec sp;
    meta_spec_defaults(&sp);
    int rc = is_adapt ? meta_adapt_from_json(&sp, body, msg, sizeof msg) : meta_spec_from_json(&sp, body, msg, sizeof msg);
    cJSON_Delete(body);
    if (!rc) rc = meta_spec_check(&sp, msg, sizeof msg);
    if (!rc) rc = meta_run_check_weights(&sp, msg, sizeof msg);
    if (!rc) rc = meta_weights_check_kind(r->app->db, sp.name, sp.mc.optimizer, msg, sizeof msg);
    if (rc) {
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    char id[40];
    rc = meta_jobs_submit(&sp, r->who.tenant, id);
    if (rc) {
        answer_submit_error(r, rc);
        return;
    }
    answer_job(r, 202, id);
}

typedef struct jlist_ctx { cJSON *arr; int n; int64_t last_ms; char last_id[40]; } jlist_ctx;

/* Adds job j's item o to the page; the page token follows the last one. */
static int list_add(jlist_ctx *c, const store_meta_job_row *j, cJSON *o)
{
    cJSON_AddItemToArray(c->arr, o);
    c->n++;
    c->last_ms = j->created_ms;
    snprintf(c->last_id, sizeof c->last_id, "%s", j->id);
    return 0;
}

static int list_cb(void *ctx, const store_meta_job_row *j)
{
    return list_add(ctx, j, job_json(j));
}

static int cluster_list_cb(void *ctx, const store_meta_job_row *j, const char *shard, int cancel_requested)
{
    return list_add(ctx, j, cluster_job_json(j, shard, cancel_requested));
}

/* The n bytes at s as a decimal integer (1 to 18 digits, nothing else) in
 * [lo, hi]; -1 when they are not one. */
static int parse_decimal(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* A page token is "<created_ms>.<id>" of the last job of the previous page
 * (the list is ordered by created_ms descending, then id).  0 when `tok`
 * is one. */
static int parse_job_token(const char *tok, int64_t *ms, char *id, size_t cap)
{
    const char *dot = strchr(tok, '.');
    int64_t v;
    if (!dot || parse_decimal(tok, (size_t)(dot - tok), 0, INT64_MAX, &v) != 0) return -1;
    size_t n = strlen(dot + 1);
    if (n == 0 || n >= cap) return -1;
    for (const char *p = dot + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return -1;
    *ms = v;
    memcpy(id, dot + 1, n + 1);
    return 0;
}

/* GET /v1/meta/jobs?limit=&page_token=&scope=: the caller's jobs (every job
 * for an admin), newest first, paged like the sessions list.  In cluster
 * mode the cluster's (from PostgreSQL, each with its shard; 503 without
 * it), or with scope=local this daemon's file's. */
void h_meta_jobs_list(req *r)
{
    int64_t limit = 100;
    const char *ls = http_req_query(r, "limit");
    if (ls && parse_decimal(ls, strlen(ls), 1, 1000, &limit) != 0) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "limit must be an integer in [1, 1000]");
        return;
    }
    const char *tok = http_req_query(r, "page_token");
    int64_t after_ms = 0;
    char after_id[40];
    if (tok && parse_job_token(tok, &after_ms, after_id, sizeof after_id) != 0) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "page_token is not one this daemon gave out");
        return;
    }
    int cluster = cluster_scope(r);
    if (cluster < 0) return;
    cJSON *root = cJSON_CreateObject();
    jlist_ctx c = {.arr = cJSON_AddArrayToObject(root, "jobs")};
    const char *tenant = r->who.admin ? NULL : r->who.tenant;
    char err[300] = "";
    int rc = cluster ? store_cluster_meta_page(r->app->db, tenant, after_ms, tok ? after_id : NULL, (int)limit,
                                               cluster_list_cb, &c, err, sizeof err)
                     : store_meta_jobs_list(r->app->db, tenant, after_ms, tok ? after_id : NULL, (int)limit, list_cb, &c);
    if (rc) {
        cJSON_Delete(root);
        if (rc == ERR_CLUSTER_DB) http_resp_error(r, rc, "the cluster's meta jobs cannot be read: %s", err);
        else http_resp_error(r, rc, NULL);
        return;
    }
    if (c.n == limit) {
        char next[64];
        snprintf(next, sizeof next, "%lld.%s", (long long)c.last_ms, c.last_id);
        cJSON_AddStringToObject(root, "next_page_token", next);
    } else cJSON_AddNullToObject(root, "next_page_token");
    http_resp_json(r, 200, root);
}

/* Answers 404 for an id that cannot be a job's; 0 when it can. */
static int job_id_check(req *r)
{
    if (job_id_ok(r->param[0])) return 0;
    http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has that id (ids are at most 39 letters, digits, '-' or '_')");
    return -1;
}

/* GET {id}?scope=: in cluster mode from PostgreSQL (falling back to this
 * daemon's file for a job the cluster does not hold), or with scope=local
 * from this daemon's file. */
void h_meta_job_get(req *r)
{
    if (job_id_check(r)) return;
    int cluster = cluster_scope(r);
    if (cluster < 0) return;
    if (cluster && cluster_answer_job(r, 200, r->param[0]) != ERR_NOT_FOUND) return;
    answer_job(r, 200, r->param[0]);
}

/* DELETE {id} of a job another daemon runs (cluster mode): its row gets
 * cancel_requested and the owner is notified (pg_meta_jobs.h); the answer,
 * 200 like a local cancel of a running job, shows it "cancelling". */
static void cluster_cancel(req *r, const char *id)
{
    one_job c = {NULL, ""};
    char err[300] = "";
    int rc = store_cluster_meta_get(r->app->db, id, cluster_one_cb, &c, err, sizeof err);
    cJSON_Delete(c.o);
    if (rc == ERR_NOT_FOUND || (!rc && !job_visible(r, c.tenant))) {
        http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", id);
        return;
    }
    if (!rc) rc = store_cluster_meta_request_cancel(r->app->db, id, err, sizeof err);
    if (rc == ERR_CLUSTER_DB) {
        http_resp_error(r, rc, "the cluster's meta jobs cannot be written: %s", err);
        return;
    }
    if (rc) {
        http_resp_error(r, rc, NULL);
        return;
    }
    if (cluster_answer_job(r, 200, id) == ERR_NOT_FOUND) http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", id);
}

/* A job this daemon's file holds is cancelled here (without PostgreSQL:
 * the cluster's copy follows through the queue); another daemon's through
 * the cluster database. */
void h_meta_job_cancel(req *r)
{
    if (job_id_check(r)) return;
    int local = store_meta_job_get(r->app->db, r->param[0], 0, status_only_cb, NULL);
    if (local == ERR_NOT_FOUND && store_cluster_meta_on(r->app->db)) {
        cluster_cancel(r, r->param[0]);
        return;
    }
    if (job_check(r, r->param[0])) return;
    char state[32];
    int rc = meta_jobs_cancel(r->param[0], state, sizeof state);
    if (rc == ERR_NOT_FOUND) {
        http_resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", r->param[0]);
        return;
    }
    if (rc) {
        http_resp_error(r, rc, NULL);
        return;
    }
    /* the cluster's copy: "cancelling" until the job stops (queued, never waited on) */
    if (strcmp(state, "cancelling") == 0) store_cluster_meta_touch(r->app->db, r->param[0], 1, 1);
    answer_job(r, 200, r->param[0]);
}

/* ---- weights ------------------------------------------------------------------ */

static int wlist_cb(void *ctx, const store_weights_row *w)
{
    cJSON_AddItemToArray(ctx, meta_weights_to_json(w));
    return 0;
}

void h_weights_list(req *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "weights");
    /* with the blobs, so each entry's architecture is the one GET /v1/weights/{name} shows (an
     * mlp_lopt record's activation, attn_lopt's heads: meta_weights_to_json reads them there) */
    int rc = store_weights_list(r->app->db, 1, wlist_cb, arr);
    if (rc) {
        cJSON_Delete(root);
        http_resp_error(r, rc, NULL);
        return;
    }
    http_resp_json(r, 200, root);
}

typedef struct wone { cJSON *o; void *blob; size_t len; } wone;

static int wone_cb(void *ctx, const store_weights_row *w)
{
    wone *c = ctx;
    c->o = meta_weights_to_json(w);
    if (w->blob) {
        c->blob = malloc(w->blob_len ? w->blob_len : 1);
        if (c->blob) {
            memcpy(c->blob, w->blob, w->blob_len);
            c->len = w->blob_len;
        }
    }
    return 1;
}

/* Looks up {name} ("name" or "name@version", or ?version=N); answers the
 * error itself and returns non-zero when there is no such record. */
static int weights_lookup(req *r, int with_blob, wone *c)
{
    char name[META_WNAME_MAX];
    int64_t version;
    memset(c, 0, sizeof *c);
    if (meta_weights_parse_ref(r->param[0], name, sizeof name, &version) != 0) {
        http_resp_error(r, ERR_NOT_FOUND, "no weights record is named %s", r->param[0]);
        return -1;
    }
    const char *vq = http_req_query(r, "version");
    if (vq) {
        char *end;
        long long v = strtoll(vq, &end, 10);
        if (!*vq || *end || v < 1) {
            http_resp_error(r, ERR_OUT_OF_RANGE, "version must be a positive integer");
            return -1;
        }
        version = v;
    }
    int rc = store_weights_get(r->app->db, name, version, with_blob, wone_cb, c);
    if (rc == ERR_NOT_FOUND) {
        http_resp_error(r, ERR_NOT_FOUND, "no weights record %s%s", r->param[0], vq ? " with that version" : "");
        return -1;
    }
    if (rc || !c->o || (with_blob && !c->blob)) {
        cJSON_Delete(c->o);
        free(c->blob);
        http_resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return -1;
    }
    return 0;
}

void h_weights_get(req *r)
{
    wone c;
    if (weights_lookup(r, 1, &c)) return;   /* the blob: an mlp_lopt record's activation (meta_weights_to_json) */
    free(c.blob);
    http_resp_json(r, 200, c.o);
}

void h_weights_blob(req *r)
{
    wone c;
    if (weights_lookup(r, 1, &c)) return;
    cJSON_Delete(c.o);
    http_resp_take(r, 200, "application/octet-stream", c.blob, c.len);
}

/* GET /v1/weights/{name}/init: a few-shot record's network as named
 * tensors, θ flat in tensor order, and the inner rate (a number, or
 * Meta-SGD's per-parameter array in the same order).  404 for a record of
 * another kind. */
void h_weights_init(req *r)
{
    wone c;
    if (weights_lookup(r, 1, &c)) return;
    cJSON *meta = c.o;
    fewshot_record fr;
    int rc = fewshot_record_load(&fr, c.blob, c.len);
    free(c.blob);
    if (rc == ERR_CORRUPT) {
        cJSON *arch = cJSON_GetObjectItemCaseSensitive(meta, "optimizer");
        http_resp_error(r, ERR_NOT_FOUND, "weights %s are %s weights, not a few-shot record: only those have an "
                        "initialisation", r->param[0], cJSON_IsString(arch) ? arch->valuestring : "?");
        cJSON_Delete(meta);
        return;
    }
    if (rc) {
        cJSON_Delete(meta);
        http_resp_error(r, rc, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "name", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(meta, "name"), 1));
    cJSON_AddItemToObject(o, "version", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(meta, "version"), 1));
    cJSON_Delete(meta);
    cJSON_AddStringToObject(o, "method", fewshot_method_name(fr.method));
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    char tname[32];
    int shape[2];
    for (int t = 0, rank; (rank = fsnet_tensor(&fr.net, t, tname, sizeof tname, shape)) > 0; t++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", tname);
        cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray(shape, rank));
        cJSON_AddItemToArray(ts, e);
    }
    size_t P = fr.net.nparams;
    cJSON *params = cJSON_AddArrayToObject(o, "params");
    for (size_t i = 0; i < P; i++) cJSON_AddItemToArray(params, cJSON_CreateNumber(fr.theta[i]));
    if (fr.alpha) {
        cJSON *a = cJSON_AddArrayToObject(o, "inner_lr");
        for (size_t i = 0; i < P; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(fr.alpha[i]));
    } else cJSON_AddNumberToObject(o, "inner_lr", fr.inner_lr);
    fewshot_record_deinit(&fr);
    http_resp_json(r, 200, o);
}

/* POST /v1/weights?name=N[&domain=D]: the body is a weights blob as GET
 * …/blob gives it — a learned optimizer's (BLOB_KIND_WEIGHTS) or a few-shot
 * record (BLOB_KIND_FEWSHOT), checksummed; it becomes the next version of N. */

/* The row's arch, hidden, depth and ntheta from a blob of either kind, which
 * must decode whole and hold finite values.  0, or ERR_INVALID_ARGUMENT /
 * ERR_NON_FINITE / ERR_NO_MEMORY with a message. */
static int import_describe(const void *blob, size_t len, store_weights_row *row, char *msg, size_t cap)
{
    lopt_weights lw;
    int rc = lopt_weights_load(&lw, blob, len);
    if (!rc) {
        int ok = 1;
        for (size_t i = 0; i < lw.ntheta; i++) ok &= isfinite(lw.theta[i]);
        row->arch = lopt_arch_name(lw.arch);
        row->hidden = lw.hidden;
        row->depth = lw.depth;
        row->ntheta = (int64_t)lw.ntheta;
        lopt_weights_deinit(&lw);
        if (!ok) snprintf(msg, cap, "the weights contain a non-finite value");
        return ok ? 0 : ERR_NON_FINITE;
    }
    if (rc != ERR_CORRUPT) {
        snprintf(msg, cap, "%s", err_message(rc));
        return rc;
    }
    fewshot_record fr;
    rc = fewshot_record_load(&fr, blob, len);   /* refuses non-finite values itself */
    if (rc) {
        snprintf(msg, cap, "%s", rc == ERR_CORRUPT ? "the body is not a valid weights blob (bad magic, kind, version, "
                                                     "checksum or contents)"
                                                   : err_message(rc));
        return rc == ERR_CORRUPT ? ERR_INVALID_ARGUMENT : rc;
    }
    row->arch = fewshot_method_name(fr.method);
    row->hidden = fr.net.nlayers > 1 ? fr.net.sizes[1] : 0;
    row->depth = fr.net.nlayers - 1;
    row->ntheta = (int64_t)(fr.net.nparams * (fr.alpha ? 2 : 1));
    fewshot_record_deinit(&fr);
    return 0;
}

/* Checks, stores and publishes an imported weights blob (on the compute
 * pool: a checksum over the whole blob and its commit). */
static int weights_import_work(req *r, void *ctx)
{
    (void)ctx;
    /* on the pool: the daemon may have begun draining while this waited */
    if (!http_ready(r)) return COMPUTE_DONE;
    if (r->ctype != CT_BINARY) {
        http_resp_error(r, ERR_UNSUPPORTED_MEDIA, "this route takes application/octet-stream (a weights blob)");
        return COMPUTE_DONE;
    }
    const char *name = http_req_query(r, "name");
    if (!name) {
        http_resp_error(r, ERR_MISSING_FIELD, "the query parameter name is required");
        return COMPUTE_DONE;
    }
    if (!meta_weights_valid_name(name)) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "name must be 1 to 47 characters of [A-Za-z0-9._-]");
        return COMPUTE_DONE;
    }
    const char *domain = http_req_query(r, "domain");
    if (!domain) domain = "synthetic";
    if (!domain_record_valid(domain)) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "domain must be %s", DOMAIN_RECORD_WORDS);
        return COMPUTE_DONE;
    }
    store_weights_row row = {.name = name, .version = 0, .domain = domain, .provenance_json = "{\"imported\":true}",
                             .eval_json = "{}", .blob = r->body, .blob_len = r->body_len};
    char why[200];
    int rc = import_describe(r->body, r->body_len, &row, why, sizeof why);
    if (!rc) rc = domain_check_record(name, row.arch, domain, why, sizeof why);
    if (!rc) rc = meta_weights_check_kind(r->app->db, name, row.arch, why, sizeof why);
    if (rc) {
        http_resp_error(r, rc, "%s", why);
        return COMPUTE_DONE;
    }
    int64_t version = 0;
    rc = store_weights_put(r->app->db, &row, 0, &version);
    if (!rc) {
        row.version = version;
        rc = meta_weights_publish(&row);
    }
    if (rc) {
        http_resp_error(r, rc, NULL);
        return COMPUTE_DONE;
    }
    wone c = {0};
    rc = store_weights_get(r->app->db, name, version, 1, wone_cb, &c);   /* with the blob: as GET describes it */
    free(c.blob);
    if (rc || !c.o) {
        http_resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return COMPUTE_DONE;
    }
    http_resp_json(r, 201, c.o);
    return COMPUTE_DONE;
}

void h_weights_import(req *r)
{
    compute_defer(r, NULL, 1, weights_import_work, NULL, NULL);
}
