/* nas_spec.c — architecture-search requests and the candidates they sample
 * (see nas_spec.h). */
#include "nas_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "meta_weights.h"
#include "rng.h"

const char *const nas_family_names[NAS_NFAMILIES] = {"mlp_lopt", "lstm_lopt", "attn_lopt", "graph_lopt", "mem_lopt",
                                                      "gru_lopt"};
#define FAM_MLP  0
#define FAM_ATTN 2

static int fail(char *msg, size_t cap, int rc, const char *fmt, const char *a)
{
    if (msg && cap) snprintf(msg, cap, fmt, a);
    return rc;
}

void nas_spec_defaults(nas_spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->nfam = 2;
    sp->fam[0] = 0;
    sp->fam[1] = 1;
    sp->nhidden = 3;
    sp->hidden[0] = 4, sp->hidden[1] = 8, sp->hidden[2] = 16;
    sp->ndepth = 2;
    sp->depth[0] = 1, sp->depth[1] = 2;
    sp->nheads = 2;
    sp->heads[0] = 1, sp->heads[1] = 2;
    sp->nact = 1;
    sp->act[0] = LOPT_ACT_RELU;
    sp->nfset = 1;
    sp->fset[0] = LOPT_FSET_FULL;
    sp->candidates = 8;
    sp->full = 3;
    sp->outer_steps = 20;
    sp->full_steps = 0;   /* 4 × outer_steps */
    sp->eval_steps = 100;
    sp->eval_seeds = 2;
    sp->particles = 8;
    sp->unroll = 10;
    snprintf(sp->task, sizeof sp->task, "quadratic dim=10");
    snprintf(sp->name, sizeof sp->name, "nas-best");
}

int nas_spec_is_request(const cJSON *obj)
{
    const cJSON *m = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "method") : NULL;
    return cJSON_IsString(m) && strcmp(m->valuestring, "nas") == 0;
}

/* A JSON integer in [lo, hi] into *out. */
static int get_int(const cJSON *v, const char *key, double lo, double hi, double *out, char *msg, size_t cap)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "%s must be an integer", key);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        snprintf(msg, cap, "%s must be in [%.0f, %.0f]", key, lo, hi);
        return ERR_OUT_OF_RANGE;
    }
    *out = v->valuedouble;
    return 0;
}

/* A non-empty list of distinct integers in [lo, hi]. */
static int get_list(const cJSON *v, const char *key, double lo, double hi, int *out, int *n, char *msg, size_t cap)
{
    if (!cJSON_IsArray(v)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.%s must be an array of integers", key);
    int k = cJSON_GetArraySize(v);
    if (k < 1 || k > NAS_MAX_CHOICES) {
        snprintf(msg, cap, "space.%s must hold 1 to %d values", key, NAS_MAX_CHOICES);
        return ERR_OUT_OF_RANGE;
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        double d;
        int rc = get_int(e, key, lo, hi, &d, msg, cap);
        if (rc) return rc;
        for (int q = 0; q < i; q++)
            if (out[q] == (int)d) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.%s lists a value twice", key);
        out[i] = (int)d;
    }
    *n = k;
    return 0;
}

/* A non-empty list of distinct activation names (lopt.h) into sp->act. */
static int get_acts(nas_spec *sp, const cJSON *v, char *msg, size_t cap)
{
    int k = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || k < 1 || k > LOPT_ACT_COUNT)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.activation must be an array of 1 to 3 of relu, gelu, swish%s", "");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        int a = cJSON_IsString(e) ? lopt_act_from_name(e->valuestring) : -1;
        if (a < 0) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.activation names must be relu, gelu or swish%s", "");
        for (int q = 0; q < i; q++)
            if (sp->act[q] == a) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.activation lists %s twice", lopt_act_name(a));
        sp->act[i] = a;
    }
    sp->nact = k;
    return 0;
}

