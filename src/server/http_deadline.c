/* http_deadline.c — see http_deadline.h. */
#include "http_deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "errors.h"

typedef struct entry {
    struct entry *prev, *next;
    int           fd;
    int           waiting;      /* 1 while the current request's headers are not all in */
    int           shut;         /* shut down by the sweep already */
    double        since;        /* monotonic seconds: when the wait began */
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  wake;
static entry          *head;
static double          deadline_s;
static int             running, stopping;
static pthread_t       sweeper;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Shuts down every connection waiting past the deadline; call with mu held. */
static void sweep(double now)
{
    for (entry *e = head; e; e = e->next)
        if (e->waiting && !e->shut && now - e->since > deadline_s) {
            shutdown(e->fd, SHUT_RDWR);
            e->shut = 1;
        }
}

static void *sweep_main(void *unused)
{
    (void)unused;
    /* A quarter of the deadline between sweeps (within 50 ms .. 1 s): a
     * connection is closed at most that late. */
    double period = deadline_s / 4;
    if (period < 0.05) period = 0.05;
    if (period > 1) period = 1;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(period * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        int rc = pthread_cond_timedwait(&wake, &mu, &ts);
        if (rc == ETIMEDOUT && !stopping) sweep(mono());
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int http_deadline_start(double seconds)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&mu);
    deadline_s = seconds;
    stopping = 0;
    pthread_mutex_unlock(&mu);
    if (pthread_create(&sweeper, NULL, sweep_main, NULL) != 0) {
        pthread_cond_destroy(&wake);
        return ERR_INTERNAL;
    }
    running = 1;
    return 0;
}

void http_deadline_stop(void)
{
    if (!running) return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
    pthread_join(sweeper, NULL);
    pthread_cond_destroy(&wake);
    running = 0;
}

void http_deadline_opened(void **socket_context, int fd)
{
    entry *e = calloc(1, sizeof *e);
    *socket_context = e;
    if (!e) return;
    e->fd = fd;
    e->waiting = 1;
    e->since = mono();
    pthread_mutex_lock(&mu);
    e->next = head;
    if (head) head->prev = e;
    head = e;
    pthread_mutex_unlock(&mu);
}

void http_deadline_closed(void **socket_context)
{
    entry *e = *socket_context;
    if (!e) return;
    pthread_mutex_lock(&mu);
    if (e->prev) e->prev->next = e->next;
    else head = e->next;
    if (e->next) e->next->prev = e->prev;
    pthread_mutex_unlock(&mu);
    free(e);
    *socket_context = NULL;
}

void http_deadline_headers_done(void *socket_context)
{
    entry *e = socket_context;
    if (!e) return;
    pthread_mutex_lock(&mu);
    e->waiting = 0;
    pthread_mutex_unlock(&mu);
}

void http_deadline_request_done(void *socket_context)
{
    entry *e = socket_context;
    if (!e) return;
    pthread_mutex_lock(&mu);
    e->waiting = 1;
    e->since = mono();
    pthread_mutex_unlock(&mu);
}
