#include "http.h"
#include "log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "errors.h"
#include "handlers.h"
#include "http_deadline.h"
#include "http_status.h"
#include "http_strict.h"
#include "jwriter.h"
#include "listen.h"
#include "prom.h"

static _Atomic int inflight;

double http_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *http_req_header(req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int http_req_answer_encoding(req *r)
{
    encoding own = r->ctype == CT_BINARY ? ENC_BINARY : ENC_JSON;
    if (r->accept_any) return own;
    if (r->accept_json && r->accept_binary) return own;
    if (r->accept_json) return ENC_JSON;
    if (r->accept_binary) return ENC_BINARY;
    return -1;
}

/* ---- responses -------------------------------------------------------- */

/* Gives a lent body back (http_resp_lend). */
static void resp_unlend(req *r)
{
    if (r->resp_release) r->resp_release(r->resp_release_cls);
    r->resp_release = NULL;
    r->resp_release_cls = NULL;
    r->resp_lent = NULL;
}

void http_resp_take(req *r, int status, const char *type, char *data, size_t len)
{
    free(r->resp);
    resp_unlend(r);
    r->status = status;
    r->resp = data;
    r->resp_len = len;
    r->resp_type = type;
}

void http_resp_lend(req *r, int status, const char *type, const void *data, size_t len,
                    void (*release)(void *cls), void *cls)
{
    http_resp_take(r, status, type, NULL, len);
    r->resp_lent = data;
    r->resp_release = release;
    r->resp_release_cls = cls;
}

void http_resp_json(req *r, int status, cJSON *body)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!s) {
        static const char oom[] = "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";
        s = strdup(oom);
        status = 503;
        if (!s) { http_resp_take(r, 503, "application/json", NULL, 0); return; }
    }
    http_resp_take(r, status, "application/json", s, strlen(s));
}

static void resp_error_v(req *r, int e, const char *field, int64_t value, const char *fmt, va_list ap)
{
    r->err = e;
    char msg[512];
    if (fmt) vsnprintf(msg, sizeof msg, fmt, ap);
    else snprintf(msg, sizeof msg, "%s", http_status_message(e));
    /* through the writer: a message quoting the input (or cut inside a
     * UTF-8 sequence by the buffer) still gives valid JSON and UTF-8 */
    jwriter w;
    jw_init(&w, 4096);
    jw_lit(&w, "{\"error\":{\"code\":");
    jw_cstr(&w, err_name(e));
    jw_lit(&w, ",\"message\":");
    jw_cstr(&w, msg);
    if (field) {
        jw_lit(&w, ",");
        jw_key(&w, field);
        jw_i64(&w, value);
    }
    jw_lit(&w, "}}");
    size_t len;
    char *s = jw_take(&w, &len);
    if (!s) http_resp_json(r, 503, NULL);   /* the out-of-memory answer */
    else http_resp_take(r, http_status_of(e), "application/json", s, len);
}

void http_resp_error(req *r, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp_error_v(r, e, NULL, 0, fmt, ap);
    va_end(ap);
}

void http_resp_error_int(req *r, int e, const char *field, int64_t value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp_error_v(r, e, field, value, fmt, ap);
    va_end(ap);
}

void http_resp_stream(req *r, int status, const char *type,
                      ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max),
                      void *cls, void (*free_cls)(void *cls))
{
    http_resp_take(r, status, type, NULL, 0);
    r->stream = cls;
    r->stream_read = read;
    r->stream_free = free_cls;
}

/* ---- suspend / resume --------------------------------------------------- */

void http_suspend(req *r)
{
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
}

void http_resume(req *r)
{
    r->resumed = 1;
    MHD_resume_connection(r->conn);
}

/* ---- routing ------------------------------------------------------------ */

/* Matches `path` against `pattern`, capturing {x} segments into r->param.
 * Captures are limited to [A-Za-z0-9_.-] and REQ_PARAM_MAX-1 bytes. */