/* A non-empty list of distinct feature set names (lopt.h) into sp->fset. */
static int get_fsets(nas_spec *sp, const cJSON *v, char *msg, size_t cap)
{
    int k = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || k < 1 || k > LOPT_FSET_COUNT)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.features must be an array of 1 to 5 of full, adam, momentum, "
                    "no_time, no_tensor%s", "");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        int a = cJSON_IsString(e) ? lopt_fset_from_name(e->valuestring) : -1;
        if (a < 0)
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.features names must be full, adam, momentum, no_time or "
                        "no_tensor%s", "");
        for (int q = 0; q < i; q++)
            if (sp->fset[q] == a) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.features lists %s twice", lopt_fset_name(a));
        sp->fset[i] = a;
    }
    sp->nfset = k;
    return 0;
}

static int get_space(nas_spec *sp, const cJSON *s, char *msg, size_t cap)
{
    if (!cJSON_IsObject(s)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space must be an object%s", "");
    for (const cJSON *e = s->child; e; e = e->next) {
        for (const cJSON *q = s->child; q != e; q = q->next)
            if (strcmp(q->string, e->string) == 0) return fail(msg, cap, ERR_INVALID_JSON, "space key \"%.40s\" given twice", e->string);
        int rc;
        if (strcmp(e->string, "optimizer") == 0) {
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) < 1 || cJSON_GetArraySize(e) > NAS_NFAMILIES)
                return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.optimizer must be an array of 1 to 6 names%s", "");
            int i = 0;
            for (const cJSON *o = e->child; o; o = o->next, i++) {
                int f = -1;
                for (int q = 0; q < NAS_NFAMILIES && cJSON_IsString(o); q++)
                    if (strcmp(o->valuestring, nas_family_names[q]) == 0) f = q;
                if (f < 0)
                    return fail(msg, cap, ERR_INVALID_ARGUMENT,
                                "space.optimizer names must be mlp_lopt, lstm_lopt, attn_lopt, graph_lopt, mem_lopt or gru_lopt%s", "");
                for (int q = 0; q < i; q++)
                    if (sp->fam[q] == f) return fail(msg, cap, ERR_INVALID_ARGUMENT, "space.optimizer lists %s twice", nas_family_names[f]);
                sp->fam[i] = f;
            }
            sp->nfam = i;
            rc = 0;
        } else if (strcmp(e->string, "hidden") == 0) rc = get_list(e, "hidden", 1, LOPT_MAX_HIDDEN, sp->hidden, &sp->nhidden, msg, cap);
        else if (strcmp(e->string, "depth") == 0) rc = get_list(e, "depth", 1, LOPT_MAX_DEPTH, sp->depth, &sp->ndepth, msg, cap);
        else if (strcmp(e->string, "num_heads") == 0) rc = get_list(e, "num_heads", 1, 16, sp->heads, &sp->nheads, msg, cap);
        else if (strcmp(e->string, "activation") == 0) rc = get_acts(sp, e, msg, cap);
        else if (strcmp(e->string, "features") == 0) rc = get_fsets(sp, e, msg, cap);
        else return fail(msg, cap, ERR_UNKNOWN_FIELD,
                         "unknown space key \"%.40s\" (optimizer, hidden, depth, num_heads, activation, features; "
                         "the layer type is the optimizer family)", e->string);
        if (rc) return rc;
    }
    /* an axis of one family in a space without that family would search nothing: refused, not ignored */
    static const struct { const char *key; int fam; } own[] = {
        {"num_heads", FAM_ATTN}, {"activation", FAM_MLP}, {"features", FAM_MLP}};
    for (size_t k = 0; k < sizeof own / sizeof own[0]; k++) {
        int listed = 0;
        for (int f = 0; f < sp->nfam; f++) listed |= sp->fam[f] == own[k].fam;
        if (!listed && cJSON_GetObjectItemCaseSensitive(s, own[k].key)) {
            snprintf(msg, cap, "space.%s applies to %s only, which space.optimizer does not list", own[k].key,
                     nas_family_names[own[k].fam]);
            return ERR_INVALID_ARGUMENT;
        }
    }
    return 0;
}

