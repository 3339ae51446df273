/* fuzz_http.c — libFuzzer target: whole HTTP requests sent to an in-process
 * daemon over a loopback socket.  This is also how the binary step decoder
 * (static in h_sessions.c) and every handler get fuzzed.
 *
 * Start-up (once, LLVMFuzzerInitialize) follows serve.c serve(): a temporary
 * database, store_open, sessions_open (server/sessions.c), an admin key and a tenant key,
 * pool_start (the compute pool), http_start on 127.0.0.1:0, sessions_restore, APP_READY; a thread runs
 * sessions_timer every 50 ms as serve.c's libuv timer does.  Three sessions
 * are created over HTTP: sgd N=4 durability=step, adam N=4 checkpoint, and a
 * 2-worker shared session (step-timeout 0.2 s).
 *
 * Each input is the raw bytes of one or more requests, after these
 * substitutions: {SID} {SID2} {SID3} (the three session ids), {KEY} (the
 * admin key) and {KEY2} (the tenant key).  The bytes go to a fresh
 * connection, the write side is shut, and the answer is read until the
 * daemon closes, 20 ms pass without more bytes after the first ones, or 2 s
 * pass.  Limits are small (max-params 4096, bodies
 * 64 KiB, 2000 sessions) so that the fuzzer cannot spend memory instead of
 * finding bugs.
 * Oracles: the sanitizers (a crash in any daemon thread aborts the process
 * with the input that caused it) and liveness: after each input GET /livez
 * on a new connection must answer 200 within 5 s.  The input's first line
 * also goes straight through http_strict's path, query and transfer-coding
 * checks (which the daemon runs on every request), so that they are fuzzed
 * on bytes libmicrohttpd would not pass on. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "errors.h"
#include "http.h"
#include "http_strict.h"
#include "pool.h"
#include "sessions.h"
#include "store.h"

static app the_app;
static char sid[3][64];
static char key_admin[AUTH_KEY_LEN + 1], key_tenant[AUTH_KEY_LEN + 1];

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sends buf and reads the answer into out (at most cap-1 bytes, NUL
 * terminated; the rest is drained).  Returns bytes read, -1 on a connect
 * failure. */
static long exchange(const char *buf, size_t len, char *out, size_t cap, double timeout)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)the_app.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    double deadline = mono() + timeout;
    size_t off = 0;
    while (off < len && mono() < deadline) {
        ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) break;
        else {
            struct pollfd p = {.fd = fd, .events = POLLOUT | POLLIN};
            poll(&p, 1, 20);
            if (p.revents & POLLIN) { /* an early answer: read it below */
                char junk[4096];
                ssize_t r = recv(fd, junk, sizeof junk, MSG_DONTWAIT);
                if (r <= 0) break;
            }
        }
    }
    shutdown(fd, SHUT_WR);
    /* libmicrohttpd keeps a half-closed keep-alive connection open until its
     * timeout: once something has arrived, 20 ms of silence ends the read. */
    size_t got = 0, total = 0;
    while (mono() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = (int)((deadline - mono()) * 1000) + 1;
        if (total > 0 && ms > 20) ms = 20;
        if (poll(&p, 1, ms) <= 0) break;
        char tmp[8192];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) break;
        total += (size_t)r;
        if (out && got + 1 < cap) {
            size_t k = (size_t)r < cap - 1 - got ? (size_t)r : cap - 1 - got;
            memcpy(out + got, tmp, k);
            got += k;
        }
    }
    if (out) out[got] = '\0';
    close(fd);
    return (long)got;
}

