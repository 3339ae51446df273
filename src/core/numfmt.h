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
 * Non-finite values print as null (JSON has no NaN).  Thread rules: pure
 * functions, any thread. */
#ifndef OPTIRS_NUMFMT_H
#define OPTIRS_NUMFMT_H

#include <stdint.h>

/* The most bytes numfmt_f64 / numfmt_i64 write ("-1.2345678901234567e-308" is 24). */
#define NUMFMT_MAX 32

/* Writes v to buf (room for NUMFMT_MAX bytes, no NUL); returns the length. */
int numfmt_f64(char *buf, double v);
/* Writes v in decimal to buf (room for NUMFMT_MAX bytes, no NUL); returns the length. */
int numfmt_i64(char *buf, int64_t v);

#endif
