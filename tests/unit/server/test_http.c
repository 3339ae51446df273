/* test_http.c — http.c: the answer encodings and error bodies on a bare
 * `req` (no socket), then a real libmicrohttpd daemon on 127.0.0.1 (port 0)
 * driven by raw HTTP/1.1 over a TCP socket: routing (404, 405 with Allow,
 * path captures), readiness checked in dispatch, the framing and size checks
 * answered from the headers before a byte of the body is read (conflicting
 * Content-Length, Content-Length with Transfer-Encoding, a non-decimal
 * length, over the limit, a key missing), a chunked body cut off at the
 * limit (the connection closed unanswered, as SECURITY.md says), the protocol checks (Host, transfer codings, %2F, a repeated query
 * parameter), suspend/resume (the worker serves another request while one is
 * parked; the parked one is answered after http_resume from another thread)
 * and a streamed response.
 *
 * The daemon serves this file's route table (routes_table/routes_count are
 * defined here, so the linker leaves src/server/routes.c's out): the real
 * handlers need the whole daemon (sessions, pools), and these tests are
 * about the HTTP front.  Everything else is the real code: http.c,
 * http_strict.c, http_deadline.c, auth.c on a real SQLite store, prom.c.
 * Sockets have a 60 s receive timeout so that a hang fails instead of
 * blocking; no assertion depends on timing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define STORE_TEST_NAME "optirs_test_http"
#include "storage/store_test_util.h"

#include "app.h"
#include "auth.h"
#include "config.h"
#include "errors.h"
#include "http.h"
#include "http_status.h"
#include "http_strict.h"

/* ---- the test's routes ------------------------------------------------------------ */

static void h_hello(req *r)
{
    http_resp_take(r, 200, "text/plain", strdup("hello"), 5);
}

/* Answers "<length>:<body>". */
static _Atomic int echo_calls;
static void h_echo(req *r)
{
    echo_calls++;
    size_t cap = r->body_len + 32;
    char *s = malloc(cap);
    int n = snprintf(s, cap, "%zu:%s", r->body_len, r->body);
    http_resp_take(r, 200, "text/plain", s, (size_t)n);
}

static void h_item(req *r)
{
    char *s = strdup(r->param[0]);
    http_resp_take(r, 200, "text/plain", s, strlen(s));
}

/* Parks the request for the test thread (suspend/resume). */
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  park_cv = PTHREAD_COND_INITIALIZER;
static req            *parked;

static void h_park(req *r)
{
    pthread_mutex_lock(&park_mu);
    http_suspend(r);        /* under the lock that guards the waiter, as http.h asks */
    parked = r;
    pthread_cond_broadcast(&park_cv);
    pthread_mutex_unlock(&park_mu);
}

/* A streamed body of 3 chunks "chunk0\n" … then the end; records the free. */
static int stream_freed;
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    int *k = cls;
    if (*k == 3) return -1;     /* MHD_CONTENT_READER_END_OF_STREAM */
    int n = snprintf(buf, max, "chunk%d\n", (*k)++);
    return n;
}
static void stream_free(void *cls)
{
    free(cls);
    pthread_mutex_lock(&park_mu);
    stream_freed = 1;
    pthread_cond_broadcast(&park_cv);
    pthread_mutex_unlock(&park_mu);
}
static void h_stream(req *r)
{
    int *k = calloc(1, sizeof *k);
    http_resp_stream(r, 200, "text/plain", stream_read, k, stream_free);
}

const route routes_table[] = {
    {"GET",  "/t/hello",     h_hello,  "hello",   ROUTE_PUBLIC | ROUTE_ANY_STATE},
    {"POST", "/t/echo",      h_echo,   "echo",    ROUTE_PUBLIC},
    {"PUT",  "/t/echo",      h_echo,   "echo_put", ROUTE_PUBLIC},
    {"GET",  "/t/items/{id}", h_item,  "item",    ROUTE_PUBLIC},
    {"GET",  "/t/park",      h_park,   "park",    ROUTE_PUBLIC | ROUTE_ANY_STATE},
    {"GET",  "/t/stream",    h_stream, "stream",  ROUTE_PUBLIC | ROUTE_ANY_STATE},
    {"POST", "/t/private",   h_echo,   "private", 0},
};
const int routes_count = (int)(sizeof routes_table / sizeof routes_table[0]);

/* ---- the daemon and a raw client ----------------------------------------------------- */

static app  g_app;
static int  g_port;
static char g_path[300];