static int route_match(const char *pattern, const char *path, req *r)
{
    int ncap = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            size_t n = 0;
            while (u[n] && u[n] != '/') n++;
            if (n == 0 || n >= REQ_PARAM_MAX || ncap >= REQ_MAX_PARAMS) return 0;
            for (size_t i = 0; i < n; i++) {
                char c = u[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.'))
                    return 0;
            }
            if (r) {
                memcpy(r->param[ncap], u, n);
                r->param[ncap][n] = '\0';
            }
            ncap++;
            p = pe + 1;
            u += n;
            continue;
        }
        if (*p != *u) return 0;
        p++;
        u++;
    }
    return *p == '\0' && *u == '\0';
}

/* Finds the route for method+path.  Returns its index, or -1 with the error
 * (ERR_NOT_FOUND or ERR_METHOD_NOT_ALLOWED, with r->hdr_allow filled). */
static int route_find(req *r, const char *method, const char *path, int *err)
{
    int path_matched = 0;
    r->hdr_allow[0] = '\0';
    for (int i = 0; i < routes_count; i++) {
        if (!route_match(routes_table[i].pattern, path, NULL)) continue;
        if (strcmp(routes_table[i].method, method) == 0) {
            route_match(routes_table[i].pattern, path, r);
            return i;
        }
        path_matched = 1;
        size_t len = strlen(r->hdr_allow);
        snprintf(r->hdr_allow + len, sizeof r->hdr_allow - len, "%s%s", len ? ", " : "",
                 routes_table[i].method);
    }
    *err = path_matched ? ERR_METHOD_NOT_ALLOWED : ERR_NOT_FOUND;
    return -1;
}

/* ---- framing ------------------------------------------------------------ */

typedef struct framing { int n_length, n_te, n_host; const char *length, *te; int bad_name; } framing;

static enum MHD_Result framing_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    framing *f = cls;
    (void)kind;
    if (strcasecmp(key, "Content-Length") == 0) {
        f->n_length++;
        f->length = value;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->n_te++;
        f->te = value;
    } else if (strcasecmp(key, "Host") == 0) {
        f->n_host++;
    }
    for (const char *k = key; *k; k++)
        if (*k == ' ' || *k == '\t') f->bad_name = 1;
    return MHD_YES;
}

static int parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static content_type parse_ctype(const char *s)
{
    if (!s) return CT_NONE;
    size_t n = strcspn(s, ";");
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 16 && strncasecmp(s, "application/json", 16) == 0) return CT_JSON;
    if (n == 24 && strncasecmp(s, "application/octet-stream", 24) == 0) return CT_BINARY;
    return CT_OTHER;
}

static void parse_accept(req *r)
{
    const char *a = http_req_header(r, "Accept");
    if (!a || !*a) {
        r->accept_any = 1;
        return;
    }
    if (strstr(a, "*/*") || strcasestr(a, "application/*")) r->accept_any = 1;
    if (strcasestr(a, "application/json")) r->accept_json = 1;
    if (strcasestr(a, "application/octet-stream")) r->accept_binary = 1;
}

/* What query_check_cb found: a key or value holding a NUL (an encoded %00,
 * which libmicrohttpd decodes: http_req_query would see it cut short), or
 * a key given twice (http_req_query would answer one of them silently). */
typedef struct {
    int         nul, dup;
    size_t      n;
    const char *keys[HTTP_MAX_QUERY_PARAMS];
    char        dupkey[48];
} query_check;

static enum MHD_Result query_check_cb(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                      const char *value, size_t value_size)
{
    (void)kind;
    query_check *qc = cls;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        qc->nul = 1;
        return MHD_NO;
    }
    for (size_t i = 0; i < qc->n; i++)
        if (strcmp(qc->keys[i], key) == 0) {
            qc->dup = 1;
            snprintf(qc->dupkey, sizeof qc->dupkey, "%s", key);
            return MHD_NO;
        }
    if (qc->n < HTTP_MAX_QUERY_PARAMS) qc->keys[qc->n++] = key;   /* on_uri capped the count */
    return MHD_YES;
}

/* The protocol rules libmicrohttpd does not enforce (http_strict.h); sets
 * r->early_error.  Path and query count were checked when the URI arrived. */
