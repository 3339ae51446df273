/* h_meta.c — meta-training jobs (/v1/meta/jobs) and the weights registry
 * (/v1/weights): list, describe, export and import weights records. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "errors.h"
#include "jsonwalk.h"
#include "handlers.h"
#include "lopt.h"
#include "meta_jobs.h"
#include "store.h"

static int ready_or_error(req *r)
{
    int st = atomic_load(&r->app->state);
    if (st == APP_READY) return 1;
    resp_error(r, st == APP_STARTING ? ERR_STARTING : ERR_SHUTTING_DOWN, NULL);
    return 0;
}

/* ---- jobs ------------------------------------------------------------------ */

static cJSON *job_json(const store_meta_job_row *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "source", j->source);
    const char *status = j->status;
    if (strcmp(status, "running") == 0 && meta_jobs_cancelling(j->id)) status = "cancelling";
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "step", (double)j->step);
    cJSON_AddNumberToObject(o, "outer_steps", (double)j->outer_steps);
    cJSON_AddNumberToObject(o, "progress", j->outer_steps > 0 ? (double)j->step / (double)j->outer_steps : 0);
    cJSON_AddNumberToObject(o, "wall_s", isfinite(j->wall_s) ? j->wall_s : 0);
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

typedef struct one_job { cJSON *o; } one_job;

static int one_job_cb(void *ctx, const store_meta_job_row *j)
{
    ((one_job *)ctx)->o = job_json(j);
    return 1;
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

/* GET {id} and the answers of POST/DELETE: the job with its curve. */
static void answer_job(req *r, int status, const char *id)
{
    one_job c = {NULL};
    int rc = store_meta_job_get(r->app->db, id, 0, one_job_cb, &c);
    if (rc == ERR_NOT_FOUND) {
        resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", id);
        return;
    }
    cJSON *curve = cJSON_CreateArray();
    if (!rc) rc = store_meta_curve(r->app->db, id, curve_cb, curve);
    if (rc || !c.o) {
        cJSON_Delete(c.o);
        cJSON_Delete(curve);
        resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return;
    }
    int n = cJSON_GetArraySize(curve);
    cJSON *last = n ? cJSON_GetArrayItem(curve, n - 1) : NULL;
    cJSON *ml = last ? cJSON_GetObjectItemCaseSensitive(last, "meta_loss") : NULL;
    if (ml && cJSON_IsNumber(ml)) cJSON_AddNumberToObject(c.o, "meta_loss", ml->valuedouble);
    else cJSON_AddNullToObject(c.o, "meta_loss");
    cJSON_AddItemToObject(c.o, "curve", curve);
    resp_json(r, status, c.o);
}

void h_meta_jobs_create(req *r)
{
    if (!ready_or_error(r)) return;
    if (r->ctype != CT_JSON && r->ctype != CT_NONE) {
        resp_error(r, ERR_UNSUPPORTED_MEDIA, "this route takes application/json");
        return;
    }
    char msg[400];
    int bad = jsonwalk_check_text(r->body ? r->body : "", r->body_len, msg, sizeof msg);
    if (bad) {
        resp_error(r, bad, "%s", msg);
        return;
    }
    const char *end = NULL;
    cJSON *body = cJSON_ParseWithLengthOpts(r->body ? r->body : "", r->body_len, &end, 0);
    if (!body) {
        resp_error(r, ERR_INVALID_JSON, NULL);
        return;
    }
    meta_spec sp;
    meta_spec_defaults(&sp);
    int rc = meta_spec_from_json(&sp, body, msg, sizeof msg);
    cJSON_Delete(body);
    if (!rc) rc = meta_spec_check(&sp, msg, sizeof msg);
    if (rc) {
        resp_error(r, rc, "%s", msg);
        return;
    }
    char id[40];
    rc = meta_jobs_submit(&sp, id);
    if (rc) {
        resp_error(r, rc, NULL);
        return;
    }
    answer_job(r, 202, id);
}

static int list_cb(void *ctx, const store_meta_job_row *j)
{
    cJSON_AddItemToArray(ctx, job_json(j));
    return 0;
}

void h_meta_jobs_list(req *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "jobs");
    int rc = store_meta_jobs_list(r->app->db, list_cb, arr);
    if (rc) {
        cJSON_Delete(root);
        resp_error(r, rc, NULL);
        return;
    }
    resp_json(r, 200, root);
}

void h_meta_job_get(req *r) { answer_job(r, 200, r->param[0]); }

