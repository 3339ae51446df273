/* bench_http.c — an HTTP/1.1 keep-alive load generator for optirsd over
 * plain sockets, and a raw loopback echo probe to compare it with.
 *
 *   bench_http --port P --mode binary|json --n N --seconds S --sessions C [--threads T]
 *   bench_http --port P --mode livez --seconds S --sessions C [--threads T] [--path /livez]
 *   bench_http --mode echo --n N --seconds S --sessions C [--threads T]
 *
 * binary/json: each of the C connections creates its own Adam session of N
 * parameters (POST /v1/sessions) and then steps it sequentially, k = 1, 2, …,
 * with one fixed gradient (so that every Adam update must be -lr·g/(|g|+eps),
 * i.e. -lr·sign(g) to within 1%: a check that the answer is the right one, not
 * merely well formed).  Every answer is verified: status 200, X-Optirs-Step ==
 * k, body length 4·N (binary) or a JSON object {"step":k,"update":[N numbers]}
 * whose first and last values are checked as above.
 * livez: GET /livez (or --path: e.g. a static file of another server, such as
 * nginx) on every connection, status 200 checked (a reference for small
 * requests).
 * echo: an in-process server thread per connection reads 4·N bytes and writes
 * them back over loopback TCP; the client side is the same code as for HTTP,
 * so its MB/s is the raw loopback figure for the same body sizes.
 *
 * T client threads (default min(C, 4)) each drive C/T connections with
 * poll(); one request in flight per connection.  The first 15% of the run
 * (at most 0.5 s) is warm-up and not counted; when fewer than --min-requests
 * (default 5) answers came back in S seconds the window stretches until they
 * have (slow JSON steps at N = 1e6 on a loaded machine).  MB/s counts request and
 * response bodies (1 MB = 1e6 bytes).  Output: a human line and one
 *   RESULT mode=… n=… sessions=… seconds=… requests=… req_per_s=… mb_per_s=…
 *          p50_us=… p99_us=… reconnects=… errors=…
 * line.  Exit status 0 only when every answer was verified. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_BINARY, MODE_JSON, MODE_LIVEZ, MODE_ECHO };
enum kind { KIND_CREATE, KIND_STEP_BIN, KIND_STEP_JSON, KIND_LIVEZ, KIND_ECHO };

static int    g_port;
static enum mode g_mode = MODE_BINARY;
static long   g_n = 1000;
static double g_seconds = 3;
static int    g_sessions = 1;
static int    g_threads;
static const char *g_path = "/livez";    /* what --mode livez GETs */
static double g_t_warm, g_t_end;          /* counting window, monotonic s */
static atomic_int g_fail;
static long   g_min_requests = 5;        /* the window stretches until this many are counted */
static atomic_long g_counted;
static pthread_mutex_t g_end_mu = PTHREAD_MUTEX_INITIALIZER;
static double g_t_stop;                   /* end of the counting window actually used */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fail(int idx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int idx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_http: connection %d: ", idx);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    atomic_store(&g_fail, 1);
}

/* ---- one connection ------------------------------------------------------- */

typedef struct conn {
    int    idx, fd;
    int    port;
    char   sid[64];
    double lr;
    long long k;                /* step of the request in flight */
    enum kind kind;
    /* the gradient: float32 (binary) or its text without brackets (JSON) */
    float *grads;
    float *want;                /* the update every step must answer */
    char  *jtext;
    size_t jlen;
    /* sending */
    char   hdr[512];
    char   jpre[64];
    struct iovec iov[4];
    int    niov, iov_i;
    size_t req_body;            /* request body bytes of this request */
    /* receiving */
    char  *rbuf;
    size_t rcap, rlen, need;
    size_t hdr_end;
    int    have_hdr, status, close_after;
    long long clen, xstep;
    double t_send;
    int    busy;
} conn;

static int conn_connect(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fail(c->idx, "connect to 127.0.0.1:%d: %s", c->port, strerror(errno));
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
    return 0;
}

