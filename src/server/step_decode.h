/* step_decode.h — a step request off the wire, before the service sees it:
 * the JSON body ({"step", "grads", "loss", "worker", "skip_tensors",
 * "hyperparams"}) or the binary one (n little-endian float32, or n
 * float16/bfloat16 by the Content-Type's dtype (wire_dtype.h), with
 * X-Optirs-Step, X-Optirs-Loss, X-Optirs-Worker, X-Optirs-Skip-Tensors and
 * X-Optirs-Hyperparams), decoded completely and checked against the
 * session's size and layout into a step_request (session.h).
 *
 * Invariants: nothing reaches the session unless the whole request decodes;
 * a non-finite gradient or loss is flagged (sr->nonfinite), not refused: the
 * session's policy decides.
 * Ownership: the buffers behind sr (JSON gradients, the skip mask, the
 * hyperparameters) are handed back for the caller to free, also on error; a
 * float32 binary step's gradients stay in the request body, a 16-bit one's
 * are widened into *grads once the body's length is right.
 * Thread rules: pure on the request; any thread. */
#ifndef OPTIRS_STEP_DECODE_H
#define OPTIRS_STEP_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "http.h"
#include "layout.h"
#include "session.h"

/* A decimal integer (digits only: no sign, space or '+') in [lo, hi]; 0, or
 * -1 when s is not one. */
int step_decode_digits(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Decodes r (Content-Type JSON, none, or binary) for a session of n
 * parameters laid out by lay into *sr (whose loss the caller set to NAN).
 * *grads, *skip and *hyper get the buffers sr points into (free, free,
 * cJSON_Delete).  0, or an ERR_* with msg ("" : the code's message). */
int step_decode_request(req *r, size_t n, const layout *lay, step_request *sr, float **grads, uint8_t **skip,
                        cJSON **hyper, char *msg, size_t cap);

#endif
