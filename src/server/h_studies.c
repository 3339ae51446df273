/* h_studies.c — /v1/studies: hyperparameter studies (docs/studies.md).
 * Decodes and checks each request, then hands it to the study service
 * (src/service/study.h), which answers in cJSON or with an error code.
 * Every route but the list commits before it answers (a read of one study
 * marks its stale trials lost first), so they run on the compute pool; asks
 * and tells with an Idempotency-Key run in that key's lane (h_idem.h,
 * idemlane.h).  The list only reads: on the HTTP thread.
 * Studies belong to the tenant of the key that created them: another
 * tenant's study is 404 not_found, exactly like a missing one; admin keys
 * see every study. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "compute.h"
#include "errors.h"
#include "h_body.h"
#include "h_idem.h"
#include "handlers.h"
#include "idemlane.h"
#include "jsonwalk.h"
#include "meta_jobs.h"
#include "study.h"

/* The tenant whose studies the caller sees (NULL: every one, an admin). */
static const char *tenant_of(const req *r) { return r->who.admin ? NULL : r->who.tenant; }

/* 1 when the path's {id} can name a study ("st-" and hex, as study.c makes
 * them, or anything of [A-Za-z0-9_-] up to 64 bytes); else answers 404. */
static int path_id_ok(req *r)
{
    const char *id = r->param[0];
    size_t n = strlen(id);
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
             id[i] == '-' || id[i] == '_';
    if (!ok) http_resp_error(r, ERR_NOT_FOUND, "no study has id %.64s", id);
    return ok;
}

/* The path's {n} (a trial number: 0 .. 2^53, decimal); -1 after answering
 * 404. */
static int64_t path_trial(req *r)
{
    const char *s = r->param[1];
    size_t n = strlen(s);
    int64_t v = 0;
    int ok = n >= 1 && n <= 16;
    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (s[i] - '0');
    }
    if (!ok || v > 9007199254740992LL) {
        http_resp_error(r, ERR_NOT_FOUND, "no trial is numbered %.24s", s);
        return -1;
    }
    return v;
}

static void answer(req *r, int status, int rc, cJSON *out, const char *msg)
{
    if (rc) {
        cJSON_Delete(out);
        http_resp_error(r, rc, "%s", msg[0] ? msg : err_message(rc));
    } else http_resp_json(r, status, out);
}

/* ---- the work of each route, on the pool ------------------------------------- */

typedef enum { OP_CREATE, OP_ASK, OP_REPORT, OP_TELL, OP_DELETE, OP_GET, OP_TRIALS } op_kind;

typedef struct sjob {
    op_kind   op;
    int64_t   trial;
    h_idem    im;
    idemlane *lane;            /* a reference, with an Idempotency-Key */
} sjob;

static void sjob_free(void *ctx)
{
    sjob *j = ctx;
    idemlane_put(j->lane);
    free(j);
}

/* The body as an object with only `allowed` members (NULL-ended); an empty
 * body is {} when empty_ok.  NULL after answering. */
static cJSON *body_object(req *r, const char *const *allowed, int empty_ok)
{
    if (empty_ok && r->body_len == 0) return cJSON_CreateObject();
    cJSON *b = h_body_json(r);
    if (!b) return NULL;
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        http_resp_error(r, ERR_INVALID_ARGUMENT, "the body must be a JSON object");
        return NULL;
    }
    if (jsonwalk_has_duplicate(b)) {
        cJSON_Delete(b);
        http_resp_error(r, ERR_INVALID_JSON, "the body names a member twice");
        return NULL;
    }
    for (const cJSON *m = b->child; allowed && m; m = m->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, m->string) == 0;
        if (!ok) {
            http_resp_error(r, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\"", m->string);
            cJSON_Delete(b);
            return NULL;
        }
    }
    return b;
}

