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

/* An integer in [lo, hi] read from valuedouble (cJSON's valueint saturates). */
static int integer(const cJSON *f, const char *name, double lo, double hi, double *out, char *msg, size_t cap)
{
    double d;
    int rc = num(f, name, &d, msg, cap);
    if (rc) return rc;
    if (d != floor(d) || d < lo || d > hi) {
        snprintf(msg, cap, "adapt.%s must be an integer in [%.0f, %.0f]", name, lo, hi);
        return ERR_OUT_OF_RANGE;
    }
    *out = d;
    return 0;
}

/* A number in (0, 1]. */
static int unit_interval(const cJSON *f, const char *name, double *out, char *msg, size_t cap)
{
    double d;
    int rc = num(f, name, &d, msg, cap);
    if (rc) return rc;
    if (!(d > 0 && d <= 1)) {
        snprintf(msg, cap, "adapt.%s must be in (0, 1]", name);
        return ERR_OUT_OF_RANGE;
    }
    *out = d;
    return 0;
}

/* Fields of each form, for the messages. */
#define HG_FIELDS "lr, beta, per_tensor, lr_min, lr_max"
#define ES_FIELDS "learner, rate, memory, sigma, window, per_tensor, seed"

int adapt_spec_parse(const cJSON *v, adapt_config *cfg, online_es_config *es, char *msg, size_t cap)
{
    if (!cJSON_IsObject(v)) {
        snprintf(msg, cap, "adapt must be an object");
        return ERR_INVALID_ARGUMENT;
    }
    int rc = 0, per_tensor = -1;
    const char *hg_field = NULL, *es_field = NULL;   /* a field given that only one form has */
    for (const cJSON *f = v->child; f && !rc; f = f->next) {
        /* cJSON keeps duplicate keys: the last one wins, like everywhere else */
        double d;
        if (strcmp(f->string, "lr") == 0) {
            hg_field = "lr";
            if (cJSON_IsNull(f)) cfg->lr = ADAPT_LR_NONE;
            else if (cJSON_IsString(f) && strcmp(f->valuestring, "hypergradient") == 0)
                cfg->lr = ADAPT_LR_HYPERGRADIENT;
            else if (cJSON_IsString(f) && strcmp(f->valuestring, "none") == 0) cfg->lr = ADAPT_LR_NONE;
            else {
                snprintf(msg, cap, "adapt.lr must be \"hypergradient\" or \"none\"");
                rc = ERR_OUT_OF_RANGE;
            }
        } else if (strcmp(f->string, "beta") == 0) {
            hg_field = "beta";
            rc = unit_interval(f, "beta", &cfg->beta, msg, cap);
        } else if (strcmp(f->string, "per_tensor") == 0) {
            if (!cJSON_IsBool(f)) {
                snprintf(msg, cap, "adapt.per_tensor must be true or false");
                rc = ERR_INVALID_ARGUMENT;
            } else per_tensor = cJSON_IsTrue(f);
        } else if (strcmp(f->string, "lr_min") == 0) {
            hg_field = "lr_min";
            rc = num(f, "lr_min", &cfg->lr_min, msg, cap);
        } else if (strcmp(f->string, "lr_max") == 0) {
            hg_field = "lr_max";
            rc = num(f, "lr_max", &cfg->lr_max, msg, cap);
        } else if (strcmp(f->string, "learner") == 0) {
            es_field = "learner";
            if (cJSON_IsString(f) && strcmp(f->valuestring, "pes") == 0) es->enabled = 1;
            else if (cJSON_IsNull(f) || (cJSON_IsString(f) && strcmp(f->valuestring, "none") == 0)) es->enabled = 0;
            else {
                snprintf(msg, cap, "adapt.learner must be \"pes\" or \"none\"");
                rc = ERR_OUT_OF_RANGE;
            }
        } else if (strcmp(f->string, "rate") == 0) {
            es_field = "rate";
            rc = unit_interval(f, "rate", &es->rate, msg, cap);
        } else if (strcmp(f->string, "sigma") == 0) {
            es_field = "sigma";
            rc = unit_interval(f, "sigma", &es->sigma, msg, cap);
        } else if (strcmp(f->string, "memory") == 0) {
            es_field = "memory";
            rc = integer(f, "memory", 1, ONLINE_ES_MEMORY_MAX, &d, msg, cap);
            if (!rc) es->memory = (int)d;
        } else if (strcmp(f->string, "window") == 0) {
            es_field = "window";
            rc = integer(f, "window", 1, ONLINE_ES_WINDOW_MAX, &d, msg, cap);
            if (!rc) es->window = (int)d;
        } else if (strcmp(f->string, "seed") == 0) {
            es_field = "seed";
            rc = integer(f, "seed", 0, ONLINE_ES_SEED_MAX, &d, msg, cap);
            if (!rc) es->seed = (uint64_t)d;
        } else {
            snprintf(msg, cap, "unknown field \"%s\" in adapt (" HG_FIELDS "; or " ES_FIELDS ")", f->string);
            rc = ERR_UNKNOWN_FIELD;
        }
    }
    if (rc) return rc;
    if (hg_field && es_field) {
        snprintf(msg, cap, "adapt.%s (hypergradient, classic optimizers) and adapt.%s (the online learner, "
                 "learned optimizers) exclude each other", hg_field, es_field);
        return ERR_INVALID_ARGUMENT;
    }
    if (es_field && !es->enabled) {
        if (strcmp(es_field, "learner") != 0 || v->child->next) {
            snprintf(msg, cap, "adapt.%s needs \"learner\": \"pes\"", es_field);
            return ERR_INVALID_ARGUMENT;
        }
    }
    if (per_tensor >= 0) {
        if (es->enabled) es->per_tensor = per_tensor;
        else cfg->per_tensor = per_tensor;
    }
    if (adapt_config_check(cfg) != 0) {
        snprintf(msg, cap, "adapt: need 0 < lr_min < lr_max <= 10 and 0 < beta <= 1");
        return ERR_OUT_OF_RANGE;
    }
    if (es->enabled && online_es_config_check(es) != 0) {
        snprintf(msg, cap, "adapt: need 0 < rate <= 1, 0 < sigma <= 1, memory in [1, %d], window in [1, %d]",
                 ONLINE_ES_MEMORY_MAX, ONLINE_ES_WINDOW_MAX);
        return ERR_OUT_OF_RANGE;
    }
    return 0;
}

