/* study_objective.c — see study_objective.h. */
#include "study_objective.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "lopt.h"
#include "jsonwalk.h"
#include "tasks.h"

static const char *const ARCHS[] = {"small", "medium", "large"};

/* 1 when every choice (a JSON array) is a string of ARCHS (archs) or an
 * integer in [1, 8192] (sizes). */
static int choices_are(const cJSON *choices, int archs)
{
    for (const cJSON *c = choices ? choices->child : NULL; c; c = c->next) {
        int ok = 0;
        int64_t x;
        if (archs)
            for (int i = 0; i < 3; i++) ok |= cJSON_IsString(c) && strcmp(c->valuestring, ARCHS[i]) == 0;
        else ok = jsonwalk_int(c, 1, 8192, &x) == 0;
        if (!ok) return 0;
    }
    return 1;
}

/* The task parameter a space parameter sets (architecture: the width), or 0. */
static unsigned task_key_of(const char *name)
{
    return !strcmp(name, "batch") ? TASK_KEY_BATCH
         : !strcmp(name, "width") || !strcmp(name, "architecture") ? TASK_KEY_WIDTH
         : !strcmp(name, "depth") ? TASK_KEY_DEPTH : 0;
}

/* Checks one space parameter (choices: a categorical's) against what the
 * objective can use: the optimizer (vt) and the task's family. */
static int check_param(const opt_vtbl *vt, const char *family, const hpo_param *p, const cJSON *choices, int has_width,
                       char *msg, size_t cap)
{
    unsigned key = task_key_of(p->name);
    const task_family *f = tasks_find(family);
    if (key && opt_hparam_index(vt, p->name) < 0 && f && !(f->keys & key))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                         "objective: task family %s has no %s, so a trial's value would be ignored", family,
                         key == TASK_KEY_WIDTH ? "width" : p->name);
    if (opt_hparam_index(vt, p->name) >= 0) {
        /* the trial runs the optimizer's weights record (a hybrid's: its learned part's) */
        if (lopt_shape_hp(vt->name, p->name) || lopt_shape_hp(vt->weights_arch, p->name))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                             "objective: %.64s is fixed by the weights record that %s runs in every trial (its "
                             "shape or its init), so a trial's value would be ignored",
                             p->name, vt->name);
        if (p->kind == HPO_CATEGORICAL) {
            for (const cJSON *c = choices ? choices->child : NULL; c; c = c->next)
                if (!cJSON_IsNumber(c))
                    return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective: the choices of %.64s must be numbers",
                                p->name);
        }
        return 0;
    }
    if (strcmp(p->name, "batch") == 0 || strcmp(p->name, "width") == 0 || strcmp(p->name, "depth") == 0) {
        if (p->kind == HPO_FLOAT || (p->kind == HPO_CATEGORICAL && !choices_are(choices, 0)) ||
            (p->kind == HPO_INT && (p->low < 1 || p->high > 8192)))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "objective: %.64s must be an int or a categorical of integers in [1, 8192]", p->name);
        return 0;
    }
    if (strcmp(p->name, "architecture") == 0) {
        if (p->kind != HPO_CATEGORICAL || !choices_are(choices, 1))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "objective: architecture must be a categorical of small, medium, large");
        if (has_width)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective: the space sets the width twice (architecture, width)");
        return 0;
    }
    return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                "objective: parameter %.64s is neither a hyperparameter of optimizer %s nor batch, width, depth or "
                "architecture",
                p->name, vt->name);
}

/* "objective": {"meta", "score", "report_every"} (study_meta.h). */
static int parse_meta(study_objective *o, const cJSON *v, const hpo_space *space, cJSON *const *choices, char *msg,
                      size_t cap)
{
    for (const cJSON *m = v->child; m; m = m->next) {
        if (!strcmp(m->string, "meta") || !strcmp(m->string, "score") || !strcmp(m->string, "report_every")) continue;
        if (!strcmp(m->string, "task") || !strcmp(m->string, "steps") || !strcmp(m->string, "optimizer") ||
            !strcmp(m->string, "seeds") || !strcmp(m->string, "report"))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "objective.%.64s is a built-in task's: it does not go with objective.meta", m->string);
        return err_failf(msg, cap, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\" in objective", m->string);
    }
    int rc = study_meta_parse(&o->meta, cJSON_GetObjectItemCaseSensitive(v, "meta"),
                              cJSON_GetObjectItemCaseSensitive(v, "score"), space, choices, msg, cap);
    if (rc) return rc;
    o->report_every = 1;
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(v, "report_every");
    if (re && jsonwalk_int(re, 1, META_MAX_OUTER_STEPS, &o->report_every))
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.report_every must be an integer in [1, %d]",
                    META_MAX_OUTER_STEPS);
    o->is_meta = 1;
    o->given = 1;
    return 0;
}