static int ensure_rcap(conn *c, size_t cap)
{
    if (c->rcap >= cap) return 0;
    size_t nc = c->rcap ? c->rcap : 16384;
    while (nc < cap) nc *= 2;
    char *b = realloc(c->rbuf, nc);
    if (!b) return -1;
    c->rbuf = b;
    c->rcap = nc;
    return 0;
}

/* Prepares the next request of c's kind (step number c->k). */
static void conn_prepare(conn *c)
{
    size_t body = 0;
    int h = 0;
    c->niov = 0;
    c->iov_i = 0;
    switch (c->kind) {
    case KIND_CREATE: {
        snprintf(c->jpre, sizeof c->jpre, "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[%ld]}]}", g_n);
        body = strlen(c->jpre);
        h = snprintf(c->hdr, sizeof c->hdr,
                     "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n", c->port, body);
        c->iov[1] = (struct iovec){c->jpre, body};
        c->niov = 2;
        break;
    }
    case KIND_STEP_BIN:
        body = (size_t)g_n * 4;
        h = snprintf(c->hdr, sizeof c->hdr,
                     "POST /v1/sessions/%s/step HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\nX-Optirs-Step: %lld\r\n\r\n",
                     c->sid, c->port, body, c->k);
        c->iov[1] = (struct iovec){c->grads, body};
        c->niov = 2;
        break;
    case KIND_STEP_JSON: {
        int p = snprintf(c->jpre, sizeof c->jpre, "{\"step\":%lld,\"grads\":[", c->k);
        body = (size_t)p + c->jlen + 2;
        h = snprintf(c->hdr, sizeof c->hdr,
                     "POST /v1/sessions/%s/step HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     c->sid, c->port, body);
        c->iov[1] = (struct iovec){c->jpre, (size_t)p};
        c->iov[2] = (struct iovec){c->jtext, c->jlen};
        c->iov[3] = (struct iovec){"]}", 2};
        c->niov = 4;
        break;
    }
    case KIND_LIVEZ:
        h = snprintf(c->hdr, sizeof c->hdr, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", g_path, c->port);
        c->niov = 1;
        break;
    case KIND_ECHO:
        body = (size_t)g_n * 4;
        c->iov[1] = (struct iovec){c->grads, body};
        c->niov = 2;
        break;
    }
    c->iov[0] = (struct iovec){c->hdr, (size_t)h};
    c->req_body = body;
    c->rlen = 0;
    c->have_hdr = 0;
    c->status = 0;
    c->clen = -1;
    c->xstep = -1;
    c->close_after = 0;
    if (c->kind == KIND_ECHO) {     /* no headers either way: exactly the body back */
        c->have_hdr = 1;
        c->hdr_end = 0;
        c->clen = (long long)body;
        c->need = body;
        c->status = 200;
    }
    c->busy = 1;
    c->t_send = now_s();
}

/* Parses the status line and the headers we need.  -1 on a malformed answer. */
static int parse_head(conn *c)
{
    char *p = c->rbuf, *end = c->rbuf + c->hdr_end;
    if (end - p < 12 || strncmp(p, "HTTP/1.1 ", 9) != 0) return -1;
    c->status = atoi(p + 9);
    p = memchr(p, '\n', (size_t)(end - p));
    while (p && ++p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) break;
        char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            size_t nl = (size_t)(colon - p);
            char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            if (nl == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
                if (c->clen >= 0) return -1;          /* two of them */
                c->clen = strtoll(v, NULL, 10);
            } else if (nl == 13 && strncasecmp(p, "X-Optirs-Step", 13) == 0) {
                c->xstep = strtoll(v, NULL, 10);
            } else if (nl == 10 && strncasecmp(p, "Connection", 10) == 0) {
                if (strncasecmp(v, "close", 5) == 0) c->close_after = 1;
            } else if (nl == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
                return -1;                            /* chunked answers are not expected */
            }
        }
        p = eol;
    }
    if (c->clen < 0) return -1;
    return 0;
}

/* Moves c forward as far as the socket allows.  1 when the answer is
 * complete, 0 when waiting, -1 on an error (reported). */
