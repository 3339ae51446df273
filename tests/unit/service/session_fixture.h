/* session_fixture.h — a session registry (service/session.h) over a real
 * store in a mkdtemp() directory, with the hooks a test can observe: a
 * clock the test sets (g_now), every answer to a parked waiter recorded in
 * order (with a copy of its update), every persisted step counted, and the
 * attachments counted so that a test can check each is freed.  For
 * test_session.c, test_session_step.c and test_session_timers.c; header-only
 * (static functions), include it once per test program after cmocka.h.
 * Waiters are the addresses of the test's own ints: the service treats them
 * as opaque. */
#ifndef OPTIRS_TEST_SESSION_FIXTURE_H
#define OPTIRS_TEST_SESSION_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "session.h"
#include "store.h"

#define FX_MAX_ANSWERS 16
#define FX_MAX_N       8          /* floats of an update copied per answer */

typedef struct fx_answer {
    void          *waiter;
    session_answer a;             /* a.update points nowhere after the call: use update[] */
    float          update[FX_MAX_N];
} fx_answer;

static char        g_dir[64];
static char        g_path[128];
static double      g_now = 1000.0;          /* monotonic seconds, set by the test */
static fx_answer   g_answers[FX_MAX_ANSWERS];
static int         g_nanswers;
static int         g_nstepped;              /* hooks.stepped calls */
static step_metric g_last_metric;
static int         g_attached;              /* attachments alive */

static inline double  fx_now_mono(void) { return g_now; }
static inline int64_t fx_now_ms(void) { return (int64_t)(g_now * 1000.0); }

static inline void *fx_attach_new(void *ctx)
{
    (void)ctx;
    g_attached++;
    return malloc(1);
}

static inline void fx_attach_free(void *ctx, void *attach)
{
    (void)ctx;
    g_attached--;
    free(attach);
}

static inline void fx_answer_hook(void *ctx, void *waiter, const session_answer *a)
{
    (void)ctx;
    assert_true(g_nanswers < FX_MAX_ANSWERS);
    fx_answer *r = &g_answers[g_nanswers++];
    r->waiter = waiter;
    r->a = *a;
    if (!a->err)
        for (size_t i = 0; i < a->n && i < FX_MAX_N; i++) r->update[i] = a->update[i];
}

static inline void fx_stepped(void *ctx, session *s, const step_metric *m, const step_result *res)
{
    (void)ctx;
    (void)res;
    assert_non_null(session_attachment(s));
    g_nstepped++;
    g_last_metric = *m;
}

/* The configuration of the tests: generous limits, a snapshot every 100
 * steps, every 30 s, a 5 s step timeout. */
static inline sessions_config fx_config(void)
{
    return (sessions_config){.max_params = 1 << 20, .max_session_bytes = 1 << 28, .memory_budget = 1 << 30,
                             .max_sessions = 100, .checkpoint_every = 100, .checkpoint_interval = 30,
                             .step_timeout = 5, .snapshot_chunk_bytes = 64 << 20};
}

static inline sessions_hooks fx_hooks(void)
{
    return (sessions_hooks){.now_mono = fx_now_mono, .now_ms = fx_now_ms, .attach_new = fx_attach_new,
                            .attach_free = fx_attach_free, .answer = fx_answer_hook, .stepped = fx_stepped};
}

static inline store *fx_open_store(void)
{
    store *db = NULL;
    assert_int_equal(store_open(g_path, &db), 0);
    return db;
}

static inline sessions *fx_registry(store *db, const sessions_config *cfg)
{
    sessions_hooks h = fx_hooks();
    sessions *reg = NULL;
    assert_int_equal(sessions_new(db, cfg, &h, &reg), 0);
    return reg;
}

/* A new session from a create request; its reference is the caller's. */
static inline session *fx_create(sessions *reg, const char *body)
{
    spec sp;
    char msg[300];
    assert_int_equal(spec_parse(&sp, body, strlen(body), 1 << 20, 0, msg, sizeof msg), 0);
    session *s = NULL;
    uint64_t needed = 0;
    int rc = sessions_create(reg, &sp, &s, msg, sizeof msg, &needed);
    if (rc) fail_msg("sessions_create: %s %s", err_name(rc), msg);
    return s;
}

/* A step request for step k with gradients g (n floats) from `worker`. */
static inline step_request fx_req(int64_t k, const float *g, double loss, const char *worker)
{
    step_request sr = {.step = k, .grads = g, .loss = loss};
    if (worker) snprintf(sr.worker, sizeof sr.worker, "%s", worker);
    return sr;
}

/* The step of session id's stored snapshot (-1: none). */
static inline int fx_row_step_cb(void *ctx, const store_session_row *row)
{
    *(int64_t *)ctx = row->step;
    return 0;
}

static inline int64_t fx_stored_step(store *db, const char *id)
{
    int64_t step = -1;
    int rc = store_session_load(db, id, fx_row_step_cb, &step);
    return rc ? -1 : step;
}

/* Copies the session's parameters (n floats at most FX_MAX_N) into out. */
typedef struct fx_params { float v[FX_MAX_N]; size_t n; int64_t step; } fx_params;

static inline int fx_params_cb(void *ctx, int64_t step, const float *p, size_t n)
{
    fx_params *o = ctx;
    o->n = n;
    o->step = step;
    for (size_t i = 0; i < n && i < FX_MAX_N; i++) o->v[i] = p[i];
    return 0;
}

static inline fx_params fx_read_params(session *s)
{
    fx_params p = {0};
    assert_int_equal(session_read_params(s, fx_params_cb, &p), 0);
    return p;
}

/* A described number (session_describe), or NAN when absent. */
static inline double fx_describe_num(session *s, const char *key)
{
    cJSON *d = session_describe(s);
    assert_non_null(d);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(d);
    return x;
}

/* The described status into out. */
static inline void fx_describe_status(session *s, char *out, size_t cap)
{
    cJSON *d = session_describe(s);
    assert_non_null(d);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "status");
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(d);
}

static inline int fx_setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/s.db", g_dir);
    g_now = 1000.0;
    g_nanswers = 0;
    g_nstepped = 0;
    g_attached = 0;
    return 0;
}

static inline int fx_teardown(void **state)
{
    (void)state;
    char p[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", g_path, sfx[i]);
        unlink(p);
    }
    return 0;
}

/* Makes the test program's directory (main calls it first). */
static inline int fx_dir(const char *name)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/%s.XXXXXX", name);
    return mkdtemp(g_dir) ? 0 : -1;
}

#endif
