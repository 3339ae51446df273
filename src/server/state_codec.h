/* state_codec.h — the wire form of a session's full state (GET
 * /v1/sessions/{id}/state, and POST /v1/sessions with "state"): a JSON
 * object
 *   {"format":"optirs-session-state","version":1,"optimizer":NAME,
 *    "step":K,"num_params":N,"spec":{…},"state_bytes":B,
 *    "state_sha256":HEX,"state":BASE64}
 * where spec is the session's normalized spec (spec_to_json) without
 * num_params, and state the snapshot blob (service/snapshot.h: parameters,
 * the answer of step K, optimizer state, adaptation, online learner) in
 * base64 (core/base64.h).
 *
 * Invariants: decode accepts exactly what encode writes (every member, no
 * other, each of its type) and checks format, version, that state is
 * canonical base64 of state_bytes bytes whose SHA-256 is state_sha256, and
 * that optimizer equals spec.optimizer; any failure is ERR_INVALID_STATE
 * with the reason in msg.  The blob's agreement with the spec (layout,
 * optimizer state shape, step) is the service's check (sessions_import).
 * Ownership: every output is the caller's (free / cJSON_Delete).
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_STATE_CODEC_H
#define OPTIRS_STATE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "spec.h"

#define STATE_CODEC_FORMAT  "optirs-session-state"
#define STATE_CODEC_VERSION 1

/* The envelope's JSON text for a session at step `step` whose spec is
 * spec_json (modified: its num_params is moved out) and whose snapshot is
 * blob[0..len).  *out is malloc'd (*out_len bytes, NUL-terminated).
 * 0, ERR_NO_MEMORY, ERR_OUTPUT_TOO_LARGE or ERR_INVALID_ARGUMENT (a spec
 * without optimizer or num_params). */
int state_codec_encode(cJSON *spec_json, int64_t step, const uint8_t *blob, size_t len, char **out,
                       size_t *out_len);

/* Checks an envelope (parsed) and hands back its parts: *spec_json a copy
 * of its spec (a create request body once printed), *num_params, *step,
 * and the decoded blob.  0, ERR_NO_MEMORY or ERR_INVALID_STATE (msg). */
int state_codec_decode(const cJSON *env, cJSON **spec_json, int64_t *num_params, int64_t *step, uint8_t **blob,
                       size_t *len, char *msg, size_t msgcap);

/* A create request that imports a state: body {"state": ENVELOPE} with
 * optionally "name" and "tags", which replace the exported ones.  Returns
 * 1 when the body is not one (no top-level "state": an ordinary create,
 * nothing is touched); else walks it, decodes the envelope, parses its spec
 * as a create request (spec_parse, max_params) into *sp and checks that its
 * layout has num_params parameters: 0 with *sp, the blob (*blob, *blob_len)
 * and *step filled (the caller frees the blob and, after a failed create,
 * nothing else: sessions_import takes sp), or an ERR_* with msg (nothing to
 * free): state_codec_decode's, spec_parse's, ERR_UNKNOWN_FIELD (another
 * member beside state) or ERR_INVALID_STATE. */
int state_codec_import_body(const char *body, size_t len, size_t max_params, spec *sp, uint8_t **blob,
                            size_t *blob_len, int64_t *step, char *msg, size_t msgcap);

#endif
