#include "adapt_spec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static int num(const cJSON *f, const char *name, double *out, char *msg, size_t cap)
{
    if (!cJSON_IsNumber(f)) {
        snprintf(msg, cap, "adapt.%s must be a number", name);
        return ERR_INVALID_ARGUMENT;
    }
    if (!isfinite(f->valuedouble)) {
        snprintf(msg, cap, "adapt.%s is not finite", name);
        return ERR_NON_FINITE;
    }
    *out = f->valuedouble;
    return 0;
}

int adapt_spec_parse(const cJSON *v, adapt_config *cfg, char *msg, size_t cap)
{
    if (!cJSON_IsObject(v)) {
        snprintf(msg, cap, "adapt must be an object");
        return ERR_INVALID_ARGUMENT;
    }
    int rc = 0;
    for (const cJSON *f = v->child; f && !rc; f = f->next) {
        /* cJSON keeps duplicate keys: the last one wins, like everywhere else */
        if (strcmp(f->string, "lr") == 0) {
            if (cJSON_IsNull(f)) cfg->lr = ADAPT_LR_NONE;
            else if (cJSON_IsString(f) && strcmp(f->valuestring, "hypergradient") == 0)
                cfg->lr = ADAPT_LR_HYPERGRADIENT;
            else if (cJSON_IsString(f) && strcmp(f->valuestring, "none") == 0) cfg->lr = ADAPT_LR_NONE;
            else {
                snprintf(msg, cap, "adapt.lr must be \"hypergradient\" or \"none\"");
                rc = ERR_OUT_OF_RANGE;
            }
        } else if (strcmp(f->string, "beta") == 0) {
            rc = num(f, "beta", &cfg->beta, msg, cap);
            if (!rc && !(cfg->beta > 0 && cfg->beta <= 1)) {
                snprintf(msg, cap, "adapt.beta must be in (0, 1]");
                rc = ERR_OUT_OF_RANGE;
            }
        } else if (strcmp(f->string, "per_tensor") == 0) {
            if (!cJSON_IsBool(f)) {
                snprintf(msg, cap, "adapt.per_tensor must be true or false");
                rc = ERR_INVALID_ARGUMENT;
            } else cfg->per_tensor = cJSON_IsTrue(f);
        } else if (strcmp(f->string, "lr_min") == 0) {
            rc = num(f, "lr_min", &cfg->lr_min, msg, cap);
        } else if (strcmp(f->string, "lr_max") == 0) {
            rc = num(f, "lr_max", &cfg->lr_max, msg, cap);
        } else {
            snprintf(msg, cap, "unknown field \"%s\" in adapt (lr, beta, per_tensor, lr_min, lr_max)", f->string);
            rc = ERR_UNKNOWN_FIELD;
        }
    }
    if (!rc && adapt_config_check(cfg) != 0) {
        snprintf(msg, cap, "adapt: need 0 < lr_min < lr_max <= 10 and 0 < beta <= 1");
        rc = ERR_OUT_OF_RANGE;
    }
    return rc;
}

cJSON *adapt_spec_json(const adapt_config *cfg)
{
    if (cfg->lr == ADAPT_LR_NONE) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "lr", "hypergradient");
    cJSON_AddNumberToObject(o, "beta", cfg->beta);
    cJSON_AddBoolToObject(o, "per_tensor", cfg->per_tensor);
    cJSON_AddNumberToObject(o, "lr_min", cfg->lr_min);
    cJSON_AddNumberToObject(o, "lr_max", cfg->lr_max);
    return o;
}
