/* study_run.c — see study_run.h. */
#include "study_run.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "meta_weights.h"
#include "rng.h"
#include "store_studies.h"
#include "study_spec.h"
#include "tasks.h"

/* One seed's run of a trial. */
typedef struct run {
    task  *tk;
    opt    o;
    int    o_ok;
    float *p, *g, *u;
    rng    r;
} run;

/* A trial being trained: a built-in task's runs, or a meta-training job. */
typedef struct slot {
    int      active;
    int64_t  number;
    int64_t  step;          /* steps taken (outer steps of a meta-training trial) */
    int64_t  steps;         /* the trial's steps */
    uint64_t bytes;
    run      runs[STUDY_OBJ_MAX_SEEDS];
    study_meta_trial *mt;
} slot;

static void slot_free(slot *s, const study_objective *ob, uint64_t *live)
{
    study_meta_trial_free(s->mt);
    for (int i = 0; i < ob->nseeds; i++) {
        run *r = &s->runs[i];
        if (r->o_ok) opt_deinit(&r->o);
        free(r->p);
        free(r->g);
        free(r->u);
        task_free(r->tk);
    }
    *live -= s->bytes;
    memset(s, 0, sizeof *s);
}

/* Sets up slot s for trial `number` with `params`; *live: the bytes the
 * run's trials hold.  ERR_* with msg: the trial cannot run. */
static int slot_setup(slot *s, const study_objective *ob, int64_t number, const cJSON *params, uint64_t *live,
                      char *msg, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->active = 1;
    s->number = number;
    s->steps = ob->steps;
    if (ob->is_meta) {
        int rc = study_meta_trial_new(&ob->meta, params, STUDY_RUN_MAX_BYTES - *live, &s->mt, &s->bytes, msg, cap);
        if (!rc) s->steps = study_meta_trial_steps(s->mt);
        *live += s->bytes;
        return rc;
    }
    opt_config cfg;
    task_params tp;
    int rc = study_objective_apply(ob, params, &cfg, &tp, msg, cap);
    cfg.total_steps = ob->steps;
    const opt_vtbl *vt = opt_find(ob->optimizer);
    if (!rc && !vt) rc = err_failf(msg, cap, ERR_UNKNOWN_OPTIMIZER, "optimizer %s is unknown", ob->optimizer);
    for (int i = 0; !rc && i < ob->nseeds; i++) {
        run *r = &s->runs[i];
        uint64_t seed = ob->seeds[i];
        if ((rc = task_create(ob->task.family, &tp, seed, &r->tk))) {
            err_failf(msg, cap, rc, "task %s: %s", ob->task_text, tasks_last_error());
            break;
        }
        uint64_t ob_bytes = 0;
        /* a learned optimizer builds from the weights table (meta_weights.h) */
        int learned = vt->kind != OPT_KIND_CLASSIC;
        if (learned) meta_weights_lock();
        rc = opt_bytes(&cfg, &r->tk->lay, &ob_bytes);
        if (learned) meta_weights_unlock();
        if (rc) {
            err_failf(msg, cap, rc, "optimizer %s: %s", ob->optimizer, err_message(rc));
            break;
        }
        uint64_t b = opt_bytes_add(opt_bytes_mul(r->tk->n, 3 * sizeof(float)), ob_bytes);
        if (*live + s->bytes + b > STUDY_RUN_MAX_BYTES) {
            rc = err_failf(msg, cap, ERR_OUT_OF_RANGE, "the study's trials at once would take more than %llu bytes",
                      (unsigned long long)STUDY_RUN_MAX_BYTES);
            break;
        }
        s->bytes += b;
        r->p = malloc(r->tk->n * sizeof(float));
        r->g = malloc(r->tk->n * sizeof(float));
        r->u = malloc(r->tk->n * sizeof(float));
        if (!r->p || !r->g || !r->u) {
            rc = err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
            break;
        }
        if (learned) meta_weights_lock();
        rc = opt_init(&r->o, &cfg, &r->tk->lay);
        if (learned) meta_weights_unlock();
        if (rc) {
            err_failf(msg, cap, rc, "optimizer %s: %s", ob->optimizer, err_message(rc));
            break;
        }
        r->o_ok = 1;
        /* as the evaluation suite runs a seed (evalsuite.h): init from the
         * seed, minibatches from seed + 1 */
        task_init_params(r->tk, seed, r->p);
        rng_seed(&r->r, seed + 1);
    }
    *live += s->bytes;
    return rc;
}

/* One step of every seed's run: the mean minibatch loss (NAN: non-finite). */
static double slot_step(slot *s, const study_objective *ob, int64_t *steps)
{
    if (s->mt) {   /* one outer step: its meta-loss */
        double loss;
        if (study_meta_trial_step(s->mt, &loss) || !isfinite(loss)) return NAN;
        (*steps)++;
        s->step++;
        return loss;
    }
    double sum = 0;
    for (int i = 0; i < ob->nseeds; i++) {
        run *r = &s->runs[i];
        double loss = task_loss_grad(r->tk, r->p, r->g, &r->r);
        if (!isfinite(loss)) return NAN;
        step_info info = {.loss = loss};
        if (opt_step(&r->o, r->p, r->g, r->u, &info)) return NAN;
        (*steps)++;
        sum += loss;
    }
    s->step++;
    return sum / ob->nseeds;
}