static int conn_progress(conn *c)
{
    while (c->iov_i < c->niov) {
        ssize_t w = writev(c->fd, c->iov + c->iov_i, c->niov - c->iov_i);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            fail(c->idx, "write: %s", strerror(errno));
            return -1;
        }
        size_t left = (size_t)w;
        while (left && c->iov_i < c->niov) {
            struct iovec *v = &c->iov[c->iov_i];
            if (left >= v->iov_len) {
                left -= v->iov_len;
                c->iov_i++;
            } else {
                v->iov_base = (char *)v->iov_base + left;
                v->iov_len -= left;
                left = 0;
            }
        }
        while (c->iov_i < c->niov && c->iov[c->iov_i].iov_len == 0) c->iov_i++;
    }
    for (;;) {
        size_t want;
        if (!c->have_hdr) {
            if (ensure_rcap(c, c->rlen + 8192)) { fail(c->idx, "out of memory"); return -1; }
            want = c->rcap - c->rlen;
        } else {
            if (c->rlen == c->need) return 1;
            if (ensure_rcap(c, c->need)) { fail(c->idx, "out of memory"); return -1; }
            want = c->need - c->rlen;
        }
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, want, 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            fail(c->idx, "read: %s", strerror(errno));
            return -1;
        }
        if (r == 0) {
            fail(c->idx, "the server closed the connection in the middle of an answer (%zu bytes read)", c->rlen);
            return -1;
        }
        size_t old = c->rlen;
        c->rlen += (size_t)r;
        if (!c->have_hdr) {
            size_t from = old > 3 ? old - 3 : 0;
            char *e = memmem(c->rbuf + from, c->rlen - from, "\r\n\r\n", 4);
            if (!e) {
                if (c->rlen > 65536) { fail(c->idx, "answer headers over 64 KiB"); return -1; }
                continue;
            }
            c->hdr_end = (size_t)(e - c->rbuf) + 4;
            c->have_hdr = 1;
            if (parse_head(c)) {
                fail(c->idx, "malformed answer head: %.*s", (int)(c->hdr_end < 300 ? c->hdr_end : 300), c->rbuf);
                return -1;
            }
            c->need = c->hdr_end + (size_t)c->clen;
        }
        if (c->rlen > c->need) {
            fail(c->idx, "%zu bytes after the answer (nothing was pipelined)", c->rlen - c->need);
            return -1;
        }
        if (c->rlen == c->need) return 1;
    }
}

/* Waits for c's answer on its own (set-up requests).  0 or -1. */
static int conn_wait(conn *c)
{
    for (;;) {
        int r = conn_progress(c);
        if (r) {
            c->busy = 0;
            return r > 0 ? 0 : -1;
        }
        struct pollfd pf = {.fd = c->fd, .events = c->iov_i < c->niov ? POLLOUT : POLLIN};
        if (poll(&pf, 1, 30000) == 0) {
            fail(c->idx, "no answer within 30 s");
            return -1;
        }
    }
}

/* ---- verification --------------------------------------------------------- */

/* Adam with one constant gradient g answers -lr·g/(|g|+eps) at every step;
 * with |g| >= 1e-6 and eps = 1e-8 that is -lr·sign(g) within 1%.  c->want
 * holds that answer, computed once. */
static int check_update(const conn *c, long i, double u)
{
    return isfinite(u) && fabs(u - (double)c->want[i]) <= 0.02 * c->lr;
}

/* Index of the first of n little-endian float32 at p that is off, or -1.
 * The body need not be 4-byte aligned; this loop must stay cheap next to
 * the server's work (it vectorises). */
static long check_updates(const conn *c, const char *p, long n)
{
    const float tol = (float)(0.02 * c->lr);
    for (long i0 = 0; i0 < n; i0 += 4096) {
        long i1 = i0 + 4096 < n ? i0 + 4096 : n;
        int bad = 0;
        for (long i = i0; i < i1; i++) {
            float v;
            memcpy(&v, p + 4 * i, 4);
            bad |= !(fabsf(v - c->want[i]) <= tol);     /* NaN compares false: caught */
        }
        if (bad)
            for (long i = i0; i < i1; i++) {
                float v;
                memcpy(&v, p + 4 * i, 4);
                if (!check_update(c, i, v)) return i;
            }
    }
    return -1;
}

