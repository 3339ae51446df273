/* routes.c — the route table: every URL the daemon serves.  proto/openapi.yaml
 * documents exactly these (a test checks both directions). */
#include "handlers.h"
#include "http.h"

/* {method, pattern, handler, metrics label, flags}; flags: 0 (any valid key,
 * or anyone in open mode), ROUTE_PUBLIC (no key), ROUTE_ADMIN (admin key:
 * the operator's routes — keys, /metrics with its daemon-wide counts,
 * /v1/config with its file paths, creating meta-training jobs and weights).
 * Meta-training jobs are per tenant: h_meta.c shows and cancels a non-admin
 * key's own tenant's jobs only.  ROUTE_ANY_STATE: served while the daemon is
 * starting or draining too; every other route answers 503 then (checked
 * once, in dispatch). */
const route routes_table[] = {
    {"GET",    "/livez",                          h_livez,                "livez", ROUTE_PUBLIC | ROUTE_ANY_STATE},
    {"GET",    "/readyz",                         h_readyz,               "readyz", ROUTE_PUBLIC | ROUTE_ANY_STATE},
    {"GET",    "/metrics",                        h_metrics,              "metrics", ROUTE_ADMIN | ROUTE_ANY_STATE},
    {"GET",    "/v1/config",                      h_config,               "config", ROUTE_ADMIN | ROUTE_ANY_STATE},
    {"GET",    "/v1/optimizers",                  h_optimizers,           "optimizers", ROUTE_ANY_STATE},
    {"POST",   "/v1/sessions",                    h_sessions_create,      "sessions_create", 0},
    {"GET",    "/v1/sessions",                    h_sessions_list,        "sessions_list", 0},
    {"GET",    "/v1/sessions/{id}",               h_session_get,          "session_get", 0},
    {"PATCH",  "/v1/sessions/{id}",               h_session_patch,        "session_patch", 0},
    {"DELETE", "/v1/sessions/{id}",               h_session_delete,       "session_delete", 0},
    {"POST",   "/v1/sessions/{id}/step",          h_session_step,         "step", 0},
    {"GET",    "/v1/sessions/{id}/params",        h_session_params,       "params", 0},
    {"GET",    "/v1/sessions/{id}/state",         h_session_state,        "session_state", 0},
    {"POST",   "/v1/sessions/{id}/feedback",      h_session_feedback,     "feedback", 0},
    {"GET",    "/v1/sessions/{id}/feedback",      h_session_feedback_list,"feedback_list", 0},
    {"GET",    "/v1/sessions/{id}/metrics",       h_session_metrics,      "session_metrics", 0},
    {"POST",   "/v1/keys",                        h_keys_create,          "keys_create", ROUTE_ADMIN | ROUTE_ANY_STATE},
    {"GET",    "/v1/keys",                        h_keys_list,            "keys_list", ROUTE_ADMIN | ROUTE_ANY_STATE},
    {"DELETE", "/v1/keys/{id}",                   h_keys_revoke,          "keys_revoke", ROUTE_ADMIN | ROUTE_ANY_STATE},
    {"POST",   "/v1/meta/jobs",                   h_meta_jobs_create,     "meta_jobs_create", ROUTE_ADMIN},
    {"GET",    "/v1/meta/jobs",                   h_meta_jobs_list,       "meta_jobs_list", ROUTE_ANY_STATE},
    {"GET",    "/v1/meta/jobs/{id}",              h_meta_job_get,         "meta_job_get", ROUTE_ANY_STATE},
    {"DELETE", "/v1/meta/jobs/{id}",              h_meta_job_cancel,      "meta_job_cancel", ROUTE_ANY_STATE},
    /* meta-sessions: first-order meta-learning of clients' models (h_metasess.c) */
    {"POST",   "/v1/meta/sessions",               h_msess_create,         "meta_sessions_create", 0},
    {"GET",    "/v1/meta/sessions",               h_msess_list,           "meta_sessions_list", 0},
    {"GET",    "/v1/meta/sessions/{id}",          h_msess_get,            "meta_session_get", 0},
    {"DELETE", "/v1/meta/sessions/{id}",          h_msess_delete,         "meta_session_delete", 0},
    {"GET",    "/v1/meta/sessions/{id}/init",     h_msess_init,           "meta_session_init", 0},
    {"POST",   "/v1/meta/sessions/{id}/contributions", h_msess_contribute, "meta_session_contribute", 0},
    {"GET",    "/v1/weights",                     h_weights_list,         "weights_list", ROUTE_ANY_STATE},
    {"POST",   "/v1/weights",                     h_weights_import,       "weights_import", ROUTE_ADMIN},
    {"GET",    "/v1/weights/{name}",              h_weights_get,          "weights_get", ROUTE_ANY_STATE},
    {"GET",    "/v1/weights/{name}/blob",         h_weights_blob,         "weights_blob", ROUTE_ANY_STATE},
    /* hyperparameter studies (h_studies.c) */
    {"POST",   "/v1/studies",                     h_studies_create,       "studies_create", 0},
    {"GET",    "/v1/studies",                     h_studies_list,         "studies_list", 0},
    {"GET",    "/v1/studies/{id}",                h_study_get,            "study_get", 0},
    {"DELETE", "/v1/studies/{id}",                h_study_delete,         "study_delete", 0},
    {"POST",   "/v1/studies/{id}/trials",         h_study_ask,            "study_ask", 0},
    {"GET",    "/v1/studies/{id}/trials",         h_study_trials,         "study_trials", 0},
    {"POST",   "/v1/studies/{id}/trials/{n}/report", h_study_report,      "study_report", 0},
    {"POST",   "/v1/studies/{id}/trials/{n}/tell", h_study_tell,          "study_tell", 0},
    {"GET",    "/v1/weights/{name}/init",         h_weights_init,         "weights_init", ROUTE_ANY_STATE},
    /* analytics (h_analytics.c) and the dashboard (h_dashboard.c) */
    {"GET",    "/v1/sessions/{id}/summary",       h_analytics_summary,    "session_summary", 0},
    {"GET",    "/v1/sessions/{id}/events",        h_analytics_events,     "session_events", 0},
    {"GET",    "/v1/compare",                     h_analytics_compare,    "compare", 0},
    {"GET",    "/",                               h_dashboard,            "dashboard", ROUTE_PUBLIC | ROUTE_ANY_STATE},
};
const int routes_count = (int)(sizeof routes_table / sizeof routes_table[0]);
