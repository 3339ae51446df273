/* study_meta.c — a study's meta-training objective and one trial's run.
 * See study_meta.h. */
#include "study_meta.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonwalk.h"
#include "meta_run.h"
#include "meta_score.h"
#include "study_run.h"

/* The keys of a meta-training request that concern the weights record a
 * trial never stores (refused in "meta" and in the space). */
static const char *const RECORD_KEYS[] = {"name",             "domain",           "checkpoint_every", "keep_checkpoints",
                                          "stage_eval_steps", "stage_eval_seeds", "threads",          NULL};

static int record_key(const char *k)
{
    for (int i = 0; RECORD_KEYS[i]; i++)
        if (strcmp(k, RECORD_KEYS[i]) == 0) return 1;
    return 0;
}

/* Checks one space parameter against the numeric keys of meta_spec. */
static int check_param(const hpo_param *p, const cJSON *choices, char *msg, size_t cap)
{
    double lo, hi;
    int integral;
    if (record_key(p->name) || !meta_spec_num_key(p->name, &lo, &hi, &integral))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                    "objective: parameter %.64s is not a numeric meta-training key a trial can set (outer_lr, sigma, "
                    "unroll, particles, hidden, ...)",
                    p->name);
    if (p->kind == HPO_FLOAT && integral)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective: parameter %.64s takes integers: make it an int",
                    p->name);
    if (p->kind != HPO_CATEGORICAL) {
        if (p->low < lo || p->high > hi)
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective: parameter %.64s must lie within [%g, %g]", p->name,
                        lo, hi);
        return 0;
    }
    for (const cJSON *c = choices ? choices->child : NULL; c; c = c->next)
        if (!cJSON_IsNumber(c) || c->valuedouble < lo || c->valuedouble > hi ||
            (integral && c->valuedouble != floor(c->valuedouble)))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective: the choices of %.64s must be %s in [%g, %g]",
                        p->name, integral ? "integers" : "numbers", lo, hi);
    return 0;
}

static int parse_score(study_meta *m, const cJSON *score, char *msg, size_t cap)
{
    m->score_tasks = META_SCORE_SELECTION_N;
    m->score_horizon = 100;
    m->score_seeds = 2;
    if (!score) return 0;
    if (!cJSON_IsObject(score)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.score must be an object");
    if (jsonwalk_has_duplicate(score)) return err_failf(msg, cap, ERR_INVALID_JSON, "objective.score names a member twice");
    for (const cJSON *e = score->child; e; e = e->next) {
        int64_t v;
        if (strcmp(e->string, "suite") == 0) {
            if (!cJSON_IsString(e) || strcmp(e->valuestring, "selection") != 0)
                return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.score.suite must be selection");
        } else if (strcmp(e->string, "tasks") == 0) {
            if (jsonwalk_int(e, 1, META_SCORE_SELECTION_N, &v))
                return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.score.tasks must be an integer in [1, %d]",
                            META_SCORE_SELECTION_N);
            m->score_tasks = (int)v;
        } else if (strcmp(e->string, "horizon") == 0) {
            if (jsonwalk_int(e, 1, STUDY_META_MAX_HORIZON, &v))
                return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.score.horizon must be an integer in [1, %d]",
                            STUDY_META_MAX_HORIZON);
            m->score_horizon = (int)v;
        } else if (strcmp(e->string, "seeds") == 0) {
            if (jsonwalk_int(e, 1, STUDY_META_MAX_SEEDS, &v))
                return err_failf(msg, cap, ERR_OUT_OF_RANGE, "objective.score.seeds must be an integer in [1, %d]",
                            STUDY_META_MAX_SEEDS);
            m->score_seeds = (int)v;
        } else
            return err_failf(msg, cap, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\" in objective.score", e->string);
    }
    return 0;
}

