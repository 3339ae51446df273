/* layout.h — the layout of a flat float32 parameter vector: a list of named
 * tensors (row-major, concatenated in order), as every optimizer, task and
 * session sees its parameters.
 *
 * Invariants of an initialised layout: 1 <= ntensors, every tensor has
 * 1..LAYOUT_MAX_DIMS positive dimensions and a unique name shorter than
 * LAYOUT_NAME_MAX, tensors[i].offset is the sum of the sizes before it, and
 * n (their total) is at most the max_params it was built with.  A layout
 * owns its tensor array (layout_deinit frees it).
 *
 * Thread rules: pure computation; a layout is read-only once built. */
#ifndef OPTIRS_LAYOUT_H
#define OPTIRS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define LAYOUT_MAX_DIMS 8
#define LAYOUT_NAME_MAX 64

typedef struct layout_tensor {
    char    name[LAYOUT_NAME_MAX];
    int     ndim;
    int64_t shape[LAYOUT_MAX_DIMS];
    size_t  offset;            /* first element in the flat vector */
    size_t  size;              /* product of shape */
} layout_tensor;

typedef struct layout {
    int            ntensors;
    layout_tensor *tensors;    /* owned: layout_deinit frees */
    size_t         n;          /* total parameters */
} layout;

/* Builds a layout from `ntensors` shapes.  Fails with ERR_INVALID_SHAPE on an
 * empty/zero/negative shape or an overflowing size, and ERR_TOO_MANY_PARAMS
 * when the total exceeds max_params. */
int  layout_init(layout *lay, int ntensors, const char *const *names,
                 const int *ndims, const int64_t (*shapes)[LAYOUT_MAX_DIMS], size_t max_params);
/* A single 1-D tensor named "params" of n elements. */
int  layout_init_flat(layout *lay, size_t n, size_t max_params);
int  layout_copy(layout *dst, const layout *src);
void layout_deinit(layout *lay);

#endif