/* A finite JSON number member; *rc set (and r answered) when it is not. */
static int finite_member(req *r, const cJSON *b, const char *name, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, name);
    if (!v) {
        http_resp_error(r, ERR_MISSING_FIELD, "%s is required", name);
        return -1;
    }
    if (!cJSON_IsNumber(v)) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "%s must be a number", name);
        return -1;
    }
    if (!isfinite(v->valuedouble)) {
        http_resp_error(r, ERR_NON_FINITE, "%s must be finite", name);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

/* "run": {"state"} of a study the daemon runs: "queued", "running",
 * "cancelling" while its run is in the job queue, else "idle" (finished,
 * cancelled, or stopped by an error; a restart queues an unfinished one
 * again, study_run.h). */
static void add_run(cJSON *study, const char *id)
{
    const char *st = meta_jobs_study_state(id);
    cJSON *run = cJSON_AddObjectToObject(study, "run");
    if (run) cJSON_AddStringToObject(run, "state", st ? st : "idle");
}

static void do_create(req *r)
{
    cJSON *b = body_object(r, NULL, 0);   /* the service checks the members */
    if (!b) return;
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = study_create(r->app->studies, r->who.tenant, b, &out, msg, sizeof msg);
    cJSON_Delete(b);
    if (!rc && cJSON_GetObjectItemCaseSensitive(out, "objective")) {
        /* the daemon runs it: queued on the job queue, or not created at all */
        const char *id = cJSON_GetObjectItemCaseSensitive(out, "id")->valuestring;
        char job[40];
        rc = meta_jobs_submit_study(id, r->who.tenant, job);
        if (rc) {
            char m2[200];
            study_delete(r->app->studies, NULL, id, m2, sizeof m2);
            snprintf(msg, sizeof msg, "the study's run cannot be queued: %s", err_message(rc));
            cJSON_Delete(out);
            out = NULL;
        } else add_run(out, id);
    }
    answer(r, 201, rc, out, msg);
}

static void do_ask(req *r)
{
    cJSON *b = body_object(r, (const char *const[]){NULL}, 1);
    if (!b) return;
    cJSON_Delete(b);
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = study_ask(r->app->studies, tenant_of(r), r->param[0], &out, msg, sizeof msg);
    answer(r, 201, rc, out, msg);
}

static void do_report(req *r, int64_t trial)
{
    cJSON *b = body_object(r, (const char *const[]){"step", "value", NULL}, 0);
    if (!b) return;
    int64_t step;
    double value;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(b, "step");
    int rc = sv ? jsonwalk_int(sv, 0, 9007199254740992.0, &step) : ERR_MISSING_FIELD;
    if (rc) {
        http_resp_error(r, rc, rc == ERR_MISSING_FIELD ? "step is required"
                                                       : "step must be an integer in [0, 2^53]");
        cJSON_Delete(b);
        return;
    }
    if (finite_member(r, b, "value", &value)) {
        cJSON_Delete(b);
        return;
    }
    cJSON_Delete(b);
    int prune = 0;
    char msg[400] = "";
    rc = study_report(r->app->studies, tenant_of(r), r->param[0], trial, step, value, &prune, msg, sizeof msg);
    cJSON *out = rc ? NULL : cJSON_CreateObject();
    if (out) {
        cJSON_AddNumberToObject(out, "trial", (double)trial);
        cJSON_AddNumberToObject(out, "step", (double)step);
        cJSON_AddBoolToObject(out, "prune", prune);
    } else if (!rc) rc = ERR_NO_MEMORY;
    answer(r, 200, rc, out, msg);
}

static void do_tell(req *r, int64_t trial)
{
    cJSON *b = body_object(r, (const char *const[]){"value", "state", NULL}, 0);
    if (!b) return;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "state");
    const char *state = "complete";
    if (st && !cJSON_IsString(st)) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "state must be complete, failed or pruned");
        cJSON_Delete(b);
        return;
    }
    if (st) state = st->valuestring;
    double value = NAN;
    int has_value = cJSON_GetObjectItemCaseSensitive(b, "value") != NULL;
    if (strcmp(state, "complete") == 0 || has_value) {
        if (finite_member(r, b, "value", &value)) {
            cJSON_Delete(b);
            return;
        }
        if (strcmp(state, "complete") != 0) {
            http_resp_error(r, ERR_INVALID_ARGUMENT, "a value goes with state complete only");
            cJSON_Delete(b);
            return;
        }
    }
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = study_tell(r->app->studies, tenant_of(r), r->param[0], trial, state, value, &out, msg, sizeof msg);
    cJSON_Delete(b);
    answer(r, 200, rc, out, msg);
}

