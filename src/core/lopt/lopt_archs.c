/* lopt_archs.c — the table of learned-optimizer architectures (see
 * lopt_arch in lopt_internal.h): the one place that lists them. */
#include "lopt_internal.h"

#include <string.h>

static const lopt_arch *const archs[] = {
    &lopt_arch_mlp,
    &lopt_arch_lstm,
    &lopt_arch_nnadam,
    &lopt_arch_attn,
    &lopt_arch_graph,
    &lopt_arch_mem,
    &lopt_arch_gru,
};
#define NARCHS ((int)(sizeof archs / sizeof archs[0]))

const lopt_arch *lopt_arch_by_id(int id)
{
    for (int i = 0; i < NARCHS; i++)
        if (archs[i]->id == id) return archs[i];
    return NULL;
}

const lopt_arch *lopt_arch_by_name(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < NARCHS; i++)
        if (strcmp(archs[i]->name, name) == 0) return archs[i];
    return NULL;
}

const lopt_arch *lopt_arch_by_vtbl(const opt_vtbl *vt)
{
    for (int i = 0; i < NARCHS; i++)
        if (archs[i]->vt == vt) return archs[i];
    return NULL;
}
