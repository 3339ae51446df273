/* study_bind.h — a session bound to a study's trial (`"trial": "STUDY/N"` on
 * POST /v1/sessions; docs/studies.md#sessions-bound-to-a-trial).
 *
 * At creation the trial must be running and belong to the session's tenant;
 * each of its parameters that names a hyperparameter of the session's
 * optimizer sets it (the trial's value wins over the request's; one out of
 * the optimizer's range refuses the session); the other parameters are the
 * client's (a batch size, an architecture).  Afterwards every step that
 * carries a finite loss is reported as the trial's intermediate value at
 * that step (its heartbeat too), and the pruner's answer comes back: a
 * pruned trial's session answers its next step 410 trial_pruned (the
 * server's part, sessions.c).
 * Errors: those of study.h and spec.h, with a message.
 * Thread rules: any thread (the study service serialises its changes). */
#ifndef OPTIRS_STUDY_BIND_H
#define OPTIRS_STUDY_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "study.h"

/* Applies sp->trial's parameters to sp's hyperparameters (sp->tenant is the
 * session's tenant).  0 when sp has no trial. */
int study_bind_spec(study_svc *sv, spec *sp, char *msg, size_t cap);
/* Reports `loss` at `step` to the trial `ref` of `tenant`.  *pruned = 1 when
 * the trial is pruned now (by this report or before); 0 otherwise, also
 * when it ended another way (complete, failed, lost: nothing to stop). */
int study_bind_report(study_svc *sv, const char *tenant, const char *ref, int64_t step, double loss, int *pruned);

/* *pruned = 1 when the trial `ref` of `tenant` is pruned already: what a
 * restarted daemon asks before a bound session's first step (the session
 * knows of a pruning only from its own reports).  Errors of study.h. */
int study_bind_pruned(study_svc *sv, const char *tenant, const char *ref, int *pruned);

#endif
