/* study_bind.c — sessions bound to a study's trial.  See study_bind.h. */
#include "study_bind.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "opt.h"

int study_bind_spec(study_svc *sv, spec *sp, char *msg, size_t cap)
{
    if (!sp->trial[0]) return 0;
    char id[72];
    int64_t n;
    if (!spec_trial_ref_parse(sp->trial, id, sizeof id, &n)) {
        snprintf(msg, cap, "trial must be \"STUDY/N\"");
        return ERR_INVALID_ARGUMENT;
    }
    cJSON *params = NULL;
    int rc = study_trial_params(sv, sp->tenant, id, n, &params, msg, cap);
    if (rc) return rc;
    const opt_vtbl *vt = opt_find(sp->ocfg.name);
    for (const cJSON *p = params->child; !rc && p; p = p->next) {
        int i = vt ? opt_hparam_index(vt, p->string) : -1;
        if (i < 0) continue;   /* not a hyperparameter of the optimizer: the client's */
        if (opt_hparam_values(vt, i)) {
            /* a hyperparameter whose values are names (mlp_lopt's activation): one of them, as a
             * categorical parameter of the study gives it */
            int k = cJSON_IsString(p) ? opt_hparam_value_index(vt, i, p->valuestring) : -1;
            if (k < 0) {
                snprintf(msg, cap, "trial %s sets hyperparameter %s to a value that is none of its names (a "
                         "categorical of them, GET /v1/optimizers lists them)", sp->trial, p->string);
                rc = ERR_INVALID_ARGUMENT;
            } else opt_config_set(&sp->ocfg, p->string, k);
            continue;
        }
        if (!cJSON_IsNumber(p)) {
            snprintf(msg, cap, "trial %s sets hyperparameter %s to a value that is not a number", sp->trial,
                     p->string);
            rc = ERR_INVALID_ARGUMENT;
        } else if (opt_config_set(&sp->ocfg, p->string, p->valuedouble) != 0) {
            snprintf(msg, cap, "trial %s sets hyperparameter %s = %g, outside optimizer %s's range", sp->trial,
                     p->string, p->valuedouble, sp->ocfg.name);
            rc = ERR_OUT_OF_RANGE;
        }
    }
    cJSON_Delete(params);
    return rc;
}

int study_bind_report(study_svc *sv, const char *tenant, const char *ref, int64_t step, double loss, int *pruned)
{
    *pruned = 0;
    char id[72], msg[200];
    int64_t n;
    if (!isfinite(loss) || step < 0) return 0;   /* nothing a trial can take */
    if (!spec_trial_ref_parse(ref, id, sizeof id, &n)) return ERR_INVALID_ARGUMENT;
    int rc = study_report(sv, tenant, id, n, step, loss, pruned, msg, sizeof msg);
    return rc == ERR_TRIAL_FINISHED ? 0 : rc;   /* *pruned says whether it was pruned */
}

int study_bind_pruned(study_svc *sv, const char *tenant, const char *ref, int *pruned)
{
    *pruned = 0;
    char id[72], msg[200];
    int64_t n;
    if (!spec_trial_ref_parse(ref, id, sizeof id, &n)) return ERR_INVALID_ARGUMENT;
    const char *state = NULL;
    int rc = study_trial_state(sv, tenant, id, n, &state, msg, sizeof msg);
    if (!rc) *pruned = strcmp(state, "pruned") == 0;
    return rc;
}
