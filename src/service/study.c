/* study.c — the study service: each call reads the study and its trials
 * from the store, marks stale trials lost, decides with core (hpo.h) and
 * commits its change before it answers.  See study.h. */
#include "study.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "errors.h"
#include "hpo.h"
#include "study_store.h"
#include "study_spec.h"

struct study_svc {
    study_store     ss;               /* SQLite or the cluster's PostgreSQL (study_store.h) */
    int64_t         hb_ms;
    int64_t       (*now)(void);
    pthread_mutex_t mu;
};

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int study_svc_new(study_store ss, int64_t heartbeat_ms, int64_t (*now_ms)(void), study_svc **out)
{
    *out = NULL;
    if (!ss.ops || !ss.ctx || heartbeat_ms <= 0) return ERR_INVALID_ARGUMENT;
    study_svc *sv = calloc(1, sizeof *sv);
    if (!sv) return ERR_NO_MEMORY;
    sv->ss = ss;
    sv->hb_ms = heartbeat_ms;
    sv->now = now_ms ? now_ms : real_now_ms;
    pthread_mutex_init(&sv->mu, NULL);
    *out = sv;
    return 0;
}

void study_svc_free(study_svc *sv)
{
    if (!sv) return;
    pthread_mutex_destroy(&sv->mu);
    free(sv);
}

/* An operation of the study store (study_store.h). */
#define SS(op, ...) sv->ss.ops->op(sv->ss.ctx, __VA_ARGS__)

/* A unit of work on study id: the service's mutex, then the store's hold
 * (study_store.h: in a cluster, the study's row locked in a transaction).
 * 0, or the hold's error with the message set and nothing held. */
