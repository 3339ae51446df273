/* hpo_cond.c — conditional parameters: the checks of a space's conditions,
 * which parameters a trial's values make present, and the groups of
 * parameters that are always present together.  See hpo.h. */
#include "hpo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static int fail(char *msg, size_t cap, const hpo_param *p, const char *why)
{
    if (msg && cap) snprintf(msg, cap, "parameter %s: %s", p->name, why);
    return ERR_INVALID_ARGUMENT;
}

static int when_has(const hpo_param *p, int c)
{
    return c >= 0 && c < HPO_MAX_CHOICES && (p->when[c / 64] >> (c % 64) & 1u);
}

int hpo_space_check_conditions(const hpo_space *sp, char *msg, size_t msgcap)
{
    if (!sp || sp->n < 1 || sp->n > HPO_MAX_PARAMS) return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < sp->n; i++) {
        const hpo_param *p = &sp->p[i];
        if (p->parent == 0) {
            for (int k = 0; k < HPO_MAX_CHOICES / 64; k++)
                if (p->when[k]) return fail(msg, msgcap, p, "choices in `when` without a parent");
            continue;
        }
        if (p->parent < 1 || p->parent > sp->n) return fail(msg, msgcap, p, "its condition names no parameter of the space");
        if (p->parent - 1 == i) return fail(msg, msgcap, p, "its condition names itself");
        const hpo_param *q = &sp->p[p->parent - 1];
        if (q->kind != HPO_CATEGORICAL) return fail(msg, msgcap, p, "its condition's parameter is not a categorical");
        int any = 0;
        for (int c = 0; c < HPO_MAX_CHOICES; c++) {
            if (!when_has(p, c)) continue;
            if (c >= q->nchoices) return fail(msg, msgcap, p, "its condition names a choice its parameter does not have");
            any = 1;
        }
        if (!any) return fail(msg, msgcap, p, "its condition names no choice");
        /* the chain of ancestors: a cycle never ends, so HPO_MAX_DEPTH + 1
         * steps find one or a chain too deep */
        int a = p->parent - 1, depth = 1;
        while (sp->p[a].parent) {
            if (a == i) return fail(msg, msgcap, p, "its conditions form a cycle");
            if (++depth > HPO_MAX_DEPTH) {
                char why[96];
                snprintf(why, sizeof why, "its conditions chain more than %d parameters (or form a cycle)", HPO_MAX_DEPTH);
                return fail(msg, msgcap, p, why);
            }
            a = sp->p[a].parent - 1;
        }
        if (a == i) return fail(msg, msgcap, p, "its conditions form a cycle");
    }
    return 0;
}

int hpo_space_conditional(const hpo_space *sp)
{
    for (int i = 0; i < sp->n; i++)
        if (sp->p[i].parent) return 1;
    return 0;
}

void hpo_space_active(const hpo_space *sp, const double *x, int *active)
{
    for (int i = 0; i < sp->n; i++) {
        int a = i, on = 1;
        /* up the chain (acyclic, at most HPO_MAX_DEPTH links) */
        for (int d = 0; on && sp->p[a].parent && d <= HPO_MAX_DEPTH; d++) {
            const hpo_param *p = &sp->p[a];
            double v = x[p->parent - 1];
            on = !isnan(v) && v >= 0 && v < HPO_MAX_CHOICES && v == floor(v) && when_has(p, (int)v);
            a = p->parent - 1;
        }
        active[i] = on;
    }
}

/* The effective condition of parameter i: up the chain while `when` holds
 * every choice of the parent (such a condition is the parent's own). */
static int effective(const hpo_space *sp, int i)
{
    for (int d = 0; sp->p[i].parent && d <= HPO_MAX_DEPTH; d++) {
        const hpo_param *p = &sp->p[i];
        const hpo_param *q = &sp->p[p->parent - 1];
        int all = 1;
        for (int c = 0; c < q->nchoices && all; c++) all = when_has(p, c);
        if (!all) return i;
        i = p->parent - 1;
    }
    return i;
}

int hpo_space_groups(const hpo_space *sp, int *group)
{
    int eff[HPO_MAX_PARAMS], ng = 0;
    for (int i = 0; i < sp->n; i++) eff[i] = effective(sp, i);
    for (int i = 0; i < sp->n; i++) {
        const hpo_param *a = &sp->p[eff[i]];
        group[i] = i;
        for (int j = 0; j < i; j++) {
            const hpo_param *b = &sp->p[eff[j]];
            int same = (a->parent == 0 && b->parent == 0) ||
                       (a->parent && a->parent == b->parent && memcmp(a->when, b->when, sizeof a->when) == 0);
            if (same) {
                group[i] = group[j];
                break;
            }
        }
        ng += group[i] == i;
    }
    return ng;
}
