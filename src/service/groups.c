/* groups.c — see groups.h. */
#include "groups.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonwalk.h"

int groups_supported(const opt_config *cfg)
{
    const opt_vtbl *vt = opt_find(cfg->name);
    return vt && vt->step_range != NULL;
}

/* May `name` be set per group or per step? (lr and the optimizer's own.) */
static int settable(const opt_vtbl *vt, const char *name, int *idx)
{
    *idx = opt_hparam_index(vt, name);
    return *idx == HP_LR || *idx >= HP_COMMON_COUNT;
}

/* Sets the members of object o (but skip_key) over hp; what = "groups[3]". */
static int apply_values(const cJSON *o, const char *skip_key, const opt_config *cfg, double *hp, const char *what,
                        char *msg, size_t cap)
{
    const opt_vtbl *vt = opt_find(cfg->name);
    for (const cJSON *m = o->child; m; m = m->next) {
        if (skip_key && strcmp(m->string, skip_key) == 0) continue;
        int idx;
        if (!settable(vt, m->string, &idx)) {
            snprintf(msg, cap, "%s: %s \"%.48s\"", what,
                     idx < 0 ? "the optimizer has no hyperparameter" : "only lr and the optimizer's own "
                     "hyperparameters may be set per group, not", m->string);
            return idx < 0 ? ERR_UNKNOWN_HYPERPARAM : ERR_INVALID_ARGUMENT;
        }
        if (!cJSON_IsNumber(m)) {
            snprintf(msg, cap, "%s: %s must be a number", what, m->string);
            return ERR_INVALID_ARGUMENT;
        }
        hp[idx] = m->valuedouble;
    }
    int bad = -1;
    int rc = opt_group_hp_check(cfg, hp, &bad);
    if (rc) {
        const hparam_def *def = bad >= 0 ? opt_hparam_at(vt, bad) : NULL;
        if (rc == ERR_INVALID_ARGUMENT && def)
            snprintf(msg, cap, "%s: %s cannot differ from the session's (%g) in a group: the optimizer's state "
                     "depends on it", what, def->name, cfg->hp[bad]);
        else if (def)
            snprintf(msg, cap, "%s: %s = %g is outside %s%g, %g%s", what, def->name, hp[bad],
                     def->min_open ? "(" : "[", def->min, def->max, def->max_open ? ")" : "]");
        else snprintf(msg, cap, "%s: the hyperparameters do not fit together (e.g. nesterov needs dampening 0)", what);
    }
    return rc;
}

void groups_deinit(spec_groups *g)
{
    free(g->of_tensor);
    free(g->hp);
    memset(g, 0, sizeof *g);
}

int groups_parse(const cJSON *v, const opt_config *cfg, const layout *lay, spec_groups *g, char *msg, size_t cap)
{
    memset(g, 0, sizeof *g);
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n < 1 || n > GROUPS_MAX) {
        snprintf(msg, cap, "groups must be an array of 1 to %d objects", GROUPS_MAX);
        return ERR_INVALID_ARGUMENT;
    }
    if (!groups_supported(cfg)) {
        snprintf(msg, cap, "optimizer %s does not take parameter groups (the classic optimizers do)", cfg->name);
        return ERR_INVALID_ARGUMENT;
    }
    g->n = n;
    g->of_tensor = malloc((size_t)lay->ntensors * sizeof(int));
    g->hp = calloc((size_t)n, sizeof *g->hp);
    if (!g->of_tensor || !g->hp) {
        groups_deinit(g);
        return ERR_NO_MEMORY;
    }
    for (int j = 0; j < lay->ntensors; j++) g->of_tensor[j] = -1;
    int i = 0, rc = 0;
    for (const cJSON *o = v->child; o && !rc; o = o->next, i++) {
        char what[32];
        snprintf(what, sizeof what, "groups[%d]", i);
        memcpy(g->hp[i], cfg->hp, sizeof g->hp[i]);
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "tensors");
        if (!cJSON_IsObject(o) || !cJSON_IsArray(ts) || !ts->child) {
            snprintf(msg, cap, "%s must be an object with \"tensors\": a non-empty array of tensor names", what);
            rc = ERR_INVALID_ARGUMENT;
            break;
        }
        for (const cJSON *t = ts->child; t && !rc; t = t->next) {
            int j = -1;
            for (int k = 0; cJSON_IsString(t) && k < lay->ntensors && j < 0; k++)
                if (strcmp(lay->tensors[k].name, t->valuestring) == 0) j = k;
            if (j < 0 || g->of_tensor[j] >= 0) {
                snprintf(msg, cap, "%s.tensors: %s", what, j < 0 ? "not a tensor name of this session"
                                                                 : "a tensor is in two groups");
                rc = ERR_INVALID_ARGUMENT;
            } else g->of_tensor[j] = i;
        }
        if (!rc) rc = apply_values(o, "tensors", cfg, g->hp[i], what, msg, cap);
    }
    for (int j = 0; !rc && j < lay->ntensors; j++)
        if (g->of_tensor[j] < 0) {
            snprintf(msg, cap, "tensor \"%s\" is in no group (every tensor must be in one)", lay->tensors[j].name);
            rc = ERR_INVALID_ARGUMENT;
        }
    if (rc) groups_deinit(g);
    return rc;
}

