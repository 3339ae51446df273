/* jwriter.c — see jwriter.h. */
#include "jwriter.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "numfmt.h"
#include "utf8.h"

void jw_init(jwriter *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max < JW_MAX_LIMIT ? max : JW_MAX_LIMIT;
}

void jw_deinit(jwriter *w)
{
    free(w->p);
    memset(w, 0, sizeof *w);
}

static int fail(jwriter *w, int e)
{
    if (!w->err) w->err = e;
    return w->err;
}

/* Room for n more bytes and the NUL: a pointer to where they go, or NULL
 * (w->err set). */
static char *room(jwriter *w, size_t n)
{
    if (w->err) return NULL;
    if (n > w->max - w->len) {          /* len <= max: no wrap */
        fail(w, ERR_OUTPUT_TOO_LARGE);
        return NULL;
    }
    size_t need = w->len + n + 1;       /* <= max + 1 <= JW_MAX_LIMIT + 1 */
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < need) cap = cap > (w->max + 1) / 2 ? w->max + 1 : cap * 2;
        char *p = realloc(w->p, cap);
        if (!p) {
            fail(w, ERR_NO_MEMORY);
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    return w->p + w->len;
}

int jw_reserve(jwriter *w, size_t n)
{
    return room(w, n) ? 0 : w->err;
}

int jw_raw(jwriter *w, const char *s, size_t n)
{
    char *o = room(w, n);
    if (!o) return w->err;
    memcpy(o, s, n);
    w->len += n;
    w->p[w->len] = '\0';
    return 0;
}

char *jw_claim(jwriter *w, size_t n)
{
    return room(w, n);
}

void jw_commit(jwriter *w, size_t used)
{
    if (w->err || !w->p) return;
    w->len += used;             /* used <= n <= max - len: room() checked it */
    w->p[w->len] = '\0';
}

int jw_lit(jwriter *w, const char *s)
{
    return jw_raw(w, s, strlen(s));
}

/* Bytes copied as they are inside a JSON string. */
static int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

int jw_str(jwriter *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    jw_raw(w, "\"", 1);
    size_t i = 0;
    while (i < n && !w->err) {
        size_t j = i;
        while (j < n && plain(u[j])) j++;
        if (j > i) {
            jw_raw(w, s + i, j - i);
            i = j;
            continue;
        }
        unsigned char c = u[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jw_raw(w, esc, 2);
            i++;
        } else if (c < 0x20) {
            static const char short_esc[] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
            if (c < sizeof short_esc && short_esc[c]) {
                esc[0] = '\\';
                esc[1] = short_esc[c];
                jw_raw(w, esc, 2);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                jw_raw(w, esc, 6);
            }
            i++;
        } else {
            uint32_t cp;
            int k = utf8_decode(u + i, n - i, &cp);
            if (k > 0) {
                jw_raw(w, s + i, (size_t)k);
                i += (size_t)k;
            } else {
                jw_raw(w, "\xEF\xBF\xBD", 3);   /* U+FFFD for the bad byte */
                i++;
            }
        }
    }
    return jw_raw(w, "\"", 1);
}

int jw_cstr(jwriter *w, const char *s)
{
    return jw_str(w, s, strlen(s));
}

int jw_key(jwriter *w, const char *key)
{
    jw_cstr(w, key);
    return jw_raw(w, ":", 1);
}

int jw_num(jwriter *w, double v, int sig)
{
    if (w->err) return w->err;
    if (!isfinite(v)) return fail(w, ERR_NON_FINITE);
    char tmp[NUMFMT_MAX + 16];
    int k;
    if (sig <= 0 || sig >= 17) k = numfmt_f64(tmp, v);
    else k = snprintf(tmp, sizeof tmp, "%.*g", sig, v);   /* <= 24 bytes: fits */
    if (k < 0 || (size_t)k >= sizeof tmp) return fail(w, ERR_INTERNAL);
    return jw_raw(w, tmp, (size_t)k);
}

int jw_num_or_null(jwriter *w, double v, int sig)
{
    return isfinite(v) ? jw_num(w, v, sig) : jw_raw(w, "null", 4);
}

int jw_i64(jwriter *w, int64_t v)
{
    char tmp[NUMFMT_MAX];
    return jw_raw(w, tmp, (size_t)numfmt_i64(tmp, v));
}

int jw_u64(jwriter *w, uint64_t v)
{
    char tmp[24];
    int k = 0;
    do { tmp[sizeof tmp - 1 - k++] = (char)('0' + v % 10); v /= 10; } while (v);
    return jw_raw(w, tmp + sizeof tmp - k, (size_t)k);
}

int jw_printf(jwriter *w, const char *fmt, ...)
{
    if (w->err) return w->err;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);   /* the length first: sized before growth */
    va_end(ap);
    if (n < 0) return fail(w, ERR_INTERNAL);
    char *o = room(w, (size_t)n);
    if (!o) return w->err;
    va_start(ap, fmt);
    vsnprintf(o, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
    return 0;
}

int jw_error(const jwriter *w)
{
    return w->err;
}

char *jw_take(jwriter *w, size_t *len)
{
    if (!w->err) room(w, 0);   /* an empty writer still gives "" */
    if (w->err) {
        jw_deinit(w);
        return NULL;
    }
    char *p = w->p;
    if (len) *len = w->len;
    memset(w, 0, sizeof *w);
    return p;
}
