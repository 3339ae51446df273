/* study_spec.c — a study's request parsed, checked and normalised.  See
 * study_spec.h. */
#include "study_spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonwalk.h"

/* 1 when s is 1..max bytes without control characters (the body is valid
 * UTF-8 already: jsonwalk_check_text). */
static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* Checks that every member of object o is one of `names` (NULL-ended). */
static int known_members(const cJSON *o, const char *const *names, const char *where, char *msg, size_t cap)
{
    if (jsonwalk_has_duplicate(o)) return err_failf(msg, cap, ERR_INVALID_JSON, "%s names a member twice", where);
    for (const cJSON *m = o->child; m; m = m->next) {
        int ok = 0;
        for (const char *const *n = names; *n && !ok; n++) ok = strcmp(m->string, *n) == 0;
        if (!ok) return err_failf(msg, cap, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\" in %s", m->string, where);
    }
    return 0;
}

static int get_number(const cJSON *v, const char *what, double *out, char *msg, size_t cap)
{
    if (!cJSON_IsNumber(v)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s must be a number", what);
    if (!isfinite(v->valuedouble)) return err_failf(msg, cap, ERR_NON_FINITE, "%s must be finite", what);
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *v, const char *what, double lo, double hi, int64_t *out, char *msg, size_t cap)
{
    int rc = jsonwalk_int(v, lo, hi, out);
    if (rc) return err_failf(msg, cap, rc, "%s must be an integer in [%.0f, %.0f]", what, lo, hi);
    return 0;
}

static int get_bool(const cJSON *v, const char *what, int *out, char *msg, size_t cap)
{
    if (!cJSON_IsBool(v)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s must be true or false", what);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* ---- one parameter ------------------------------------------------------------ */

static int parse_choices(study_spec *sp, int i, const cJSON *v, char *msg, size_t cap)
{
    const char *nm = sp->space.p[i].name;
    if (!cJSON_IsArray(v)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: choices must be an array", nm);
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > HPO_MAX_CHOICES)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s: choices must hold 1 to %d values", nm, HPO_MAX_CHOICES);
    int k = 0;
    for (const cJSON *c = v->child; c; c = c->next, k++) {
        if (cJSON_IsNumber(c)) {
            if (!isfinite(c->valuedouble)) return err_failf(msg, cap, ERR_NON_FINITE, "%s: choice %d is not finite", nm, k);
        } else if (cJSON_IsString(c)) {
            if (strlen(c->valuestring) > STUDY_CHOICE_MAX)
                return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s: choice %d is longer than %d bytes", nm, k,
                            STUDY_CHOICE_MAX);
        } else if (!cJSON_IsBool(c) && !cJSON_IsNull(c)) {
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: a choice is a number, a string, true, false or null", nm);
        }
        int j = 0;
        for (const cJSON *d = v->child; d != c; d = d->next, j++)
            if (cJSON_Compare(c, d, 1)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: choices %d and %d are equal",
                                                     nm, j, k);
    }
    sp->choices[i] = cJSON_Duplicate(v, 1);
    if (!sp->choices[i]) return ERR_NO_MEMORY;
    sp->space.p[i].nchoices = n;
    return 0;
}

static int parse_param(study_spec *sp, int i, const cJSON *o, char *msg, size_t cap)
{
    hpo_param *p = &sp->space.p[i];
    const char *nm = p->name;
    if (!cJSON_IsObject(o)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "space.%s must be an object", nm);
    static const char *const names[] = {"type", "low", "high", "log", "step", "choices", "when", NULL};
    char where[96];
    snprintf(where, sizeof where, "space.%s", nm);
    int rc = known_members(o, names, where, msg, cap);
    if (rc) return rc;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!type) return err_failf(msg, cap, ERR_MISSING_FIELD, "%s: type is required", nm);
    if (!cJSON_IsString(type)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: type must be a string", nm);
    const cJSON *low = cJSON_GetObjectItemCaseSensitive(o, "low"), *high = cJSON_GetObjectItemCaseSensitive(o, "high"),
                *lg = cJSON_GetObjectItemCaseSensitive(o, "log"), *step = cJSON_GetObjectItemCaseSensitive(o, "step"),
                *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (strcmp(type->valuestring, "categorical") == 0) {
        p->kind = HPO_CATEGORICAL;
        if (low || high || lg || step)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: a categorical takes choices only", nm);
        if (!ch) return err_failf(msg, cap, ERR_MISSING_FIELD, "%s: choices is required", nm);
        return parse_choices(sp, i, ch, msg, cap);
    }
    if (strcmp(type->valuestring, "float") == 0) p->kind = HPO_FLOAT;
    else if (strcmp(type->valuestring, "int") == 0) p->kind = HPO_INT;
    else return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: type must be float, int or categorical", nm);
    if (ch) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: choices belong to a categorical", nm);
    if (!low || !high) return err_failf(msg, cap, ERR_MISSING_FIELD, "%s: low and high are required", nm);
    char what[96];
    snprintf(what, sizeof what, "%s.low", nm);
    if ((rc = get_number(low, what, &p->low, msg, cap))) return rc;
    snprintf(what, sizeof what, "%s.high", nm);
    if ((rc = get_number(high, what, &p->high, msg, cap))) return rc;
    if (lg) {
        snprintf(what, sizeof what, "%s.log", nm);
        if ((rc = get_bool(lg, what, &p->log, msg, cap))) return rc;
    }
    if (p->kind == HPO_FLOAT) {
        if (step) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: step belongs to an int", nm);
    } else {
        p->step = 1;
        if (step) {
            snprintf(what, sizeof what, "%s.step", nm);
            if ((rc = get_number(step, what, &p->step, msg, cap))) return rc;
        }
    }
    rc = hpo_param_check(p, msg, cap);
    return rc;
}

/* ---- conditions ---------------------------------------------------------------- */

/* Parameter i's `when` ({"parent": [choices …]}) into its parent and
 * choice set; the space's parameters are all parsed. */
static int parse_when(study_spec *sp, int i, const cJSON *w, char *msg, size_t cap)
{
    hpo_param *p = &sp->space.p[i];
    const char *nm = p->name;
    if (!cJSON_IsObject(w) || !w->child || w->child->next)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                    "%s: when must name one categorical parameter and its choices: {\"parent\": [choice, …]}", nm);
    const cJSON *m = w->child;
    int j = -1;
    for (int k = 0; k < sp->space.n && j < 0; k++)
        if (strcmp(sp->space.p[k].name, m->string) == 0) j = k;
    if (j < 0)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: when names \"%.64s\", which is not a parameter of the space", nm,
                    m->string);
    if (j == i) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: when names the parameter itself", nm);
    const hpo_param *q = &sp->space.p[j];
    if (q->kind != HPO_CATEGORICAL)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: when names %s, which is not a categorical", nm, q->name);
    int n = cJSON_IsArray(m) ? cJSON_GetArraySize(m) : -1;
    if (n < 1 || n > q->nchoices)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: when.%s must be an array of 1 to %d of its choices", nm, q->name,
                    q->nchoices);
    p->parent = j + 1;
    for (const cJSON *c = m->child; c; c = c->next) {
        int k = 0;
        const cJSON *d = sp->choices[j]->child;
        while (d && !cJSON_Compare(c, d, 1)) d = d->next, k++;
        if (!d) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: when.%s names a value that is not one of its choices", nm,
                            q->name);
        if (p->when[k / 64] >> (k % 64) & 1u)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s: when.%s names choice %d twice", nm, q->name, k);
        p->when[k / 64] |= (uint64_t)1 << (k % 64);
    }
    return 0;
}

