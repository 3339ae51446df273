/* budget.c — session memory figures and the daemon's reservations (see
 * budget.h). */
#include "budget.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "opt.h"

/* Small things every session holds whatever its size: its record, meta
 * JSON, spec, layout copies and per-tensor records of adaptation and
 * learner (bounded per tensor), counted generously. */
#define SESSION_FIXED_BYTES   65536u
#define SESSION_TENSOR_BYTES  1024u

int budget_session_bytes(const spec *sp, session_bytes *out)
{
    memset(out, 0, sizeof *out);
    uint64_t n = sp->lay.n;
    /* session_build hands opt_init the weights record the same way. */
    opt_config cfg = sp->ocfg;
    cfg.weights = sp->weights[0] ? sp->weights : NULL;
    uint64_t ob = 0;
    int rc = opt_bytes(&cfg, &sp->lay, &ob);
    if (rc) return rc;
    uint64_t vec = opt_bytes_mul(n, sizeof(float));
    out->params = opt_bytes_mul(3, vec);
    out->state = opt_bytes_add(ob, SESSION_FIXED_BYTES + (uint64_t)sp->lay.ntensors * SESSION_TENSOR_BYTES);
    /* parameter groups: each group's vector and a step's (groups.h); the
     * per-tensor pointers fit in SESSION_TENSOR_BYTES */
    out->state = opt_bytes_add(out->state, (uint64_t)(sp->groups.n + 1) * 2 * OPT_MAX_HP * sizeof(double));
    if (sp->learner.enabled) {
        /* the learner's loss ring and its perturbation blocks */
        uint64_t ring = (uint64_t)sp->learner.memory + 2 * (uint64_t)sp->learner.window + 2;
        out->state = opt_bytes_add(out->state, ring * 32);
    }
    if (sp->workers > 1) {
        uint64_t k = (uint64_t)sp->workers;
        out->workers = opt_bytes_add(opt_bytes_mul(k, vec), k * 128);
    }
    /* The session's blob: params, last update and the optimizer's blob
     * (which holds at most its state); encoding holds both blobs. */
    uint64_t blob = opt_bytes_add(opt_bytes_mul(2, vec), opt_bytes_add(ob, 4096));
    out->snapshot = opt_bytes_add(blob, ob);
    out->total = opt_bytes_add(opt_bytes_add(out->params, out->state), opt_bytes_add(out->workers, out->snapshot));
    return 0;
}

/* ---- reservations -------------------------------------------------------- */

typedef struct tenant_use { char name[64]; int64_t sessions, params; } tenant_use;

struct budget {
    pthread_mutex_t mu;
    uint64_t        limit, used;
    int64_t         max_sessions, tenant_max_sessions, tenant_max_params;
    int64_t         sessions;
    tenant_use     *t;            /* tenants holding at least one session */
    int             nt, cap;
};

int budget_new(uint64_t memory, int64_t max_sessions, int64_t tenant_max_sessions, int64_t tenant_max_params,
               budget **out)
{
    budget *b = calloc(1, sizeof *b);
    if (!b) return ERR_NO_MEMORY;
    pthread_mutex_init(&b->mu, NULL);
    b->limit = memory;
    b->max_sessions = max_sessions;
    b->tenant_max_sessions = tenant_max_sessions;
    b->tenant_max_params = tenant_max_params;
    *out = b;
    return 0;
}

void budget_free(budget *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    free(b->t);
    free(b);
}

/* The tenant's entry, or -1.  Called with b->mu held. */
static int tenant_find(const budget *b, const char *tenant)
{
    for (int i = 0; i < b->nt; i++)
        if (strcmp(b->t[i].name, tenant) == 0) return i;
    return -1;
}

int budget_reserve(budget *b, const char *tenant, uint64_t bytes, int64_t params, int force, uint64_t *in_use)
{
    pthread_mutex_lock(&b->mu);
    int i = tenant_find(b, tenant);
    int64_t ts = i >= 0 ? b->t[i].sessions : 0, tp = i >= 0 ? b->t[i].params : 0;
    int rc = 0;
    if (!force && b->sessions >= b->max_sessions) rc = ERR_TOO_MANY_SESSIONS;
    else if (!force && ((b->tenant_max_sessions && ts >= b->tenant_max_sessions) ||
                        (b->tenant_max_params && tp + params > b->tenant_max_params)))
        rc = ERR_QUOTA_EXCEEDED;
    else if (!force && (bytes > b->limit || b->used > b->limit - bytes)) rc = ERR_MEMORY_BUDGET;
    if (!rc && i < 0) {
        if (b->nt == b->cap) {
            int cap = b->cap ? 2 * b->cap : 16;
            tenant_use *t = realloc(b->t, (size_t)cap * sizeof *t);
            if (!t) rc = ERR_NO_MEMORY;
            else { b->t = t; b->cap = cap; }
        }
        if (!rc) {
            i = b->nt++;
            memset(&b->t[i], 0, sizeof b->t[i]);
            strncpy(b->t[i].name, tenant, sizeof b->t[i].name - 1);
        }
    }
    if (!rc) {
        b->t[i].sessions++;
        b->t[i].params += params;
        b->sessions++;
        b->used = opt_bytes_add(b->used, bytes);
    }
    if (in_use) *in_use = b->used;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

void budget_release(budget *b, const char *tenant, uint64_t bytes, int64_t params)
{
    pthread_mutex_lock(&b->mu);
    int i = tenant_find(b, tenant);
    if (i >= 0) {
        b->t[i].params -= params;
        if (--b->t[i].sessions == 0) b->t[i] = b->t[--b->nt];
    }
    b->sessions--;
    b->used = bytes > b->used ? 0 : b->used - bytes;
    pthread_mutex_unlock(&b->mu);
}

uint64_t budget_in_use(budget *b)
{
    pthread_mutex_lock(&b->mu);
    uint64_t u = b->used;
    pthread_mutex_unlock(&b->mu);
    return u;
}

uint64_t budget_limit(const budget *b) { return b->limit; }
