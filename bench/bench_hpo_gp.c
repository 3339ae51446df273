/* bench_hpo_gp.c — the wall time of one GP sampler draw (hpo_sample with
 * HPO_SAMPLER_GP) as an ask pays it, for a space of D floats and a history of
 * N complete trials (random points, a quadratic's values), with one OpenBLAS
 * thread as the daemon runs it.  Past HPO_GP_MAX_POINTS trials the model
 * keeps that many, so N beyond it costs no more.  Figures: docs/studies.md.
 *
 *   bench_hpo_gp [D N] ...     (default: 2 50, 10 100, 10 300, 64 300)
 *
 * Prints `D=… N=… seconds=…` per pair; non-zero exit on a sampler error. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hpo.h"
#include "rng.h"

static int one(int d, int n)
{
    if (d < 1 || d > HPO_MAX_PARAMS || n < 1 || n > 100000) return 2;
    hpo_space sp = {.n = d};
    for (int i = 0; i < d; i++) sp.p[i] = (hpo_param){.kind = HPO_FLOAT, .low = 0, .high = 1};
    double *xs = malloc(sizeof(double) * (size_t)n * (size_t)d);
    hpo_trial *h = malloc(sizeof *h * (size_t)n);
    if (!xs || !h) return 3;
    rng r;
    rng_seed(&r, 1);
    for (int t = 0; t < n; t++) {
        double v = 0;
        for (int i = 0; i < d; i++) {
            xs[(size_t)t * d + i] = rng_uniform(&r);
            v += (xs[(size_t)t * d + i] - 0.3) * (xs[(size_t)t * d + i] - 0.3);
        }
        h[t] = (hpo_trial){.number = t, .state = HPO_COMPLETE, .x = xs + (size_t)t * d, .value = v};
    }
    double x[HPO_MAX_PARAMS];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = hpo_sample(&sp, HPO_SAMPLER_GP, NULL, 1, 3, n, h, n, x);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("D=%d N=%d seconds=%.3f\n", d, n, (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);
    free(xs);
    free(h);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    if (argc > 1) {
        for (int i = 1; i + 1 < argc; i += 2)
            if (one(atoi(argv[i]), atoi(argv[i + 1]))) return 1;
        return 0;
    }
    static const int pairs[][2] = {{2, 50}, {10, 100}, {10, 300}, {64, 300}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (one(pairs[i][0], pairs[i][1])) return 1;
    return 0;
}
