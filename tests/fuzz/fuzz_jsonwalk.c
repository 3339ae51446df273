/* fuzz_jsonwalk.c — libFuzzer target for service/jsonwalk: walks a top-level
 * object the way the step and feedback decoders do ("grads" and "params"
 * through f32json straight into a float buffer, everything else through
 * cJSON) on an exactly sized, unterminated buffer.
 * Oracles: the sanitizers; *used never runs past the bytes offered; a
 * successful walk reports no more than 32 members... (jsonwalk's limit). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "f32json.h"
#include "jsonwalk.h"

typedef struct ctx { int members; float grads[256]; size_t ngrads; } ctx;

static int member(void *p, const char *key, const char *val, size_t avail, size_t *used)
{
    ctx *c = p;
    c->members++;
    if (strlen(key) > 4096) abort();
    if (strcmp(key, "grads") == 0 || strcmp(key, "params") == 0) {
        int rc = f32json_parse_array(val, avail, c->grads, 256, &c->ngrads, used);
        if (rc) return jsonwalk_classify(val, avail);
        if (*used > avail) abort();
        return 0;
    }
    cJSON *v = jsonwalk_cjson(val, avail, used);
    if (!v) return ERR_INVALID_JSON;
    if (*used > avail) abort();
    char *txt = cJSON_PrintUnformatted(v);
    free(txt);
    cJSON_Delete(v);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ctx c = {0};
    char msg[200];
    msg[0] = '\0';
    int rc = jsonwalk_object((const char *)data, size, member, &c, msg, sizeof msg);
    if (rc > 0) abort();
    if (strlen(msg) >= sizeof msg) abort();
    (void)jsonwalk_classify((const char *)data, size);
    return 0;
}