/* ---- the request -------------------------------------------------------------- */

static int parse_sampler_options(study_spec *sp, const cJSON *o, char *msg, size_t cap)
{
    if (!cJSON_IsObject(o)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "sampler_options must be an object");
    static const char *const names[] = {"n_startup_trials", "n_ei_candidates", "prior_weight", "multivariate", NULL};
    int rc = known_members(o, names, "sampler_options", msg, cap);
    int64_t v;
    const cJSON *m;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "multivariate")) &&
        !(rc = get_bool(m, "sampler_options.multivariate", &sp->tpe.multivariate, msg, cap)) && sp->tpe.multivariate &&
        sp->sampler != HPO_SAMPLER_TPE)
        rc = err_failf(msg, cap, ERR_INVALID_ARGUMENT, "sampler_options.multivariate applies to the tpe sampler only");
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "n_startup_trials")) &&
        !(rc = get_int(m, "sampler_options.n_startup_trials", 0, STUDY_MAX_TRIALS, &v, msg, cap)))
        sp->tpe.n_startup_trials = (int)v;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "n_ei_candidates")) &&
        !(rc = get_int(m, "sampler_options.n_ei_candidates", 1, 1024, &v, msg, cap)))
        sp->tpe.n_ei_candidates = (int)v;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "prior_weight"))) {
        rc = get_number(m, "sampler_options.prior_weight", &sp->tpe.prior_weight, msg, cap);
        if (!rc && !(sp->tpe.prior_weight > 0 && sp->tpe.prior_weight <= 1e6))
            rc = err_failf(msg, cap, ERR_OUT_OF_RANGE, "sampler_options.prior_weight must be in (0, 1e6]");
    }
    return rc;
}

