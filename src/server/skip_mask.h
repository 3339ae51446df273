/* skip_mask.h — which tensors of a step have no gradient (torch skips a
 * parameter whose grad is None): JSON "skip_tensors": [name or index, …]
 * and the binary header X-Optirs-Skip-Tensors: i,j,… (indices only), read
 * into a mask of one byte per tensor of the session's layout for
 * step_request.skip_tensors.
 *
 * Invariants: every name must be a tensor of the layout and every index in
 * [0, ntensors); naming a tensor twice is allowed (it is skipped once); an
 * empty list skips nothing.  Anything else is refused with a message and
 * the mask is not to be used.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_SKIP_MASK_H
#define OPTIRS_SKIP_MASK_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "layout.h"

#define SKIP_MASK_HEADER "X-Optirs-Skip-Tensors"

/* Reads the JSON value v into mask (lay->ntensors bytes, zeroed by the
 * caller).  The number of tensors skipped, or ERR_INVALID_ARGUMENT (msg). */
int skip_mask_json(const cJSON *v, const layout *lay, uint8_t *mask, char *msg, size_t cap);
/* Reads the header's text ("0,3": decimal indices separated by commas, no
 * spaces) into mask, likewise.  The number skipped, or ERR_BAD_HEADER (msg). */
int skip_mask_header(const char *h, const layout *lay, uint8_t *mask, char *msg, size_t cap);

#endif
