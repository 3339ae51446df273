/* fewshot_record.h — a few-shot meta-learning result as a weights record:
 * the network's shape, the meta-learned initialisation θ and the inner
 * learning rate (a scalar, or Meta-SGD's per-parameter vector), with its
 * checksummed blob (BLOB_KIND_FEWSHOT) and a process-wide named table.
 *
 * Blob payload, version 1: method (string), nlayers (u32), sizes[0..nlayers]
 * (u32), inner_lr (f64), has_alpha (u32), nparams (u64), θ (nparams f32),
 * then α (nparams f32) when has_alpha.  θ is in fsnet's tensor order
 * (l1.weight [in, out], l1.bias, …).  A blob that does not match its own
 * shape, or holds a non-finite value, is ERR_CORRUPT.
 *
 * The named table (fewshot_registry_*) is what the meta_sgd optimizer reads
 * at init (opt_metasgd.c): core has no locks, so callers serialise it with
 * the learned-optimizer table's (the service's meta_weights_lock).
 * Ownership: a record owns theta and alpha; fewshot_record_deinit frees. */
#ifndef OPTIRS_FEWSHOT_RECORD_H
#define OPTIRS_FEWSHOT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "fewshot.h"
#include "fsnet.h"

#define FEWSHOT_RECORD_VERSION 1u

typedef struct fewshot_record {
    int    method;       /* FEWSHOT_* */
    fsnet  net;
    double inner_lr;     /* the scalar rate (Meta-SGD: the initial one) */
    float *theta;        /* net.nparams */
    float *alpha;        /* net.nparams learned rates, or NULL */
} fewshot_record;

/* The record of a job's current state (θ and α rounded to float32). */
int  fewshot_record_from_job(const fewshot_job *j, fewshot_record *out);
int  fewshot_record_save(const fewshot_record *r, uint8_t **out, size_t *out_len);
/* 0, ERR_CORRUPT or ERR_NO_MEMORY. */
int  fewshot_record_load(fewshot_record *r, const void *data, size_t len);
int  fewshot_record_copy(fewshot_record *dst, const fewshot_record *src);
void fewshot_record_deinit(fewshot_record *r);   /* zeroes r; safe on a zeroed r */
/* The rate of parameter i. */
double fewshot_record_rate(const fewshot_record *r, size_t i);

/* Puts a copy under `name` (replacing), finds one (NULL when none), removes
 * all.  0, ERR_INVALID_ARGUMENT (name too long) or ERR_NO_MEMORY. */
int                   fewshot_registry_put(const char *name, const fewshot_record *r);
const fewshot_record *fewshot_registry_find(const char *name);
void                  fewshot_registry_clear(void);

#endif
