/* budget.h — what a session costs in memory, and the daemon's accounts of
 * sessions, quotas and bytes, settled before a session is built.
 *
 * budget_session_bytes computes from a parsed spec alone what the session will
 * hold: its parameter vectors, the optimizer's state (opt_bytes), the online
 * learner and adaptation, the gathered gradients of a shared session, and
 * the transient cost of encoding its snapshot.  Nothing is allocated.
 *
 * A `budget` holds, under one mutex, the count of live sessions (with the
 * creates in flight), each tenant's session count and parameters, and the
 * bytes reserved.  budget_reserve checks the daemon's session limit, the
 * tenant's quotas and the memory budget and takes the slot in the same
 * critical section, so that concurrent creates can never overshoot;
 * budget_release gives it back (a failed create, a freed session).
 * Thread rules: budget_session_bytes reads core's weights table: call it with
 * the weights lock held (meta_weights_lock).  budget_* are safe from any thread. */
#ifndef OPTIRS_BUDGET_H
#define OPTIRS_BUDGET_H

#include <stdint.h>
#include "spec.h"

typedef struct session_bytes {
    uint64_t params;     /* params, the last update, the next update: 3 n floats */
    uint64_t state;      /* optimizer (opt_bytes), learner, adaptation, description */
    uint64_t workers;    /* workers > 1: K × n floats of gathered gradients */
    uint64_t snapshot;   /* encoding a snapshot: the optimizer's blob and the session's blob at once */
    uint64_t total;      /* params + state + workers + snapshot */
} session_bytes;

/* Fills *out for the session `sp` describes.  0, or the error opt_init would
 * give for its optimizer config (e.g. ERR_NOT_FOUND for a missing weights
 * record). */
int  budget_session_bytes(const spec *sp, session_bytes *out);

typedef struct budget budget;

/* limits: the daemon's memory budget (bytes), its session limit, and the
 * per-tenant quotas (0 = none).  0 or ERR_NO_MEMORY. */
int  budget_new(uint64_t memory, int64_t max_sessions, int64_t tenant_max_sessions, int64_t tenant_max_params,
                budget **out);
void budget_free(budget *b);

/* Reserves one session of `bytes` bytes and `params` parameters for
 * `tenant`: 0, ERR_TOO_MANY_SESSIONS, ERR_QUOTA_EXCEEDED, ERR_MEMORY_BUDGET
 * (nothing reserved; *in_use gets the bytes already reserved) or
 * ERR_NO_MEMORY.  force = 1 (sessions restored at start) skips the checks:
 * what is stored is loaded and counted even above lowered limits. */
int  budget_reserve(budget *b, const char *tenant, uint64_t bytes, int64_t params, int force, uint64_t *in_use);
/* Gives back one reservation of budget_reserve. */
void budget_release(budget *b, const char *tenant, uint64_t bytes, int64_t params);
/* The bytes reserved now, and the budget. */
uint64_t budget_in_use(budget *b);
uint64_t budget_limit(const budget *b);

#endif
