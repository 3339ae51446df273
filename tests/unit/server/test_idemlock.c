/* test_idemlock.c — src/server/idemlock.c: a second holder of the same
 * (tenant, route, key) gets the lock only after the first released it;
 * another key, another route or another tenant never waits for it; entries
 * are freed by their last user.  A wait that could hang on a broken lock
 * ends after 10 s and fails (no timing is asserted). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idemlock.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cv = PTHREAD_COND_INITIALIZER;
static int             seq, released_at, acquired_at, done;

typedef struct who { const char *tenant, *route, *key; } who;

static void *taker(void *arg)
{
    who *w = arg;
    idemlock *l = idemlock_acquire(w->tenant, w->route, w->key);
    pthread_mutex_lock(&mu);
    acquired_at = ++seq;
    done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    idemlock_release(l);
    return NULL;
}

/* Waits (under mu) until done; 0 after 10 s without it. */
static int wait_done(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (!done)
        if (pthread_cond_timedwait(&cv, &mu, &ts) != 0) return done;
    return 1;
}

static void test_idemlock_same_key_waits_for_the_first_holder(void **st)
{
    (void)st;
    seq = released_at = acquired_at = done = 0;
    idemlock *l = idemlock_acquire("t1", "sessions_create", "K");
    assert_non_null(l);
    who w = {"t1", "sessions_create", "K"};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, taker, &w), 0);
    usleep(50000);                  /* give a broken lock the chance to let it in */
    pthread_mutex_lock(&mu);
    assert_int_equal(done, 0);
    released_at = ++seq;
    pthread_mutex_unlock(&mu);
    idemlock_release(l);
    pthread_join(t, NULL);
    assert_true(released_at < acquired_at);
    assert_int_equal(idemlock_count(), 0);
}

static void test_idemlock_other_keys_routes_and_tenants_do_not_wait(void **st)
{
    (void)st;
    idemlock *l = idemlock_acquire("t1", "sessions_create", "K");
    assert_non_null(l);
    who others[] = {{"t1", "sessions_create", "K2"}, {"t1", "feedback/x", "K"}, {"t2", "sessions_create", "K"}};
    for (int i = 0; i < 3; i++) {
        seq = acquired_at = done = 0;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, taker, &others[i]), 0);
        pthread_mutex_lock(&mu);
        assert_true(wait_done());   /* while the first key is still held */
        pthread_mutex_unlock(&mu);
        pthread_join(t, NULL);
    }
    assert_int_equal(idemlock_count(), 1);
    idemlock_release(l);
    assert_int_equal(idemlock_count(), 0);
    idemlock_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idemlock_same_key_waits_for_the_first_holder),
        cmocka_unit_test(test_idemlock_other_keys_routes_and_tenants_do_not_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
