/* log.h — the daemon's structured log on stderr: one line per event, as
 * logfmt text (`ts=… level=info msg=… key=value`) or as one JSON object
 * (`--log-format json`), filtered by `--log-level error|warn|info|debug`.
 *
 * Events: the access line of every request (log_access: method, route
 * pattern, status, duration, session id, tenant, and the error code of an
 * error answer — never a key, a header or a body), and the daemon's own
 * messages (log_msg).  Access lines are at info, whatever the status (an
 * error answer carries its code).  stdout keeps the start-up lines (`listening on …`, `restored …;
 * ready`, `stopped`) in plain text; the lower layers' few diagnostics
 * (storage, session restore) stay plain text on stderr.
 *
 * Lines are built without printf on the access path (numfmt.h for the
 * duration, log_timestamp's per-second cache for ts).
 * Every line is built whole and written with one write(2), so lines of
 * concurrent threads never interleave.  Values are escaped (JSON string
 * rules in both formats; text quotes a value holding a space, a quote, '='
 * or a control character), so a hostile path or tenant cannot forge a line
 * or a field.
 * Thread rules: log_setup once at start-up, before any thread logs; the
 * rest from any thread. */
#ifndef OPTIRS_LOG_H
#define OPTIRS_LOG_H

#include <stdint.h>
#include <time.h>

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

/* The level and format words of the configuration ("error" … "debug",
 * "text" | "json").  0, or -1 for a word that is not one of them. */
int  log_setup(const char *level, const char *format);
/* 1 when events of `l` are written. */
int  log_on(log_level l);
/* A message of the daemon (printf format), as field msg. */
void log_msg(log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the access line of one request says; NULL or "" strings are left out. */
typedef struct log_access_info {
    const char *method;
    const char *route;       /* the route's pattern, e.g. /v1/sessions/{id}/step; "unrouted" */
    int         status;
    double      duration_ms;
    const char *session;     /* the {id} of a session route */
    const char *tenant;
    const char *error;       /* the error code of an error answer */
} log_access_info;
void log_access(const log_access_info *a);

/* The most bytes of a timestamp, its NUL included. */
#define LOG_TS_MAX 48
/* Writes ts as the lines' ts field, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" of
 * its UTC date (milliseconds truncated), NUL-ended, to buf (room for
 * LOG_TS_MAX); returns the length.  The part up to the seconds is formatted
 * once a second per thread and cached (the access line of every request
 * needs it); the text is the same as formatting it each time. */
int  log_timestamp(char *buf, const struct timespec *ts);

#endif