static void req_strict(req *r, const framing *f, const char *version)
{
    if (r->early_error) return;
    int e = http_strict_host(version, f->n_host, r->early_msg, sizeof r->early_msg);
    if (!e && f->n_te == 1) e = http_strict_transfer_coding(f->te, r->early_msg, sizeof r->early_msg);
    query_check qc = {.n = 0};
    if (!e) MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, query_check_cb, &qc);
    if (qc.nul) {
        e = ERR_INVALID_ARGUMENT;
        snprintf(r->early_msg, sizeof r->early_msg, "a query parameter holds an encoded NUL (%%00)");
    } else if (qc.dup) {
        e = ERR_INVALID_ARGUMENT;
        snprintf(r->early_msg, sizeof r->early_msg, "the query parameter \"%s\" is given more than once",
                 qc.dupkey);   /* the error body is escaped by jwriter */
    }
    r->early_error = e;
}

/* Checks framing and limits on the first call; sets r->early_error. */
static void req_begin(req *r, const char *version)
{
    app *a = r->app;
    framing f = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, framing_cb, &f);
    r->ctype = parse_ctype(http_req_header(r, "Content-Type"));
    parse_accept(r);
    r->body_limit = (size_t)(r->ctype == CT_BINARY ? a->cfg.max_binary_body : a->cfg.max_json_body);
    r->route = -1;
    req_strict(r, &f, version);
    if (r->early_error) return;

    int e = 0;
    r->route = route_find(r, r->method, r->path ? r->path : "", &e);
    if (r->route < 0) r->early_error = e;
    /* Authenticate before reading a byte of the body. */
    if (r->route >= 0 && !(routes_table[r->route].flags & ROUTE_PUBLIC)) {
        e = auth_request(a, http_req_header(r, "Authorization"), &r->who, &r->retry_after);
        if (e) {
            r->early_error = e;
            return;
        }
        if ((routes_table[r->route].flags & ROUTE_ADMIN) && !r->who.admin) {
            r->early_error = ERR_FORBIDDEN;
            return;
        }
    }

    /* A step's body is bounded by its session's size before it is read. */
    if (r->route >= 0 && routes_table[r->route].handler == h_session_step) h_session_step_begin(r);
    if (r->early_error) return;

    uint64_t len = 0;
    if (f.n_length > 1 || (f.n_length && f.n_te) || f.n_te > 1 || f.bad_name) {
        r->early_error = ERR_CONFLICTING_FRAMING;
        snprintf(r->early_msg, sizeof r->early_msg,
                 "conflicting framing headers (repeated Content-Length or Transfer-Encoding, both, "
                 "or a malformed header name)");
    } else if (f.n_length && parse_length(f.length, &len) != 0) {
        r->early_error = ERR_CONFLICTING_FRAMING;
        snprintf(r->early_msg, sizeof r->early_msg, "Content-Length is not a decimal number");
    } else if (len > r->body_limit) {
        r->early_error = ERR_BODY_TOO_LARGE;
        snprintf(r->early_msg, sizeof r->early_msg, "body of %llu bytes is over the limit of %zu bytes for %s",
                 (unsigned long long)len, r->body_limit,
                 r->ctype == CT_BINARY ? "application/octet-stream" : "JSON");
    } else if (r->body_exact && f.n_length && len != r->body_exact) {
        r->early_error = ERR_LENGTH_MISMATCH;
        snprintf(r->early_msg, sizeof r->early_msg, "body of %llu bytes; this session takes exactly %zu bytes",
                 (unsigned long long)len, r->body_exact);
    } else if (len) {
        r->body_cap = (size_t)len + 1;
        r->body = malloc(r->body_cap);
        if (!r->body) r->early_error = ERR_NO_MEMORY;
    }
}

