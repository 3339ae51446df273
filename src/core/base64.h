/* base64.h — standard base64 (RFC 4648 §4: alphabet A-Z a-z 0-9 + /, '='
 * padding) for carrying binary blobs inside JSON (a session's exported
 * state).
 *
 * Invariants:
 *  - base64_encode gives 4 * ceil(n / 3) characters, padded, no line breaks.
 *  - base64_decode accepts exactly the canonical form: a length that is a
 *    multiple of 4, only alphabet characters, '=' only as the last one or
 *    two, and zero bits under the padding; anything else is ERR_INVALID_ARGUMENT.
 *    So decode(encode(x)) == x and every accepted text has one decoding.
 *  - The decoder never reads outside s[0..len).
 * Ownership: *out is malloc'd (plus a NUL for the encoder); the caller frees it.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_BASE64_H
#define OPTIRS_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters base64_encode writes for n bytes (SIZE_MAX when that overflows). */
size_t base64_encoded_len(size_t n);
/* Writes the base64_encoded_len(n) characters of data[0..n) to out (no NUL). */
void base64_encode_into(const void *data, size_t n, char *out);
/* Encodes data[0..n): *out (NUL-terminated), *out_len characters.
 * 0, ERR_NO_MEMORY or ERR_OUTPUT_TOO_LARGE. */
int base64_encode(const void *data, size_t n, char **out, size_t *out_len);
/* Decodes s[0..len): *out, *out_len bytes (a 0-byte text gives a 1-byte
 * allocation and *out_len 0).  0, ERR_INVALID_ARGUMENT or ERR_NO_MEMORY. */
int base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);

#endif