int study_objective_parse(study_objective *o, const cJSON *v, const hpo_space *space, cJSON *const *choices,
                          char *msg, size_t cap)
{
    memset(o, 0, sizeof *o);
    if (!cJSON_IsObject(v)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective must be an object");
    if (jsonwalk_has_duplicate(v)) return err_failf(msg, cap, ERR_INVALID_JSON, "objective names a member twice");
    if (cJSON_GetObjectItemCaseSensitive(v, "meta")) return parse_meta(o, v, space, choices, msg, cap);
    for (const cJSON *m = v->child; m; m = m->next)
        if (strcmp(m->string, "task") && strcmp(m->string, "steps") && strcmp(m->string, "optimizer") &&
            strcmp(m->string, "seeds") && strcmp(m->string, "report") && strcmp(m->string, "report_every"))
            return err_failf(msg, cap, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\" in objective", m->string);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "task");
    if (!t) return err_failf(msg, cap, ERR_MISSING_FIELD, "objective.task is required");
    if (!cJSON_IsString(t) || strlen(t->valuestring) >= META_TASK_TEXT)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.task must be a task text of at most %d bytes",
                    META_TASK_TEXT - 1);
    /* blanks collapsed: the stored text reads back as the same task */
    size_t k = 0;
    for (const char *s = t->valuestring; *s; s++) {
        int blank = *s == ' ' || *s == '\t';
        if (blank && (k == 0 || o->task_text[k - 1] == ' ')) continue;
        o->task_text[k++] = blank ? ' ' : *s;
    }
    while (k && o->task_text[k - 1] == ' ') k--;
    o->task_text[k] = '\0';
    char m2[200];
    int rc = meta_task_parse(o->task_text, &o->task, m2, sizeof m2);
    if (rc) return err_failf(msg, cap, rc, "objective.task: %s", m2);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "steps");
    if (!s) return err_failf(msg, cap, ERR_MISSING_FIELD, "objective.steps is required");
    if (jsonwalk_int(s, 1, STUDY_OBJ_MAX_STEPS, &o->steps))
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.steps must be an integer in [1, %d]", STUDY_OBJ_MAX_STEPS);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(v, "optimizer");
    const char *oname = "adam";
    if (op && (!cJSON_IsString(op) || !op->valuestring[0]))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.optimizer must be an optimizer's name");
    if (op) oname = op->valuestring;
    const opt_vtbl *vt = opt_find(oname);
    if (!vt || strlen(oname) >= OPT_NAME_MAX)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.optimizer \"%.48s\" is not an optimizer", oname);
    snprintf(o->optimizer, sizeof o->optimizer, "%s", oname);
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(v, "seeds");
    if (sd) {
        int n = cJSON_IsArray(sd) ? cJSON_GetArraySize(sd) : -1;
        if (n < 1 || n > STUDY_OBJ_MAX_SEEDS)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.seeds must be an array of 1 to %d seeds",
                        STUDY_OBJ_MAX_SEEDS);
        int i = 0;
        for (const cJSON *e = sd->child; e; e = e->next, i++) {
            int64_t x;
            if (jsonwalk_int(e, 0, 2147483647.0, &x))
                return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.seeds: each an integer in [0, 2^31 - 1]");
            o->seeds[i] = (uint64_t)x;
        }
        o->nseeds = n;
    } else o->nseeds = 1;   /* seed 0 */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(v, "report");
    if (rp) {
        if (!cJSON_IsString(rp) || (strcmp(rp->valuestring, "train") && strcmp(rp->valuestring, "heldout")))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.report must be train or heldout");
        o->report_heldout = rp->valuestring[0] == 'h';
    }
    o->report_every = 1;
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(v, "report_every");
    if (re && jsonwalk_int(re, 1, (double)o->steps, &o->report_every))
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.report_every must be an integer in [1, steps]");
    int has_width = 0;
    for (int i = 0; i < space->n; i++) has_width |= strcmp(space->p[i].name, "width") == 0;
    for (int i = 0; i < space->n; i++)
        if ((rc = check_param(vt, o->task.family, &space->p[i], choices[i], has_width, msg, cap))) return rc;
    o->given = 1;
    return 0;
}

int study_objective_check(const study_objective *o, const hpo_space *space, cJSON *const *choices,
                          int64_t max_trials, int direction, char *msg, size_t cap)
{
    if (!o->given || !o->is_meta) return 0;
    if (direction != 1)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                    "direction must be minimize with objective.meta (its meta-losses and scores are better lower)");
    return study_meta_check(&o->meta, space, choices, max_trials, msg, cap);
}

