/* metasess_spec.c — a meta-session's create request (see metasess_spec.h). */
#include "metasess_spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonwalk.h"
#include "meta_outer.h"
#include "rng.h"
#include "spec.h"
#include "utf8.h"

static const char *const method_names[] = {"reptile", "fomaml"};
static const char *const init_names[] = {"seeded", "zeros", "given"};

const char *metasess_method_name(int method)
{
    return method >= 0 && method < 2 ? method_names[method] : NULL;
}

static int pick(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

/* A number member in [lo, hi] (integer when integral), or its default. */
static int number_member(const cJSON *body, const char *key, double lo, double hi, int integral, double dflt,
                         double *out, char *msg, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    *out = dflt;
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s must be a number", key);
    if (!isfinite(v->valuedouble)) return err_failf(msg, cap, ERR_NON_FINITE, "%s must be finite", key);
    if (integral && v->valuedouble != floor(v->valuedouble))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s must be an integer", key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s must be in [%g, %g]", key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int parse_init(metasess_spec *sp, const cJSON *v, int restoring, double **theta, char *msg, size_t cap)
{
    if (!v) {
        sp->init = METASESS_INIT_SEEDED;
        return 0;
    }
    if (cJSON_IsString(v)) {
        sp->init = pick(init_names, 3, v->valuestring);
        if (sp->init < 0 || (sp->init == METASESS_INIT_GIVEN && !restoring))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "init must be \"seeded\", \"zeros\" or an array of numbers");
        return 0;
    }
    if (!cJSON_IsArray(v) || !theta)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "init must be \"seeded\", \"zeros\" or an array of numbers");
    size_t P = sp->lay.n;
    /* the layout is bounded already: P values are what it allows */
    if ((size_t)cJSON_GetArraySize(v) != P)
        return err_failf(msg, cap, ERR_LENGTH_MISMATCH, "init has %d values; the tensors hold %zu", cJSON_GetArraySize(v),
                    P);
    double *t = malloc(P * sizeof *t);
    if (!t) return err_failf(msg, cap, ERR_NO_MEMORY, "out of memory for init");
    size_t i = 0;
    for (const cJSON *x = v->child; x; x = x->next, i++) {
        if (!cJSON_IsNumber(x)) {
            free(t);
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "init[%zu] is not a number", i);
        }
        /* values travel as float32: a value beyond it is refused as the
         * contributions' are */
        if (!isfinite(x->valuedouble) || fabs(x->valuedouble) > 3.4028234663852886e38) {
            free(t);
            return err_failf(msg, cap, ERR_NON_FINITE, "init[%zu] is not a finite float32", i);
        }
        t[i] = x->valuedouble;
    }
    sp->init = METASESS_INIT_GIVEN;
    *theta = t;
    return 0;
}

