/* step_codec.h — the answer of a step (and of a parameter read) on the wire:
 * `{"step":k,"update":[...]}` in JSON with float32 values in their shortest
 * round-tripping form (f32json), or the raw little-endian float32 vector for
 * binary clients (Content-Type application/octet-stream).
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
/* The answer to step `step` whose update is v (n floats) in encoding enc
 * (ENC_JSON or ENC_BINARY, http.h); applied == 0 marks a skipped step.
 * 0 or ERR_*. */
int step_codec_update(int64_t step, const float *v, size_t n, int applied, int enc, char **out, size_t *len);

#endif