static int verify(conn *c)
{
    const char *body = c->rbuf + c->hdr_end;
    size_t blen = (size_t)c->clen;
    if (c->kind == KIND_ECHO) {
        if (memcmp(body, c->grads, blen < 256 ? blen : 256) != 0) {
            fail(c->idx, "echo answered different bytes");
            return -1;
        }
        return 0;
    }
    int want_status = c->kind == KIND_CREATE ? 201 : 200;
    if (c->status != want_status) {
        fail(c->idx, "step %lld: status %d (want %d): %.*s", c->k, c->status, want_status,
             (int)(blen < 400 ? blen : 400), body);
        return -1;
    }
    if (c->kind == KIND_LIVEZ) return 0;
    if (c->kind == KIND_CREATE) {
        char tmp[4096];
        size_t n = blen < sizeof tmp - 1 ? blen : sizeof tmp - 1;
        memcpy(tmp, body, n);
        tmp[n] = '\0';
        char *id = strstr(tmp, "\"id\":\"");
        char *lr = strstr(tmp, "\"lr\":");
        if (!id || !lr) { fail(c->idx, "create answer without id or lr: %s", tmp); return -1; }
        id += 6;
        char *q = strchr(id, '"');
        if (!q || q - id >= (long)sizeof c->sid) { fail(c->idx, "bad id in %s", tmp); return -1; }
        memcpy(c->sid, id, (size_t)(q - id));
        c->sid[q - id] = '\0';
        c->lr = strtod(lr + 5, NULL);
        if (!(c->lr > 0)) { fail(c->idx, "bad lr in %s", tmp); return -1; }
        c->want = malloc((size_t)g_n * sizeof *c->want);
        if (!c->want) { fail(c->idx, "out of memory"); return -1; }
        for (long i = 0; i < g_n; i++)
            c->want[i] = (float)(-c->lr * (double)c->grads[i] / (fabs((double)c->grads[i]) + 1e-8));
        return 0;
    }
    if (c->xstep != c->k) {
        fail(c->idx, "step %lld answered with X-Optirs-Step %lld", c->k, c->xstep);
        return -1;
    }
    if (c->kind == KIND_STEP_BIN) {
        if (blen != (size_t)g_n * 4) {
            fail(c->idx, "step %lld: body of %zu bytes, want %ld", c->k, blen, g_n * 4);
            return -1;
        }
        long i = check_updates(c, body, g_n);
        if (i >= 0) {
            float v;
            memcpy(&v, body + 4 * i, 4);
            fail(c->idx, "step %lld: update[%ld] = %g for grad %g (lr %g)", c->k, i, (double)v,
                 (double)c->grads[i], c->lr);
            return -1;
        }
        return 0;
    }
    /* JSON: {"step":k,"update":[v0,...,vN-1]} — count the values, check the
     * first 8 and the last numerically. */
    char pre[64];
    int pl = snprintf(pre, sizeof pre, "{\"step\":%lld,\"update\":[", c->k);
    if (blen < (size_t)pl + 2 || memcmp(body, pre, (size_t)pl) != 0 || memcmp(body + blen - 2, "]}", 2) != 0) {
        fail(c->idx, "step %lld: JSON answer is not {\"step\":k,\"update\":[…]}: %.*s", c->k,
             (int)(blen < 200 ? blen : 200), body);
        return -1;
    }
    const char *a = body + pl, *e = body + blen - 2;
    long commas = 0;
    for (const char *p = a; (p = memchr(p, ',', (size_t)(e - p))) != NULL; p++) commas++;
    if (commas + 1 != g_n) {
        fail(c->idx, "step %lld: JSON update has %ld values, want %ld", c->k, commas + 1, g_n);
        return -1;
    }
    const char *p = a;
    for (long i = 0; i < g_n && i < 8; i++) {
        char *q;
        double v = strtod(p, &q);
        if (q == p || !check_update(c, i, v)) {
            fail(c->idx, "step %lld: JSON update[%ld] = %.20s for grad %g", c->k, i, p, (double)c->grads[i]);
            return -1;
        }
        p = q + 1;
    }
    const char *last = e;
    while (last > a && last[-1] != ',') last--;
    if (!check_update(c, g_n - 1, strtod(last, NULL))) {
        fail(c->idx, "step %lld: JSON last update %.20s for grad %g", c->k, last, (double)c->grads[g_n - 1]);
        return -1;
    }
    return 0;
}

