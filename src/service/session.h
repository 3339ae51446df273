/* session.h — the registry of live sessions and the step protocol, without
 * HTTP: decoded step requests in, an answer (the update of a step, or an
 * error code with its message) out.
 *
 * A session is an optimizer (core/opt) with its parameters, the answer of
 * its last step (for retries), its durability mode and, for shared sessions,
 * the gradients of the step being gathered.  Every session is in memory and
 * in the store; the store holds a snapshot (params, optimizer state, last
 * answer) that is at most `checkpoint_every` steps or `checkpoint_interval`
 * seconds old for durability=checkpoint, and exactly the acknowledged step
 * for durability=step.
 *
 * Sequencing (service/step_seq.h): step k == last+1 is applied, k == last
 * answers the stored update again without applying anything, anything else
 * is step_conflict (expected last+1).  Shared sessions (workers = K) gather
 * K distinct workers' gradients for a step (service/gather.h), apply their
 * mean once and answer every worker with the same update; a waiting request
 * is parked: the service keeps its opaque `waiter` pointer and answers it
 * later through hooks.answer (completion, a newer request of the same
 * worker, the step timeout, a delete, the drain).
 *
 * The caller (the server) supplies, at sessions_new, the figures of its
 * configuration (sessions_config) and a table of callbacks (sessions_hooks):
 * the clocks, a per-session attachment it owns (its compute lane and live
 * feed), the answer to a parked waiter, and the hook run after every
 * persisted step.  The service never includes a server header.
 *
 * Thread rules: the registry is guarded by a rwlock; each session by its own
 * mutex, held for the whole of a step.  session_describe reads a copy of the
 * described fields made whenever that mutex is released, so it never waits
 * for a running step.  Sessions are reference counted: sessions_get takes a
 * reference, session_unref drops it; a deleted session is freed by its last
 * holder.  Lock order: a session's mutex, then the registry lock.  Hooks
 * marked "with s's mutex held" must not call back into that session. */
#ifndef OPTIRS_SESSION_H
#define OPTIRS_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "opt.h"
#include "spec.h"
#include "step.h"
#include "store.h"

typedef struct session session;
typedef struct sessions sessions;

/* The figures of the daemon's configuration the registry uses. */
typedef struct sessions_config {
    int64_t max_params;            /* of a restored session's spec */
    int64_t max_session_bytes;     /* a create above it: ERR_SESSION_TOO_LARGE */
    int64_t memory_budget;         /* bytes of every live session (budget.h) */
    int64_t max_sessions, tenant_max_sessions, tenant_max_params;
    int64_t checkpoint_every;      /* durability=checkpoint: a snapshot every this many steps */
    double  checkpoint_interval;   /* ... and every this many seconds (sessions_tick) */
    double  step_timeout;          /* a shared step's workers must all arrive within it */
    int64_t snapshot_chunk_bytes;  /* store_set_chunk_bytes */
} sessions_config;

/* What a request is answered with: err == 0, the update of step `step`
 * (update: n floats, owned by the session; applied == 0 for a skipped step);
 * else the code err with msg ("" : the code's default message) and, for
 * ERR_STEP_CONFLICT, the step expected. */
typedef struct session_answer {
    int          err;
    char         msg[240];
    int64_t      expected;         /* -1 unless err == ERR_STEP_CONFLICT */
    int64_t      step;
    const float *update;
    size_t       n;
    int          applied;
    int          encoding;         /* the request's step_request.encoding, passed through */
} session_answer;

