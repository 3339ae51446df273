/* synth_teacher.c — teacher-labelled synthetic tabular data; see
 * synth_teacher.h. */
#include "synth_teacher.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "layers.h"
#include "tasks_arena.h"
#include "tasks_internal.h"

#define ST_CHUNK 256

int synth_teacher_make(synth_set *s, const char *family, uint64_t seed, int dim, int ydim,
                       int n, int ne, double noise)
{
    memset(s, 0, sizeof *s);
    mlp teacher;
    int sizes[3] = {dim, SYNTH_TEACHER_HIDDEN, ydim};
    if (n < 1 || ne < 1 || layer_mlp_init(&teacher, 2, sizes, ACT_TANH)) {
        tasks_set_error("%s: synthetic data needs rows, features and targets >= 1", family);
        return ERR_OUT_OF_RANGE;
    }
    size_t rows = (size_t)n + (size_t)ne, F = sizeof(float);
    float *tp, *cache;
    const tasks_buf bufs[] = {
        {(void **)&s->x, rows * (size_t)dim, F}, {(void **)&s->y, rows * (size_t)ydim, F},
        {(void **)&tp, teacher.nparams, F}, {(void **)&cache, layer_mlp_cache_size(&teacher, ST_CHUNK), F},
    };
    int rc = tasks_arena_alloc(family, bufs, 4, &s->block);
    if (rc) return rc;
    s->dim = dim; s->ydim = ydim; s->n = n; s->ne = ne;
    rng r;
    rng_seed(&r, seed);
    rng_normal_fill(&r, s->x, rows * (size_t)dim, 0.0f, 1.0f);
    layer_mlp_init_params(&teacher, tp, &r, 1.0f);
    for (int l = 0; l < teacher.nlayers; l++)
        rng_normal_fill(&r, tp + teacher.b_off[l], (size_t)sizes[l + 1], 0.0f, 0.1f);
    for (size_t i = 0; i < rows; i += ST_CHUNK) {
        int m = rows - i < ST_CHUNK ? (int)(rows - i) : ST_CHUNK;
        layer_mlp_forward(&teacher, s->y + i * ydim, cache, tp, s->x + i * dim, m);
    }
    if (noise > 0)
        for (size_t i = 0; i < rows * (size_t)ydim; i++) s->y[i] += (float)(noise * rng_normal(&r));
    return 0;
}

void synth_free(synth_set *s)
{
    free(s->block);
    memset(s, 0, sizeof *s);
}

void synth_sample(const synth_set *s, int batch, rng *r, float *xb, float *yb)
{
    for (int k = 0; k < batch; k++) {
        size_t i = (size_t)rng_below(r, (uint64_t)s->n);
        memcpy(xb + (size_t)k * s->dim, s->x + i * s->dim, sizeof(float) * (size_t)s->dim);
        memcpy(yb + (size_t)k * s->ydim, s->y + i * s->ydim, sizeof(float) * (size_t)s->ydim);
    }
}

void synth_argmax(const float *y, int rows, int ydim, int *labels)
{
    for (int i = 0; i < rows; i++) {
        const float *v = y + (size_t)i * ydim;
        int best = 0;
        for (int j = 1; j < ydim; j++) if (v[j] > v[best]) best = j;
        labels[i] = best;
    }
}
