/* wire_dtype.h — the element type of a binary vector on the wire: float32
 * (the default), IEEE binary16 or bfloat16, named by the media-type
 * parameter `dtype` of `application/octet-stream` (`f32`, `f16`, `bf16`;
 * case-insensitive, optionally quoted), in Content-Type for a request body
 * and in Accept for an answer (proto/binary.md §8).
 *
 * Invariants: the daemon's state stays float32; only the edge converts
 * (core's half.h).  A Content-Type dtype this daemon does not know, or one
 * given twice, is 415 unsupported_media_type; an Accept whose
 * octet-stream entries name only unknown dtypes (and that allows no JSON
 * and no wildcard) is 406 not_acceptable.  The answer's dtype is the
 * request's unless Accept's octet-stream entries name others.
 * A binary answer's encoding travels through the service as an int:
 * ENC_BINARY (http.h: float32), ENC_BINARY_F16 or ENC_BINARY_BF16.
 * Thread rules: pure on the request; any thread. */
#ifndef OPTIRS_WIRE_DTYPE_H
#define OPTIRS_WIRE_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

typedef enum { WIRE_F32 = 0, WIRE_F16 = 1, WIRE_BF16 = 2 } wire_dtype;

/* Answer encodings past http.h's ENC_JSON and ENC_BINARY (float32). */
enum { ENC_BINARY_F16 = ENC_BINARY + WIRE_F16, ENC_BINARY_BF16 = ENC_BINARY + WIRE_BF16 };

/* Bytes per element: 4, 2, 2. */
size_t wire_dtype_size(wire_dtype d);
/* "f32", "f16", "bf16". */
const char *wire_dtype_name(wire_dtype d);
/* The Content-Type of a binary body of dtype d: plain
 * "application/octet-stream" for float32, with "; dtype=…" otherwise. */
const char *wire_dtype_content_type(wire_dtype d);
/* The dtype of a binary encoding (ENC_BINARY…); WIRE_F32 for any other. */
wire_dtype wire_dtype_of_encoding(int enc);

/* The dtype of a binary request body, from Content-Type: WIRE_F32 when
 * the request is not binary or names no dtype; ERR_UNSUPPORTED_MEDIA (< 0)
 * with msg set when it names an unknown one, or names one twice. */
int wire_dtype_request(req *r, char *msg, size_t cap);

/* The answer's encoding for a request whose own vector dtype is
 * req_dtype (WIRE_F32 for a JSON request): ENC_JSON, ENC_BINARY,
 * ENC_BINARY_F16 or ENC_BINARY_BF16 (http_req_answer_encoding's choice of
 * JSON or binary, then the dtype: the request's when Accept allows it,
 * else the first known one Accept names); -1 with msg set when Accept
 * allows nothing this daemon can produce (406). */
int wire_dtype_answer(req *r, wire_dtype req_dtype, char *msg, size_t cap);

/* The parameter read's encoding (GET …/params: binary only when Accept
 * names application/octet-stream and not application/json), its dtype as
 * in wire_dtype_answer with float32 preferred; -1 and msg for a 406. */
int wire_dtype_params_answer(req *r, char *msg, size_t cap);

#endif
