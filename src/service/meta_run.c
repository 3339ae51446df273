/* meta_run.c — runs one meta-training job to its end, cancellation or an
 * error, recording everything in the store.  See meta_run.h. */
#include "meta_run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "lopt.h"
#include "meta_reptile.h"
#include "meta_continual.h"
#include "meta_weights.h"
#include "tasks.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(char *msg, size_t cap, int rc, const char *fmt, const char *a, const char *b)
{
    if (msg && cap) snprintf(msg, cap, fmt, a, b);
    return rc;
}

typedef struct worker_arg {
    meta_job *j;
    int tid, nthreads, rc;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    int P = meta_job_nparticles(a->j);
    for (int k = a->tid; k < P && !a->rc; k += a->nthreads) a->rc = meta_eval_particle(a->j, k);
    return NULL;
}

/* One outer step with the particles spread over nthreads threads. */
static int outer_step(meta_job *j, int nthreads, meta_report *rep)
{
    int rc = meta_step_begin(j);
    if (rc) return rc;
    int P = meta_job_nparticles(j);
    if (nthreads > P) nthreads = P;
    if (nthreads < 1) nthreads = 1;
    worker_arg args[64];
    pthread_t th[64];
    int started[64] = {0};
    if (nthreads > 64) nthreads = 64;
    for (int t = 0; t < nthreads; t++) args[t] = (worker_arg){j, t, nthreads, 0};
    for (int t = 1; t < nthreads; t++) started[t] = pthread_create(&th[t], NULL, worker_main, &args[t]) == 0;
    worker_main(&args[0]);
    for (int t = 1; t < nthreads; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else worker_main(&args[t]);   /* no thread: do its share here */
    }
    for (int t = 0; t < nthreads; t++)
        if (args[t].rc) return args[t].rc;
    return meta_step_end(j, rep);
}

static int threaded_step(void *ctx, meta_job *inner, meta_report *rep)
{
    return outer_step(inner, *(const int *)ctx, rep);
}

int meta_run_step(const meta_spec *sp, meta_job *j, int nthreads, meta_report *rep)
{
    if (sp->mc.maml_inner_steps > 0) return meta_reptile_step(j, threaded_step, &nthreads, rep);
    return outer_step(j, nthreads, rep);
}

static int save_checkpoint(const meta_run_io *io, const meta_job *j, uint8_t **out, size_t *len, char *msg, size_t cap)
{
    return io && io->save ? io->save(io->tctx, j, out, len, msg, cap) : meta_save(j, out, len);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return ERR_STORAGE;
    int ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : ERR_STORAGE;
}

/* The stage-end evaluations of this run (stage_eval) for the provenance:
 * `list` (NULL when the spec asks for none) and the outer step the run
 * started from — a run resumed from a checkpoint did not see the stages
 * that ended before it. */
typedef struct stage_log { cJSON *list; int64_t from_step; } stage_log;

/* Stores theta as the next version of the record `name` (sp->name, or a kept
 * checkpoint's NAME.stepN) with its provenance. */
static int store_result(store *db, const char *id, const meta_spec *sp, const char *name, meta_job *j, double wall_s,
                        double last_loss, const stage_log *stages, const char *out_path, int64_t *wversion, char *msg,
                        size_t cap)
{
    const lopt_weights *w = meta_job_weights(j);
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc = lopt_weights_save(w, &blob, &len);
    if (rc) return fail(msg, cap, rc, "cannot encode the weights (%s)%s", err_message(rc), "");
    cJSON *prov = cJSON_CreateObject();
    cJSON_AddStringToObject(prov, "job_id", id);
    cJSON_AddNumberToObject(prov, "seed", (double)sp->mc.seed);
    cJSON_AddStringToObject(prov, "estimator", meta_spec_estimator_name(sp->mc.estimator));
    cJSON *t = cJSON_AddArrayToObject(prov, "task_families");
    for (int i = 0; i < sp->mc.ntasks; i++) cJSON_AddItemToArray(t, cJSON_CreateString(sp->task_text[i]));
    cJSON_AddNumberToObject(prov, "outer_steps", (double)meta_job_step(j));
    cJSON_AddNumberToObject(prov, "wall_time_s", wall_s);
    cJSON_AddNumberToObject(prov, "final_meta_loss", isfinite(last_loss) ? last_loss : 0);
    cJSON_AddItemToObject(prov, "config", meta_spec_to_json(sp));
    if (stages->list) {
        cJSON_AddItemToObject(prov, "stage_losses", cJSON_Duplicate(stages->list, 1));
        cJSON_AddNumberToObject(prov, "stage_losses_from_step", (double)stages->from_step);
    }
    char *prov_json = cJSON_PrintUnformatted(prov);
    cJSON_Delete(prov);
    store_weights_row row = {.name = name, .version = 0, .arch = sp->mc.optimizer, .hidden = w->hidden,
                             .depth = w->depth, .ntheta = (int64_t)w->ntheta, .domain = sp->domain,
                             .provenance_json = prov_json ? prov_json : "{}", .eval_json = "{}",
                             .blob = blob, .blob_len = len};
    rc = store_weights_put(db, &row, 0, wversion);
    if (!rc) {
        row.version = *wversion;
        rc = meta_weights_publish(&row);
    }
    if (!rc && out_path && write_file(out_path, blob, len) != 0)
        rc = fail(msg, cap, ERR_STORAGE, "cannot write %.200s%s", out_path, "");
    else if (rc) fail(msg, cap, rc, "cannot store the weights record (%s)%s", err_message(rc), "");
    free(prov_json);
    free(blob);
    return rc;
}

