/* sessions_internal.h — what sessions.c and sessions_timers.c share, and
 * nothing else includes: the definitions of struct session and struct
 * sessions and the few helpers both files call.
 *
 * Invariants (see sessions.h for the thread rules): reg->v is sorted by id
 * and guarded by reg->lock; every field of a session except info is guarded
 * by s->mu, info by s->info_mu; reg->npending counts the sessions with
 * g.npend > 0.  Lock order: a session's mu, then the registry lock. */
#ifndef OPTIRS_SESSIONS_INTERNAL_H
#define OPTIRS_SESSIONS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sessions.h"
#include "app.h"
#include "budget.h"
#include "adapt.h"
#include "online_es.h"
#include "gather.h"
#include "registry.h"
#include "live.h"

struct session {
    char            id[40];
    pthread_mutex_t mu;
    atomic_int      refs;
    int             deleted;
    app            *app;
    spec            sp;            /* config and layout; sp.params is NULL */
    char           *meta_json;     /* normalized description, with id and created_ms */
    opt             o;
    adapt           ad;            /* online lr adaptation; ad.nmult == 0: none */
    online_es       es;            /* online learner (learned optimizers); es.K == 0: none */
    int             es_dirty;      /* feedback changed es since the newest snapshot */
    int             reserved;      /* holds a budget reservation of reserved_bytes */
    uint64_t        reserved_bytes;
    float          *params;        /* (n) */
    float          *last_update;   /* (n) answer of step `step` */
    float          *spare;         /* (n) the next update is written here, then swapped */
    double          last_loss;
    double          best_loss;     /* lowest finite loss seen (NAN: none yet) */
    int             last_applied;  /* 0 when step `step` was skipped (non_finite: skip) */
    int64_t         rolled_back_to;/* diverged sessions: the step restored, else -1 */
    int64_t         step;          /* last applied step */
    int64_t         saved_step;    /* step of the newest snapshot handed to the store */
    int64_t         durable_step;  /* step of the newest snapshot known committed */
    double          saved_time;    /* monotonic time of that snapshot */
    char            status[16];    /* "active" | "diverged" */
    char            reason[160];
    /* shared sessions: the step being gathered */
    gather          g;             /* the workers' gradients (gather.h) */
    double          pend_deadline;
    req           **pend_req;      /* (workers) the parked request of each slot of g */
    int            *pend_enc;      /* (workers) its answer's encoding */
    pool_lane       lane;          /* its steps, feedback, reads and delete, in order (pool.h) */
    live_feed      *feed;          /* its event streams (live.h) */
    /* What GET and the list show, copied from the fields above whenever
     * s->mu is released (session_unlock), under its own short lock: a
     * description never waits for a running step. */
    pthread_mutex_t info_mu;
    struct {
        int64_t step, saved_step, rolled_back_to;
        double  last_loss;
        char    status[16];
        char    reason[160];
        int     npend;
    } info;
};

struct sessions {
    app             *app;
    pthread_rwlock_t lock;
    registry         ids;          /* the sessions, sorted by id (registry.h) */
    atomic_int       npending;     /* sessions with a step being gathered */
    budget          *budget;       /* sessions, quotas and bytes reserved */
    double           last_ckpt_scan;
};

/* Publishes s's described fields (session_describe) and releases s->mu. */
void session_unlock(session *s);

/* Hands a snapshot of the current state to the store; wait=1 waits for the
 * commit and then marks it durable.  Called with s->mu held. */
int session_snapshot_save(session *s, int wait);

/* Ends the step being gathered: clears the gather and the parked requests
 * (answer them first, session_pend_answer_all).  Called with s->mu held. */
void sessions_pend_clear(sessions *reg, session *s);

/* Answers every waiting worker except `self` with error e, or with the
 * update when e == 0, and resumes them.  Called with s->mu held. */
void session_pend_answer_all(session *s, req *self, int e, const char *msg);

#endif