typedef struct sessions_hooks {
    void    *ctx;                  /* handed to every hook */
    double  (*now_mono)(void);     /* monotonic seconds */
    int64_t (*now_ms)(void);       /* wall-clock milliseconds */
    /* A new session's attachment (the caller's per-session data, opaque
     * here; NULL: out of memory) and its end when the session is freed.
     * Both optional. */
    void   *(*attach_new)(void *ctx);
    void    (*attach_free)(void *ctx, void *attach);
    /* Answers a parked waiter and resumes it; the waiter is the service's no
     * more.  With s's mutex held (a's update stays valid during the call). */
    void    (*answer)(void *ctx, void *waiter, const session_answer *a);
    /* After step m->step was applied (or skipped) and handed to the store as
     * durability asks: m the metrics row, res core's result.  With s's mutex
     * held.  Optional. */
    void    (*stepped)(void *ctx, session *s, const step_metric *m, const step_result *res);
} sessions_hooks;

/* A registry over db (not owned).  hooks->now_mono, now_ms and answer must
 * be set (else ERR_INVALID_ARGUMENT).  0, ERR_INVALID_ARGUMENT or
 * ERR_NO_MEMORY. */
int  sessions_new(store *db, const sessions_config *cfg, const sessions_hooks *hooks, sessions **out);
/* Frees every session (once nothing holds a waiter or a reference). */
void sessions_free(sessions *reg);
/* Loads every stored session.  Sessions that fail to load are reported on
 * stderr and skipped.  Returns the number loaded, or a negative error. */
int  sessions_restore(sessions *reg);

/* Creates a session from a parsed spec (whose params it takes; sp->tenant
 * names the owner) and persists it before returning.  Before anything is
 * allocated it computes the session's bytes (budget.h; *needed gets them)
 * and checks them against max_session_bytes (ERR_SESSION_TOO_LARGE), then
 * reserves, in one step, a slot under the session limit
 * (ERR_TOO_MANY_SESSIONS), the tenant's quotas (ERR_QUOTA_EXCEEDED) and the
 * bytes under the memory budget (ERR_MEMORY_BUDGET); the reservation is
 * given back when the create fails or the session is freed.  For the size
 * and budget refusals msg gets the figures (else "").  *out gets a
 * reference.  0 or ERR_*. */
int  sessions_create(sessions *reg, spec *sp, session **out, char *msg, size_t msgcap, uint64_t *needed);
/* sessions_create for a session that continues an exported one
 * (session_export): the same checks of the spec and the same reservation,
 * all before anything is allocated (the state is decoded into the buffers
 * the spec sizes, nothing more), then the snapshot blob (len bytes) is
 * decoded into the new session, which is persisted at the exported step.
 * Its next step gives exactly the update the exported session would have
 * given.  Not carried: the metrics history, feedback, the status and a
 * shared step being gathered.  sessions_create's errors, or
 * ERR_INVALID_STATE (msg says why) when the blob does not decode for sp or
 * holds another step than `step`. */
int  sessions_import(sessions *reg, spec *sp, const void *blob, size_t len, int64_t step, session **out,
                     char *msg, size_t msgcap, uint64_t *needed);
/* A reference to session `id`, or NULL. */
session *sessions_get(sessions *reg, const char *id);
/* Drops a reference (NULL does nothing). */
void session_unref(session *s);
/* Deletes a session everywhere, committing to storage before memory; parked
 * workers get session_not_found.  0, ERR_SESSION_NOT_FOUND, or ERR_STORAGE
 * (nothing changed: the session stays, usable). */
int  sessions_delete(sessions *reg, const char *id);
/* Number of live sessions. */
int  sessions_count(sessions *reg);
/* The list, filtered and newest first, and the other lifecycle calls:
 * session_life.h. */

/* The session's description for GET (meta + step + status). */
cJSON *session_describe(session *s);
const char *session_id(const session *s);
/* The tenant that owns the session ("" in open mode). */
const char *session_tenant(const session *s);
/* The study trial ("STUDY/N") the session is bound to; "" when none. */
const char *session_trial(const session *s);
size_t session_num_params(const session *s);
int    session_workers(const session *s);
/* 1 when each step waits for its commit (durability=step). */
int    session_durable_steps(const session *s);
/* The session's optimizer (its layout names the tensors); read it only with
 * the session's mutex held (in hooks.stepped). */
