/* metasess.c — meta-sessions: gathering the K tasks of a round and the outer
 * step (see metasess.h).  Every meta-session lives in memory (a list under
 * the service's mutex) and in the store; a change is committed to the store
 * first, then made in memory. */
#include "metasess.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "errors.h"
#include "f32json.h"
#include "gather.h"
#include "jsonwalk.h"
#include "metasess_spec.h"
#include "meta_outer.h"
#include "store_metasess.h"
#include "utf8.h"

#define METASESS_ID_MAX     32
#define METASESS_TENANT_MAX 128

typedef struct msess {
    struct msess *next_s;
    char          id[METASESS_ID_MAX];
    char          tenant[METASESS_TENANT_MAX];
    int64_t       created_ms;
    metasess_spec    sp;
    int64_t       round;
    double       *state;        /* θ, then Adam's m and v: 3P */
    double       *scratch;      /* the next state, before it is committed: 3P */
    double       *mean;         /* the round's mean gradient: P */
    float        *vec;          /* a contribution being read, then its gradient: P */
    gather        g;            /* the open round's contributions, one slot per task */
    char        (*last)[GATHER_WORKER_MAX];   /* the tasks of the round applied last (K) */
    int           nlast;
    uint64_t      bytes;
} msess;

struct metasess_svc {
    store          *db;
    size_t          max_params;
    uint64_t        max_bytes, budget, used;
    int64_t       (*now)(void);
    pthread_mutex_t mu;
    msess          *head;
    int             count;
};

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t metasess_bytes(size_t P, int K)
{
    /* 7 P doubles (state, scratch, mean), P + K·P floats, K names, losses and
     * flags, K last names */
    long double b = (long double)P * (7 * sizeof(double) + sizeof(float)) + (long double)K * P * sizeof(float) +
                    (long double)K * (2 * GATHER_WORKER_MAX + sizeof(double) + sizeof(int)) + sizeof(msess);
    return b >= 1.8e19L ? UINT64_MAX : (uint64_t)b;
}

static size_t state_len(const msess *m) { return 3 * m->sp.lay.n * sizeof(double); }

static void metasess_free(msess *m)
{
    if (!m) return;
    free(m->state);
    free(m->scratch);
    free(m->mean);
    free(m->vec);
    free(m->last);
    gather_deinit(&m->g);
    metasess_spec_deinit(&m->sp);
    free(m);
}

/* The arrays of m, whose spec is set.  0 or ERR_NO_MEMORY. */
static int metasess_alloc(msess *m)
{
    size_t P = m->sp.lay.n;
    m->state = calloc(3 * P, sizeof(double));
    m->scratch = calloc(3 * P, sizeof(double));
    m->mean = calloc(P, sizeof(double));
    m->vec = calloc(P, sizeof(float));
    m->last = calloc((size_t)m->sp.K, sizeof *m->last);
    int rc = gather_init(&m->g, m->sp.K, P);
    m->bytes = metasess_bytes(P, m->sp.K);
    return rc || !m->state || !m->scratch || !m->mean || !m->vec || !m->last ? ERR_NO_MEMORY : 0;
}

static msess *find(metasess_svc *sv, const char *tenant, const char *id)
{
    for (msess *m = sv->head; m; m = m->next_s)
        if (strcmp(m->id, id) == 0) return !tenant || strcmp(tenant, m->tenant) == 0 ? m : NULL;
    return NULL;
}

static void link_in(metasess_svc *sv, msess *m)
{
    msess **p = &sv->head;
    while (*p) p = &(*p)->next_s;   /* oldest first */
    *p = m;
    sv->count++;
    sv->used += m->bytes;
}