cJSON *study_objective_to_json(const study_objective *o)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    if (o->is_meta) {
        if (study_meta_to_json(&o->meta, j)) {
            cJSON_Delete(j);
            return NULL;
        }
        cJSON_AddNumberToObject(j, "report_every", (double)o->report_every);
        return j;
    }
    cJSON_AddStringToObject(j, "task", o->task_text);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddStringToObject(j, "optimizer", o->optimizer);
    cJSON *a = cJSON_AddArrayToObject(j, "seeds");
    for (int i = 0; a && i < o->nseeds; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)o->seeds[i]));
    if (!a) {
        cJSON_Delete(j);
        return NULL;
    }
    cJSON_AddStringToObject(j, "report", o->report_heldout ? "heldout" : "train");
    cJSON_AddNumberToObject(j, "report_every", (double)o->report_every);
    return j;
}

/* A positive integer value of params[name] into *out (1 .. hi); 0 when absent. */
static int size_of(const cJSON *params, const char *name, int hi, int *out, char *msg, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
    if (!v) return 0;
    int64_t x;
    if (jsonwalk_int(v, 1, hi, &x)) return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s must be an integer in [1, %d]", name, hi);
    *out = (int)x;
    return 0;
}

int study_objective_apply(const study_objective *o, const cJSON *params, opt_config *cfg, task_params *tp,
                          char *msg, size_t cap)
{
    *tp = o->task.params;
    int rc = opt_config_defaults(cfg, o->optimizer);
    if (rc) return err_failf(msg, cap, rc, "optimizer %s: %s", o->optimizer, err_message(rc));
    const opt_vtbl *vt = opt_find(o->optimizer);
    for (const cJSON *p = params ? params->child : NULL; p; p = p->next) {
        if (opt_hparam_index(vt, p->string) < 0) continue;
        if (!cJSON_IsNumber(p) || opt_config_set(cfg, p->string, p->valuedouble) != 0)
            return err_failf(msg, cap, ERR_OUT_OF_RANGE, "hyperparameter %.64s is outside optimizer %s's range",
                        p->string, o->optimizer);
    }
    if ((rc = size_of(params, "batch", 8192, &tp->batch, msg, cap)) ||
        (rc = size_of(params, "width", 4096, &tp->width, msg, cap)) ||
        (rc = size_of(params, "depth", 64, &tp->depth, msg, cap)))
        return rc;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(params, "architecture");
    if (a) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (cJSON_IsString(a) && strcmp(a->valuestring, ARCHS[i]) == 0) k = i;
        if (k < 0) return err_failf(msg, cap, ERR_OUT_OF_RANGE, "architecture must be small, medium or large");
        int base = o->task.params.width ? o->task.params.width : STUDY_OBJ_BASE_WIDTH;
        int w = k == 0 ? base / 2 : k == 1 ? base : base * 2;
        tp->width = w < 1 ? 1 : w;
    }
    return 0;
}

int study_objective_parse_trial(study_objective *o, const cJSON *v, const cJSON *params, char *msg, size_t cap)
{
    memset(o, 0, sizeof *o);
    if (!cJSON_IsObject(params)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "params must be an object");
    if (jsonwalk_has_duplicate(params)) return err_failf(msg, cap, ERR_INVALID_JSON, "params names a member twice");
    if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "meta"))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.meta: only a built-in task's objective runs here");
    hpo_space space;
    cJSON *choices[HPO_MAX_PARAMS] = {0};
    memset(&space, 0, sizeof space);
    int rc = 0;
    for (const cJSON *p = params->child; p && !rc; p = p->next) {
        if (space.n == HPO_MAX_PARAMS) {
            rc = err_failf(msg, cap, ERR_OUT_OF_RANGE, "params: at most %d parameters", HPO_MAX_PARAMS);
            break;
        }
        hpo_param *q = &space.p[space.n];
        if (strlen(p->string) > HPO_NAME_MAX) {
            rc = err_failf(msg, cap, ERR_INVALID_ARGUMENT, "params: a name of at most %d bytes", HPO_NAME_MAX);
            break;
        }
        snprintf(q->name, sizeof q->name, "%s", p->string);
        int size = !strcmp(p->string, "batch") || !strcmp(p->string, "width") || !strcmp(p->string, "depth");
        if (cJSON_IsNumber(p) && isfinite(p->valuedouble)) {
            q->kind = size ? HPO_INT : HPO_FLOAT;
            q->low = q->high = p->valuedouble;
            q->step = size ? 1 : 0;
        } else if (cJSON_IsString(p)) {
            q->kind = HPO_CATEGORICAL;
            q->nchoices = 1;
            choices[space.n] = cJSON_CreateArray();
            cJSON *c = cJSON_CreateString(p->valuestring);
            if (!choices[space.n] || !c) {
                cJSON_Delete(c);
                rc = err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
                space.n++;
                break;
            }
            cJSON_AddItemToArray(choices[space.n], c);
        } else {
            rc = err_failf(msg, cap, ERR_INVALID_ARGUMENT, "params.%.64s must be a finite number or a string", p->string);
            break;
        }
        space.n++;
    }
    if (!rc) rc = study_objective_parse(o, v, &space, choices, msg, cap);
    for (int i = 0; i < space.n; i++) cJSON_Delete(choices[i]);
    return rc;
}
