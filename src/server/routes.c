/* routes.c — the route table: every URL the daemon serves.  proto/openapi.yaml
 * documents exactly these (a test checks both directions). */
#include "handlers.h"
#include "http.h"

/* {method, pattern, handler, metrics label, flags}; flags: 0 (any valid key,
 * or anyone in open mode), ROUTE_PUBLIC (no key), ROUTE_ADMIN (admin key). */
const route http_routes[] = {
    {"GET",    "/livez",                          h_livez,                "livez", ROUTE_PUBLIC},
    {"GET",    "/readyz",                         h_readyz,               "readyz", ROUTE_PUBLIC},
    {"GET",    "/metrics",                        h_metrics,              "metrics", 0},
    {"GET",    "/v1/config",                      h_config,               "config", 0},
    {"GET",    "/v1/optimizers",                  h_optimizers,           "optimizers", 0},
    {"POST",   "/v1/sessions",                    h_sessions_create,      "sessions_create", 0},
    {"GET",    "/v1/sessions",                    h_sessions_list,        "sessions_list", 0},
    {"GET",    "/v1/sessions/{id}",               h_session_get,          "session_get", 0},
    {"DELETE", "/v1/sessions/{id}",               h_session_delete,       "session_delete", 0},
    {"POST",   "/v1/sessions/{id}/step",          h_session_step,         "step", 0},
    {"GET",    "/v1/sessions/{id}/params",        h_session_params,       "params", 0},
    {"POST",   "/v1/sessions/{id}/feedback",      h_session_feedback,     "feedback", 0},
    {"GET",    "/v1/sessions/{id}/feedback",      h_session_feedback_list,"feedback_list", 0},
    {"GET",    "/v1/sessions/{id}/metrics",       h_session_metrics,      "session_metrics", 0},
    {"POST",   "/v1/keys",                        h_keys_create,          "keys_create", ROUTE_ADMIN},
    {"GET",    "/v1/keys",                        h_keys_list,            "keys_list", ROUTE_ADMIN},
    {"DELETE", "/v1/keys/{id}",                   h_keys_revoke,          "keys_revoke", ROUTE_ADMIN},
};
const int http_route_count = (int)(sizeof http_routes / sizeof http_routes[0]);
