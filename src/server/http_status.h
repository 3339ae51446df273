/* http_status.h — the HTTP face of the error codes: the status each ERR_*
 * code answers with, and the HTTP wording of the messages that core words
 * without naming HTTP (e.g. "the request needs a Content-Length").
 *
 * One table (http_status.c), one row per code of core's ERR_MAP; a unit test
 * checks that every code has a 4xx/5xx status, and the contract test checks
 * the statuses against proto/openapi.yaml.
 * Thread rules: pure data, safe from any thread. */
#ifndef OPTIRS_HTTP_STATUS_H
#define OPTIRS_HTTP_STATUS_H

/* The HTTP status that ERR_* code `e` maps to (500 for an unknown code). */
int http_status_of(int e);
/* The default message of `e` in an HTTP answer: the HTTP wording where the
 * table has one, else core's err_message(e).  Never NULL. */
const char *http_status_message(int e);

#endif
