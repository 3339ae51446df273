/* meta_jobs.c — the daemon's meta-training job queue on the libuv loop.
 * See meta_jobs.h. */
#include "meta_jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "app.h"
#include "errors.h"
#include "log.h"
#include "meta_launch.h"

/* ---- the daemon's job queue ------------------------------------------------------ */

typedef struct qitem {
    struct qitem *next;
    char          id[40];
    char          tenant[64];
    int           fewshot;     /* 1: a few-shot job (fs), else a learned optimizer's (sp) */
    char          study[64];   /* a study the daemon runs (study_run.h): its id; no job row */
    meta_spec     sp;
    fewshot_spec  fs;
    int           nas;         /* 1: an architecture search (ns) */
    nas_spec      ns;
    _Atomic int   cancel;
    uv_work_t     work;
} qitem;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    app            *a;
    uv_loop_t      *loop;
    uv_async_t      async;
    int             started, stopping, busy;
    qitem          *head, *tail;
    qitem          *running;
    pthread_mutex_t submit_mu;   /* one submit at a time: the bound check and the enqueue are one step */
} Q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .submit_mu = PTHREAD_MUTEX_INITIALIZER};

static void work_cb(uv_work_t *w)
{
    qitem *it = w->data;
    char msg[1024];   /* a launched job's: rank 0's message and the end of the launcher's stderr */
    meta_run_io io = {.cancel = &it->cancel};
    int64_t v = 0;
    if (it->study[0]) {
        study_run_stats st;
        int rc = study_run(Q.a->studies, it->tenant[0] ? it->tenant : NULL, it->study, &it->cancel, &st, msg,
                           sizeof msg);
        if (rc) log_msg(LOG_ERROR, "study %s: its run stopped: %s", it->study, msg);
        else log_msg(LOG_INFO, "study %s: run %s: %lld trials, %lld steps", it->study,
                     st.cancelled ? "cancelled" : "finished", (long long)st.trials, (long long)st.steps);
        pthread_mutex_lock(&Q.mu);
        Q.busy = 0;
        pthread_cond_broadcast(&Q.cv);
        pthread_mutex_unlock(&Q.mu);
        return;
    }
    int rc = it->nas                      ? nas_run(Q.a->db, it->id, &it->ns, &io, &v, msg, sizeof msg)
             : it->fewshot                ? fewshot_run(Q.a->db, it->id, &it->fs, &io, &v, msg, sizeof msg)
             : Q.a->cfg.meta_launcher[0] ? meta_launch_run(Q.a, it->id, &it->sp, &it->cancel, &v, msg, sizeof msg)
                                         : meta_run(Q.a->db, it->id, &it->sp, NULL, 0, 0, &io, &v, msg, sizeof msg);
    /* The cluster's copy (cluster mode): the end as this daemon's file has
     * it, whoever wrote it (a launched job's rank 0 writes its own row). */
    store_cluster_meta_touch(Q.a->db, it->id, 1, 0);
    const char *name = it->nas ? it->ns.name : it->fewshot ? it->fs.name : it->sp.name;
    if (rc < 0) log_msg(LOG_ERROR, "meta-training job %s failed: %s", it->id, msg);
    else if (rc == 0) printf("meta-training job %s done: weights %s@%lld\n", it->id, name, (long long)v);
    pthread_mutex_lock(&Q.mu);
    Q.busy = 0;
    pthread_cond_broadcast(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
}

static void try_start(void);
static void new_job_id(char *out);

static void after_cb(uv_work_t *w, int status)
{
    (void)status;
    qitem *it = w->data;
    pthread_mutex_lock(&Q.mu);
    if (Q.running == it) Q.running = NULL;
    pthread_mutex_unlock(&Q.mu);
    free(it);
    try_start();
}

/* Loop thread: starts the next queued job when none runs. */
static void try_start(void)
{
    pthread_mutex_lock(&Q.mu);
    qitem *it = NULL;
    if (!Q.running && Q.head && !Q.stopping) {
        it = Q.head;
        Q.head = it->next;
        if (!Q.head) Q.tail = NULL;
        it->next = NULL;
        Q.running = it;
        Q.busy = 1;
    }
    pthread_mutex_unlock(&Q.mu);
    if (!it) return;
    it->work.data = it;
    if (uv_queue_work(Q.loop, &it->work, work_cb, after_cb) != 0) {
        if (!it->study[0]) store_meta_job_update(Q.a->db, it->id, "failed", 0, 0, "the work queue refused the job", NULL, 0, NULL, 0);
        pthread_mutex_lock(&Q.mu);
        Q.running = NULL;
        Q.busy = 0;
        pthread_mutex_unlock(&Q.mu);
        free(it);
    }
}

static void on_async(uv_async_t *h)
{
    (void)h;
    try_start();
}

/* Puts it at the tail of the queue. */
static void append(qitem *it)
{
    pthread_mutex_lock(&Q.mu);
    if (Q.tail) Q.tail->next = it;
    else Q.head = it;
    Q.tail = it;
    pthread_mutex_unlock(&Q.mu);
}

/* Queues a resumed study's run: no bound (it was admitted before the
 * restart); the queue is not running yet. */
static int resume_study(void *ctx, const char *id, const char *tenant)
{
    (void)ctx;
    if (strlen(tenant) >= sizeof ((qitem *)0)->tenant || strlen(id) >= sizeof ((qitem *)0)->study)
        return ERR_INVALID_ARGUMENT;
    qitem *it = calloc(1, sizeof *it);
    if (!it) return ERR_NO_MEMORY;
    snprintf(it->study, sizeof it->study, "%s", id);
    snprintf(it->tenant, sizeof it->tenant, "%s", tenant);
    new_job_id(it->id);
    append(it);
    return 0;
}

int meta_jobs_start(app *a, uv_loop_t *loop)
{
    int64_t n = 0;
    if (store_meta_jobs_interrupt(a->db, &n) != 0) return ERR_STORAGE;
    if (n) printf("%lld meta-training jobs were interrupted by the last shutdown\n", (long long)n);
    Q.a = a;
    Q.loop = loop;
    if (uv_async_init(loop, &Q.async, on_async) != 0) return ERR_INTERNAL;
    pthread_mutex_lock(&Q.mu);
    Q.started = 1;
    Q.stopping = 0;
    pthread_mutex_unlock(&Q.mu);
    /* the studies the daemon runs that the last shutdown interrupted: their
     * running trials lost, their runs queued again (study_run.h).  Not in a
     * cluster: its studies are shared and nothing records which daemon ran
     * one, so a restarting daemon must not take over (and lose the running
     * trials of) another's run — docs/studies.md says so. */
    char msg[400];
    int ns = 0;
    if (a->cfg.cluster_db[0])
        log_msg(LOG_INFO, "cluster mode: studies the daemon runs are not resumed after a restart");
    else if (study_run_resumable(a->studies, a->db, resume_study, NULL, &ns, msg, sizeof msg) != 0)
        log_msg(LOG_ERROR, "resuming the studies the daemon runs: %s", msg);
    if (ns) {
        log_msg(LOG_INFO, "%d studies the daemon runs were resumed", ns);
        uv_async_send(&Q.async);
    }
    return 0;
}

void meta_jobs_stop(void)
{
    pthread_mutex_lock(&Q.mu);
    if (!Q.started) {
        pthread_mutex_unlock(&Q.mu);
        return;
    }
    Q.stopping = 1;
    if (Q.running) atomic_store(&Q.running->cancel, 2);
    while (Q.busy) pthread_cond_wait(&Q.cv, &Q.mu);
    qitem *q = Q.head;
    Q.head = Q.tail = NULL;
    Q.started = 0;
    pthread_mutex_unlock(&Q.mu);
    while (q) {
        qitem *nx = q->next;
        if (!q->study[0]) store_meta_job_update(Q.a->db, q->id, "interrupted", 0, 0, NULL, NULL, 0, NULL, 0);
        free(q);
        q = nx;
    }
    uv_close((uv_handle_t *)&Q.async, NULL);
}

static void new_job_id(char *out)
{
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20) ^ (uint64_t)(uintptr_t)out;
        memcpy(b, &x, sizeof b);
    }
    int n = snprintf(out, 40, "mj-");
    for (int i = 0; i < 8; i++) n += snprintf(out + n, 40 - (size_t)n, "%02x", b[i]);
}

