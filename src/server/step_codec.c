/* step_codec.c — step answers in JSON and binary (see step_codec.h). */
#include "step_codec.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "f32json.h"
#include "half.h"
#include "http.h"
#include "jwriter.h"
#include "wire_dtype.h"

int step_codec_json(int64_t step, const char *key, const float *v, size_t n, char **out, size_t *len)
{
    /* A float32 prints in at most F32JSON_FMT_MAX bytes, plus its comma:
     * that bounds the text (n is at most --max-params, so no wrap). */
    if (n > (JW_MAX_LIMIT - 256) / (F32JSON_FMT_MAX + 1)) return ERR_TOO_MANY_PARAMS;
    size_t most = n * (F32JSON_FMT_MAX + 1);
    jwriter w;
    jw_init(&w, most + 256);
    jw_lit(&w, "{\"step\":");
    jw_i64(&w, step);
    jw_lit(&w, ",");
    jw_key(&w, key);
    jw_lit(&w, "[");
    char *p = jw_claim(&w, most), *p0 = p;
    if (p) {
        for (size_t i = 0; i < n; i++) {
            if (i) *p++ = ',';
            p += f32json_format(p, v[i]);
        }
        jw_commit(&w, (size_t)(p - p0));
    }
    jw_lit(&w, "]}");
    int rc = jw_error(&w);
    *out = jw_take(&w, len);
    return rc;
}

int step_codec_vector(const float *v, size_t n, int enc, char **out, size_t *len, const char **ctype)
{
    wire_dtype d = wire_dtype_of_encoding(enc);
    /* A value the 16-bit dtype cannot hold (it would round to ±Inf) sends
     * the whole vector in float32 instead: exact, and named by ctype. */
    if (d != WIRE_F32 && half_first_overflow(v, n, d == WIRE_BF16) < n) d = WIRE_F32;
    size_t bytes = n * wire_dtype_size(d);
    char *b = malloc(bytes + 1);
    if (!b) return ERR_NO_MEMORY;
    /* malloc's alignment suits uint16_t */
    if (d == WIRE_F16) half_f16_encode(v, (uint16_t *)(void *)b, n);
    else if (d == WIRE_BF16) half_bf16_encode(v, (uint16_t *)(void *)b, n);
    else memcpy(b, v, bytes);
    *out = b;
    *len = bytes;
    if (ctype) *ctype = wire_dtype_content_type(d);
    return 0;
}

int step_codec_update(int64_t step, const float *v, size_t n, int applied, int enc, char **out, size_t *len)
{
    if (enc != ENC_JSON) return step_codec_vector(v, n, enc, out, len, NULL);
    int rc = step_codec_json(step, "update", v, n, out, len);
    if (rc || applied) return rc;
    /* A skipped step says so: ...]} becomes ...],"applied":false} */
    static const char tail[] = ",\"applied\":false}";
    char *b = realloc(*out, *len + sizeof tail);
    if (!b) {
        free(*out);
        return ERR_NO_MEMORY;
    }
    memcpy(b + *len - 1, tail, sizeof tail);
    *out = b;
    *len += sizeof tail - 2;
    return 0;
}
