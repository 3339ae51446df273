/* wire_dtype.c — see wire_dtype.h. */
#include "wire_dtype.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"

static const char *const names[] = {"f32", "f16", "bf16"};

size_t wire_dtype_size(wire_dtype d)
{
    return d == WIRE_F32 ? 4 : 2;
}

const char *wire_dtype_name(wire_dtype d)
{
    return names[d];
}

const char *wire_dtype_content_type(wire_dtype d)
{
    static const char *const types[] = {"application/octet-stream", "application/octet-stream; dtype=f16",
                                        "application/octet-stream; dtype=bf16"};
    return types[d];
}

wire_dtype wire_dtype_of_encoding(int enc)
{
    return enc == ENC_BINARY_F16 ? WIRE_F16 : enc == ENC_BINARY_BF16 ? WIRE_BF16 : WIRE_F32;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* s[0..n) without surrounding blanks, into *b and *e. */
static void trim(const char *s, size_t n, const char **b, const char **e)
{
    const char *p = s, *q = s + n;
    while (p < q && is_space(*p)) p++;
    while (q > p && is_space(q[-1])) q--;
    *b = p;
    *e = q;
}

/* A dtype value (quotes allowed): WIRE_* or -1. */
static int dtype_value(const char *b, const char *e)
{
    if (e - b >= 2 && *b == '"' && e[-1] == '"') b++, e--;
    for (int d = 0; d < 3; d++)
        if ((size_t)(e - b) == strlen(names[d]) && strncasecmp(b, names[d], (size_t)(e - b)) == 0) return d;
    return -1;
}

/* Walks the parameters of one media type s[0..n) (the text after its
 * first ';').  Returns how many dtype parameters it has; *d gets the last
 * one's value (WIRE_* or -1). */
static int dtype_params(const char *s, size_t n, int *d)
{
    int count = 0;
    const char *end = s + n;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *stop = semi ? semi : end, *b, *e;
        trim(s, (size_t)(stop - s), &b, &e);
        const char *eq = memchr(b, '=', (size_t)(e - b));
        if (eq) {
            const char *nb, *ne, *vb, *ve;
            trim(b, (size_t)(eq - b), &nb, &ne);
            trim(eq + 1, (size_t)(e - eq - 1), &vb, &ve);
            if (ne - nb == 5 && strncasecmp(nb, "dtype", 5) == 0) {
                count++;
                *d = dtype_value(vb, ve);
            }
        }
        s = semi ? semi + 1 : end;
    }
    return count;
}

/* 1 when s[0..n) (one media type with its parameters) is
 * application/octet-stream; *params, *plen: the text after its first ';'. */
static int is_octet_stream(const char *s, size_t n, const char **params, size_t *plen)
{
    const char *semi = memchr(s, ';', n), *b, *e;
    size_t tn = semi ? (size_t)(semi - s) : n;
    trim(s, tn, &b, &e);
    *params = semi ? semi + 1 : s + n;
    *plen = semi ? n - tn - 1 : 0;
    return e - b == 24 && strncasecmp(b, "application/octet-stream", 24) == 0;
}

int wire_dtype_request(req *r, char *msg, size_t cap)
{
    if (r->ctype != CT_BINARY) return WIRE_F32;
    const char *s = http_req_header(r, "Content-Type"), *params;
    size_t plen;
    if (!s || !is_octet_stream(s, strlen(s), &params, &plen)) return WIRE_F32;
    int d = WIRE_F32;
    int count = dtype_params(params, plen, &d);
    if (count == 0) return WIRE_F32;
    if (count > 1) {
        snprintf(msg, cap, "Content-Type names dtype more than once");
        return ERR_UNSUPPORTED_MEDIA;
    }
    if (d < 0) {
        snprintf(msg, cap, "Content-Type names an unknown dtype; a binary body is dtype=f32, f16 or bf16");
        return ERR_UNSUPPORTED_MEDIA;
    }
    return d;
}

/* What Accept allows of binary answers: any dtype (an octet-stream entry
 * without one, or a wildcard), and the known dtypes named, in order. */
typedef struct {
    int any, n;
    int order[8];
} accept_dtypes;

static void accept_scan(req *r, accept_dtypes *a)
{
    memset(a, 0, sizeof *a);
    const char *s = http_req_header(r, "Accept");
    if (r->accept_any || !s) {
        a->any = 1;
        return;
    }
    const char *end = s + strlen(s);
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s)), *stop = comma ? comma : end, *params;
        size_t plen;
        if (is_octet_stream(s, (size_t)(stop - s), &params, &plen)) {
            int d = -1;
            if (dtype_params(params, plen, &d) == 0) a->any = 1;
            else if (d >= 0 && a->n < 8) a->order[a->n++] = d;
        }
        s = comma ? comma + 1 : end;
    }
}

/* The binary dtype Accept allows, preferring `want`; -1 when none. */
static int accept_pick(const accept_dtypes *a, int want)
{
    if (a->any) return want;
    for (int i = 0; i < a->n; i++)
        if (a->order[i] == want) return want;
    return a->n ? a->order[0] : -1;
}

static const char not_acceptable[] =
    "Accept must allow application/json or application/octet-stream (dtype f32, f16 or bf16)";

int wire_dtype_answer(req *r, wire_dtype req_dtype, char *msg, size_t cap)
{
    int enc = http_req_answer_encoding(r);
    if (enc == ENC_BINARY) {
        accept_dtypes a;
        accept_scan(r, &a);
        int d = accept_pick(&a, req_dtype);
        if (d >= 0) return ENC_BINARY + d;
        enc = r->accept_json ? ENC_JSON : -1; /* only unknown dtypes: JSON if allowed */
    }
    if (enc < 0) snprintf(msg, cap, "%s", not_acceptable);
    return enc;
}

int wire_dtype_params_answer(req *r, char *msg, size_t cap)
{
    if (!r->accept_any && !r->accept_json && !r->accept_binary) {
        snprintf(msg, cap, "%s", not_acceptable);
        return -1;
    }
    if (!r->accept_binary || r->accept_json) return ENC_JSON;
    accept_dtypes a;
    accept_scan(r, &a);
    int d = accept_pick(&a, WIRE_F32);
    if (d >= 0) return ENC_BINARY + d;
    if (r->accept_any) return ENC_JSON;
    snprintf(msg, cap, "%s", not_acceptable);
    return -1;
}
