/* meta_threads.h — for the meta-training tests (test_meta.c,
 * test_meta_robust.c): outer steps of a job whose particles two pthreads
 * evaluate, interleaved (thread t takes k = t, t + 2, …), as the daemon's
 * callers share one job.  Include after cmocka.h and meta.h. */
#ifndef OPTIRS_TEST_META_THREADS_H
#define OPTIRS_TEST_META_THREADS_H

#include <pthread.h>

typedef struct meta_worker { meta_job *j; int first, stride, rc; } meta_worker;

static void *meta_worker_run(void *arg)
{
    meta_worker *w = arg;
    for (int k = w->first; k < meta_job_nparticles(w->j) && !w->rc; k += w->stride)
        w->rc = meta_eval_particle(w->j, k);
    return NULL;
}

/* n outer steps of j, each with its particles on two threads. */
static void meta_steps_two_threads(meta_job *j, int n)
{
    for (int s = 0; s < n; s++) {
        assert_int_equal(meta_step_begin(j), 0);
        pthread_t th[2];
        meta_worker w[2];
        for (int t = 0; t < 2; t++) {
            w[t] = (meta_worker){j, t, 2, 0};
            assert_int_equal(pthread_create(&th[t], NULL, meta_worker_run, &w[t]), 0);
        }
        for (int t = 0; t < 2; t++) {
            assert_int_equal(pthread_join(th[t], NULL), 0);
            assert_int_equal(w[t].rc, 0);
        }
        assert_int_equal(meta_step_end(j, NULL), 0);
    }
}

#endif
