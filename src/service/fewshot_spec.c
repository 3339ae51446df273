/* fewshot_spec.c — few-shot meta-learning requests, checked key by key (see
 * fewshot_spec.h). */
#include "fewshot_spec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "meta_weights.h"

typedef enum { F_I32, F_I64, F_U64, F_DBL } ftype;

typedef struct fkey {
    const char *name;
    ftype       type;
    size_t      off;
    double      lo, hi;
} fkey;

#define FC(f) offsetof(fewshot_spec, fc) + offsetof(fewshot_config, f)
#define FS(f) offsetof(fewshot_spec, f)

static const fkey num_keys[] = {
    {"shots", F_I32, FC(shots), 1, FEWSHOT_MAX_SHOTS},
    {"inner_steps", F_I32, FC(inner_steps), 1, FEWSHOT_MAX_STEPS},
    {"inner_lr", F_DBL, FC(inner_lr), 1e-6, 1},
    {"meta_batch", F_I32, FC(meta_batch), 1, 1000},
    {"outer_lr", F_DBL, FC(outer_lr), 1e-7, 1},
    {"outer_steps", F_I64, FS(outer_steps), 1, FEWSHOT_MAX_OUTER_STEPS},
    {"seed", F_U64, FC(seed), 0, 9007199254740991.0},
};
#define NUM_KEYS ((int)(sizeof num_keys / sizeof num_keys[0]))

static int fail(char *msg, size_t cap, int rc, const char *fmt, const char *a)
{
    if (msg && cap) snprintf(msg, cap, fmt, a);
    return rc;
}

void fewshot_spec_defaults(fewshot_spec *sp)
{
    memset(sp, 0, sizeof *sp);
    fewshot_config_defaults(&sp->fc);
    sp->fc.shots = 5;
    snprintf(sp->name, sizeof sp->name, "sine-maml");
    sp->outer_steps = 20000;
    sp->curve_every = 100;
}

int fewshot_spec_is_request(const cJSON *obj)
{
    return cJSON_IsObject(obj) && cJSON_GetObjectItemCaseSensitive(obj, "method") != NULL;
}

int fewshot_spec_set(fewshot_spec *sp, const char *key, const char *value, int allow_pretrain, char *msg,
                     size_t cap)
{
    if (strcmp(key, "method") == 0) {
        int m = fewshot_method_from_name(value);
        if (m < 0 || (m == FEWSHOT_PRETRAIN && !allow_pretrain))
            return fail(msg, cap, ERR_INVALID_ARGUMENT,
                        "method must be maml, fomaml, meta_sgd or reptile, not \"%.40s\"", value);
        sp->fc.method = m;
        return 0;
    }
    if (strcmp(key, "task") == 0) {
        if (strcmp(value, "sinusoid") != 0)
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "task must be sinusoid (the only few-shot family), not \"%.40s\"",
                        value);
        return 0;
    }
    if (strcmp(key, "name") == 0) {
        if (!meta_weights_valid_name(value))
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "name must be 1 to 47 characters of [A-Za-z0-9._-]%s", "");
        snprintf(sp->name, sizeof sp->name, "%s", value);
        return 0;
    }
    for (int i = 0; i < NUM_KEYS; i++) {
        const fkey *k = &num_keys[i];
        if (strcmp(k->name, key) != 0) continue;
        double d;
        if (meta_spec_parse_num(value, &d) || d < k->lo || d > k->hi || (k->type != F_DBL && d != floor(d))) {
            if (msg && cap)
                snprintf(msg, cap, "%s must be a%s number in [%g, %g], not \"%.40s\"", key,
                         k->type == F_DBL ? "" : "n integer", k->lo, k->hi, value);
            return ERR_OUT_OF_RANGE;
        }
        void *f = (char *)sp + k->off;
        switch (k->type) {
        case F_I32: *(int *)f = (int)d; break;
        case F_I64: *(int64_t *)f = (int64_t)d; break;
        case F_U64: *(uint64_t *)f = (uint64_t)d; break;
        case F_DBL: *(double *)f = d; break;
        }
        return 0;
    }
    return fail(msg, cap, ERR_UNKNOWN_FIELD, "unknown few-shot meta-learning key \"%.60s\"", key);
}

int fewshot_spec_from_json(fewshot_spec *sp, const cJSON *obj, char *msg, size_t cap)
{
    if (!cJSON_IsObject(obj)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "the body must be a JSON object%s", "");
    for (const cJSON *it = obj->child; it; it = it->next) {
        for (const cJSON *p = obj->child; p != it; p = p->next)
            if (strcmp(p->string, it->string) == 0)
                return fail(msg, cap, ERR_INVALID_JSON, "duplicate key \"%.60s\"", it->string);
        int is_text = strcmp(it->string, "method") == 0 || strcmp(it->string, "task") == 0 ||
                      strcmp(it->string, "name") == 0;
        char val[64];
        const char *v = val;
        if (is_text) {
            if (!cJSON_IsString(it)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "%.60s must be a string", it->string);
            v = it->valuestring;
        } else if (cJSON_IsNumber(it)) {
            if (!isfinite(it->valuedouble))
                return fail(msg, cap, ERR_OUT_OF_RANGE, "%.60s is not a finite number", it->string);
            snprintf(val, sizeof val, "%.17g", it->valuedouble);
        } else {
            int known = 0;
            for (int i = 0; i < NUM_KEYS; i++) known |= strcmp(num_keys[i].name, it->string) == 0;
            if (!known) return fewshot_spec_set(sp, it->string, "", 0, msg, cap);   /* unknown_field */
            return fail(msg, cap, ERR_INVALID_ARGUMENT, "%.60s must be a number", it->string);
        }
        int rc = fewshot_spec_set(sp, it->string, v, 0, msg, cap);
        if (rc) return rc;
    }
    return 0;
}

cJSON *fewshot_spec_to_json(const fewshot_spec *sp)
{
    const fewshot_config *c = &sp->fc;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "method", fewshot_method_name(c->method));
    cJSON_AddStringToObject(o, "task", "sinusoid");
    cJSON_AddNumberToObject(o, "shots", c->shots);
    cJSON_AddNumberToObject(o, "inner_steps", c->inner_steps);
    cJSON_AddNumberToObject(o, "inner_lr", c->inner_lr);
    cJSON_AddNumberToObject(o, "meta_batch", c->meta_batch);
    cJSON_AddNumberToObject(o, "outer_lr", c->outer_lr);
    cJSON_AddNumberToObject(o, "outer_steps", (double)sp->outer_steps);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON *net = cJSON_AddArrayToObject(o, "network");
    cJSON_AddItemToArray(net, cJSON_CreateNumber(1));
    for (int l = 0; l < c->depth; l++) cJSON_AddItemToArray(net, cJSON_CreateNumber(c->hidden));
    cJSON_AddItemToArray(net, cJSON_CreateNumber(1));
    return o;
}
