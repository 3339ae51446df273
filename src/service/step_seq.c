/* step_seq.c — the step protocol's decision (see step_seq.h). */
#include "step_seq.h"

#include <math.h>

step_seq_action step_seq_decide(const step_seq_in *in)
{
    if (in->nonfinite && !in->skip_nonfinite) return STEP_SEQ_NON_FINITE;
    if (in->deleted) return STEP_SEQ_DELETED;
    if (in->k == in->last && in->k > 0) return STEP_SEQ_REPLAY;
    if (in->diverged) return STEP_SEQ_DIVERGED;
    if (in->closed) return STEP_SEQ_CLOSED;
    if (in->k != in->last + 1) return STEP_SEQ_CONFLICT;
    if (in->workers == 1) return STEP_SEQ_APPLY;
    if (!in->has_worker) return STEP_SEQ_NO_WORKER;
    return STEP_SEQ_GATHER;
}

int step_seq_diverges(double factor, double best_loss, double loss)
{
    return factor > 0 && isfinite(loss) && best_loss > 0 && loss > factor * best_loss;
}
