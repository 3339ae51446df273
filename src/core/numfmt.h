/* numfmt.h — fast exact printing of doubles and integers for large JSON
 * answers (the downsampled curves: ~30k numbers per answer, where glibc's
 * %.17g was most of the time).
 *
 * numfmt_f64 writes the same text as printf("%.17g", v) — 17 significant
 * digits, correctly rounded, so the text reads back as exactly v — computed
 * with one 80-bit long double multiplication and integer digit generation
 * when that is provably correctly rounded (|v| in [1e-11, 1e44) and the
 * scaled value not within 1/64 of a rounding tie: the product's error is
 * below 0.006), and by strfromd otherwise.  Needs x87 long double (64-bit
 * significand), as on x86-64; elsewhere it always takes the strfromd path.
 * Non-finite values print as null (JSON has no NaN).
 *
 * numfmt_fixed writes the same text as printf("%.*f", decimals, v) for 0 <=
 * decimals <= 4 and |v| < 1e15 (the log's durations): v * 10^decimals is
 * exact in an 80-bit long double (5^4 * 2^53 < 2^64) and rounded to an
 * integer with rintl, ties to even as printf rounds the exact value; without
 * x87 long double it calls snprintf.  Thread rules: pure functions, any
 * thread. */
#ifndef OPTIRS_NUMFMT_H
#define OPTIRS_NUMFMT_H

#include <stdint.h>

/* The most bytes numfmt_f64 / numfmt_i64 write ("-1.2345678901234567e-308" is 24). */
#define NUMFMT_MAX 32

/* Writes v to buf (room for NUMFMT_MAX bytes, no NUL); returns the length. */
int numfmt_f64(char *buf, double v);
/* Writes v in decimal to buf (room for NUMFMT_MAX bytes, no NUL); returns the length. */
int numfmt_i64(char *buf, int64_t v);
/* Writes v with `decimals` digits after the point, as %.*f (see above), to
 * buf (room for NUMFMT_MAX bytes, no NUL); returns the length, or -1 when v
 * is not finite, |v| >= 1e15 or decimals is outside 0..4 (the caller prints
 * with printf then). */
int numfmt_fixed(char *buf, double v, int decimals);

#endif