static int parse_pruner_options(study_spec *sp, const cJSON *o, char *msg, size_t cap)
{
    if (!cJSON_IsObject(o)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "pruner_options must be an object");
    static const char *const names[] = {"n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor", NULL};
    int rc = known_members(o, names, "pruner_options", msg, cap);
    int64_t v;
    const cJSON *m;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "n_startup_trials")) &&
        !(rc = get_int(m, "pruner_options.n_startup_trials", 0, STUDY_MAX_TRIALS, &v, msg, cap)))
        sp->prune.n_startup_trials = (int)v;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "n_warmup_steps")) &&
        !(rc = get_int(m, "pruner_options.n_warmup_steps", 0, 1e15, &v, msg, cap)))
        sp->prune.n_warmup_steps = v;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "min_resource")) &&
        !(rc = get_int(m, "pruner_options.min_resource", 1, 1e15, &v, msg, cap)))
        sp->prune.min_resource = v;
    if (!rc && (m = cJSON_GetObjectItemCaseSensitive(o, "reduction_factor")) &&
        !(rc = get_int(m, "pruner_options.reduction_factor", 2, 100, &v, msg, cap)))
        sp->prune.reduction_factor = (int)v;
    return rc;
}

/* s is one of words[] (NULL-ended): its index; else -1. */
static int word_index(const cJSON *s, const char *const *words)
{
    if (!cJSON_IsString(s)) return -1;
    for (int i = 0; words[i]; i++)
        if (strcmp(s->valuestring, words[i]) == 0) return i;
    return -1;
}

static const char *const DIRECTIONS[] = {"minimize", "maximize", NULL};
static const char *const SAMPLERS[] = {"random", "tpe", "gp", NULL};     /* hpo_sampler order */
static const char *const PRUNERS[] = {"none", "median", "asha", NULL};  /* hpo_pruner order */

const char *study_spec_direction_name(int direction) { return direction > 0 ? "minimize" : "maximize"; }

