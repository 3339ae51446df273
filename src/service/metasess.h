/* metasess.h — meta-sessions: first-order meta-learning (Reptile, FOMAML)
 * of a client's own model, whose tasks the clients adapt on themselves
 * (docs/meta-learning.md, "Meta-sessions").  Decoded inputs in, cJSON
 * answers or an error code out; no HTTP.
 *
 * A meta-session holds θ for a model layout (metasess_spec.h) and gathers
 * round r's contributions, one per task (gather.h, a task in a worker's
 * slot): Reptile's adapted parameters θ_task (its outer gradient θ − θ_task
 * is taken at once), FOMAML's query gradient at the adapted parameters.
 * The K-th distinct task of the round applies the outer step (meta_outer.h: SGD
 * or Adam, step number r + 1) with the mean of the K gradients summed in
 * the byte order of the task ids (gather_mean_by_name), so the result does
 * not depend on the order they came in; the round then advances.
 *
 * Idempotency per (task, round): the same task again in the open round
 * replaces its contribution (a retry); a task of the round just applied
 * sending it again gets {"duplicate": true} and changes nothing; any other
 * round is ERR_STALE_ROUND.  A non-finite gradient (NaN/inf sent, or an
 * overflowing θ − θ_task) is ERR_NON_FINITE and changes nothing; a mean
 * whose outer step would make θ non-finite is ERR_NON_FINITE_UPDATE and
 * the round stays open with its contributions.
 *
 * Memory: metasess_bytes says what a session holds (θ, the outer optimizer's
 * moments and a scratch copy as doubles, K gathered float32 vectors); a
 * create over the per-session limit is ERR_SESSION_TOO_LARGE, over what
 * the service may hold in all ERR_MEMORY_BUDGET, past METASESS_MAX_SESSIONS
 * ERR_TOO_MANY_SESSIONS — checked before anything of its size is allocated.
 *
 * Tenants: `tenant` NULL sees every meta-session (an admin key); otherwise
 * another tenant's is ERR_NOT_FOUND, exactly like a missing one.
 * Durability: every change is committed (store_metasess.h) before the call
 * returns and before memory changes; metasess_svc_new loads every stored
 * meta-session with its open round's contributions.
 * Thread rules: any thread; one mutex per service. */
#ifndef OPTIRS_METASESS_H
#define OPTIRS_METASESS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "store.h"

#define METASESS_MAX_SESSIONS 1000
#define METASESS_MAX_PARAMS   ((size_t)1 << 24)

typedef struct metasess_svc metasess_svc;

/* A service over db: loads the stored meta-sessions.  max_params: the
 * parameters a new one may have (at most METASESS_MAX_PARAMS; the daemon's
 * max-params); max_bytes: what one may hold; budget: all of them.  now_ms
 * NULL: the wall clock.  0 or ERR_NO_MEMORY / ERR_STORAGE / ERR_CORRUPT. */
int  metasess_svc_new(store *db, size_t max_params, uint64_t max_bytes, uint64_t budget, int64_t (*now_ms)(void),
                      metasess_svc **out);
void metasess_svc_free(metasess_svc *sv);

/* What a meta-session of P parameters gathering K tasks holds (saturating). */
uint64_t metasess_bytes(size_t P, int K);

/* A new meta-session of `tenant` from the request object; *out as GET. */
int metasess_create(metasess_svc *sv, const char *tenant, const cJSON *body, cJSON **out, char *msg, size_t cap);
/* {id, name, method, tensors, …, round, contributions, meta_batch, tasks}. */
int metasess_get(metasess_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap);
/* {"meta_sessions": [...]}: the tenant's, oldest first. */
int metasess_list(metasess_svc *sv, const char *tenant, cJSON **out, char *msg, size_t cap);
/* {id, round, method, tensors, params}: the current θ (float32 values as
 * doubles, the wire's precision), in tensor order. */
int metasess_init(metasess_svc *sv, const char *tenant, const char *id, cJSON **out, char *msg, size_t cap);
/* The current θ as float32 into a malloc'd *out (*n values) and the round. */
int metasess_init_f32(metasess_svc *sv, const char *tenant, const char *id, float **out, size_t *n, int64_t *round,
                   char *msg, size_t cap);
/* A contribution, the request body's text: {"task": id (UTF-8, 1..63
 * bytes), "round": r, "params": [P] (reptile) | "grad": [P] (fomaml)}.
 * *out {id, task, round, accepted, replaced, duplicate, applied,
 * contributions, meta_batch, current_round}. */
int metasess_contribute(metasess_svc *sv, const char *tenant, const char *id, const char *body, size_t len, cJSON **out,
                     char *msg, size_t cap);
int metasess_delete(metasess_svc *sv, const char *tenant, const char *id, char *msg, size_t cap);

#endif
