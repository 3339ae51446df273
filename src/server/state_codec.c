/* state_codec.c — see state_codec.h. */
#include "state_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base64.h"
#include "errors.h"
#include "jsonwalk.h"

static void sha256_hex(const uint8_t *blob, size_t len, char hex[65])
{
    uint8_t d[32];
    auth_sha256(blob, len, d);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

/* Sorts every object's members by key, recursively (insertion sort: specs
 * are small), so the canonical text does not depend on member order. */
static void sort_members(cJSON *v)
{
    for (cJSON *c = v ? v->child : NULL; c; c = c->next) sort_members(c);
    if (!cJSON_IsObject(v) || !v->child) return;
    cJSON *sorted = NULL;
    for (cJSON *c = v->child, *next; c; c = next) {
        next = c->next;
        cJSON **at = &sorted;
        while (*at && strcmp((*at)->string, c->string) <= 0) at = &(*at)->next;
        c->next = *at;
        *at = c;
    }
    /* relink prev pointers: cJSON keeps child->prev at the last member */
    cJSON *last = NULL;
    for (cJSON *c = sorted; c; c = c->next) {
        c->prev = last;
        last = c;
    }
    sorted->prev = last;
    v->child = sorted;
}

/* SHA-256 (hex) of the spec's canonical text: members sorted by key,
 * printed by cJSON without spaces.  0 or ERR_NO_MEMORY. */
static int spec_hash(const cJSON *spec_json, char hex[65])
{
    cJSON *c = cJSON_Duplicate(spec_json, 1);
    if (!c) return ERR_NO_MEMORY;
    sort_members(c);
    char *t = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    if (!t) return ERR_NO_MEMORY;
    sha256_hex((const uint8_t *)t, strlen(t), hex);
    free(t);
    return 0;
}

int state_codec_encode(cJSON *spec_json, int64_t step, const uint8_t *blob, size_t len, char **out,
                       size_t *out_len)
{
    const cJSON *oname = cJSON_GetObjectItemCaseSensitive(spec_json, "optimizer");
    cJSON *np = cJSON_DetachItemFromObjectCaseSensitive(spec_json, "num_params");
    if (!cJSON_IsString(oname) || !cJSON_IsNumber(np)) {
        cJSON_Delete(np);
        return ERR_INVALID_ARGUMENT;
    }
    char hex[65], spec_hex[65];
    sha256_hex(blob, len, hex);
    if (spec_hash(spec_json, spec_hex) != 0) {
        cJSON_Delete(np);
        return ERR_NO_MEMORY;
    }
    /* The header through cJSON; the (large) base64 text is written straight
     * after it, never copied into a cJSON string. */
    cJSON *h = cJSON_CreateObject();
    int rc = ERR_NO_MEMORY;
    char *head = NULL;
    if (h && cJSON_AddStringToObject(h, "format", STATE_CODEC_FORMAT) &&
        cJSON_AddNumberToObject(h, "version", STATE_CODEC_VERSION) &&
        cJSON_AddStringToObject(h, "optimizer", oname->valuestring) &&
        cJSON_AddNumberToObject(h, "step", (double)step) && cJSON_AddItemToObject(h, "num_params", np)) {
        np = NULL;
        cJSON *sp = cJSON_Duplicate(spec_json, 1);
        if (sp && cJSON_AddItemToObject(h, "spec", sp) && cJSON_AddStringToObject(h, "spec_sha256", spec_hex) &&
            cJSON_AddNumberToObject(h, "state_bytes", (double)len) &&
            cJSON_AddStringToObject(h, "state_sha256", hex))
            head = cJSON_PrintUnformatted(h);
    }
    cJSON_Delete(np);
    cJSON_Delete(h);
    size_t b64_len = base64_encoded_len(len);
    if (head) rc = b64_len > SIZE_MAX / 2 ? ERR_OUTPUT_TOO_LARGE : 0;
    if (!rc) {
        size_t hl = strlen(head);   /* ends with '}' */
        static const char key[] = ",\"state\":\"";
        size_t total = hl - 1 + (sizeof key - 1) + b64_len + 2;
        char *o = malloc(total + 1);
        if (!o) rc = ERR_NO_MEMORY;
        else {
            size_t k = 0;
            memcpy(o, head, hl - 1);
            k += hl - 1;
            memcpy(o + k, key, sizeof key - 1);
            k += sizeof key - 1;
            base64_encode_into(blob, len, o + k);   /* straight into the answer: no copy */
            k += b64_len;
            o[k++] = '"';
            o[k++] = '}';
            o[k] = '\0';
            *out = o;
            *out_len = k;
        }
    }
    free(head);
    return rc;
}

static int bad(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return ERR_INVALID_STATE;
}

static const char *const members[] = {"format", "version", "optimizer", "step", "num_params", "spec",
                                      "spec_sha256", "state_bytes", "state_sha256", "state"};
#define NMEMBERS ((int)(sizeof members / sizeof members[0]))

int state_codec_decode(const cJSON *env, cJSON **spec_json, int64_t *num_params, int64_t *step, uint8_t **blob,
                       size_t *len, char *msg, size_t msgcap)
{
    *spec_json = NULL;
    *blob = NULL;
    if (!cJSON_IsObject(env)) return bad(msg, msgcap, "state must be the object GET /v1/sessions/{id}/state gives");
    if (jsonwalk_has_duplicate(env)) return bad(msg, msgcap, "state names a member twice");
    for (const cJSON *m = env->child; m; m = m->next) {
        int known = 0;
        for (int i = 0; i < NMEMBERS && !known; i++) known = strcmp(m->string, members[i]) == 0;
        if (!known) return bad(msg, msgcap, "state has an unknown member \"%.64s\"", m->string);
    }
    const cJSON *v[NMEMBERS];
    for (int i = 0; i < NMEMBERS; i++)
        if (!(v[i] = cJSON_GetObjectItemCaseSensitive(env, members[i])))
            return bad(msg, msgcap, "state lacks \"%s\"", members[i]);
    const cJSON *format = v[0], *version = v[1], *oname = v[2], *stp = v[3], *np = v[4], *sj = v[5],
                *spec_sha = v[6], *nbytes = v[7], *sha = v[8], *text = v[9];
    if (!cJSON_IsString(format) || strcmp(format->valuestring, STATE_CODEC_FORMAT) != 0)
        return bad(msg, msgcap, "state.format must be \"%s\"", STATE_CODEC_FORMAT);
    int64_t ver = 0, nb = 0;
    if (jsonwalk_int(version, 1, 1e9, &ver) != 0 || ver != STATE_CODEC_VERSION)
        return bad(msg, msgcap, "state.version must be %d (this daemon reads no other)", STATE_CODEC_VERSION);
    if (jsonwalk_int(stp, 0, 9e15, step) != 0) return bad(msg, msgcap, "state.step must be an integer >= 0");
    if (jsonwalk_int(np, 1, 9e15, num_params) != 0) return bad(msg, msgcap, "state.num_params must be an integer >= 1");
    if (jsonwalk_int(nbytes, 1, 9e15, &nb) != 0) return bad(msg, msgcap, "state.state_bytes must be an integer >= 1");
    if (!cJSON_IsString(sha) || strlen(sha->valuestring) != 64)
        return bad(msg, msgcap, "state.state_sha256 must be 64 lowercase hex digits");
    if (!cJSON_IsString(oname) || !cJSON_IsObject(sj))
        return bad(msg, msgcap, "state.optimizer must be a string and state.spec an object");
    char spec_hex[65];
    if (spec_hash(sj, spec_hex) != 0) return ERR_NO_MEMORY;
    if (!cJSON_IsString(spec_sha) || strcmp(spec_hex, spec_sha->valuestring) != 0)
        return bad(msg, msgcap, "state.spec does not have the SHA-256 state.spec_sha256 gives: the spec was changed "
                   "(only name and tags may be replaced, beside state)");
    const cJSON *sopt = cJSON_GetObjectItemCaseSensitive(sj, "optimizer");
    if (!cJSON_IsString(sopt) || strcmp(sopt->valuestring, oname->valuestring) != 0)
        return bad(msg, msgcap, "state.optimizer (%.48s) is not the optimizer of state.spec", oname->valuestring);
    if (!cJSON_IsString(text)) return bad(msg, msgcap, "state.state must be a base64 string");
    size_t tl = strlen(text->valuestring);
    /* the decoded size is known before anything is allocated */
    if (tl % 4 != 0 || tl / 4 * 3 < (uint64_t)nb || tl / 4 * 3 - (uint64_t)nb > 2)
        return bad(msg, msgcap, "state.state is not base64 of state.state_bytes (%lld) bytes", (long long)nb);
    int rc = base64_decode(text->valuestring, tl, blob, len);
    if (rc == ERR_NO_MEMORY) return rc;
    if (rc || *len != (size_t)nb) {
        free(*blob);
        *blob = NULL;
        return bad(msg, msgcap, "state.state is not canonical base64 of state.state_bytes (%lld) bytes", (long long)nb);
    }
    char hex[65];
    sha256_hex(*blob, *len, hex);
    if (strcmp(hex, sha->valuestring) != 0) {
        free(*blob);
        *blob = NULL;
        return bad(msg, msgcap, "state.state does not have the SHA-256 state.state_sha256 gives: the state is damaged");
    }
    if (!(*spec_json = cJSON_Duplicate(sj, 1))) {
        free(*blob);
        *blob = NULL;
        return ERR_NO_MEMORY;
    }
    return 0;
}

/* The top-level members of a create body that imports a state. */
typedef struct import_walk {
    cJSON *state, *name, *tags;
    int    other;                  /* another member was seen */
    char   other_key[64];
} import_walk;

static int import_member(void *ctx, const char *key, const char *val, size_t avail, size_t *used)
{
    import_walk *w = ctx;
    cJSON *v = jsonwalk_cjson(val, avail, used);
    if (!v) return ERR_INVALID_JSON;
    cJSON **slot = strcmp(key, "state") == 0 ? &w->state
                 : strcmp(key, "name") == 0  ? &w->name
                 : strcmp(key, "tags") == 0  ? &w->tags : NULL;
    if (slot) *slot = v;
    else {
        if (!w->other) snprintf(w->other_key, sizeof w->other_key, "%s", key);
        w->other = 1;
        cJSON_Delete(v);
    }
    return 0;
}

/* 1 when the text may hold a member "state" (a cheap look before a walk). */
static int mentions_state(const char *body, size_t len)
{
    static const char k[] = "\"state\"";
    return len >= sizeof k - 1 && memmem(body, len, k, sizeof k - 1) != NULL;
}

int state_codec_import_body(const char *body, size_t len, size_t max_params, spec *sp, uint8_t **blob,
                            size_t *blob_len, int64_t *step, char *msg, size_t msgcap)
{
    *blob = NULL;
    if (!mentions_state(body, len)) return 1;
    import_walk w = {0};
    int rc = jsonwalk_object(body, len, import_member, &w, msg, msgcap);
    if (!rc && !w.state) rc = 1;   /* "state" was inside some value: an ordinary create */
    else if (!rc && w.other) {
        snprintf(msg, msgcap, "a create with \"state\" takes only \"name\" and \"tags\" beside it, not \"%s\"",
                 w.other_key);
        rc = ERR_UNKNOWN_FIELD;
    }
    cJSON *spec_json = NULL;
    int64_t np = 0;
    if (!rc) rc = state_codec_decode(w.state, &spec_json, &np, step, blob, blob_len, msg, msgcap);
    cJSON **over[2] = {&w.name, &w.tags};
    static const char *const over_key[2] = {"name", "tags"};
    for (int i = 0; i < 2 && !rc; i++) {
        if (!*over[i]) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(spec_json, over_key[i]);
        if (!cJSON_AddItemToObject(spec_json, over_key[i], *over[i])) rc = ERR_NO_MEMORY;
        else *over[i] = NULL;
    }
    char *text = NULL;
    if (!rc && !(text = cJSON_PrintUnformatted(spec_json))) rc = ERR_NO_MEMORY;
    if (!rc) {
        char why[256];
        rc = spec_parse(sp, text, strlen(text), max_params, 0, why, sizeof why);
        if (rc) snprintf(msg, msgcap, "state.spec: %s", why);
        else if ((int64_t)sp->lay.n != np) {
            snprintf(msg, msgcap, "state.num_params (%lld) is not the size of state.spec's tensors (%zu)",
                     (long long)np, sp->lay.n);
            spec_deinit(sp);
            rc = ERR_INVALID_STATE;
        }
    }
    free(text);
    cJSON_Delete(spec_json);
    cJSON_Delete(w.state);
    cJSON_Delete(w.name);
    cJSON_Delete(w.tags);
    if (rc) {
        free(*blob);
        *blob = NULL;
    }
    return rc;
}