void meta_jobs_counts(int64_t *queued, int64_t *running)
{
    *queued = *running = 0;
    pthread_mutex_lock(&Q.mu);
    for (const qitem *q = Q.head; q; q = q->next) (*queued)++;
    *running = Q.running != NULL;
    pthread_mutex_unlock(&Q.mu);
}

/* Under Q.mu: 0 when one more job of `tenant` may wait in the queue, else
 * ERR_SHUTTING_DOWN or ERR_QUEUE_FULL. */
static int queue_admits(const char *tenant)
{
    if (!Q.started || Q.stopping) return ERR_SHUTTING_DOWN;
    int64_t all = 0, mine = 0;
    for (const qitem *q = Q.head; q; q = q->next) {
        all++;
        mine += strcmp(q->tenant, tenant) == 0;
    }
    const config *cfg = &Q.a->cfg;
    if (all >= cfg->max_queued_jobs) return ERR_QUEUE_FULL;
    if (cfg->tenant_max_queued_jobs > 0 && mine >= cfg->tenant_max_queued_jobs) return ERR_QUEUE_FULL;
    return 0;
}

static int submit_locked(qitem *it);

static int submit_item(qitem *it, const char *tenant, char *id_out);

int meta_jobs_submit(const meta_spec *sp, const char *tenant, char *id_out)
{
    if (!tenant || strlen(tenant) >= sizeof ((qitem *)0)->tenant) return ERR_INVALID_ARGUMENT;
    qitem *it = calloc(1, sizeof *it);
    if (!it) return ERR_NO_MEMORY;
    it->sp = *sp;
    if (it->sp.threads <= 0 || it->sp.threads > META_JOBS_MAX_THREADS) it->sp.threads = META_JOBS_MAX_THREADS;
    return submit_item(it, tenant, id_out);
}

