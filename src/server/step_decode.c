/* step_decode.c — see step_decode.h. */
#include "step_decode.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "f32json.h"
#include "half.h"
#include "jsonwalk.h"
#include "skip_mask.h"
#include "utf8.h"
#include "vecmath.h"
#include "wire_dtype.h"

int step_decode_digits(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

typedef struct step_ctx {
    step_request *sr;
    float        *grads;
    size_t        n, ngrads;
    int           have_step, have_grads;
    char          msg[200];
    const layout *lay;
    uint8_t      *skip;            /* lay->ntensors bytes */
    cJSON       **hyper;           /* the job's: "hyperparams" */
} step_ctx;

static int step_member(void *ctx, const char *key, const char *val, size_t avail, size_t *used)
{
    step_ctx *c = ctx;
    if (strcmp(key, "grads") == 0) {
        int rc = f32json_parse_array(val, avail, c->grads, c->n, &c->ngrads, used);
        if (rc == ERR_LENGTH_MISMATCH) {
            snprintf(c->msg, sizeof c->msg, "grads has more than the session's %zu values", c->n);
            return rc;
        }
        if (rc == ERR_NON_FINITE) {
            /* Whether this rejects or skips is the session's policy: check the
             * array is otherwise well formed and go on. */
            cJSON *v = jsonwalk_cjson(val, avail, used);
            int ok = cJSON_IsArray(v) && (size_t)cJSON_GetArraySize(v) == c->n;
            for (cJSON *e = v ? v->child : NULL; ok && e; e = e->next) ok = cJSON_IsNumber(e);
            cJSON_Delete(v);
            if (!ok) {
                snprintf(c->msg, sizeof c->msg, "grads must be an array of %zu numbers", c->n);
                return ERR_INVALID_ARGUMENT;
            }
            c->sr->nonfinite = 1;
            c->ngrads = c->n;
            c->have_grads = 1;
            return 0;
        }
        if (rc) {
            rc = jsonwalk_classify(val, avail);
            snprintf(c->msg, sizeof c->msg, rc == ERR_INVALID_JSON ? "grads is not well-formed JSON"
                                                                     : "grads must be an array of numbers");
            return rc;
        }
        c->have_grads = 1;
        return 0;
    }
    cJSON *v = jsonwalk_cjson(val, avail, used);
    if (!v) {
        snprintf(c->msg, sizeof c->msg, "malformed value of \"%s\"", key);
        return ERR_INVALID_JSON;
    }
    int rc = 0;
    if (strcmp(key, "step") == 0) {
        if (jsonwalk_int(v, 0, 9e15, &c->sr->step) != 0) {
            snprintf(c->msg, sizeof c->msg, "step must be a non-negative integer");
            rc = ERR_INVALID_ARGUMENT;
        } else c->have_step = 1;
    } else if (strcmp(key, "loss") == 0) {
        if (cJSON_IsNull(v)) c->sr->loss = NAN;
        else if (!cJSON_IsNumber(v)) {
            snprintf(c->msg, sizeof c->msg, "loss must be a number");
            rc = ERR_INVALID_ARGUMENT;
        } else if (!isfinite(v->valuedouble)) {
            c->sr->nonfinite = 1;
        } else c->sr->loss = v->valuedouble;
    } else if (strcmp(key, "hyperparams") == 0) {
        c->sr->hyperparams = *c->hyper = v;
        v = NULL;
    } else if (strcmp(key, "skip_tensors") == 0) {
        rc = skip_mask_json(v, c->lay, c->skip, c->msg, sizeof c->msg);
        if (rc > 0) c->sr->skip_tensors = c->skip;
        rc = rc > 0 ? 0 : rc;
    } else if (strcmp(key, "worker") == 0) {
        if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) >= sizeof c->sr->worker) {
            snprintf(c->msg, sizeof c->msg, "worker must be a string of 1 to 63 bytes");
            rc = ERR_INVALID_ARGUMENT;
        } else snprintf(c->sr->worker, sizeof c->sr->worker, "%s", v->valuestring);
    } else {
        snprintf(c->msg, sizeof c->msg, "unknown field \"%s\"", key);
        rc = ERR_UNKNOWN_FIELD;
    }
    cJSON_Delete(v);
    return rc;
}

/* The X-Optirs-Worker header, when present, into out (outcap bytes): 0,
 * ERR_BAD_HEADER (empty or too long) or ERR_INVALID_UTF8, with msg set. */
static int worker_header(req *r, char *out, size_t outcap, char *msg, size_t cap)
{
    const char *hw = http_req_header(r, "X-Optirs-Worker");
    if (!hw) return 0;
    size_t n = strlen(hw);
    if (!n || n >= outcap) {
        snprintf(msg, cap, "X-Optirs-Worker must be 1 to %zu bytes", outcap - 1);
        return ERR_BAD_HEADER;
    }
    if (!utf8_valid(hw, n)) {
        snprintf(msg, cap, "X-Optirs-Worker is not valid UTF-8");
        return ERR_INVALID_UTF8;
    }
    snprintf(out, outcap, "%s", hw);
    return 0;
}

/* The binary body of n elements of dtype dt into sr->grads: in place for
 * float32, else into *grads (n floats, allocated once the length is
 * right).  0, ERR_LENGTH_MISMATCH or ERR_NO_MEMORY, with msg. */
