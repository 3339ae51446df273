/* optirs_client.c — see optirs_client.h. */
#include "optirs_client.h"

#include <curl/curl.h>
#include "half.h"     /* src/core/half.c, compiled into this library (client.mk) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct optirs_client {
    CURL        *curl;
    char        *url;          /* base, without a trailing '/' (as given: http(s)://… or unix:///PATH) */
    char        *unix_path;    /* unix:///PATH: the socket file, else NULL */
    char        *auth;         /* "Authorization: Bearer …" or NULL */
    int          retries;
    double       backoff, max_backoff, timeout;
    int          dtype, answer_dtype; /* OPTIRS_DTYPE_* of step requests and answers */
    optirs_error err;
};

struct optirs_session {
    optirs_client *c;
    char          *id;
    size_t         n;
    int64_t        last;
    cJSON         *desc;
};

/* An answer being received. */
typedef struct resp {
    char   *data;
    size_t  len, cap;
    long    status;
    int64_t step;              /* X-Optirs-Step, -1 when absent */
    double  retry_after;       /* Retry-After seconds, 0 when absent */
    int     is_json;           /* Content-Type application/json */
    int     dtype;             /* OPTIRS_DTYPE_* its Content-Type names (none: F32), -1 unknown */
} resp;

typedef struct req {
    const char *method;
    const char *path;
    const void *body;
    size_t      len;
    const char *ctype;         /* NULL: no body */
    const char *accept;
    const char *extra[4];      /* more header lines, NULL-terminated */
    int         idempotent;
} req;

const char *optirs_strerror(int rc)
{
    switch (rc) {
    case OPTIRS_OK:         return "ok";
    case OPTIRS_E_ARG:      return "invalid argument";
    case OPTIRS_E_NOMEM:    return "out of memory";
    case OPTIRS_E_CONNECT:  return "could not reach the daemon";
    case OPTIRS_E_HTTP:     return "the daemon answered an error";
    case OPTIRS_E_PROTOCOL: return "unexpected answer from the daemon";
    default:                return "unknown error";
    }
}

static int set_err(optirs_client *c, int rc, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int set_err(optirs_client *c, int rc, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    memset(&c->err, 0, sizeof c->err);
    c->err.status = status;
    snprintf(c->err.code, sizeof c->err.code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(c->err.message, sizeof c->err.message, fmt, ap);
    va_end(ap);
    return rc;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Copies n float32 between host order and little-endian (its own inverse). */
static void copy_le32(void *dst, const void *src, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(dst, src, n * 4);
        return;
    }
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++, s += 4, d += 4) {
        unsigned char t0 = s[0], t1 = s[1], t2 = s[2], t3 = s[3];
        d[0] = t3; d[1] = t2; d[2] = t1; d[3] = t0;
    }
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int optirs_client_new(const char *url, const char *api_key, optirs_client **out)
{
    if (!out)
        return OPTIRS_E_ARG;
    *out = NULL;
    if (!url || !*url)
        url = getenv("OPTIRS_URL");
    if (!url || !*url)
        url = OPTIRS_DEFAULT_URL;
    if (!api_key)
        api_key = getenv("OPTIRS_API_KEY");
    const char *sock = NULL;
    if (strncmp(url, "unix://", 7) == 0) {
        /* unix:///ABSOLUTE/PATH: the whole path names the socket file (at
         * most 107 bytes, what sun_path holds); no query, no fragment. */
        sock = url + 7;
        size_t n = strlen(sock);
        while (n > 1 && sock[n - 1] == '/')
            n--;
        if (sock[0] != '/' || n < 2 || n > 107 || strpbrk(sock, "?#"))
            return OPTIRS_E_ARG;
    } else if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        return OPTIRS_E_ARG;
    }
    if (api_key && strpbrk(api_key, "\r\n"))
        return OPTIRS_E_ARG;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return OPTIRS_E_NOMEM;
    optirs_client *c = calloc(1, sizeof *c);
    if (!c)
        return OPTIRS_E_NOMEM;
    c->url = dupstr(url);
    c->curl = curl_easy_init();
    if (sock && c->url) {
        c->unix_path = dupstr(sock);
        if (c->unix_path) {
            size_t n = strlen(c->unix_path);
            while (n > 1 && c->unix_path[n - 1] == '/')
                c->unix_path[--n] = 0;
        }
    }
    if (api_key && *api_key) {
        size_t n = strlen(api_key) + 32;
        c->auth = malloc(n);
        if (c->auth)
            snprintf(c->auth, n, "Authorization: Bearer %s", api_key);
    }
    if (!c->url || !c->curl || (api_key && *api_key && !c->auth) || (sock && !c->unix_path)) {
        optirs_client_free(c);
        return OPTIRS_E_NOMEM;
    }
    size_t ul = strlen(c->url);
    while (ul > 0 && c->url[ul - 1] == '/')
        c->url[--ul] = 0;
    c->retries = 6;
    c->backoff = 0.05;
    c->max_backoff = 2.0;
    c->timeout = 60.0;
    *out = c;
    return OPTIRS_OK;
}

void optirs_client_free(optirs_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->url);
    free(c->unix_path);
    free(c->auth);
    free(c);
}