static int begin(study_svc *sv, const char *id, char *msg, size_t cap)
{
    pthread_mutex_lock(&sv->mu);
    int rc = SS(hold, id);
    if (rc) {
        pthread_mutex_unlock(&sv->mu);
        return err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    return 0;
}

/* Ends begin's unit of work: its changes committed.  Returns rc, or the
 * release's error when rc is 0 (then nothing of it holds). */
static int end(study_svc *sv, int rc, char *msg, size_t cap)
{
    int rr = sv->ss.ops->release(sv->ss.ctx);
    pthread_mutex_unlock(&sv->mu);
    if (!rc && rr) rc = err_failf(msg, cap, rr, "%s", err_message(rr));
    return rc;
}

/* ---- a study as stored ---------------------------------------------------------- */

typedef struct loaded {
    study_spec sp;
    char       id[64];
    char       tenant[128];
    int64_t    created_ms, n_trials, n_running, n_complete;
    int        rc;                 /* the stored spec's parse */
} loaded;

static int loaded_cb(void *ctx, const store_study_row *r)
{
    loaded *L = ctx;
    snprintf(L->id, sizeof L->id, "%s", r->id);
    snprintf(L->tenant, sizeof L->tenant, "%s", r->tenant ? r->tenant : "");
    L->created_ms = r->created_ms;
    L->n_trials = r->n_trials;
    L->n_running = r->n_running;
    L->n_complete = r->n_complete;
    cJSON *j = cJSON_Parse(r->spec_json);
    char msg[200];
    L->rc = j ? study_spec_parse(&L->sp, j, 0, msg, sizeof msg) : ERR_CORRUPT;
    cJSON_Delete(j);
    return 1;
}

/* Reads study id for tenant (NULL: any).  The caller frees L->sp. */
static int load_study(study_svc *sv, const char *tenant, const char *id, loaded *L, char *msg, size_t cap)
{
    memset(L, 0, sizeof *L);
    int rc = SS(study_get, id, loaded_cb, L);
    if (!rc && tenant && strcmp(L->tenant, tenant) != 0) rc = ERR_NOT_FOUND;
    if (!rc && L->rc) rc = ERR_INTERNAL;
    if (rc) {
        study_spec_free(&L->sp);
        if (rc == ERR_NOT_FOUND) return err_failf(msg, cap, rc, "no study has id %.64s", id);
        return err_failf(msg, cap, rc, "%s", rc == ERR_INTERNAL ? "the stored study could not be read back" : err_message(rc));
    }
    return 0;
}

/* ---- its trials ------------------------------------------------------------------ */

typedef struct hist {
    int       nx;                 /* the space's parameters */
    int       n, cap;
    hpo_trial *t;
    double   *x;                  /* cap * nx */
    char    **params;             /* params_json of each */
    int64_t  *started, *hb, *fin;
    int       nv, capv;
    int64_t  *vnum, *vstep;
    double   *vval;
    int       oom;
} hist;

static const char *const STATE_NAMES[] = {"running", "complete", "pruned", "failed", "lost"};  /* hpo_state order */

static int state_of(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (s && strcmp(s, STATE_NAMES[i]) == 0) return i;
    return -1;
}

static int grow(void **p, size_t elem, int cap)
{
    void *q = realloc(*p, elem * (size_t)cap);
    if (!q) return -1;
    *p = q;
    return 0;
}

static int hist_trial_cb(void *ctx, const store_trial_row *r)
{
    hist *h = ctx;
    int st = state_of(r->state);
    if (st < 0 || r->nx != h->nx) return 0;   /* not a row this build wrote: left out */
    if (h->n == h->cap) {
        /* at most 2 STUDY_MAX_TRIALS trials (lost ones beyond max_trials; study_ask refuses more) */
        const int limit = STUDY_MAX_TRIALS * 2 + 16;
        int cap = h->cap ? (h->cap > limit / 2 ? limit : h->cap * 2) : 16;
        if (h->cap >= limit || grow((void **)&h->t, sizeof *h->t, cap) ||
            grow((void **)&h->x, sizeof(double) * (size_t)(h->nx ? h->nx : 1), cap) ||
            grow((void **)&h->params, sizeof *h->params, cap) || grow((void **)&h->started, sizeof(int64_t), cap) ||
            grow((void **)&h->hb, sizeof(int64_t), cap) || grow((void **)&h->fin, sizeof(int64_t), cap)) {
            h->oom = 1;
            return 1;
        }
        h->cap = cap;
    }
    int i = h->n;
    h->params[i] = strdup(r->params_json ? r->params_json : "{}");
    if (!h->params[i]) {
        h->oom = 1;
        return 1;
    }
    memcpy(h->x + (size_t)i * h->nx, r->x, sizeof(double) * (size_t)h->nx);
    h->t[i] = (hpo_trial){.number = r->number, .state = (hpo_state)st, .value = r->value};
    h->started[i] = r->started_ms;
    h->hb[i] = r->heartbeat_ms;
    h->fin[i] = r->finished_ms;
    h->n++;
    return 0;
}

static int hist_value_cb(void *ctx, int64_t number, int64_t step, double value)
{
    hist *h = ctx;
    if (h->nv == h->capv) {
        /* at most STUDY_MAX_VALUES (study_report refuses more) */
        const int limit = STUDY_MAX_VALUES + 64;
        int cap = h->capv ? (h->capv > limit / 2 ? limit : h->capv * 2) : 64;
        if (h->capv >= limit ||
            grow((void **)&h->vnum, sizeof(int64_t), cap) || grow((void **)&h->vstep, sizeof(int64_t), cap) ||
            grow((void **)&h->vval, sizeof(double), cap)) {
            h->oom = 1;
            return 1;
        }
        h->capv = cap;
    }
    h->vnum[h->nv] = number;
    h->vstep[h->nv] = step;
    h->vval[h->nv] = value;
    h->nv++;
    return 0;
}

static void hist_free(hist *h)
{
    for (int i = 0; i < h->n; i++) free(h->params[i]);
    free(h->t);
    free(h->x);
    free(h->params);
    free(h->started);
    free(h->hb);
    free(h->fin);
    free(h->vnum);
    free(h->vstep);
    free(h->vval);
    memset(h, 0, sizeof *h);
}

/* Reads the trials (ordered by number) and their values (by number, step)
 * and points each trial at its x and values. */
static int hist_load(study_svc *sv, const char *id, int nx, hist *h)
{
    memset(h, 0, sizeof *h);
    h->nx = nx;
    int rc = SS(study_trials, id, hist_trial_cb, hist_value_cb, h);
    if (!rc && h->oom) rc = ERR_NO_MEMORY;
    if (rc) {
        hist_free(h);
        return rc;
    }
    int v = 0;
    for (int i = 0; i < h->n; i++) {
        hpo_trial *t = &h->t[i];
        t->x = h->x + (size_t)i * nx;
        while (v < h->nv && h->vnum[v] < t->number) v++;
        int start = v;
        while (v < h->nv && h->vnum[v] == t->number) v++;
        t->nsteps = v - start;
        t->steps = t->nsteps ? h->vstep + start : NULL;
        t->values = t->nsteps ? h->vval + start : NULL;
    }
    return 0;
}

static int hist_find(const hist *h, int64_t number)
{
    for (int i = 0; i < h->n; i++)
        if (h->t[i].number == number) return i;
    return -1;
}

/* ---- answers ------------------------------------------------------------------------ */

static cJSON *parse_or_empty(const char *s)
{
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    return j ? j : cJSON_CreateObject();
}

static void add_num_or_null(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *trial_json(const hist *h, int i)
{
    const hpo_trial *t = &h->t[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "trial", (double)t->number);
    cJSON_AddStringToObject(o, "state", STATE_NAMES[t->state]);
    cJSON_AddItemToObject(o, "params", parse_or_empty(h->params[i]));
    add_num_or_null(o, "value", t->state == HPO_COMPLETE ? t->value : NAN);
    cJSON *iv = cJSON_AddArrayToObject(o, "intermediate");
    for (int k = 0; iv && k < t->nsteps; k++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "step", (double)t->steps[k]);
        cJSON_AddNumberToObject(p, "value", t->values[k]);
        cJSON_AddItemToArray(iv, p);
    }
    cJSON_AddNumberToObject(o, "started_ms", (double)h->started[i]);
    cJSON_AddNumberToObject(o, "heartbeat_ms", (double)h->hb[i]);
    if (h->fin[i]) cJSON_AddNumberToObject(o, "finished_ms", (double)h->fin[i]);
    else cJSON_AddNullToObject(o, "finished_ms");
    return o;
}

/* The study's description: the normalised request, id, counts. */
static cJSON *study_json(const loaded *L)
{
    cJSON *spec = study_spec_to_json(&L->sp), *o = cJSON_CreateObject();
    if (!spec || !o) {
        cJSON_Delete(spec);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", L->id);   /* first, then the request's members */
    while (spec->child) {
        cJSON *m = cJSON_DetachItemViaPointer(spec, spec->child);
        cJSON_AddItemToArray(o, m);   /* keeps m's own key: o stays an object */
    }
    cJSON_Delete(spec);
    cJSON_AddNumberToObject(o, "created_ms", (double)L->created_ms);
    cJSON_AddNumberToObject(o, "n_trials", (double)L->n_trials);
    cJSON_AddNumberToObject(o, "n_running", (double)L->n_running);
    cJSON_AddNumberToObject(o, "n_complete", (double)L->n_complete);
    return o;
}

static int oom_if_null(cJSON *o, cJSON **out)
{
    *out = o;
    return o ? 0 : ERR_NO_MEMORY;
}

/* ---- operations ---------------------------------------------------------------------- */

/* Marks the study's stale running trials lost. */
static int lose_stale(study_svc *sv, const char *id)
{
    int64_t now = sv->now();
    return SS(trials_lose, id, now - sv->hb_ms, now, NULL);
}

static void new_id(char *out, size_t cap)
{
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* getrandom does not fail for 12 bytes once the pool is seeded;
         * the clock keeps ids distinct if it ever does */
        int64_t t = real_now_ms();
        memcpy(b, &t, sizeof t);
        memset(b + sizeof t, 0, sizeof b - sizeof t);
    }
    size_t k = (size_t)snprintf(out, cap, "st-");
    for (size_t i = 0; i < sizeof b && k + 2 < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%02x", b[i]);
}

int study_create(study_svc *sv, const char *tenant, const cJSON *body, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    /* a drawn seed below 2^31: it prints as a plain integer */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = (uint64_t)real_now_ms();
    seed &= 0x7fffffffu;
    loaded L;
    memset(&L, 0, sizeof L);
    int rc = study_spec_parse(&L.sp, body, seed, msg, cap);
    if (!rc) rc = study_objective_check(&L.sp.objective, &L.sp.space, L.sp.choices, L.sp.max_trials, L.sp.direction, msg, cap);
    if (rc) {
        study_spec_free(&L.sp);
        return rc;
    }
    cJSON *norm = study_spec_to_json(&L.sp);
    char *text = norm ? cJSON_PrintUnformatted(norm) : NULL;
    cJSON_Delete(norm);
    if (!text) {
        study_spec_free(&L.sp);
        return err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
    }
    new_id(L.id, sizeof L.id);
    snprintf(L.tenant, sizeof L.tenant, "%s", tenant ? tenant : "");
    L.created_ms = sv->now();
    store_study_row row = {.id = L.id, .tenant = L.tenant, .name = L.sp.name, .spec_json = text,
                           .created_ms = L.created_ms};
    rc = SS(study_insert, &row);
    free(text);
    if (!rc) rc = oom_if_null(study_json(&L), out);
    if (!rc) cJSON_AddNullToObject(*out, "best");
    study_spec_free(&L.sp);
    return rc ? err_failf(msg, cap, rc, "%s", err_message(rc)) : 0;
}

int study_ask(study_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    rc = load_study(sv, tenant, id, &L, msg, cap);
    if (rc) return end(sv, rc, msg, cap);
    hist h;
    rc = lose_stale(sv, id);
    if (!rc) rc = hist_load(sv, id, L.sp.space.n, &h);
    if (rc) {
        study_spec_free(&L.sp);
        return end(sv, err_failf(msg, cap, rc, "%s", err_message(rc)), msg, cap);
    }
    int running = 0, counted = 0;
    int64_t next = 0;
    for (int i = 0; i < h.n; i++) {
        running += h.t[i].state == HPO_RUNNING;
        counted += h.t[i].state != HPO_LOST;
        if (h.t[i].number >= next) next = h.t[i].number + 1;
    }
    if (counted >= L.sp.max_trials || h.n >= STUDY_MAX_TRIALS * 2)
        rc = err_failf(msg, cap, ERR_STUDY_EXHAUSTED, "study %s has used its max_trials (%lld)", id,
                  (long long)L.sp.max_trials);
    else if (running >= L.sp.parallel)
        rc = err_failf(msg, cap, ERR_STUDY_PARALLEL_LIMIT, "study %s already runs %d trials (parallel: %lld)", id, running,
                  (long long)L.sp.parallel);
    double x[HPO_MAX_PARAMS];
    if (!rc) {
        rc = hpo_sample(&L.sp.space, L.sp.sampler, &L.sp.tpe, L.sp.direction, L.sp.seed, next, h.t, h.n, x);
        if (rc) rc = err_failf(msg, cap, rc, "the sampler failed: %s", err_message(rc));
    }
    cJSON *params = NULL;
    char *ptext = NULL;
    if (!rc) {
        params = study_spec_params_json(&L.sp, x);
        ptext = params ? cJSON_PrintUnformatted(params) : NULL;
        /* cJSON prints a double to within an ulp or two: the values are
         * the printed ones from here on (the answer, the stored numbers and
         * a bound session's hyperparameters all agree to the bit) */
        cJSON_Delete(params);
        params = ptext ? cJSON_Parse(ptext) : NULL;
        if (!params) rc = err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
        for (int i = 0; !rc && i < L.sp.space.n; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, L.sp.space.p[i].name);
            if (L.sp.space.p[i].kind != HPO_CATEGORICAL && cJSON_IsNumber(v)) x[i] = v->valuedouble;
        }
    }
    if (!rc) {
        rc = SS(trial_insert, id, next, ptext, x, L.sp.space.n, sv->now());
        if (rc) err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    if (!rc) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "study", id);
            cJSON_AddNumberToObject(o, "trial", (double)next);
            cJSON_AddItemToObject(o, "params", params);
            params = NULL;
            cJSON_AddStringToObject(o, "state", "running");
        }
        rc = oom_if_null(o, out);
    }
    cJSON_Delete(params);
    free(ptext);
    hist_free(&h);
    study_spec_free(&L.sp);
    rc = end(sv, rc, msg, cap);   /* the trial exists once this committed */
    if (rc) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

