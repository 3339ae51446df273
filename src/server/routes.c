/* routes.c — the route table: every URL the daemon serves.  proto/openapi.yaml
 * documents exactly these (a test checks both directions). */
#include "handlers.h"
#include "http.h"

const route http_routes[] = {
    {"GET",    "/livez",                          h_livez,                "livez"},
    {"GET",    "/readyz",                         h_readyz,               "readyz"},
    {"GET",    "/metrics",                        h_metrics,              "metrics"},
    {"GET",    "/v1/config",                      h_config,               "config"},
    {"GET",    "/v1/optimizers",                  h_optimizers,           "optimizers"},
    {"POST",   "/v1/sessions",                    h_sessions_create,      "sessions_create"},
    {"GET",    "/v1/sessions",                    h_sessions_list,        "sessions_list"},
    {"GET",    "/v1/sessions/{id}",               h_session_get,          "session_get"},
    {"DELETE", "/v1/sessions/{id}",               h_session_delete,       "session_delete"},
    {"POST",   "/v1/sessions/{id}/step",          h_session_step,         "step"},
    {"GET",    "/v1/sessions/{id}/params",        h_session_params,       "params"},
    {"POST",   "/v1/sessions/{id}/feedback",      h_session_feedback,     "feedback"},
    {"GET",    "/v1/sessions/{id}/feedback",      h_session_feedback_list,"feedback_list"},
    {"GET",    "/v1/sessions/{id}/metrics",       h_session_metrics,      "session_metrics"},
};
const int http_route_count = (int)(sizeof http_routes / sizeof http_routes[0]);