int meta_jobs_submit_fewshot(const fewshot_spec *fs, const char *tenant, char *id_out)
{
    if (!tenant || strlen(tenant) >= sizeof ((qitem *)0)->tenant) return ERR_INVALID_ARGUMENT;
    qitem *it = calloc(1, sizeof *it);
    if (!it) return ERR_NO_MEMORY;
    it->fewshot = 1;
    it->fs = *fs;
    return submit_item(it, tenant, id_out);
}

int meta_jobs_submit_nas(const nas_spec *ns, const char *tenant, char *id_out)
{
    if (!tenant || strlen(tenant) >= sizeof ((qitem *)0)->tenant) return ERR_INVALID_ARGUMENT;
    qitem *it = calloc(1, sizeof *it);
    if (!it) return ERR_NO_MEMORY;
    it->nas = 1;
    it->ns = *ns;
    return submit_item(it, tenant, id_out);
}

int meta_jobs_submit_study(const char *study_id, const char *tenant, char *id_out)
{
    if (!tenant || strlen(tenant) >= sizeof ((qitem *)0)->tenant || strlen(study_id) >= sizeof ((qitem *)0)->study)
        return ERR_INVALID_ARGUMENT;
    qitem *it = calloc(1, sizeof *it);
    if (!it) return ERR_NO_MEMORY;
    snprintf(it->study, sizeof it->study, "%s", study_id);
    return submit_item(it, tenant, id_out);
}

const char *meta_jobs_study_state(const char *study_id)
{
    const char *state = NULL;
    pthread_mutex_lock(&Q.mu);
    if (Q.running && strcmp(Q.running->study, study_id) == 0)
        state = atomic_load(&Q.running->cancel) ? "cancelling" : "running";
    for (const qitem *q = Q.head; !state && q; q = q->next)
        if (strcmp(q->study, study_id) == 0) state = "queued";
    pthread_mutex_unlock(&Q.mu);
    return state;
}

void meta_jobs_cancel_study(const char *study_id)
{
    pthread_mutex_lock(&Q.mu);
    qitem *prev = NULL, *it = Q.head;
    while (it && strcmp(it->study, study_id) != 0) {
        prev = it;
        it = it->next;
    }
    if (it) {
        if (prev) prev->next = it->next;
        else Q.head = it->next;
        if (Q.tail == it) Q.tail = prev;
    }
    if (Q.running && strcmp(Q.running->study, study_id) == 0) atomic_store(&Q.running->cancel, 1);
    pthread_mutex_unlock(&Q.mu);
    free(it);
}