/* The meta-training keys a recipe may set: how candidates are trained,
 * never what they are (the architecture keys), nor the job's plumbing (name,
 * outer_steps, seed, checkpoints), nor a key only some families accept
 * (which would drop the others from the space unseen). */
static const char *const nas_recipe_keys[] = {
    "tasks", "horizon_min", "horizon_max", "objective", "ref_lr", "outlier_alpha", "curriculum_steps",
    "unroll_start", "horizon_max_start", "task_draw", "task_seed", "sigma", "outer_lr", "outer_beta1",
    "outer_beta2", "outer_eps", "clip", "pes_offsets", "log_loss",
};

/* Applies the recipe (sp->recipe, "" = none) to a candidate's spec. */
static int apply_recipe(const nas_spec *sp, meta_spec *out, char *msg, size_t cap)
{
    if (!sp->recipe[0]) return 0;
    cJSON *r = cJSON_Parse(sp->recipe);
    int rc = r ? meta_spec_from_json(out, r, msg, cap) : fail(msg, cap, ERR_NO_MEMORY, "out of memory%s", "");
    cJSON_Delete(r);
    return rc;
}

/* "recipe": an object of nas_recipe_keys; its values are checked on a
 * scratch spec, so a bad one is refused here with its own message. */
static int get_recipe(nas_spec *sp, const cJSON *e, char *msg, size_t cap)
{
    if (!cJSON_IsObject(e)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "recipe must be an object%s", "");
    for (const cJSON *k = e->child; k; k = k->next) {
        int ok = 0;
        for (size_t i = 0; i < sizeof nas_recipe_keys / sizeof nas_recipe_keys[0]; i++)
            ok |= strcmp(k->string, nas_recipe_keys[i]) == 0;
        if (!ok)
            return fail(msg, cap, ERR_UNKNOWN_FIELD,
                        "recipe key \"%.40s\" is not one of tasks, horizon_min, horizon_max, objective, ref_lr, "
                        "outlier_alpha, curriculum_steps, unroll_start, horizon_max_start, task_draw, task_seed, "
                        "sigma, outer_lr, outer_beta1, outer_beta2, outer_eps, clip, pes_offsets, log_loss",
                        k->string);
    }
    char *txt = cJSON_PrintUnformatted(e);
    if (!txt) return fail(msg, cap, ERR_NO_MEMORY, "out of memory%s", "");
    size_t n = strlen(txt);
    if (n >= sizeof sp->recipe) {
        free(txt);
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "recipe is longer than %s bytes of JSON", "8191");
    }
    memcpy(sp->recipe, txt, n + 1);
    free(txt);
    sp->recipe_tasks = cJSON_GetObjectItemCaseSensitive(e, "tasks") != NULL;
    meta_spec scratch;
    meta_spec_defaults(&scratch);
    char m2[300];
    int rc = apply_recipe(sp, &scratch, m2, sizeof m2);
    if (rc) return fail(msg, cap, rc, "recipe: %.300s", m2);
    return 0;
}