int study_meta_parse(study_meta *m, const cJSON *meta, const cJSON *score, const hpo_space *space,
                     cJSON *const *choices, char *msg, size_t cap)
{
    memset(m, 0, sizeof *m);
    meta_spec_defaults(&m->ms);
    if (!cJSON_IsObject(meta)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "objective.meta must be an object");
    for (const cJSON *e = meta->child; e; e = e->next)
        if (record_key(e->string))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT,
                        "objective.meta.%.64s: a trial stores no weights record and runs on the study's one thread",
                        e->string);
    char m2[300];
    int rc = meta_spec_from_json(&m->ms, meta, m2, sizeof m2);
    if (rc) return err_failf(msg, cap, rc, "objective.meta: %s", m2);
    if ((rc = parse_score(m, score, msg, cap))) return rc;
    for (int i = 0; i < space->n; i++)
        if ((rc = check_param(&space->p[i], choices[i], msg, cap))) return rc;
    return 0;
}

int study_meta_to_json(const study_meta *m, cJSON *obj)
{
    cJSON *j = meta_spec_to_json(&m->ms);
    if (!j) return ERR_NO_MEMORY;
    for (int i = 0; RECORD_KEYS[i]; i++) cJSON_DeleteItemFromObjectCaseSensitive(j, RECORD_KEYS[i]);
    cJSON_AddItemToObject(obj, "meta", j);
    cJSON *s = cJSON_AddObjectToObject(obj, "score");
    if (!s) return ERR_NO_MEMORY;
    cJSON_AddStringToObject(s, "suite", "selection");
    cJSON_AddNumberToObject(s, "tasks", m->score_tasks);
    cJSON_AddNumberToObject(s, "horizon", m->score_horizon);
    cJSON_AddNumberToObject(s, "seeds", m->score_seeds);
    return 0;
}

/* The value of space parameter p at its lowest (hi 0) or highest end. */
static double end_of(const hpo_param *p, const cJSON *choices, int hi)
{
    if (p->kind != HPO_CATEGORICAL) return hi ? p->high : p->low;
    double v = NAN;
    for (const cJSON *c = choices ? choices->child : NULL; c; c = c->next)
        if (isnan(v) || (hi ? c->valuedouble > v : c->valuedouble < v)) v = c->valuedouble;
    return v;
}

/* The largest value of numeric key `key`: the base's (base) or the space's. */
static double largest(const hpo_space *space, cJSON *const *choices, const char *key, double base)
{
    for (int i = 0; i < space->n; i++)
        if (strcmp(space->p[i].name, key) == 0) {
            double v = end_of(&space->p[i], choices[i], 1);
            return v > base ? v : base;
        }
    return base;
}

static int set_num(meta_spec *ms, const char *key, double v, char *msg, size_t cap)
{
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    return meta_spec_set(ms, key, text, msg, cap);
}

/* ERR_OUT_OF_RANGE when the particles of checked request ms alone take
 * more than a run's trials may (STUDY_RUN_MAX_BYTES): its trials would fail. */
static int fits_a_run(const meta_spec *ms, const char *what, char *msg, size_t cap)
{
    uint64_t b = 0;
    char m2[300];
    int rc = meta_spec_job_bytes(ms, &b, m2, sizeof m2);
    if (rc) return err_failf(msg, cap, rc, "%s: %s", what, m2);
    if (b > STUDY_RUN_MAX_BYTES)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE,
                    "%s: a trial's particles would take %.1f MiB, more than the %llu MiB a study's run holds",
                    what, (double)b / (1 << 20), (unsigned long long)(STUDY_RUN_MAX_BYTES >> 20));
    return 0;
}

