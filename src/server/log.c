/* log.c — see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwriter.h"
#include "numfmt.h"

#define LOG_LINE_MAX 4096

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static _Atomic int g_level = LOG_INFO;
static _Atomic int g_json;

int log_setup(const char *level, const char *format)
{
    int lv = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(level, level_names[i]) == 0) lv = i;
    int js = strcmp(format, "json") == 0 ? 1 : strcmp(format, "text") == 0 ? 0 : -1;
    if (lv < 0 || js < 0) return -1;
    atomic_store(&g_level, lv);
    atomic_store(&g_json, js);
    return 0;
}

int log_on(log_level l) { return (int)l <= atomic_load(&g_level); }

/* A line under construction: the writer and its format. */
typedef struct line { jwriter w; int json, n; } line;

/* Text values need quotes when they hold anything but plain characters. */
static int text_plain(const char *v)
{
    if (!*v) return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f) return 0;
    return 1;
}

/* The key of the next field: `,"key":` (or `{"key":`) or ` key=` (no
 * separator before the first).  No printf: this runs for every request. */
static void field_key(line *l, const char *key)
{
    if (l->json) {
        jw_lit(&l->w, l->n++ ? "," : "{");
        jw_key(&l->w, key);
    } else {
        if (l->n++) jw_raw(&l->w, " ", 1);
        jw_lit(&l->w, key);
        jw_raw(&l->w, "=", 1);
    }
}

static void field_str(line *l, const char *key, const char *v)
{
    if (!v) return;
    field_key(l, key);
    if (!l->json && text_plain(v)) jw_lit(&l->w, v);
    else jw_cstr(&l->w, v);   /* JSON string escaping, quotes included */
}

static void field_int(line *l, const char *key, int v)
{
    field_key(l, key);
    jw_i64(&l->w, v);
}

/* v as printf's %.<decimals>f (numfmt_fixed; printf itself past its range). */
static void field_fixed(line *l, const char *key, double v, int decimals)
{
    field_key(l, key);
    char t[NUMFMT_MAX];
    int n = numfmt_fixed(t, v, decimals);
    if (n >= 0) jw_raw(&l->w, t, (size_t)n);
    else jw_printf(&l->w, "%.*f", decimals, v);
}

int log_timestamp(char *buf, const struct timespec *ts)
{
    /* The date and time up to the seconds change once a second: formatted
     * then (gmtime_r and snprintf), per thread, and copied in between. */
    static _Thread_local time_t cached_sec;
    static _Thread_local char cached[LOG_TS_MAX];
    static _Thread_local int cached_len;      /* 0: nothing cached yet */
    if (!cached_len || ts->tv_sec != cached_sec) {
        struct tm tm;
        if (!gmtime_r(&ts->tv_sec, &tm)) memset(&tm, 0, sizeof tm);
        int n = snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (n < 0 || n > LOG_TS_MAX - 5) n = 0;   /* cannot happen with an int year: 11 + 15 + 1 */
        cached_len = n;
        cached_sec = ts->tv_sec;
    }
    memcpy(buf, cached, (size_t)cached_len);
    int ms = (int)(ts->tv_nsec / 1000000) % 1000, n = cached_len;
    buf[n++] = (char)('0' + ms / 100);
    buf[n++] = (char)('0' + ms / 10 % 10);
    buf[n++] = (char)('0' + ms % 10);
    buf[n++] = 'Z';
    buf[n] = '\0';
    return n;
}

static void line_begin(line *l, log_level lv)
{
    jw_init(&l->w, LOG_LINE_MAX);
    jw_reserve(&l->w, 384);   /* an access line: one allocation, no regrowth */
    l->json = atomic_load(&g_json);
    l->n = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char t[LOG_TS_MAX];
    log_timestamp(t, &ts);
    field_str(l, "ts", t);
    field_str(l, "level", level_names[lv]);
}

static void line_end(line *l)
{
    if (l->json) jw_lit(&l->w, "}");
    jw_lit(&l->w, "\n");
    size_t len;
    char *s = jw_take(&l->w, &len);
    if (!s) return;   /* over LOG_LINE_MAX or out of memory: the line is dropped, never cut */
    for (size_t off = 0; off < len;) {
        ssize_t k = write(STDERR_FILENO, s + off, len - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    free(s);
}

void log_msg(log_level lv, const char *fmt, ...)
{
    if (!log_on(lv)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    line l;
    line_begin(&l, lv);
    field_str(&l, "msg", msg);
    line_end(&l);
}

void log_access(const log_access_info *a)
{
    if (!log_on(LOG_INFO)) return;
    line l;
    line_begin(&l, LOG_INFO);
    field_str(&l, "msg", "request");
    field_str(&l, "method", a->method);
    field_str(&l, "route", a->route);
    field_int(&l, "status", a->status);
    field_fixed(&l, "duration_ms", a->duration_ms, 3);
    if (a->session && a->session[0]) field_str(&l, "session", a->session);
    if (a->tenant && a->tenant[0]) field_str(&l, "tenant", a->tenant);
    if (a->error && a->error[0]) field_str(&l, "error", a->error);
    line_end(&l);
}