/* Queues `it` (owned; freed on failure). */
static int submit_item(qitem *it, const char *tenant, char *id_out)
{
    new_job_id(it->id);
    snprintf(it->tenant, sizeof it->tenant, "%s", tenant);
    char id[40];
    snprintf(id, sizeof id, "%s", it->id);   /* once queued, `it` may run, end and be freed at any time */
    /* Submits are serialised so that no two pass the bound check before
     * either is queued; the queue only shrinks meanwhile (jobs start or are
     * cancelled), which keeps the check conservative. */
    pthread_mutex_lock(&Q.submit_mu);
    int rc = submit_locked(it);
    pthread_mutex_unlock(&Q.submit_mu);
    if (rc) {
        free(it);
        return rc;
    }
    snprintf(id_out, 40, "%s", id);
    uv_async_send(&Q.async);
    return 0;
}

/* Checks the bounds, inserts the row ("queued") and queues `it`; on success
 * the queue owns it. */
static int submit_locked(qitem *it)
{
    pthread_mutex_lock(&Q.mu);
    int rc = queue_admits(it->tenant);
    pthread_mutex_unlock(&Q.mu);
    if (rc) return rc;
    if (it->study[0]) goto queue;   /* the study is its own record */
    cJSON *cfg = it->nas       ? nas_spec_to_json(&it->ns)
                 : it->fewshot ? fewshot_spec_to_json(&it->fs)
                               : meta_spec_to_json(&it->sp);
    char *cfg_json = cfg ? cJSON_PrintUnformatted(cfg) : NULL;
    cJSON_Delete(cfg);
    if (!cfg_json) return ERR_NO_MEMORY;
    store_meta_job_row row = {.id = it->id, .name = it->nas ? it->ns.name : it->fewshot ? it->fs.name : it->sp.name,
                              .source = "api", .tenant = it->tenant, .status = "queued", .config_json = cfg_json,
                              .outer_steps = it->nas       ? nas_run_total(&it->ns)
                                             : it->fewshot ? it->fs.outer_steps
                                                           : it->sp.outer_steps};
    rc = store_meta_job_insert(Q.a->db, &row);
    free(cfg_json);
    if (rc) return rc;
queue:
    append(it);
    return 0;
}

typedef struct status_ctx { char *buf; size_t cap; } status_ctx;

static int status_cb(void *ctx, const store_meta_job_row *j)
{
    status_ctx *c = ctx;
    snprintf(c->buf, c->cap, "%s", j->status);
    return 1;
}

int meta_jobs_cancel(const char *id, char *state, size_t cap)
{
    pthread_mutex_lock(&Q.mu);
    qitem *prev = NULL, *it = Q.head;
    while (it && strcmp(it->id, id) != 0) {
        prev = it;
        it = it->next;
    }
    if (it) {
        /* Storage first: a cancel that cannot be committed leaves the job
         * queued (and the answer 503), rather than gone from the queue while
         * the database still says "queued".  Q.mu is held across the commit
         * so the job cannot start meanwhile. */
        int rc = store_meta_job_update(Q.a->db, id, "cancelled", 0, 0, NULL, NULL, 0, NULL, 0);
        if (!rc) {
            if (prev) prev->next = it->next;
            else Q.head = it->next;
            if (Q.tail == it) Q.tail = prev;
        }
        pthread_mutex_unlock(&Q.mu);
        if (!rc) {
            free(it);
            snprintf(state, cap, "cancelled");
        }
        return rc;
    }
    int running = Q.running && strcmp(Q.running->id, id) == 0;
    if (running) atomic_store(&Q.running->cancel, 1);
    pthread_mutex_unlock(&Q.mu);
    if (running) {
        snprintf(state, cap, "cancelling");
        return 0;
    }
    status_ctx c = {state, cap};
    return store_meta_job_get(Q.a->db, id, 0, status_cb, &c);
}

int meta_jobs_cancelling(const char *id)
{
    pthread_mutex_lock(&Q.mu);
    int r = Q.running && strcmp(Q.running->id, id) == 0 && atomic_load(&Q.running->cancel) != 0;
    pthread_mutex_unlock(&Q.mu);
    return r;
}