/* Loads the study and its history under the lock, stale trials lost first,
 * and finds running trial `number` (*ti).  On error everything is freed. */
static int open_running(study_svc *sv, const char *tenant, const char *id, int64_t number, loaded *L, hist *h,
                        int *ti, int *state, char *msg, size_t cap)
{
    *state = -1;
    int rc = load_study(sv, tenant, id, L, msg, cap);
    if (rc) return rc;
    rc = lose_stale(sv, id);
    if (!rc) rc = hist_load(sv, id, L->sp.space.n, h);
    if (rc) {
        study_spec_free(&L->sp);
        return err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    *ti = hist_find(h, number);
    if (*ti < 0) rc = err_failf(msg, cap, ERR_NOT_FOUND, "study %s has no trial %lld", id, (long long)number);
    else if ((*state = (int)h->t[*ti].state) != HPO_RUNNING)
        rc = err_failf(msg, cap, ERR_TRIAL_FINISHED, "trial %lld of study %s is %s", (long long)number, id,
                  STATE_NAMES[h->t[*ti].state]);
    if (rc) {
        hist_free(h);
        study_spec_free(&L->sp);
    }
    return rc;
}

int study_report(study_svc *sv, const char *tenant, const char *id, int64_t number, int64_t step, double value,
                 int *prune, char *msg, size_t cap)
{
    *prune = 0;
    if (!isfinite(value)) return err_failf(msg, cap, ERR_NON_FINITE, "value must be finite");
    if (step < 0 || step > 9007199254740992LL) return err_failf(msg, cap, ERR_OUT_OF_RANGE, "step must be in [0, 2^53]");
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    hist h;
    int ti;
    int state;
    rc = open_running(sv, tenant, id, number, &L, &h, &ti, &state, msg, cap);
    if (rc) {
        *prune = rc == ERR_TRIAL_FINISHED && state == HPO_PRUNED;
        return end(sv, rc, msg, cap);
    }
    const hpo_trial *t = &h.t[ti];
    int known = 0;
    for (int k = 0; k < t->nsteps; k++) known |= t->steps[k] == step;
    if (!known && t->nsteps >= STUDY_MAX_REPORTS)
        rc = err_failf(msg, cap, ERR_OUT_OF_RANGE, "a trial takes at most %d intermediate values", STUDY_MAX_REPORTS);
    else if (!known && h.nv >= STUDY_MAX_VALUES)
        rc = err_failf(msg, cap, ERR_OUT_OF_RANGE, "a study takes at most %d intermediate values", STUDY_MAX_VALUES);
    if (!rc && (rc = SS(trial_report, id, number, step, value, sv->now())))
        err_failf(msg, cap, rc, "%s", err_message(rc));
    if (!rc) {
        /* the pruner decides on the history with this report in it, the
         * trial's newest report last (a report of an earlier step counts as
         * its value there, and the decision is about the latest step) */
        hist_free(&h);
        rc = hist_load(sv, id, L.sp.space.n, &h);
        ti = rc ? -1 : hist_find(&h, number);
        if (!rc && ti < 0) rc = ERR_INTERNAL;
        if (rc) err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    if (!rc) {
        hpo_trial self = h.t[ti];
        /* the newest report is the one at `step`: cut the view there */
        int k = 0;
        while (k < self.nsteps && self.steps[k] <= step) k++;
        self.nsteps = k;
        h.t[ti] = self;
        rc = hpo_should_prune(L.sp.pruner, &L.sp.prune, L.sp.direction, h.t, h.n, ti, prune);
        if (rc) err_failf(msg, cap, rc, "the pruner failed: %s", err_message(rc));
    }
    if (!rc && *prune && (rc = SS(trial_finish, id, number, "pruned", NAN, sv->now())))
        err_failf(msg, cap, rc, "%s", err_message(rc));
    hist_free(&h);
    study_spec_free(&L.sp);
    int decided = rc;
    rc = end(sv, rc, msg, cap);
    if (rc && !decided) *prune = 0;   /* not committed: nothing of it holds */
    return rc;
}

int study_trial_params(study_svc *sv, const char *tenant, const char *id, int64_t number, cJSON **params,
                       char *msg, size_t cap)
{
    *params = NULL;
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    hist h;
    int ti;
    int state;
    rc = open_running(sv, tenant, id, number, &L, &h, &ti, &state, msg, cap);
    if (!rc) {
        rc = oom_if_null(parse_or_empty(h.params[ti]), params);
        if (rc) err_failf(msg, cap, rc, "%s", err_message(rc));
        hist_free(&h);
        study_spec_free(&L.sp);
    }
    rc = end(sv, rc, msg, cap);
    if (rc) {
        cJSON_Delete(*params);
        *params = NULL;
    }
    return rc;
}

int study_trial_state(study_svc *sv, const char *tenant, const char *id, int64_t number, const char **state,
                      char *msg, size_t cap)
{
    *state = NULL;
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    hist h;
    int ti;
    int st;
    rc = open_running(sv, tenant, id, number, &L, &h, &ti, &st, msg, cap);
    if (!rc) {
        hist_free(&h);
        study_spec_free(&L.sp);
    }
    if (st >= 0) {
        *state = STATE_NAMES[st];
        rc = 0;
    }
    rc = end(sv, rc, msg, cap);
    if (rc) *state = NULL;
    return rc;
}

int study_objective_of(study_svc *sv, const char *tenant, const char *id, study_objective *o, int64_t *parallel,
                       char *msg, size_t cap)
{
    loaded L;
    int rc = load_study(sv, tenant, id, &L, msg, cap);
    if (rc) return rc;
    *o = L.sp.objective;
    *parallel = L.sp.parallel;
    study_spec_free(&L.sp);
    return 0;
}

int study_lose_running(study_svc *sv, const char *tenant, const char *id, int *n, char *msg, size_t cap)
{
    *n = 0;
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    rc = load_study(sv, tenant, id, &L, msg, cap);
    if (!rc) {
        study_spec_free(&L.sp);
        int64_t now = sv->now();
        rc = SS(trials_lose, id, now + 1, now, n);
        if (rc) err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    return end(sv, rc, msg, cap);
}

int study_tell(study_svc *sv, const char *tenant, const char *id, int64_t number, const char *state, double value,
               cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    int st = state_of(state);
    if (st != HPO_COMPLETE && st != HPO_FAILED && st != HPO_PRUNED)
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "state must be complete, failed or pruned");
    if (st == HPO_COMPLETE && !isfinite(value)) return err_failf(msg, cap, ERR_NON_FINITE, "value must be finite");
    if (st != HPO_COMPLETE) value = NAN;
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    hist h;
    int ti;
    int was;
    rc = open_running(sv, tenant, id, number, &L, &h, &ti, &was, msg, cap);
    if (rc) return end(sv, rc, msg, cap);
    int64_t now = sv->now();
    rc = SS(trial_finish, id, number, STATE_NAMES[st], value, now);
    if (rc) err_failf(msg, cap, rc, "%s", err_message(rc));
    else {
        h.t[ti].state = (hpo_state)st;
        h.t[ti].value = value;
        h.fin[ti] = now;
        h.hb[ti] = now;
        rc = oom_if_null(trial_json(&h, ti), out);
    }
    hist_free(&h);
    study_spec_free(&L.sp);
    rc = end(sv, rc, msg, cap);
    if (rc) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

/* Loads study id and its history after marking stale trials lost (a read
 * that shows the states as they are). */
static int open_read(study_svc *sv, const char *tenant, const char *id, loaded *L, hist *h, char *msg, size_t cap)
{
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    rc = load_study(sv, tenant, id, L, msg, cap);
    if (!rc) {
        rc = lose_stale(sv, id);
        study_spec_free(&L->sp);
        if (!rc) rc = load_study(sv, tenant, id, L, msg, cap);   /* the counts after it */
        else err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    rc = end(sv, rc, msg, cap);
    if (rc) {
        study_spec_free(&L->sp);   /* (idempotent: load_study freed it on its error) */
        return rc;
    }
    rc = hist_load(sv, id, L->sp.space.n, h);
    if (rc) {
        study_spec_free(&L->sp);
        return err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    return 0;
}

int study_get(study_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    loaded L;
    hist h;
    int rc = open_read(sv, tenant, id, &L, &h, msg, cap);
    if (rc) return rc;
    int best = -1;
    for (int i = 0; i < h.n; i++) {
        if (h.t[i].state != HPO_COMPLETE || !isfinite(h.t[i].value)) continue;
        if (best < 0 || L.sp.direction * h.t[i].value < L.sp.direction * h.t[best].value) best = i;
    }
    cJSON *o = study_json(&L);
    if (o) cJSON_AddNumberToObject(o, "steps_run", (double)h.nv);
    if (o && best >= 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "best");
        if (b) {
            cJSON_AddNumberToObject(b, "trial", (double)h.t[best].number);
            cJSON_AddNumberToObject(b, "value", h.t[best].value);
            cJSON_AddItemToObject(b, "params", parse_or_empty(h.params[best]));
        }
    } else if (o) cJSON_AddNullToObject(o, "best");
    rc = oom_if_null(o, out);
    hist_free(&h);
    study_spec_free(&L.sp);
    return rc ? err_failf(msg, cap, rc, "%s", err_message(rc)) : 0;
}

int study_trials(study_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    loaded L;
    hist h;
    int rc = open_read(sv, tenant, id, &L, &h, msg, cap);
    if (rc) return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "trials") : NULL;
    for (int i = 0; arr && i < h.n; i++) cJSON_AddItemToArray(arr, trial_json(&h, i));
    if (o && !arr) {
        cJSON_Delete(o);
        o = NULL;
    }
    rc = oom_if_null(o, out);
    hist_free(&h);
    study_spec_free(&L.sp);
    return rc ? err_failf(msg, cap, rc, "%s", err_message(rc)) : 0;
}

static int list_cb(void *ctx, const store_study_row *r)
{
    loaded L;
    memset(&L, 0, sizeof L);
    loaded_cb(&L, r);
    if (!L.rc) cJSON_AddItemToArray(ctx, study_json(&L));
    study_spec_free(&L.sp);
    return 0;
}

int study_list(study_svc *sv, const char *tenant, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "studies") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        return err_failf(msg, cap, ERR_NO_MEMORY, "%s", err_message(ERR_NO_MEMORY));
    }
    int rc = SS(studies_list, tenant, STUDY_LIST_MAX, list_cb, arr);
    if (rc) {
        cJSON_Delete(o);
        return err_failf(msg, cap, rc, "%s", err_message(rc));
    }
    *out = o;
    return 0;
}

int study_delete(study_svc *sv, const char *tenant, const char *id, char *msg, size_t cap)
{
    int rc = begin(sv, id, msg, cap);
    if (rc) return rc;
    loaded L;
    rc = load_study(sv, tenant, id, &L, msg, cap);
    if (!rc) {
        study_spec_free(&L.sp);
        rc = SS(study_delete, id);
        if (rc) err_failf(msg, cap, rc, rc == ERR_NOT_FOUND ? "no study has id %.64s" : "%s",
                     rc == ERR_NOT_FOUND ? id : err_message(rc));
    }
    return end(sv, rc, msg, cap);
}
