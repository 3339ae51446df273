/* meta_adapt.h — few-shot specialisation of a learned optimizer to a new
 * domain: the body of POST /v1/meta/jobs with "method": "adapt", turned
 * into an ordinary meta-training job (meta_spec) warm-started from a base
 * weights record.  Not a second trainer: the job runs on the meta-job queue
 * through meta_run like any other, and stores a new weights record.
 *
 * Keys (docs/meta-learning.md#few-shot-specialisation documents each):
 *   method        "adapt" (required)
 *   base          a learned optimizer's weights record (required); its
 *                 architecture, hidden, depth (and attn_lopt's heads and
 *                 sequence length, mlp_lopt's µP base) become the job's
 *   tasks / task  a task text or an array of them (required): the new
 *                 family's tasks, as meta-training takes them
 *   outer_steps   1 to META_ADAPT_MAX_STEPS (default META_ADAPT_DEFAULT_STEPS):
 *                 an adaptation's budget is small by definition
 *   name          the record to produce (required; not the base, not an
 *                 optimizer's general default)
 *   seed          0 to 2^53 − 1 (default 1)
 *   domain        as for meta-training (default: the tasks' domain)
 * The recipe (PES, META_ADAPT_PARTICLES particles, unroll 20, episodes of
 * 200 to 1000 steps, σ 0.01, outer Adam at 3e-4, chosen on a selection split) is fixed here, written
 * once; deploy/meta/experiments/adapt/adapt_deep_mlp.conf is the same job
 * as a config file.
 *
 * Errors: an unknown key ERR_UNKNOWN_FIELD, a repeated key ERR_INVALID_JSON,
 * a missing one ERR_MISSING_FIELD, a number out of bounds ERR_OUT_OF_RANGE,
 * a wrong type, an unknown family or a base that is no learned optimizer's
 * record ERR_INVALID_ARGUMENT — each with a message.
 *
 * Thread rules: reads the weights registry under meta_weights_lock; any
 * thread. */
#ifndef OPTIRS_META_ADAPT_H
#define OPTIRS_META_ADAPT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "meta_spec.h"

#define META_ADAPT_MAX_STEPS     50
#define META_ADAPT_DEFAULT_STEPS 30
#define META_ADAPT_PARTICLES     16

/* 1 when a JSON request body is an adaptation ("method": "adapt"). */
int meta_adapt_is_request(const cJSON *obj);
/* Fills sp (from meta_spec_defaults) with the adaptation job of obj.
 * 0 or ERR_* with msg; meta_spec_check still applies afterwards. */
int meta_adapt_from_json(meta_spec *sp, const cJSON *obj, char *msg, size_t cap);

#endif