/* The tasks of m's last round as a JSON array text (malloc'd); NULL: no memory. */
static char *last_json(const char (*names)[GATHER_WORKER_MAX], int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

/* ---- load ------------------------------------------------------------------ */

typedef struct load_ctx {
    metasess_svc *sv;
    char       msg[200];
} load_ctx;

static int load_sess(void *ctx, const store_msess_row *r)
{
    load_ctx *c = ctx;
    msess *m = calloc(1, sizeof *m);
    if (!m) return ERR_NO_MEMORY;
    cJSON *spec = cJSON_Parse(r->spec_json);
    int rc = spec ? metasess_spec_parse(&m->sp, spec, METASESS_MAX_PARAMS, 1, NULL, c->msg, sizeof c->msg) : ERR_CORRUPT;
    cJSON_Delete(spec);
    if (rc) {
        free(m);
        return ERR_CORRUPT;
    }
    rc = metasess_alloc(m);
    if (!rc && r->state_len != state_len(m)) rc = ERR_CORRUPT;
    cJSON *last = rc ? NULL : cJSON_Parse(r->last_tasks);
    if (!rc && (!cJSON_IsArray(last) || cJSON_GetArraySize(last) > m->sp.K)) rc = ERR_CORRUPT;
    for (const cJSON *t = last ? last->child : NULL; !rc && t; t = t->next) {
        if (!cJSON_IsString(t) || strlen(t->valuestring) >= GATHER_WORKER_MAX) rc = ERR_CORRUPT;
        else snprintf(m->last[m->nlast++], GATHER_WORKER_MAX, "%s", t->valuestring);
    }
    cJSON_Delete(last);
    if (rc) {
        metasess_free(m);
        return rc;
    }
    memcpy(m->state, r->state, r->state_len);
    snprintf(m->id, sizeof m->id, "%s", r->id);
    snprintf(m->tenant, sizeof m->tenant, "%s", r->tenant);
    m->created_ms = r->created_ms;
    m->round = r->round;
    m->g.step = r->round;
    link_in(c->sv, m);
    return 0;
}

static int load_contrib(void *ctx, const char *id, int64_t round, const char *task, const float *grad, size_t n)
{
    load_ctx *c = ctx;
    msess *m = find(c->sv, NULL, id);
    if (!m || round != m->round || n != m->sp.lay.n || strlen(task) >= GATHER_WORKER_MAX ||
        m->g.npend >= m->sp.K)
        return ERR_CORRUPT;
    int existed;
    int j = gather_slot(&m->g, task, &existed);
    gather_put(&m->g, j, grad, NAN, 0);
    return 0;
}

int metasess_svc_new(store *db, size_t max_params, uint64_t max_bytes, uint64_t budget, int64_t (*now_ms)(void),
                     metasess_svc **out)
{
    *out = NULL;
    metasess_svc *sv = calloc(1, sizeof *sv);
    if (!sv) return ERR_NO_MEMORY;
    sv->db = db;
    sv->max_params = max_params < METASESS_MAX_PARAMS ? max_params : METASESS_MAX_PARAMS;
    sv->max_bytes = max_bytes;
    sv->budget = budget;
    sv->now = now_ms ? now_ms : real_now_ms;
    pthread_mutex_init(&sv->mu, NULL);
    load_ctx c = {.sv = sv};
    int rc = db ? store_msess_load(db, load_sess, load_contrib, &c) : 0;
    if (rc) {
        metasess_svc_free(sv);
        return rc;
    }
    *out = sv;
    return 0;
}

void metasess_svc_free(metasess_svc *sv)
{
    if (!sv) return;
    for (msess *m = sv->head, *n; m; m = n) {
        n = m->next_s;
        metasess_free(m);
    }
    pthread_mutex_destroy(&sv->mu);
    free(sv);
}

/* ---- answers ------------------------------------------------------------- */

static cJSON *describe(const msess *m)
{
    cJSON *o = metasess_spec_to_json(&m->sp);
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddNumberToObject(o, "created_ms", (double)m->created_ms);
    cJSON_AddNumberToObject(o, "round", (double)m->round);
    cJSON_AddNumberToObject(o, "contributions", m->g.npend);
    /* the open round's tasks, in the order the mean sums them */
    cJSON *ts = cJSON_AddArrayToObject(o, "tasks");
    const char *prev = NULL;
    for (int done = 0; ts && done < m->g.npend; done++) {
        int nx = -1;
        for (int w = 0; w < m->g.npend; w++)
            if ((!prev || strcmp(m->g.worker[w], prev) > 0) && (nx < 0 || strcmp(m->g.worker[w], m->g.worker[nx]) < 0))
                nx = w;
        cJSON_AddItemToArray(ts, cJSON_CreateString(m->g.worker[nx]));
        prev = m->g.worker[nx];
    }
    return o;
}

static void new_id(char *out, size_t cap)
{
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        int64_t t = real_now_ms();
        memcpy(b, &t, sizeof t);
        memset(b + sizeof t, 0, sizeof b - sizeof t);
    }
    size_t k = (size_t)snprintf(out, cap, "ms-");
    for (size_t i = 0; i < sizeof b && k + 2 < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%02x", b[i]);
}

/* ---- create / get / list / delete ---------------------------------------- */

int metasess_create(metasess_svc *sv, const char *tenant, const cJSON *body, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    msess *m = calloc(1, sizeof *m);
    if (!m) return err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
    double *given = NULL;
    int rc = metasess_spec_parse(&m->sp, body, sv->max_params, 0, &given, msg, cap);
    if (rc) {
        free(m);
        return rc;
    }
    uint64_t need = metasess_bytes(m->sp.lay.n, m->sp.K);
    pthread_mutex_lock(&sv->mu);
    if (need > sv->max_bytes)
        rc = err_failf(msg, cap, ERR_SESSION_TOO_LARGE, "the meta-session needs %llu bytes; one may hold %llu",
                  (unsigned long long)need, (unsigned long long)sv->max_bytes);
    else if (sv->count >= METASESS_MAX_SESSIONS)
        rc = err_failf(msg, cap, ERR_TOO_MANY_SESSIONS, "the daemon holds %d meta-sessions, its limit",
                  METASESS_MAX_SESSIONS);
    else if (need > sv->budget - (sv->used < sv->budget ? sv->used : sv->budget))
        rc = err_failf(msg, cap, ERR_MEMORY_BUDGET, "the meta-sessions hold %llu bytes; this one needs %llu more, "
                  "over the budget of %llu", (unsigned long long)sv->used, (unsigned long long)need,
                  (unsigned long long)sv->budget);
    if (!rc && (rc = metasess_alloc(m)) != 0) err_failf(msg, cap, rc, "out of memory");
    char *spec_json = NULL;
    if (!rc) {
        if (given) memcpy(m->state, given, m->sp.lay.n * sizeof(double));
        else metasess_spec_init_theta(&m->sp, m->state);
        new_id(m->id, sizeof m->id);
        snprintf(m->tenant, sizeof m->tenant, "%s", tenant ? tenant : "");
        m->created_ms = sv->now();
        cJSON *sj = metasess_spec_to_json(&m->sp);
        spec_json = sj ? cJSON_PrintUnformatted(sj) : NULL;
        cJSON_Delete(sj);
        if (!spec_json) rc = err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
    }
    if (!rc) {
        store_msess_row row = {.id = m->id, .tenant = m->tenant, .name = m->sp.name, .spec_json = spec_json,
                               .created_ms = m->created_ms, .round = 0, .state = m->state,
                               .state_len = state_len(m), .last_tasks = "[]"};
        rc = store_msess_insert(sv->db, &row);
        if (rc) err_failf(msg, cap, rc, "the meta-session could not be stored");
    }
    free(spec_json);
    free(given);
    if (!rc) {
        link_in(sv, m);
        *out = describe(m);
        if (!*out) rc = err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
    } else metasess_free(m);
    pthread_mutex_unlock(&sv->mu);
    return rc;
}

int metasess_get(metasess_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap)
{
    pthread_mutex_lock(&sv->mu);
    msess *m = find(sv, tenant, id);
    *out = m ? describe(m) : NULL;
    int rc = !m ? err_failf(msg, cap, ERR_NOT_FOUND, "no meta-session has id %.40s", id)
                : *out ? 0 : err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
    pthread_mutex_unlock(&sv->mu);
    return rc;
}

int metasess_list(metasess_svc *sv, const char *tenant, cJSON **out, char *msg, size_t cap)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o ? cJSON_AddArrayToObject(o, "meta_sessions") : NULL;
    int rc = a ? 0 : ERR_NO_MEMORY;
    pthread_mutex_lock(&sv->mu);
    for (msess *m = sv->head; !rc && m; m = m->next_s) {
        if (tenant && strcmp(tenant, m->tenant) != 0) continue;
        cJSON *d = describe(m);
        if (!d) rc = ERR_NO_MEMORY;
        else cJSON_AddItemToArray(a, d);
    }
    pthread_mutex_unlock(&sv->mu);
    if (rc) {
        cJSON_Delete(o);
        o = NULL;
        err_failf(msg, cap, rc, "out of memory");
    }
    *out = o;
    return rc;
}

