/* mlp_layout.h — the parameter layout of a task whose parameters are one
 * mlp block (layers.h): tensors "l<k>.w" (sizes[k], sizes[k+1]) and
 * "l<k>.b" (sizes[k+1]) for k = 0 .. nlayers-1, and with layernorm, after
 * the bias of each hidden layer k, its LayerNorm's "l<k>.ln.g" and
 * "l<k>.ln.b" (sizes[k+1]); in the block's order, so layout offsets equal
 * the mlp's w_off / b_off / g_off / nb_off. */
#ifndef OPTIRS_MLP_LAYOUT_H
#define OPTIRS_MLP_LAYOUT_H

#include "layers.h"
#include "tasks.h"

/* Sets t->lay and t->n (tasks_layout_set).  0 or its error. */
int mlp_layout_set(task *t, const mlp *m);

#endif
