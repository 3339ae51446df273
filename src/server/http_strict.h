/* http_strict.h — checks on the parts of a request that libmicrohttpd lets
 * through: the raw path (before any %-decoding), the number of query
 * parameters, the Transfer-Encoding value and the Host header count.
 *
 * libmicrohttpd decodes %XX in the path before the access handler sees it
 * (so "/v1/sessions/ID%00/params" would reach the handler as
 * "/v1/sessions/ID"): the daemon routes on the raw path instead, which these
 * functions check.  Each returns 0 or an ERR_* code, and writes a short
 * reason to msg when msg is not NULL.
 * Thread rules: pure functions; any thread. */
#ifndef OPTIRS_HTTP_STRICT_H
#define OPTIRS_HTTP_STRICT_H

#include <stddef.h>

/* Most query parameters a request may carry (no route takes more than 5). */
#define HTTP_MAX_QUERY_PARAMS 32

/* The raw path path[0..len): every '%' must start an escape of two hex
 * digits, and the escapes %00 (NUL) and %2F (slash) are refused.  Returns 0
 * or ERR_BAD_PATH. */
int    http_strict_path(const char *path, size_t len, char *msg, size_t cap);
/* The number of parameters in the raw query q[0..len) (the text after '?'),
 * counted as libmicrohttpd splits them: pieces between '&'; 0 when empty. */
size_t http_strict_query_count(const char *q, size_t len);
/* A Transfer-Encoding value: only "chunked" (any case, optional spaces or
 * tabs around it) is implemented.  Returns 0 or ERR_NOT_IMPLEMENTED. */
int    http_strict_transfer_coding(const char *te, char *msg, size_t cap);
/* The Host rule: an HTTP/1.1 (or later 1.x) request names exactly one Host,
 * HTTP/1.0 at most one (RFC 9112 3.2).  Returns 0 or ERR_BAD_HEADER. */
int    http_strict_host(const char *version, int n_host, char *msg, size_t cap);

#endif
