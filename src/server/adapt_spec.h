/* adapt_spec.h — the "adapt" member of a create-session request:
 * {"lr": "hypergradient", "beta": 1e-4, "per_tensor": false,
 *  "lr_min": 1e-8, "lr_max": 10}, parsed into core's adapt_config with every
 * field checked, and written back (normalized) into the session's
 * description.  Thread rules: pure; any thread. */
#ifndef OPTIRS_ADAPT_SPEC_H
#define OPTIRS_ADAPT_SPEC_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "adapt.h"

/* Parses `v` into *cfg (which holds the defaults).  0, or ERR_INVALID_ARGUMENT
 * / ERR_OUT_OF_RANGE / ERR_NON_FINITE / ERR_UNKNOWN_FIELD with msg filled. */
int    adapt_spec_parse(const cJSON *v, adapt_config *cfg, char *msg, size_t cap);
/* The normalized object; NULL when cfg adapts nothing.  The caller owns it. */
cJSON *adapt_spec_json(const adapt_config *cfg);

#endif
