/* f32json.c — see f32json.h.
 *
 * Reading.  A number is scanned once; its significant digits go into a
 * 64-bit integer w (at most 19) and its decimal exponent into e10, so that
 * the value is w * 10^e10.  Fast path (Clinger): when w <= 2^53 and 10^|e10|
 * is an exact double (|e10| <= 22), or w * 10^(e10-22) is still an exact
 * integer below 2^53, one IEEE multiplication or division gives d, the double
 * nearest the exact value x.  Converting d to float can double-round, but
 * only in one way: every float and every midpoint between adjacent floats
 * is a double, and rounding to double is monotone, so x and d lie in the
 * same closed interval between consecutive float midpoints; if d is not
 * itself a midpoint, x and d round to the same float.  When d is a midpoint
 * we cannot tell whether x was exactly on it (a true tie, ties-to-even) or
 * on either side of it, so we fall back to strtof.  The overflow threshold
 * FLT_MAX + ulp/2 = 0x1.ffffffp127 is such a midpoint, so the same argument
 * decides overflow.  Longer significands (float32 values printed as 17
 * digit doubles by Python clients) and exponents up to 63 take an
 * approximate path with an error bound (see dbl_to_f32_approx).  What is
 * left — values near a float midpoint, results in the subnormal range,
 * extreme exponents — goes to strtof on a NUL-terminated copy of the token;
 * glibc's strtof rounds correctly.
 *
 * Writing.  A positive float is v = m * 2^q (m < 2^24).  Every real in the
 * rounding interval [v - gap_below/2, v + gap_above/2] (closed when m is
 * even: ties go to the even float) reads back as v.  With the bounds scaled
 * to integers l < u=4m < w by 2^(q-2), we look for the largest k such that
 * the interval holds a multiple of 10^k: those multiples are the integers
 * n in [ceil(l*R), floor(w*R)] with R = 2^(q-2) / 10^k = 2^(q-2-k) * 5^(-k),
 * computed exactly in integer arithmetic (up to 192 bits; the results stay
 * below 2^32 because k starts at floor(log10(2^q)), the order of the gap).
 * Then we take the candidate nearest v*R (ties to even).  The result is the
 * shortest round-tripping decimal; the tests check it against strtof on
 * millions of floats and against "%.{p}g" for shortness. */
#include "f32json.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

__extension__ typedef unsigned __int128 u128;

/* ---------------------------------------------------------------- reading */

/* 10^0 .. 10^63, each the double nearest the power (the compiler rounds
 * decimal literals correctly); 10^0 .. 10^22 are exact. */
static const double pow10_dbl[64] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
    1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47,
    1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63,
};

static const uint64_t pow10_u64[16] = {  /* also used by count_digits */
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
    1000000000u, 10000000000u, 100000000000u, 1000000000000u,
    10000000000000u, 100000000000000u, 1000000000000000u,
};

#define TWO53 9007199254740992u

static inline int is_digit(char c) { return (unsigned)(c - '0') < 10u; }
static inline int is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* strtof on a NUL-terminated copy of tok[0..n). */
static int slow_parse(const char *tok, size_t n, float *out)
{
    char small[72];
    char *buf = small;
    if (n >= sizeof small) {
        buf = malloc(n + 1);
        if (!buf) return ERR_NO_MEMORY;
    }
    memcpy(buf, tok, n);
    buf[n] = '\0';
    char *endp = NULL;
    errno = 0;
    float f = strtof(buf, &endp);
    int whole = (endp == buf + n);
    if (buf != small) free(buf);
    /* The token is valid JSON, so strtof stops short only under a foreign
     * LC_NUMERIC decimal point. */
    if (!whole) return ERR_INTERNAL;
    if (isinf(f)) return ERR_NON_FINITE;
    *out = f;
    return 0;
}

/* d >= 0 is the double nearest the exact value.  1: *out set; 0: d is a float
 * midpoint, use the slow path; ERR_NON_FINITE: overflow. */
static inline int dbl_to_f32_exact(double d, float *out)
{
    const double mid_max = 0x1.ffffffp127;   /* FLT_MAX + ulp/2 */
    if (d >= mid_max) return d == mid_max ? 0 : ERR_NON_FINITE;
    if (d >= 0x1p-126) {
        uint64_t b;
        memcpy(&b, &d, sizeof b);
        if ((b & 0x1fffffffu) == 0x10000000u) return 0;
    } else {
        double t = d * 0x1p149;               /* exact: < 2^23 */
        if (t - (double)(int64_t)t == 0.5) return 0;
    }
    *out = (float)d;
    return 1;
}