/* Appends upload data; past the limit the request fails with 413. */
static void req_append(req *r, const char *data, size_t n)
{
    if (r->early_error) return;
    if (r->body_exact && r->body_len + n > r->body_exact) {
        r->early_error = ERR_LENGTH_MISMATCH;
        snprintf(r->early_msg, sizeof r->early_msg, "body is longer than the %zu bytes this session takes",
                 r->body_exact);
        return;
    }
    if (r->body_len + n > r->body_limit) {
        r->early_error = ERR_BODY_TOO_LARGE;
        snprintf(r->early_msg, sizeof r->early_msg, "body is over the limit of %zu bytes", r->body_limit);
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            r->early_error = ERR_NO_MEMORY;
            return;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
}

static enum MHD_Result queue(req *r)
{
    if (!r->status) http_resp_error(r, ERR_INTERNAL, "handler set no response");
    struct MHD_Response *resp;
    if (r->stream_read) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, r->stream_read, r->stream, r->stream_free);
        if (!resp && r->stream_free) r->stream_free(r->stream);
        r->stream = NULL;
        r->stream_read = NULL;
        if (resp) MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else if (r->resp_release) {
        /* a lent body: libmicrohttpd sends it in place and releases it when done */
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r->resp_len, (void *)(uintptr_t)r->resp_lent,
                                                                      r->resp_release, r->resp_release_cls);
        if (!resp) resp_unlend(r);
        r->resp_release = NULL;
        r->resp_lent = NULL;
    } else {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (void *)"",
                                               r->resp ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    r->resp = NULL; /* owned by the response now */
    if (r->resp_type) MHD_add_response_header(resp, "Content-Type", r->resp_type);
    if (r->hdr_step[0]) MHD_add_response_header(resp, "X-Optirs-Step", r->hdr_step);
    if (r->hdr_not_applied) MHD_add_response_header(resp, "X-Optirs-Applied", "false");
    if (r->hdr_replayed) MHD_add_response_header(resp, "Idempotent-Replayed", r->hdr_replayed);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (r->status == 405 && r->hdr_allow[0]) MHD_add_response_header(resp, "Allow", r->hdr_allow);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

int http_ready(req *r)
{
    int st = atomic_load(&r->app->state);
    if (st == APP_READY) return 1;
    http_resp_error(r, st == APP_STARTING ? ERR_STARTING : ERR_SHUTTING_DOWN, NULL);
    return 0;
}

/* Runs the route's handler once the whole request is in: an error found
 * while reading it, then readiness (routes without ROUTE_ANY_STATE), answer
 * first. */
static void dispatch(req *r)
{
    r->dispatched = 1;
    if (r->early_error) {
        http_resp_error(r, r->early_error, r->early_msg[0] ? "%s" : NULL, r->early_msg);
        return;
    }
    if (r->body) r->body[r->body_len] = '\0';
    else {
        r->body = calloc(1, 1);
        if (!r->body) {
            http_resp_error(r, ERR_NO_MEMORY, NULL);
            return;
        }
    }
    if (!(routes_table[r->route].flags & ROUTE_ANY_STATE) && !http_ready(r)) return;
    routes_table[r->route].handler(r);
}

/* libmicrohttpd's URI callback: runs once per request, as soon as the request
 * line is in and before libmicrohttpd decodes the path or splits the query.
 * Allocates the request (libmicrohttpd hands it to on_access as *req_cls and
 * to on_completed) with a copy of the raw path.
 *
 * A query of more than HTTP_MAX_QUERY_PARAMS parameters is refused here and
 * not parsed at all: libmicrohttpd 0.9.75 stores every parameter in the
 * connection's 32 KiB memory pool, and when the pool runs out (~450
 * parameters) it loses its own 431 answer and leaves the connection hanging.
 * `uri` points into libmicrohttpd's read buffer, which it splits at '?' and
 * parses right after this call (parse_initial_message_line); ending the
 * string just after the '?' leaves it no parameters to parse. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->conn = c;
    r->app = cls;
    r->route = -1;
    r->t_start = http_now_mono();
    atomic_fetch_add(&inflight, 1);
    if (!uri) uri = "";
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    r->path = strndup(uri, plen);
    if (!r->path) r->early_error = ERR_NO_MEMORY;
    else r->early_error = http_strict_path(uri, plen, r->early_msg, sizeof r->early_msg);
    size_t nq = q ? http_strict_query_count(q + 1, strlen(q + 1)) : 0;
    if (nq > HTTP_MAX_QUERY_PARAMS) {
        ((char *)q)[1] = '\0';
        if (!r->early_error) {
            r->early_error = ERR_TOO_MANY_QUERY;
            snprintf(r->early_msg, sizeof r->early_msg, "the query has %zu parameters; at most %d are accepted", nq,
                     HTTP_MAX_QUERY_PARAMS);
        }
    }
    return r;
}

/* The errors answered on the first call, without reading the body;
 * libmicrohttpd then closes the connection. */
static int answer_at_once(int e)
{
    return e == ERR_CONFLICTING_FRAMING || e == ERR_BODY_TOO_LARGE || e == ERR_UNAUTHORIZED ||
           e == ERR_RATE_LIMITED || e == ERR_FORBIDDEN || e == ERR_STORAGE || e == ERR_CLUSTER_DB ||
           e == ERR_BAD_PATH || e == ERR_TOO_MANY_QUERY || e == ERR_NOT_IMPLEMENTED || e == ERR_BAD_HEADER ||
           e == ERR_LENGTH_MISMATCH || e == ERR_SESSION_NOT_FOUND || e == ERR_NOT_FOUND ||
           e == ERR_METHOD_NOT_ALLOWED;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
    (void)cls;
    (void)url;   /* decoded by libmicrohttpd: routes match r->path, as sent */
    req *r = *req_cls;
    if (!r) return MHD_NO;   /* on_uri had no memory */
    if (!r->method) {
        r->method = method;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci) http_deadline_headers_done(ci->socket_context);
        req_begin(r, version);
        if (answer_at_once(r->early_error)) {
            dispatch(r);
            return queue(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        req_append(r, upload, *upload_size);
        *upload_size = 0;
        /* An unbounded (chunked) body past the limit: stop reading it. */
        if (r->early_error == ERR_BODY_TOO_LARGE || r->early_error == ERR_LENGTH_MISMATCH) return MHD_NO;
        return MHD_YES;
    }
    if (!r->dispatched) {
        dispatch(r);
        /* A suspended request is answered on the call after its resume; its
         * response may already be set by another thread, so never here. */
        if (r->suspended) return MHD_YES;
    }
    if (!r->status) return MHD_YES;
    return queue(r);
}

/* The request's access line (log.h): never a key, a header or a body; the
 * session id only from a session route's {id}. */
static void access_log(req *r)
{
    if (!log_on(LOG_INFO)) return;
    const char *pattern = r->route >= 0 ? routes_table[r->route].pattern : "unrouted";
    int session_route = r->route >= 0 && strncmp(pattern, "/v1/sessions/{id}", 17) == 0;
    log_access_info a = {.method = r->method, .route = pattern, .status = r->status,
                         .duration_ms = (http_now_mono() - r->t_start) * 1e3,
                         .session = session_route ? r->param[0] : NULL, .tenant = r->who.tenant,
                         .error = r->err ? err_name(r->err) : NULL};
    log_access(&a);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    req *r = *req_cls;
    if (!r) return;
    double step_s = -1;
    if (r->route >= 0 && strcmp(routes_table[r->route].name, "step") == 0 && r->status == 200)
        step_s = http_now_mono() - r->t_start;
    /* A request whose headers never completed reached no handler. */
    if (r->method) {
        prom_request(r->route, r->status, r->body_len, r->resp_len, step_s);
        access_log(r);
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci) http_deadline_request_done(ci->socket_context);
    if (r->stream_read && r->stream_free) r->stream_free(r->stream);   /* never queued */
    resp_unlend(r);   /* never queued */
    free(r->path);
    free(r->body);
    free(r->resp);
    free(r);
    *req_cls = NULL;
    atomic_fetch_sub(&inflight, 1);
}

int http_inflight(void) { return atomic_load(&inflight); }

/* Connection start and end: the header deadline's bookkeeping. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) http_deadline_opened(socket_context, ci->connect_fd);
    } else {
        http_deadline_closed(socket_context);
    }
}

/* Reads a whole (small) file into a NUL-terminated heap buffer. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = cap > (1u << 24) ? NULL : realloc(buf, cap);
            if (!b) { free(buf); fclose(f); return NULL; }
            buf = b;
        }
        size_t k = fread(buf + len, 1, 4096, f);
        len += k;
        if (k < 4096) break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* libmicrohttpd's memory per connection (its default is 32 KiB): headers,
 * and the read buffer an upload arrives through, which grows by
 * HTTP_CONN_MEMORY_STEP (default 1 KiB) up to what the pool has free.
 * Measured (perf stat, syscalls:sys_enter_recvfrom, N = 1e6 binary steps): a
 * 4 MB body arrives in ~250 recv calls (each with an epoll_wait, an upload
 * callback and a copy) with 32 KiB, ~124 with 64 KiB, ~31 with 256 KiB.  But
 * libmicrohttpd 0.9.75 zeroes the whole pool between two requests
 * (MHD_pool_reset): with 256 KiB that memset was 20% of the daemon's samples
 * at 32 connections of N = 100 steps, which fell from 17k to 10k steps/s; 64
 * KiB costs them nothing measurable.  The pool's pages stay once touched: at
 * most --max-connections × 64 KiB (64 MB at the default 1024). */
#define HTTP_CONN_MEMORY      (64u * 1024u)
#define HTTP_CONN_MEMORY_STEP (16u * 1024u)

int http_start(app *a, int threads, int *bound_port)
{
    const config *cfg = &a->cfg;
    int rc = listen_open(&a->listen, cfg->listen, cfg->listen_mode);
    if (rc != 0) return rc;
    if (a->listen.is_unix && (cfg->tls_cert[0] || cfg->tls_key[0])) {
        fprintf(stderr, "optirsd: TLS is not served on a unix socket (its file mode guards it, --listen-mode)\n");
        listen_close(&a->listen);
        return ERR_INVALID_ARGUMENT;
    }
    struct MHD_OptionItem lopt[2];
    listen_mhd_option(&a->listen, lopt);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    char *cert = NULL, *key = NULL;
    if (cfg->tls_cert[0] || cfg->tls_key[0]) {
        if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
            fprintf(stderr, "optirsd: TLS needs both --tls-cert and --tls-key\n");
            return ERR_INVALID_ARGUMENT;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "optirsd: this libmicrohttpd was built without TLS\n");
            return ERR_INVALID_ARGUMENT;
        }
        cert = read_file(cfg->tls_cert);
        key = read_file(cfg->tls_key);
        if (!cert || !key) {
            fprintf(stderr, "optirsd: cannot read %s\n", !cert ? cfg->tls_cert : cfg->tls_key);
            free(cert);
            free(key);
            return ERR_INVALID_ARGUMENT;
        }
        flags |= MHD_USE_TLS;
    }
    a->tls = cert != NULL;
    a->mhd = MHD_start_daemon(flags, (uint16_t)a->listen.port, NULL, NULL, on_access, a,
                              MHD_OPTION_ARRAY, lopt,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_URI_LOG_CALLBACK, on_uri, a,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                              MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)HTTP_CONN_MEMORY_STEP,
                              cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
                              MHD_OPTION_HTTPS_MEM_KEY, key,
                              MHD_OPTION_END);
    /* libmicrohttpd copies the PEM data into its credentials at start. */
    free(cert);
    free(key);
    if (!a->mhd) {
        fprintf(stderr, "optirsd: libmicrohttpd could not start on %s%s\n", cfg->listen,
                a->tls ? " (check the certificate and key)" : "");
        listen_close(&a->listen);
        return ERR_INTERNAL;
    }
    listen_handed_over(&a->listen);
    if (http_deadline_start(cfg->header_timeout) != 0) {
        fprintf(stderr, "optirsd: cannot start the header-deadline thread\n");
        http_stop(a);
        return ERR_INTERNAL;
    }
    const union MHD_DaemonInfo *info =
        a->listen.is_unix ? NULL : MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : a->listen.port;
    return 0;
}

void http_quiesce(app *a)
{
    if (!a->mhd) return;
    MHD_socket fd = MHD_quiesce_daemon(a->mhd);
    /* The listening socket is ours again; a unix one is closed (and its file
     * removed) by http_stop. */
    if (a->listen.is_unix && fd != MHD_INVALID_SOCKET) a->listen.fd = fd;
}

void http_stop(app *a)
{
    if (a->mhd && a->listen.is_unix) http_quiesce(a);   /* the socket back first (listen.h) */
    if (a->mhd) MHD_stop_daemon(a->mhd);
    a->mhd = NULL;
    listen_close(&a->listen);
    http_deadline_stop();
}
