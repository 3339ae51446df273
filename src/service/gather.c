/* gather.c — a shared session's step gathered from its workers (see
 * gather.h). */
#include "gather.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

int gather_init(gather *g, int K, size_t n)
{
    memset(g, 0, sizeof *g);
    g->K = K;
    g->n = n;
    g->grads = malloc((size_t)K * n * sizeof(float));
    g->worker = calloc((size_t)K, sizeof *g->worker);
    g->loss = calloc((size_t)K, sizeof(double));
    g->skip = calloc((size_t)K, sizeof(int));
    return g->grads && g->worker && g->loss && g->skip ? 0 : ERR_NO_MEMORY;
}

void gather_deinit(gather *g)
{
    free(g->grads);
    free(g->worker);
    free(g->loss);
    free(g->skip);
    memset(g, 0, sizeof *g);
}

int gather_slot(gather *g, const char *worker, int *existed)
{
    int j = 0;
    while (j < g->npend && strcmp(g->worker[j], worker) != 0) j++;
    *existed = j < g->npend;
    if (j == g->npend) {
        snprintf(g->worker[j], sizeof g->worker[j], "%s", worker);
        g->npend++;
    }
    return j;
}

void gather_put(gather *g, int j, const float *grads, double loss, int skip)
{
    float *row = g->grads + (size_t)j * g->n;
    if (skip) memset(row, 0, g->n * sizeof(float));
    else memcpy(row, grads, g->n * sizeof(float));
    g->skip[j] = skip;
    g->loss[j] = isfinite(loss) ? loss : NAN;
}

int gather_full(const gather *g)
{
    return g->npend >= g->K;
}

float *gather_mean(gather *g, double *loss, int *any_skip)
{
    float *mean = g->grads;
    size_t n = g->n;
    int K = g->K, nloss = 0;
    double sum = 0;
    for (int w = 1; w < K; w++) {
        const float *row = g->grads + (size_t)w * n;
        for (size_t i = 0; i < n; i++) mean[i] += row[i];
    }
    for (size_t i = 0; i < n; i++) mean[i] /= (float)K;
    *any_skip = 0;
    for (int w = 0; w < K; w++) {
        if (!isnan(g->loss[w])) { sum += g->loss[w]; nloss++; }
        *any_skip |= g->skip[w];
    }
    *loss = nloss ? sum / nloss : NAN;
    return mean;
}

int gather_mean_by_name(const gather *g, double *out)
{
    int k = g->npend;
    if (k < 1) return ERR_INVALID_ARGUMENT;
    memset(out, 0, g->n * sizeof *out);
    /* k ≤ K, small: a selection of the next name each time, no allocation */
    const char *prev = NULL;
    for (int done = 0; done < k; done++) {
        int next = -1;
        for (int w = 0; w < k; w++)
            if ((!prev || strcmp(g->worker[w], prev) > 0) && (next < 0 || strcmp(g->worker[w], g->worker[next]) < 0))
                next = w;
        const float *row = g->grads + (size_t)next * g->n;
        for (size_t i = 0; i < g->n; i++) out[i] += row[i];
        prev = g->worker[next];
    }
    for (size_t i = 0; i < g->n; i++) out[i] /= k;
    return 0;
}

void gather_clear(gather *g)
{
    g->npend = 0;
}
