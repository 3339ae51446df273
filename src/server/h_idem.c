/* h_idem.c — Idempotency-Key: the stored first answer, replayed.  See
 * h_idem.h. */
#include "h_idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "errors.h"
#include "idemlane.h"
#include "store.h"

/* Reads r's Idempotency-Key (on the HTTP thread).  Returns 1 when r is
 * answered (a malformed key), 0 to go on. */
int h_idem_prepare(req *r, h_idem *im, const char *route_key)
{
    memset(im, 0, sizeof *im);
    snprintf(im->route, sizeof im->route, "%s", route_key);
    const char *key = http_req_header(r, "Idempotency-Key");
    if (!key) return 0;
    size_t n = strlen(key);
    int ok = n >= 1 && n < sizeof im->key;
    for (size_t i = 0; ok && i < n; i++) ok = key[i] > 32 && key[i] < 127;
    if (!ok) {
        http_resp_error(r, ERR_BAD_HEADER, "Idempotency-Key must be 1 to 128 printable ASCII characters");
        return 1;
    }
    memcpy(im->key, key, n + 1);
    auth_sha256(r->body, r->body_len, im->hash);
    return 0;
}

/* Looks up the key's stored answer (in the key's or session's lane).
 * Returns 1 when r is answered (a replay of the first answer, or an error),
 * 0 to go on; then the caller calls h_idem_end. */
int h_idem_begin(req *r, h_idem *im)
{
    if (!im->key[0]) return 0;
    uint8_t stored[32];
    int status;
    char *body = NULL;
    size_t len = 0;
    int rc = store_idem_get(r->app->db, r->who.tenant, im->key, im->route, stored, &status, &body, &len);
    if (rc == ERR_NOT_FOUND) return 0;
    if (rc) http_resp_error(r, rc, NULL);
    else if (memcmp(stored, im->hash, 32) != 0) {
        free(body);
        http_resp_error(r, ERR_IDEMPOTENCY_REUSED, "Idempotency-Key %s was first used with a different body", im->key);
    } else {
        http_resp_take(r, status, "application/json", body, len);
        r->hdr_replayed = "true";
    }
    return 1;
}

/* Records a successful answer under the key. */
void h_idem_end(req *r, h_idem *im)
{
    if (im->key[0] && r->status >= 200 && r->status < 300)
        store_idem_put(r->app->db, r->who.tenant, im->key, im->route, im->hash, r->status, r->resp, r->resp_len);
}

void h_idem_defer(req *r, const h_idem *im, struct idemlane **lane, compute_fn work,
                  void (*free_ctx)(void *ctx), void *ctx)
{
    if (!im->key[0]) {
        compute_defer(r, NULL, 1, work, free_ctx, ctx);
        return;
    }
    *lane = idemlane_get(r->who.tenant, im->route, im->key);
    if (!*lane) {
        free(ctx);
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        return;
    }
    compute_defer(r, idemlane_lane(*lane), (int)r->app->cfg.compute_session_queue, work, free_ctx, ctx);
}