int metasess_delete(metasess_svc *sv, const char *tenant, const char *id, char *msg, size_t cap)
{
    pthread_mutex_lock(&sv->mu);
    msess **p = &sv->head;
    while (*p && !(strcmp((*p)->id, id) == 0 && (!tenant || strcmp(tenant, (*p)->tenant) == 0))) p = &(*p)->next_s;
    msess *m = *p;
    int rc = m ? store_msess_delete(sv->db, id) : ERR_NOT_FOUND;
    if (!rc) {
        *p = m->next_s;
        sv->count--;
        sv->used -= m->bytes;
        metasess_free(m);
    } else if (rc == ERR_NOT_FOUND) err_failf(msg, cap, rc, "no meta-session has id %.40s", id);
    else err_failf(msg, cap, rc, "the meta-session could not be deleted");
    pthread_mutex_unlock(&sv->mu);
    return rc;
}

/* ---- init ---------------------------------------------------------------- */

int metasess_init_f32(metasess_svc *sv, const char *tenant, const char *id, float **out, size_t *n, int64_t *round,
                   char *msg, size_t cap)
{
    *out = NULL;
    pthread_mutex_lock(&sv->mu);
    msess *m = find(sv, tenant, id);
    int rc = m ? 0 : err_failf(msg, cap, ERR_NOT_FOUND, "no meta-session has id %.40s", id);
    if (!rc) {
        size_t P = m->sp.lay.n;
        *out = malloc(P * sizeof(float));
        if (!*out) rc = err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
        for (size_t i = 0; !rc && i < P; i++) (*out)[i] = (float)m->state[i];
        *n = P;
        *round = m->round;
    }
    pthread_mutex_unlock(&sv->mu);
    return rc;
}

