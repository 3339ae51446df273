/* optirs_client.h — the C client of optirsd (libcurl + cJSON), usable from C++.
 *
 * The same surface as the Python client: a client (base URL + optional API
 * key) makes sessions; a session posts the gradients of each step as raw
 * little-endian float32 (proto/binary.md) and gets the update back, keeping
 * the step counter itself.  Everything else speaks JSON (proto/openapi.yaml).
 *
 * Errors: every function returns 0 or a negative OPTIRS_E_* code.  For
 * OPTIRS_E_HTTP the daemon's answer is in optirs_client_error(c): the HTTP
 * status, the stable error `code` string ("session_not_found",
 * "step_conflict", …), the message, and `expected` for step_conflict.  For
 * OPTIRS_E_CONNECT the code is "connection_error" and the message is
 * libcurl's.
 *
 * Retries: idempotent requests (GET, DELETE, steps — a step carries its
 * number, and the daemon answers a repeat of its last step from what it
 * stored without applying it again) are re-sent after connection errors,
 * after 503 starting / shutting_down / storage_unavailable, and after a
 * proxy's 502/503/504 that is not a daemon error, at most `retries` times
 * with a backoff doubling from 50 ms to 2 s.  Session creation and feedback
 * carry a random Idempotency-Key, so they are retried the same way.  Any
 * request answered 429 rate_limited is re-sent after its Retry-After.
 *
 * Ownership: optirs_client_new/optirs_client_free, optirs_session_*
 * objects are freed with optirs_session_free (before their client).  Every
 * cJSON ** out-parameter receives a tree the caller frees with cJSON_Delete.
 *
 * Threads: a client (and its sessions) is used by one thread at a time; use
 * one client per thread.  Call curl_global_init(CURL_GLOBAL_DEFAULT) once
 * before starting threads if the program is multi-threaded (optirs_client_new
 * calls it too, which is not thread-safe on old libcurl). */
#ifndef OPTIRS_CLIENT_H
#define OPTIRS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OPTIRS_DEFAULT_URL "http://127.0.0.1:8080"

enum {
    OPTIRS_OK          = 0,
    OPTIRS_E_ARG       = -1,   /* bad argument (NULL, wrong length, malformed spec) */
    OPTIRS_E_NOMEM     = -2,   /* out of memory */
    OPTIRS_E_CONNECT   = -3,   /* could not reach the daemon (after retries) */
    OPTIRS_E_HTTP      = -4,   /* the daemon answered an error: see optirs_client_error */
    OPTIRS_E_PROTOCOL  = -5    /* an answer that does not follow the contract */
};

typedef struct optirs_error {
    int     status;            /* HTTP status; 0 for connection errors */
    char    code[64];          /* "session_not_found", "connection_error", "http_502", … */
    char    message[512];
    int     has_expected;      /* step_conflict: 1 and `expected` set */
    int64_t expected;
} optirs_error;

typedef struct optirs_client optirs_client;
typedef struct optirs_session optirs_session;

/* Makes a client.  url NULL: $OPTIRS_URL, else OPTIRS_DEFAULT_URL; api_key
 * NULL: $OPTIRS_API_KEY (unset or empty: no Authorization header).  A URL
 * is http(s)://HOST[:PORT][/prefix] (the prefix is kept in front of every
 * path) or unix:///ABSOLUTE/PATH, the socket file of a daemon started with
 * --listen unix:/ABSOLUTE/PATH (at most 107 bytes; Host: localhost).
 * 0, OPTIRS_E_ARG or
 * OPTIRS_E_NOMEM; the caller frees *out with optirs_client_free. */
int  optirs_client_new(const char *url, const char *api_key, optirs_client **out);
void optirs_client_free(optirs_client *c);
/* Retry policy: at most `retries` re-sends (default 6), backoff from
 * `backoff_s` (default 0.05) doubling up to `max_backoff_s` (default 2);
 * `timeout_s` per request (default 60). */
void optirs_client_set_retry(optirs_client *c, int retries, double backoff_s, double max_backoff_s);
void optirs_client_set_timeout(optirs_client *c, double timeout_s);
/* Element types of binary step bodies (proto/binary.md §8). */
enum { OPTIRS_DTYPE_F32 = 0, OPTIRS_DTYPE_F16 = 1, OPTIRS_DTYPE_BF16 = 2 };
/* The element type of step requests (default F32) and of their answers:
 * 16-bit bodies are half the bytes, rounded to nearest even here (requests)
 * and by the daemon (answers); a 16-bit answer is the update rounded, so
 * params + update then drifts from the daemon's float32 copy by that
 * rounding.  The answer's own Content-Type decides how it is read (float32
 * when a value would overflow the 16-bit type).  OPTIRS_OK or OPTIRS_E_ARG. */
int  optirs_client_set_dtype(optirs_client *c, int dtype, int answer_dtype);
/* The error of the last failed call on this client (valid until the next call). */
const optirs_error *optirs_client_error(const optirs_client *c);
const char *optirs_client_url(const optirs_client *c);
/* A static description of an OPTIRS_E_* code. */
const char *optirs_strerror(int rc);

/* One JSON request: path starts with "/" (query string included); body is
 * JSON text or NULL.  On a 2xx answer *status (may be NULL) gets the status
 * and *out (may be NULL) the parsed body (NULL when the body is empty).
 * idempotent != 0 allows the retries above.  This is the building block of
 * everything below and of the `optirs` tool. */
