/* metasess_spec.h — the create request of a meta-session (docs/
 * meta-learning.md, "Meta-sessions"), checked and normalised, and the
 * initial θ it asks for.
 *
 * Request: {"method": "reptile" | "fomaml", "tensors": [{"name", "shape"},
 * …] (the client's model layout, as a session's), "meta_batch": K (1 ..
 * METASESS_MAX_K, default 25), "outer_lr" (finite, (0, 10], default 1e-3),
 * "outer_optimizer": "sgd" | "adam" (default "adam", as the in-daemon
 * few-shot jobs), "init": "seeded" (default) | "zeros" | [P numbers],
 * "seed" (0 .. 2^53, default 0; "seeded" only), "name" (UTF-8, 0 to 64
 * bytes)}.  Every other member is ERR_UNKNOWN_FIELD.
 *
 * "seeded": tensor by tensor in order, a tensor of rank ≥ 2 draws
 * N(0, 2/shape[0]) (He, fan-in the first dimension: weights are [in, out]),
 * a rank-1 tensor is zeros — from the stream 0 of seed, the draws of
 * fsnet_init_params: a 1-H-…-1 layout in fsnet's tensor order gets the
 * in-daemon few-shot job's initial θ for that seed, bit for bit.
 *
 * The normalised JSON (metasess_spec_to_json, stored, and read back by
 * metasess_spec_parse on restart) names every member; a given init is stored
 * as "given" (θ itself lives in the state blob).
 * Ownership: metasess_spec_deinit frees the layout.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_METASESS_SPEC_H
#define OPTIRS_METASESS_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "layout.h"

#define METASESS_MAX_K      1000
#define METASESS_NAME_MAX   65            /* a name's bytes, with its NUL */

enum { METASESS_REPTILE = 0, METASESS_FOMAML = 1 };
enum { METASESS_INIT_SEEDED = 0, METASESS_INIT_ZEROS = 1, METASESS_INIT_GIVEN = 2 };

typedef struct metasess_spec {
    int      method;               /* METASESS_* */
    layout   lay;
    int      K;
    double   outer_lr;
    int      outer_opt;            /* META_OUTER_* (meta_outer.h) */
    int      init;                 /* METASESS_INIT_* */
    uint64_t seed;
    char     name[METASESS_NAME_MAX];
} metasess_spec;

/* "reptile", "fomaml"; NULL past the end. */
const char *metasess_method_name(int method);

/* Parses body (an object) into sp; max_params bounds the layout before
 * anything of its size is allocated.  With a given init, *theta (may be
 * NULL: then a given init is refused) receives a malloc'd copy of its P
 * values (the caller frees).  restoring = 1 accepts "init": "given"
 * (normalised JSON read back).  0, or ERR_INVALID_ARGUMENT /
 * ERR_MISSING_FIELD / ERR_UNKNOWN_FIELD / ERR_OUT_OF_RANGE /
 * ERR_NON_FINITE / ERR_LENGTH_MISMATCH / ERR_INVALID_SHAPE /
 * ERR_TOO_MANY_PARAMS / ERR_INVALID_UTF8 / ERR_NO_MEMORY with msg. */
int    metasess_spec_parse(metasess_spec *sp, const cJSON *body, size_t max_params, int restoring, double **theta,
                        char *msg, size_t cap);
void   metasess_spec_deinit(metasess_spec *sp);
/* The normalised request; NULL on ERR_NO_MEMORY. */
cJSON *metasess_spec_to_json(const metasess_spec *sp);
/* θ (lay.n values) as sp's init says ("seeded" or "zeros"; not "given"). */
void   metasess_spec_init_theta(const metasess_spec *sp, double *theta);

#endif