void optirs_client_set_retry(optirs_client *c, int retries, double backoff_s, double max_backoff_s)
{
    if (!c)
        return;
    c->retries = retries < 0 ? 0 : retries;
    c->backoff = backoff_s > 0 ? backoff_s : 0;
    c->max_backoff = max_backoff_s > c->backoff ? max_backoff_s : c->backoff;
}

void optirs_client_set_timeout(optirs_client *c, double timeout_s)
{
    if (c && timeout_s > 0)
        c->timeout = timeout_s;
}

int optirs_client_set_dtype(optirs_client *c, int dtype, int answer_dtype)
{
    if (!c || dtype < OPTIRS_DTYPE_F32 || dtype > OPTIRS_DTYPE_BF16 || answer_dtype < OPTIRS_DTYPE_F32 ||
        answer_dtype > OPTIRS_DTYPE_BF16)
        return OPTIRS_E_ARG;
    c->dtype = dtype;
    c->answer_dtype = answer_dtype;
    return OPTIRS_OK;
}

const optirs_error *optirs_client_error(const optirs_client *c) { return c ? &c->err : NULL; }
const char *optirs_client_url(const optirs_client *c) { return c ? c->url : NULL; }

/* ---- transport ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    resp *r = ud;
    size_t n = size * nmemb;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *p = realloc(r->data, cap);
        if (!p)
            return 0;                  /* makes libcurl fail with CURLE_WRITE_ERROR */
        r->data = p;
        r->cap = cap;
    }
    memcpy(r->data + r->len, ptr, n);
    r->len += n;
    r->data[r->len] = 0;
    return n;
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    *val = v;
    *vlen = (size_t)(e - v);
    return 1;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    resp *r = ud;
    size_t n = size * nmemb;
    const char *v;
    size_t vl;
    char tmp[64];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {   /* a new answer (after 100-continue) */
        r->step = -1;
        r->retry_after = 0;
        r->is_json = 0;
        r->dtype = OPTIRS_DTYPE_F32;
    } else if (header_is(line, n, "X-Optirs-Step", &v, &vl) && vl > 0 && vl < sizeof tmp) {
        memcpy(tmp, v, vl);
        tmp[vl] = 0;
        char *end;
        errno = 0;
        long long s = strtoll(tmp, &end, 10);
        if (!errno && *end == 0 && s >= 0)
            r->step = s;
    } else if (header_is(line, n, "Retry-After", &v, &vl) && vl > 0 && vl < sizeof tmp) {
        memcpy(tmp, v, vl);
        tmp[vl] = 0;
        r->retry_after = atof(tmp);
    } else if (header_is(line, n, "Content-Type", &v, &vl)) {
        r->is_json = vl >= 16 && strncasecmp(v, "application/json", 16) == 0;
        r->dtype = OPTIRS_DTYPE_F32;
        if (vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = 0;
            const char *d = strcasestr(tmp, "dtype=");
            if (d) {
                d += 6;
                r->dtype = strncasecmp(d, "bf16", 4) == 0 ? OPTIRS_DTYPE_BF16
                           : strncasecmp(d, "f16", 3) == 0 ? OPTIRS_DTYPE_F16
                           : strncasecmp(d, "f32", 3) == 0 ? OPTIRS_DTYPE_F32 : -1;
            }
        }
    }
    return n;
}

