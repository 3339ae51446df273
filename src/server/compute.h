/* compute.h — runs the heavy part of a request on the compute pool
 * (pool.h), keeping libmicrohttpd's threads free for health, control and
 * other sessions.
 *
 * compute_defer suspends the request, queues the work and returns; a pool
 * thread calls work(r, ctx), which sets r's response, and resumes r.  The
 * work may instead park r (COMPUTE_PARKED: a shared session's worker waiting
 * for its peers), handing it to code that resumes it later.  When the queue is
 * full the request is answered at once with 503 overloaded and Retry-After;
 * when the daemon stops before the work ran, with 503 shutting_down.  In
 * every case free_ctx(ctx) is called exactly once, after the pool is done
 * with the lane (drop the lane owner's reference there).
 * Thread rules: compute_defer on the request's HTTP thread, from its handler. */
#ifndef OPTIRS_COMPUTE_H
#define OPTIRS_COMPUTE_H

#include "http.h"
#include "pool.h"

enum { COMPUTE_DONE = 0, COMPUTE_PARKED = 1 };

typedef int (*compute_fn)(req *r, void *ctx);

/* Runs work(r, ctx) on the pool, in order on `lane` (NULL: no ordering); at
 * most lane_limit jobs wait or run on that lane (ignored without a lane). */
void compute_defer(req *r, pool_lane *lane, int lane_limit, compute_fn work, void (*free_ctx)(void *ctx),
                   void *ctx);

/* Runs work(r, ctx) on the calling (HTTP) thread when `lane` is idle — the
 * order compute_defer keeps is kept — then free_ctx(ctx); returns 1.  0 when
 * the lane is busy or the pool stopping (nothing called: defer it).  For
 * small work only, where the pool's two hand-offs (suspend, resume) cost more
 * than the work; the work must not park r (it is not suspended). */
int  compute_try_inline(req *r, pool_lane *lane, compute_fn work, void (*free_ctx)(void *ctx), void *ctx);

#endif
