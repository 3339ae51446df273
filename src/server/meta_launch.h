/* meta_launch.h — one meta-training job of the daemon run through its MPI
 * launcher (--meta-launcher): the launcher's words, then the MPI driver
 * (--meta-mpi-binary, default optirsd-mpi next to this executable) with
 * `meta-train --job ID --db DB` (the database's absolute path).
 *
 * How the job is followed: the driver's rank 0 opens the daemon's own
 * database (SQLite in WAL mode is safe for writers in several processes;
 * each waits for the other's commit up to its busy timeout) and runs the
 * job under the row the daemon inserted ("queued"), exactly as a local job:
 * it sets "running", adds the curve points, the meta-checkpoints and the
 * weights record, and the final status.  GET /v1/meta/jobs reads that row,
 * so it follows the ranks with nothing else in between.  When the launcher
 * has ended, meta_launch_run settles the row: a job the driver finished
 * ("done") has its weights records (the job's own, and its kept
 * checkpoints) published into this daemon's registry (one that cannot be
 * loaded now is logged; the job stays done, and the next start loads it); one asked to stop
 * (DELETE, or the daemon stopping) is "cancelled" / "interrupted" unless it
 * ended otherwise first; any other end — the launcher or a rank failed,
 * the driver could not start — is "failed" with what the launcher's stderr
 * said last (launcher.h) after the driver's own message, if any (cut at
 * their start, not their end, to fit msg).
 *
 * Thread rules: any thread (the job queue's worker thread); blocks until
 * the launcher has ended. */
#ifndef OPTIRS_META_LAUNCH_H
#define OPTIRS_META_LAUNCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_spec.h"

typedef struct app app;

/* Runs job `id` (its row "queued") of spec sp through the launcher.
 * cancel: 0 = go on, 1 = cancel, 2 = the daemon stops (meta_run.h's
 * values).  Returns 0 (done: *wversion the record's version), 1 (cancelled
 * or interrupted) or an ERR_* with msg (the row says "failed"). */
int meta_launch_run(const app *a, const char *id, const meta_spec *sp, _Atomic int *cancel, int64_t *wversion,
                    char *msg, size_t cap);

#endif
