/* bench_tasks.c — the cost of one loss_grad (loss and gradient of one
 * minibatch) of every task family at its DEFAULT size, the figure that
 * decides what an evaluation of 1,000-5,000 steps x seeds x learning rates
 * costs.  CPU time of this thread (CLOCK_THREAD_CPUTIME_ID, so waiting for
 * a busy core does not count), median of 5 rounds of `calls` calls after 20
 * warm-up calls; one BLAS thread, as the daemon runs.  Each family is also
 * timed with task augmentation on (augment=1).  Not part of `make bench`:
 *   build/bench/bench_tasks [calls]     (default 200)
 * Prints one line per family: name, parameters, microseconds per call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data_cache.h"
#include "tasks.h"

void openblas_set_num_threads(int);

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_one(const char *fam, int augment, int calls)
{
    task_params p = {.data = &data_cache_source, .augment = augment};
    task *t;
    if (task_create(fam, &p, 1, &t)) {
        printf("%-20s %s\n", fam, tasks_last_error());
        return 1;
    }
    float *x = malloc(sizeof(float) * t->n), *g = malloc(sizeof(float) * t->n);
    if (!x || !g) { free(x); free(g); task_free(t); return 1; }
    task_init_params(t, 2, x);
    rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < 20; i++) task_loss_grad(t, x, g, &r);
    double us[5];
    for (int k = 0; k < 5; k++) {
        double t0 = cpu_now();
        for (int i = 0; i < calls; i++) task_loss_grad(t, x, g, &r);
        us[k] = (cpu_now() - t0) / calls * 1e6;
    }
    qsort(us, 5, sizeof us[0], cmp_d);
    printf("%-20s %-8s n=%-7zu %8.1f us/loss_grad\n", fam, augment ? "augment" : "", t->n, us[2]);
    free(x); free(g);
    task_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int calls = argc > 1 ? atoi(argv[1]) : 200;
    if (calls < 1 || calls > 1000000) {
        fprintf(stderr, "usage: bench_tasks [calls 1..1000000]\n");
        return 2;
    }
    openblas_set_num_threads(1);
    int fail = 0;
    for (int i = 0; i < tasks_count(); i++) {
        fail |= bench_one(tasks_at(i)->name, 0, calls);
        fail |= bench_one(tasks_at(i)->name, 1, calls);
    }
    return fail;
}
