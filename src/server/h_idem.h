/* h_idem.h — Idempotency-Key for the handlers that take one (session
 * creates and feedback, h_sessions.c; study asks and tells, h_studies.c).
 *
 * The first successful (2xx) answer to (tenant, route, key) is stored with a
 * hash of the body (store_idem_put); a retry with the same body gets that
 * answer again, with X-Optirs-Replayed: true, and runs nothing; the same key
 * with another body is 422 idempotency_key_reused.  A key is 1 to 128
 * printable ASCII characters (else 400 invalid_header).  Two copies of one
 * request must never run at once, so that the second finds the answer the
 * first stored: the caller runs them in one lane (idemlane.h: the key's own
 * lane; or a lane the route already serialises on, e.g. its session's).
 * Thread rules: h_idem_prepare on the HTTP thread, begin/end in the lane. */
#ifndef OPTIRS_H_IDEM_H
#define OPTIRS_H_IDEM_H

#include <stdint.h>

#include "compute.h"
#include "http.h"

struct idemlane;

typedef struct h_idem {
    char     key[129];             /* "" without a key */
    char     route[96];
    uint8_t  hash[32];             /* of the body */
} h_idem;

/* Reads r's Idempotency-Key for `route_key` (which names what the key is
 * scoped to).  Returns 1 when r is answered (a malformed key), 0 to go on. */
int  h_idem_prepare(req *r, h_idem *im, const char *route_key);
/* Looks up the key's stored answer.  Returns 1 when r is answered (a replay
 * of the first answer, or an error), 0 to go on; then the caller runs the
 * request and calls h_idem_end. */
int  h_idem_begin(req *r, h_idem *im);
/* Records r's answer under the key when it is a success. */
void h_idem_end(req *r, h_idem *im);
/* Queues work(r, ctx) on the compute pool after h_idem_prepare: in the key's
 * own lane when im holds a key (*lane then holds a reference that free_ctx
 * must release with idemlane_put), else on no lane.  When the lane cannot be
 * had, r is answered 503 and ctx freed with plain free (nothing else is in
 * it yet). */
void h_idem_defer(req *r, const h_idem *im, struct idemlane **lane, compute_fn work,
                  void (*free_ctx)(void *ctx), void *ctx);

#endif
