/* step_codec.h — the answer of a step (and of a parameter read) on the wire:
 * `{"step":k,"update":[...]}` in JSON with float32 values in their shortest
 * round-tripping form (f32json), or the raw little-endian float32 vector for
 * binary clients (Content-Type application/octet-stream), or that vector
 * as IEEE binary16 or bfloat16 (wire_dtype.h), rounded to nearest even.
 * A vector holding a finite value that a 16-bit dtype would turn into ±Inf
 * is sent as float32 instead (the answer's Content-Type says which).
 *
 * A step that was skipped (non_finite: skip) answers a zero update and, in
 * JSON, `"applied":false`; binary clients learn it from the
 * X-Optirs-Not-Applied header the caller sets.
 * Ownership: every function returns a malloc'd buffer in *out that the
 * caller frees (on success only).
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_STEP_CODEC_H
#define OPTIRS_STEP_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Encodes `{"step":k,"<key>":[...]}`.  0, ERR_NO_MEMORY, or
 * ERR_TOO_MANY_PARAMS when n cannot be written at all. */
int step_codec_json(int64_t step, const char *key, const float *v, size_t n, char **out, size_t *len);
/* The vector v (n floats) in binary encoding enc (ENC_BINARY,
 * ENC_BINARY_F16, ENC_BINARY_BF16); *ctype (when not NULL) gets the
 * answer's Content-Type, which names float32 when a value overflowed the
 * 16-bit dtype.  0 or ERR_NO_MEMORY. */
int step_codec_vector(const float *v, size_t n, int enc, char **out, size_t *len, const char **ctype);
/* The answer to step `step` whose update is v (n floats) in encoding enc
 * (ENC_JSON, or binary as in step_codec_vector); applied == 0 marks a skipped step.
 * 0 or ERR_*. */
int step_codec_update(int64_t step, const float *v, size_t n, int applied, int enc, char **out, size_t *len);

#endif