int study_meta_check(const study_meta *m, const hpo_space *space, cJSON *const *choices, int64_t max_trials,
                     char *msg, size_t cap)
{
    char m2[300];
    meta_spec *probe = malloc(sizeof *probe);
    if (!probe) return err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
    *probe = m->ms;
    int rc = meta_spec_check(probe, m2, sizeof m2);
    if (!rc) rc = meta_run_check_weights(probe, m2, sizeof m2);
    if (rc) err_failf(msg, cap, rc, "objective.meta: %s", m2);
    if (!rc) rc = fits_a_run(probe, "objective.meta", msg, cap);
    for (int i = 0; !rc && i < space->n; i++)
        for (int hi = 0; !rc && hi < 2; hi++) {
            *probe = m->ms;
            double v = end_of(&space->p[i], choices[i], hi);
            char what[128];
            snprintf(what, sizeof what, "objective: parameter %.64s = %g", space->p[i].name, v);
            if (set_num(probe, space->p[i].name, v, m2, sizeof m2) || meta_spec_check(probe, m2, sizeof m2))
                rc = err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s cannot meta-train: %s", what, m2);
            else rc = fits_a_run(probe, what, msg, cap);
        }
    free(probe);
    if (rc) return rc;
    const meta_config *c = &m->ms.mc;
    double steps = largest(space, choices, "outer_steps", (double)m->ms.outer_steps);
    double particles = largest(space, choices, "particles", c->nparticles);
    double unroll = largest(space, choices, "unroll", c->unroll);
    double inner = largest(space, choices, "maml_inner_steps", c->maml_inner_steps);
    double per = steps * particles * 2 * unroll * (inner > 1 ? inner : 1) +
                 (double)m->score_tasks * m->score_seeds * m->score_horizon;
    double total = (double)max_trials * per;
    if (total > STUDY_META_MAX_INNER_STEPS)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE,
                    "objective: max_trials × (outer_steps × particles × 2 × unroll + the score's tasks × seeds × "
                    "horizon) = %.4g inner steps, more than the %.4g a study may take (fewer trials or shorter runs)",
                    total, STUDY_META_MAX_INNER_STEPS);
    return 0;
}

int study_meta_apply(const study_meta *m, const cJSON *params, meta_spec *out, char *msg, size_t cap)
{
    *out = m->ms;
    char m2[300];
    for (const cJSON *p = params ? params->child : NULL; p; p = p->next) {
        if (!cJSON_IsNumber(p)) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "parameter %.64s is not a number", p->string);
        int rc = set_num(out, p->string, p->valuedouble, m2, sizeof m2);
        if (rc) return err_failf(msg, cap, rc, "%s", m2);
    }
    int rc = meta_spec_check(out, m2, sizeof m2);
    return rc ? err_failf(msg, cap, rc, "%s", m2) : 0;
}

/* ---- one trial's run -------------------------------------------------------------- */

struct study_meta_trial {
    meta_spec ms;
    meta_job *j;
};

int study_meta_trial_new(const study_meta *m, const cJSON *params, uint64_t room, study_meta_trial **out,
                         uint64_t *bytes, char *msg, size_t cap)
{
    *out = NULL;
    *bytes = 0;
    study_meta_trial *t = calloc(1, sizeof *t);
    if (!t) return err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
    int rc = study_meta_apply(m, params, &t->ms, msg, cap);
    uint64_t b = 0;
    if (!rc) rc = meta_spec_job_bytes(&t->ms, &b, msg, cap);
    if (!rc && b > room)
        rc = err_failf(msg, cap, ERR_OUT_OF_RANGE, "the trial's particles would take %llu bytes, more than the %llu left",
                  (unsigned long long)b, (unsigned long long)room);
    if (!rc) rc = meta_run_job_new(&t->ms, &t->j, msg, cap);
    if (rc) {
        study_meta_trial_free(t);
        return rc;
    }
    *bytes = b;
    *out = t;
    return 0;
}

int64_t study_meta_trial_steps(const study_meta_trial *t) { return t->ms.outer_steps; }

int study_meta_trial_step(study_meta_trial *t, double *loss)
{
    meta_report rep;
    int rc = meta_run_step(&t->ms, t->j, 1, &rep);
    *loss = rc ? NAN : rep.meta_loss;
    return rc;
}

int study_meta_trial_score(const study_meta_trial *t, const study_meta *m, double *value, char *msg, size_t cap)
{
    return meta_score_selection_of(&t->ms.mc, meta_job_weights(t->j)->theta, m->score_tasks, m->score_horizon,
                                   m->score_seeds, value, msg, cap);
}

void study_meta_trial_free(study_meta_trial *t)
{
    if (!t) return;
    meta_job_free(t->j);
    free(t);
}