static double slot_value(slot *s, const study_objective *ob)
{
    if (s->mt) {   /* the score on the named subset */
        double v;
        char m[300];
        return study_meta_trial_score(s->mt, &ob->meta, &v, m, sizeof m) ? NAN : v;
    }
    double sum = 0;
    for (int i = 0; i < ob->nseeds; i++) sum += task_eval_loss(s->runs[i].tk, s->runs[i].p);
    return sum / ob->nseeds;
}

int study_run_trial(const study_objective *ob, const cJSON *params, double *value, int64_t *failed_step, char *msg,
                    size_t cap)
{
    *value = NAN;
    *failed_step = 0;
    if (!ob->given || ob->is_meta)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "only a built-in task's objective runs as one trial");
    slot s;
    uint64_t live = 0;
    int64_t nsteps = 0;
    int rc = slot_setup(&s, ob, 0, params, &live, msg, cap);
    /* study_run's loop for one trial (no pruner): a held-out value
     * evaluated on the way leaves the parameters as they are */
    while (!rc && !*failed_step) {
        if (!isfinite(slot_step(&s, ob, &nsteps))) {
            *failed_step = s.step + 1;
            break;
        }
        int last = s.step >= s.steps;
        if (s.step % ob->report_every && !last) continue;
        double v = last || ob->report_heldout ? slot_value(&s, ob) : NAN;
        if (!isfinite(v) && (last || ob->report_heldout)) *failed_step = s.step;
        else if (last) {
            *value = v;
            break;
        }
    }
    slot_free(&s, ob, &live);
    return rc;
}

/* Ends trial s as `state` ("complete" with value, or "failed"). */
static int tell(study_svc *sv, const char *tenant, const char *id, slot *s, const char *state, double value)
{
    cJSON *out = NULL;
    char m[200];
    int rc = study_tell(sv, tenant, id, s->number, state, value, &out, m, sizeof m);
    cJSON_Delete(out);
    return rc == ERR_TRIAL_FINISHED ? 0 : rc;   /* lost meanwhile, or told by a client: nothing to do */
}

static void nap(void)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

int study_run(study_svc *sv, const char *tenant, const char *id, const _Atomic int *cancel, study_run_stats *st,
              char *msg, size_t cap)
{
    memset(st, 0, sizeof *st);
    study_objective ob;
    int64_t parallel;
    int rc = study_objective_of(sv, tenant, id, &ob, &parallel, msg, cap);
    if (rc) return rc;
    if (!ob.given) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "study %s has no objective", id);
    if (parallel > STUDY_MAX_PARALLEL) parallel = STUDY_MAX_PARALLEL;
    slot *slots = calloc((size_t)parallel, sizeof *slots);
    if (!slots) return err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
    uint64_t live = 0;
    int exhausted = 0;
    while (!rc) {
        if (atomic_load(cancel)) {
            st->cancelled = 1;
            break;
        }
        /* fill the free slots */
        int busy = 0, waiting = 0;
        for (int64_t k = 0; k < parallel && !rc; k++) {
            if (slots[k].active) {
                busy++;
                continue;
            }
            if (exhausted || waiting) continue;
            cJSON *t = NULL;
            char m[300];
            int a = study_ask(sv, tenant, id, &t, m, sizeof m);
            if (a == ERR_STUDY_EXHAUSTED) exhausted = 1;
            else if (a == ERR_STUDY_PARALLEL_LIMIT) waiting = 1;   /* a client's trials hold the slots */
            else if (a) rc = err_failf(msg, cap, a, "%s", m);
            else {
                st->trials++;
                int64_t number = (int64_t)cJSON_GetObjectItemCaseSensitive(t, "trial")->valuedouble;
                const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "params");
                if (slot_setup(&slots[k], &ob, number, params, &live, m, sizeof m)) {
                    rc = tell(sv, tenant, id, &slots[k], "failed", NAN);
                    slot_free(&slots[k], &ob, &live);
                } else busy++;
            }
            cJSON_Delete(t);
        }
        if (rc) break;
        if (!busy) {
            if (exhausted) break;
            nap();   /* only a client's running trials: wait for a slot (or their loss) */
            continue;
        }
        /* one step of each trial, in slot order */
        for (int64_t k = 0; k < parallel && !rc; k++) {
            slot *s = &slots[k];
            if (!s->active) continue;
            double loss = slot_step(s, &ob, &st->steps);
            if (!isfinite(loss)) {
                rc = tell(sv, tenant, id, s, "failed", NAN);
                slot_free(s, &ob, &live);
                continue;
            }
            int last = s->step >= s->steps;
            if (s->step % ob.report_every && !last) continue;
            int heldout = ob.report_heldout && !ob.is_meta;
            double v = last || heldout ? slot_value(s, &ob) : NAN;   /* the final value too */
            if (heldout) loss = v;
            if (!isfinite(loss)) {
                rc = tell(sv, tenant, id, s, "failed", NAN);
                slot_free(s, &ob, &live);
                continue;
            }
            int prune = 0;
            char m[300];
            int r = study_report(sv, tenant, id, s->number, s->step, loss, &prune, m, sizeof m);
            if (r == ERR_TRIAL_FINISHED || (!r && prune)) {   /* pruned, or lost / told meanwhile */
                slot_free(s, &ob, &live);
                continue;
            }
            if (r) {
                rc = err_failf(msg, cap, r, "%s", m);
                break;
            }
            if (last) {
                rc = tell(sv, tenant, id, s, isfinite(v) ? "complete" : "failed", v);
                slot_free(s, &ob, &live);
            }
        }
    }
    /* cancelled (a delete, a shutdown) or stopped: the trials it ran stay
     * running and become lost after the heartbeat timeout, which gives their
     * budget back to a later run */
    for (int64_t k = 0; k < parallel; k++)
        if (slots[k].active) slot_free(&slots[k], &ob, &live);
    free(slots);
    if (rc == ERR_NOT_FOUND) err_failf(msg, cap, rc, "study %s was deleted", id);
    return rc;
}

