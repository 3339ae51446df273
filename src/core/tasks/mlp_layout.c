/* mlp_layout.c — layout of an mlp parameter block; see mlp_layout.h. */
#include "mlp_layout.h"

#include <stdio.h>
#include <string.h>

#include "tasks_internal.h"

int mlp_layout_set(task *t, const mlp *m)
{
    enum { MAXT = 4 * MLP_MAX_LAYERS, NAME = 24 };
    char namebuf[MAXT][NAME];
    const char *names[MAXT];
    int nd[MAXT];
    int64_t sh[MAXT][LAYOUT_MAX_DIMS];
    memset(sh, 0, sizeof sh);
    int k = 0;
    for (int l = 0; l < m->nlayers; l++) {
        int out = m->sizes[l + 1];
        snprintf(namebuf[k], NAME, "l%d.w", l);
        nd[k] = 2; sh[k][0] = m->sizes[l]; sh[k][1] = out;
        k++;
        snprintf(namebuf[k], NAME, "l%d.b", l);
        nd[k] = 1; sh[k][0] = out;
        k++;
        if (m->layernorm && l + 1 < m->nlayers) {
            snprintf(namebuf[k], NAME, "l%d.ln.g", l);
            nd[k] = 1; sh[k][0] = out;
            k++;
            snprintf(namebuf[k], NAME, "l%d.ln.b", l);
            nd[k] = 1; sh[k][0] = out;
            k++;
        }
    }
    for (int i = 0; i < k; i++) names[i] = namebuf[i];
    return tasks_layout_set(t, k, names, nd, (const int64_t (*)[LAYOUT_MAX_DIMS])sh);
}
