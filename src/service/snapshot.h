/* snapshot.h — the session snapshot codec: what the store keeps of a live
 * session (blob kind BLOB_KIND_SESSION) and reads back on restart and on a
 * divergence rollback.
 *
 * A snapshot holds the step, the last loss, the parameters, the answer of
 * that step (last_update), the optimizer's state (opt_save), whether that
 * step was applied, the best loss, and the states of the online adaptation
 * and the online learner when the session has them.  Versions: 1; 2 added
 * last_applied and best_loss; 3 the adaptation state; 4 the learner's state.
 * Older versions are read (with defaults for what they lack); newer ones
 * are refused.
 *
 * snapshot_state is a view of a session's state: the codec reads and writes
 * through its pointers and owns nothing.
 * Thread rules: pure; the caller serialises access to the state it views. */
#ifndef OPTIRS_SNAPSHOT_H
#define OPTIRS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"
#include "online_es.h"
#include "opt.h"

#define SNAPSHOT_VERSION 4

typedef struct snapshot_state {
    size_t     n;             /* parameters of the session's layout */
    int64_t    step;          /* last applied (or skipped) step */
    double     last_loss;
    double     best_loss;     /* lowest finite loss seen (NAN: none yet) */
    int        last_applied;  /* 0 when step `step` was skipped */
    float     *params;        /* (n) */
    float     *last_update;   /* (n) the answer of step `step` */
    opt       *o;             /* initialised for the session's spec */
    adapt     *ad;            /* ad->nmult == 0: no adaptation */
    online_es *es;            /* es->K == 0: no online learner */
} snapshot_state;

/* Encodes st (version SNAPSHOT_VERSION).  The caller frees *out.  0 or
 * ERR_* (ERR_NO_MEMORY, or opt_save's error). */
int snapshot_encode(const snapshot_state *st, uint8_t **out, size_t *len);
/* Decodes a snapshot into st, whose n, o, ad and es describe the session it
 * was taken of.  Fields are written as they are read, so on an error st may
 * be partly overwritten; st->step is set only on success.  0, or
 * ERR_CORRUPT (bad blob, other layout, a newer version, adaptation or
 * learner state that does not match the session) or opt_load's error. */
int snapshot_decode(snapshot_state *st, const void *data, size_t len);

#endif
