/* fewshot_run.h — one few-shot meta-learning job (MAML, FOMAML, Meta-SGD,
 * Reptile on the sinusoid family) run to its end on the calling thread, on
 * the meta-training job machinery: its row in the store gets the progress
 * (step, wall time) and a curve point (the mean meta-loss of the last
 * curve_every outer steps) every curve_every steps; the cancel flag of
 * meta_run_io is checked between outer steps; at the end the result is the
 * next version of the weights record sp->name (arch = the method, domain
 * synthetic, a BLOB_KIND_FEWSHOT blob: fewshot_record.h), published into
 * core's few-shot table (meta_weights_publish).  A cancelled or
 * interrupted job stores nothing (no checkpoint: the runs are minutes).
 *
 * Thread rules: any thread; the job's row must exist before fewshot_run. */
#ifndef OPTIRS_FEWSHOT_RUN_H
#define OPTIRS_FEWSHOT_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "fewshot_spec.h"
#include "meta_run.h"
#include "store.h"

/* Checks what the request alone cannot: the job's memory, and that sp->name
 * is not a record of another kind (a learned optimizer's weights, or a
 * domain default's name).  0, ERR_INVALID_ARGUMENT, ERR_OUT_OF_RANGE or
 * ERR_STORAGE with msg. */
int fewshot_run_check(store *db, const fewshot_spec *sp, char *msg, size_t cap);
/* Runs job `id`.  Returns 0 (done; *wversion = the record's version), 1
 * (cancelled or interrupted) or an ERR_* (the row says "failed" with msg). */
int fewshot_run(store *db, const char *id, const fewshot_spec *sp, const meta_run_io *io, int64_t *wversion,
                char *msg, size_t cap);

#endif
