/* utf8.c — see utf8.h.  The decoder follows the table of well-formed byte
 * sequences in the Unicode standard (ch. 3, table 3-7): the second byte's
 * range depends on the first (E0 A0.., ED ..9F, F0 90.., F4 ..8F), which is
 * what rules out overlongs, surrogates and code points above U+10FFFF. */
#include "utf8.h"

int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF;     /* allowed range of the second byte */
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        if (c == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        if (c == 0xF4) hi = 0x8F;      /* nothing above U+10FFFF */
    } else return 0;                   /* continuation byte, C0, C1, F5..FF */
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        unsigned b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return len;
}

size_t utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] >= 0x01 && p[i] < 0x80) {   /* the common case: ASCII */
            i++;
            continue;
        }
        uint32_t cp;
        int k = utf8_decode(p + i, n - i, &cp);
        if (k == 0 || cp == 0) return i;
        i += (size_t)k;
    }
    return n;
}

int utf8_valid(const char *s, size_t n)
{
    return utf8_invalid_at(s, n) == n;
}
