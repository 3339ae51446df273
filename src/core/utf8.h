/* utf8.h — the one UTF-8 validator.  Every string the daemon accepts passes
 * through it at the input boundary (the JSON walker checks whole bodies),
 * and the JSON writer uses its decoder so that nothing it emits is invalid.
 *
 * Valid means RFC 3629: shortest form only (no overlongs such as C0 80),
 * no UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * truncated sequence.  utf8_valid also refuses the NUL code point: strings
 * here become C strings, where a NUL would silently shorten them.
 * Thread rules: pure functions, any thread. */
#ifndef OPTIRS_UTF8_H
#define OPTIRS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s[0..n): its length (1-4) with the code point in
 * *cp, or 0 when it is not a valid UTF-8 sequence (n == 0 included). */
int    utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* The offset of the first byte of s[0..n) that does not start a valid,
 * non-NUL sequence; n when all of s is valid. */
size_t utf8_invalid_at(const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8 without NUL code points, else 0. */
int    utf8_valid(const char *s, size_t n);

#endif
