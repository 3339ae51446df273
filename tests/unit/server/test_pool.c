/* test_pool.c — src/server/pool.c: one lane runs its jobs one at a time in
 * submission order; different lanes run in parallel; a blocked lane does not
 * hold back other lanes; a submit past the lane's or the total limit is
 * refused with ERR_OVERLOADED and queues nothing; pool_stop lets a running
 * job finish, hands every queued job to run() with cancelled = 1, calls every
 * release once, and refuses later submits; a lane claimed for inline work
 * keeps its order and limit.  Waits that could hang on a broken
 * pool end after 10 s and fail (no timing is asserted). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "pool.h"

typedef struct tjob {
    pool_job base;
    int      id;
    int      gate;                  /* wait for the gate before returning */
    int      cancelled;
    int      ran, released;
} tjob;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cv = PTHREAD_COND_INITIALIZER;
static int             gate_open, order[256], norder, active, max_active, lane_b_ran;

static void reset(void)
{
    gate_open = norder = active = max_active = lane_b_ran = 0;
}

/* Waits (under mu) until *flag; 0 after 10 s without it. */
static int wait_for(int *flag)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (!*flag)
        if (pthread_cond_timedwait(&cv, &mu, &ts) != 0) return *flag;
    return 1;
}

static void t_run(pool_job *pj, int cancelled)
{
    tjob *j = (tjob *)pj;
    pthread_mutex_lock(&mu);
    j->ran++;
    j->cancelled = cancelled;
    order[norder++] = j->id;
    if (++active > max_active) max_active = active;
    if (j->id >= 100) lane_b_ran = 1;
    pthread_cond_broadcast(&cv);
    if (j->gate && !cancelled) wait_for(&gate_open);
    active--;
    pthread_mutex_unlock(&mu);
    /* a little work, so that overlapping jobs would be seen */
    for (volatile int i = 0; i < 20000; i++) {}
}

static void t_release(pool_job *pj)
{
    tjob *j = (tjob *)pj;
    pthread_mutex_lock(&mu);
    j->released++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void job_init(tjob *j, int id, int gate)
{
    memset(j, 0, sizeof *j);
    j->base.run = t_run;
    j->base.release = t_release;
    j->id = id;
    j->gate = gate;
}

static void open_gate(void)
{
    pthread_mutex_lock(&mu);
    gate_open = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits until every job in js was released (10 s at most). */
static void wait_released(tjob *js, int n)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++) assert_true(wait_for(&js[i].released));
    pthread_mutex_unlock(&mu);
}

static void test_pool_runs_one_lane_in_submission_order_one_at_a_time(void **st)
{
    (void)st;
    reset();
    assert_int_equal(pool_start(4, 1000), 0);
    pool_lane lane;
    pool_lane_init(&lane);
    static tjob js[64];
    for (int i = 0; i < 64; i++) {
        job_init(&js[i], i, 0);
        assert_int_equal(pool_submit(&lane, 1000, &js[i].base), 0);
    }
    wait_released(js, 64);
    pool_stop();
    assert_int_equal(norder, 64);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(order[i], i);
        assert_int_equal(js[i].ran, 1);
        assert_int_equal(js[i].released, 1);
        assert_int_equal(js[i].cancelled, 0);
    }
    assert_int_equal(max_active, 1);
}

static void test_pool_runs_other_lanes_while_one_lane_is_blocked(void **st)
{
    (void)st;
    reset();
    assert_int_equal(pool_start(2, 1000), 0);
    pool_lane a, b;
    pool_lane_init(&a);
    pool_lane_init(&b);
    tjob a1, a2, b1;
    job_init(&a1, 1, 1);            /* blocks until the gate opens */
    job_init(&a2, 2, 0);
    job_init(&b1, 100, 0);
    assert_int_equal(pool_submit(&a, 10, &a1.base), 0);
    assert_int_equal(pool_submit(&a, 10, &a2.base), 0);
    assert_int_equal(pool_submit(&b, 10, &b1.base), 0);
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&lane_b_ran));   /* while a1 still holds lane a */
    assert_int_equal(a2.ran, 0);          /* lane a's second job waits for its first */
    pthread_mutex_unlock(&mu);
    open_gate();
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&a2.released));
    pthread_mutex_unlock(&mu);
    pool_stop();
    assert_int_equal(a1.ran + a2.ran + b1.ran, 3);
}

static void test_pool_refuses_past_the_lane_and_total_limits(void **st)
{
    (void)st;
    reset();
    assert_int_equal(pool_start(1, 2), 0);
    pool_lane a, b;
    pool_lane_init(&a);
    pool_lane_init(&b);
    tjob a1, a2, a3, b1, b2;
    job_init(&a1, 1, 1);
    job_init(&a2, 2, 0);
    job_init(&a3, 3, 0);
    job_init(&b1, 101, 0);
    job_init(&b2, 102, 0);
    assert_int_equal(pool_submit(&a, 2, &a1.base), 0);
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&a1.ran));        /* a1 runs: nothing waits */
    pthread_mutex_unlock(&mu);
    assert_int_equal(pool_submit(&a, 2, &a2.base), 0);               /* lane a: 2 of 2 */
    assert_int_equal(pool_submit(&a, 2, &a3.base), ERR_OVERLOADED);  /* lane a full */
    assert_int_equal(pool_submit(&b, 5, &b1.base), 0);               /* 2 of 2 waiting */
    assert_int_equal(pool_submit(&b, 5, &b2.base), ERR_OVERLOADED);  /* total full */
    int waiting, running;
    pool_stats(&waiting, &running);
    assert_int_equal(waiting, 2);
    assert_int_equal(running, 1);
    open_gate();
    tjob *done[] = {&a1, &a2, &b1};
    pthread_mutex_lock(&mu);
    for (int i = 0; i < 3; i++) assert_true(wait_for(&done[i]->released));
    pthread_mutex_unlock(&mu);
    pool_stop();
    assert_int_equal(a3.ran + a3.released + b2.ran + b2.released, 0);
    assert_int_equal(a2.cancelled + b1.cancelled, 0);
}