int nas_spec_from_json(nas_spec *sp, const cJSON *obj, char *msg, size_t cap)
{
    if (!nas_spec_is_request(obj)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "method must be \"nas\"%s", "");
    int fsteps_given = 0, task_given = 0;
    for (const cJSON *e = obj->child; e; e = e->next) {
        for (const cJSON *q = obj->child; q != e; q = q->next)
            if (strcmp(q->string, e->string) == 0) return fail(msg, cap, ERR_INVALID_JSON, "key \"%.40s\" given twice", e->string);
        const char *k = e->string;
        double d = 0;
        int rc = 0;
        if (strcmp(k, "method") == 0) continue;
        if (strcmp(k, "space") == 0) rc = get_space(sp, e, msg, cap);
        else if (strcmp(k, "candidates") == 0) { if (!(rc = get_int(e, k, 2, NAS_MAX_CANDIDATES, &d, msg, cap))) sp->candidates = (int)d; }
        else if (strcmp(k, "full") == 0) { if (!(rc = get_int(e, k, 1, NAS_MAX_CANDIDATES, &d, msg, cap))) sp->full = (int)d; }
        else if (strcmp(k, "outer_steps") == 0) { if (!(rc = get_int(e, k, 1, NAS_MAX_STEPS, &d, msg, cap))) sp->outer_steps = (int64_t)d; }
        else if (strcmp(k, "full_steps") == 0) { if (!(rc = get_int(e, k, 1, NAS_MAX_STEPS, &d, msg, cap))) sp->full_steps = (int64_t)d, fsteps_given = 1; }
        else if (strcmp(k, "eval_steps") == 0) { if (!(rc = get_int(e, k, 1, 10000, &d, msg, cap))) sp->eval_steps = (int)d; }
        else if (strcmp(k, "eval_seeds") == 0) { if (!(rc = get_int(e, k, 1, 16, &d, msg, cap))) sp->eval_seeds = (int)d; }
        else if (strcmp(k, "particles") == 0) { if (!(rc = get_int(e, k, 1, 256, &d, msg, cap))) sp->particles = (int)d; }
        else if (strcmp(k, "unroll") == 0) { if (!(rc = get_int(e, k, 1, 10000, &d, msg, cap))) sp->unroll = (int)d; }
        else if (strcmp(k, "seed") == 0) { if (!(rc = get_int(e, k, 0, 9007199254740991.0, &d, msg, cap))) sp->seed = (uint64_t)d; }
        else if (strcmp(k, "task") == 0) {
            if (!cJSON_IsString(e) || strlen(e->valuestring) >= sizeof sp->task)
                return fail(msg, cap, ERR_INVALID_ARGUMENT, "task must be one task text of under %s characters", "160");
            snprintf(sp->task, sizeof sp->task, "%s", e->valuestring);
            task_given = 1;
        } else if (strcmp(k, "recipe") == 0) {
            rc = get_recipe(sp, e, msg, cap);
        } else if (strcmp(k, "name") == 0) {
            if (!cJSON_IsString(e) || !meta_weights_valid_name(e->valuestring))
                return fail(msg, cap, ERR_INVALID_ARGUMENT, "name must be 1 to 47 characters of [A-Za-z0-9._-]%s", "");
            snprintf(sp->name, sizeof sp->name, "%s", e->valuestring);
        } else return fail(msg, cap, ERR_UNKNOWN_FIELD, "unknown key \"%.40s\" in an architecture search", k);
        if (rc) return rc;
    }
    /* The best's family is not known before the run: a name that promises one
       (an optimizer's own record, or its domain default "<arch>.<domain>") is refused. */
    for (int f = 0; f < NAS_NFAMILIES; f++) {
        size_t L = strlen(nas_family_names[f]);
        if (strncmp(sp->name, nas_family_names[f], L) == 0 && (sp->name[L] == '\0' || sp->name[L] == '.'))
            return fail(msg, cap, ERR_INVALID_ARGUMENT,
                        "name %.47s is a learned optimizer's record or domain default: the search's best may be "
                        "another family; choose another name", sp->name);
    }
    if (task_given && sp->recipe_tasks)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "give task or recipe.tasks, not both%s", "");
    if (!fsteps_given) sp->full_steps = sp->outer_steps * 4 > NAS_MAX_STEPS ? NAS_MAX_STEPS : sp->outer_steps * 4;
    if (sp->full_steps < sp->outer_steps) return fail(msg, cap, ERR_INVALID_ARGUMENT, "full_steps must be >= outer_steps%s", "");
    if (sp->full > sp->candidates) return fail(msg, cap, ERR_INVALID_ARGUMENT, "full must be <= candidates%s", "");
    return nas_spec_check(sp, msg, cap);
}