/* d >= 0 is within APPROX_ULPS units in the last place (of d) of the exact
 * value x.  If no float midpoint lies within twice that distance of d, x and
 * d round to the same float: 1 and *out set.  Otherwise 0 (use the slow
 * path), or ERR_NON_FINITE when x surely overflows.  Only for results in
 * the normal float range, where float midpoints are the doubles whose low
 * 29 mantissa bits are 1 followed by zeros (binade edges are floats, never
 * midpoints, so the distance in double ulps is the same on both sides). */
#define APPROX_ULPS 16
static inline int dbl_to_f32_approx(double d, float *out)
{
    if (d < 0x1p-126) return 0;
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    uint64_t low = b & 0x1fffffffu;
    if (low + APPROX_ULPS - 0x10000000u <= 2 * APPROX_ULPS) return 0;
    if (d > 0x1.ffffffp127) return ERR_NON_FINITE;
    *out = (float)d;
    return 1;
}

/* Scans one number at *pp (p < end guaranteed by the caller or checked).
 * Advances *pp past it. */
static inline int parse_num(const char **pp, const char *end, float *out)
{
    const char *p = *pp, *start = p;
    int neg = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    if (p == end) return ERR_INVALID_JSON;

    uint64_t w = 0;
    int nd = 0;          /* significant digits in w */
    int slow = 0;        /* more than 19 significant digits */
    int64_t e10 = 0;

    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return ERR_INVALID_JSON;   /* 01 */
    } else if (is_digit(*p)) {
        do {
            if (nd < 19) { w = w * 10 + (uint64_t)(*p - '0'); nd++; }
            else { slow = 1; e10++; }
            p++;
        } while (p < end && is_digit(*p));
    } else {
        return ERR_INVALID_JSON;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) return ERR_INVALID_JSON;
        do {
            unsigned dg = (unsigned)(*p - '0');
            if (nd == 0 && dg == 0) e10--;                 /* leading zero */
            else if (nd < 19) { w = w * 10 + dg; nd++; e10--; }
            else slow = 1;
            p++;
        } while (p < end && is_digit(*p));
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) { eneg = (*p == '-'); p++; }
        if (p == end || !is_digit(*p)) return ERR_INVALID_JSON;
        int64_t ex = 0;
        do {
            if (ex < 100000000) ex = ex * 10 + (*p - '0');
            p++;
        } while (p < end && is_digit(*p));
        e10 += eneg ? -ex : ex;
    }
    *pp = p;

    if (w == 0 && !slow) {                          /* every digit was 0 */
        *out = neg ? -0.0f : 0.0f;
        return 0;
    }
    float f;
    int rc = 0;
    if (!slow && w <= TWO53) {
        /* Exact path: one correctly rounded operation on exact operands. */
        double d = 0;
        int ok = 1;
        if (e10 >= 0 && e10 <= 22) d = (double)w * pow10_dbl[e10];
        else if (e10 < 0 && e10 >= -22) d = (double)w / pow10_dbl[-e10];
        else if (e10 > 22 && e10 - 22 < 16 && w <= TWO53 / pow10_u64[e10 - 22])
            d = (double)(w * pow10_u64[e10 - 22]) * 1e22;
        else ok = 0;
        if (ok) rc = dbl_to_f32_exact(d, &f);
    }
    if (rc == 0 && e10 > -64 && e10 < 64) {
        /* Approximate path (more than 15 digits, e.g. float32 values printed
         * as 17-digit doubles, or a large exponent): (double)w, 10^|e10| and
         * the product or quotient are each correctly rounded, so d is within
         * 3 ulps of w*10^e10, and the digits dropped past 19 move the value
         * by less than 10^-18 relatively (under 0.01 ulp).  16 ulps is a safe
         * margin. */
        double d = e10 >= 0 ? (double)w * pow10_dbl[e10] : (double)w / pow10_dbl[-e10];
        rc = dbl_to_f32_approx(d, &f);
    }
    if (rc == 1) { *out = neg ? -f : f; return 0; }
    if (rc < 0) return rc;
    return slow_parse(start, (size_t)(p - start), out);
}

size_t f32json_number_len(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    if (i < len && s[i] == '0') i++;
    else if (i < len && s[i] >= '1' && s[i] <= '9')
        while (i < len && is_digit(s[i])) i++;
    else return 0;
    if (i < len && s[i] == '.') {
        if (++i >= len || !is_digit(s[i])) return 0;
        while (i < len && is_digit(s[i])) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !is_digit(s[i])) return 0;
        while (i < len && is_digit(s[i])) i++;
    }
    return i;
}