int study_spec_parse(study_spec *sp, const cJSON *body, uint64_t seed_if_absent, char *msg, size_t cap)
{
    memset(sp, 0, sizeof *sp);
    sp->direction = 1;
    sp->sampler = HPO_SAMPLER_TPE;
    sp->pruner = HPO_PRUNER_MEDIAN;
    sp->max_trials = STUDY_MAX_TRIALS;
    sp->parallel = STUDY_DEFAULT_PARALLEL;
    sp->seed = seed_if_absent & ((1ULL << 53) - 1);   /* a JSON number carries it exactly */
    hpo_tpe_defaults(&sp->tpe);
    hpo_prune_defaults(&sp->prune);
    if (!cJSON_IsObject(body)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "the body must be a JSON object");
    static const char *const names[] = {"name",     "direction", "space", "sampler",         "pruner",
                                        "max_trials", "parallel", "seed", "sampler_options", "pruner_options",
                                        "objective", NULL};
    int rc = known_members(body, names, "the study", msg, cap);
    if (rc) return rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (!v) return err_failf(msg, cap, ERR_MISSING_FIELD, "name is required");
    if (!cJSON_IsString(v) || !valid_name(v->valuestring, STUDY_NAME_MAX))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "name must be 1 to %d bytes without control characters",
                    STUDY_NAME_MAX);
    snprintf(sp->name, sizeof sp->name, "%s", v->valuestring);
    int k;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "direction"))) {
        if ((k = word_index(v, DIRECTIONS)) < 0)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "direction must be minimize or maximize");
        sp->direction = k == 0 ? 1 : -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "sampler"))) {
        if ((k = word_index(v, SAMPLERS)) < 0)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "sampler must be random, tpe or gp");
        sp->sampler = (hpo_sampler)k;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "pruner"))) {
        if ((k = word_index(v, PRUNERS)) < 0)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "pruner must be none, median or asha");
        sp->pruner = (hpo_pruner)k;
    }
    int64_t n;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "max_trials"))) {
        if ((rc = get_int(v, "max_trials", 1, STUDY_MAX_TRIALS, &n, msg, cap))) return rc;
        sp->max_trials = n;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "parallel"))) {
        if ((rc = get_int(v, "parallel", 1, STUDY_MAX_PARALLEL, &n, msg, cap))) return rc;
        sp->parallel = n;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "seed"))) {
        if ((rc = get_int(v, "seed", 0, 9007199254740991.0, &n, msg, cap))) return rc;
        sp->seed = (uint64_t)n;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "sampler_options")) && (rc = parse_sampler_options(sp, v, msg, cap)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "pruner_options")) && (rc = parse_pruner_options(sp, v, msg, cap)))
        return rc;
    const cJSON *space = cJSON_GetObjectItemCaseSensitive(body, "space");
    if (!space) return err_failf(msg, cap, ERR_MISSING_FIELD, "space is required");
    if (!cJSON_IsObject(space) || !space->child)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "space must be an object of 1 to %d parameters", HPO_MAX_PARAMS);
    if (jsonwalk_has_duplicate(space)) return err_failf(msg, cap, ERR_INVALID_JSON, "space names a parameter twice");
    int i = 0;
    const cJSON *whens[HPO_MAX_PARAMS] = {0};
    for (const cJSON *p = space->child; p; p = p->next, i++) {
        if (i >= HPO_MAX_PARAMS)
            return err_failf(msg, cap, ERR_OUT_OF_RANGE, "space holds more than %d parameters", HPO_MAX_PARAMS);
        if (!valid_name(p->string, HPO_NAME_MAX))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "a parameter name must be 1 to %d bytes without control characters", HPO_NAME_MAX);
        snprintf(sp->space.p[i].name, sizeof sp->space.p[i].name, "%s", p->string);
        sp->space.n = i + 1;
        if ((rc = parse_param(sp, i, p, msg, cap))) return rc;
        if (sp->sampler == HPO_SAMPLER_GP && sp->space.p[i].kind == HPO_CATEGORICAL)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "sampler gp takes float and int parameters only: %s is categorical (use tpe or random)",
                        sp->space.p[i].name);
        whens[i] = cJSON_GetObjectItemCaseSensitive(p, "when");
    }
    for (i = 0; i < sp->space.n; i++) {
        if (!whens[i]) continue;
        if (sp->sampler == HPO_SAMPLER_GP)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "sampler gp takes unconditional parameters only: %s has a condition (use tpe or random)",
                        sp->space.p[i].name);
        if ((rc = parse_when(sp, i, whens[i], msg, cap))) return rc;
    }
    if ((rc = hpo_space_check_conditions(&sp->space, msg, cap))) return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "objective")))
        return study_objective_parse(&sp->objective, v, &sp->space, sp->choices, msg, cap);
    return 0;
}

void study_spec_free(study_spec *sp)
{
    for (int i = 0; i < HPO_MAX_PARAMS; i++) {
        cJSON_Delete(sp->choices[i]);
        sp->choices[i] = NULL;
    }
}

