/* h_system.c — the daemon's own resources: health, Prometheus metrics,
 * the optimizer catalogue and the effective configuration. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "domain.h"
#include "errors.h"
#include "handlers.h"
#include "meta_jobs.h"
#include "opt.h"
#include "prom.h"
#include "store.h"

void h_livez(req *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "alive");
    http_resp_json(r, 200, o);
}

/* Ready means serving sessions with a database that takes writes: a
 * database file deleted, replaced or read-only under the daemon, or a
 * newest write that failed (disk full) and still fails, answers 503
 * "storage_unavailable" with the store's reason. */
void h_readyz(req *r)
{
    int st = atomic_load(&r->app->state);
    const char *why = NULL;
    if (st == APP_READY) store_health(r->app->db, 1, &why);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", why ? "storage_unavailable" : st == APP_READY ? "ready"
                                         : st == APP_STARTING ? "starting" : "draining");
    if (why) cJSON_AddStringToObject(o, "reason", why);
    http_resp_json(r, st == APP_READY && !why ? 200 : 503, o);
}

void h_metrics(req *r)
{
    size_t len;
    char *text = prom_render(r->app, &len);
    if (!text) http_resp_error(r, ERR_NO_MEMORY, NULL);
    else http_resp_take(r, 200, "text/plain; version=0.0.4", text, len);
}

static const char *kind_name(opt_kind k)
{
    return k == OPT_KIND_CLASSIC ? "classic" : k == OPT_KIND_LEARNED ? "learned" : "hybrid";
}

/* Adds each weights record of optimizer `name` to the array ctx->arr. */
typedef struct wcat_ctx { cJSON *arr; const char *opt; } wcat_ctx;

static int weights_of_opt(void *ctx, const store_weights_row *w)
{
    wcat_ctx *c = ctx;
    if (strcmp(w->arch, c->opt) != 0) return 0;
    cJSON *o = meta_weights_to_json(w);
    if (o) {
        /* The catalogue names and summarises (the architecture as GET /v1/weights/{name} gives it, read
         * off the blob); GET /v1/weights/{name} has the rest. */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "provenance");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "evaluation");
        cJSON_AddItemToArray(c->arr, o);
    }
    return 0;
}

void h_optimizers(req *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "optimizers");
    for (int i = 0; i < opt_registry_count(); i++) {
        const opt_vtbl *vt = opt_registry_at(i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", vt->name);
        cJSON_AddStringToObject(o, "kind", kind_name(vt->kind));
        cJSON_AddStringToObject(o, "description", vt->description);
        cJSON *hps = cJSON_AddArrayToObject(o, "hyperparams");
        for (int j = 0; j < opt_hparam_count(vt); j++) {
            const hparam_def *d = opt_hparam_at(vt, j);
            cJSON *h = cJSON_CreateObject();
            cJSON_AddStringToObject(h, "name", d->name);
            const char *const *values = opt_hparam_values(vt, j);
            if (values) {   /* a named hyperparameter: its default and allowed values as names */
                cJSON_AddStringToObject(h, "default", opt_hparam_value_name(vt, j, d->def));
                cJSON *va = cJSON_AddArrayToObject(h, "values");
                for (int k = 0; values[k]; k++) cJSON_AddItemToArray(va, cJSON_CreateString(values[k]));
            } else {
                cJSON_AddNumberToObject(h, "default", d->def);
            }
            cJSON_AddNumberToObject(h, "min", d->min);
            cJSON_AddNumberToObject(h, "max", d->max);
            cJSON_AddBoolToObject(h, "min_exclusive", d->min_open);
            cJSON_AddBoolToObject(h, "max_exclusive", d->max_open);
            cJSON_AddBoolToObject(h, "integer", d->integer);
            cJSON_AddStringToObject(h, "description", d->help);
            cJSON_AddItemToArray(hps, h);
        }
        if (vt->weights_arch) {
            /* Learned optimizers and hybrids: the weights records they can use
             * (a hybrid's are those of its learned part). */
            wcat_ctx wc = {cJSON_AddArrayToObject(o, "weights"), vt->weights_arch};
            if (store_weights_list(r->app->db, 1, weights_of_opt, &wc) != 0 ||
                domain_defaults_json(r->app->db, vt->weights_arch, o) != 0) {
                cJSON_Delete(o);
                cJSON_Delete(root);
                http_resp_error(r, ERR_STORAGE, NULL);
                return;
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *sch = cJSON_AddArrayToObject(root, "schedules");
    for (int k = SCHEDULE_CONSTANT; k <= SCHEDULE_STEP; k++)
        cJSON_AddItemToArray(sch, cJSON_CreateString(opt_schedule_name((schedule_kind)k)));
    http_resp_json(r, 200, root);
}

void h_config(req *r) { http_resp_json(r, 200, config_to_json(&r->app->cfg)); }
