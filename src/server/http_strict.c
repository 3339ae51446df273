/* http_strict.c — see http_strict.h. */
#include "http_strict.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int refuse(int e, char *msg, size_t cap, const char *why)
{
    if (msg && cap) snprintf(msg, cap, "%s", why);
    return e;
}

int http_strict_path(const char *path, size_t len, char *msg, size_t cap)
{
    for (size_t i = 0; i < len; i++) {
        if (path[i] != '%') continue;
        int hi = i + 2 < len ? hexval(path[i + 1]) : -1, lo = hi >= 0 ? hexval(path[i + 2]) : -1;
        if (lo < 0) return refuse(ERR_BAD_PATH, msg, cap, "the path holds a '%' that is not followed by two hex digits");
        int c = hi * 16 + lo;
        if (c == 0) return refuse(ERR_BAD_PATH, msg, cap, "the path holds an encoded NUL (%00)");
        if (c == '/') return refuse(ERR_BAD_PATH, msg, cap, "the path holds an encoded slash (%2F)");
        i += 2;
    }
    return 0;
}

size_t http_strict_query_count(const char *q, size_t len)
{
    if (len == 0) return 0;
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += q[i] == '&';
    return n;
}

int http_strict_transfer_coding(const char *te, char *msg, size_t cap)
{
    size_t a = 0, b = strlen(te);
    while (a < b && (te[a] == ' ' || te[a] == '\t')) a++;
    while (b > a && (te[b - 1] == ' ' || te[b - 1] == '\t')) b--;
    if (b - a == 7 && strncasecmp(te + a, "chunked", 7) == 0) return 0;
    return refuse(ERR_NOT_IMPLEMENTED, msg, cap,
                  "Transfer-Encoding other than chunked (e.g. gzip, or a list of codings) is not implemented");
}

int http_strict_host(const char *version, int n_host, char *msg, size_t cap)
{
    if (n_host > 1) return refuse(ERR_BAD_HEADER, msg, cap, "the request has more than one Host header");
    /* libmicrohttpd serves HTTP/1.2 and later minor versions as 1.1 */
    if (n_host == 0 && version && strncmp(version, "HTTP/1.", 7) == 0 && strcmp(version, "HTTP/1.0") != 0)
        return refuse(ERR_BAD_HEADER, msg, cap, "an HTTP/1.1 request needs a Host header");
    return 0;
}
