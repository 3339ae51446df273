/* meta_film.c — meta-training FiLM records (meta.h "FiLM"; lopt.h): which
 * rows a config trains, and the perturbation's mask that keeps the others
 * exactly the identity.  A function of the config only, so every process of
 * a split step masks the same coordinates. */
#include "meta.h"
#include "meta_internal.h"

#include <string.h>

int meta_film_row_trained(const meta_config *c, int row)
{
    const char *d = lopt_film_domain(row);
    if (!c->film || !d) return 0;
    for (int i = 0; i < c->ntasks; i++) {
        const task_family *f = tasks_find(c->tasks[i].family);
        if (f && strcmp(f->domain, d) == 0) return 1;
    }
    return 0;
}

void meta_film_mask_eps(const meta_config *c, const lopt_weights *w, float *eps)
{
    if (!w->film) return;
    size_t H = (size_t)w->hidden, base = w->ntheta - lopt_film_count(w->hidden);
    for (int r = 1; r <= LOPT_FILM_NDOM; r++)
        if (!meta_film_row_trained(c, r)) memset(eps + base + (size_t)(r - 1) * 2 * H, 0, 2 * H * sizeof(float));
}
