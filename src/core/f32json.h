/* f32json.h — a fast JSON codec for arrays of float32.
 *
 * Step requests carry "grads": [N numbers] and answers "update": [N numbers]
 * with N up to millions; cJSON allocates a node per number and prints
 * 17-digit doubles.  This module reads a JSON array of numbers straight into
 * a float buffer and prints each float32 as the shortest decimal that reads
 * back to the same float.
 *
 * Invariants:
 *  - Parsing follows RFC 8259's number grammar exactly (no '+', no leading
 *    zeros, no hex, no NaN/Infinity, a '.' and an exponent need digits) and
 *    gives, for every number, the float32 nearest to its exact decimal value
 *    (ties to even) — the same float as glibc's strtof.
 *  - A value whose correctly rounded float32 is infinite (|x| >= FLT_MAX +
 *    half an ulp, e.g. 3.5e38 or 1e999) is ERR_NON_FINITE; values too small
 *    for float32 round to (signed) zero or a subnormal, as strtof does.
 *  - The parser never reads outside s[0..len).
 *  - f32json_format(v) parsed back (by strtof or by f32json) gives exactly v,
 *    for every finite float including -0 and subnormals.
 *
 * The slow path of the parser calls strtof, which reads the decimal point of
 * the LC_NUMERIC locale: the process must keep the default "C" numeric
 * locale (the daemon never calls setlocale).
 *
 * Thread rules: pure functions, no global state; any thread. */
#ifndef OPTIRS_F32JSON_H
#define OPTIRS_F32JSON_H

#include <stddef.h>

/* The most bytes f32json_format writes ("-0.0000123456789" is 16). */
#define F32JSON_FMT_MAX 16

/* Parses a JSON array of numbers: optional whitespace, '[', numbers separated
 * by ',', ']'.  Reads only s[0..len) (no NUL needed); stops right after the
 * closing ']' and sets *consumed to the bytes read up to there (including the
 * leading whitespace) and *count to the number of values stored in out[].
 * Returns 0, ERR_INVALID_JSON (malformed: anything but numbers, a trailing
 * comma, an unterminated array, nested arrays, …), ERR_NON_FINITE (a value
 * overflows float32), ERR_LENGTH_MISMATCH (more than cap values), or
 * ERR_NO_MEMORY (a number token longer than 64 bytes could not be copied for
 * strtof).  On error, *count holds the values stored so far and out[] beyond
 * them is untouched; *consumed is unspecified. */
int f32json_parse_array(const char *s, size_t len, float *out, size_t cap,
                        size_t *count, size_t *consumed);

/* Parses one JSON number occupying exactly s[0..len) into *out (same rules as
 * the array parser).  Returns 0, ERR_INVALID_JSON, ERR_NON_FINITE or
 * ERR_NO_MEMORY. */
int f32json_parse_number(const char *s, size_t len, float *out);

/* The length of the RFC 8259 number at the start of s[0..len) — '-'? then
 * '0' or [1-9][0-9]*, then ('.' [0-9]+)?, then ([eE] [+-]? [0-9]+)? — or 0
 * when s does not start with one.  The grammar the parsers above accept; the
 * server checks cJSON-parsed text with it (cJSON also takes 007, 1. and -.5).
 * A number followed by more number characters ("01", "1.e5") is the caller's
 * to refuse. */
size_t f32json_number_len(const char *s, size_t len);

/* Writes the shortest decimal that reads back as exactly v (among the
 * shortest, the one nearest v; ties to an even last digit) to buf, which
 * must have room for F32JSON_FMT_MAX bytes.  No NUL is written.  Returns the
 * number of bytes written, or 0 when v is NaN or infinite (the caller's
 * error: JSON has no such numbers).
 * Format: plain notation when the decimal exponent is in [-5, 8] ("0.00123",
 * "123.5", integers without a fraction: "1", "100000000"), otherwise
 * scientific with a bare exponent ("1.5e-7", "3.4028235e38").  Zero prints as
 * "0" and negative zero as "-0" (valid JSON; it reads back as -0.0f). */
size_t f32json_format(char *buf, float v);

/* A growable byte buffer for writers.  Zero-initialise it (or call
 * f32json_buf_init); f32json_buf_deinit frees data.  data is NUL-terminated
 * after every successful append, and len excludes the NUL. */
typedef struct f32json_buf {
    char  *data;
    size_t len;
    size_t cap;
} f32json_buf;

void f32json_buf_init(f32json_buf *b);
void f32json_buf_deinit(f32json_buf *b);
/* Appends n bytes: 0 or ERR_NO_MEMORY. */
int  f32json_buf_append(f32json_buf *b, const char *s, size_t n);

/* Appends the JSON array "[v0,v1,…]" (no spaces) to b.  Returns 0,
 * ERR_NON_FINITE (some v[i] is NaN or infinite; b is left as it was) or
 * ERR_NO_MEMORY (b is left as it was). */
int  f32json_write_array(f32json_buf *b, const float *v, size_t n);

#endif