const opt *session_opt(const session *s);
/* The session's layout (its tensors' names and sizes): fixed for the
 * session's life, so it may be read without the session's mutex. */
const layout *session_layout(const session *s);
/* The attachment hooks.attach_new made for s (NULL without that hook). */
void  *session_attachment(const session *s);

/* A decoded step request.  grads (num_params floats) belong to the caller
 * and are read during session_step only. */
typedef struct step_request {
    int64_t      step;
    const float *grads;
    double       loss;            /* NAN when absent */
    char         worker[64];      /* "" when absent */
    int          encoding;        /* the answer's encoding: opaque here, passed through */
    int          nonfinite;       /* a gradient or the loss is not finite */
    /* (the layout's ntensors) or NULL: tensors with skip_tensors[j] != 0
     * have no gradient this step (core's opt_step_masked: no update, no
     * state change).  Refused (ERR_INVALID_ARGUMENT) for optimizers without
     * masked steps, shared sessions, adaptation and the online learner. */
    const uint8_t *skip_tensors;
    /* NULL, or this step's hyperparameters: an array of one object per
     * group (groups.h; one object without groups).  Refused like
     * skip_tensors, with groups_step_hp's errors for bad values. */
    const cJSON  *hyperparams;
    /* has_gsq == 1: gsq is vm_sumsq(grads, num_params), computed by the
     * decoder in its pass over the gradients (its finite check: the sum is
     * non-finite exactly when a gradient is), so that the step does not
     * read them again for the norm (core's opt_step_gsq).  It must be
     * exactly that sum of exactly these grads.  0: unknown. */
    int           has_gsq;
    double        gsq;
} step_request;

/* Runs the step protocol for `sr` from the request `waiter` (opaque).
 * Returns 0 with *out filled (the answer to waiter), or 1 when waiter is
 * parked until the other workers of a shared session arrive: whoever
 * completes, supersedes, times out or releases the step answers it through
 * hooks.answer (the caller must not answer or touch it).  out->update points
 * into the session's answer buffer, which only the session's next step
 * changes: the caller encodes it before it lets another step of s run, or
 * takes a reference to it (updbuf_hold, updbuf.h: the session then leaves
 * that vector alone) and puts it back when it has sent it.  The same holds
 * for the answer hooks.answer gets. */
int  session_step(session *s, void *waiter, const step_request *sr, session_answer *out);
/* Calls fn with the current parameters and step, with s's mutex held;
 * returns fn's result. */
int  session_read_params(session *s, int (*fn)(void *ctx, int64_t step, const float *p, size_t n), void *ctx);
/* Everything a session is, for export: *spec_json its normalized spec
 * (spec_to_json: no id, tenant or created_ms), *blob its snapshot
 * (snapshot.h: parameters, the answer of step *step, the optimizer state,
 * adaptation and online learner) as of its last step *step, read under
 * s's mutex.  The caller frees both (cJSON_Delete, free).  0,
 * ERR_SESSION_NOT_FOUND (deleted), ERR_NO_MEMORY or snapshot_encode's. */
int  session_export(session *s, cJSON **spec_json, uint8_t **blob, size_t *len, int64_t *step);
/* Stores feedback for a taken step.  0 or ERR_* (msg filled). */
int  session_feedback(session *s, int64_t step, double loss, const char *metrics_json, char *msg, size_t cap);

/* Timer work: checkpoints due by time, shared steps past their deadline
 * (their waiters answered step_timeout).  now: hooks.now_mono's clock. */
void sessions_tick(sessions *reg, double now);
/* Draining: answer every parked worker with shutting_down. */
void sessions_release_waiters(sessions *reg);
/* Queues the final snapshot of every session with unsaved steps (the
 * caller waits for them with store_flush, after whatever else it queues).
 * 0 or the first ERR_* of the encodes and queueing. */
int  sessions_checkpoint_all(sessions *reg);

#endif