/* ---- resumption after a restart ------------------------------------------------------- */

typedef struct found {
    int   n, cap, oom;
    char (*id)[64];
    char (*tenant)[128];
} found;

/* Collects the studies whose stored request has an objective. */
static int found_cb(void *ctx, const store_study_row *r)
{
    found *f = ctx;
    cJSON *j = r->spec_json ? cJSON_Parse(r->spec_json) : NULL;
    int has = cJSON_GetObjectItemCaseSensitive(j, "objective") != NULL;
    cJSON_Delete(j);
    if (!has || strlen(r->id) >= sizeof f->id[0] || strlen(r->tenant ? r->tenant : "") >= sizeof f->tenant[0])
        return 0;
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        void *a = realloc(f->id, sizeof f->id[0] * (size_t)cap), *b = a ? realloc(f->tenant, sizeof f->tenant[0] * (size_t)cap) : NULL;
        if (a) f->id = a;
        if (b) f->tenant = b;
        if (!a || !b) {
            f->oom = 1;
            return 1;
        }
        f->cap = cap;
    }
    snprintf(f->id[f->n], sizeof f->id[0], "%s", r->id);
    snprintf(f->tenant[f->n], sizeof f->tenant[0], "%s", r->tenant ? r->tenant : "");
    f->n++;
    return 0;
}

/* 1 when study id has fewer than max_trials trials that are not lost. */
static int unfinished(study_svc *sv, const char *id, char *msg, size_t cap, int *rc)
{
    cJSON *g = NULL, *t = NULL;
    *rc = study_get(sv, NULL, id, &g, msg, cap);
    if (!*rc) *rc = study_trials(sv, NULL, id, &t, msg, cap);
    int64_t counted = 0;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(t, "trials");
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "state");
        counted += !(cJSON_IsString(st) && strcmp(st->valuestring, "lost") == 0);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(g, "max_trials");
    int r = !*rc && cJSON_IsNumber(mt) && (double)counted < mt->valuedouble;
    cJSON_Delete(g);
    cJSON_Delete(t);
    return r;
}

int study_run_resumable(study_svc *sv, store *db, int (*resume)(void *ctx, const char *id, const char *tenant),
                        void *ctx, int *n, char *msg, size_t cap)
{
    *n = 0;
    found f = {0};
    int rc = store_studies_list(db, NULL, INT_MAX, found_cb, &f);
    if (!rc && f.oom) rc = ERR_NO_MEMORY;
    if (rc) err_failf(msg, cap, rc, "cannot list the studies: %s", err_message(rc));
    /* oldest first: the order they were queued in before */
    int first = 0;   /* one study's error does not keep the others from resuming */
    for (int i = rc ? -1 : f.n - 1; i >= 0; i--) {
        int lost = 0;
        char m[300];
        int e = study_lose_running(sv, NULL, f.id[i], &lost, m, sizeof m);
        if (e == ERR_NOT_FOUND) continue;   /* deleted meanwhile */
        if (!e && unfinished(sv, f.id[i], m, sizeof m, &e) && !e) {
            e = resume(ctx, f.id[i], f.tenant[i]);
            if (!e) (*n)++;
            else snprintf(m, sizeof m, "%s", err_message(e));
        }
        if (e && !first) first = err_failf(msg, cap, e, "study %s: %s", f.id[i], m);
    }
    free(f.id);
    free(f.tenant);
    return rc ? rc : first;
}
