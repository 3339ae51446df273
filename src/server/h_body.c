/* h_body.c — the request body checks the JSON routes share (h_body.h). */
#include "h_body.h"

#include "errors.h"
#include "jsonwalk.h"

int h_body_want_json(req *r)
{
    if (r->ctype == CT_JSON || r->ctype == CT_NONE) return 1;
    http_resp_error(r, ERR_UNSUPPORTED_MEDIA, "this route takes application/json");
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

cJSON *h_body_json(req *r)
{
    if (!h_body_want_json(r)) return NULL;
    const char *text = r->body ? r->body : "";
    char msg[400];
    int bad = jsonwalk_check_text(text, r->body_len, msg, sizeof msg);
    if (bad) {
        http_resp_error(r, bad, "%s", msg);
        return NULL;
    }
    size_t used = 0;
    cJSON *body = jsonwalk_cjson(text, r->body_len, &used);
    while (body && used < r->body_len && is_space(text[used])) used++;
    if (!body || used < r->body_len) {
        cJSON_Delete(body);
        http_resp_error(r, ERR_INVALID_JSON, NULL);
        return NULL;
    }
    return body;
}