cJSON *groups_to_json(const spec_groups *g, const opt_config *cfg, const layout *lay)
{
    const opt_vtbl *vt = opt_find(cfg->name);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < g->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON *ts = o ? cJSON_AddArrayToObject(o, "tensors") : NULL;
        if (!ts) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        for (int j = 0; j < lay->ntensors; j++)
            if (g->of_tensor[j] == i) cJSON_AddItemToArray(ts, cJSON_CreateString(lay->tensors[j].name));
        for (int k = 0; k < cfg->nhp; k++)
            if (k == HP_LR || k >= HP_COMMON_COUNT) cJSON_AddItemToObject(o, opt_hparam_at(vt, k)->name, jsonwalk_exact_number(g->hp[i][k]));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int groups_step_hp(const cJSON *v, const spec_groups *g, const opt_config *cfg, double (*out)[OPT_MAX_HP],
                   char *msg, size_t cap)
{
    int rows = g->n ? g->n : 1;
    if (!groups_supported(cfg)) {
        snprintf(msg, cap, "optimizer %s does not take step hyperparameters (the classic optimizers do)", cfg->name);
        return ERR_INVALID_ARGUMENT;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != rows) {
        snprintf(msg, cap, "hyperparams must be an array of %d object%s, one per group", rows, rows > 1 ? "s" : "");
        return ERR_INVALID_ARGUMENT;
    }
    int i = 0;
    for (const cJSON *o = v->child; o; o = o->next, i++) {
        char what[32];
        snprintf(what, sizeof what, "hyperparams[%d]", i);
        if (!cJSON_IsObject(o) || jsonwalk_has_duplicate(o)) {
            snprintf(msg, cap, "%s must be an object (each member once)", what);
            return ERR_INVALID_ARGUMENT;
        }
        memcpy(out[i], g->n ? g->hp[i] : cfg->hp, sizeof out[i]);
        int rc = apply_values(o, NULL, cfg, out[i], what, msg, cap);
        if (rc) return rc;
    }
    return 0;
}

int groups_step_lr(const spec_groups *g, const layout *lay, const opt_config *cfg,
                   const double *const *tensor_hp, int64_t t, double *out)
{
    if (!g->n || !tensor_hp) return 0;
    for (int i = 0; i < g->n; i++) out[i] = NAN;
    opt_config c = *cfg;
    for (int j = 0; j < lay->ntensors; j++) {
        int i = g->of_tensor[j];
        if (!isnan(out[i]) || !tensor_hp[j]) continue;   /* a group's tensors share its vector */
        memcpy(c.hp, tensor_hp[j], (size_t)cfg->nhp * sizeof(double));
        out[i] = opt_schedule_lr(&c, t);
    }
    return g->n;
}
