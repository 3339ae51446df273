/* pool.c — see pool.h.
 *
 * One mutex guards the ready list (lanes with a waiting job that no thread
 * runs), every lane's list and counters, and the totals.  A lane is on the
 * ready list or running (scheduled = 1) or idle; a thread takes a lane off
 * the list, pops its oldest job, runs it without the lock, and puts the lane
 * back at the tail when more jobs wait: per-lane order, one job per lane at
 * a time, and round-robin between lanes. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "errors.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;             /* work arrived, or stopping */
    pool_lane      *ready_head, *ready_tail;
    int             waiting;        /* jobs queued on any lane, not yet running */
    int             running;
    int             max_queued;
    int             stopping;
    int             nthreads;
    pthread_t      *threads;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void pool_lane_init(pool_lane *l)
{
    l->head = l->tail = NULL;
    l->queued = 0;
    l->scheduled = 0;
    l->next_ready = NULL;
}

/* Called with P.mu held. */
static void ready_push(pool_lane *l)
{
    l->scheduled = 1;
    l->next_ready = NULL;
    if (P.ready_tail) P.ready_tail->next_ready = l;
    else P.ready_head = l;
    P.ready_tail = l;
}

static void *pool_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.ready_head && !P.stopping) pthread_cond_wait(&P.cv, &P.mu);
        pool_lane *l = P.ready_head;
        if (!l) break;              /* stopping and nothing left */
        P.ready_head = l->next_ready;
        if (!P.ready_head) P.ready_tail = NULL;
        pool_job *j = l->head;
        l->head = j->next;
        if (!l->head) l->tail = NULL;
        P.waiting--;
        P.running++;
        int cancelled = P.stopping;
        pthread_mutex_unlock(&P.mu);

        j->run(j, cancelled);

        pthread_mutex_lock(&P.mu);
        P.running--;
        l->queued--;
        if (l->head) ready_push(l);
        else l->scheduled = 0;
        pthread_mutex_unlock(&P.mu);
        /* The lane is not touched again: its owner may go now. */
        j->release(j);
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

int pool_start(int threads, int max_queued)
{
    if (threads < 1 || max_queued < 1) return ERR_INVALID_ARGUMENT;
    P.threads = calloc((size_t)threads, sizeof *P.threads);
    if (!P.threads) return ERR_NO_MEMORY;
    P.max_queued = max_queued;
    P.stopping = 0;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&P.threads[i], NULL, pool_main, NULL) != 0) {
            pool_stop();
            return ERR_INTERNAL;
        }
        P.nthreads++;
    }
    return 0;
}

int pool_submit(pool_lane *lane, int lane_limit, pool_job *j)
{
    if (!lane) {
        lane = &j->solo;
        pool_lane_init(lane);
        lane_limit = 1;
    }
    pthread_mutex_lock(&P.mu);
    int rc = 0;
    if (P.stopping || !P.nthreads) rc = ERR_SHUTTING_DOWN;
    else if (P.waiting >= P.max_queued || lane->queued >= lane_limit) rc = ERR_OVERLOADED;
    if (!rc) {
        if (j->admit) j->admit(j);
        j->next = NULL;
        if (lane->tail) lane->tail->next = j;
        else lane->head = j;
        lane->tail = j;
        lane->queued++;
        P.waiting++;
        if (!lane->scheduled) {
            ready_push(lane);
            pthread_cond_signal(&P.cv);
        }
    }
    pthread_mutex_unlock(&P.mu);
    return rc;
}

int pool_inline_begin(pool_lane *lane)
{
    pthread_mutex_lock(&P.mu);
    int ok = !P.stopping && P.nthreads > 0 && lane->queued == 0 && !lane->scheduled;
    if (ok) {
        lane->queued = 1;        /* the job run here */
        lane->scheduled = 1;     /* no pool thread takes the lane meanwhile */
        P.running++;
    }
    pthread_mutex_unlock(&P.mu);
    return ok;
}

void pool_inline_end(pool_lane *lane)
{
    pthread_mutex_lock(&P.mu);
    P.running--;
    lane->queued--;
    /* Stopping: the threads may be gone; the lane is still ours, so its
     * waiting jobs are cancelled here, oldest first. */
    while (P.stopping && lane->head) {
        pool_job *j = lane->head;
        lane->head = j->next;
        if (!lane->head) lane->tail = NULL;
        P.waiting--;
        lane->queued--;
        int last = !lane->head;
        if (last) lane->scheduled = 0;
        pthread_mutex_unlock(&P.mu);
        j->run(j, 1);
        j->release(j);         /* after the last one the lane's owner may go */
        if (last) return;
        pthread_mutex_lock(&P.mu);
    }
    if (lane->head) {
        ready_push(lane);
        pthread_cond_signal(&P.cv);
    } else {
        lane->scheduled = 0;
    }
    pthread_mutex_unlock(&P.mu);
}

void pool_stats(int *waiting, int *running)
{
    pthread_mutex_lock(&P.mu);
    *waiting = P.waiting;
    *running = P.running;
    pthread_mutex_unlock(&P.mu);
}

void pool_stop(void)
{
    pthread_mutex_lock(&P.mu);
    P.stopping = 1;
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    /* The threads run what is left with cancelled = 1, then exit. */
    for (int i = 0; i < P.nthreads; i++) pthread_join(P.threads[i], NULL);
    free(P.threads);
    P.threads = NULL;
    P.nthreads = 0;
}