static int setup(void **state)
{
    if (group_setup(state)) return -1;
    if (config_load(&g_app.cfg, 0, NULL) != 0) return -1;
    snprintf(g_app.cfg.listen, sizeof g_app.cfg.listen, "127.0.0.1:0");
    g_app.cfg.max_json_body = 100;
    g_app.cfg.max_binary_body = 400;
    db_path(g_path, sizeof g_path);
    if (store_open(g_path, &g_app.db) != 0) return -1;
    atomic_store(&g_app.state, APP_READY);
    return http_start(&g_app, 1, &g_port) == 0 && g_port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    http_stop(&g_app);
    store_close(g_app.db);
    return group_teardown(state);
}

static int connect_daemon(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

/* Reads until the server closes the connection; a NUL-terminated heap string. */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k < 0 && errno == ECONNRESET) break;          /* closed while we still sent */
        if (k < 0) fail_msg("recv: %s (the 60 s safety net?)", strerror(errno));
        if (k == 0) break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    return buf;
}

typedef struct answer {
    int   status;
    char *raw;          /* the whole response */
    char *body;         /* into raw */
} answer;

static answer parse(char *raw)
{
    answer a = {0, raw, NULL};
    if (sscanf(raw, "HTTP/1.%*d %d", &a.status) != 1) fail_msg("no status line in %s", raw);
    char *b = strstr(raw, "\r\n\r\n");
    a.body = b ? b + 4 : raw + strlen(raw);
    return a;
}

/* One request on its own connection (the caller writes Connection: close). */
static answer roundtrip(const char *request, size_t n)
{
    int fd = connect_daemon();
    send_all(fd, request, n);
    answer a = parse(read_all(fd));
    close(fd);
    return a;
}

/* The same, for a request the daemon drops: the raw bytes it answered. */
static char *roundtrip_raw(const char *request, size_t n)
{
    int fd = connect_daemon();
    send_all(fd, request, n);
    char *raw = read_all(fd);
    close(fd);
    return raw;
}
static answer rt(const char *request) { return roundtrip(request, strlen(request)); }

static int has_header(const answer *a, const char *line)
{
    size_t hl = (size_t)(a->body - a->raw);
    for (char *p = a->raw; (p = strcasestr(p, line)) && (size_t)(p - a->raw) < hl; p++)
        if (p[-1] == '\n') return 1;
    return 0;
}

/* The answer is the error body of code e with its status. */
static void assert_error(const answer *a, int e)
{
    if (a->status != http_status_of(e)) fail_msg("status %d, wanted %d for %s: %s", a->status,
                                                 http_status_of(e), err_name(e), a->raw);
    cJSON *j = cJSON_Parse(a->body);
    if (!j) fail_msg("error body is not JSON: %s", a->body);
    cJSON *code = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "code");
    assert_true(cJSON_IsString(code));
    assert_string_equal(code->valuestring, err_name(e));
    cJSON_Delete(j);
}

static void done(answer *a) { free(a->raw); }

/* ---- without a socket -------------------------------------------------------------------- */

static void test_answer_encoding(void **st)
{
    (void)st;
    req r = {0};
    r.ctype = CT_JSON;
    r.accept_any = 1;
    assert_int_equal(http_req_answer_encoding(&r), ENC_JSON);
    r.ctype = CT_BINARY;
    assert_int_equal(http_req_answer_encoding(&r), ENC_BINARY);
    r.accept_any = 0;
    r.accept_json = r.accept_binary = 1;                 /* both: the request's own */
    assert_int_equal(http_req_answer_encoding(&r), ENC_BINARY);
    r.accept_binary = 0;
    assert_int_equal(http_req_answer_encoding(&r), ENC_JSON);
    r.accept_json = 0;
    r.accept_binary = 1;
    r.ctype = CT_JSON;
    assert_int_equal(http_req_answer_encoding(&r), ENC_BINARY);
    r.accept_binary = 0;                                 /* neither: 406 for the caller */
    assert_int_equal(http_req_answer_encoding(&r), -1);
}

static void test_error_bodies_are_json_whatever_the_message(void **st)
{
    (void)st;
    req r = {0};
    http_resp_error(&r, ERR_NOT_FOUND, NULL);
    assert_int_equal(r.status, http_status_of(ERR_NOT_FOUND));
    assert_string_equal(r.resp_type, "application/json");
    cJSON *j = cJSON_ParseWithLength(r.resp, r.resp_len);
    assert_non_null(j);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "code")->valuestring, err_name(ERR_NOT_FOUND));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring,
                        http_status_message(ERR_NOT_FOUND));
    cJSON_Delete(j);

    /* a message quoting hostile input: quotes, control bytes, broken UTF-8 */
    http_resp_error_int(&r, ERR_STEP_CONFLICT, "expected", 42, "bad \"%s\"", "x\"\n\x01\xc3");
    assert_int_equal(r.status, http_status_of(ERR_STEP_CONFLICT));
    j = cJSON_ParseWithLength(r.resp, r.resp_len);
    assert_non_null(j);
    e = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(e, "expected")->valuedouble, 42);
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring, "bad \"x\""));
    cJSON_Delete(j);

    /* http_resp_json: the body is taken; NULL is the out-of-memory answer */
    http_resp_json(&r, 201, cJSON_CreateObject());
    assert_int_equal(r.status, 201);
    assert_memory_equal(r.resp, "{}", 2);
    http_resp_json(&r, 200, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.resp, "out_of_memory"));
    free(r.resp);
}

