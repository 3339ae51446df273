/* session_internal.h — what session.c, session_step.c and session_timers.c
 * share, and nothing else includes: the definitions of struct session and
 * struct sessions and the few helpers more than one of them calls.
 *
 * Invariants (see session.h for the thread rules): reg->ids is sorted by id
 * and guarded by reg->lock; every field of a session except info is guarded
 * by s->mu, info by s->info_mu; reg->npending counts the sessions with
 * g.npend > 0; pend_waiter[j] is the parked request of gather slot j (NULL:
 * none).  Lock order: a session's mu, then the registry lock. */
#ifndef OPTIRS_SESSION_INTERNAL_H
#define OPTIRS_SESSION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "session.h"
#include "adapt.h"
#include "budget.h"
#include "gather.h"
#include "online_es.h"
#include "registry.h"
#include "snapshot.h"
#include "updbuf.h"

struct session {
    char            id[40];
    pthread_mutex_t mu;
    atomic_int      refs;
    int             deleted;
    sessions       *reg;           /* the registry it was made by (outlives it) */
    spec            sp;            /* config and layout; sp.params is NULL */
    char           *meta_json;     /* normalized description, with id and created_ms */
    opt             o;
    int             on_record;     /* o (a learned optimizer) runs a weights record, not an untrained init */
    adapt           ad;            /* online lr adaptation; ad.nmult == 0: none */
    online_es       es;            /* online learner (learned optimizers); es.K == 0: none */
    int             es_dirty;      /* feedback changed es since the newest snapshot */
    int             reserved;      /* holds a budget reservation of reserved_bytes */
    uint64_t        reserved_bytes;
    float          *params;        /* (n) */
    float          *last_update;   /* (n, updbuf.h) answer of step `step` */
    float          *spare;         /* (n, updbuf.h) the next update is written here, then swapped */
    /* parameter groups (sp.groups, or one implicit group): each tensor's
     * vector, and this step's when the step carries hyperparameters */
    const double  **tensor_hp;     /* (ntensors) into sp.groups.hp; NULL without groups */
    double        (*step_hp)[OPT_MAX_HP];   /* (max(groups, 1)) */
    const double  **step_tensor_hp;/* (ntensors) into step_hp */
    double         *group_lr;      /* (groups) the lr each group used at the last step; NULL without groups */
    double          last_loss;
    double          best_loss;     /* lowest finite loss seen (NAN: none yet) */
    int             last_applied;  /* 0 when step `step` was skipped (non_finite: skip) */
    int64_t         rolled_back_to;/* diverged sessions: the step restored, else -1 */
    int64_t         step;          /* last applied step */
    int64_t         saved_step;    /* step of the newest snapshot handed to the store */
    int64_t         durable_step;  /* step of the newest snapshot known committed */
    double          saved_time;    /* monotonic time of that snapshot */
    char            status[16];    /* "active" | "diverged" | "finished" | "archived" (session_life.c) */
    int64_t         created_ms;    /* wall clock: creation */
    _Atomic int64_t active_ms;     /* wall clock: the last step, create or change (the retention's idle clock) */
    int64_t         status_ms;     /* wall clock: the status last changed */
    char            reason[160];
    /* shared sessions: the step being gathered */
    gather          g;             /* the workers' gradients (gather.h) */
    double          pend_deadline;
    void          **pend_waiter;   /* (workers) the parked request of each slot of g */
    int            *pend_enc;      /* (workers) its answer's encoding */
    void           *attach;        /* the caller's per-session data (hooks.attach_new) */
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
        int64_t mem_size, mem_fill;   /* the optimizer's memory (opt_memory); size 0: none */
    } info;
};

struct sessions {
    store           *db;
    sessions_config  cfg;
    sessions_hooks   hooks;
    pthread_rwlock_t lock;
    registry         ids;          /* the sessions, sorted by id (registry.h) */
    atomic_int       npending;     /* sessions with a step being gathered */
    budget          *budget;       /* sessions, quotas and bytes reserved */
    double           last_ckpt_scan;
};

/* The session's meta JSON rebuilt from s->sp (spec_to_json with id, tenant,
 * created_ms), or NULL without memory.  The caller frees it. */
char *session_make_meta(session *s);

/* Publishes s's described fields (session_describe) and releases s->mu. */
void session_unlock(session *s);

/* A view of s's state for the snapshot codec (snapshot.h). */
snapshot_state session_snapshot_view(session *s);
/* Copies back to s what a decode (whose result is rc) read into st; rc. */
int session_take_state(session *s, const snapshot_state *st, int rc);

/* Hands a snapshot of the current state to the store; wait=1 waits for the
 * commit and then marks it durable.  Called with s->mu held. */
int session_snapshot_save(session *s, int wait);

/* Ends the step being gathered: clears the gather and the parked requests
 * (answer them first, session_pend_answer_all).  Called with s->mu held. */
void session_pend_clear(session *s);

/* Answers every parked worker except `self` with error e (msg), or with the
 * update when e == 0, through hooks.answer.  Called with s->mu held. */
void session_pend_answer_all(session *s, const void *self, int e, const char *msg);

#endif
