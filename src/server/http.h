/* http.h — the HTTP front: libmicrohttpd, request framing, the route table
 * dispatch, responses and per-request memory.
 *
 * A request (`req`) is allocated when its request line arrives (the URI callback) and
 * freed in libmicrohttpd's completion callback; everything it owns (body,
 * response) dies with it.  Framing is checked before the body is read:
 * conflicting Content-Length headers, Content-Length with Transfer-Encoding,
 * and bodies over the limit of their content type are refused there; so are
 * an encoded NUL or slash in the path (routes match the path as sent, not
 * libmicrohttpd's decoded URL), more than HTTP_MAX_QUERY_PARAMS query
 * parameters, a Transfer-Encoding other than chunked, and an HTTP/1.1
 * request without Host (http_strict.h).  Headers must arrive within
 * --header-timeout in total (http_deadline.h).  A
 * handler runs once the whole body is in, on the worker thread, and either
 * sets a response or suspends the request (shared sessions); a suspended
 * request is completed from another thread with http_resume().
 * Thread rules: a req belongs to one thread at a time: its worker, or the
 * code that holds it suspended (under that code's lock). */
#ifndef OPTIRS_HTTP_H
#define OPTIRS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "auth.h"

struct MHD_Connection;
typedef struct app app;

typedef enum { CT_NONE, CT_JSON, CT_BINARY, CT_OTHER } content_type;
typedef enum { ENC_JSON, ENC_BINARY } encoding;

#define REQ_MAX_PARAMS 2
#define REQ_PARAM_MAX  80

typedef struct req {
    struct MHD_Connection *conn;
    app          *app;
    int           route;            /* index in the route table, -1 when none */
    char          param[REQ_MAX_PARAMS][REQ_PARAM_MAX]; /* path captures, e.g. {id} */
    const char   *method;
    char         *path;             /* the path as sent (not %-decoded), malloc'd; routes match it */
    content_type  ctype;
    int           accept_json, accept_binary, accept_any; /* from Accept */
    char         *body;             /* NUL-terminated copy of the body */
    size_t        body_len, body_cap, body_limit;
    size_t        body_exact;       /* > 0: the body must be exactly this long (set before reading) */
    int           early_error;      /* an ERR_* found while reading; answered at the end */
    char          early_msg[160];
    int           dispatched, suspended, resumed;
    double        t_start;          /* monotonic seconds */
    /* the response */
    int           status;
    int           err;              /* the ERR_* of an error answer (0: none), for the access log */
    char         *resp;             /* malloc'd */
    size_t        resp_len;
    const void   *resp_lent;        /* a lent body (http_resp_lend), instead of resp */
    void        (*resp_release)(void *cls);
    void         *resp_release_cls;
    const char   *resp_type;
    char          hdr_step[24];     /* X-Optirs-Step, when set */
    char          hdr_allow[64];    /* Allow, for 405 */
    int           hdr_not_applied;  /* X-Optirs-Applied: false (a skipped step) */
    int           retry_after;      /* Retry-After seconds, when > 0 */
    const char   *hdr_replayed;     /* Idempotent-Replayed, when set */
    principal     who;              /* the caller, once authenticated */
    void         *wait;             /* sessions.c: waiter record while suspended */
    struct req   *wait_next;
    /* a streamed response (http_resp_stream); the response owns `stream` once queued */
    void         *stream;
    ssize_t     (*stream_read)(void *cls, uint64_t pos, char *buf, size_t max);
    void        (*stream_free)(void *cls);
} req;

typedef void (*route_handler)(req *r);

/* ROUTE_PUBLIC: no key needed; ROUTE_ADMIN: an admin key; ROUTE_ANY_STATE:
 * served in every state of the daemon (starting, ready, draining) — every
 * other route answers 503 starting / shutting_down unless it is ready,
 * checked once in dispatch, right before its handler. */
enum { ROUTE_PUBLIC = 1, ROUTE_ADMIN = 2, ROUTE_ANY_STATE = 4 };

typedef struct route {
    const char   *method;
    const char   *pattern;          /* "/v1/sessions/{id}/step" */
    route_handler handler;
    const char   *name;             /* label for /metrics */
    int           flags;            /* ROUTE_PUBLIC | ROUTE_ADMIN | ROUTE_ANY_STATE, see above */
} route;

/* The route table (routes.c). */
extern const route routes_table[];
extern const int   routes_count;

/* Starts libmicrohttpd on a->cfg.listen ("HOST:PORT", or "unix:PATH": a
 * socket file, listen.h) with `threads` workers, the configured connection
 * limits, and TLS when a->cfg.tls_cert and tls_key are set (not on a socket
 * file).  *bound_port receives the bound TCP port (0 for a socket file).  0,
 * or an ERR_* with a message on stderr. */
int  http_start(app *a, int threads, int *bound_port);
/* Stops accepting new connections (draining). */
void http_quiesce(app *a);
/* Requests begun and not yet completed. */
int  http_inflight(void);
/* Stops the daemon; every suspended request must be resumed first. */
void http_stop(app *a);

/* ---- for handlers ---- */
/* Looks up a request header (case-insensitive name); NULL when absent. */
const char *http_req_header(req *r, const char *name);
/* Looks up a query argument; NULL when absent. */
const char *http_req_query(req *r, const char *name);
/* The encoding of the answer: Accept, else the request's; -1 when Accept
 * allows neither (the caller answers 406). */
int  http_req_answer_encoding(req *r);

/* 1 when the daemon is ready; else 0 after answering 503 starting or
 * shutting_down.  Dispatch calls it for every route without ROUTE_ANY_STATE;
 * work deferred to the compute pool calls it again (the daemon may have
 * begun draining while the work waited). */
int  http_ready(req *r);

/* Sets a JSON response from `body`, which this takes (and deletes). */
void http_resp_json(req *r, int status, cJSON *body);
/* Sets a response taking ownership of the malloc'd buffer `data`. */
void http_resp_take(req *r, int status, const char *type, char *data, size_t len);
/* Sets a response whose body `data` (len bytes) stays the caller's: it must
 * not change until release(cls) is called, exactly once, when
 * libmicrohttpd has sent it — or when it is replaced or never queued.  The
 * answer goes out without a copy. */
void http_resp_lend(req *r, int status, const char *type, const void *data, size_t len,
                    void (*release)(void *cls), void *cls);
/* Sets the error response {"error":{"code","message"}} for ERR_* `e`;
 * fmt (may be NULL for the default message) formats the message. */
void http_resp_error(req *r, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with an extra integer field inside "error" (e.g. "expected"). */
void http_resp_error_int(req *r, int e, const char *field, int64_t value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sets a streamed response of unknown length: libmicrohttpd calls read(cls,
 * …) for the body (libmicrohttpd's content-reader contract: bytes written,
 * 0 after suspending the connection, or -1 at the end) and free_cls(cls) when
 * done — also when the response could not be queued. */
void http_resp_stream(req *r, int status, const char *type,
                      ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max),
                      void *cls, void (*free_cls)(void *cls));

/* Suspends the request: its worker moves on; call with the lock that guards
 * the waiter held, so that http_resume cannot run before it. */
void http_suspend(req *r);
/* Resumes a suspended request whose response has been set. */
void http_resume(req *r);

double http_now_mono(void);
int64_t http_now_ms(void);

#endif
