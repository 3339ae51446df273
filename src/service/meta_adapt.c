/* meta_adapt.c — an adaptation request as a warm-started meta-training job.
 * See meta_adapt.h. */
#include "meta_adapt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "meta_weights.h"

static int fail(char *msg, size_t cap, int rc, const char *fmt, const char *a)
{
    if (msg && cap) snprintf(msg, cap, fmt, a);
    return rc;
}

int meta_adapt_is_request(const cJSON *obj)
{
    const cJSON *m = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "method") : NULL;
    return cJSON_IsString(m) && strcmp(m->valuestring, "adapt") == 0;
}

/* The fixed recipe (meta_adapt.h). */
static int set_recipe(meta_spec *sp, char *msg, size_t cap)
{
    static const char *const kv[][2] = {
        {"estimator", "pes"}, {"particles", "16"}, {"unroll", "20"}, {"horizon_min", "200"},
        {"horizon_max", "1000"}, {"sigma", "0.01"}, {"outer_lr", "0.0003"}, {"checkpoint_every", "10"},
    };
    _Static_assert(META_ADAPT_PARTICLES == 16, "the recipe's particles");
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        int rc = meta_spec_set(sp, kv[i][0], kv[i][1], msg, cap);
        if (rc) return rc;
    }
    return 0;
}

/* Copies the base record's architecture into sp and warm-starts from it. */
static int set_base(meta_spec *sp, const char *base, char *msg, size_t cap)
{
    if (strlen(base) >= sizeof sp->init_weights)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "base is too long%s", "");
    lopt_weights w = {0};
    meta_weights_lock();
    int rc = lopt_registry_get(base, &w);
    meta_weights_unlock();
    if (rc)
        return fail(msg, cap, ERR_INVALID_ARGUMENT, "base: no learned optimizer's weights record is named \"%.60s\"",
                    base);
    const char *arch = lopt_arch_name(w.arch);
    meta_config *c = &sp->mc;
    if (arch) {
        snprintf(c->optimizer, sizeof c->optimizer, "%s", arch);
        c->hidden = w.hidden;
        c->depth = w.depth;
        c->mup_base = w.mup_base;
        c->act = w.act;     /* and runs the activation it was trained with */
        c->fset = w.fset;   /* and reads the inputs it was trained on */
        c->film = w.film;   /* a FiLM base adapts as one: its trunk and the tasks' domains' rows */
        c->heads = w.heads;
        c->seq = w.seq;
        snprintf(sp->init_weights, sizeof sp->init_weights, "%s", base);
    }
    lopt_weights_deinit(&w);
    return arch ? 0 : fail(msg, cap, ERR_INVALID_ARGUMENT, "base \"%.60s\" has an unknown architecture", base);
}

int meta_adapt_from_json(meta_spec *sp, const cJSON *obj, char *msg, size_t cap)
{
    if (!cJSON_IsObject(obj)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "the body must be a JSON object%s", "");
    const cJSON *base = NULL, *tasks = NULL, *name = NULL, *steps = NULL, *seed = NULL, *domain = NULL;
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *k = it->string;
        for (const cJSON *p = obj->child; p != it; p = p->next)
            if (strcmp(p->string, k) == 0) return fail(msg, cap, ERR_INVALID_JSON, "duplicate key \"%.60s\"", k);
        if (strcmp(k, "method") == 0) continue;
        else if (strcmp(k, "base") == 0) base = it;
        else if (strcmp(k, "tasks") == 0 || strcmp(k, "task") == 0) {
            if (tasks) return fail(msg, cap, ERR_INVALID_ARGUMENT, "give tasks or task, not both%s", "");
            tasks = it;
        } else if (strcmp(k, "name") == 0) name = it;
        else if (strcmp(k, "outer_steps") == 0) steps = it;
        else if (strcmp(k, "seed") == 0) seed = it;
        else if (strcmp(k, "domain") == 0) domain = it;
        else
            return fail(msg, cap, ERR_UNKNOWN_FIELD,
                        "unknown key \"%.60s\" for method adapt (method, base, tasks, outer_steps, name, seed, domain)", k);
    }
    if (!base) return fail(msg, cap, ERR_MISSING_FIELD, "base is required (the weights record to adapt)%s", "");
    if (!tasks) return fail(msg, cap, ERR_MISSING_FIELD, "tasks is required (the new family's tasks)%s", "");
    if (!name) return fail(msg, cap, ERR_MISSING_FIELD, "name is required (the record to produce)%s", "");
    if (!cJSON_IsString(base)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "base must be a string%s", "");
    if (!cJSON_IsString(name)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "name must be a string%s", "");
    int rc = set_recipe(sp, msg, cap);
    if (!rc) rc = set_base(sp, base->valuestring, msg, cap);
    if (rc) return rc;
    if (strcmp(name->valuestring, base->valuestring) == 0 || lopt_arch_from_name(name->valuestring) >= 0)
        return fail(msg, cap, ERR_INVALID_ARGUMENT,
                    "name \"%.60s\" would replace the base or an optimizer's general default: choose a new name",
                    name->valuestring);
    rc = meta_spec_set(sp, "name", name->valuestring, msg, cap);
    if (rc) return rc;
    if (cJSON_IsString(tasks)) rc = meta_spec_set(sp, "task", tasks->valuestring, msg, cap);
    else if (cJSON_IsArray(tasks) && cJSON_GetArraySize(tasks) > 0) {
        for (const cJSON *t = tasks->child; t && !rc; t = t->next)
            rc = cJSON_IsString(t) ? meta_spec_set(sp, "task", t->valuestring, msg, cap)
                                   : fail(msg, cap, ERR_INVALID_ARGUMENT, "tasks must be strings%s", "");
    } else rc = fail(msg, cap, ERR_INVALID_ARGUMENT, "tasks must be a task string or a non-empty array of them%s", "");
    if (rc) return rc;
    sp->outer_steps = META_ADAPT_DEFAULT_STEPS;
    if (steps) {
        if (!cJSON_IsNumber(steps)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "outer_steps must be a number%s", "");
        double d = steps->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < 1 || d > META_ADAPT_MAX_STEPS) {
            char b[16];
            snprintf(b, sizeof b, "%d", META_ADAPT_MAX_STEPS);
            return fail(msg, cap, ERR_OUT_OF_RANGE,
                        "outer_steps of an adaptation must be an integer in [1, %s] (a longer run is a meta-training job)", b);
        }
        sp->outer_steps = (int64_t)d;
    }
    char v[32];
    if (seed) {
        if (!cJSON_IsNumber(seed)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "seed must be a number%s", "");
        snprintf(v, sizeof v, "%.17g", seed->valuedouble);
        rc = meta_spec_set(sp, "seed", v, msg, cap);
        if (rc) return rc;
    }
    if (domain) {
        if (!cJSON_IsString(domain)) return fail(msg, cap, ERR_INVALID_ARGUMENT, "domain must be a string%s", "");
        rc = meta_spec_set(sp, "domain", domain->valuestring, msg, cap);
    }
    return rc;
}
