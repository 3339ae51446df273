/* bench_tasks.c — the cost of one loss_grad (minibatch loss and gradient)
 * of each task family at its default size, or of the tasks named on the
 * command line in task text ("conv_net image_side=28", the meta-training
 * syntax of deploy/meta/README.md).
 *
 * The task families are evaluated for thousands of steps x seeds x Adam
 * learning rates (meta-training, `optirsd eval`), so their default sizes are
 * kept small; this program is how those sizes were chosen.  Time is the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID: other processes on
 * the shared machine then cost less noise than with wall time), best of 10
 * runs of 200 calls after 20 warm-up calls, on one OpenBLAS thread as the
 * daemon runs.  The ratio column is to fmnist_mlp's default, measured in the
 * same run.  Output: an aligned table, then one line per task
 *   BENCH name value us ratio
 * Usage: build/bench/bench_tasks ["FAMILY key=value ..." ...] */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data_cache.h"
#include "meta_spec.h"
#include "tasks.h"

#define BT_WARMUP 20
#define BT_CALLS 200
#define BT_RUNS 10

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Microseconds per loss_grad of `text`, NAN on failure (reported). */
static double time_task(const char *text, size_t *n)
{
    meta_task_spec ts;
    char msg[300];
    if (meta_task_parse(text, &ts, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", text, msg);
        return NAN;
    }
    task *t;
    if (task_create(ts.family, &ts.params, 1, &t)) {
        fprintf(stderr, "%s: %s\n", text, tasks_last_error());
        return NAN;
    }
    *n = t->n;
    float *p = malloc(sizeof(float) * t->n), *g = malloc(sizeof(float) * t->n);
    if (!p || !g) {
        fprintf(stderr, "%s: out of memory\n", text);
        free(p); free(g); task_free(t);
        return NAN;
    }
    task_init_params(t, 2, p);
    rng r;
    rng_seed(&r, 3);
    double best = INFINITY, sink = 0;
    for (int i = 0; i < BT_WARMUP; i++) sink += task_loss_grad(t, p, g, &r);
    for (int run = 0; run < BT_RUNS; run++) {
        double t0 = cpu_s();
        for (int i = 0; i < BT_CALLS; i++) sink += task_loss_grad(t, p, g, &r);
        double dt = (cpu_s() - t0) / BT_CALLS;
        if (dt < best) best = dt;
    }
    if (!isfinite(sink)) fprintf(stderr, "%s: non-finite loss\n", text);
    free(p); free(g);
    task_free(t);
    return best * 1e6;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    int ntasks = argc > 1 ? argc - 1 : tasks_count();
    size_t n;
    double ref = time_task("fmnist_mlp", &n);
    printf("%-40s %9s %12s %8s\n", "task", "params", "us/loss_grad", "ratio");
    char (*names)[META_TASK_TEXT] = calloc((size_t)ntasks, META_TASK_TEXT);
    double *us = calloc((size_t)ntasks, sizeof(double));
    if (!names || !us) return 1;
    int fails = 0;
    for (int i = 0; i < ntasks; i++) {
        snprintf(names[i], META_TASK_TEXT, "%s", argc > 1 ? argv[i + 1] : tasks_at(i)->name);
        n = 0;
        us[i] = time_task(names[i], &n);
        if (!isfinite(us[i])) fails++;
        printf("%-40s %9zu %12.1f %8.3f\n", names[i], n, us[i], us[i] / ref);
    }
    for (int i = 0; i < ntasks; i++) {
        char key[META_TASK_TEXT];
        snprintf(key, sizeof key, "%s", names[i]);
        for (char *c = key; *c; c++) if (*c == ' ' || *c == '=') *c = *c == ' ' ? '_' : '-';
        printf("BENCH loss_grad_%s %.4g us %.3f\n", key, us[i], us[i] / ref);
    }
    free(names); free(us);
    return fails ? 1 : 0;
}
