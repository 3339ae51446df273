/* step_seq.h — the step protocol's decision: what a step request for step k
 * does to a session whose last step is `last`.
 *
 * Sequencing: k == last + 1 is applied (by a shared session, gathered until
 * every worker has sent it); k == last (> 0) is a retry and answers the
 * stored update again without applying anything; any other k is
 * step_conflict (expected last + 1).  The checks run in a fixed order, so
 * that a retry of the step that made a session diverge still gets its
 * answer, and a deleted session or a refused non-finite gradient wins over
 * everything.  Divergence: a finite loss above factor × the best finite
 * loss seen (both > 0) makes the session diverge before the step is applied.
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_STEP_SEQ_H
#define OPTIRS_STEP_SEQ_H

#include <stdint.h>

typedef enum {
    STEP_SEQ_NON_FINITE,   /* a non-finite gradient or loss, policy reject: ERR_NON_FINITE */
    STEP_SEQ_DELETED,      /* the session was deleted: ERR_SESSION_NOT_FOUND */
    STEP_SEQ_REPLAY,       /* k == last > 0: answer the stored update, apply nothing */
    STEP_SEQ_DIVERGED,     /* the session diverged: ERR_SESSION_DIVERGED */
    STEP_SEQ_CLOSED,       /* finished or archived: ERR_SESSION_CLOSED */
    STEP_SEQ_CONFLICT,     /* k is not last + 1: ERR_STEP_CONFLICT */
    STEP_SEQ_APPLY,        /* k == last + 1, one worker: apply it now */
    STEP_SEQ_NO_WORKER,    /* a shared session and no worker named: ERR_BAD_HEADER */
    STEP_SEQ_GATHER,       /* k == last + 1, shared: add this worker's gradients */
} step_seq_action;

typedef struct step_seq_in {
    int64_t last;          /* the session's last step (0: none yet) */
    int64_t k;             /* the step asked for */
    int     nonfinite;     /* the request has a non-finite gradient or loss */
    int     skip_nonfinite;/* the session's non_finite policy is skip */
    int     deleted;
    int     diverged;
    int     closed;        /* finished or archived (session_life.h) */
    int     workers;       /* the session's workers (1: not shared) */
    int     has_worker;    /* the request names its worker */
} step_seq_in;

step_seq_action step_seq_decide(const step_seq_in *in);
/* 1 when a step with `loss` makes a session diverge (factor 0: never). */
int step_seq_diverges(double factor, double best_loss, double loss);

#endif