int adapt_spec_check_kind(const adapt_config *cfg, const online_es_config *es, const opt_vtbl *vt, char *msg,
                          size_t cap)
{
    if (cfg->lr != ADAPT_LR_NONE && vt->kind != OPT_KIND_CLASSIC) {
        snprintf(msg, cap, "adapt.lr needs a classic optimizer; %s is not one (learned and hybrid optimizers "
                 "take \"adapt\": {\"learner\": \"pes\"})", vt->name);
        return ERR_INVALID_ARGUMENT;
    }
    if (es->enabled && vt->kind != OPT_KIND_LEARNED && vt->kind != OPT_KIND_HYBRID) {
        snprintf(msg, cap, "adapt.learner needs a learned or hybrid optimizer; %s is classic (classic "
                 "optimizers take \"adapt\": {\"lr\": \"hypergradient\"})", vt->name);
        return ERR_INVALID_ARGUMENT;
    }
    return 0;
}

cJSON *adapt_spec_json(const adapt_config *cfg, const online_es_config *es)
{
    if (cfg->lr == ADAPT_LR_NONE && !es->enabled) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (es->enabled) {
        cJSON_AddStringToObject(o, "learner", "pes");
        cJSON_AddNumberToObject(o, "rate", es->rate);
        cJSON_AddNumberToObject(o, "memory", es->memory);
        cJSON_AddNumberToObject(o, "sigma", es->sigma);
        cJSON_AddNumberToObject(o, "window", es->window);
        cJSON_AddBoolToObject(o, "per_tensor", es->per_tensor);
        cJSON_AddNumberToObject(o, "seed", (double)es->seed);
        return o;
    }
    cJSON_AddStringToObject(o, "lr", "hypergradient");
    cJSON_AddNumberToObject(o, "beta", cfg->beta);
    cJSON_AddBoolToObject(o, "per_tensor", cfg->per_tensor);
    cJSON_AddNumberToObject(o, "lr_min", cfg->lr_min);
    cJSON_AddNumberToObject(o, "lr_max", cfg->lr_max);
    return o;
}
