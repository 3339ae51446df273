/* adapt_spec.h — the "adapt" member of a create-session request, parsed into
 * core's configs with every field checked, and written back (normalized)
 * into the session's description.  Two exclusive forms:
 *   classic optimizers, hypergradient descent on the learning rate (adapt.h):
 *     {"lr": "hypergradient", "beta": 1e-4, "per_tensor": false,
 *      "lr_min": 1e-8, "lr_max": 10}
 *   learned and hybrid optimizers, the online PES learner (online_es.h):
 *     {"learner": "pes", "rate": 0.03, "memory": 64, "sigma": 0.1,
 *      "window": 8, "per_tensor": false, "seed": 0}
 * Fields of one form are refused in the other; which optimizer kinds may use
 * which form is checked by spec.c (adapt_spec_check_kind).
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_ADAPT_SPEC_H
#define OPTIRS_ADAPT_SPEC_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "adapt.h"
#include "online_es.h"
#include "opt.h"

/* Parses `v` into *cfg and *es (which hold the defaults).  0, or
 * ERR_INVALID_ARGUMENT / ERR_OUT_OF_RANGE / ERR_NON_FINITE /
 * ERR_UNKNOWN_FIELD with msg filled. */
int    adapt_spec_parse(const cJSON *v, adapt_config *cfg, online_es_config *es, char *msg, size_t cap);
/* Whether optimizer `vt` may use this adaptation: 0, or ERR_INVALID_ARGUMENT
 * with msg filled (hypergradient: classic only; learner: learned or hybrid). */
int    adapt_spec_check_kind(const adapt_config *cfg, const online_es_config *es, const opt_vtbl *vt, char *msg,
                             size_t cap);
/* The normalized object; NULL when nothing adapts.  The caller owns it. */
cJSON *adapt_spec_json(const adapt_config *cfg, const online_es_config *es);

#endif
