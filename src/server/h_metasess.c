/* h_metasess.c — /v1/meta/sessions: meta-sessions, first-order meta-learning
 * of clients' own models (docs/meta-learning.md, "Meta-sessions").  Decodes
 * each request and hands it to the meta-session service
 * (src/service/metasess.h), which answers in cJSON or with an error code.
 * Every route runs on the compute pool: creates, contributions and deletes
 * commit before they answer, and the reads wait for the service's mutex,
 * which a commit may hold; contributions with an Idempotency-Key run in
 * that key's lane (h_idem.h, idemlane.h).
 * A meta-session belongs to the tenant of the key that created it:
 * another tenant's is 404 not_found, exactly like a missing one; admin
 * keys see every one. */
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
#include "metasess.h"
#include "wire_dtype.h"

/* The tenant whose meta-sessions the caller sees (NULL: every one, an admin). */
static const char *tenant_of(const req *r) { return r->who.admin ? NULL : r->who.tenant; }

/* 1 when the path's {id} can name a meta-session (1 to 31 bytes of
 * [A-Za-z0-9_-]; metasess.c makes "ms-" and hex); else answers 404. */
static int path_id_ok(req *r)
{
    const char *id = r->param[0];
    size_t n = strlen(id);
    int ok = n >= 1 && n <= 31;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
             id[i] == '-' || id[i] == '_';
    if (!ok) http_resp_error(r, ERR_NOT_FOUND, "no meta-session has id %.64s", id);
    return ok;
}

static void answer(req *r, int status, int rc, cJSON *out, const char *msg)
{
    if (rc) {
        cJSON_Delete(out);
        http_resp_error(r, rc, "%s", msg[0] ? msg : err_message(rc));
    } else http_resp_json(r, status, out);
}

/* ---- the work of each route, on the pool ------------------------------------- */

typedef enum { OP_CREATE, OP_CONTRIBUTE, OP_DELETE, OP_GET, OP_LIST, OP_INIT } op_kind;

typedef struct mjob {
    op_kind   op;
    int       enc;             /* OP_INIT: ENC_JSON or ENC_BINARY */
    h_idem    im;
    idemlane *lane;            /* a reference, with an Idempotency-Key */
} mjob;

static void mjob_free(void *ctx)
{
    mjob *j = ctx;
    idemlane_put(j->lane);
    free(j);
}

static void do_create(req *r)
{
    cJSON *b = h_body_json(r);
    if (!b) return;
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = metasess_create(r->app->msess, r->who.tenant, b, &out, msg, sizeof msg);
    cJSON_Delete(b);
    answer(r, 201, rc, out, msg);
}

static void do_contribute(req *r)
{
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = metasess_contribute(r->app->msess, tenant_of(r), r->param[0], r->body ? r->body : "", r->body_len, &out,
                              msg, sizeof msg);
    answer(r, 200, rc, out, msg);
}

static void do_delete(req *r)
{
    char msg[400] = "";
    int rc = metasess_delete(r->app->msess, tenant_of(r), r->param[0], msg, sizeof msg);
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
    int rc = metasess_get(r->app->msess, tenant_of(r), r->param[0], &out, msg, sizeof msg);
    answer(r, 200, rc, out, msg);
}

static void do_list(req *r)
{
    cJSON *out = NULL;
    char msg[400] = "";
    int rc = metasess_list(r->app->msess, tenant_of(r), &out, msg, sizeof msg);
    answer(r, 200, rc, out, msg);
}

static void do_init(req *r, int enc)
{
    char msg[400] = "";
    if (enc == ENC_JSON) {
        cJSON *out = NULL;
        int rc = metasess_init(r->app->msess, tenant_of(r), r->param[0], &out, msg, sizeof msg);
        answer(r, 200, rc, out, msg);
        return;
    }
    float *v = NULL;
    size_t n = 0;
    int64_t round;
    int rc = metasess_init_f32(r->app->msess, tenant_of(r), r->param[0], &v, &n, &round, msg, sizeof msg);
    if (rc) {
        http_resp_error(r, rc, "%s", msg[0] ? msg : err_message(rc));
        return;
    }
    http_resp_take(r, 200, "application/octet-stream", (char *)v, n * sizeof(float));
}

static int msess_work(req *r, void *ctx)
{
    mjob *j = ctx;
    /* on the pool: the daemon may have begun draining while this waited */
    if (!http_ready(r)) return COMPUTE_DONE;
    if (h_idem_begin(r, &j->im)) return COMPUTE_DONE;
    switch (j->op) {
    case OP_CREATE: do_create(r); break;
    case OP_CONTRIBUTE: do_contribute(r); break;
    case OP_DELETE: do_delete(r); break;
    case OP_GET: do_get(r); break;
    case OP_LIST: do_list(r); break;
    case OP_INIT: do_init(r, j->enc); break;
    }
    h_idem_end(r, &j->im);
    return COMPUTE_DONE;
}

/* Queues op for r: in its Idempotency-Key's lane when idem_route is given
 * and the request has a key, else on no lane. */
static void defer_op(req *r, op_kind op, int enc, const char *idem_route)
{
    mjob *j = calloc(1, sizeof *j);
    if (!j) {
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    j->op = op;
    j->enc = enc;
    if (idem_route && h_idem_prepare(r, &j->im, idem_route)) {
        free(j);
        return;
    }
    h_idem_defer(r, &j->im, &j->lane, msess_work, mjob_free, j);
}

/* ---- the routes -------------------------------------------------------------- */

void h_msess_create(req *r)
{
    if (h_body_want_json(r)) defer_op(r, OP_CREATE, ENC_JSON, NULL);
}

void h_msess_contribute(req *r)
{
    if (!path_id_ok(r) || !h_body_want_json(r)) return;
    char key_route[128];
    snprintf(key_route, sizeof key_route, "metasess_contribute/%s", r->param[0]);
    defer_op(r, OP_CONTRIBUTE, ENC_JSON, key_route);
}

void h_msess_delete(req *r)
{
    if (path_id_ok(r)) defer_op(r, OP_DELETE, ENC_JSON, NULL);
}

void h_msess_get(req *r)
{
    if (path_id_ok(r)) defer_op(r, OP_GET, ENC_JSON, NULL);
}

void h_msess_list(req *r)
{
    defer_op(r, OP_LIST, ENC_JSON, NULL);
}

/* GET …/init: θ as JSON (with the layout and the round), or the raw
 * float32 values (native byte order, tensor order) when Accept names
 * application/octet-stream only — as GET /v1/sessions/{id}/params. */
void h_msess_init(req *r)
{
    if (!path_id_ok(r)) return;
    char msg[200] = "";
    int enc = wire_dtype_params_answer(r, msg, sizeof msg);
    if (enc >= 0 && enc != ENC_JSON && enc != ENC_BINARY) {
        enc = -1;
        snprintf(msg, sizeof msg, "a meta-session's init is served as JSON or float32 only");
    }
    if (enc < 0) http_resp_error(r, ERR_NOT_ACCEPTABLE, "%s", msg);
    else defer_op(r, OP_INIT, enc, NULL);
}
