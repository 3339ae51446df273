/* fuzz_writer.c — libFuzzer target for server/jwriter, the one writer of
 * hand-built JSON: the input's first two bytes pick a size limit, the rest
 * is cut into pieces written as JSON strings, object keys and numbers (8
 * bytes each, any bit pattern: NaN, ±inf, subnormals).
 * Oracles: the sanitizers; the text never exceeds the limit and reports its
 * true length; a refused answer is ERR_OUTPUT_TOO_LARGE (or ERR_NO_MEMORY)
 * and the same input fits once the limit is large enough; an answer is
 * valid UTF-8 without NUL bytes and parses back with cJSON to exactly the
 * pieces written (a piece that is valid UTF-8 without NUL comes back
 * byte for byte). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "errors.h"
#include "jwriter.h"
#include "utf8.h"

#define MAX_PIECES 64

typedef struct piece { const char *s; size_t n; int kind; double v; } piece;

/* Cuts data into pieces at 0xFE bytes; a piece starting with 0xFD is a
 * number (its next 8 bytes), one starting with 0xFC a key. */
static int cut(const uint8_t *d, size_t n, piece *p)
{
    int np = 0;
    size_t i = 0;
    while (i <= n && np < MAX_PIECES) {
        size_t j = i;
        while (j < n && d[j] != 0xFE) j++;
        piece q = {(const char *)d + i, j - i, 0, 0};
        if (q.n >= 9 && d[i] == 0xFD) {
            q.kind = 2;
            memcpy(&q.v, d + i + 1, 8);
        } else if (q.n >= 1 && d[i] == 0xFC) {
            q.kind = 1;
            q.s++;
            q.n--;
        }
        p[np++] = q;
        i = j + 1;
    }
    return np;
}

/* [piece, …] with keys as {"key":null}; returns the text or NULL (*err). */
static char *write_all(const piece *p, int np, size_t max, size_t *len, int *err)
{
    jwriter w;
    jw_init(&w, max);
    jw_lit(&w, "[");
    for (int i = 0; i < np; i++) {
        if (i) jw_lit(&w, ",");
        if (p[i].kind == 2) jw_num_or_null(&w, p[i].v, (int)(fabs(p[i].v) < 1 ? 9 : 0));
        else if (p[i].kind == 1) {
            char key[64];
            size_t k = p[i].n < sizeof key - 1 ? p[i].n : sizeof key - 1;
            memcpy(key, p[i].s, k);
            key[k] = '\0';
            jw_lit(&w, "{");
            jw_key(&w, key);
            jw_lit(&w, "null}");
        } else jw_str(&w, p[i].s, p[i].n);
    }
    jw_lit(&w, "]");
    *err = jw_error(&w);
    return jw_take(&w, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t max = ((size_t)data[0] << 8 | data[1]) * 4;
    piece p[MAX_PIECES];
    int np = cut(data + 2, size - 2, p);
    size_t len = 0;
    int err = 0;
    char *t = write_all(p, np, max, &len, &err);
    if (!t) {
        if (err != ERR_OUTPUT_TOO_LARGE && err != ERR_NO_MEMORY) abort();
        t = write_all(p, np, (size_t)1 << 24, &len, &err);   /* 6 bytes per input byte is the worst case */
        if (!t) abort();
        if (err == ERR_OUTPUT_TOO_LARGE && len <= max) abort();
    } else if (len > max) abort();
    if (strlen(t) != len) abort();
    if (!utf8_valid(t, len)) abort();
    cJSON *v = cJSON_ParseWithLengthOpts(t, len + 1, NULL, 1);
    if (!v || !cJSON_IsArray(v) || cJSON_GetArraySize(v) != np) abort();
    int i = 0;
    for (cJSON *e = v->child; e; e = e->next, i++) {
        if (p[i].kind == 2) {
            if (isfinite(p[i].v) ? !cJSON_IsNumber(e) : !cJSON_IsNull(e)) abort();
            if (isfinite(p[i].v) && fabs(p[i].v) >= 1 && e->valuedouble != p[i].v) abort();   /* 17 digits: exact */
        } else if (p[i].kind == 1) {
            if (!cJSON_IsObject(e) || !e->child || !cJSON_IsNull(e->child)) abort();
        } else {
            if (!cJSON_IsString(e)) abort();
            if (utf8_valid(p[i].s, p[i].n) &&
                (strlen(e->valuestring) != p[i].n || memcmp(e->valuestring, p[i].s, p[i].n) != 0))
                abort();
        }
    }
    cJSON_Delete(v);
    free(t);
    return 0;
}
