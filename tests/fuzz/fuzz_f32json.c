/* fuzz_f32json.c — libFuzzer target for core/f32json: the float32 array and
 * number parsers and the shortest-form formatter.
 *
 * Oracles (beyond the sanitizers): the parser never reads outside the input
 * (libFuzzer hands us an exactly sized heap buffer); a successful single
 * number equals glibc strtof of the same text, bit for bit; every parsed
 * value formats to at most F32JSON_FMT_MAX bytes and parses back to the same
 * bits; an array written by f32json_write_array parses back to itself. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "f32json.h"

#define CAP 4096

static uint32_t bits(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }

static void check_roundtrip(float v)
{
    char buf[F32JSON_FMT_MAX + 1];
    size_t n = f32json_format(buf, v);
    if (n == 0 || n > F32JSON_FMT_MAX) { fprintf(stderr, "format length %zu\n", n); abort(); }
    float back = 0;
    if (f32json_parse_number(buf, n, &back) != 0 || bits(back) != bits(v)) {
        fprintf(stderr, "roundtrip %a -> %.*s -> %a\n", (double)v, (int)n, buf, (double)back);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    static float out[CAP];
    size_t count = 0, consumed = 0;
    size_t cap = size ? (size_t)(data[0] % 8) * 16 + 1 : CAP; /* exercise the length limit too */
    if (size && data[0] >= 0x80) cap = CAP;
    int rc = f32json_parse_array(s, size, out, cap, &count, &consumed);
    if (count > cap) abort();
    if (rc == 0) {
        if (consumed > size) abort();
        for (size_t i = 0; i < count; i++) check_roundtrip(out[i]);
        f32json_buf b;
        f32json_buf_init(&b);
        if (f32json_write_array(&b, out, count) == 0) {
            static float again[CAP];
            size_t c2 = 0, u2 = 0;
            if (f32json_parse_array(b.data, b.len, again, CAP, &c2, &u2) != 0 || c2 != count || u2 != b.len)
                abort();
            for (size_t i = 0; i < count; i++)
                if (bits(again[i]) != bits(out[i])) abort();
        }
        f32json_buf_deinit(&b);
    }

    /* One number: compare with strtof when it is accepted (at most 64
     * bytes, so the copy is cheap). */
    if (size <= 64) {
        float v = 0;
        rc = f32json_parse_number(s, size, &v);
        char tmp[65];
        memcpy(tmp, s, size);
        tmp[size] = '\0';
        if (rc == 0 && memchr(s, '\0', size) == NULL) {
            char *end;
            errno = 0;
            float ref = strtof(tmp, &end);
            if ((size_t)(end - tmp) != size || bits(ref) != bits(v)) {
                fprintf(stderr, "f32json %a strtof %a for \"%s\"\n", (double)v, (double)ref, tmp);
                abort();
            }
            check_roundtrip(v);
        } else if (rc == ERR_NON_FINITE && memchr(s, '\0', size) == NULL) {
            float ref = strtof(tmp, NULL);
            if (!isinf(ref)) {
                fprintf(stderr, "non_finite but strtof gives %a for \"%s\"\n", (double)ref, tmp);
                abort();
            }
        }
    }
    return 0;
}