int meta_run_job_new(const meta_spec *sp, meta_job **out, char *msg, size_t cap)
{
    lopt_weights init = {0};
    int rc = 0;
    if (sp->init_weights[0]) {
        meta_weights_lock();
        rc = lopt_registry_get(sp->init_weights, &init);
        meta_weights_unlock();
        if (rc) fail(msg, cap, rc, "no weights record named \"%.60s\"%s", sp->init_weights, "");
    }
    if (!rc) {
        rc = meta_job_new(&sp->mc, sp->init_weights[0] ? &init : NULL, out);
        if (rc) fail(msg, cap, rc, "cannot create the job (%s; init_weights must match optimizer, hidden, depth, activation and features, and a FiLM record needs film = 1)%s",
                     err_message(rc), "");
    }
    lopt_weights_deinit(&init);
    return rc;
}

/* After outer step `step` - 1: when it ended a stage and the spec asks
 * for it, every family's meta-loss — appended to stages->list as {"stage",
 * "step", "meta_loss": {family: loss}} and, when io->stage_end is set, as
 * its line (meta_run.h). */
static int stage_eval(const meta_spec *sp, const meta_job *j, int64_t step, const meta_run_io *io, stage_log *stages,
                      char *msg, size_t cap)
{
    const meta_config *c = &sp->mc;
    int s = meta_stage_at(c, step - 1);
    if (!stages->list || !c->nstages || step != meta_stage_start(c, s + 1)) return 0;
    cJSON *e = cJSON_CreateObject(), *losses = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "meta_loss", losses);
    cJSON_AddNumberToObject(e, "stage", s + 1);
    cJSON_AddNumberToObject(e, "step", (double)step);
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof line, "stage %d/%d end (step %lld):", s + 1, c->nstages, (long long)step);
    for (int i = 0; i < c->ntasks; i++) {
        int seen = 0;
        for (int q = 0; q < i; q++) seen |= strcmp(c->tasks[q].family, c->tasks[i].family) == 0;
        if (seen) continue;
        double l;
        int rc = meta_family_loss(c, meta_job_weights(j)->theta, c->tasks[i].family, sp->stage_eval_seeds,
                                  sp->stage_eval_steps, &l);
        if (rc) {
            cJSON_Delete(e);
            return fail(msg, cap, rc, "stage evaluation failed: %s (%.150s)", err_message(rc), tasks_last_error());
        }
        cJSON_AddNumberToObject(losses, c->tasks[i].family, l);
        if (n < sizeof line) n += (size_t)snprintf(line + n, sizeof line - n, " %s=%.6g", c->tasks[i].family, l);
    }
    cJSON_AddItemToArray(stages->list, e);
    if (io && io->stage_end) io->stage_end(io->ctx, line);
    return 0;
}

int meta_run_check_weights(const meta_spec *sp, char *msg, size_t cap)
{
    if (!sp->init_weights[0]) return 0;
    meta_job *j = NULL;
    int rc = meta_run_job_new(sp, &j, msg, cap);
    meta_job_free(j);
    return rc;
}

