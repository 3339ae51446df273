/* h_life.c — the session lifecycle's routes (service/session_life.h): the
 * list of sessions with its filters, search and pages, and PATCH
 * /v1/sessions/{id} (name, tags, status), which runs in the session's lane
 * of the compute pool, after the steps sent before it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "compute.h"
#include "errors.h"
#include "h_body.h"
#include "handlers.h"
#include "sessions.h"
#include "store.h"
#include "session_life.h"

/* ---- the list ------------------------------------------------------------ */

static void list_one(void *ctx, session *s)
{
    cJSON *arr = ctx;
    cJSON *d = session_describe(s);
    if (d) {
        /* The list is a summary: the tensor list stays in GET {id}. */
        cJSON_DeleteItemFromObjectCaseSensitive(d, "tensors");
        cJSON_AddItemToArray(arr, d);
    }
}

/* In cluster mode (--cluster-db) the list is the cluster's, from the
 * session index (pg_sessions.h): keyset pages by id, the tenant filter in
 * SQL, each item with its shard.  The other filters need a session's state,
 * which is on its shard: they are refused here, and `scope=local` lists
 * this shard alone with every filter.  Without the database: 503. */
static int cluster_filtered(req *r)
{
    static const char *const local_only[] = {"status", "name", "tag", "optimizer", "q"};
    for (size_t i = 0; i < sizeof local_only / sizeof local_only[0]; i++)
        if (http_req_query(r, local_only[i])) return 1;
    return 0;
}

static void cluster_one(void *ctx, const char *id, const char *tenant, const char *shard)
{
    cJSON *it = cJSON_CreateObject();
    if (!it) return;
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "tenant", tenant);
    cJSON_AddStringToObject(it, "shard", shard);
    cJSON_AddItemToArray(ctx, it);
}

static void cluster_list(req *r, int limit)
{
    const char *tok = http_req_query(r, "page_token");
    /* The token is the last id of the previous page, behind "c.". */
    if (tok && (strncmp(tok, "c.", 2) != 0 || !tok[2] || strlen(tok) > 2 + 79 ||
                strspn(tok + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(tok + 2))) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "page_token is not one the cluster's list gave out");
        return;
    }
    if (cluster_filtered(r)) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "in cluster mode the list filters by tenant only; "
                        "status, name, tag, optimizer and q need scope=local (one shard)");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "sessions") : NULL;
    if (!arr) {
        cJSON_Delete(root);
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    int more = 0;
    char err[300];
    int rc = store_cluster_sessions_page(r->app->db, r->who.admin ? NULL : r->who.tenant, tok ? tok + 2 : NULL,
                                         limit, cluster_one, arr, &more, err, sizeof err);
    if (rc) {
        cJSON_Delete(root);
        http_resp_error(r, rc, "the cluster's session index cannot be read: %s", err[0] ? err : err_message(rc));
        return;
    }
    int n = cJSON_GetArraySize(arr);
    if (more && n > 0) {
        char next[2 + 80 + 1];
        snprintf(next, sizeof next, "c.%s", cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, n - 1), "id")->valuestring);
        cJSON_AddStringToObject(root, "next_page_token", next);
    } else {
        cJSON_AddNullToObject(root, "next_page_token");
    }
    http_resp_json(r, 200, root);
}

void h_sessions_list(req *r)
{
    int64_t limit = 100;
    const char *ls = http_req_query(r, "limit");
    if (ls) {
        char *end;
        long long v = strtoll(ls, &end, 10);
        if (ls[0] < '0' || ls[0] > '9' || *end || strlen(ls) > 4 || v < 1 || v > 1000) {
            http_resp_error(r, ERR_OUT_OF_RANGE, "limit must be an integer in [1, 1000]");
            return;
        }
        limit = v;
    }
    const char *scope = http_req_query(r, "scope");
    if (scope && strcmp(scope, "local") != 0 && strcmp(scope, "cluster") != 0) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "scope must be local or cluster");
        return;
    }
    if (store_cluster_sessions_on(r->app->db) && !(scope && strcmp(scope, "local") == 0)) {
        cluster_list(r, (int)limit);
        return;
    }
    if (scope && strcmp(scope, "cluster") == 0) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "scope=cluster needs a daemon started with --cluster-db");
        return;
    }
    const char *tok = http_req_query(r, "page_token");
    session_filter f = {.tenant = r->who.admin ? NULL : r->who.tenant, .status = http_req_query(r, "status"),
                        .name = http_req_query(r, "name"), .tag = http_req_query(r, "tag"),
                        .optimizer = http_req_query(r, "optimizer"), .q = http_req_query(r, "q")};
    if (f.status && f.status[0] && strcmp(f.status, "active") != 0 && strcmp(f.status, "diverged") != 0 &&
        !session_status_closed(f.status)) {
        http_resp_error(r, ERR_INVALID_ARGUMENT, "status must be one of active, diverged, finished, archived");
        return;
    }
    if (f.q && strlen(f.q) > SESSION_QUERY_MAX) {
        http_resp_error(r, ERR_OUT_OF_RANGE, "q is longer than %d bytes", SESSION_QUERY_MAX);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "sessions");
    char next[SESSION_PAGE_TOKEN_MAX];
    int k = arr ? session_list(r->app->reg, &f, tok, (int)limit, list_one, arr, next) : ERR_NO_MEMORY;
    if (k < 0) {
        cJSON_Delete(root);
        if (k == ERR_INVALID_ARGUMENT) http_resp_error(r, k, "page_token is not one this daemon gave out");
        else http_resp_error(r, k, NULL);
        return;
    }
    if (next[0]) cJSON_AddStringToObject(root, "next_page_token", next);
    else cJSON_AddNullToObject(root, "next_page_token");
    http_resp_json(r, 200, root);
}

/* ---- PATCH ----------------------------------------------------------------- */

typedef struct patch_job { session *s; cJSON *body; } patch_job;

static void patch_free(void *ctx)
{
    patch_job *j = ctx;
    session_unref(j->s);
    cJSON_Delete(j->body);
    free(j);
}

static int patch_work(req *r, void *ctx)
{
    patch_job *j = ctx;
    session_change ch;
    char msg[300];
    int rc = session_change_parse(j->body, &ch, msg, sizeof msg);
    if (!rc) rc = session_change_apply(j->s, &ch, msg, sizeof msg);
    if (rc) http_resp_error(r, rc, "%s", msg[0] ? msg : err_message(rc));
    else http_resp_json(r, 200, session_describe(j->s));
    return COMPUTE_DONE;
}

void h_session_patch(req *r)
{
    cJSON *body = h_body_json(r);
    if (!body) return;
    char msg[400];
    /* Refused before the session is looked up or queued: a bad body changes nothing. */
    session_change ch;
    int rc = session_change_parse(body, &ch, msg, sizeof msg);
    if (rc) {
        cJSON_Delete(body);
        http_resp_error(r, rc, "%s", msg);
        return;
    }
    session *s = sessions_get(r->app->reg, r->param[0]);
    if (s && !r->who.admin && strcmp(session_tenant(s), r->who.tenant) != 0) {
        session_unref(s);
        s = NULL;
    }
    if (!s) {
        cJSON_Delete(body);
        http_resp_error(r, ERR_SESSION_NOT_FOUND, "no session has id %s", r->param[0]);
        return;
    }
    patch_job *j = calloc(1, sizeof *j);
    if (!j) {
        session_unref(s);
        cJSON_Delete(body);
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    j->s = s;
    j->body = body;
    int limit = 1;
    pool_lane *lane = session_lane(s, &limit);
    compute_defer(r, lane, limit, patch_work, patch_free, j);
}