static int binary_grads(req *r, size_t n, wire_dtype dt, step_request *sr, float **grads, char *msg, size_t cap)
{
    size_t es = wire_dtype_size(dt);
    if (r->body_len != n * es) {
        snprintf(msg, cap, "binary body has %zu bytes; this session takes %zu %s (%zu bytes)", r->body_len, n,
                 dt == WIRE_F32 ? "float32" : wire_dtype_name(dt), n * es);
        return ERR_LENGTH_MISMATCH;
    }
    /* The body buffer comes from malloc, so it is aligned for float. */
    const void *body = r->body;
    if (dt == WIRE_F32) {
        sr->grads = body;
        return 0;
    }
    if (!(*grads = malloc((n ? n : 1) * sizeof(float)))) return ERR_NO_MEMORY;
    if (dt == WIRE_F16) half_f16_decode(body, *grads, n);
    else half_bf16_decode(body, *grads, n);
    sr->grads = *grads;
    return 0;
}

/* Decodes the binary form: body = n little-endian float32 (or 16-bit
 * floats of dtype dt), step, loss and skip mask in headers. */
static int decode_binary(req *r, size_t n, wire_dtype dt, step_request *sr, const layout *lay, uint8_t *skip,
                         float **grads, cJSON **hyper, char *msg, size_t cap)
{
    const char *hh = http_req_header(r, "X-Optirs-Hyperparams");
    size_t used = 0;
    if (hh && (!(*hyper = jsonwalk_cjson(hh, strlen(hh), &used)) || hh[used])) {
        snprintf(msg, cap, "X-Optirs-Hyperparams must be a JSON array of objects, one per group");
        return ERR_BAD_HEADER;
    }
    sr->hyperparams = *hyper;
    const char *hk = http_req_header(r, SKIP_MASK_HEADER);
    int nskip = hk ? skip_mask_header(hk, lay, skip, msg, cap) : 0;
    if (nskip < 0) return nskip;
    if (nskip > 0) sr->skip_tensors = skip;
    const char *hs = http_req_header(r, "X-Optirs-Step");
    if (step_decode_digits(hs, 0, (int64_t)9e15, &sr->step) != 0) {
        snprintf(msg, cap, "X-Optirs-Step must be a non-negative integer");
        return ERR_BAD_HEADER;
    }
    const char *hl = http_req_header(r, "X-Optirs-Loss");
    if (hl) {
        char *end;
        errno = 0;
        double l = strtod(hl, &end);
        if (end == hl || *end || errno == EINVAL) {
            snprintf(msg, cap, "X-Optirs-Loss must be a number");
            return ERR_BAD_HEADER;
        }
        if (isfinite(l)) sr->loss = l;
        else sr->nonfinite = 1;
    }
    int wrc = worker_header(r, sr->worker, sizeof sr->worker, msg, cap);
    if (wrc) return wrc;
    int rc = binary_grads(r, n, dt, sr, grads, msg, cap);
    if (rc) return rc;
    /* One vectorised pass: the sum of squares is the step's gradient norm
     * (step_request.gsq, so the step does not read the gradients again for
     * it) and is non-finite exactly when a gradient is. */
    sr->gsq = vm_sumsq(sr->grads, n);
    sr->has_gsq = 1;
    if (!isfinite(sr->gsq)) sr->nonfinite = 1; /* the session's policy decides */
    return 0;
}

int step_decode_request(req *r, size_t n, const layout *lay, step_request *sr, float **grads, uint8_t **skip,
                        cJSON **hyper, char *msg, size_t cap)
{
    msg[0] = '\0';
    if (!(*skip = calloc((size_t)lay->ntensors, 1))) return ERR_NO_MEMORY;
    if (r->ctype == CT_BINARY) {
        int dt = wire_dtype_request(r, msg, cap);
        if (dt < 0) return dt;
        return decode_binary(r, n, (wire_dtype)dt, sr, lay, *skip, grads, hyper, msg, cap);
    }
    if (r->ctype != CT_JSON && r->ctype != CT_NONE) {
        snprintf(msg, cap, "a step is application/json or application/octet-stream");
        return ERR_UNSUPPORTED_MEDIA;
    }
    if (!(*grads = malloc((n ? n : 1) * sizeof(float)))) return ERR_NO_MEMORY;
    step_ctx c = {.sr = sr, .grads = *grads, .n = n, .lay = lay, .skip = *skip, .hyper = hyper};
    int rc = jsonwalk_object(r->body, r->body_len, step_member, &c, c.msg, sizeof c.msg);
    if (!rc && !c.have_step) { rc = ERR_MISSING_FIELD; snprintf(c.msg, sizeof c.msg, "step is required"); }
    if (!rc && !c.have_grads) { rc = ERR_MISSING_FIELD; snprintf(c.msg, sizeof c.msg, "grads is required"); }
    if (!rc && c.ngrads != n) {
        rc = ERR_LENGTH_MISMATCH;
        snprintf(c.msg, sizeof c.msg, "grads has %zu values; the session has %zu parameters", c.ngrads, n);
    }
    sr->grads = *grads;
    snprintf(msg, cap, "%s", c.msg);
    if (!rc && !sr->worker[0]) rc = worker_header(r, sr->worker, sizeof sr->worker, msg, cap);
    return rc;
}