int meta_run(store *db, const char *id, const meta_spec *sp, const void *ckpt, size_t ckpt_len, double wall0,
             const meta_run_io *io, int64_t *wversion, char *msg, size_t cap)
{
    meta_job *j = NULL;
    if (msg && cap) msg[0] = '\0';
    int rc = meta_run_job_new(sp, &j, msg, cap);
    if (!rc && ckpt) {
        rc = meta_load(j, ckpt, ckpt_len);
        if (rc) fail(msg, cap, rc, "the meta-checkpoint does not match this configuration (%s)%s", err_message(rc), "");
    }
    if (!rc && io && io->begin) rc = io->begin(io->tctx, j, msg, cap);
    int nthreads = sp->threads;
    if (nthreads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = cores > 0 ? (int)cores : 1;
    }
    double t0 = mono_s(), last_loss = NAN;
    int stopped = 0;
    stage_log stages = {sp->stage_eval_steps ? cJSON_CreateArray() : NULL, j ? meta_job_step(j) : 0};
    if (!rc) rc = store_meta_job_update(db, id, "running", meta_job_step(j), wall0, NULL, NULL, 0, NULL, 0);
    while (!rc && meta_job_step(j) < sp->outer_steps) {
        int c = io && io->cancel ? atomic_load(io->cancel) : 0;
        if (c) {
            stopped = c;
            break;
        }
        meta_report rep;
        if (io && io->step && sp->mc.maml_inner_steps > 0)
            rc = fail(msg, cap, ERR_INVALID_ARGUMENT, "maml_inner_steps runs on one process (not over MPI ranks)%s%s", "", "");
        else if (io && io->step) rc = io->step(io->tctx, j, &rep, msg, cap);
        else {
            rc = meta_run_step(sp, j, nthreads, &rep);
            if (rc) fail(msg, cap, rc, "outer step failed: %s (%.150s)", err_message(rc), tasks_last_error());
        }
        if (rc) break;
        last_loss = rep.meta_loss;
        double wall = wall0 + mono_s() - t0;
        rc = store_meta_curve_add(db, id, rep.step, rep.meta_loss, rep.grad_norm);
        uint8_t *blob = NULL;
        size_t len = 0;
        int at_ckpt = rep.step % sp->checkpoint_every == 0;
        if (!rc && (at_ckpt || rep.step == sp->outer_steps)) rc = save_checkpoint(io, j, &blob, &len, msg, cap);
        char ck[META_WNAME_MAX];
        int64_t ckv;
        if (!rc && sp->keep_checkpoints && at_ckpt && rep.step < sp->outer_steps && meta_spec_checkpoint_name(sp, rep.step, ck))
            rc = store_result(db, id, sp, ck, j, wall, rep.meta_loss, &stages, NULL, &ckv, msg, cap);
        if (!rc) rc = store_meta_job_update(db, id, NULL, rep.step, wall, NULL, NULL, 0, blob, len);
        free(blob);
        if (rc && !(msg && *msg)) fail(msg, cap, rc, "cannot record progress (%s)%s", err_message(rc), "");
        if (!rc && io && io->progress) io->progress(io->ctx, &rep, wall);
        if (!rc) rc = stage_eval(sp, j, rep.step, io, &stages, msg, cap);
    }
    double wall = wall0 + mono_s() - t0;
    int result;
    if (rc) {
        store_meta_job_update(db, id, "failed", j ? meta_job_step(j) : 0, wall, msg && *msg ? msg : err_message(rc),
                              NULL, 0, NULL, 0);
        result = rc;
    } else if (stopped) {
        uint8_t *blob = NULL;
        size_t len = 0;
        save_checkpoint(io, j, &blob, &len, NULL, 0);
        store_meta_job_update(db, id, stopped == 2 ? "interrupted" : "cancelled", meta_job_step(j), wall, NULL, NULL, 0,
                              blob, len);
        free(blob);
        result = 1;
    } else {
        int64_t v = 0;
        rc = store_result(db, id, sp, sp->name, j, wall, last_loss, &stages, io ? io->out_path : NULL, &v, msg, cap);
        if (rc) {
            store_meta_job_update(db, id, "failed", meta_job_step(j), wall, msg, NULL, 0, NULL, 0);
            result = rc;
        } else {
            store_meta_job_update(db, id, "done", meta_job_step(j), wall, NULL, sp->name, v, NULL, 0);
            if (wversion) *wversion = v;
            result = 0;
        }
    }
    cJSON_Delete(stages.list);
    meta_job_free(j);
    return result;
}

void meta_run_pace(int64_t step, int64_t outer_steps, double wall_s, double *rate, double *eta)
{
    *rate = *eta = NAN;
    if (step < 1 || outer_steps < 1 || !isfinite(wall_s) || !(wall_s > 0)) return;
    double r = (double)step / wall_s;
    if (!isfinite(r) || !(r > 0)) return;
    *rate = r;
    *eta = step >= outer_steps ? 0 : (double)(outer_steps - step) / r;
}
