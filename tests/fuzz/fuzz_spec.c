/* fuzz_spec.c — libFuzzer target for service/spec: the create-request and
 * stored-meta parser.  The first byte picks create (even) or restore (odd);
 * the rest is the body, exactly sized and unterminated.
 * Oracles: the sanitizers; a parsed spec has a layout whose total is within
 * max_params and matches its tensors, hyperparameters within their bounds;
 * its normalized JSON prints; a create request that parses re-parses from
 * its own normalized description (with the params, if any, added back) to
 * the same layout, optimizer and hyperparameters, as a restarted daemon
 * must: service/session.c stores spec_to_json + id/tenant/created_ms as the meta
 * JSON and restores it with spec_parse(restoring=1). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "opt.h"
#include "spec.h"

#define MAX_PARAMS 4096

static void check_spec(const spec *sp)
{
    if (sp->lay.n == 0 || sp->lay.n > MAX_PARAMS) { fprintf(stderr, "n=%zu\n", sp->lay.n); abort(); }
    size_t total = 0;
    for (int i = 0; i < sp->lay.ntensors; i++) {
        if (sp->lay.tensors[i].offset != total) abort();
        total += sp->lay.tensors[i].size;
    }
    if (total != sp->lay.n) abort();
    const opt_vtbl *vt = opt_find(sp->ocfg.name);
    if (!vt) { fprintf(stderr, "unknown optimizer %s accepted\n", sp->ocfg.name); abort(); }
    if (sp->ocfg.nhp != opt_hparam_count(vt)) abort();
    for (int i = 0; i < sp->ocfg.nhp; i++)
        if (opt_hparam_check(opt_hparam_at(vt, i), sp->ocfg.hp[i]) != 0) {
            fprintf(stderr, "hyperparameter %s = %g out of bounds\n", opt_hparam_at(vt, i)->name, sp->ocfg.hp[i]);
            abort();
        }
    if (sp->params)
        for (size_t i = 0; i < sp->lay.n; i++)
            if (!isfinite(sp->params[i])) abort();
    if (sp->workers < 1 || sp->workers > SPEC_MAX_WORKERS) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int restoring = data[0] & 1;
    spec sp;
    char msg[256];
    msg[0] = '\0';
    int rc = spec_parse(&sp, (const char *)data + 1, size - 1, MAX_PARAMS, restoring, msg, sizeof msg);
    if (rc > 0) abort();
    if (rc != 0) {
        if (msg[0] == '\0') { fprintf(stderr, "error %d without a message\n", rc); abort(); }
        return 0;
    }
    check_spec(&sp);
    cJSON *j = spec_to_json(&sp);
    if (!j) abort();
    cJSON_AddStringToObject(j, "id", "00000000-0000-4000-8000-000000000000");
    cJSON_AddStringToObject(j, "tenant", "t");
    cJSON_AddNumberToObject(j, "created_ms", 1700000000000.0);
    char *txt = cJSON_PrintUnformatted(j);
    if (!txt) abort();
    if (!restoring) {
        spec again;
        char msg2[256];
        int rc2 = spec_parse(&again, txt, strlen(txt), MAX_PARAMS, 1, msg2, sizeof msg2);
        if (rc2 != 0) {
            fprintf(stderr, "normalized description does not parse back: %s (%s)\n", msg2, txt);
            abort();
        }
        if (again.lay.n != sp.lay.n || again.lay.ntensors != sp.lay.ntensors ||
            strcmp(again.ocfg.name, sp.ocfg.name) != 0 || again.ocfg.nhp != sp.ocfg.nhp ||
            again.dur != sp.dur || again.workers != sp.workers) {
            fprintf(stderr, "normalized description changes the spec: %s\n", txt);
            abort();
        }
        for (int i = 0; i < sp.ocfg.nhp; i++)
            if (again.ocfg.hp[i] != sp.ocfg.hp[i]) {
                fprintf(stderr, "hyperparameter %d: %.17g -> %.17g in %s\n", i, sp.ocfg.hp[i], again.ocfg.hp[i], txt);
                abort();
            }
        spec_deinit(&again);
    }
    free(txt);
    cJSON_Delete(j);
    spec_deinit(&sp);
    return 0;
}
