#include "jsonwalk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "f32json.h"
#include "utf8.h"

#define MAX_KEYS 32

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static int is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
}

/* 1 when every number in the JSON text s[0..n) (which cJSON accepted) follows
 * RFC 8259's grammar (f32json_number_len): cJSON also reads 007, 1., 1.e5
 * and -.5. */
static int numbers_strict(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            size_t k = f32json_number_len(s + i, n - i);
            if (k == 0 || (i + k < n && is_number_char(s[i + k]))) return 0;
            i += k - 1;
        } else if (s[i] >= 'a' && s[i] <= 'z') {
            while (i + 1 < n && s[i + 1] >= 'a' && s[i + 1] <= 'z') i++;   /* true, false, null */
        }
    }
    return 1;
}

cJSON *jsonwalk_cjson(const char *val, size_t avail, size_t *used)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(val, avail, &end, 0);
    if (!v) return NULL;
    if (!numbers_strict(val, (size_t)(end - val))) {
        cJSON_Delete(v);
        return NULL;
    }
    *used = (size_t)(end - val);
    return v;
}

/* cJSON ends a string at \u0000, so a name holding one would be read as a
 * shorter name: refuse it. */
static int has_nul_escape(const char *p, size_t n)
{
    for (size_t i = 0; i + 5 < n; i++)
        if (p[i] == '\\') {
            if (p[i + 1] == 'u' && p[i + 2] == '0' && p[i + 3] == '0' && p[i + 4] == '0' && p[i + 5] == '0')
                return 1;
            i++; /* skip the escaped character */
        }
    return 0;
}

int jsonwalk_check_text(const char *s, size_t len, char *msg, size_t msgcap)
{
    size_t bad = utf8_invalid_at(s, len);
    if (bad < len) {
        snprintf(msg, msgcap, "the body is not valid UTF-8 at byte %zu", bad);
        return ERR_INVALID_UTF8;
    }
    if (has_nul_escape(s, len)) {
        snprintf(msg, msgcap, "a string holds \\u0000 (NUL is not accepted in any string)");
        return ERR_INVALID_UTF8;
    }
    return 0;
}

int jsonwalk_int(const cJSON *v, double lo, double hi, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return ERR_INVALID_ARGUMENT;
    double d = v->valuedouble;
    if (!isfinite(d)) return ERR_NON_FINITE;
    if (d != floor(d)) return ERR_INVALID_ARGUMENT;
    if (d < lo || d > hi) return ERR_OUT_OF_RANGE;
    *out = (int64_t)d;
    return 0;
}

int jsonwalk_has_duplicate(const cJSON *obj)
{
    for (const cJSON *a = obj ? obj->child : NULL; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0) return 1;
    return 0;
}

int jsonwalk_classify(const char *val, size_t avail)
{
    size_t used;
    cJSON *v = jsonwalk_cjson(val, avail, &used);
    cJSON_Delete(v);
    return v ? ERR_INVALID_ARGUMENT : ERR_INVALID_JSON;
}

int jsonwalk_object(const char *s, size_t len, jsonwalk_fn fn, void *ctx, char *msg, size_t msgcap)
{
    char seen[MAX_KEYS][64];
    int nseen = 0;
    int bad = jsonwalk_check_text(s, len, msg, msgcap);
    if (bad) return bad;
    size_t i = skip_ws(s, 0, len);
    if (i >= len || s[i] != '{') {
        snprintf(msg, msgcap, "the body must be a JSON object");
        return ERR_INVALID_JSON;
    }
    i = skip_ws(s, i + 1, len);
    if (i < len && s[i] == '}') {
        i = skip_ws(s, i + 1, len);
        if (i != len) goto trailing;
        return 0;
    }
    for (;;) {
        size_t used = 0;
        if (i >= len || s[i] != '"') {
            snprintf(msg, msgcap, "expected a member name at byte %zu", i);
            return ERR_INVALID_JSON;
        }
        cJSON *k = jsonwalk_cjson(s + i, len - i, &used);
        if (k && has_nul_escape(s + i, used)) {
            cJSON_Delete(k);
            snprintf(msg, msgcap, "a member name at byte %zu contains \\u0000", i);
            return ERR_INVALID_JSON;
        }
        if (!k || !cJSON_IsString(k)) {
            cJSON_Delete(k);
            snprintf(msg, msgcap, "malformed member name at byte %zu", i);
            return ERR_INVALID_JSON;
        }
        char key[64];
        int too_long = strlen(k->valuestring) >= sizeof key;
        snprintf(key, sizeof key, "%s", k->valuestring);
        cJSON_Delete(k);
        if (too_long) {
            snprintf(msg, msgcap, "member name at byte %zu is too long", i);
            return ERR_UNKNOWN_FIELD;
        }
        for (int j = 0; j < nseen; j++)
            if (strcmp(seen[j], key) == 0) {
                snprintf(msg, msgcap, "member \"%s\" appears twice", key);
                return ERR_INVALID_JSON;
            }
        if (nseen == MAX_KEYS) {
            snprintf(msg, msgcap, "too many members");
            return ERR_INVALID_JSON;
        }
        memcpy(seen[nseen++], key, sizeof key);
        i = skip_ws(s, i + used, len);
        if (i >= len || s[i] != ':') {
            snprintf(msg, msgcap, "expected ':' after \"%s\"", key);
            return ERR_INVALID_JSON;
        }
        i = skip_ws(s, i + 1, len);
        if (i >= len) {
            snprintf(msg, msgcap, "missing value of \"%s\"", key);
            return ERR_INVALID_JSON;
        }
        used = 0;
        int rc = fn(ctx, key, s + i, len - i, &used);
        if (rc) return rc;
        i = skip_ws(s, i + used, len);
        if (i < len && s[i] == ',') {
            i = skip_ws(s, i + 1, len);
            continue;
        }
        if (i < len && s[i] == '}') {
            i = skip_ws(s, i + 1, len);
            if (i != len) goto trailing;
            return 0;
        }
        snprintf(msg, msgcap, "expected ',' or '}' after the value of \"%s\"", key);
        return ERR_INVALID_JSON;
    }
trailing:
    snprintf(msg, msgcap, "unexpected data after the JSON object");
    return ERR_INVALID_JSON;
}

cJSON *jsonwalk_exact_number(double v)
{
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return cJSON_CreateRaw(buf);
}
