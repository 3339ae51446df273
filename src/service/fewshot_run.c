/* fewshot_run.c — a few-shot meta-learning job run to its end, recorded in
 * the store (see fewshot_run.h). */
#include "fewshot_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain.h"
#include "errors.h"
#include "fewshot_record.h"
#include "meta_weights.h"

/* The most one job may allocate (it needs ~1 MB at the largest bounds). */
#define FEWSHOT_MAX_JOB_BYTES (256ull << 20)

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int fewshot_run_check(store *db, const fewshot_spec *sp, char *msg, size_t cap)
{
    uint64_t bytes = 0;
    if (fewshot_job_bytes(&sp->fc, &bytes) != 0) {
        snprintf(msg, cap, "the few-shot settings do not fit together");
        return ERR_INVALID_ARGUMENT;
    }
    if (bytes > FEWSHOT_MAX_JOB_BYTES) {
        snprintf(msg, cap, "the job would take %.1f MiB, more than the %d MiB a few-shot job may use",
                 (double)bytes / (1 << 20), (int)(FEWSHOT_MAX_JOB_BYTES >> 20));
        return ERR_OUT_OF_RANGE;
    }
    const char *method = fewshot_method_name(sp->fc.method);
    int rc = domain_check_record(sp->name, method, "synthetic", msg, cap);
    if (rc) return rc;
    return meta_weights_check_kind(db, sp->name, method, msg, cap);
}

static int store_result(store *db, const char *id, const fewshot_spec *sp, const fewshot_job *j, double wall_s,
                        double last_loss, int64_t *wversion, char *msg, size_t cap)
{
    fewshot_record r;
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc = fewshot_record_from_job(j, &r);
    if (!rc) rc = fewshot_record_save(&r, &blob, &len);
    if (rc) {
        fewshot_record_deinit(&r);
        snprintf(msg, cap, "cannot encode the weights (%s)", err_message(rc));
        return rc;
    }
    cJSON *prov = cJSON_CreateObject();
    cJSON_AddStringToObject(prov, "job_id", id);
    cJSON_AddStringToObject(prov, "method", fewshot_method_name(sp->fc.method));
    cJSON_AddNumberToObject(prov, "seed", (double)sp->fc.seed);
    cJSON_AddNumberToObject(prov, "outer_steps", (double)fewshot_job_step(j));
    cJSON_AddNumberToObject(prov, "wall_time_s", wall_s);
    cJSON_AddNumberToObject(prov, "final_meta_loss", isfinite(last_loss) ? last_loss : 0);
    cJSON_AddItemToObject(prov, "config", fewshot_spec_to_json(sp));
    char *prov_json = cJSON_PrintUnformatted(prov);
    cJSON_Delete(prov);
    store_weights_row row = {.name = sp->name, .version = 0, .arch = fewshot_method_name(sp->fc.method),
                             .hidden = sp->fc.hidden, .depth = sp->fc.depth,
                             .ntheta = (int64_t)(r.net.nparams * (r.alpha ? 2 : 1)), .domain = "synthetic",
                             .provenance_json = prov_json ? prov_json : "{}", .eval_json = "{}", .blob = blob,
                             .blob_len = len};
    rc = store_weights_put(db, &row, 0, wversion);
    if (!rc) {
        row.version = *wversion;
        rc = meta_weights_publish(&row);
    }
    if (rc) snprintf(msg, cap, "cannot store the weights record (%s)", err_message(rc));
    free(prov_json);
    free(blob);
    fewshot_record_deinit(&r);
    return rc;
}

int fewshot_run(store *db, const char *id, const fewshot_spec *sp, const meta_run_io *io, int64_t *wversion,
                char *msg, size_t cap)
{
    if (msg && cap) msg[0] = '\0';
    fewshot_job *j = NULL;
    int rc = fewshot_job_new(&sp->fc, &j);
    if (rc) snprintf(msg, cap, "cannot create the job (%s)", err_message(rc));
    double t0 = mono_s(), lsum = 0, last = NAN;
    int stopped = 0, every = sp->curve_every > 0 ? sp->curve_every : 100, k = 0;
    if (!rc) rc = store_meta_job_update(db, id, "running", 0, 0, NULL, NULL, 0, NULL, 0);
    while (!rc && fewshot_job_step(j) < sp->outer_steps) {
        int c = io && io->cancel ? atomic_load(io->cancel) : 0;
        if (c) {
            stopped = c;
            break;
        }
        double l, g;
        rc = fewshot_step(j, &l, &g);
        if (rc) {
            snprintf(msg, cap, "outer step %lld: the meta-gradient is not finite", (long long)fewshot_job_step(j) + 1);
            break;
        }
        lsum += l;
        k++;
        int64_t s = fewshot_job_step(j);
        if (s % every == 0 || s == sp->outer_steps) {
            last = lsum / k;
            lsum = 0;
            k = 0;
            rc = store_meta_curve_add(db, id, s, last, g);
            if (!rc) rc = store_meta_job_update(db, id, NULL, s, mono_s() - t0, NULL, NULL, 0, NULL, 0);
            if (rc) snprintf(msg, cap, "cannot record progress (%s)", err_message(rc));
            if (!rc && io && io->progress) {
                meta_report rep = {.step = s, .meta_loss = last, .grad_norm = g};
                io->progress(io->ctx, &rep, mono_s() - t0);
            }
        }
    }
    double wall = mono_s() - t0;
    int64_t step = j ? fewshot_job_step(j) : 0;
    int result;
    if (rc) {
        store_meta_job_update(db, id, "failed", step, wall, msg && *msg ? msg : err_message(rc), NULL, 0, NULL, 0);
        result = rc;
    } else if (stopped) {
        store_meta_job_update(db, id, stopped == 2 ? "interrupted" : "cancelled", step, wall, NULL, NULL, 0, NULL, 0);
        result = 1;
    } else {
        int64_t v = 0;
        rc = store_result(db, id, sp, j, wall, last, &v, msg, cap);
        if (rc) {
            store_meta_job_update(db, id, "failed", step, wall, msg, NULL, 0, NULL, 0);
            result = rc;
        } else {
            store_meta_job_update(db, id, "done", step, wall, NULL, sp->name, v, NULL, 0);
            if (wversion) *wversion = v;
            result = 0;
        }
    }
    fewshot_job_free(j);
    return result;
}
