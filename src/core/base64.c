/* base64.c — see base64.h. */
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>

#include "errors.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    return groups > SIZE_MAX / 4 - 1 ? SIZE_MAX : groups * 4;
}

void base64_encode_into(const void *data, size_t n, char *o)
{
    const uint8_t *p = data;
    size_t k = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[k++] = alphabet[v >> 18];
        o[k++] = alphabet[(v >> 12) & 63];
        o[k++] = alphabet[(v >> 6) & 63];
        o[k++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        o[k++] = alphabet[v >> 18];
        o[k++] = alphabet[(v >> 12) & 63];
        o[k++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        o[k++] = '=';
    }
}

int base64_encode(const void *data, size_t n, char **out, size_t *out_len)
{
    size_t len = base64_encoded_len(n);
    if (len == SIZE_MAX) return ERR_OUTPUT_TOO_LARGE;
    char *o = malloc(len + 1);
    if (!o) return ERR_NO_MEMORY;
    base64_encode_into(data, n, o);
    o[len] = '\0';
    *out = o;
    *out_len = len;
    return 0;
}

/* The 6-bit value of c, or -1 when c is not in the alphabet. */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    if (len % 4 != 0) return ERR_INVALID_ARGUMENT;
    size_t pad = 0;
    if (len && s[len - 1] == '=') pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    uint8_t *o = malloc(n ? n : 1);
    if (!o) return ERR_NO_MEMORY;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int q[4];
        for (int j = 0; j < 4; j++) {
            int pad_here = last && j >= 4 - (int)pad;
            q[j] = pad_here ? 0 : sextet((unsigned char)s[i + j]);
            if (q[j] < 0) {
                free(o);
                return ERR_INVALID_ARGUMENT;
            }
        }
        uint32_t v = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 | (uint32_t)q[2] << 6 | (uint32_t)q[3];
        /* the bits under the padding must be zero (one canonical text) */
        if (last && ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))) {
            free(o);
            return ERR_INVALID_ARGUMENT;
        }
        o[k++] = (uint8_t)(v >> 16);
        if (!last || pad < 2) o[k++] = (uint8_t)(v >> 8);
        if (!last || pad < 1) o[k++] = (uint8_t)v;
    }
    *out = o;
    *out_len = n;
    return 0;
}