int f32json_parse_number(const char *s, size_t len, float *out)
{
    const char *p = s, *end = s + len;
    float f;
    int rc = parse_num(&p, end, &f);
    if (rc) return rc;
    if (p != end) return ERR_INVALID_JSON;
    *out = f;
    return 0;
}

int f32json_parse_array(const char *s, size_t len, float *out, size_t cap,
                        size_t *count, size_t *consumed)
{
    const char *p = s, *end = s + len;
    size_t n = 0;
    int rc = 0;
    *count = 0;
    while (p < end && is_ws(*p)) p++;
    if (p == end || *p != '[') return ERR_INVALID_JSON;
    p++;
    while (p < end && is_ws(*p)) p++;
    if (p < end && *p == ']') { p++; goto done; }
    for (;;) {
        if (p == end) { rc = ERR_INVALID_JSON; break; }
        if (n == cap) {
            rc = (*p == '-' || is_digit(*p)) ? ERR_LENGTH_MISMATCH : ERR_INVALID_JSON;
            break;
        }
        rc = parse_num(&p, end, &out[n]);
        if (rc) break;
        n++;
        while (p < end && is_ws(*p)) p++;
        if (p == end) { rc = ERR_INVALID_JSON; break; }
        if (*p == ',') {
            p++;
            while (p < end && is_ws(*p)) p++;
            continue;
        }
        if (*p == ']') { p++; goto done; }
        rc = ERR_INVALID_JSON;
        break;
    }
    *count = n;
    return rc;
done:
    *count = n;
    *consumed = (size_t)(p - s);
    return 0;
}

/* ---------------------------------------------------------------- writing */

static const struct { uint64_t hi, lo; } pow5_128[56] = {
    {0x0000000000000000u, 0x0000000000000001u}, /* 5^0 */
    {0x0000000000000000u, 0x0000000000000005u}, /* 5^1 */
    {0x0000000000000000u, 0x0000000000000019u}, /* 5^2 */
    {0x0000000000000000u, 0x000000000000007du}, /* 5^3 */
    {0x0000000000000000u, 0x0000000000000271u}, /* 5^4 */
    {0x0000000000000000u, 0x0000000000000c35u}, /* 5^5 */
    {0x0000000000000000u, 0x0000000000003d09u}, /* 5^6 */
    {0x0000000000000000u, 0x000000000001312du}, /* 5^7 */
    {0x0000000000000000u, 0x000000000005f5e1u}, /* 5^8 */
    {0x0000000000000000u, 0x00000000001dcd65u}, /* 5^9 */
    {0x0000000000000000u, 0x00000000009502f9u}, /* 5^10 */
    {0x0000000000000000u, 0x0000000002e90eddu}, /* 5^11 */
    {0x0000000000000000u, 0x000000000e8d4a51u}, /* 5^12 */
    {0x0000000000000000u, 0x0000000048c27395u}, /* 5^13 */
    {0x0000000000000000u, 0x000000016bcc41e9u}, /* 5^14 */
    {0x0000000000000000u, 0x000000071afd498du}, /* 5^15 */
    {0x0000000000000000u, 0x0000002386f26fc1u}, /* 5^16 */
    {0x0000000000000000u, 0x000000b1a2bc2ec5u}, /* 5^17 */
    {0x0000000000000000u, 0x000003782dace9d9u}, /* 5^18 */
    {0x0000000000000000u, 0x00001158e460913du}, /* 5^19 */
    {0x0000000000000000u, 0x000056bc75e2d631u}, /* 5^20 */
    {0x0000000000000000u, 0x0001b1ae4d6e2ef5u}, /* 5^21 */
    {0x0000000000000000u, 0x000878678326eac9u}, /* 5^22 */
    {0x0000000000000000u, 0x002a5a058fc295edu}, /* 5^23 */
    {0x0000000000000000u, 0x00d3c21bcecceda1u}, /* 5^24 */
    {0x0000000000000000u, 0x0422ca8b0a00a425u}, /* 5^25 */
    {0x0000000000000000u, 0x14adf4b7320334b9u}, /* 5^26 */
    {0x0000000000000000u, 0x6765c793fa10079du}, /* 5^27 */
    {0x0000000000000002u, 0x04fce5e3e2502611u}, /* 5^28 */
    {0x000000000000000au, 0x18f07d736b90be55u}, /* 5^29 */
    {0x0000000000000032u, 0x7cb2734119d3b7a9u}, /* 5^30 */
    {0x00000000000000fcu, 0x6f7c40458122964du}, /* 5^31 */
    {0x00000000000004eeu, 0x2d6d415b85acef81u}, /* 5^32 */
    {0x00000000000018a6u, 0xe32246c99c60ad85u}, /* 5^33 */
    {0x0000000000007b42u, 0x6fab61f00de36399u}, /* 5^34 */
    {0x000000000002684cu, 0x2e58e9b04570f1fdu}, /* 5^35 */
    {0x00000000000c097cu, 0xe7bc90715b34b9f1u}, /* 5^36 */
    {0x00000000003c2f70u, 0x86aed236c807a1b5u}, /* 5^37 */
    {0x00000000012ced32u, 0xa16a1b11e8262889u}, /* 5^38 */
    {0x0000000005e0a1fdu, 0x2712875988becaadu}, /* 5^39 */
    {0x000000001d6329f1u, 0xc35ca4bfabb9f561u}, /* 5^40 */
    {0x0000000092efd1b8u, 0xd0cf37be5aa1cae5u}, /* 5^41 */
    {0x00000002deaf189cu, 0x140c16b7c528f679u}, /* 5^42 */
    {0x0000000e596b7b0cu, 0x643c7196d9ccd05du}, /* 5^43 */
    {0x00000047bf19673du, 0xf52e37f2410011d1u}, /* 5^44 */
    {0x00000166bb7f0435u, 0xc9e717bb45005915u}, /* 5^45 */
    {0x00000701a97b150cu, 0xf18376a85901bd69u}, /* 5^46 */
    {0x000023084f676940u, 0xb7915149bd08b30du}, /* 5^47 */
    {0x0000af298d050e43u, 0x95d69670b12b7f41u}, /* 5^48 */
    {0x00036bcfc1194751u, 0xed30f03375d97c45u}, /* 5^49 */
    {0x00111b0ec57e6499u, 0xa1f4b1014d3f6d59u}, /* 5^50 */
    {0x00558749db77f700u, 0x29c77506823d22bdu}, /* 5^51 */
    {0x01aba4714957d300u, 0xd0e549208b31adb1u}, /* 5^52 */
    {0x085a36366eb71f04u, 0x147a6da2b7f86475u}, /* 5^53 */
    {0x29c30f1029939b14u, 0x6664242d97d9f649u}, /* 5^54 */
    {0xd0cf4b50cfe20765u, 0xfff4b4e3f741cf6du}, /* 5^55 */
};