/* p's condition into q as {"parent": [choices in the parent's order]}. */
static void add_when(const study_spec *sp, const hpo_param *p, cJSON *q)
{
    if (!p->parent) return;
    const hpo_param *par = &sp->space.p[p->parent - 1];
    cJSON *w = cJSON_AddObjectToObject(q, "when"), *a = w ? cJSON_AddArrayToObject(w, par->name) : NULL;
    int k = 0;
    for (const cJSON *c = a ? sp->choices[p->parent - 1]->child : NULL; c; c = c->next, k++)
        if (p->when[k / 64] >> (k % 64) & 1u) cJSON_AddItemToArray(a, cJSON_Duplicate(c, 1));
}

cJSON *study_spec_to_json(const study_spec *sp)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", sp->name);
    cJSON_AddStringToObject(o, "direction", study_spec_direction_name(sp->direction));
    cJSON *space = cJSON_AddObjectToObject(o, "space");
    for (int i = 0; space && i < sp->space.n; i++) {
        const hpo_param *p = &sp->space.p[i];
        cJSON *q = cJSON_AddObjectToObject(space, p->name);
        if (!q) break;
        if (p->kind == HPO_CATEGORICAL) {
            cJSON_AddStringToObject(q, "type", "categorical");
            cJSON_AddItemToObject(q, "choices", cJSON_Duplicate(sp->choices[i], 1));
            add_when(sp, p, q);
            continue;
        }
        cJSON_AddStringToObject(q, "type", p->kind == HPO_INT ? "int" : "float");
        cJSON_AddNumberToObject(q, "low", p->low);
        cJSON_AddNumberToObject(q, "high", p->high);
        cJSON_AddBoolToObject(q, "log", p->log);
        if (p->kind == HPO_INT) cJSON_AddNumberToObject(q, "step", p->step);
        add_when(sp, p, q);
    }
    cJSON_AddStringToObject(o, "sampler", SAMPLERS[sp->sampler]);
    cJSON_AddStringToObject(o, "pruner", PRUNERS[sp->pruner]);
    cJSON_AddNumberToObject(o, "max_trials", (double)sp->max_trials);
    cJSON_AddNumberToObject(o, "parallel", (double)sp->parallel);
    cJSON_AddNumberToObject(o, "seed", (double)sp->seed);
    cJSON *so = cJSON_AddObjectToObject(o, "sampler_options");
    if (so) {
        cJSON_AddNumberToObject(so, "n_startup_trials", sp->tpe.n_startup_trials);
        cJSON_AddNumberToObject(so, "n_ei_candidates", sp->tpe.n_ei_candidates);
        cJSON_AddNumberToObject(so, "prior_weight", sp->tpe.prior_weight);
        cJSON_AddBoolToObject(so, "multivariate", sp->tpe.multivariate);
    }
    cJSON *po = cJSON_AddObjectToObject(o, "pruner_options");
    if (po) {
        cJSON_AddNumberToObject(po, "n_startup_trials", sp->prune.n_startup_trials);
        cJSON_AddNumberToObject(po, "n_warmup_steps", (double)sp->prune.n_warmup_steps);
        cJSON_AddNumberToObject(po, "min_resource", (double)sp->prune.min_resource);
        cJSON_AddNumberToObject(po, "reduction_factor", sp->prune.reduction_factor);
    }
    if (sp->objective.given) {
        cJSON *ob = study_objective_to_json(&sp->objective);
        if (!ob) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, "objective", ob);
    }
    return o;
}

cJSON *study_spec_params_json(const study_spec *sp, const double *x)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < sp->space.n; i++) {
        const hpo_param *p = &sp->space.p[i];
        if (isnan(x[i])) continue;
        if (p->kind == HPO_CATEGORICAL) {
            const cJSON *c = cJSON_GetArrayItem(sp->choices[i], (int)x[i]);
            cJSON_AddItemToObject(o, p->name, c ? cJSON_Duplicate(c, 1) : cJSON_CreateNull());
        } else {
            cJSON_AddNumberToObject(o, p->name, x[i]);
        }
    }
    return o;
}
