/* test_step_codec.c — src/server/step_codec.c: the JSON answer carries the
 * step and shortest float32 forms, a skipped step says "applied":false, the
 * binary answer is the raw float32 vector (or its f16 / bf16 rounding, and
 * float32 again with its Content-Type when a value would overflow the
 * 16-bit dtype), and a parameter read uses its own key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "http.h"
#include "step_codec.h"
#include "wire_dtype.h"

static const float V[3] = {0.1f, -2.0f, 3.5e-8f};

static void check_text(char *out, size_t len, const char *want)
{
    assert_int_equal(len, strlen(want));
    assert_memory_equal(out, want, len);
    free(out);
}

static void test_json_answer_has_step_and_shortest_floats(void **unused)
{
    (void)unused;
    char *out;
    size_t len;
    assert_int_equal(step_codec_update(7, V, 3, 1, ENC_JSON, &out, &len), 0);
    check_text(out, len, "{\"step\":7,\"update\":[0.1,-2,3.5e-8]}");
}

static void test_skipped_step_says_not_applied(void **unused)
{
    (void)unused;
    const float zero[2] = {0, 0};
    char *out;
    size_t len;
    assert_int_equal(step_codec_update(12, zero, 2, 0, ENC_JSON, &out, &len), 0);
    check_text(out, len, "{\"step\":12,\"update\":[0,0],\"applied\":false}");
}

static void test_binary_answer_is_the_raw_vector(void **unused)
{
    (void)unused;
    char *out;
    size_t len;
    assert_int_equal(step_codec_update(7, V, 3, 0, ENC_BINARY, &out, &len), 0);
    assert_int_equal(len, sizeof V);
    assert_memory_equal(out, V, sizeof V);
    free(out);
}

static void test_compact_answers_and_their_fallback(void **unused)
{
    (void)unused;
    char *out;
    size_t len;
    const char *type = NULL;
    /* 0.1f rounds to 0x2E66 (f16) and 0x3DCD (bf16); 3.5e-8 is over half
     * f16's smallest subnormal (2^-24): up to it */
    assert_int_equal(step_codec_vector(V, 3, ENC_BINARY_F16, &out, &len, &type), 0);
    const uint16_t f16[3] = {0x2E66, 0xC000, 0x0001};
    assert_int_equal(len, 6);
    assert_memory_equal(out, f16, 6);
    assert_string_equal(type, "application/octet-stream; dtype=f16");
    free(out);
    assert_int_equal(step_codec_vector(V, 3, ENC_BINARY_BF16, &out, &len, &type), 0);
    const uint16_t bf16[3] = {0x3DCD, 0xC000, 0x3316};
    assert_memory_equal(out, bf16, 6);
    assert_string_equal(type, "application/octet-stream; dtype=bf16");
    free(out);
    /* 65520 rounds past f16's 65504: the whole vector in float32 */
    const float big[2] = {1.0f, -65520.0f};
    assert_int_equal(step_codec_vector(big, 2, ENC_BINARY_F16, &out, &len, &type), 0);
    assert_int_equal(len, sizeof big);
    assert_memory_equal(out, big, sizeof big);
    assert_string_equal(type, "application/octet-stream");
    free(out);
    assert_int_equal(step_codec_vector(big, 2, ENC_BINARY_BF16, &out, &len, &type), 0);
    assert_int_equal(len, 4);
    free(out);
}

static void test_params_answer_uses_its_key(void **unused)
{
    (void)unused;
    char *out;
    size_t len;
    assert_int_equal(step_codec_json(0, "params", V, 1, &out, &len), 0);
    check_text(out, len, "{\"step\":0,\"params\":[0.1]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_answer_has_step_and_shortest_floats),
        cmocka_unit_test(test_skipped_step_says_not_applied),
        cmocka_unit_test(test_binary_answer_is_the_raw_vector),
        cmocka_unit_test(test_compact_answers_and_their_fallback),
        cmocka_unit_test(test_params_answer_uses_its_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