void h_meta_job_cancel(req *r)
{
    char state[32];
    int rc = meta_jobs_cancel(r->param[0], state, sizeof state);
    if (rc == ERR_NOT_FOUND) {
        resp_error(r, ERR_NOT_FOUND, "no meta-training job has id %s", r->param[0]);
        return;
    }
    if (rc) {
        resp_error(r, rc, NULL);
        return;
    }
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
    int rc = store_weights_list(r->app->db, 0, wlist_cb, arr);
    if (rc) {
        cJSON_Delete(root);
        resp_error(r, rc, NULL);
        return;
    }
    resp_json(r, 200, root);
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
        resp_error(r, ERR_NOT_FOUND, "no weights record is named %s", r->param[0]);
        return -1;
    }
    const char *vq = req_query(r, "version");
    if (vq) {
        char *end;
        long long v = strtoll(vq, &end, 10);
        if (!*vq || *end || v < 1) {
            resp_error(r, ERR_OUT_OF_RANGE, "version must be a positive integer");
            return -1;
        }
        version = v;
    }
    int rc = store_weights_get(r->app->db, name, version, with_blob, wone_cb, c);
    if (rc == ERR_NOT_FOUND) {
        resp_error(r, ERR_NOT_FOUND, "no weights record %s%s", r->param[0], vq ? " with that version" : "");
        return -1;
    }
    if (rc || !c->o || (with_blob && !c->blob)) {
        cJSON_Delete(c->o);
        free(c->blob);
        resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return -1;
    }
    return 0;
}

void h_weights_get(req *r)
{
    wone c;
    if (weights_lookup(r, 0, &c)) return;
    resp_json(r, 200, c.o);
}

void h_weights_blob(req *r)
{
    wone c;
    if (weights_lookup(r, 1, &c)) return;
    cJSON_Delete(c.o);
    resp_take(r, 200, "application/octet-stream", c.blob, c.len);
}

/* POST /v1/weights?name=N[&domain=D]: the body is a weights blob as GET
 * …/blob gives it (BLOB_KIND_WEIGHTS, checksummed); it becomes the next
 * version of N. */
void h_weights_import(req *r)
{
    if (!ready_or_error(r)) return;
    if (r->ctype != CT_BINARY) {
        resp_error(r, ERR_UNSUPPORTED_MEDIA, "this route takes application/octet-stream (a weights blob)");
        return;
    }
    const char *name = req_query(r, "name");
    if (!name) {
        resp_error(r, ERR_MISSING_FIELD, "the query parameter name is required");
        return;
    }
    if (!meta_weights_valid_name(name)) {
        resp_error(r, ERR_INVALID_ARGUMENT, "name must be 1 to 47 characters of [A-Za-z0-9._-]");
        return;
    }
    const char *domain = req_query(r, "domain");
    if (!domain) domain = "synthetic";
    if (strcmp(domain, "synthetic") && strcmp(domain, "tabular") && strcmp(domain, "vision") &&
        strcmp(domain, "text") && strcmp(domain, "mixed")) {
        resp_error(r, ERR_INVALID_ARGUMENT, "domain must be synthetic, tabular, vision, text or mixed");
        return;
    }
    lopt_weights lw;
    int rc = lopt_weights_load(&lw, r->body, r->body_len);
    if (rc) {
        resp_error(r, rc == ERR_CORRUPT ? ERR_INVALID_ARGUMENT : rc,
                   rc == ERR_CORRUPT ? "the body is not a valid weights blob (bad magic, version or checksum)" : NULL);
        return;
    }
    int ok = 1;
    for (size_t i = 0; i < lw.ntheta; i++) ok &= isfinite(lw.theta[i]);
    if (!ok) {
        lopt_weights_deinit(&lw);
        resp_error(r, ERR_NON_FINITE, "the weights contain a non-finite value");
        return;
    }
    store_weights_row row = {.name = name, .version = 0, .arch = lopt_arch_name(lw.arch), .hidden = lw.hidden,
                             .depth = lw.depth, .ntheta = (int64_t)lw.ntheta, .domain = domain,
                             .provenance_json = "{\"imported\":true}", .eval_json = "{}",
                             .blob = r->body, .blob_len = r->body_len};
    lopt_weights_deinit(&lw);
    int64_t version = 0;
    rc = store_weights_put(r->app->db, &row, 0, &version);
    if (!rc) {
        row.version = version;
        rc = meta_weights_publish(&row);
    }
    if (rc) {
        resp_error(r, rc, NULL);
        return;
    }
    wone c = {0};
    rc = store_weights_get(r->app->db, name, version, 0, wone_cb, &c);
    if (rc || !c.o) {
        resp_error(r, rc ? rc : ERR_NO_MEMORY, NULL);
        return;
    }
    resp_json(r, 201, c.o);
}