/* floor(x * 2^s * 5^t) for x < 2^28 when the result is below 2^64; *exact
 * says whether nothing was floored away. */
static inline uint64_t scaled(uint64_t x, int s, int t, int *exact)
{
    if (t >= 0) {
        uint64_t hi = pow5_128[t].hi, lo = pow5_128[t].lo;
        u128 p0 = (u128)x * lo, p1 = (u128)x * hi;
        u128 mid = (p0 >> 64) + (uint64_t)p1;
        uint64_t l0 = (uint64_t)p0, l1 = (uint64_t)mid;
        uint64_t l2 = (uint64_t)(p1 >> 64) + (uint64_t)(mid >> 64);
        if (s >= 0) {                      /* small t here: fits in l0..l1 */
            *exact = 1;
            u128 v = ((u128)l1 << 64) | l0;
            return (uint64_t)(v << s);
        }
        int r = -s;
        if (r < 64) {
            *exact = r == 0 || (l0 << (64 - r)) == 0;
            return r == 0 ? l0 : (l0 >> r) | (l1 << (64 - r));
        }
        if (r < 128) {
            int rr = r - 64;
            *exact = l0 == 0 && (rr == 0 || (l1 << (64 - rr)) == 0);
            return rr == 0 ? l1 : (l1 >> rr) | (l2 << (64 - rr));
        }
        int rr = r - 128;
        *exact = l0 == 0 && l1 == 0 && (rr == 0 || (l2 << (64 - rr)) == 0);
        return rr >= 64 ? 0 : l2 >> rr;
    }
    u128 d = ((u128)pow5_128[-t].hi << 64) | pow5_128[-t].lo;
    if (s >= 0) {
        u128 num = (u128)x << s;
        u128 qq = num / d;
        *exact = (qq * d == num);
        return (uint64_t)qq;
    }
    u128 qq = (u128)x / d;
    int ex = (qq * d == (u128)x);
    uint64_t r = (uint64_t)qq;
    int sh = -s;
    if (sh >= 64) { *exact = ex && r == 0; return 0; }
    *exact = ex && (r & ((UINT64_C(1) << sh) - 1)) == 0;
    return r >> sh;
}

/* floor(q * log10(2)) for |q| < 1000 (1233/4096 is close enough, and the
 * search below corrects any off-by-one anyway). */
