/* errors.h — the one table of error codes.
 *
 * Every function in the project returns 0 on success or a negative ERR_* code
 * from this table.  The table also gives each code its stable snake_case name
 * (the "code" of an error answer) and a default message.  Core knows nothing
 * of transports: the HTTP status of each code is mapped by the server
 * (src/server/http_status.c).  One code space: the codes that only the
 * server's request framing raises (invalid_header … unsupported_media_type)
 * live here too, described without naming HTTP.
 * Adding a code is one line here, one line in the server's status table
 * (http_status.c) and one line in proto/openapi.yaml.
 * Thread rules: pure data, safe from any thread. */
#ifndef OPTIRS_ERRORS_H
#define OPTIRS_ERRORS_H

#include <stddef.h>

/*  X(ENUM,                 "code",                "default message") */
#define ERR_MAP(X)                                                                          \
    X(ERR_INVALID_JSON,       "invalid_json",          "request body is not valid JSON") \
    X(ERR_INVALID_UTF8,       "invalid_utf8",          "a string is not valid UTF-8 (or holds a NUL code point)") \
    X(ERR_OUTPUT_TOO_LARGE,   "output_too_large",      "the answer would exceed the writer's size limit") \
    X(ERR_INVALID_ARGUMENT,   "invalid_argument",      "a field has the wrong type or value") \
    X(ERR_MISSING_FIELD,      "missing_field",         "a required field is missing") \
    X(ERR_UNKNOWN_FIELD,      "unknown_field",         "the request names a field that does not exist") \
    X(ERR_UNKNOWN_OPTIMIZER,  "unknown_optimizer",     "no optimizer has this name") \
    X(ERR_UNKNOWN_HYPERPARAM, "unknown_hyperparameter", "the optimizer has no hyperparameter of this name") \
    X(ERR_OUT_OF_RANGE,       "out_of_range",          "a value is outside its allowed range") \
    X(ERR_INVALID_SHAPE,      "invalid_shape",         "a tensor shape is empty, zero, negative or too large") \
    X(ERR_TOO_MANY_PARAMS,    "too_many_parameters",   "the session has more parameters than the limit") \
    X(ERR_SESSION_TOO_LARGE,  "session_too_large",     "the session needs more memory than --max-session-bytes allows") \
    X(ERR_MEMORY_BUDGET,      "memory_budget_exceeded", "the daemon's memory budget (--memory-budget) cannot hold this session now") \
    X(ERR_LENGTH_MISMATCH,    "length_mismatch",       "the vector length does not match the session's parameter count") \
    X(ERR_BAD_HEADER,         "invalid_header",        "request metadata is missing or malformed") \
    X(ERR_CONFLICTING_FRAMING,"conflicting_framing",   "the request declares its length in conflicting ways") \
    X(ERR_BAD_PATH,           "invalid_path",          "a resource path holds an encoded NUL or slash, or a malformed escape") \
    X(ERR_TOO_MANY_QUERY,     "too_many_query_parameters", "the request has more parameters than the limit") \
    X(ERR_NOT_IMPLEMENTED,    "not_implemented",       "the request uses an encoding the daemon does not implement") \
    X(ERR_NOT_FOUND,          "not_found",             "no such resource") \
    X(ERR_NO_DOMAIN_WEIGHTS,  "no_domain_weights",     "the optimizer has no weights record for the domain asked for") \
    X(ERR_SESSION_NOT_FOUND,  "session_not_found",     "no session has this id") \
    X(ERR_METHOD_NOT_ALLOWED, "method_not_allowed",    "the resource does not accept this operation") \
    X(ERR_NOT_ACCEPTABLE,     "not_acceptable",        "no answer encoding the caller accepts can be produced") \
    X(ERR_STEP_CONFLICT,      "step_conflict",         "the step number is not the next one") \
    X(ERR_SESSION_DIVERGED,   "session_diverged",      "the session produced a non-finite update and takes no more steps") \
    X(ERR_SESSION_CLOSED,     "session_closed",        "the session is finished or archived: it takes no more steps and cannot become active again") \
    X(ERR_WORKER_CONFLICT,    "worker_conflict",       "this worker already posted gradients for this step") \
    X(ERR_LENGTH_REQUIRED,    "length_required",       "the request must declare its length") \
    X(ERR_BODY_TOO_LARGE,     "body_too_large",        "the request body is over the limit") \
    X(ERR_UNSUPPORTED_MEDIA,  "unsupported_media_type", "the input's media type is not accepted here") \
    X(ERR_NON_FINITE,         "non_finite",            "a value is NaN or infinite, or overflows float32") \
    X(ERR_NON_FINITE_UPDATE,  "non_finite_update",     "the optimizer produced a non-finite update; nothing was applied") \
    X(ERR_STEP_TIMEOUT,       "step_timeout",          "not every worker posted gradients for this step in time") \
    X(ERR_OVERLOADED,         "overloaded",            "the compute queue is full; retry after the time in Retry-After") \
    X(ERR_NO_MEMORY,          "out_of_memory",         "the daemon is out of memory") \
    X(ERR_STORAGE,            "storage_unavailable",   "the database could not be written") \
    X(ERR_CORRUPT,            "corrupt_blob",          "a stored blob failed its checksum or version check") \
    X(ERR_SHUTTING_DOWN,      "shutting_down",         "the daemon is draining") \
    X(ERR_STARTING,           "starting",              "the daemon is still loading its sessions") \
    X(ERR_TOO_MANY_SESSIONS,  "too_many_sessions",     "the daemon holds its maximum number of sessions") \
    X(ERR_UNAUTHORIZED,       "unauthorized",          "a valid API key is required (Authorization: Bearer KEY)") \
    X(ERR_FORBIDDEN,          "forbidden",             "this key may not do that (an admin key is required)") \
    X(ERR_QUEUE_FULL,         "queue_full",            "the meta-training job queue is full (for the daemon or for this tenant)") \
    X(ERR_QUOTA_EXCEEDED,     "quota_exceeded",        "the tenant's session or parameter quota is used up") \
    X(ERR_RATE_LIMITED,       "rate_limited",          "too many requests for this key; retry after the time in Retry-After") \
    X(ERR_IDEMPOTENCY_REUSED, "idempotency_key_reused", "this Idempotency-Key was used with a different request body") \
    X(ERR_INVALID_STATE,      "invalid_state",         "an exported session state failed its format, version, checksum, size or optimizer check") \
    X(ERR_STUDY_PARALLEL_LIMIT, "study_parallel_limit", "the study already runs its parallel limit of trials") \
    X(ERR_STUDY_EXHAUSTED,    "study_exhausted",       "the study has used its max_trials") \
    X(ERR_TRIAL_FINISHED,     "trial_finished",        "the trial is not running (complete, pruned, failed or lost)") \
    X(ERR_TRIAL_PRUNED,       "trial_pruned",          "the session's study trial was pruned: the session takes no more steps") \
    X(ERR_STALE_ROUND,        "stale_round",           "the contribution is not for the meta-session's current round") \
    X(ERR_CLUSTER_DB,         "cluster_db_unavailable", "the cluster database (--cluster-db) cannot be reached, or the keys this daemon last read from it are too old") \
    X(ERR_INTERNAL,           "internal",              "internal error")

typedef enum {
    ERR_OK = 0,
#define ERR_ENUM_(e, c, m) e,
    ERR_FIRST_ = -1000,
    ERR_MAP(ERR_ENUM_)
#undef ERR_ENUM_
    ERR_LAST_
} err_code;

/* The stable snake_case name of code `e` ("internal" for an unknown code). */
const char *err_name(int e);
/* The default human message of `e`. */
const char *err_message(int e);
/* Writes the printf-style message into msg (when msg and cap are set) and
 * returns rc: the one way a function that reports through (msg, cap) says
 * why it fails, `return err_failf(msg, cap, ERR_X, "…", …);`. */
int err_failf(char *msg, size_t cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