/* ---- routing and readiness ------------------------------------------------------------------ */

static void test_routes_404_405_and_captures(void **st)
{
    (void)st;
    answer a = rt("GET /t/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "hello");
    done(&a);

    a = rt("GET /t/items/abc-1.2_3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "abc-1.2_3");
    done(&a);
    a = rt("GET /t/items/a%20b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");   /* not a capture */
    assert_error(&a, ERR_NOT_FOUND);
    done(&a);

    /* unknown path and wrong method: answered from the headers, the declared body is never sent */
    a = rt("POST /t/nowhere HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 50\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_NOT_FOUND);
    done(&a);
    a = rt("DELETE /t/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_METHOD_NOT_ALLOWED);
    assert_true(has_header(&a, "Allow: POST, PUT\r\n"));
    done(&a);
}

static void test_readiness_is_checked_in_dispatch(void **st)
{
    (void)st;
    const char *echo = "POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    atomic_store(&g_app.state, APP_STARTING);
    answer a = rt(echo);
    assert_error(&a, ERR_STARTING);
    done(&a);
    a = rt("GET /t/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");   /* ROUTE_ANY_STATE */
    assert_int_equal(a.status, 200);
    done(&a);
    atomic_store(&g_app.state, APP_DRAINING);
    a = rt(echo);
    assert_error(&a, ERR_SHUTTING_DOWN);
    done(&a);
    atomic_store(&g_app.state, APP_READY);
    a = rt(echo);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "2:{}");
    done(&a);
}

/* ---- framing and limits ------------------------------------------------------------------------ */

static void test_framing_refused_before_the_body(void **st)
{
    (void)st;
    /* none of these sends its body: an answer proves the daemon did not wait for it */
    answer a = rt("POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
                  "Connection: close\r\n\r\n");
    assert_error(&a, ERR_CONFLICTING_FRAMING);
    done(&a);
    a = rt("POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n");
    assert_error(&a, ERR_CONFLICTING_FRAMING);
    done(&a);
    /* a length that is no decimal number: libmicrohttpd's own 400 comes first */
    a = rt("POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\nConnection: close\r\n\r\n");
    assert_int_equal(a.status, 400);
    done(&a);

    /* the limit follows the content type: JSON 100 bytes, binary 400 (setup) */
    a = rt("POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 101\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_BODY_TOO_LARGE);
    assert_non_null(strstr(a.body, "limit of 100 bytes"));
    done(&a);
    a = rt("POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: 401\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_BODY_TOO_LARGE);
    done(&a);

    /* at the limit: read and handled */
    char req_[512], body[101];
    memset(body, 'a', 100);
    body[100] = '\0';
    int n = snprintf(req_, sizeof req_, "POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100\r\nConnection: close\r\n\r\n%s", body);
    a = roundtrip(req_, (size_t)n);
    assert_int_equal(a.status, 200);
    assert_memory_equal(a.body, "100:aaaa", 8);
    done(&a);
}

static void test_chunked_body_is_cut_at_the_limit(void **st)
{
    (void)st;
    /* 60 + 60 bytes of JSON in chunks: the limit (100) is crossed while reading */
    char req_[1024], chunk[61];
    memset(chunk, 'b', 60);
    chunk[60] = '\0';
    int n = snprintf(req_, sizeof req_, "POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3c\r\n%s\r\n3c\r\n%s\r\n0\r\n\r\n",
                     chunk, chunk);
    /* cut off (SECURITY.md): the connection is closed, nothing is answered, no handler runs */
    int calls = echo_calls;
    char *raw = roundtrip_raw(req_, (size_t)n);
    assert_string_equal(raw, "");
    free(raw);
    assert_int_equal(echo_calls, calls);
    /* under the limit, chunked is fine */
    n = snprintf(req_, sizeof req_, "POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    answer a = roundtrip(req_, (size_t)n);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "5:abcde");
    assert_int_equal(echo_calls, calls + 1);
    done(&a);
}

static void test_protocol_checks(void **st)
{
    (void)st;
    answer a = rt("GET /t/hello HTTP/1.1\r\nConnection: close\r\n\r\n");          /* HTTP/1.1 without Host */
    assert_int_equal(a.status, 400);
    done(&a);
    a = rt("POST /t/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_NOT_IMPLEMENTED);
    done(&a);
    a = rt("GET /t/items/a%2Fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");   /* encoded slash */
    assert_error(&a, ERR_BAD_PATH);
    done(&a);
    a = rt("GET /t/hello?x=1&x=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(a.body, "\\\"x\\\" is given more than once"));
    done(&a);
    char line[1024] = "GET /t/hello?";
    for (int i = 0; i <= HTTP_MAX_QUERY_PARAMS; i++)
        snprintf(line + strlen(line), sizeof line - strlen(line), "%sp%d=1", i ? "&" : "", i);
    char req_[1200];
    snprintf(req_, sizeof req_, "%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", line);
    a = rt(req_);
    assert_error(&a, ERR_TOO_MANY_QUERY);
    done(&a);
}

/* A key-protected route refuses a caller without a key before the body once
 * a key exists (auth.c on the real store); in open mode it serves. */
static void test_auth_before_the_body(void **st)
{
    (void)st;
    answer a = rt("POST /t/private HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
    assert_int_equal(a.status, 200);    /* open mode: loopback, no key yet */
    done(&a);
    char key[AUTH_KEY_LEN + 1];
    store_key rec;
    assert_int_equal(auth_key_create(g_app.db, "t", 0, key, &rec), 0);
    a = rt("POST /t/private HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 90\r\nConnection: close\r\n\r\n");
    assert_error(&a, ERR_UNAUTHORIZED);
    assert_true(has_header(&a, "WWW-Authenticate: Bearer\r\n"));
    done(&a);
    char req_[512];
    snprintf(req_, sizeof req_, "POST /t/private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", key);
    a = rt(req_);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "2:{}");
    done(&a);
}

/* ---- suspend / resume, streams -------------------------------------------------------------------- */

static void test_suspended_request_frees_its_worker(void **st)
{
    (void)st;
    int fd = connect_daemon();
    const char *park = "GET /t/park HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, park, strlen(park));
    pthread_mutex_lock(&park_mu);
    while (!parked) pthread_cond_wait(&park_cv, &park_mu);
    req *r = parked;
    parked = NULL;
    pthread_mutex_unlock(&park_mu);
    assert_int_equal(r->suspended, 1);

    /* one worker thread (setup): it serves another request while /t/park waits */
    answer b = rt("GET /t/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(b.status, 200);
    done(&b);

    /* answered from this thread, as the compute pool does */
    pthread_mutex_lock(&park_mu);
    http_resp_take(r, 202, "text/plain", strdup("resumed"), 7);
    http_resume(r);
    pthread_mutex_unlock(&park_mu);
    answer a = parse(read_all(fd));
    close(fd);
    assert_int_equal(a.status, 202);
    assert_string_equal(a.body, "resumed");
    done(&a);
}

static void test_streamed_response(void **st)
{
    (void)st;
    answer a = rt("GET /t/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(a.status, 200);
    assert_true(has_header(&a, "Transfer-Encoding: chunked\r\n"));
    assert_true(has_header(&a, "Cache-Control: no-cache\r\n"));
    assert_non_null(strstr(a.body, "chunk0\n"));
    assert_non_null(strstr(a.body, "chunk2\n"));
    assert_null(strstr(a.body, "chunk3"));
    done(&a);
    pthread_mutex_lock(&park_mu);
    while (!stream_freed) pthread_cond_wait(&park_cv, &park_mu);   /* the response freed its reader */
    pthread_mutex_unlock(&park_mu);
}

static void test_nothing_left_in_flight(void **st)
{
    (void)st;
    /* every request above completed (on_completed ran): a connection closed
     * by the server has finished its request first */
    answer a = rt("GET /t/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    done(&a);
    while (http_inflight() != 0) sleep_ms(1);
    assert_int_equal(http_inflight(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_encoding),
        cmocka_unit_test(test_error_bodies_are_json_whatever_the_message),
        cmocka_unit_test(test_routes_404_405_and_captures),
        cmocka_unit_test(test_readiness_is_checked_in_dispatch),
        cmocka_unit_test(test_framing_refused_before_the_body),
        cmocka_unit_test(test_chunked_body_is_cut_at_the_limit),
        cmocka_unit_test(test_protocol_checks),
        cmocka_unit_test(test_auth_before_the_body),
        cmocka_unit_test(test_suspended_request_frees_its_worker),
        cmocka_unit_test(test_streamed_response),
        cmocka_unit_test(test_nothing_left_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