int metasess_spec_parse(metasess_spec *sp, const cJSON *body, size_t max_params, int restoring, double **theta,
                     char *msg, size_t cap)
{
    static const char *const allowed[] = {"method", "tensors", "meta_batch", "outer_lr", "outer_optimizer",
                                          "init", "seed", "name", NULL};
    memset(sp, 0, sizeof *sp);
    if (theta) *theta = NULL;
    if (!cJSON_IsObject(body)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "the body must be a JSON object");
    if (jsonwalk_has_duplicate(body)) return err_failf(msg, cap, ERR_INVALID_JSON, "the body names a member twice");
    for (const cJSON *m = body->child; m; m = m->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, m->string) == 0;
        ok |= restoring && strcmp(m->string, "nparams") == 0;   /* the normalised JSON's */
        if (!ok) return err_failf(msg, cap, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\"", m->string);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "method");
    if (!v) return err_failf(msg, cap, ERR_MISSING_FIELD, "method is required (\"reptile\" or \"fomaml\")");
    sp->method = cJSON_IsString(v) ? pick(method_names, 2, v->valuestring) : -1;
    if (sp->method < 0) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "method must be \"reptile\" or \"fomaml\"");
    v = cJSON_GetObjectItemCaseSensitive(body, "outer_optimizer");
    sp->outer_opt = META_OUTER_ADAM;
    if (v) {
        sp->outer_opt = cJSON_IsString(v) ? meta_outer_from_name(v->valuestring) : -1;
        if (sp->outer_opt < 0) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "outer_optimizer must be \"sgd\" or \"adam\"");
    }
    double d;
    int rc = number_member(body, "meta_batch", 1, METASESS_MAX_K, 1, 25, &d, msg, cap);
    if (rc) return rc;
    sp->K = (int)d;
    rc = number_member(body, "outer_lr", 0, 10, 0, 1e-3, &sp->outer_lr, msg, cap);
    if (rc) return rc;
    if (!(sp->outer_lr > 0)) return err_failf(msg, cap, ERR_OUT_OF_RANGE, "outer_lr must be in (0, 10]");
    rc = number_member(body, "seed", 0, 9007199254740992.0, 1, 0, &d, msg, cap);
    if (rc) return rc;
    sp->seed = (uint64_t)d;
    v = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (v) {
        if (!cJSON_IsString(v)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "name must be a string");
        size_t n = strlen(v->valuestring);
        if (!utf8_valid(v->valuestring, n)) return err_failf(msg, cap, ERR_INVALID_UTF8, "name is not valid UTF-8");
        if (n >= METASESS_NAME_MAX)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "name must be 0 to %d bytes", METASESS_NAME_MAX - 1);
        memcpy(sp->name, v->valuestring, n + 1);
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "tensors");
    if (!v) return err_failf(msg, cap, ERR_MISSING_FIELD, "tensors is required (the model's layout)");
    if (!cJSON_IsArray(v)) return err_failf(msg, cap, ERR_INVALID_SHAPE, "tensors must be an array of {name, shape}");
    rc = spec_tensors_parse(v, max_params, 0, &sp->lay, msg, cap);
    if (rc) return rc;
    rc = parse_init(sp, cJSON_GetObjectItemCaseSensitive(body, "init"), restoring, theta, msg, cap);
    if (!rc && sp->init != METASESS_INIT_SEEDED && cJSON_GetObjectItemCaseSensitive(body, "seed") && !restoring)
        rc = err_failf(msg, cap, ERR_INVALID_ARGUMENT, "seed goes with \"init\": \"seeded\" only");
    if (rc) metasess_spec_deinit(sp);
    return rc;
}

void metasess_spec_deinit(metasess_spec *sp)
{
    layout_deinit(&sp->lay);
}

cJSON *metasess_spec_to_json(const metasess_spec *sp)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON_AddStringToObject(o, "method", metasess_method_name(sp->method));
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (int i = 0; ts && i < sp->lay.ntensors; i++) {
        const layout_tensor *t = &sp->lay.tensors[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(ts, e);
        cJSON_AddStringToObject(e, "name", t->name);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; sh && d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
    }
    cJSON_AddNumberToObject(o, "nparams", (double)sp->lay.n);
    cJSON_AddNumberToObject(o, "meta_batch", sp->K);
    cJSON_AddNumberToObject(o, "outer_lr", sp->outer_lr);
    cJSON_AddStringToObject(o, "outer_optimizer", meta_outer_name(sp->outer_opt));
    cJSON_AddStringToObject(o, "init", init_names[sp->init]);
    cJSON_AddNumberToObject(o, "seed", (double)sp->seed);
    return o;
}

void metasess_spec_init_theta(const metasess_spec *sp, double *theta)
{
    memset(theta, 0, sp->lay.n * sizeof *theta);
    if (sp->init != METASESS_INIT_SEEDED) return;
    rng seedr, initr;
    rng_seed(&seedr, sp->seed);
    rng_split(&seedr, 0, &initr);
    for (int i = 0; i < sp->lay.ntensors; i++) {
        const layout_tensor *t = &sp->lay.tensors[i];
        if (t->ndim < 2) continue;
        double sd = sqrt(2.0 / (double)t->shape[0]);
        for (size_t k = 0; k < t->size; k++) theta[t->offset + k] = sd * rng_normal(&initr);
    }
}