/* ---- the gradient --------------------------------------------------------- */

static uint64_t rnd_u64(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1du;
}

/* Gradient-like values: random sign, magnitude 10^U(-6, -1). */
static int make_grads(conn *c, uint64_t seed)
{
    c->grads = malloc((size_t)g_n * 4 + 4);
    if (!c->grads) return -1;
    uint64_t s = seed * 0x9e3779b97f4a7c15u + 1;
    for (long i = 0; i < g_n; i++) {
        uint64_t r = rnd_u64(&s);
        double mag = pow(10.0, -6.0 + 5.0 * (double)(r >> 11) * 0x1p-53);
        c->grads[i] = (float)((r & 1) ? -mag : mag);
    }
    if (g_mode != MODE_JSON) return 0;
    c->jtext = malloc((size_t)g_n * 20 + 16);
    if (!c->jtext) return -1;
    size_t len = 0;
    for (long i = 0; i < g_n; i++)     /* %.9g: float32 exactly, as clients print it */
        len += (size_t)sprintf(c->jtext + len, i ? ",%.9g" : "%.9g", (double)c->grads[i]);
    c->jlen = len;
    return 0;
}

/* ---- client threads --------------------------------------------------------- */

typedef struct worker {
    pthread_t th;
    conn     *conns;
    int       nconns;
    double   *lat;           /* latencies (s) of counted requests */
    size_t    nlat, caplat;
    double    bytes;         /* counted request + response body bytes */
    long      reconnects;
} worker;

static pthread_barrier_t g_barrier;

/* Counts a request sent after the warm-up and answered in the window; past
 * g_t_end the window stretches (to t_done) while fewer than g_min_requests
 * were counted, so that slow steps still give a figure. */
static void record(worker *w, conn *c, double t_done)
{
    if (c->t_send < g_t_warm) return;
    if (t_done > g_t_end) {
        pthread_mutex_lock(&g_end_mu);
        int take = atomic_load(&g_counted) < g_min_requests;
        if (take) {
            atomic_fetch_add(&g_counted, 1);
            if (t_done > g_t_stop) g_t_stop = t_done;
        }
        pthread_mutex_unlock(&g_end_mu);
        if (!take) return;
    } else {
        atomic_fetch_add(&g_counted, 1);
    }
    if (w->nlat == w->caplat) {
        size_t nc = w->caplat ? w->caplat * 2 : 4096;
        double *l = realloc(w->lat, nc * sizeof *l);
        if (!l) return;
        w->lat = l;
        w->caplat = nc;
    }
    w->lat[w->nlat++] = t_done - c->t_send;
    w->bytes += (double)c->req_body + (double)c->clen;
}

static enum kind run_kind(void)
{
    switch (g_mode) {
    case MODE_BINARY: return KIND_STEP_BIN;
    case MODE_JSON:   return KIND_STEP_JSON;
    case MODE_LIVEZ:  return KIND_LIVEZ;
    default:          return KIND_ECHO;
    }
}

static void start_next(conn *c)
{
    c->kind = run_kind();
    c->k++;
    conn_prepare(c);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct pollfd *pf = calloc((size_t)w->nconns, sizeof *pf);
    if (!pf) { fail(-1, "out of memory"); }
    pthread_barrier_wait(&g_barrier);     /* set-up done everywhere; main sets the clock */
    pthread_barrier_wait(&g_barrier);
    if (!pf) return NULL;
    for (int i = 0; i < w->nconns; i++) start_next(&w->conns[i]);
    for (;;) {
        int live = 0;
        for (int i = 0; i < w->nconns; i++) {
            conn *c = &w->conns[i];
            pf[i].fd = -1;
            pf[i].revents = 0;
            while (c->busy) {
                int r = conn_progress(c);
                if (r == 0) break;
                c->busy = 0;
                if (r < 0 || verify(c)) break;
                double t = now_s();
                record(w, c, t);
                if (c->close_after) {        /* keep-alive refused: reconnect */
                    close(c->fd);
                    w->reconnects++;
                    if (conn_connect(c)) break;
                }
                if ((t < g_t_end || atomic_load(&g_counted) < g_min_requests) && !atomic_load(&g_fail))
                    start_next(c);
            }
            if (c->busy && !atomic_load(&g_fail)) {
                pf[i].fd = c->fd;
                pf[i].events = c->iov_i < c->niov ? POLLOUT : POLLIN;
                live++;
            }
        }
        if (!live) break;
        if (now_s() > g_t_end + 120) { fail(-1, "answers still missing 120 s after the end"); break; }
        poll(pf, (nfds_t)w->nconns, 200);
    }
    free(pf);
    return NULL;
}

