/* layout.c — the layout of a flat parameter vector (see layout.h). */
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

int layout_init(layout *lay, int ntensors, const char *const *names,
                const int *ndims, const int64_t (*shapes)[LAYOUT_MAX_DIMS], size_t max_params)
{
    memset(lay, 0, sizeof *lay);
    if (ntensors <= 0 || !ndims || !shapes) return ERR_INVALID_SHAPE;
    layout_tensor *ts = calloc((size_t)ntensors, sizeof *ts);
    if (!ts) return ERR_NO_MEMORY;
    size_t total = 0;
    int rc = 0;
    for (int i = 0; i < ntensors && !rc; i++) {
        layout_tensor *t = &ts[i];
        if (names && names[i]) {
            size_t len = strlen(names[i]);
            if (len == 0 || len >= LAYOUT_NAME_MAX) { rc = ERR_INVALID_ARGUMENT; break; }
            memcpy(t->name, names[i], len + 1);
        } else {
            snprintf(t->name, sizeof t->name, "t%d", i);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(ts[j].name, t->name) == 0) rc = ERR_INVALID_ARGUMENT;
        if (rc) break;
        if (ndims[i] < 1 || ndims[i] > LAYOUT_MAX_DIMS) { rc = ERR_INVALID_SHAPE; break; }
        t->ndim = ndims[i];
        size_t size = 1;
        for (int d = 0; d < t->ndim; d++) {
            int64_t dim = shapes[i][d];
            if (dim <= 0 || (uint64_t)dim > SIZE_MAX / size) { rc = ERR_INVALID_SHAPE; break; }
            t->shape[d] = dim;
            size *= (size_t)dim;
        }
        if (rc) break;
        t->size = size;
        t->offset = total;
        if (size > max_params || total > max_params - size) { rc = ERR_TOO_MANY_PARAMS; break; }
        total += size;
    }
    if (rc) { free(ts); return rc; }
    lay->ntensors = ntensors;
    lay->tensors = ts;
    lay->n = total;
    return 0;
}

int layout_init_flat(layout *lay, size_t n, size_t max_params)
{
    const char *names[1] = {"params"};
    int ndims[1] = {1};
    int64_t shapes[1][LAYOUT_MAX_DIMS] = {{0}};
    memset(lay, 0, sizeof *lay);
    if (n == 0 || n > (size_t)INT64_MAX) return ERR_INVALID_SHAPE;
    shapes[0][0] = (int64_t)n;
    return layout_init(lay, 1, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, max_params);
}

int layout_copy(layout *dst, const layout *src)
{
    memset(dst, 0, sizeof *dst);
    if (!src || src->ntensors <= 0 || !src->tensors) return ERR_INVALID_SHAPE;
    dst->tensors = malloc((size_t)src->ntensors * sizeof *dst->tensors);
    if (!dst->tensors) return ERR_NO_MEMORY;
    memcpy(dst->tensors, src->tensors, (size_t)src->ntensors * sizeof *dst->tensors);
    dst->ntensors = src->ntensors;
    dst->n = src->n;
    return 0;
}

void layout_deinit(layout *lay)
{
    if (!lay) return;
    free(lay->tensors);
    memset(lay, 0, sizeof *lay);
}
