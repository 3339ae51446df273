/* test_state_codec.c — the wire form of a session's state (state_codec.h)
 * and the skip mask (skip_mask.h): an envelope decodes to exactly what was
 * encoded; member order does not matter to the spec's seal; every damaged
 * or foreign envelope is ERR_INVALID_STATE; an import body is told apart
 * from an ordinary create; masks read names, indices and headers and
 * refuse everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "skip_mask.h"
#include "state_codec.h"

static const uint8_t BLOB[] = {1, 2, 3, 4, 5, 250, 251, 0, 7, 9, 11};

static cJSON *spec_json(void)
{
    return cJSON_Parse("{\"optimizer\":\"adam\",\"hyperparams\":{\"lr\":0.001,\"beta1\":0.9},"
                       "\"tensors\":[{\"name\":\"w\",\"shape\":[2,2]}],\"num_params\":4,\"name\":\"x\",\"tags\":{}}");
}

static cJSON *envelope(void)
{
    cJSON *sp = spec_json();
    char *text;
    size_t len;
    assert_int_equal(state_codec_encode(sp, 7, BLOB, sizeof BLOB, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    cJSON_Delete(sp);
    cJSON *env = cJSON_Parse(text);
    free(text);
    assert_non_null(env);
    return env;
}

static int decode(const cJSON *env)
{
    cJSON *sp;
    int64_t np, step;
    uint8_t *blob;
    size_t len;
    char msg[256];
    int rc = state_codec_decode(env, &sp, &np, &step, &blob, &len, msg, sizeof msg);
    if (!rc) {
        assert_int_equal(np, 4);
        assert_int_equal(step, 7);
        assert_int_equal(len, sizeof BLOB);
        assert_memory_equal(blob, BLOB, len);
        assert_null(cJSON_GetObjectItemCaseSensitive(sp, "num_params"));
        cJSON_Delete(sp);
        free(blob);
    } else {
        assert_true(msg[0] != '\0');
    }
    return rc;
}

static void test_round_trip(void **unused)
{
    (void)unused;
    cJSON *env = envelope();
    assert_string_equal(cJSON_GetObjectItem(env, "format")->valuestring, STATE_CODEC_FORMAT);
    assert_int_equal(decode(env), 0);
    /* member order does not matter to the seal */
    cJSON *sp = cJSON_GetObjectItem(env, "spec");
    cJSON *hp = cJSON_DetachItemFromObject(sp, "hyperparams");
    cJSON_AddItemToObject(sp, "hyperparams", hp);
    assert_int_equal(decode(env), 0);
    cJSON_Delete(env);
}

static void damaged(void (*edit)(cJSON *env))
{
    cJSON *env = envelope();
    edit(env);
    assert_int_equal(decode(env), ERR_INVALID_STATE);
    cJSON_Delete(env);
}

static void set_str(cJSON *env, const char *k, const char *v) { cJSON_ReplaceItemInObject(env, k, cJSON_CreateString(v)); }
static void e_format(cJSON *e) { set_str(e, "format", "other"); }
static void e_version(cJSON *e) { cJSON_ReplaceItemInObject(e, "version", cJSON_CreateNumber(2)); }
static void e_bytes(cJSON *e) { cJSON_ReplaceItemInObject(e, "state_bytes", cJSON_CreateNumber(12)); }
static void e_sha(cJSON *e) { set_str(e, "state_sha256", "00000000000000000000000000000000000000000000000000000000000000ff"); }
static void e_b64(cJSON *e) { set_str(e, "state", "AQIDBAX6+wAHCQs"); }
static void e_b64b(cJSON *e) { set_str(e, "state", "AQIDBAX6+wAHCQ?="); }
static void e_opt(cJSON *e) { set_str(e, "optimizer", "sgd"); }
static void e_spec(cJSON *e) { cJSON_ReplaceItemInObject(cJSON_GetObjectItem(e, "spec"), "name", cJSON_CreateString("y")); }
static void e_extra(cJSON *e) { cJSON_AddNumberToObject(e, "extra", 1); }
static void e_missing(cJSON *e) { cJSON_DeleteItemFromObject(e, "step"); }
static void e_step(cJSON *e) { cJSON_ReplaceItemInObject(e, "step", cJSON_CreateNumber(-1)); }

static void test_damage_is_invalid_state(void **unused)
{
    (void)unused;
    damaged(e_format);
    damaged(e_version);
    damaged(e_bytes);
    damaged(e_sha);
    damaged(e_b64);
    damaged(e_b64b);
    damaged(e_opt);
    damaged(e_spec);
    damaged(e_extra);
    damaged(e_missing);
    damaged(e_step);
    cJSON *s = cJSON_CreateString("x");
    assert_int_equal(decode(s), ERR_INVALID_STATE);
    cJSON_Delete(s);
}

static void test_import_body_is_told_apart(void **unused)
{
    (void)unused;
    spec sp;
    uint8_t *blob;
    size_t len;
    int64_t step;
    char msg[256];
    const char *plain = "{\"optimizer\":\"adam\",\"tensors\":[{\"shape\":[2]}],\"tags\":{\"state\":\"x\"}}";
    assert_int_equal(state_codec_import_body(plain, strlen(plain), 100, &sp, &blob, &len, &step, msg, sizeof msg), 1);
    const char *other = "{\"state\":{},\"optimizer\":\"adam\"}";
    assert_int_equal(state_codec_import_body(other, strlen(other), 100, &sp, &blob, &len, &step, msg, sizeof msg),
                     ERR_UNKNOWN_FIELD);
    const char *bad = "{\"state\":{}}";
    assert_int_equal(state_codec_import_body(bad, strlen(bad), 100, &sp, &blob, &len, &step, msg, sizeof msg),
                     ERR_INVALID_STATE);
    assert_null(blob);
}

static void test_skip_masks(void **unused)
{
    (void)unused;
    layout lay;
    const char *names[3] = {"w", "b", "c"};
    int ndims[3] = {1, 1, 1};
    int64_t shapes[3][LAYOUT_MAX_DIMS] = {{2}, {3}, {4}};
    assert_int_equal(layout_init(&lay, 3, names, ndims, (const int64_t (*)[LAYOUT_MAX_DIMS])shapes, 100), 0);
    uint8_t m[3] = {0};
    char msg[200];
    cJSON *v = cJSON_Parse("[\"c\", 0, \"c\"]");
    assert_int_equal(skip_mask_json(v, &lay, m, msg, sizeof msg), 2);
    assert_true(m[0] && !m[1] && m[2]);
    cJSON_Delete(v);
    const char *refused[] = {"[\"x\"]", "[3]", "[-1]", "[1.5]", "[true]", "{}", "\"w\""};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        memset(m, 0, sizeof m);
        v = cJSON_Parse(refused[i]);
        assert_int_equal(skip_mask_json(v, &lay, m, msg, sizeof msg), ERR_INVALID_ARGUMENT);
        cJSON_Delete(v);
    }
    memset(m, 0, sizeof m);
    assert_int_equal(skip_mask_header("2,1", &lay, m, msg, sizeof msg), 2);
    assert_true(!m[0] && m[1] && m[2]);
    assert_int_equal(skip_mask_header("", &lay, m, msg, sizeof msg), 0);
    const char *bad[] = {"3", "0,", ",0", "0 ,1", "a", "1;2", "-1", "0,,1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(skip_mask_header(bad[i], &lay, m, msg, sizeof msg), ERR_BAD_HEADER);
    layout_deinit(&lay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage_is_invalid_state),
        cmocka_unit_test(test_import_body_is_told_apart),
        cmocka_unit_test(test_skip_masks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