/* ---- the echo server ---------------------------------------------------------- */

typedef struct echo_srv { int lfd; int nconns; size_t bytes; } echo_srv;

static void *echo_conn_main(void *arg)
{
    intptr_t fd = (intptr_t)arg;
    size_t n = (size_t)g_n * 4;
    char *buf = malloc(n ? n : 1);
    while (buf) {
        size_t got = 0;
        while (got < n) {
            ssize_t r = recv((int)fd, buf + got, n - got, 0);
            if (r <= 0) goto out;
            got += (size_t)r;
        }
        size_t sent = 0;
        while (sent < n) {
            ssize_t r = send((int)fd, buf + sent, n - sent, MSG_NOSIGNAL);
            if (r <= 0) goto out;
            sent += (size_t)r;
        }
    }
out:
    free(buf);
    close((int)fd);
    return NULL;
}

static void *echo_accept_main(void *arg)
{
    echo_srv *s = arg;
    for (int i = 0; i < s->nconns; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) break;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t th;
        if (pthread_create(&th, NULL, echo_conn_main, (void *)(intptr_t)fd) == 0) pthread_detach(th);
        else close(fd);
    }
    return NULL;
}

static int echo_start(echo_srv *s, pthread_t *th)
{
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->lfd, 128) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    g_port = ntohs(sa.sin_port);
    return pthread_create(th, NULL, echo_accept_main, s);
}

