/* cli_fewshot.c — `optirsd maml`: few-shot meta-learning on the sinusoid
 * family (MAML, FOMAML, Meta-SGD, Reptile, or the pretrained baseline) in
 * the foreground on one thread, then the evaluation that
 * docs/meta-learning.md reports: the query MSE of `--eval-tasks` fresh tasks
 * after each of `--eval-steps` inner steps on `--eval-shots` points, with
 * 95% intervals.  No database: the figures go to stdout.
 *
 *   optirsd maml [--method maml|fomaml|meta_sgd|reptile|pretrain] [--shots 5]
 *                [--inner-steps 1] [--inner-lr 0.01] [--meta-batch 25] [--outer-lr 0.001]
 *                [--outer-steps 20000] [--seed 0] [--curve-every 1000]
 *                [--eval-tasks 600] [--eval-shots 5] [--eval-query 100] [--eval-steps 1,5,10]
 *                [--eval-seed 1000] [--eval-lrs 0.001,0.003,0.01,0.03,0.1]
 *
 * The pretrained baseline is fine-tuned at the step size of --eval-lrs
 * that gives the lowest MSE on 600 validation tasks (another seed), for
 * each step count: Finn et al. tuned it automatically too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_fewshot.h"
#include "errors.h"
#include "fewshot.h"
#include "fewshot_spec.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "a,b,c" → up to cap numbers; returns the count, or -1. */
static int parse_list(const char *s, double *out, int cap)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double d = strtod(p, &end);
        if (end == p || n >= cap || !isfinite(d)) return -1;
        out[n++] = d;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return n;
}

static int usage(void)
{
    fprintf(stderr, "usage: optirsd maml [--method maml|fomaml|meta_sgd|reptile|pretrain] [--shots N] "
                    "[--inner-steps N] [--inner-lr X] [--meta-batch N] [--outer-lr X] [--outer-steps N] [--seed N] "
                    "[--curve-every N] [--eval-tasks N] [--eval-shots N] [--eval-query N] [--eval-steps 1,5,10] "
                    "[--eval-seed N] [--eval-lrs 0.001,0.01,...]\n");
    return 2;
}

