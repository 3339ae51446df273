/* mlp_layout.c — layout of an mlp parameter block; see mlp_layout.h. */
#include "mlp_layout.h"

#include <stdio.h>
#include <string.h>

#include "tasks_internal.h"

int mlp_layout_set(task *t, const mlp *m)
{
    enum { MAXT = 2 * MLP_MAX_LAYERS };
    char namebuf[MAXT][16];
    const char *names[MAXT];
    int nd[MAXT];
    int64_t sh[MAXT][LAYOUT_MAX_DIMS];
    memset(sh, 0, sizeof sh);
    for (int l = 0; l < m->nlayers; l++) {
        snprintf(namebuf[2 * l], 16, "l%d.w", l);
        snprintf(namebuf[2 * l + 1], 16, "l%d.b", l);
        names[2 * l] = namebuf[2 * l];
        names[2 * l + 1] = namebuf[2 * l + 1];
        nd[2 * l] = 2; sh[2 * l][0] = m->sizes[l]; sh[2 * l][1] = m->sizes[l + 1];
        nd[2 * l + 1] = 1; sh[2 * l + 1][0] = m->sizes[l + 1];
    }
    return tasks_layout_set(t, 2 * m->nlayers, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
}