int metasess_init(metasess_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap)
{
    *out = NULL;
    pthread_mutex_lock(&sv->mu);
    msess *m = find(sv, tenant, id);
    int rc = m ? 0 : err_failf(msg, cap, ERR_NOT_FOUND, "no meta-session has id %.40s", id);
    cJSON *o = NULL;
    if (!rc) {
        cJSON *d = metasess_spec_to_json(&m->sp);
        o = d ? cJSON_CreateObject() : NULL;
        if (o) {
            cJSON_AddStringToObject(o, "id", m->id);
            cJSON_AddStringToObject(o, "name", m->sp.name);
            cJSON_AddStringToObject(o, "method", metasess_method_name(m->sp.method));
            cJSON_AddNumberToObject(o, "round", (double)m->round);
            cJSON_AddItemToObject(o, "tensors", cJSON_DetachItemFromObjectCaseSensitive(d, "tensors"));
        }
        cJSON_Delete(d);
        cJSON *a = o ? cJSON_AddArrayToObject(o, "params") : NULL;
        for (size_t i = 0; a && i < m->sp.lay.n; i++) {
            cJSON *x = cJSON_CreateNumber((double)(float)m->state[i]);
            if (!x) {
                a = NULL;
                break;
            }
            cJSON_AddItemToArray(a, x);
        }
        if (!a) {
            cJSON_Delete(o);
            o = NULL;
            rc = err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
        }
    }
    pthread_mutex_unlock(&sv->mu);
    *out = o;
    return rc;
}

/* ---- contributions ------------------------------------------------------- */

typedef struct contrib_ctx {
    msess  *m;
    char    task[GATHER_WORKER_MAX];
    int64_t round;
    int     have_task, have_round, have_vec;
    char   *msg;
    size_t  cap;
} contrib_ctx;

