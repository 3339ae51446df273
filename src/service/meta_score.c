/* meta_score.c — theta scored on the selection subset.  See meta_score.h. */
#include "meta_score.h"

#include <math.h>
#include <stdio.h>

#include "errors.h"
#include "meta_continual.h"
#include "meta_spec.h"
#include "tasks.h"

const char *const meta_score_selection[META_SCORE_SELECTION_N] = {"rosenbrock dim=2", "quadratic dim=30",
                                                                  "logistic_regression dim=40 batch=64"};

int meta_score_selection_of(const meta_config *mc, const float *theta, int ntasks, int horizon, int seeds,
                            double *out, char *msg, size_t cap)
{
    *out = NAN;
    if (ntasks < 1 || ntasks > META_SCORE_SELECTION_N || horizon < 1 || seeds < 1) {
        if (msg && cap) snprintf(msg, cap, "the score takes 1 to %d tasks, a horizon and seeds >= 1",
                                 META_SCORE_SELECTION_N);
        return ERR_INVALID_ARGUMENT;
    }
    meta_config e = *mc;
    e.ntasks = ntasks;
    e.nstages = 0;
    for (int i = 0; i < ntasks; i++) {
        int rc = meta_task_parse(meta_score_selection[i], &e.tasks[i], msg, cap);
        if (rc) return rc;
    }
    double sum = 0;
    for (int i = 0; i < ntasks; i++) {
        double l;
        int rc = meta_family_loss(&e, theta, e.tasks[i].family, seeds, horizon, &l);
        if (rc) {
            if (msg && cap)
                snprintf(msg, cap, "the selection score failed on %s: %s (%.150s)", meta_score_selection[i],
                         err_message(rc), tasks_last_error());
            return rc;
        }
        sum += l;
    }
    *out = sum / ntasks;
    if (!isfinite(*out)) {
        if (msg && cap) snprintf(msg, cap, "the selection score is not finite");
        return ERR_INVALID_ARGUMENT;
    }
    return 0;
}
