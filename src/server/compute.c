/* compute.c — see compute.h. */
#include "compute.h"

#include <stdlib.h>

#include "errors.h"

typedef struct compute_job {
    pool_job   base;                /* first: the pool hands back &base */
    req       *r;
    compute_fn work;
    void     (*free_ctx)(void *ctx);
    void      *ctx;
} compute_job;

/* Under the pool's lock, before any pool thread can see the job: the
 * connection is suspended before anything can resume it. */
static void job_admit(pool_job *pj)
{
    http_suspend(((compute_job *)pj)->r);
}

static void job_run(pool_job *pj, int cancelled)
{
    compute_job *j = (compute_job *)pj;
    req *r = j->r;
    if (cancelled) {
        http_resp_error(r, ERR_SHUTTING_DOWN, "the daemon stopped before this request ran; nothing was applied");
    } else if (j->work(r, j->ctx) == COMPUTE_PARKED) {
        return;   /* r belongs to whoever parked it now */
    }
    http_resume(r);
}

static void job_release(pool_job *pj)
{
    compute_job *j = (compute_job *)pj;
    if (j->free_ctx) j->free_ctx(j->ctx);
    free(j);
}

int compute_try_inline(req *r, pool_lane *lane, compute_fn work, void (*free_ctx)(void *ctx), void *ctx)
{
    if (!lane || !pool_inline_begin(lane)) return 0;
    work(r, ctx);
    pool_inline_end(lane);
    if (free_ctx) free_ctx(ctx);
    return 1;
}

void compute_defer(req *r, pool_lane *lane, int lane_limit, compute_fn work, void (*free_ctx)(void *ctx), void *ctx)
{
    compute_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_resp_error(r, ERR_NO_MEMORY, NULL);
        if (free_ctx) free_ctx(ctx);
        return;
    }
    j->base.run = job_run;
    j->base.release = job_release;
    j->base.admit = job_admit;
    j->r = r;
    j->work = work;
    j->free_ctx = free_ctx;
    j->ctx = ctx;
    int rc = pool_submit(lane, lane_limit, &j->base);
    if (rc == 0) return;
    if (rc == ERR_OVERLOADED) r->retry_after = 1;
    http_resp_error(r, rc, NULL);
    free(j);
    if (free_ctx) free_ctx(ctx);
}