int  optirs_request_json(optirs_client *c, const char *method, const char *path, const char *body,
                         int idempotent, int *status, cJSON **out);

/* One request with a raw body (ctype NULL: none) and a raw answer: on a 2xx
 * answer *out (malloc'd, NUL-terminated, freed by the caller with free)
 * and *out_len get its body.  accept NULL means application/json. */
int  optirs_request_raw(optirs_client *c, const char *method, const char *path, const char *ctype,
                        const void *body, size_t len, const char *accept, int idempotent,
                        int *status, char **out, size_t *out_len);

/* ---- catalogue and listings ---- */
/* GET /v1/optimizers. */
int  optirs_optimizers(optirs_client *c, cJSON **out);
/* GET /v1/sessions?limit=&page_token= — one page (limit 0: the daemon's
 * default; page_token NULL: the first page). */
int  optirs_sessions_list(optirs_client *c, int limit, const char *page_token, cJSON **out);

/* ---- sessions ---- */
typedef struct optirs_tensor {
    const char    *name;       /* may be NULL */
    const int64_t *shape;
    int            ndim;
} optirs_tensor;

/* The tensor graph of one tensor (optional; graph_lopt reads it, other
 * optimizers accept it): the names of the n_inputs tensors feeding it (at
 * most 8; inputs NULL: not sent, the daemon's default chain) and its role
 * ("weight", "bias", "embedding", "norm", "other"; NULL: not sent, the
 * daemon's default from the shape). */
typedef struct optirs_tensor_graph {
    const char *const *inputs;
    int                n_inputs;
    const char        *role;
} optirs_tensor_graph;

/* The common fields of a create request; NULL / 0 fields are left out (the
 * daemon's defaults).  For anything else use optirs_session_create_json. */
typedef struct optirs_spec {
    const char          *optimizer;         /* required */
    const char          *hyperparams_json;  /* e.g. "{\"lr\":0.01}" */
    const char          *schedule;
    const char          *weights;
    const optirs_tensor *tensors;           /* required, n_tensors >= 1 */
    int                  n_tensors;
    const float         *params;            /* initial params, n_params values */
    size_t               n_params;
    const char          *durability;        /* "checkpoint" | "step" */
    const char          *name;
    int                  workers;
    int64_t              total_steps;
    const char          *domain;            /* learned optimizers: "vision", "text", "tabular",
                                               "synthetic" — that domain's weights record (the
                                               daemon answers no_domain_weights when it has none) */
    const optirs_tensor_graph *graph;       /* NULL, or n_tensors entries: each tensor's inputs
                                               and role (optirs_tensor_graph) */
} optirs_spec;

/* POST /v1/sessions with a JSON spec (CreateSessionRequest) or a struct.
 * *out gets the session (step counter at the daemon's step, 0). */
int  optirs_session_create_json(optirs_client *c, const char *spec_json, optirs_session **out);
int  optirs_session_create(optirs_client *c, const optirs_spec *spec, optirs_session **out);
/* Attaches to an existing session (GET /v1/sessions/{id}); the step counter
 * starts at the daemon's last step. */
int  optirs_session_open(optirs_client *c, const char *id, optirs_session **out);
void optirs_session_free(optirs_session *s);

const char *optirs_session_id(const optirs_session *s);
size_t      optirs_session_num_params(const optirs_session *s);
/* The last step this object knows to be applied (the next step is +1). */
int64_t     optirs_session_last_step(const optirs_session *s);
/* The description as the daemon last gave it (owned by the session). */
const cJSON *optirs_session_desc(const optirs_session *s);

/* Posts the gradients of step last+1 (n == num_params float32, binary, in
 * the client's dtype: optirs_client_set_dtype) with
 * an optional loss (NULL: none) and, for shared sessions, a worker name
 * (NULL: none); writes the update into update[n] (new params = params +
 * update) and advances the counter.  A lost answer is retried with the same
 * step number.  step_conflict leaves the counter alone: call
 * optirs_session_resync. */
int  optirs_session_step(optirs_session *s, const float *grads, size_t n, const double *loss,
                         const char *worker, float *update);
/* Re-reads the description; sets the counter to the daemon's step. */
int  optirs_session_resync(optirs_session *s);
/* GET …/params in binary: params[n] and *step (may be NULL). */
int  optirs_session_params(optirs_session *s, float *params, size_t n, int64_t *step);
/* POST …/feedback {step, loss, metrics}; metrics_json an object or NULL. */
int  optirs_session_feedback(optirs_session *s, int64_t step, double loss, const char *metrics_json);
/* GET …/metrics?after=&limit= (limit 0: the daemon's default). */
int  optirs_session_metrics(optirs_session *s, int64_t after, int limit, cJSON **out);
/* DELETE /v1/sessions/{id}. */
int  optirs_session_delete(optirs_session *s);

/* The same by id, without a session object (for tools). */
int  optirs_session_get_by_id(optirs_client *c, const char *id, cJSON **out);
int  optirs_session_delete_by_id(optirs_client *c, const char *id);
int  optirs_session_metrics_by_id(optirs_client *c, const char *id, int64_t after, int limit, cJSON **out);

#ifdef __cplusplus
}
#endif
#endif