static int on_contrib(void *ctx, const char *key, const char *val, size_t avail, size_t *used)
{
    contrib_ctx *c = ctx;
    msess *m = c->m;
    const char *want = m->sp.method == METASESS_REPTILE ? "params" : "grad";
    if (strcmp(key, "params") == 0 || strcmp(key, "grad") == 0) {
        if (strcmp(key, want) != 0)
            return err_failf(c->msg, c->cap, ERR_INVALID_ARGUMENT, "a %s meta-session takes \"%s\" (%s), not \"%s\"",
                        metasess_method_name(m->sp.method), want,
                        m->sp.method == METASESS_REPTILE ? "the adapted parameters" : "the query gradient at them", key);
        if (c->have_vec) return err_failf(c->msg, c->cap, ERR_INVALID_JSON, "the body names %s twice", key);
        size_t P = m->sp.lay.n, n = 0;
        int rc = f32json_parse_array(val, avail, m->vec, P, &n, used);
        if (rc == ERR_NON_FINITE) return err_failf(c->msg, c->cap, rc, "%s holds a value that is not a finite float32", key);
        if (rc == ERR_LENGTH_MISMATCH)
            return err_failf(c->msg, c->cap, rc, "%s has more than the meta-session's %zu values", key, P);
        if (rc && jsonwalk_classify(val, avail) == ERR_INVALID_JSON)
            return err_failf(c->msg, c->cap, ERR_INVALID_JSON, "%s is not well-formed JSON", key);
        if (rc) return err_failf(c->msg, c->cap, ERR_INVALID_ARGUMENT, "%s must be an array of numbers", key);
        if (n != P)
            return err_failf(c->msg, c->cap, ERR_LENGTH_MISMATCH, "%s has %zu values; the meta-session has %zu", key, n, P);
        c->have_vec = 1;
        return 0;
    }
    cJSON *v = jsonwalk_cjson(val, avail, used);
    if (!v) return err_failf(c->msg, c->cap, ERR_INVALID_JSON, "malformed value of \"%.64s\"", key);
    int rc = 0;
    if (strcmp(key, "task") == 0) {
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        if (c->have_task) rc = err_failf(c->msg, c->cap, ERR_INVALID_JSON, "the body names task twice");
        else if (!cJSON_IsString(v) || n < 1 || n >= GATHER_WORKER_MAX)
            rc = err_failf(c->msg, c->cap, ERR_INVALID_ARGUMENT, "task must be a string of 1 to %d bytes",
                      GATHER_WORKER_MAX - 1);
        else if (!utf8_valid(v->valuestring, n)) rc = err_failf(c->msg, c->cap, ERR_INVALID_UTF8, "task is not valid UTF-8");
        else {
            memcpy(c->task, v->valuestring, n + 1);
            c->have_task = 1;
        }
    } else if (strcmp(key, "round") == 0) {
        if (c->have_round) rc = err_failf(c->msg, c->cap, ERR_INVALID_JSON, "the body names round twice");
        else if (jsonwalk_int(v, 0, 9007199254740992.0, &c->round))
            rc = err_failf(c->msg, c->cap, ERR_INVALID_ARGUMENT, "round must be an integer in [0, 2^53]");
        c->have_round = 1;
    } else rc = err_failf(c->msg, c->cap, ERR_UNKNOWN_FIELD, "unknown field \"%.64s\"", key);
    cJSON_Delete(v);
    return rc;
}

/* 1 when task was one of the last round's. */
static int in_last(const msess *m, const char *task)
{
    for (int i = 0; i < m->nlast; i++)
        if (strcmp(m->last[i], task) == 0) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

/* The round is full: the outer step into scratch, committed, then taken. */
static int apply_round(metasess_svc *sv, msess *m, char *msg, size_t cap)
{
    size_t P = m->sp.lay.n;
    gather_mean_by_name(&m->g, m->mean);
    memcpy(m->scratch, m->state, 3 * P * sizeof(double));
    if (m->sp.outer_opt == META_OUTER_ADAM)
        meta_outer_adam(m->scratch, m->scratch + P, m->scratch + 2 * P, m->mean, P, m->sp.outer_lr, m->round + 1);
    else meta_outer_sgd(m->scratch, m->mean, P, m->sp.outer_lr);
    for (size_t i = 0; i < P; i++)
        if (!isfinite(m->scratch[i]) || fabs(m->scratch[i]) > 3.4028234663852886e38)
            return err_failf(msg, cap, ERR_NON_FINITE_UPDATE,
                        "the round's outer step would make parameter %zu non-finite; nothing was applied", i);
    /* the round's tasks, sorted: the new "last" */
    char (*names)[GATHER_WORKER_MAX] = calloc((size_t)m->g.npend, sizeof *names);
    if (!names) return err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < m->g.npend; i++) memcpy(names[i], m->g.worker[i], GATHER_WORKER_MAX);
    qsort(names, (size_t)m->g.npend, sizeof *names, by_name);
    char *lj = last_json((const char (*)[GATHER_WORKER_MAX])names, m->g.npend);
    int rc = lj ? store_msess_advance(sv->db, m->id, m->round + 1, m->scratch, state_len(m), lj) : ERR_NO_MEMORY;
    free(lj);
    if (rc) {
        free(names);
        return err_failf(msg, cap, rc, "the round could not be stored");
    }
    double *t = m->state;
    m->state = m->scratch;
    m->scratch = t;
    memcpy(m->last, names, (size_t)m->g.npend * sizeof *names);
    m->nlast = m->g.npend;
    free(names);
    m->round++;
    gather_clear(&m->g);
    m->g.step = m->round;
    return 0;
}