/* One attempt.  Returns the CURLcode. */
static CURLcode perform_once(optirs_client *c, const req *q, resp *r)
{
    CURL *h = c->curl;
    struct curl_slist *hl = NULL, *t;
    char ct[96], ac[96];
    /* Over a socket file the URL only carries the path (and Host: localhost). */
    const char *base = c->unix_path ? "http://localhost" : c->url;
    size_t ul = strlen(base) + strlen(q->path) + 1;
    char *full = malloc(ul);
    if (!full)
        return CURLE_OUT_OF_MEMORY;
    snprintf(full, ul, "%s%s", base, q->path);

    free(r->data);
    memset(r, 0, sizeof *r);
    r->step = -1;

    curl_easy_reset(h);                       /* keeps the connection cache */
    curl_easy_setopt(h, CURLOPT_URL, full);
    if (c->unix_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->timeout * 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "optirs-c/1");
    if (strcmp(q->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        if (q->ctype) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
        }
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    hl = curl_slist_append(hl, "Expect:");
    snprintf(ac, sizeof ac, "Accept: %s", q->accept ? q->accept : "application/json");
    hl = hl ? curl_slist_append(hl, ac) : NULL;
    if (q->ctype && hl) {
        snprintf(ct, sizeof ct, "Content-Type: %s", q->ctype);
        hl = curl_slist_append(hl, ct);
    }
    if (c->auth && hl)
        hl = curl_slist_append(hl, c->auth);
    for (int i = 0; i < 4 && q->extra[i] && hl; i++) {
        t = curl_slist_append(hl, q->extra[i]);
        hl = t;
    }
    if (!hl) {
        free(full);
        return CURLE_OUT_OF_MEMORY;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    free(full);
    return rc;
}

/* Fills c->err from an error answer. */
static void error_from(optirs_client *c, const resp *r)
{
    memset(&c->err, 0, sizeof c->err);
    c->err.status = (int)r->status;
    cJSON *j = r->is_json && r->data ? cJSON_ParseWithLength(r->data, r->len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(e, "expected");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    if (cJSON_IsString(code)) {
        snprintf(c->err.code, sizeof c->err.code, "%s", code->valuestring);
        snprintf(c->err.message, sizeof c->err.message, "%s",
                 cJSON_IsString(msg) ? msg->valuestring : "");
        if (cJSON_IsNumber(exp)) {
            c->err.has_expected = 1;
            c->err.expected = (int64_t)exp->valuedouble;
        }
    } else if (cJSON_IsString(st)) {           /* /readyz 503 */
        snprintf(c->err.code, sizeof c->err.code, "%s", st->valuestring);
        snprintf(c->err.message, sizeof c->err.message, "not ready: %s", st->valuestring);
    } else {                                   /* not the daemon (a proxy, say) */
        snprintf(c->err.code, sizeof c->err.code, "http_%ld", r->status);
        size_t n = r->len < 200 ? r->len : 200;
        snprintf(c->err.message, sizeof c->err.message, "%.*s", (int)n, r->data ? r->data : "");
        for (char *p = c->err.message; *p; p++)
            if (*p == '\r' || *p == '\n')
                *p = ' ';
    }
    cJSON_Delete(j);
}

static int retryable_transport(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: case CURLE_OPERATION_TIMEDOUT: case CURLE_PARTIAL_FILE:
    case CURLE_COULDNT_RESOLVE_HOST:
        return 1;
    default:
        return 0;
    }
}

static int retryable_answer(const optirs_error *e)
{
    static const char *codes[] = {"starting", "shutting_down", "storage_unavailable",
                                  "http_502", "http_503", "http_504"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(e->code, codes[i]) == 0)
            return 1;
    return 0;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Sends q with the retry policy; on a 2xx answer returns 0 with *r filled
 * (the caller frees r->data). */
static int perform(optirs_client *c, const req *q, resp *r)
{
    memset(r, 0, sizeof *r);
    for (int attempt = 0;; attempt++) {
        double wait = c->backoff * (double)(1u << (attempt < 20 ? attempt : 20));
        if (wait > c->max_backoff)
            wait = c->max_backoff;
        CURLcode rc = perform_once(c, q, r);
        if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR) {
            return set_err(c, OPTIRS_E_NOMEM, 0, "out_of_memory", "%s %s: %s", q->method, q->path,
                           curl_easy_strerror(rc));
        }
        if (rc != CURLE_OK) {
            set_err(c, OPTIRS_E_CONNECT, 0, "connection_error", "%s %s%s: %s", q->method, c->url,
                    q->path, curl_easy_strerror(rc));
            if (q->idempotent && retryable_transport(rc) && attempt < c->retries) {
                sleep_s(wait);
                continue;
            }
            return OPTIRS_E_CONNECT;
        }
        if (r->status >= 200 && r->status < 300)
            return OPTIRS_OK;
        error_from(c, r);
        if (strcmp(c->err.code, "rate_limited") == 0 && attempt < c->retries) {
            double w = r->retry_after > wait ? r->retry_after : wait;
            sleep_s(w < 60 ? w : 60);
            continue;
        }
        if (q->idempotent && retryable_answer(&c->err) && attempt < c->retries) {
            sleep_s(wait);
            continue;
        }
        return OPTIRS_E_HTTP;
    }
}

static void random_key(char out[33])
{
    unsigned char b[16];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (got < sizeof b) {
            ssize_t k = read(fd, b + got, sizeof b - got);
            if (k <= 0)
                break;
            got += (size_t)k;
        }
        close(fd);
    }
    if (got < sizeof b) {                      /* no /dev/urandom: time and address */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < sizeof b; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int optirs_request_json(optirs_client *c, const char *method, const char *path, const char *body,
                        int idempotent, int *status, cJSON **out)
{
    if (out)
        *out = NULL;
    if (!c || !method || !path || path[0] != '/')
        return OPTIRS_E_ARG;
    req q = {0};
    q.method = method;
    q.path = path;
    q.body = body;
    q.len = body ? strlen(body) : 0;
    q.ctype = body ? "application/json" : NULL;
    q.idempotent = idempotent;
    resp r;
    int rc = perform(c, &q, &r);
    if (rc == OPTIRS_OK) {
        if (status)
            *status = (int)r.status;
        if (out && r.len > 0) {
            *out = cJSON_ParseWithLength(r.data, r.len);
            if (!*out)
                rc = set_err(c, OPTIRS_E_PROTOCOL, (int)r.status, "invalid_answer",
                             "%s %s: the answer is not JSON", method, path);
        }
    }
    free(r.data);
    return rc;
}

int optirs_request_raw(optirs_client *c, const char *method, const char *path, const char *ctype,
                       const void *body, size_t len, const char *accept, int idempotent,
                       int *status, char **out, size_t *out_len)
{
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!c || !method || !path || path[0] != '/' || (len && !body))
        return OPTIRS_E_ARG;
    req q = {0};
    q.method = method;
    q.path = path;
    q.body = body;
    q.len = len;
    q.ctype = ctype;
    q.accept = accept;
    q.idempotent = idempotent;
    resp r;
    int rc = perform(c, &q, &r);
    if (rc == OPTIRS_OK) {
        if (status)
            *status = (int)r.status;
        if (out) {
            if (!r.data && !(r.data = calloc(1, 1)))
                return OPTIRS_E_NOMEM;
            *out = r.data;
            r.data = NULL;
        }
        if (out_len)
            *out_len = r.len;
    }
    free(r.data);
    return rc;
}

/* POST with a random Idempotency-Key so that a retry is safe. */
static int post_idempotent(optirs_client *c, const char *path, const char *body, cJSON **out)
{
    char key[33], line[64];
    random_key(key);
    snprintf(line, sizeof line, "Idempotency-Key: %s", key);
    req q = {0};
    q.method = "POST";
    q.path = path;
    q.body = body;
    q.len = strlen(body);
    q.ctype = "application/json";
    q.extra[0] = line;
    q.idempotent = 1;
    resp r;
    int rc = perform(c, &q, &r);
    if (rc == OPTIRS_OK && out) {
        *out = r.len ? cJSON_ParseWithLength(r.data, r.len) : NULL;
        if (!*out)
            rc = set_err(c, OPTIRS_E_PROTOCOL, (int)r.status, "invalid_answer",
                         "POST %s: the answer is not a JSON object", path);
    }
    free(r.data);
    return rc;
}

/* ---- catalogue and listings ---- */

int optirs_optimizers(optirs_client *c, cJSON **out)
{
    return optirs_request_json(c, "GET", "/v1/optimizers", NULL, 1, NULL, out);
}

/* 1 when id can be put in a path as is (the daemon's own id syntax). */
static int id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 79)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

int optirs_sessions_list(optirs_client *c, int limit, const char *page_token, cJSON **out)
{
    char path[256];
    if (!c || (page_token && !id_ok(page_token)))
        return OPTIRS_E_ARG;
    int n = snprintf(path, sizeof path, "/v1/sessions");
    char sep = '?';
    if (limit > 0) {
        n += snprintf(path + n, sizeof path - (size_t)n, "%climit=%d", sep, limit);
        sep = '&';
    }
    if (page_token)
        snprintf(path + n, sizeof path - (size_t)n, "%cpage_token=%s", sep, page_token);
    return optirs_request_json(c, "GET", path, NULL, 1, NULL, out);
}

/* ---- sessions ---- */

static int session_from_desc(optirs_client *c, cJSON *desc, optirs_session **out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(desc, "id");
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(desc, "num_params");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(desc, "step");
    if (!cJSON_IsString(id) || !cJSON_IsNumber(np) || np->valuedouble < 1) {
        cJSON_Delete(desc);
        return set_err(c, OPTIRS_E_PROTOCOL, 0, "invalid_answer", "session description without id/num_params");
    }
    optirs_session *s = calloc(1, sizeof *s);
    if (!s || !(s->id = dupstr(id->valuestring))) {
        free(s);
        cJSON_Delete(desc);
        return OPTIRS_E_NOMEM;
    }
    s->c = c;
    s->n = (size_t)np->valuedouble;
    s->last = cJSON_IsNumber(st) ? (int64_t)st->valuedouble : 0;
    s->desc = desc;
    *out = s;
    return OPTIRS_OK;
}

int optirs_session_create_json(optirs_client *c, const char *spec_json, optirs_session **out)
{
    if (!c || !spec_json || !out)
        return OPTIRS_E_ARG;
    *out = NULL;
    cJSON *desc = NULL;
    int rc = post_idempotent(c, "/v1/sessions", spec_json, &desc);
    if (rc)
        return rc;
    return session_from_desc(c, desc, out);
}

int optirs_session_create(optirs_client *c, const optirs_spec *sp, optirs_session **out)
{
    if (!c || !sp || !out || !sp->optimizer || !sp->tensors || sp->n_tensors < 1)
        return OPTIRS_E_ARG;
    *out = NULL;
    int rc = OPTIRS_E_NOMEM;
    char *text = NULL;
    cJSON *o = cJSON_CreateObject(), *ts, *hp = NULL;
    if (!o)
        return OPTIRS_E_NOMEM;
    if (!cJSON_AddStringToObject(o, "optimizer", sp->optimizer))
        goto done;
    if (sp->hyperparams_json) {
        hp = cJSON_Parse(sp->hyperparams_json);
        if (!cJSON_IsObject(hp)) {
            cJSON_Delete(hp);
            rc = set_err(c, OPTIRS_E_ARG, 0, "invalid_argument", "hyperparams_json is not a JSON object");
            goto done;
        }
        cJSON_AddItemToObject(o, "hyperparams", hp);
    }
    if (sp->schedule && !cJSON_AddStringToObject(o, "schedule", sp->schedule))
        goto done;
    if (sp->weights && !cJSON_AddStringToObject(o, "weights", sp->weights))
        goto done;
    if (sp->domain && !cJSON_AddStringToObject(o, "domain", sp->domain))
        goto done;
    if (!(ts = cJSON_AddArrayToObject(o, "tensors")))
        goto done;
    for (int i = 0; i < sp->n_tensors; i++) {
        const optirs_tensor *t = &sp->tensors[i];
        cJSON *to = cJSON_CreateObject(), *sh;
        if (!to)
            goto done;
        cJSON_AddItemToArray(ts, to);
        if (t->name && !cJSON_AddStringToObject(to, "name", t->name))
            goto done;
        if (!(sh = cJSON_AddArrayToObject(to, "shape")))
            goto done;
        for (int d = 0; d < t->ndim; d++) {
            cJSON *v = cJSON_CreateNumber((double)t->shape[d]);
            if (!v)
                goto done;
            cJSON_AddItemToArray(sh, v);
        }
        const optirs_tensor_graph *tg = sp->graph ? &sp->graph[i] : NULL;
        if (tg && tg->inputs) {
            cJSON *in = cJSON_AddArrayToObject(to, "inputs");
            if (!in)
                goto done;
            for (int k = 0; k < tg->n_inputs; k++) {
                if (!tg->inputs[k]) {
                    rc = OPTIRS_E_ARG;
                    goto done;
                }
                cJSON *v = cJSON_CreateString(tg->inputs[k]);
                if (!v)
                    goto done;
                cJSON_AddItemToArray(in, v);
            }
        }
        if (tg && tg->role && !cJSON_AddStringToObject(to, "role", tg->role))
            goto done;
    }
    if (sp->params) {
        cJSON *pa = cJSON_AddArrayToObject(o, "params");
        if (!pa)
            goto done;
        for (size_t i = 0; i < sp->n_params; i++) {
            if (!isfinite(sp->params[i])) {
                rc = set_err(c, OPTIRS_E_ARG, 0, "non_finite", "params[%zu] is not finite", i);
                goto done;
            }
            cJSON *v = cJSON_CreateNumber((double)sp->params[i]);
            if (!v)
                goto done;
            cJSON_AddItemToArray(pa, v);
        }
    }
    if (sp->durability && !cJSON_AddStringToObject(o, "durability", sp->durability))
        goto done;
    if (sp->name && !cJSON_AddStringToObject(o, "name", sp->name))
        goto done;
    if (sp->workers > 0 && !cJSON_AddNumberToObject(o, "workers", sp->workers))
        goto done;
    if (sp->total_steps > 0 && !cJSON_AddNumberToObject(o, "total_steps", (double)sp->total_steps))
        goto done;
    if (!(text = cJSON_PrintUnformatted(o)))
        goto done;
    rc = optirs_session_create_json(c, text, out);
done:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

int optirs_session_get_by_id(optirs_client *c, const char *id, cJSON **out)
{
    char path[128];
    if (!c || !id_ok(id))
        return OPTIRS_E_ARG;
    snprintf(path, sizeof path, "/v1/sessions/%s", id);
    return optirs_request_json(c, "GET", path, NULL, 1, NULL, out);
}

int optirs_session_delete_by_id(optirs_client *c, const char *id)
{
    char path[128];
    if (!c || !id_ok(id))
        return OPTIRS_E_ARG;
    snprintf(path, sizeof path, "/v1/sessions/%s", id);
    return optirs_request_json(c, "DELETE", path, NULL, 1, NULL, NULL);
}

int optirs_session_metrics_by_id(optirs_client *c, const char *id, int64_t after, int limit, cJSON **out)
{
    char path[192];
    if (!c || !id_ok(id) || after < 0)
        return OPTIRS_E_ARG;
    int n = snprintf(path, sizeof path, "/v1/sessions/%s/metrics?after=%" PRId64, id, after);
    if (limit > 0)
        snprintf(path + n, sizeof path - (size_t)n, "&limit=%d", limit);
    return optirs_request_json(c, "GET", path, NULL, 1, NULL, out);
}

int optirs_session_open(optirs_client *c, const char *id, optirs_session **out)
{
    if (!out)
        return OPTIRS_E_ARG;
    *out = NULL;
    cJSON *desc = NULL;
    int rc = optirs_session_get_by_id(c, id, &desc);
    if (rc)
        return rc;
    return session_from_desc(c, desc, out);
}

void optirs_session_free(optirs_session *s)
{
    if (!s)
        return;
    free(s->id);
    cJSON_Delete(s->desc);
    free(s);
}

const char *optirs_session_id(const optirs_session *s) { return s ? s->id : NULL; }
size_t optirs_session_num_params(const optirs_session *s) { return s ? s->n : 0; }
int64_t optirs_session_last_step(const optirs_session *s) { return s ? s->last : 0; }
const cJSON *optirs_session_desc(const optirs_session *s) { return s ? s->desc : NULL; }

int optirs_session_resync(optirs_session *s)
{
    if (!s)
        return OPTIRS_E_ARG;
    cJSON *desc = NULL;
    int rc = optirs_session_get_by_id(s->c, s->id, &desc);
    if (rc)
        return rc;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(desc, "step");
    if (!cJSON_IsNumber(st)) {
        cJSON_Delete(desc);
        return set_err(s->c, OPTIRS_E_PROTOCOL, 0, "invalid_answer", "session description without step");
    }
    s->last = (int64_t)st->valuedouble;
    cJSON_Delete(s->desc);
    s->desc = desc;
    return OPTIRS_OK;
}

int optirs_session_step(optirs_session *s, const float *grads, size_t n, const double *loss,
                        const char *worker, float *update)
{
    if (!s || !grads || !update)
        return OPTIRS_E_ARG;
    optirs_client *c = s->c;
    if (n != s->n)
        return set_err(c, OPTIRS_E_ARG, 0, "length_mismatch", "%zu gradients for a session of %zu parameters",
                       n, s->n);
    if (loss && !isfinite(*loss))
        return set_err(c, OPTIRS_E_ARG, 0, "non_finite", "the loss is not finite");
    if (worker && (!*worker || strlen(worker) > 63 || strpbrk(worker, "\r\n")))
        return set_err(c, OPTIRS_E_ARG, 0, "invalid_header", "worker names are 1-63 bytes");
    if (n > SIZE_MAX / 4)
        return OPTIRS_E_ARG;
    const int64_t k = s->last + 1;
    char path[128], hstep[64], hloss[64], hworker[96];
    snprintf(path, sizeof path, "/v1/sessions/%s/step", s->id);
    snprintf(hstep, sizeof hstep, "X-Optirs-Step: %" PRId64, k);
    static const char *const media[] = {"application/octet-stream", "application/octet-stream; dtype=f16",
                                         "application/octet-stream; dtype=bf16"};
    static const char *const accept[] = {"application/octet-stream; dtype=f32",
                                          "application/octet-stream; dtype=f16",
                                          "application/octet-stream; dtype=bf16"};
    const int dt = c->dtype, at = c->answer_dtype;
    const size_t es = dt == OPTIRS_DTYPE_F32 ? 4 : 2;
    const void *body = grads;
    void *tmp = NULL;
    if (dt != OPTIRS_DTYPE_F32) {
        uint16_t *h = malloc(n ? n * 2 : 1);
        if (!h)
            return OPTIRS_E_NOMEM;
        if (dt == OPTIRS_DTYPE_F16)
            half_f16_encode(grads, h, n);
        else
            half_bf16_encode(grads, h, n);
        if (!host_is_little_endian())
            for (size_t i = 0; i < n; i++)
                h[i] = (uint16_t)((h[i] >> 8) | (h[i] << 8));
        body = tmp = h;
    } else if (!host_is_little_endian()) {
        if (!(tmp = malloc(n * 4)))
            return OPTIRS_E_NOMEM;
        copy_le32(tmp, grads, n);
        body = tmp;
    }
    req q = {0};
    q.method = "POST";
    q.path = path;
    q.body = body;
    q.len = n * es;
    q.ctype = media[dt];
    /* plain octet-stream when float32 both ways: what every daemon knows */
    q.accept = dt == OPTIRS_DTYPE_F32 && at == OPTIRS_DTYPE_F32 ? media[0] : accept[at];
    q.idempotent = 1;
    int e = 0;
    q.extra[e++] = hstep;
    if (loss) {
        snprintf(hloss, sizeof hloss, "X-Optirs-Loss: %.17g", *loss);
        q.extra[e++] = hloss;
    }
    if (worker) {
        snprintf(hworker, sizeof hworker, "X-Optirs-Worker: %s", worker);
        q.extra[e++] = hworker;
    }
    resp r;
    int rc = perform(c, &q, &r);
    free(tmp);
    if (rc == OPTIRS_OK) {
        /* the answer's dtype is its Content-Type's: float32 when a value
         * would have overflowed the 16-bit one (proto/binary.md §8) */
        size_t ras = r.dtype == OPTIRS_DTYPE_F32 ? 4 : 2;
        if (r.dtype < 0 || r.len != n * ras || r.is_json)
            rc = set_err(c, OPTIRS_E_PROTOCOL, (int)r.status, "invalid_answer",
                         "step answer of %zu bytes for %zu parameters", r.len, n);
        else if (r.step != k)
            rc = set_err(c, OPTIRS_E_PROTOCOL, (int)r.status, "invalid_answer",
                         "step answer for step %" PRId64 ", expected %" PRId64, r.step, k);
        else {
            if (r.dtype == OPTIRS_DTYPE_F32) {
                copy_le32(update, r.data, n);
            } else {
                uint16_t *h = (uint16_t *)(void *)r.data;   /* malloc'd: aligned */
                if (!host_is_little_endian())
                    for (size_t i = 0; i < n; i++)
                        h[i] = (uint16_t)((h[i] >> 8) | (h[i] << 8));
                if (r.dtype == OPTIRS_DTYPE_F16)
                    half_f16_decode(h, update, n);
                else
                    half_bf16_decode(h, update, n);
            }
            s->last = k;
        }
    }
    free(r.data);
    return rc;
}

int optirs_session_params(optirs_session *s, float *params, size_t n, int64_t *step)
{
    if (!s || !params || n != s->n)
        return OPTIRS_E_ARG;
    char path[128];
    snprintf(path, sizeof path, "/v1/sessions/%s/params", s->id);
    req q = {0};
    q.method = "GET";
    q.path = path;
    q.accept = "application/octet-stream";
    q.idempotent = 1;
    resp r;
    int rc = perform(s->c, &q, &r);
    if (rc == OPTIRS_OK) {
        if (r.len != n * 4 || r.is_json || r.step < 0)
            rc = set_err(s->c, OPTIRS_E_PROTOCOL, (int)r.status, "invalid_answer",
                         "params answer of %zu bytes for %zu parameters", r.len, n);
        else {
            copy_le32(params, r.data, n);
            if (step)
                *step = r.step;
        }
    }
    free(r.data);
    return rc;
}

int optirs_session_feedback(optirs_session *s, int64_t step, double loss, const char *metrics_json)
{
    if (!s || !isfinite(loss) || step < 1)
        return OPTIRS_E_ARG;
    cJSON *o = cJSON_CreateObject(), *m = NULL;
    char *text = NULL;
    int rc = OPTIRS_E_NOMEM;
    if (!o || !cJSON_AddNumberToObject(o, "step", (double)step) || !cJSON_AddNumberToObject(o, "loss", loss))
        goto done;
    if (metrics_json) {
        m = cJSON_Parse(metrics_json);
        if (!cJSON_IsObject(m)) {
            cJSON_Delete(m);
            rc = set_err(s->c, OPTIRS_E_ARG, 0, "invalid_argument", "metrics_json is not a JSON object");
            goto done;
        }
        cJSON_AddItemToObject(o, "metrics", m);
    }
    if (!(text = cJSON_PrintUnformatted(o)))
        goto done;
    char path[128];
    snprintf(path, sizeof path, "/v1/sessions/%s/feedback", s->id);
    cJSON *ans = NULL;
    rc = post_idempotent(s->c, path, text, &ans);
    cJSON_Delete(ans);
done:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

int optirs_session_metrics(optirs_session *s, int64_t after, int limit, cJSON **out)
{
    if (!s)
        return OPTIRS_E_ARG;
    return optirs_session_metrics_by_id(s->c, s->id, after, limit, out);
}

int optirs_session_delete(optirs_session *s)
{
    if (!s)
        return OPTIRS_E_ARG;
    return optirs_session_delete_by_id(s->c, s->id);
}
