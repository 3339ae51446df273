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
        t->role = t->ndim == 1 ? LAYOUT_ROLE_BIAS : LAYOUT_ROLE_WEIGHT;
        t->ninputs = i > 0;
        t->inputs[0] = i - 1;   /* the default chain (ignored for i = 0) */
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
    dst->graph_declared = src->graph_declared;
    return 0;
}

static const char *const role_names[LAYOUT_NROLES] = {"weight", "bias", "embedding", "norm", "other"};

const char *layout_role_name(int role)
{
    return role >= 0 && role < LAYOUT_NROLES ? role_names[role] : NULL;
}

int layout_role_from_name(const char *name)
{
    for (int i = 0; name && i < LAYOUT_NROLES; i++)
        if (strcmp(role_names[i], name) == 0) return i;
    return -1;
}

int layout_graph_edges(const layout *lay)
{
    int e = 0;
    for (int i = 0; i < lay->ntensors; i++) e += lay->tensors[i].ninputs;
    return e;
}

/* Longest-path depths by Kahn's order over the edges input -> tensor;
 * returns the number of tensors ordered (< nt: a cycle), or -1 when out of
 * memory.  Takes the graph as arrays so that layout_set_graph can check
 * before it commits.  Inputs are in range (checked by the caller). */
static int depths_of(int nt, const int *ninputs, const int (*inputs)[LAYOUT_MAX_INPUTS], int *depth)
{
    int ne = 0;
    for (int i = 0; i < nt; i++) ne += ninputs[i];
    int *indeg = malloc((size_t)nt * sizeof *indeg), *queue = malloc((size_t)nt * sizeof *queue);
    int *start = calloc((size_t)nt + 1, sizeof *start), *cons = malloc(((size_t)ne + 1) * sizeof *cons);
    if (!indeg || !queue || !start || !cons) {
        free(indeg); free(queue); free(start); free(cons);
        return -1;
    }
    /* consumers of each tensor, grouped (CSR): start[a] .. start[a+1] */
    for (int b = 0; b < nt; b++)
        for (int k = 0; k < ninputs[b]; k++) start[inputs[b][k] + 1]++;
    for (int a = 0; a < nt; a++) start[a + 1] += start[a];
    for (int a = 0; a < nt; a++) queue[a] = start[a];   /* fill cursors */
    for (int b = 0; b < nt; b++)
        for (int k = 0; k < ninputs[b]; k++) cons[queue[inputs[b][k]]++] = b;
    int head = 0, tail = 0;
    for (int i = 0; i < nt; i++) {
        indeg[i] = ninputs[i];
        depth[i] = 0;
        if (!indeg[i]) queue[tail++] = i;
    }
    while (head < tail) {
        int a = queue[head++];
        for (int q = start[a]; q < start[a + 1]; q++) {
            int b = cons[q];
            if (depth[a] + 1 > depth[b]) depth[b] = depth[a] + 1;
            if (--indeg[b] == 0) queue[tail++] = b;
        }
    }
    free(indeg); free(queue); free(start); free(cons);
    return tail;
}

int layout_graph_depths(const layout *lay, int *depth)
{
    int nt = lay->ntensors;
    int *ni = malloc((size_t)nt * sizeof *ni);
    int (*in)[LAYOUT_MAX_INPUTS] = malloc((size_t)nt * sizeof *in);
    int rc = (ni && in) ? 0 : ERR_NO_MEMORY;
    for (int i = 0; !rc && i < nt; i++) {
        ni[i] = lay->tensors[i].ninputs;
        memcpy(in[i], lay->tensors[i].inputs, sizeof in[i]);
    }
    if (!rc && depths_of(nt, ni, (const int (*)[LAYOUT_MAX_INPUTS])in, depth) < 0) rc = ERR_NO_MEMORY;
    free(ni);
    free(in);
    return rc;
}

int layout_set_graph(layout *lay, const int *roles, const int *ninputs,
                     const int (*inputs)[LAYOUT_MAX_INPUTS], int *bad)
{
    int nt = lay->ntensors, edges = 0;
    *bad = -1;
    for (int i = 0; i < nt; i++) {
        *bad = i;
        if (roles[i] < 0 || roles[i] >= LAYOUT_NROLES) return ERR_OUT_OF_RANGE;
        if (ninputs[i] < 0 || ninputs[i] > LAYOUT_MAX_INPUTS) return ERR_OUT_OF_RANGE;
        for (int k = 0; k < ninputs[i]; k++) {
            int a = inputs[i][k];
            if (a < 0 || a >= nt) return ERR_OUT_OF_RANGE;
            if (a == i) return ERR_INVALID_ARGUMENT;
            for (int q = 0; q < k; q++)
                if (inputs[i][q] == a) return ERR_INVALID_ARGUMENT;
        }
        edges += ninputs[i];
    }
    *bad = -1;
    if (edges > LAYOUT_MAX_EDGES) return ERR_OUT_OF_RANGE;
    int *depth = malloc((size_t)nt * sizeof *depth);
    int ordered = depth ? depths_of(nt, ninputs, inputs, depth) : -1;
    free(depth);
    if (ordered < 0) return ERR_NO_MEMORY;
    if (ordered < nt) return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < nt; i++) {
        layout_tensor *t = &lay->tensors[i];
        t->role = roles[i];
        t->ninputs = ninputs[i];
        memset(t->inputs, 0, sizeof t->inputs);
        memcpy(t->inputs, inputs[i], (size_t)ninputs[i] * sizeof(int));
    }
    lay->graph_declared = 1;
    return 0;
}

void layout_deinit(layout *lay)
{
    if (!lay) return;
    free(lay->tensors);
    memset(lay, 0, sizeof *lay);
}