int metasess_contribute(metasess_svc *sv, const char *tenant, const char *id, const char *body, size_t len, cJSON **out,
                     char *msg, size_t cap)
{
    *out = NULL;
    pthread_mutex_lock(&sv->mu);
    msess *m = find(sv, tenant, id);
    int rc = m ? 0 : err_failf(msg, cap, ERR_NOT_FOUND, "no meta-session has id %.40s", id);
    contrib_ctx c = {.m = m, .msg = msg, .cap = cap};
    if (!rc) {
        char wmsg[200] = "";
        rc = jsonwalk_object(body, len, on_contrib, &c, wmsg, sizeof wmsg);
        if (rc && wmsg[0]) err_failf(msg, cap, rc, "%s", wmsg);
    }
    const char *want = m && m->sp.method == METASESS_REPTILE ? "params" : "grad";
    if (!rc && !c.have_task) rc = err_failf(msg, cap, ERR_MISSING_FIELD, "task is required");
    if (!rc && !c.have_round) rc = err_failf(msg, cap, ERR_MISSING_FIELD, "round is required");
    if (!rc && !c.have_vec) rc = err_failf(msg, cap, ERR_MISSING_FIELD, "%s is required", want);
    int duplicate = 0, replaced = 0, applied = 0;
    if (!rc && c.round != m->round) {
        if (c.round == m->round - 1 && in_last(m, c.task)) duplicate = 1;
        else
            rc = err_failf(msg, cap, ERR_STALE_ROUND, "round %lld is not open: the meta-session is at round %lld",
                      (long long)c.round, (long long)m->round);
    }
    if (!rc && !duplicate) {
        size_t P = m->sp.lay.n;
        /* Reptile: against the init as served (float32): a parameter the
         * task left unchanged has gradient 0, not θ's rounding residual
         * (which Adam would blow up to a step of outer_lr) */
        if (m->sp.method == METASESS_REPTILE)
            for (size_t i = 0; i < P; i++) m->vec[i] = (float)((double)(float)m->state[i] - (double)m->vec[i]);
        for (size_t i = 0; !rc && i < P; i++)
            if (!isfinite(m->vec[i]))
                rc = err_failf(msg, cap, ERR_NON_FINITE, "the outer gradient of parameter %zu overflows float32", i);
        /* a full round whose step failed (non-finite, storage) takes
         * resends of its own tasks only: a resend applies it again */
        int known = 0;
        for (int w = 0; w < m->g.npend; w++) known |= strcmp(m->g.worker[w], c.task) == 0;
        if (!rc && !known && gather_full(&m->g))
            rc = err_failf(msg, cap, ERR_NON_FINITE_UPDATE, "round %lld has its %d tasks but its outer step failed; "
                      "only those tasks may send again", (long long)m->round, m->sp.K);
        if (!rc) rc = store_msess_contrib_put(sv->db, m->id, m->round, c.task, m->vec, P);
        if (rc && rc != ERR_NON_FINITE && rc != ERR_NON_FINITE_UPDATE)
            err_failf(msg, cap, rc, "the contribution could not be stored");
        if (!rc) {
            int j = gather_slot(&m->g, c.task, &replaced);
            gather_put(&m->g, j, m->vec, NAN, 0);
            if (gather_full(&m->g)) {
                rc = apply_round(sv, m, msg, cap);
                applied = rc == 0;
            }
        }
    }
    if (!rc) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "id", m->id);
            cJSON_AddStringToObject(o, "task", c.task);
            cJSON_AddNumberToObject(o, "round", (double)c.round);
            cJSON_AddBoolToObject(o, "accepted", 1);
            cJSON_AddBoolToObject(o, "replaced", replaced);
            cJSON_AddBoolToObject(o, "duplicate", duplicate);
            cJSON_AddBoolToObject(o, "applied", applied || duplicate);
            cJSON_AddNumberToObject(o, "contributions", m->g.npend);
            cJSON_AddNumberToObject(o, "meta_batch", m->sp.K);
            cJSON_AddNumberToObject(o, "current_round", (double)m->round);
        } else rc = err_failf(msg, cap, ERR_NO_MEMORY, "out of memory");
        *out = o;
    }
    pthread_mutex_unlock(&sv->mu);
    return rc;
}