static void do_delete(req *r)
{
    char msg[400] = "";
    cJSON *g = NULL;
    /* a study the daemon runs: its run stops first (after its current step) */
    if (study_get(r->app->studies, tenant_of(r), r->param[0], &g, msg, sizeof msg) == 0 &&
        cJSON_GetObjectItemCaseSensitive(g, "objective"))
        meta_jobs_cancel_study(r->param[0]);
    cJSON_Delete(g);
    int rc = study_delete(r->app->studies, tenant_of(r), r->param[0], msg, sizeof msg);
    cJSON *out = rc ? NULL : cJSON_CreateObject();
    if (out) {
        cJSON_AddStringToObject(out, "id", r->param[0]);
        cJSON_AddBoolToObject(out, "deleted", 1);
    } else if (!rc) rc = ERR_NO_MEMORY;
    answer(r, 200, rc, out, msg);
}

static void do_get(req *r)
{
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = study_get(r->app->studies, tenant_of(r), r->param[0], &out, msg, sizeof msg);
    if (!rc && cJSON_GetObjectItemCaseSensitive(out, "objective")) add_run(out, r->param[0]);
    answer(r, 200, rc, out, msg);
}

static void do_trials(req *r)
{
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = study_trials(r->app->studies, tenant_of(r), r->param[0], &out, msg, sizeof msg);
    answer(r, 200, rc, out, msg);
}

static int study_work(req *r, void *ctx)
{
    sjob *j = ctx;
    /* on the pool: the daemon may have begun draining while this waited */
    if (!http_ready(r)) return COMPUTE_DONE;
    if (h_idem_begin(r, &j->im)) return COMPUTE_DONE;
    switch (j->op) {
    case OP_CREATE: do_create(r); break;
    case OP_ASK: do_ask(r); break;
    case OP_REPORT: do_report(r, j->trial); break;
    case OP_TELL: do_tell(r, j->trial); break;
    case OP_DELETE: do_delete(r); break;
    case OP_GET: do_get(r); break;
    case OP_TRIALS: do_trials(r); break;
    }
    h_idem_end(r, &j->im);
    return COMPUTE_DONE;
}

/* Queues op for r: in its Idempotency-Key's lane when idem_route is given
 * and the request has a key, else on no lane. */
static void defer_op(req *r, op_kind op, int64_t trial, const char *idem_route)
{
    sjob *j = calloc(1, sizeof *j);
    if (!j) {
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    j->op = op;
    j->trial = trial;
    if (idem_route && h_idem_prepare(r, &j->im, idem_route)) {
        free(j);
        return;
    }
    h_idem_defer(r, &j->im, &j->lane, study_work, sjob_free, j);
}

/* ---- the routes -------------------------------------------------------------- */

void h_studies_create(req *r)
{
    if (h_body_want_json(r)) defer_op(r, OP_CREATE, 0, NULL);
}

void h_study_ask(req *r)
{
    if (!path_id_ok(r) || !h_body_want_json(r)) return;
    char key_route[128];
    snprintf(key_route, sizeof key_route, "study_ask/%s", r->param[0]);
    defer_op(r, OP_ASK, 0, key_route);
}

void h_study_report(req *r)
{
    if (!path_id_ok(r) || !h_body_want_json(r)) return;
    int64_t t = path_trial(r);
    if (t >= 0) defer_op(r, OP_REPORT, t, NULL);
}

void h_study_tell(req *r)
{
    if (!path_id_ok(r) || !h_body_want_json(r)) return;
    int64_t t = path_trial(r);
    if (t < 0) return;
    char key_route[128];
    snprintf(key_route, sizeof key_route, "study_tell/%s/%lld", r->param[0], (long long)t);
    defer_op(r, OP_TELL, t, key_route);
}

void h_study_delete(req *r)
{
    if (path_id_ok(r)) defer_op(r, OP_DELETE, 0, NULL);
}

void h_study_get(req *r)
{
    if (path_id_ok(r)) defer_op(r, OP_GET, 0, NULL);
}

void h_study_trials(req *r)
{
    if (path_id_ok(r)) defer_op(r, OP_TRIALS, 0, NULL);
}

void h_studies_list(req *r)
{
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = study_list(r->app->studies, tenant_of(r), &out, msg, sizeof msg);
    answer(r, 200, rc, out, msg);
}
