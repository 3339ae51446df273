/* spec.h — a session's description: what `POST /v1/sessions` asks for, and
 * what is stored as the session's meta JSON (restored by the same parser).
 *
 * spec_parse validates everything a client can send (optimizer, each
 * hyperparameter against its bounds, schedule, tensor shapes and the
 * parameter limit, durability, workers, names and tags, the domain's word and
 * that the optimizer has weights records) and never lets a bad
 * value through; spec_to_json gives the normalized description with every
 * default filled in.  Which record a "domain" picks is domain_resolve's
 * (domain.h): it needs the store.
 * Ownership: spec_deinit frees what spec_parse allocated.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_SPEC_H
#define OPTIRS_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "adapt.h"
#include "groups.h"
#include "online_es.h"
#include "opt.h"

typedef enum { DURABILITY_CHECKPOINT, DURABILITY_STEP } durability;
/* What a step with a non-finite gradient or loss does. */
typedef enum { NON_FINITE_REJECT, NON_FINITE_SKIP } non_finite_policy;

#define SPEC_MAX_WORKERS 64
#define SPEC_NAME_MAX    128
#define SPEC_MAX_TAGS    32
#define SPEC_TAG_KEY_MAX 64      /* bytes of a tag's name */
#define SPEC_TAG_VALUE_MAX 256   /* bytes of a tag's value */
#define SPEC_TRIAL_MAX   96      /* "STUDY/N" with its NUL: a study id of 1..64 bytes, '/', a trial number */

typedef struct spec {
    opt_config  ocfg;
    layout      lay;
    durability  dur;
    non_finite_policy non_finite;
    double      divergence_factor;  /* 0: off; else a loss above factor × best loss diverges */
    int         workers;
    int64_t     total_steps;
    char        name[SPEC_NAME_MAX];
    char        weights[64];        /* learned optimizers: weights record, "" = default */
    char        domain[16];         /* learned optimizers: "" or a session domain (domain.h) */
    char        trial[SPEC_TRIAL_MAX]; /* "STUDY/N": the study trial the session is bound to (study_bind.h), "" = none */
    cJSON      *tags;               /* object of strings, or NULL */
    float      *params;             /* initial parameters (lay.n), or NULL for zeros */
    char        tenant[64];         /* the owner: set by the server, or restored */
    adapt_config adapt;             /* online adaptation ("adapt"); lr == ADAPT_LR_NONE: none */
    online_es_config learner;       /* "adapt": {"learner": "pes", …}; enabled == 0: none */
    spec_groups  groups;            /* "groups" (groups.h); groups.n == 0: none */
    /* restored sessions only */
    char        id[40];
    int64_t     created_ms;
} spec;

/* Parses a create request (restoring=0) or stored meta JSON (restoring=1,
 * which also accepts id, created_ms and num_params).  On error returns the
 * ERR_* and writes a message naming the offending field into msg. */
int    spec_parse(spec *sp, const char *body, size_t len, size_t max_params, int restoring,
                  char *msg, size_t msgcap);
void   spec_deinit(spec *sp);
/* Checks a "tags" value: an object of at most SPEC_MAX_TAGS strings, names
 * and values within their limits, no name twice.  0 or ERR_* (msg filled). */
int    spec_tags_check(const cJSON *v, char *msg, size_t cap);
/* 1 when ref is "STUDY/N" (a study id of 1..64 bytes of [A-Za-z0-9_-], a
 * trial number 0..2^53); then the id goes to study (cap bytes; may be NULL)
 * and the number to *number (may be NULL).  0 otherwise. */
int    spec_trial_ref_parse(const char *ref, char *study, size_t cap, int64_t *number);
/* The normalized description (no params).  The caller frees it. */
cJSON *spec_to_json(const spec *sp);
/* oc's hyperparameters as a JSON object, name -> value (a named value's
 * name, a number exactly), every one of its optimizer's, or with
 * omit_record_shape those a weights record does not fix (lopt_shape_hp).
 * NULL when out of memory or the optimizer is unknown.  The caller frees it. */
cJSON *spec_hparams_json(const opt_config *oc, int omit_record_shape);
/* A "tensors" array ([{"name", "shape"}, …], as a session's) into lay:
 * 1 to 4096 tensors, unnamed ones called t<index>, at most max_params
 * parameters; "inputs" and "role" are accepted only with allow_graph (the
 * caller then parses the graph).  0 or ERR_INVALID_SHAPE /
 * ERR_INVALID_ARGUMENT / ERR_INVALID_JSON / ERR_UNKNOWN_FIELD /
 * ERR_TOO_MANY_PARAMS / ERR_NO_MEMORY with msg (lay then untouched). */
int    spec_tensors_parse(const cJSON *tensors, size_t max_params, int allow_graph, layout *lay, char *msg,
                          size_t cap);

#endif
