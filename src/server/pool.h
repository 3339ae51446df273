/* pool.h — the compute pool: a fixed set of threads that run the heavy work
 * of requests (steps, feedback, creates, imports) so that libmicrohttpd's
 * threads only parse, route and answer.
 *
 * Work is queued on lanes.  A lane runs its jobs one at a time, in the order
 * they were submitted (a session owns one lane: its steps are applied in
 * order and never two at once); different lanes run in parallel on up to
 * `threads` threads, taking turns one job at a time (a lane with a long queue
 * cannot starve the others).  A job without a lane runs on its own.
 *
 * The queue is bounded: at most `max_queued` jobs wait in total and at most
 * the lane's own limit on one lane; a submit past either answers ERR_OVERLOADED
 * and queues nothing.  pool_stop runs the jobs already running to their end
 * and hands every job still queued to its run function with cancelled = 1,
 * so that each one is answered exactly once.
 *
 * Thread rules: pool_start/pool_stop from the main thread, once each;
 * pool_submit from any thread.  One global pool (like live.c's hub). */
#ifndef OPTIRS_POOL_H
#define OPTIRS_POOL_H

typedef struct pool_job pool_job;

/* A lane: embed one in the object whose jobs must be ordered and zero it
 * (pool_lane_init).  It must outlive every job submitted on it: keep the
 * owner alive until the job's release callback. */
typedef struct pool_lane {
    pool_job         *head, *tail;  /* waiting jobs, oldest first */
    int               queued;       /* jobs waiting or running */
    int               scheduled;    /* on the ready list or running */
    struct pool_lane *next_ready;
} pool_lane;

/* A job: embed it first in the caller's own struct.  run is called once,
 * on a pool thread (cancelled = 0) or, at pool_stop, with cancelled = 1;
 * release is called after it, once the pool no longer touches the lane
 * (drop the lane owner's reference and free the job there).  admit, when
 * set, is called under the pool's lock once the job is accepted and before
 * any thread can run it (e.g. to suspend the connection it will answer). */
struct pool_job {
    void     (*run)(pool_job *j, int cancelled);
    void     (*release)(pool_job *j);
    void     (*admit)(pool_job *j);
    pool_job  *next;
    pool_lane  solo;                /* the lane of a job submitted without one */
};

void pool_lane_init(pool_lane *l);

/* Starts `threads` threads (>= 1).  0, or ERR_NO_MEMORY / ERR_INTERNAL. */
int  pool_start(int threads, int max_queued);
/* Queues j on `lane` (NULL: no ordering) unless the pool is stopping
 * (ERR_SHUTTING_DOWN) or the total or the lane's queue (lane_limit jobs,
 * counting the one running) is full (ERR_OVERLOADED).  On an error j is
 * untouched and none of its callbacks is called. */
int  pool_submit(pool_lane *lane, int lane_limit, pool_job *j);
/* Runs work on the calling thread instead of a pool thread when `lane` is
 * idle (nothing waiting or running on it) and the pool is running: claims
 * the lane and returns 1 — the caller runs its work, then calls
 * pool_inline_end.  Else 0 (submit it instead).  While claimed the lane
 * counts one running job: jobs submitted on it wait behind, in order. */
int  pool_inline_begin(pool_lane *lane);
/* Gives a lane claimed by pool_inline_begin back; jobs that arrived
 * meanwhile go to the pool threads (or, when the pool is stopping, are run
 * cancelled here, so that each is still answered once). */
void pool_inline_end(pool_lane *lane);
/* Jobs waiting for a thread and jobs running now (for /metrics and tests). */
void pool_stats(int *waiting, int *running);
/* Waits for the running jobs, cancels the queued ones, joins the threads. */
void pool_stop(void);

#endif