int nas_spec_candidate(const nas_spec *sp, const nas_arch *a, int64_t steps, meta_spec *out, char *msg, size_t cap)
{
    meta_spec_defaults(out);
    char v[32];
    int rc = meta_spec_set(out, "optimizer", nas_family_names[a->family], msg, cap);
    snprintf(v, sizeof v, "%d", a->hidden);
    if (!rc) rc = meta_spec_set(out, "hidden", v, msg, cap);
    snprintf(v, sizeof v, "%d", a->depth);
    if (!rc) rc = meta_spec_set(out, "depth", v, msg, cap);
    if (!rc && a->heads) {
        snprintf(v, sizeof v, "%d", a->heads);
        rc = meta_spec_set(out, "num_heads", v, msg, cap);
    }
    if (!rc && a->act) rc = meta_spec_set(out, "activation", lopt_act_name(a->act), msg, cap);
    if (!rc && a->fset) rc = meta_spec_set(out, "features", lopt_fset_name(a->fset), msg, cap);
    if (!rc) rc = meta_spec_set(out, "estimator", "pes", msg, cap);
    if (!rc && !sp->recipe_tasks) rc = meta_spec_set(out, "task", sp->task, msg, cap);
    if (!rc) rc = apply_recipe(sp, out, msg, cap);
    snprintf(v, sizeof v, "%d", sp->particles);
    if (!rc) rc = meta_spec_set(out, "particles", v, msg, cap);
    snprintf(v, sizeof v, "%d", sp->unroll);
    if (!rc) rc = meta_spec_set(out, "unroll", v, msg, cap);
    snprintf(v, sizeof v, "%llu", (unsigned long long)sp->seed);
    if (!rc) rc = meta_spec_set(out, "seed", v, msg, cap);
    snprintf(v, sizeof v, "%lld", (long long)steps);
    if (!rc) rc = meta_spec_set(out, "outer_steps", v, msg, cap);
    if (!rc) rc = meta_spec_set(out, "name", sp->name, msg, cap);
    if (!rc) rc = meta_spec_check(out, msg, cap);
    return rc;
}

int nas_spec_check(nas_spec *sp, char *msg, size_t cap)
{
    /* the innermost axis: heads, or activations × feature sets */
    int max = NAS_NFAMILIES * NAS_MAX_CHOICES * NAS_MAX_CHOICES * NAS_MAX_CHOICES * LOPT_FSET_COUNT;
    nas_arch *all = malloc((size_t)max * sizeof *all);
    if (!all) return fail(msg, cap, ERR_NO_MEMORY, "out of memory%s", "");
    int n = 0;
    char m2[400] = "";
    int last_rc = 0;
    meta_spec ms;
    for (int f = 0; f < sp->nfam; f++)
        for (int h = 0; h < sp->nhidden; h++)
            for (int d = 0; d < sp->ndepth; d++)
                for (int k = 0; k < (sp->fam[f] == FAM_ATTN ? sp->nheads : sp->fam[f] == FAM_MLP ? sp->nact * sp->nfset : 1); k++) {
                    /* the innermost axis: attn_lopt's heads or mlp_lopt's activations × feature sets (with
                       the one default activation and set a space enumerates as it did before the axes existed) */
                    nas_arch a = {sp->fam[f], sp->hidden[h], sp->depth[d], sp->fam[f] == FAM_ATTN ? sp->heads[k] : 0,
                                  sp->fam[f] == FAM_MLP ? sp->act[k / sp->nfset] : LOPT_ACT_RELU,
                                  sp->fam[f] == FAM_MLP ? sp->fset[k % sp->nfset] : LOPT_FSET_FULL};
                    /* the combinations meta-training refuses (attn_lopt: heads must divide hidden; the job's
                       memory; the task text) are not in the space */
                    int rc = nas_spec_candidate(sp, &a, sp->outer_steps, &ms, m2, sizeof m2);
                    if (rc) last_rc = rc;
                    else all[n++] = a;
                }
    if (n == 0) {
        free(all);
        return fail(msg, cap, last_rc ? last_rc : ERR_INVALID_ARGUMENT, "no architecture of the space can be meta-trained: %.300s", m2);
    }
    if (n < sp->candidates) {
        free(all);
        snprintf(msg, cap, "the space holds %d architectures that can be meta-trained, fewer than candidates = %d", n,
                 sp->candidates);
        return ERR_INVALID_ARGUMENT;
    }
    rng r;
    rng_seed(&r, sp->seed ^ 0x6e6173ull);
    for (int i = 0; i < sp->candidates; i++) {   /* partial Fisher–Yates */
        int j = i + (int)rng_below(&r, (uint64_t)(n - i));
        nas_arch t = all[i];
        all[i] = all[j];
        all[j] = t;
        sp->cand[i] = all[i];
    }
    sp->ncand = sp->candidates;
    free(all);
    return 0;
}

