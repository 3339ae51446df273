/* numfmt.c — see numfmt.h. */
#include "numfmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int numfmt_i64(char *buf, int64_t v)
{
    char tmp[24];
    int k = 0, n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) buf[n++] = '-';
    while (k) buf[n++] = tmp[--k];
    return n;
}

static int slow(char *buf, double v)
{
    char tmp[40];
    int n = strfromd(tmp, sizeof tmp, "%.17g", v);
    if (n < 0 || n > NUMFMT_MAX) n = snprintf(tmp, sizeof tmp, "%.17g", v);
    memcpy(buf, tmp, (size_t)n);
    return n;
}

int numfmt_f64(char *buf, double v)
{
    if (!isfinite(v)) {
        memcpy(buf, "null", 4);
        return 4;
    }
#if LDBL_MANT_DIG == 64
    double a = fabs(v);
    if (!(a >= 1e-11 && a < 1e44)) return slow(buf, v);
    /* exact powers of ten: 10^k < 2^64 for k <= 19; 5^27 < 2^64, so 10^27 is
     * exact too (2^27 * 5^27) */
    static const long double p10[28] = {
        1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
        1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    int be;
    frexp(a, &be);                                  /* a in [2^(be-1), 2^be) */
    int e = (int)floor((double)(be - 1) * 0.30102999566398120);   /* floor(log10(a)), maybe 1 low */
    uint64_t d = 0;
    for (int tries = 0;; tries++) {
        int k = 16 - e;                             /* d = a * 10^k in [1e16, 1e17) */
        if (k > 27 || k < -27 || tries > 2) return slow(buf, v);
        long double x = k >= 0 ? (long double)a * p10[k] : (long double)a / p10[-k];
        if (x < 1e16L) { e--; continue; }
        if (x >= 1e17L) { e++; continue; }
        uint64_t t = (uint64_t)x;                   /* x > 0: truncation is floor */
        long double fr = x - (long double)t;
        if (fr > 0.5L - 1.0L / 64 && fr < 0.5L + 1.0L / 64) return slow(buf, v);   /* too near a tie to trust */
        d = t + (fr > 0.5L);
        if (d >= 100000000000000000ULL) { d /= 10; e++; }       /* 99…9.5 rounded up: still exact */
        break;
    }
    char dig[17];
    uint32_t hi = (uint32_t)(d / 100000000ULL), lo = (uint32_t)(d % 100000000ULL);   /* 9 + 8 digits */
    for (int i = 16; i >= 9; i--) { dig[i] = (char)('0' + lo % 10); lo /= 10; }
    for (int i = 8; i >= 0; i--) { dig[i] = (char)('0' + hi % 10); hi /= 10; }
    int nd = 17;
    while (nd > 1 && dig[nd - 1] == '0') nd--;     /* %g drops trailing zeros */
    int n = 0;
    if (v < 0) buf[n++] = '-';
    if (e < -4 || e >= 17) {                        /* %g's exponential form */
        buf[n++] = dig[0];
        if (nd > 1) {
            buf[n++] = '.';
            memcpy(buf + n, dig + 1, (size_t)(nd - 1));
            n += nd - 1;
        }
        buf[n++] = 'e';
        buf[n++] = e < 0 ? '-' : '+';
        int ae = e < 0 ? -e : e;
        if (ae < 10) buf[n++] = '0';
        n += numfmt_i64(buf + n, ae);
    } else if (e >= 0) {
        int ip = e + 1;                             /* digits before the point (<= 17) */
        memcpy(buf + n, dig, (size_t)ip);
        n += ip;
        if (nd > ip) {
            buf[n++] = '.';
            memcpy(buf + n, dig + ip, (size_t)(nd - ip));
            n += nd - ip;
        }
    } else {
        buf[n++] = '0';
        buf[n++] = '.';
        for (int i = 0; i < -e - 1; i++) buf[n++] = '0';
        memcpy(buf + n, dig, (size_t)nd);
        n += nd;
    }
    return n;
#else
    return slow(buf, v);
#endif
}

int numfmt_fixed(char *buf, double v, int decimals)
{
    if (!isfinite(v) || !(fabs(v) < 1e15) || decimals < 0 || decimals > 4) return -1;
#if LDBL_MANT_DIG == 64
    static const uint64_t p10[5] = {1, 10, 100, 1000, 10000};
    /* exact: v's 53-bit significand times 5^decimals (< 2^11) fits 64 bits */
    long double x = fabsl((long double)v * (long double)p10[decimals]);
    uint64_t q = (uint64_t)rintl(x);                 /* < 1e19 < 2^64 */
    int n = 0;
    if (signbit(v)) buf[n++] = '-';                  /* printf writes -0.000 too */
    n += numfmt_i64(buf + n, (int64_t)(q / p10[decimals]));
    if (decimals) {
        uint64_t f = q % p10[decimals];
        buf[n++] = '.';
        for (int i = decimals - 1; i >= 0; i--) {
            buf[n + i] = (char)('0' + f % 10);
            f /= 10;
        }
        n += decimals;
    }
    return n;
#else
    char tmp[48];                                    /* |v| < 1e15: at most 21 bytes */
    int n = snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    if (n < 0 || n > NUMFMT_MAX) return -1;
    memcpy(buf, tmp, (size_t)n);
    return n;
#endif
}