/* ---- main ----------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_http --port P --mode binary|json|livez --n N --seconds S --sessions C [--threads T]\n"
            "       [--path /livez]: the path --mode livez GETs (up to 200 bytes, from '/')\n"
            "       bench_http --mode echo --n N --seconds S --sessions C [--threads T]\n"
            "       [--min-requests M]: past S seconds, go on until M requests were counted (default 5)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--port") == 0) g_port = atoi(v);
        else if (strcmp(a, "--n") == 0) g_n = (long)strtod(v, NULL);
        else if (strcmp(a, "--seconds") == 0) g_seconds = strtod(v, NULL);
        else if (strcmp(a, "--sessions") == 0) g_sessions = atoi(v);
        else if (strcmp(a, "--threads") == 0) g_threads = atoi(v);
        else if (strcmp(a, "--min-requests") == 0) g_min_requests = atol(v);
        else if (strcmp(a, "--path") == 0) {
            if (v[0] != '/' || strlen(v) > 200 || strpbrk(v, " \r\n")) usage();
            g_path = v;
        }
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "binary") == 0) g_mode = MODE_BINARY;
            else if (strcmp(v, "json") == 0) g_mode = MODE_JSON;
            else if (strcmp(v, "livez") == 0) g_mode = MODE_LIVEZ;
            else if (strcmp(v, "echo") == 0) g_mode = MODE_ECHO;
            else usage();
        } else usage();
        i++;
    }
    if (g_n < 1 || g_n > 100000000 || g_sessions < 1 || g_sessions > 4096 || !(g_seconds > 0)) usage();
    if (g_mode != MODE_ECHO && (g_port <= 0 || g_port > 65535)) usage();
    if (g_threads <= 0) g_threads = g_sessions < 4 ? g_sessions : 4;
    if (g_threads > g_sessions) g_threads = g_sessions;

    echo_srv es = {.nconns = g_sessions};
    pthread_t echo_th;
    if (g_mode == MODE_ECHO && echo_start(&es, &echo_th) != 0) {
        fprintf(stderr, "bench_http: echo server: %s\n", strerror(errno));
        return 1;
    }

    conn *conns = calloc((size_t)g_sessions, sizeof *conns);
    worker *ws = calloc((size_t)g_threads, sizeof *ws);
    if (!conns || !ws) return 1;
    for (int i = 0; i < g_sessions; i++) {
        conn *c = &conns[i];
        c->idx = i;
        c->port = g_port;
        if (g_mode != MODE_LIVEZ && make_grads(c, (uint64_t)i + 1)) { fprintf(stderr, "out of memory\n"); return 1; }
        if (conn_connect(c)) return 1;
        if (g_mode == MODE_BINARY || g_mode == MODE_JSON) {
            c->kind = KIND_CREATE;
            conn_prepare(c);
            if (conn_wait(c) || verify(c)) return 1;
        }
    }
    /* Connections go to threads in contiguous blocks. */
    for (int t = 0, at = 0; t < g_threads; t++) {
        int cnt = g_sessions / g_threads + (t < g_sessions % g_threads);
        ws[t].conns = conns + at;
        ws[t].nconns = cnt;
        at += cnt;
    }
    pthread_barrier_init(&g_barrier, NULL, (unsigned)g_threads + 1);
    for (int t = 0; t < g_threads; t++) pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
    pthread_barrier_wait(&g_barrier);
    double warm = 0.15 * g_seconds < 0.5 ? 0.15 * g_seconds : 0.5;
    double t0 = now_s();
    g_t_warm = t0 + warm;
    g_t_end = t0 + warm + g_seconds;
    g_t_stop = g_t_end;
    pthread_barrier_wait(&g_barrier);
    for (int t = 0; t < g_threads; t++) pthread_join(ws[t].th, NULL);

    size_t nlat = 0;
    double bytes = 0;
    long reconnects = 0;
    for (int t = 0; t < g_threads; t++) {
        nlat += ws[t].nlat;
        bytes += ws[t].bytes;
        reconnects += ws[t].reconnects;
    }
    double *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    if (!lat) return 1;
    for (int t = 0, at = 0; t < g_threads; t++) {
        memcpy(lat + at, ws[t].lat, ws[t].nlat * sizeof *lat);
        at += (int)ws[t].nlat;
    }
    qsort(lat, nlat, sizeof *lat, cmp_double);
    double p50 = nlat ? lat[(size_t)(0.50 * (double)(nlat - 1))] : NAN;
    double p99 = nlat ? lat[(size_t)(0.99 * (double)(nlat - 1))] : NAN;
    double secs = g_t_stop - g_t_warm;
    double rps = (double)nlat / secs, mbs = bytes / secs / 1e6;
    static const char *names[] = {"binary", "json", "livez", "echo"};
    int failed = atomic_load(&g_fail) || nlat == 0;
    printf("%-6s n=%-8ld sessions=%-3d threads=%d: %10.1f req/s %9.1f MB/s  p50 %8.1f us  p99 %8.1f us%s\n",
           names[g_mode], g_n, g_sessions, g_threads, rps, mbs, p50 * 1e6, p99 * 1e6,
           failed ? "  FAILED" : "");
    printf("RESULT mode=%s n=%ld sessions=%d threads=%d seconds=%.3f requests=%zu req_per_s=%.6g mb_per_s=%.6g "
           "p50_us=%.6g p99_us=%.6g reconnects=%ld errors=%d\n",
           names[g_mode], g_n, g_sessions, g_threads, secs, nlat, rps, mbs, p50 * 1e6, p99 * 1e6,
           reconnects, failed);
    for (int i = 0; i < g_sessions; i++) {
        if (conns[i].fd >= 0) close(conns[i].fd);
        free(conns[i].grads);
        free(conns[i].want);
        free(conns[i].jtext);
        free(conns[i].rbuf);
    }
    if (g_mode == MODE_ECHO) {
        close(es.lfd);
        pthread_join(echo_th, NULL);
    }
    for (int t = 0; t < g_threads; t++) free(ws[t].lat);
    free(ws);
    free(conns);
    free(lat);
    return failed ? 1 : 0;
}
