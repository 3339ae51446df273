/* jwriter.h — the one writer for the JSON and text the daemon emits by hand
 * (event streams, step analytics, downsampled curves, Prometheus text, the
 * step's diagnostics): a growable buffer with a hard maximum size.
 *
 * Invariants: w->len <= w->max always; every size is checked before the
 * buffer grows (no size_t wrap: max is clamped to JW_MAX_LIMIT, so len + n +
 * 1 cannot overflow once n <= max - len is known); the text is NUL-ended
 * whenever the buffer exists.  Errors are sticky: the first failure
 * (ERR_NO_MEMORY, ERR_OUTPUT_TOO_LARGE past `max`, ERR_NON_FINITE from
 * jw_num) is kept in w->err, every later call does nothing, and jw_take
 * hands back NULL — a caller checks once, at the end.
 *
 * jw_str writes a JSON string that is always valid JSON and valid UTF-8:
 * `"` and `\` are escaped, control characters become \n, \t, … or \u00XX,
 * a NUL byte becomes \u0000, and each byte that does not start a valid
 * UTF-8 sequence (utf8.h: overlongs, surrogates, > U+10FFFF, truncated) is
 * REPLACED by U+FFFD — output must never fail on a name the input boundary
 * let through (it lets none through; this is the second line).
 *
 * Ownership: a jwriter owns its buffer until jw_take hands it to the caller
 * (who frees it with free()); jw_deinit frees it otherwise (safe on a
 * zeroed or taken writer).  Thread rules: one writer, one thread. */
#ifndef OPTIRS_JWRITER_H
#define OPTIRS_JWRITER_H

#include <stddef.h>
#include <stdint.h>

#define JW_MAX_LIMIT ((size_t)1 << 40)   /* the largest max a writer accepts */

typedef struct jwriter {
    char  *p;          /* the text, NUL-ended; NULL before the first byte */
    size_t len, cap;   /* bytes written; bytes allocated (len + 1 <= cap) */
    size_t max;        /* the most bytes this writer will hold */
    int    err;        /* 0 or the first ERR_* */
} jwriter;

/* Starts an empty writer that holds at most `max` bytes (clamped to
 * JW_MAX_LIMIT); allocates nothing yet. */
void  jw_init(jwriter *w, size_t max);
/* Frees the buffer (when not taken) and zeroes w. */
void  jw_deinit(jwriter *w);
/* Makes room for n more bytes now (to avoid regrowth); 0 or the error. */
int   jw_reserve(jwriter *w, size_t n);

/* Appends n bytes as they are (the caller vouches they are valid output). */
int   jw_raw(jwriter *w, const char *s, size_t n);
/* Appends the NUL-ended literal s as it is. */
int   jw_lit(jwriter *w, const char *s);
/* Appends s[0..n) as a quoted, escaped JSON string (see above). */
int   jw_str(jwriter *w, const char *s, size_t n);
/* jw_str of the NUL-ended s. */
int   jw_cstr(jwriter *w, const char *s);
/* Appends "key": (escaped) — the caller writes the comma before it. */
int   jw_key(jwriter *w, const char *key);
/* Appends a finite number with `sig` significant digits (%.*g; sig 0: 17
 * digits, which read back exactly).  Non-finite: ERR_NON_FINITE. */
int   jw_num(jwriter *w, double v, int sig);
/* jw_num, but a non-finite v is written as null (JSON has no NaN). */
int   jw_num_or_null(jwriter *w, double v, int sig);
/* Appends an integer in decimal. */
int   jw_i64(jwriter *w, int64_t v);
int   jw_u64(jwriter *w, uint64_t v);
/* For bulk writers (a float array): a pointer to room for n more bytes, or
 * NULL (w->err set); the caller writes at most n bytes there and then calls
 * jw_commit with how many it wrote. */
char *jw_claim(jwriter *w, size_t n);
/* Counts `used` bytes written after jw_claim (used <= the n claimed). */
void  jw_commit(jwriter *w, size_t used);
/* Appends printf-formatted text, unescaped (for text formats such as
 * Prometheus whose variable parts are the daemon's own names and numbers). */
int   jw_printf(jwriter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first error, or 0. */
int   jw_error(const jwriter *w);
/* Hands the NUL-ended text to the caller (who frees it) and its length to
 * *len (may be NULL); NULL after any error (the buffer is freed then).
 * Either way the writer is left empty. */
char *jw_take(jwriter *w, size_t *len);

#endif