cJSON *nas_arch_to_json(const nas_arch *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "optimizer", nas_family_names[a->family]);
    cJSON_AddNumberToObject(o, "hidden", a->hidden);
    cJSON_AddNumberToObject(o, "depth", a->depth);
    if (a->heads) cJSON_AddNumberToObject(o, "num_heads", a->heads);
    if (a->family == FAM_MLP) cJSON_AddStringToObject(o, "activation", lopt_act_name(a->act));
    if (a->family == FAM_MLP) cJSON_AddStringToObject(o, "features", lopt_fset_name(a->fset));
    return o;
}

cJSON *nas_spec_to_json(const nas_spec *sp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", "nas");
    cJSON *s = cJSON_AddObjectToObject(o, "space");
    cJSON *f = cJSON_AddArrayToObject(s, "optimizer");
    for (int i = 0; i < sp->nfam; i++) cJSON_AddItemToArray(f, cJSON_CreateString(nas_family_names[sp->fam[i]]));
    cJSON_AddItemToObject(s, "hidden", cJSON_CreateIntArray(sp->hidden, sp->nhidden));
    cJSON_AddItemToObject(s, "depth", cJSON_CreateIntArray(sp->depth, sp->ndepth));
    cJSON_AddItemToObject(s, "num_heads", cJSON_CreateIntArray(sp->heads, sp->nheads));
    cJSON *acts = cJSON_AddArrayToObject(s, "activation");
    for (int i = 0; i < sp->nact; i++) cJSON_AddItemToArray(acts, cJSON_CreateString(lopt_act_name(sp->act[i])));
    cJSON *fsets = cJSON_AddArrayToObject(s, "features");
    for (int i = 0; i < sp->nfset; i++) cJSON_AddItemToArray(fsets, cJSON_CreateString(lopt_fset_name(sp->fset[i])));
    cJSON_AddNumberToObject(o, "candidates", sp->candidates);
    cJSON_AddNumberToObject(o, "full", sp->full);
    cJSON_AddNumberToObject(o, "outer_steps", (double)sp->outer_steps);
    cJSON_AddNumberToObject(o, "full_steps", (double)sp->full_steps);
    cJSON_AddNumberToObject(o, "eval_steps", sp->eval_steps);
    cJSON_AddNumberToObject(o, "eval_seeds", sp->eval_seeds);
    cJSON_AddNumberToObject(o, "particles", sp->particles);
    cJSON_AddNumberToObject(o, "unroll", sp->unroll);
    if (sp->recipe_tasks) cJSON_AddNullToObject(o, "task");
    else cJSON_AddStringToObject(o, "task", sp->task);
    cJSON *rec = sp->recipe[0] ? cJSON_Parse(sp->recipe) : NULL;
    if (rec) cJSON_AddItemToObject(o, "recipe", rec);
    cJSON_AddNumberToObject(o, "seed", (double)sp->seed);
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON *c = cJSON_AddArrayToObject(o, "candidate_architectures");
    for (int i = 0; i < sp->ncand; i++) cJSON_AddItemToArray(c, nas_arch_to_json(&sp->cand[i]));
    return o;
}
