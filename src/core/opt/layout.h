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
 * The tensor graph (what graph_lopt reads; every other optimizer ignores
 * it): each tensor has a role (LAYOUT_ROLE_*) and up to LAYOUT_MAX_INPUTS
 * inputs, indices of the tensors feeding it.  layout_init gives the default
 * graph: a chain in tensor order (tensor i's one input is i−1) and the role
 * from the shape (1-D: bias, else weight), with graph_declared = 0.
 * layout_set_graph replaces it with a client's graph, which it checks: every
 * index names another tensor (no self-loop), no input twice, at most
 * LAYOUT_MAX_INPUTS per tensor and LAYOUT_MAX_EDGES in all, no cycle (so a
 * tensor's depth, the longest path from a tensor without inputs, is
 * defined).  The graph lives inside layout_tensor, so layout_copy carries
 * it.
 *
 * Thread rules: pure computation; a layout is read-only once built. */
#ifndef OPTIRS_LAYOUT_H
#define OPTIRS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define LAYOUT_MAX_DIMS 8
#define LAYOUT_NAME_MAX 64
#define LAYOUT_MAX_INPUTS 8
#define LAYOUT_MAX_EDGES  4096

enum { LAYOUT_ROLE_WEIGHT = 0, LAYOUT_ROLE_BIAS, LAYOUT_ROLE_EMBEDDING, LAYOUT_ROLE_NORM, LAYOUT_ROLE_OTHER,
       LAYOUT_NROLES };

typedef struct layout_tensor {
    char    name[LAYOUT_NAME_MAX];
    int     ndim;
    int64_t shape[LAYOUT_MAX_DIMS];
    size_t  offset;            /* first element in the flat vector */
    size_t  size;              /* product of shape */
    int     role;              /* LAYOUT_ROLE_* */
    int     ninputs;           /* 0..LAYOUT_MAX_INPUTS */
    int     inputs[LAYOUT_MAX_INPUTS];   /* tensor indices, in the order given */
} layout_tensor;

typedef struct layout {
    int            ntensors;
    layout_tensor *tensors;    /* owned: layout_deinit frees */
    size_t         n;          /* total parameters */
    int            graph_declared;   /* 1: layout_set_graph set the graph; 0: the default */
} layout;

/* Builds a layout from `ntensors` shapes.  Fails with ERR_INVALID_SHAPE on an
 * empty/zero/negative shape or an overflowing size, and ERR_TOO_MANY_PARAMS
 * when the total exceeds max_params. */
int  layout_init(layout *lay, int ntensors, const char *const *names,
                 const int *ndims, const int64_t (*shapes)[LAYOUT_MAX_DIMS], size_t max_params);
/* A single 1-D tensor named "params" of n elements. */
int  layout_init_flat(layout *lay, size_t n, size_t max_params);
int  layout_copy(layout *dst, const layout *src);
/* Replaces the graph: roles[i] (LAYOUT_ROLE_*), ninputs[i] and inputs[i][k]
 * for each tensor.  0, or ERR_OUT_OF_RANGE (a role or an index outside its
 * range, more than LAYOUT_MAX_INPUTS inputs or LAYOUT_MAX_EDGES edges) or
 * ERR_INVALID_ARGUMENT (a self-loop, an input twice, a cycle) and the graph
 * is left as it was; *bad is the offending tensor (-1 for the edge count or
 * a cycle). */
int  layout_set_graph(layout *lay, const int *roles, const int *ninputs,
                      const int (*inputs)[LAYOUT_MAX_INPUTS], int *bad);
/* Total edges (sum of ninputs). */
int  layout_graph_edges(const layout *lay);
/* Depth of every tensor (longest path from a tensor without inputs) into
 * depth (ntensors); the graph is acyclic by the invariants.  0 or
 * ERR_NO_MEMORY. */
int  layout_graph_depths(const layout *lay, int *depth);
/* "weight", "bias", "embedding", "norm", "other"; and the reverse (-1 when
 * unknown). */
const char *layout_role_name(int role);
int         layout_role_from_name(const char *name);
void layout_deinit(layout *lay);

#endif
