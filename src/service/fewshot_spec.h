/* fewshot_spec.h — a few-shot meta-learning request (MAML, FOMAML,
 * Meta-SGD, Reptile on the sinusoid family: core's fewshot.h), from the JSON
 * body of POST /v1/meta/jobs (a body with "method") or the command line
 * (`optirsd maml --key value`).
 *
 * Keys (docs/meta-learning.md documents each): method ("maml" | "fomaml" |
 * "meta_sgd" | "reptile"; the command line also takes "pretrain"), task
 * ("sinusoid", the only family), shots, inner_steps, inner_lr, meta_batch,
 * outer_lr, outer_steps, seed, name.  Every number is checked against its
 * bounds when it is set (ERR_OUT_OF_RANGE), every other key is
 * ERR_UNKNOWN_FIELD, an unknown method or task ERR_INVALID_ARGUMENT; a
 * duplicate JSON key is ERR_INVALID_JSON.
 *
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_FEWSHOT_SPEC_H
#define OPTIRS_FEWSHOT_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "fewshot.h"
#include "meta_spec.h"

#define FEWSHOT_MAX_OUTER_STEPS 200000

typedef struct fewshot_spec {
    fewshot_config fc;
    char    name[META_WNAME_MAX];
    int64_t outer_steps;
    int     curve_every;          /* a curve point (mean meta-loss) every this many outer steps */
} fewshot_spec;

/* method maml, 5 shots, 1 inner step, α 0.01, meta-batch 25, outer lr 1e-3,
 * 20000 outer steps, seed 0, name "sine-maml". */
void   fewshot_spec_defaults(fewshot_spec *sp);
/* Sets one key from its text.  allow_pretrain: the command line's extra
 * method.  0 or ERR_* with msg. */
int    fewshot_spec_set(fewshot_spec *sp, const char *key, const char *value, int allow_pretrain, char *msg,
                        size_t cap);
/* A JSON object of the keys (numbers as numbers, method/task/name as strings). */
int    fewshot_spec_from_json(fewshot_spec *sp, const cJSON *obj, char *msg, size_t cap);
/* The normalised request; the caller frees it. */
cJSON *fewshot_spec_to_json(const fewshot_spec *sp);
/* 1 when a JSON request body is a few-shot one (it has "method"). */
int    fewshot_spec_is_request(const cJSON *obj);

#endif