static void *stopper(void *arg)
{
    (void)arg;
    pool_stop();
    return NULL;
}

static void test_pool_stop_finishes_the_running_job_and_cancels_the_queued(void **st)
{
    (void)st;
    reset();
    assert_int_equal(pool_start(1, 10), 0);
    pool_lane a, b;
    pool_lane_init(&a);
    pool_lane_init(&b);
    tjob a1, a2, b1;
    job_init(&a1, 1, 1);
    job_init(&a2, 2, 0);
    job_init(&b1, 100, 0);
    assert_int_equal(pool_submit(&a, 10, &a1.base), 0);
    pthread_mutex_lock(&mu);
    assert_true(wait_for(&a1.ran));
    pthread_mutex_unlock(&mu);
    assert_int_equal(pool_submit(&a, 10, &a2.base), 0);
    assert_int_equal(pool_submit(&b, 10, &b1.base), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stopper, NULL), 0);
    /* A lane with limit 0 is refused as overloaded until the pool stops. */
    pool_lane probe;
    pool_lane_init(&probe);
    tjob p;
    job_init(&p, 200, 0);
    while (pool_submit(&probe, 0, &p.base) != ERR_SHUTTING_DOWN) sched_yield();
    open_gate();
    pthread_join(t, NULL);
    assert_int_equal(a1.ran, 1);
    assert_int_equal(a1.cancelled, 0);
    assert_int_equal(a2.ran, 1);
    assert_int_equal(a2.cancelled, 1);
    assert_int_equal(b1.ran, 1);
    assert_int_equal(b1.cancelled, 1);
    assert_int_equal(a1.released + a2.released + b1.released, 3);
    assert_int_equal(p.ran + p.released, 0);
    assert_int_equal(pool_submit(NULL, 1, &p.base), ERR_SHUTTING_DOWN);
}

/* pool_inline_begin claims an idle lane only: a job submitted on it while
 * claimed waits (and counts against the lane's limit) until pool_inline_end,
 * then runs on a pool thread; a busy lane or a stopped pool is refused. */
static void test_pool_inline_claims_an_idle_lane_and_keeps_its_order(void **st)
{
    (void)st;
    reset();
    assert_int_equal(pool_start(2, 10), 0);
    pool_lane a;
    pool_lane_init(&a);
    assert_int_equal(pool_inline_begin(&a), 1);
    assert_int_equal(pool_inline_begin(&a), 0);          /* claimed: not twice */
    tjob a1, a2;
    job_init(&a1, 1, 0);
    job_init(&a2, 2, 0);
    assert_int_equal(pool_submit(&a, 2, &a1.base), 0);
    assert_int_equal(pool_submit(&a, 2, &a2.base), ERR_OVERLOADED);   /* the inline job counts */
    int waiting, running;
    pool_stats(&waiting, &running);
    assert_int_equal(waiting, 1);
    assert_int_equal(running, 1);
    for (int i = 0; i < 1000; i++) sched_yield();
    pthread_mutex_lock(&mu);
    assert_int_equal(a1.ran, 0);                          /* waits behind the claim */
    pthread_mutex_unlock(&mu);
    pool_inline_end(&a);
    wait_released(&a1, 1);
    assert_int_equal(a1.cancelled, 0);
    assert_int_equal(pool_inline_begin(&a), 1);           /* idle again */
    pool_inline_end(&a);
    pool_stop();
    assert_int_equal(pool_inline_begin(&a), 0);           /* stopped */
}

/* A job queued behind an inline claim when the pool stops is cancelled by
 * pool_inline_end (the threads are gone), run and released once. */
static void test_pool_inline_end_cancels_what_waits_after_stop(void **st)
{
    (void)st;
    reset();
    assert_int_equal(pool_start(1, 10), 0);
    pool_lane a;
    pool_lane_init(&a);
    assert_int_equal(pool_inline_begin(&a), 1);
    tjob a1;
    job_init(&a1, 1, 0);
    assert_int_equal(pool_submit(&a, 5, &a1.base), 0);
    pool_stop();
    assert_int_equal(a1.ran, 0);
    pool_inline_end(&a);
    assert_int_equal(a1.ran, 1);
    assert_int_equal(a1.cancelled, 1);
    assert_int_equal(a1.released, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_one_lane_in_submission_order_one_at_a_time),
        cmocka_unit_test(test_pool_runs_other_lanes_while_one_lane_is_blocked),
        cmocka_unit_test(test_pool_refuses_past_the_lane_and_total_limits),
        cmocka_unit_test(test_pool_stop_finishes_the_running_job_and_cancels_the_queued),
        cmocka_unit_test(test_pool_inline_claims_an_idle_lane_and_keeps_its_order),
        cmocka_unit_test(test_pool_inline_end_cancels_what_waits_after_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
