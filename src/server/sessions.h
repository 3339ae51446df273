/* sessions.h — the registry of live sessions and the step protocol.
 *
 * A session is an optimizer (core/opt) with its parameters, the answer of
 * its last step (for retries), its durability mode and, for shared sessions,
 * the gradients of the step being gathered.  Every session is in memory and
 * in the store; the store holds a snapshot (params, optimizer state, last
 * answer) that is at most `checkpoint-every` steps or `checkpoint-interval`
 * seconds old for durability=checkpoint, and exactly the acknowledged step
 * for durability=step.
 *
 * Sequencing: step k == last+1 is applied, k == last answers the stored
 * update again without applying anything, anything else is step_conflict.
 * Shared sessions (workers = K) gather K distinct workers' gradients for a
 * step, apply their mean once and answer every worker with the same update;
 * waiting requests stay suspended (parked) with a deadline.
 * The service layer holds the pieces that need no request: the rules
 * (service/step_seq.h), the gather (service/gather.h), the snapshot codec
 * (service/snapshot.h), the rollback read-back (service/rollback.h), the
 * memory accounts (service/budget.h) and the weights lock
 * (service/meta_weights.h); the answers are encoded by step_codec.h.
 *
 * Steps, feedback, parameter reads and deletes run on the compute pool in
 * the session's lane (session_lane): one at a time, in arrival order.
 *
 * Thread rules: the registry is guarded by a rwlock; each session by its own
 * mutex, held for the whole of a step (decode happens before, in the
 * request, on the HTTP thread; the step itself on a compute thread).
 * session_describe reads a copy of the described fields made whenever that
 * mutex is released, so it never waits for a running step.  Sessions are
 * reference counted: sessions_get takes a reference, session_put drops it; a
 * deleted session is freed by its last holder. */
#ifndef OPTIRS_SESSIONS_H
#define OPTIRS_SESSIONS_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "http.h"
#include "pool.h"
#include "spec.h"

#include <pthread.h>

typedef struct session session;
typedef struct sessions sessions;

int  sessions_new(app *a, sessions **out);
/* Frees every session (after the HTTP server has stopped). */
void sessions_free(sessions *reg);
/* Loads every stored session.  Sessions that fail to load are reported on
 * stderr and skipped.  Returns the number loaded, or a negative error. */
int  sessions_restore(sessions *reg);

/* Creates a session from a parsed spec (whose params it takes; sp->tenant
 * names the owner) and persists it before returning.  Before anything is
 * allocated it computes the session's bytes (budget.h; *needed gets them)
 * and checks them against --max-session-bytes (ERR_SESSION_TOO_LARGE), then
 * reserves, in one
 * step, a slot under the daemon's session limit (ERR_TOO_MANY_SESSIONS), the
 * tenant's quotas (ERR_QUOTA_EXCEEDED) and the bytes under --memory-budget
 * (ERR_MEMORY_BUDGET); the reservation is given back when the create fails
 * or the session is freed.  For the size and budget refusals msg gets the
 * figures (else "").  *out gets a reference.  0 or ERR_*. */
int  sessions_create(sessions *reg, spec *sp, session **out, char *msg, size_t msgcap, uint64_t *needed);
/* A reference to session `id`, or NULL. */
session *sessions_get(sessions *reg, const char *id);
void session_put(session *s);
/* Deletes a session everywhere, committing to storage before memory; waiting
 * workers get session_not_found.  0, ERR_SESSION_NOT_FOUND, or ERR_STORAGE
 * (nothing changed: the session stays, usable). */
int  sessions_delete(sessions *reg, const char *id);
/* Number of live sessions. */
int  sessions_count(sessions *reg);
/* Calls fn for live sessions of `tenant` (NULL: every tenant) with id > after
 * (NULL: from the start) in id order, at most limit; fn gets a reference it
 * must not keep. */
int  sessions_list(sessions *reg, const char *tenant, const char *after, int limit,
                   void (*fn)(void *ctx, session *s), void *ctx);

/* The session's description for GET (meta + step + status). */
cJSON *session_describe(session *s);
const char *session_id(const session *s);
/* The tenant that owns the session ("" in open mode). */
const char *session_tenant(const session *s);
/* The session's live feed (its event streams, live.h); lives as long as the
 * session. */
struct live_feed *session_live_feed(const session *s);
size_t session_num_params(const session *s);
/* The session's compute lane and how many jobs may wait or run on it
 * (--compute-session-queue, at least the session's workers). */
pool_lane *session_lane(session *s, int *limit);

/* A decoded step request.  grads (num_params floats) belong to the request. */
typedef struct step_request {
    int64_t      step;
    const float *grads;
    double       loss;            /* NAN when absent */
    char         worker[64];      /* "" when absent */
    int          encoding;        /* ENC_JSON or ENC_BINARY for the answer */
    int          nonfinite;       /* a gradient or the loss is not finite */
} step_request;

/* Runs the step protocol for `sr` on a suspended request r (compute.h).
 * Returns 0 with r's response set, or 1 when r is parked until the other
 * workers of a shared session arrive (whoever completes, times out or
 * releases the step answers and resumes it; the caller must not touch r). */
int  session_step(session *s, req *r, const step_request *sr);
/* Answers r with the current parameters (JSON or binary). */
void session_params(session *s, req *r, int enc);
/* Stores feedback for a taken step.  0 or ERR_* (msg filled). */
int  session_feedback(session *s, int64_t step, double loss, const char *metrics_json, char *msg, size_t cap);

/* Timer work (libuv thread): checkpoints due by time, expired waiters. */
void sessions_tick(sessions *reg, double now_monotonic);
/* Draining: answer every waiting worker with shutting_down. */
void sessions_release_waiters(sessions *reg);
/* Final snapshot of every session with unsaved steps; waits for the commit. */
int  sessions_checkpoint_all(sessions *reg);

#endif