static inline int floor_log10_pow2(int q)
{
    return q >= 0 ? (q * 1233) >> 12 : -((-q * 1233 + 4095) >> 12);
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Number of decimal digits of n (1 <= n < 10^10). */
static inline int count_digits(uint64_t n)
{
    int nd = 1;
    while (nd < 10 && n >= pow10_u64[nd]) nd++;
    return nd;
}

/* Writes the nd decimal digits of n to d[0..nd). */
static inline void put_digits(char *d, uint64_t n, int nd)
{
    char *p = d + nd;
    while (n >= 100) {
        unsigned r = (unsigned)(n % 100);
        n /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (n >= 10) memcpy(p - 2, digit_pairs + 2 * n, 2);
    else p[-1] = (char)('0' + n);
}

size_t f32json_format(char *buf, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t be = (bits >> 23) & 0xffu, frac = bits & 0x7fffffu;
    if (be == 0xffu) return 0;
    char *o = buf;
    if (bits >> 31) *o++ = '-';
    if (be == 0 && frac == 0) { *o++ = '0'; return (size_t)(o - buf); }

    uint64_t m;
    int q;
    if (be == 0) { m = frac; q = -149; }
    else { m = frac | 0x800000u; q = (int)be - 150; }
    int closed = (m & 1) == 0;
    uint64_t u = 4 * m, wb = 4 * m + 2;
    uint64_t lb = (frac == 0 && be > 1) ? 4 * m - 1 : 4 * m - 2;

    int k = floor_log10_pow2(q);
    uint64_t lo, hi;
    for (;;) {
        int ex;
        hi = scaled(wb, q - 2 - k, -k, &ex);
        if (ex && !closed) hi--;
        lo = scaled(lb, q - 2 - k, -k, &ex);
        if (!ex || !closed) lo++;
        if (lo <= hi) break;
        k--;
    }
    while (hi / 10 >= (lo + 9) / 10) {
        lo = (lo + 9) / 10;
        hi /= 10;
        k++;
    }
    int ex;
    uint64_t f2 = scaled(2 * u, q - 2 - k, -k, &ex);
    uint64_t n = f2 >> 1;
    if ((f2 & 1) && (!ex || (n & 1))) n++;
    if (n < lo) n = lo;
    if (n > hi) n = hi;

    int nd = count_digits(n);
    int e = k + nd - 1;                       /* scientific exponent */
    if (e >= 0 && e <= 8) {
        if (nd <= e + 1) {                    /* integer */
            put_digits(o, n, nd); o += nd;
            for (int i = nd; i <= e; i++) *o++ = '0';
        } else {                              /* digits, then open the point */
            put_digits(o, n, nd);
            memmove(o + e + 2, o + e + 1, (size_t)(nd - e - 1));
            o[e + 1] = '.';
            o += nd + 1;
        }
    } else if (e < 0 && e >= -5) {
        *o++ = '0'; *o++ = '.';
        for (int i = -1; i > e; i--) *o++ = '0';
        put_digits(o, n, nd); o += nd;
    } else {
        put_digits(o + 1, n, nd);
        o[0] = o[1];
        if (nd > 1) { o[1] = '.'; o += nd + 1; }
        else o += 1;
        *o++ = 'e';
        if (e < 0) { *o++ = '-'; e = -e; }
        if (e >= 10) { memcpy(o, digit_pairs + 2 * e, 2); o += 2; }
        else *o++ = (char)('0' + e);
    }
    return (size_t)(o - buf);
}

/* ---------------------------------------------------------------- buffers */

void f32json_buf_init(f32json_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void f32json_buf_deinit(f32json_buf *b)
{
    free(b->data);
    f32json_buf_init(b);
}

/* Makes room for `extra` more bytes plus the NUL: 0 or ERR_NO_MEMORY. */
static int buf_reserve(f32json_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len) return ERR_NO_MEMORY;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    char *d = realloc(b->data, nc);
    if (!d) return ERR_NO_MEMORY;
    b->data = d;
    b->cap = nc;
    return 0;
}

int f32json_buf_append(f32json_buf *b, const char *s, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int f32json_write_array(f32json_buf *b, const float *v, size_t n)
{
    if (n > (SIZE_MAX - 3) / (F32JSON_FMT_MAX + 1)) return ERR_NO_MEMORY;
    int rc = buf_reserve(b, 2 + n * (F32JSON_FMT_MAX + 1));
    if (rc) return rc;
    char *p = b->data + b->len;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        size_t k = f32json_format(p, v[i]);
        if (k == 0) {
            b->data[b->len] = '\0';
            return ERR_NON_FINITE;
        }
        p += k;
    }
    *p++ = ']';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    return 0;
}
