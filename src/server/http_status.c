/* http_status.c — see http_status.h.  The table is indexed by code, so a
 * code without a row has status 0 (the unit test fails on it) and a code
 * listed twice does not compile (-Woverride-init, part of -Wextra). */
#include "http_status.h"

#include <stddef.h>

#include "errors.h"

typedef struct { int status; const char *message; } http_status_row;

#define HTTP_STATUS_(e, status, message) [(e) - (ERR_FIRST_ + 1)] = {status, message}

/*  HTTP_STATUS_(ENUM,            status, HTTP wording of the message or NULL for core's) */
static const http_status_row rows[ERR_LAST_ - (ERR_FIRST_ + 1)] = {
    HTTP_STATUS_(ERR_INVALID_JSON,        400, NULL),
    HTTP_STATUS_(ERR_INVALID_UTF8,        400, NULL),
    HTTP_STATUS_(ERR_OUTPUT_TOO_LARGE,    500, NULL),
    HTTP_STATUS_(ERR_INVALID_ARGUMENT,    400, NULL),
    HTTP_STATUS_(ERR_MISSING_FIELD,       400, NULL),
    HTTP_STATUS_(ERR_UNKNOWN_FIELD,       400, NULL),
    HTTP_STATUS_(ERR_UNKNOWN_OPTIMIZER,   400, NULL),
    HTTP_STATUS_(ERR_UNKNOWN_HYPERPARAM,  400, NULL),
    HTTP_STATUS_(ERR_OUT_OF_RANGE,        400, NULL),
    HTTP_STATUS_(ERR_INVALID_SHAPE,       400, NULL),
    HTTP_STATUS_(ERR_TOO_MANY_PARAMS,     400, NULL),
    HTTP_STATUS_(ERR_SESSION_TOO_LARGE,   413, NULL),
    HTTP_STATUS_(ERR_MEMORY_BUDGET,       403, NULL),
    HTTP_STATUS_(ERR_LENGTH_MISMATCH,     400, NULL),
    HTTP_STATUS_(ERR_BAD_HEADER,          400, "a request header is missing or malformed"),
    HTTP_STATUS_(ERR_CONFLICTING_FRAMING, 400, "the request's framing headers conflict"),
    HTTP_STATUS_(ERR_BAD_PATH,            400, "the request path holds an encoded NUL or slash, or a malformed escape"),
    HTTP_STATUS_(ERR_TOO_MANY_QUERY,      414, "the query string has more parameters than the limit"),
    HTTP_STATUS_(ERR_NOT_IMPLEMENTED,     501, "the request uses a transfer coding the daemon does not implement"),
    HTTP_STATUS_(ERR_NOT_FOUND,           404, NULL),
    HTTP_STATUS_(ERR_NO_DOMAIN_WEIGHTS,   422, NULL),
    HTTP_STATUS_(ERR_SESSION_NOT_FOUND,   404, NULL),
    HTTP_STATUS_(ERR_METHOD_NOT_ALLOWED,  405, "the route does not accept this method"),
    HTTP_STATUS_(ERR_NOT_ACCEPTABLE,      406, "the Accept header names no encoding this route can produce"),
    HTTP_STATUS_(ERR_STEP_CONFLICT,       409, NULL),
    HTTP_STATUS_(ERR_SESSION_DIVERGED,    409, NULL),
    HTTP_STATUS_(ERR_SESSION_CLOSED,      409, NULL),
    HTTP_STATUS_(ERR_WORKER_CONFLICT,     409, NULL),
    HTTP_STATUS_(ERR_LENGTH_REQUIRED,     411, "the request needs a Content-Length"),
    HTTP_STATUS_(ERR_BODY_TOO_LARGE,      413, NULL),
    HTTP_STATUS_(ERR_UNSUPPORTED_MEDIA,   415, "the Content-Type is not accepted here"),
    HTTP_STATUS_(ERR_NON_FINITE,          422, NULL),
    HTTP_STATUS_(ERR_NON_FINITE_UPDATE,   422, NULL),
    HTTP_STATUS_(ERR_STEP_TIMEOUT,        504, NULL),
    HTTP_STATUS_(ERR_OVERLOADED,          503, NULL),
    HTTP_STATUS_(ERR_NO_MEMORY,           503, NULL),
    HTTP_STATUS_(ERR_STORAGE,             503, NULL),
    HTTP_STATUS_(ERR_CORRUPT,             500, NULL),
    HTTP_STATUS_(ERR_INVALID_STATE,       400, NULL),
    HTTP_STATUS_(ERR_SHUTTING_DOWN,       503, NULL),
    HTTP_STATUS_(ERR_STARTING,            503, NULL),
    HTTP_STATUS_(ERR_TOO_MANY_SESSIONS,   503, NULL),
    HTTP_STATUS_(ERR_UNAUTHORIZED,        401, NULL),
    HTTP_STATUS_(ERR_FORBIDDEN,           403, NULL),
    HTTP_STATUS_(ERR_QUEUE_FULL,          429, NULL),
    HTTP_STATUS_(ERR_QUOTA_EXCEEDED,      403, NULL),
    HTTP_STATUS_(ERR_RATE_LIMITED,        429, NULL),
    HTTP_STATUS_(ERR_IDEMPOTENCY_REUSED,  422, NULL),
    HTTP_STATUS_(ERR_STUDY_PARALLEL_LIMIT, 409, NULL),
    HTTP_STATUS_(ERR_STUDY_EXHAUSTED,     409, NULL),
    HTTP_STATUS_(ERR_TRIAL_FINISHED,      409, NULL),
    HTTP_STATUS_(ERR_STALE_ROUND,         409, NULL),
    HTTP_STATUS_(ERR_TRIAL_PRUNED,        410, NULL),
    HTTP_STATUS_(ERR_CLUSTER_DB,          503, NULL),
    HTTP_STATUS_(ERR_INTERNAL,            500, NULL),
};

#undef HTTP_STATUS_

/* The row of `e`; internal's for a code outside the table. */
static const http_status_row *row_of(int e)
{
    int i = e - (ERR_FIRST_ + 1);
    if (i < 0 || i >= (int)(sizeof rows / sizeof rows[0]) || !rows[i].status) i = ERR_INTERNAL - (ERR_FIRST_ + 1);
    return &rows[i];
}

int http_status_of(int e) { return row_of(e)->status; }

const char *http_status_message(int e)
{
    const http_status_row *r = row_of(e);
    return r->message ? r->message : err_message(e);   /* internal's for an unknown code */
}
