/* h_keys.c — API keys over HTTP (admin keys only; the route table says so):
 * create (the key is shown once), list, revoke. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "errors.h"
#include "h_body.h"
#include "handlers.h"
#include "jsonwalk.h"
#include "live.h"
#include "store.h"

typedef struct key_ctx { char tenant[AUTH_TENANT_MAX]; int admin, have_tenant; char msg[160]; } key_ctx;

static int key_member(void *ctx, const char *k, const char *val, size_t avail, size_t *used)
{
    key_ctx *c = ctx;
    cJSON *v = jsonwalk_cjson(val, avail, used);
    int rc = 0;
    if (!v) rc = ERR_INVALID_JSON;
    else if (strcmp(k, "tenant") == 0) {
        if (!cJSON_IsString(v) || !auth_tenant_valid(v->valuestring)) {
            snprintf(c->msg, sizeof c->msg, "tenant must be 1 to 63 characters of [A-Za-z0-9._-]");
            rc = ERR_INVALID_ARGUMENT;
        } else {
            snprintf(c->tenant, sizeof c->tenant, "%s", v->valuestring);
            c->have_tenant = 1;
        }
    } else if (strcmp(k, "admin") == 0) {
        if (!cJSON_IsBool(v)) {
            snprintf(c->msg, sizeof c->msg, "admin must be true or false");
            rc = ERR_INVALID_ARGUMENT;
        } else c->admin = cJSON_IsTrue(v);
    } else {
        snprintf(c->msg, sizeof c->msg, "unknown field \"%s\"", k);
        rc = ERR_UNKNOWN_FIELD;
    }
    cJSON_Delete(v);
    return rc;
}

static cJSON *key_json(const store_key *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "tenant", k->tenant);
    cJSON_AddBoolToObject(o, "admin", k->admin);
    cJSON_AddNumberToObject(o, "created_ms", (double)k->created_ms);
    if (k->revoked_ms) cJSON_AddNumberToObject(o, "revoked_ms", (double)k->revoked_ms);
    else cJSON_AddNullToObject(o, "revoked_ms");
    return o;
}

void h_keys_create(req *r)
{
    if (!h_body_want_json(r)) return;
    key_ctx c = {0};
    int rc = jsonwalk_object(r->body, r->body_len, key_member, &c, c.msg, sizeof c.msg);
    if (!rc && !c.have_tenant) {
        rc = ERR_MISSING_FIELD;
        snprintf(c.msg, sizeof c.msg, "tenant is required");
    }
    char key[AUTH_KEY_LEN + 1];
    store_key rec;
    if (!rc) rc = auth_key_create(r->app->db, c.tenant, c.admin, key, &rec);
    if (rc) {
        http_resp_error(r, rc, "%s", c.msg[0] ? c.msg : err_message(rc));
        return;
    }
    cJSON *o = key_json(&rec);
    cJSON_AddStringToObject(o, "key", key);
    http_resp_json(r, 201, o);
}

static int list_one(void *ctx, const store_key *k)
{
    cJSON_AddItemToArray(ctx, key_json(k));
    return 0;
}

void h_keys_list(req *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "keys");
    int rc = store_keys_list(r->app->db, list_one, arr);
    if (rc) {
        cJSON_Delete(root);
        http_resp_error(r, rc, NULL);
        return;
    }
    http_resp_json(r, 200, root);
}

void h_keys_revoke(req *r)
{
    int rc = store_key_revoke(r->app->db, r->param[0], http_now_ms());
    auth_invalidate();
    live_revalidate();   /* the key's event streams end now */
    if (rc == ERR_NOT_FOUND) http_resp_error(r, rc, "no active key has id %s", r->param[0]);
    else if (rc) http_resp_error(r, rc, NULL);
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", r->param[0]);
        cJSON_AddBoolToObject(o, "revoked", 1);
        http_resp_json(r, 200, o);
    }
}