static void create_session(int i, const char *body)
{
    char req[1024], resp[8192];
    int n = snprintf(req, sizeof req,
                     "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     key_tenant, strlen(body), body);
    exchange(req, (size_t)n, resp, sizeof resp, 10);
    const char *p = strstr(resp, "\"id\":\"");
    if (!p || strncmp(resp, "HTTP/1.1 201", 12) != 0) {
        fprintf(stderr, "fuzz_http: cannot create a session: %s\n", resp);
        abort();
    }
    p += 6;
    size_t k = strcspn(p, "\"");
    if (k >= sizeof sid[i]) abort();
    memcpy(sid[i], p, k);
    sid[i][k] = '\0';
}

static char tmpdir[64];

/* The temporary database goes when the fuzzer exits normally (a crash keeps
 * it for inspection). */
static void remove_tmpdir(void)
{
    static const char *const files[] = {"fuzz.db", "fuzz.db-wal", "fuzz.db-shm"};
    char path[128];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static void *ticker(void *unused)
{
    (void)unused;
    for (;;) {
        usleep(50000);
        sessions_timer(&the_app, http_now_mono());
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/optirs-fuzz-http-XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
    atexit(remove_tmpdir);
    char db[256];
    snprintf(db, sizeof db, "--db=%s/fuzz.db", tmpdir);
    char *args[] = {"--listen=127.0.0.1:0", db, "--threads=2", "--max-params=4096",
                    "--max-json-body=65536", "--max-binary-body=65536", "--max-sessions=2000",
                    "--step-timeout=0.2", "--connection-timeout=2", "--checkpoint-every=3", NULL};
    if (config_load(&the_app.cfg, 10, args) != 0) abort();
    if (store_open(the_app.cfg.db, &the_app.db) != 0) abort();
    if (sessions_open(&the_app) != 0) abort();
    store_key rec;
    if (auth_key_create(the_app.db, "fuzz-admin", 1, key_admin, &rec) != 0) abort();
    if (auth_key_create(the_app.db, "fuzz-tenant", 0, key_tenant, &rec) != 0) abort();
    auth_invalidate();
    atomic_store(&the_app.state, APP_STARTING);
    if (pool_start(2, 256) != 0) abort();   /* steps, creates and deletes run on it, as in serve.c */
    if (http_start(&the_app, 2, &the_app.port) != 0) abort();
    if (sessions_restore(the_app.reg) < 0) abort();
    atomic_store(&the_app.state, APP_READY);
    pthread_t t;
    pthread_create(&t, NULL, ticker, NULL);
    pthread_detach(t);
    create_session(0, "{\"optimizer\":\"sgd\",\"hyperparams\":{\"lr\":0.01},\"tensors\":[{\"shape\":[4]}],"
                      "\"durability\":\"step\"}");
    create_session(1, "{\"optimizer\":\"adam\",\"tensors\":[{\"name\":\"w\",\"shape\":[2,2]}],"
                      "\"durability\":\"checkpoint\",\"non_finite\":\"skip\"}");
    create_session(2, "{\"optimizer\":\"rmsprop\",\"tensors\":[{\"shape\":[4]}],\"workers\":2}");
    fprintf(stderr, "fuzz_http: daemon on port %d, sessions %s %s %s\n", the_app.port, sid[0], sid[1], sid[2]);
    return 0;
}

/* Copies in[0..n) to a new buffer replacing the placeholders. */
static char *substitute(const uint8_t *in, size_t n, size_t *out_len)
{
    static const char *names[] = {"{SID}", "{SID2}", "{SID3}", "{KEY}", "{KEY2}"};
    const char *vals[] = {sid[0], sid[1], sid[2], key_admin, key_tenant};
    size_t cap = n * 14 + 1, len = 0; /* "{SID}" (5 bytes) grows to <= 68 */
    char *o = malloc(cap);
    if (!o) return NULL;
    for (size_t i = 0; i < n;) {
        int hit = -1;
        if (in[i] == '{')
            for (int k = 0; k < 5 && hit < 0; k++) {
                size_t kl = strlen(names[k]);
                if (i + kl <= n && memcmp(in + i, names[k], kl) == 0) hit = k;
            }
        if (hit >= 0) {
            size_t vl = strlen(vals[hit]);
            memcpy(o + len, vals[hit], vl);
            len += vl;
            i += strlen(names[hit]);
        } else o[len++] = (char)in[i++];
    }
    *out_len = len;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 70000) return 0;
    size_t len;
    char *buf = substitute(data, size, &len);
    if (!buf) return 0;
    /* The pure checks on the first line, as an exact-length copy (ASan sees
     * any read past it). */
    size_t line = 0;
    while (line < len && buf[line] != '\r' && buf[line] != '\n') line++;
    char *first = malloc(line + 1);
    if (first) {
        memcpy(first, buf, line);
        first[line] = '\0';
        const char *q = memchr(first, '?', line);
        size_t plen = q ? (size_t)(q - first) : line;
        char msg[160];
        (void)http_strict_path(first, plen, msg, sizeof msg);
        if (q) (void)http_strict_query_count(q + 1, line - plen - 1);
        (void)http_strict_transfer_coding(first, msg, sizeof msg);
        free(first);
    }
    exchange(buf, len, NULL, 0, 2.0);
    free(buf);
    /* Liveness: the daemon still answers. */
    static const char live[] = "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char resp[512];
    if (exchange(live, sizeof live - 1, resp, sizeof resp, 5.0) <= 0 || strncmp(resp, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "fuzz_http: the daemon stopped answering /livez after this input: %s\n", resp);
        abort();
    }
    return 0;
}
