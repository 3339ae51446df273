/* jsonwalk.h — walks the members of a top-level JSON object without building
 * a tree for it, so that large float arrays ("grads", "params") can be
 * parsed straight into float buffers by f32json while small members go
 * through cJSON.  Duplicate keys are an error (JSON leaves them undefined;
 * we refuse rather than guess).
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_JSONWALK_H
#define OPTIRS_JSONWALK_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

/* Called for each member: `key` is the decoded key, `val` points at the first
 * byte of the value and `avail` bytes follow.  The callback must parse the
 * value and set *used to its length (jsonwalk_cjson does it for any value).
 * Returns 0 to go on, or a negative ERR_* that stops the walk. */
typedef int (*jsonwalk_fn)(void *ctx, const char *key, const char *val, size_t avail, size_t *used);

/* The input boundary for JSON text: ERR_INVALID_UTF8 (with a message in
 * msg) when s[0..len) is not valid UTF-8 (utf8.h: no overlongs, surrogates,
 * > U+10FFFF or NUL) or a string in it holds the escape \u0000 (cJSON would
 * cut the string there); else 0.  cJSON itself refuses escaped lone
 * surrogates, so a body that passes decodes to valid UTF-8 only. */
int    jsonwalk_check_text(const char *s, size_t len, char *msg, size_t msgcap);
/* Walks the object in s[0..len).  Returns 0, ERR_INVALID_UTF8 (the text
 * fails jsonwalk_check_text), ERR_INVALID_JSON (with a message in msg), or
 * the callback's error.  Only whitespace may follow. */
int    jsonwalk_object(const char *s, size_t len, jsonwalk_fn fn, void *ctx, char *msg, size_t msgcap);
/* Parses one value with cJSON; NULL on a syntax error, including a number
 * outside RFC 8259's grammar (007, 1., -.5: cJSON takes them, we do not).
 * *used receives the bytes consumed.  Every JSON value the daemon reads from
 * a request goes through here (or through f32json, whose grammar is the
 * same).  The caller frees the result with cJSON_Delete. */
cJSON *jsonwalk_cjson(const char *val, size_t avail, size_t *used);

/* Classifies a value that a typed parser refused: ERR_INVALID_JSON when it
 * is not JSON at all, ERR_INVALID_ARGUMENT when it is JSON of the wrong type. */
int    jsonwalk_classify(const char *val, size_t avail);

/* Reads an integer in [lo, hi] from a cJSON number (valuedouble, since
 * valueint truncates and saturates).  0, ERR_INVALID_ARGUMENT (not a number
 * or not an integer), ERR_NON_FINITE or ERR_OUT_OF_RANGE. */
int    jsonwalk_int(const cJSON *v, double lo, double hi, int64_t *out);

/* 1 when an object parsed by cJSON names a member twice (cJSON keeps both). */
int    jsonwalk_has_duplicate(const cJSON *obj);

/* A cJSON number item that prints as the shortest text (%.15g, %.16g or
 * %.17g) reading back as exactly v: cJSON's own printing keeps 15 digits
 * whenever they read back within DBL_EPSILON, so a value 1 ulp off survived
 * a description's round trip as another value (fuzz_spec found it on a
 * session's lr).  Non-finite v gives null.  NULL when out of memory. */
cJSON *jsonwalk_exact_number(double v);

#endif