int cli_fewshot(int argc, char **argv)
{
    fewshot_spec sp;
    fewshot_spec_defaults(&sp);
    long curve_every = 1000, eval_tasks = 600, eval_shots = -1, eval_query = 100, eval_seed = 1000;
    double stepsd[FEWSHOT_EVAL_MAX] = {1, 5, 10}, lrs[16] = {0.001, 0.003, 0.01, 0.03, 0.1};
    int nsteps = 3, nlrs = 5;
    char msg[300];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) return usage();
        const char *v = argv[++i];
        long *lp = strcmp(a, "--curve-every") == 0 ? &curve_every : strcmp(a, "--eval-tasks") == 0 ? &eval_tasks
                 : strcmp(a, "--eval-shots") == 0 ? &eval_shots : strcmp(a, "--eval-query") == 0 ? &eval_query
                 : strcmp(a, "--eval-seed") == 0 ? &eval_seed : NULL;
        if (lp) {
            if (cli_parse_int(v, 1, 100000000, lp)) return usage();
            continue;
        }
        if (strcmp(a, "--eval-steps") == 0) {
            if ((nsteps = parse_list(v, stepsd, FEWSHOT_EVAL_MAX)) < 1) return usage();
            continue;
        }
        if (strcmp(a, "--eval-lrs") == 0) {
            if ((nlrs = parse_list(v, lrs, 16)) < 1) return usage();
            continue;
        }
        char key[64];
        snprintf(key, sizeof key, "%s", a + 2);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        int rc = fewshot_spec_set(&sp, key, v, 1, msg, sizeof msg);
        if (rc) {
            fprintf(stderr, "optirsd maml: %s\n", msg);
            return 2;
        }
    }
    if (eval_shots < 0) eval_shots = sp.fc.shots;
    if (eval_shots > FEWSHOT_MAX_SHOTS || eval_tasks < 2) return usage();
    int steps[FEWSHOT_EVAL_MAX];
    for (int i = 0; i < nsteps; i++) {
        if (stepsd[i] < 0 || stepsd[i] > 5 * FEWSHOT_MAX_STEPS || stepsd[i] != floor(stepsd[i])) return usage();
        steps[i] = (int)stepsd[i];
    }
    fewshot_job *j = NULL;
    int rc = fewshot_job_new(&sp.fc, &j);
    if (rc) {
        fprintf(stderr, "optirsd maml: %s\n", err_message(rc));
        return 1;
    }
    const fewshot_config *c = &sp.fc;
    printf("# method %s, %d shots (query %d), %d inner steps at %g, meta-batch %d, outer Adam %g, %lld outer steps, "
           "seed %llu, network 1-%d-%d-1\n",
           fewshot_method_name(c->method), c->shots, c->query ? c->query : c->shots, c->inner_steps, c->inner_lr,
           c->meta_batch, c->outer_lr, (long long)sp.outer_steps, (unsigned long long)c->seed, c->hidden, c->hidden);
    printf("# step meta_loss(mean over the last %ld) grad_norm wall_s\n", curve_every);
    double t0 = now_s(), lsum = 0;
    for (int64_t s = 0; s < sp.outer_steps; s++) {
        double l, g;
        rc = fewshot_step(j, &l, &g);
        if (rc) {
            fprintf(stderr, "optirsd maml: outer step %lld: %s\n", (long long)s + 1, err_message(rc));
            fewshot_job_free(j);
            return 1;
        }
        lsum += l;
        if ((s + 1) % curve_every == 0 || s + 1 == sp.outer_steps) {
            long k = (s + 1) % curve_every ? (long)((s + 1) % curve_every) : curve_every;
            printf("curve %lld %.5f %.4g %.1f\n", (long long)s + 1, lsum / k, g, now_s() - t0);
            lsum = 0;
        }
    }
    double train_s = now_s() - t0;
    const fsnet *n = fewshot_job_net(j);
    double mean[FEWSHOT_EVAL_MAX], ci[FEWSHOT_EVAL_MAX], lr_used[FEWSHOT_EVAL_MAX];
    const double *alpha = fewshot_job_alpha(j);
    if (c->method == FEWSHOT_PRETRAIN) {
        /* the step size per step count, on validation tasks */
        double best[FEWSHOT_EVAL_MAX], vm[FEWSHOT_EVAL_MAX], vc[FEWSHOT_EVAL_MAX];
        for (int i = 0; i < nsteps; i++) best[i] = INFINITY;
        for (int k = 0; k < nlrs && !rc; k++) {
            rc = fewshot_eval(n, fewshot_job_theta(j), NULL, lrs[k], (int)eval_shots, (int)eval_query, 600, steps,
                              nsteps, (uint64_t)eval_seed + 7919, vm, vc);
            for (int i = 0; i < nsteps && !rc; i++)
                if (vm[i] < best[i]) {
                    best[i] = vm[i];
                    lr_used[i] = lrs[k];
                }
        }
        for (int i = 0; i < nsteps && !rc; i++)
            rc = fewshot_eval(n, fewshot_job_theta(j), NULL, lr_used[i], (int)eval_shots, (int)eval_query,
                              (int)eval_tasks, &steps[i], 1, (uint64_t)eval_seed, &mean[i], &ci[i]);
    } else {
        rc = fewshot_eval(n, fewshot_job_theta(j), alpha, c->inner_lr, (int)eval_shots, (int)eval_query,
                          (int)eval_tasks, steps, nsteps, (uint64_t)eval_seed, mean, ci);
        for (int i = 0; i < nsteps; i++) lr_used[i] = c->inner_lr;
    }
    if (rc) {
        fprintf(stderr, "optirsd maml: evaluation: %s\n", err_message(rc));
        fewshot_job_free(j);
        return 1;
    }
    printf("# evaluation: %ld tasks (seed %ld), %ld shots, %ld query points each; train wall %.1f s\n", eval_tasks,
           eval_seed, eval_shots, eval_query, train_s);
    for (int i = 0; i < nsteps; i++) {
        if (!(mean[i] <= 1e6))
            printf("eval steps=%d diverged (mean query MSE %.3g)\n", steps[i], mean[i]);
        else if (alpha) printf("eval steps=%d mse=%.4f ci95=%.4f lr=learned\n", steps[i], mean[i], ci[i]);
        else printf("eval steps=%d mse=%.4f ci95=%.4f lr=%g\n", steps[i], mean[i], ci[i], lr_used[i]);
    }
    if (alpha) {
        double lo = INFINITY, hi = -INFINITY, m = 0;
        for (size_t i = 0; i < n->nparams; i++) {
            lo = fmin(lo, alpha[i]);
            hi = fmax(hi, alpha[i]);
            m += alpha[i];
        }
        printf("# learned rates: mean %.4g, min %.4g, max %.4g\n", m / n->nparams, lo, hi);
    }
    fewshot_job_free(j);
    return 0;
}
