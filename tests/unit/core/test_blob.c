/* test_blob.c — the checksummed blob format: round trips, and every kind of
 * damage (truncation, flipped bytes, wrong kind, absurd lengths) reported as
 * ERR_CORRUPT without reading out of bounds (run under `make asan`). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "blob.h"
#include "errors.h"

static void test_blob_crc32_matches_ieee_check_value(void **unused)
{
    (void)unused;
    assert_int_equal(blob_crc32(0, "123456789", 9), 0xCBF43926u);
    /* continuing a CRC equals computing it in one go */
    uint32_t c = blob_crc32(0, "12345", 5);
    assert_int_equal(blob_crc32(c, "6789", 4), 0xCBF43926u);
    assert_int_equal(blob_crc32(0, "", 0), 0);
}

/* A blob with one of every put. */
static void make_blob(uint8_t **out, size_t *len)
{
    blob_writer w;
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_SESSION, 7), 0);
    float f[5] = {1.5f, -0.0f, 3.4e38f, 1e-45f, NAN};
    blob_put_u32(&w, 0xDEADBEEFu);
    blob_put_u64(&w, 0x0123456789ABCDEFull);
    blob_put_f64(&w, -2.718281828459045);
    blob_put_f32s(&w, f, 5);
    blob_put_bytes(&w, "xyz", 3);
    blob_put_str(&w, "adam");
    blob_put_str(&w, "");
    assert_int_equal(blob_writer_finish(&w, out, len), 0);
}

static void test_blob_roundtrip_every_put_and_get(void **unused)
{
    (void)unused;
    uint8_t *b;
    size_t len;
    make_blob(&b, &len);
    /* header 20 + payload 4+8+8+20+3+8+4 + crc 4 */
    assert_int_equal(len, 20 + 55 + 4);
    assert_memory_equal(b, "OPTB", 4);              /* magic, little-endian */
    blob_reader r;
    uint32_t ver;
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_SESSION, &ver), 0);
    assert_int_equal(ver, 7);
    assert_int_equal(blob_get_u32(&r), 0xDEADBEEFu);
    assert_true(blob_get_u64(&r) == 0x0123456789ABCDEFull);
    assert_true(blob_get_f64(&r) == -2.718281828459045);
    float f[5];
    blob_get_f32s(&r, f, 5);
    assert_true(f[0] == 1.5f && f[2] == 3.4e38f && f[3] == 1e-45f && isnan(f[4]));
    assert_true(f[1] == 0.0f && signbit(f[1]));
    char bytes[3], s[16];
    blob_get_bytes(&r, bytes, 3);
    assert_memory_equal(bytes, "xyz", 3);
    blob_get_str(&r, s, sizeof s);
    assert_string_equal(s, "adam");
    blob_get_str(&r, s, sizeof s);
    assert_string_equal(s, "");
    assert_int_equal(blob_reader_status(&r), 0);
    assert_int_equal(r.pos, r.len);
    /* reading past the end is sticky ERR_CORRUPT and yields zeros */
    assert_int_equal(blob_get_u32(&r), 0);
    assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);
    free(b);
}

static void test_blob_truncated_is_corrupt_at_every_length(void **unused)
{
    (void)unused;
    uint8_t *b;
    size_t len;
    make_blob(&b, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);   /* exact-size copy: asan catches overreads */
        memcpy(copy, b, cut);
        blob_reader r;
        assert_int_equal(blob_reader_init(&r, copy, cut, BLOB_KIND_SESSION, NULL), ERR_CORRUPT);
        assert_int_equal(blob_get_u32(&r), 0);
        assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);
        free(copy);
    }
    blob_reader r;
    assert_int_equal(blob_reader_init(&r, NULL, 0, BLOB_KIND_SESSION, NULL), ERR_CORRUPT);
    free(b);
}

static void test_blob_any_flipped_bit_is_corrupt(void **unused)
{
    (void)unused;
    uint8_t *b;
    size_t len;
    make_blob(&b, &len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            blob_reader r;
            assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_SESSION, NULL), ERR_CORRUPT);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    blob_reader r;
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_SESSION, NULL), 0);
    free(b);
}

static void test_blob_wrong_kind_and_trailing_bytes_are_corrupt(void **unused)
{
    (void)unused;
    uint8_t *b;
    size_t len;
    make_blob(&b, &len);
    blob_reader r;
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_OPT_STATE, NULL), ERR_CORRUPT);
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_WEIGHTS, NULL), ERR_CORRUPT);
    uint8_t *longer = calloc(len + 1, 1);
    memcpy(longer, b, len);
    assert_int_equal(blob_reader_init(&r, longer, len + 1, BLOB_KIND_SESSION, NULL), ERR_CORRUPT);
    free(longer);
    free(b);
}

/* Rewrites the length field and the checksum, so only the length lies. */
static void set_length(uint8_t *b, size_t len, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[12 + i] = (uint8_t)(v >> (8 * i));
    uint32_t c = blob_crc32(0, b, len - 4);
    for (int i = 0; i < 4; i++) b[len - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void test_blob_huge_length_field_is_corrupt(void **unused)
{
    (void)unused;
    uint8_t *b;
    size_t len;
    make_blob(&b, &len);
    const uint64_t lies[] = {UINT64_MAX, (uint64_t)SIZE_MAX - 3, 1ull << 40, 56, 54, 0};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        set_length(b, len, lies[i]);
        blob_reader r;
        assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_SESSION, NULL), ERR_CORRUPT);
    }
    free(b);
}

/* Well-formed blobs whose contents lie: reads must stop at the payload. */
static void test_blob_reads_past_payload_are_corrupt_not_crashes(void **unused)
{
    (void)unused;
    blob_writer w;
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_META, 1), 0);
    blob_put_u32(&w, 1000000u);        /* a string length far past the end */
    blob_put_bytes(&w, "ab", 2);
    uint8_t *b;
    size_t len;
    assert_int_equal(blob_writer_finish(&w, &b, &len), 0);
    blob_reader r;
    char s[8] = "zzz";
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_META, NULL), 0);
    blob_get_str(&r, s, 2000000);
    assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);
    assert_string_equal(s, "");

    /* a string longer than the caller's buffer */
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_META, NULL), 0);
    blob_get_str(&r, s, sizeof s);
    assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);

    /* a float count whose byte size overflows */
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_META, NULL), 0);
    float f[2] = {1, 2};
    blob_get_f32s(&r, f, SIZE_MAX / 2);
    assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_META, NULL), 0);
    blob_get_f32s(&r, f, 2);                    /* 8 bytes wanted, 6 present */
    assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);
    assert_true(f[0] == 0 && f[1] == 0);
    free(b);

    /* an embedded NUL in a string */
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_META, 1), 0);
    blob_put_u32(&w, 3);
    blob_put_bytes(&w, "a\0b", 3);
    assert_int_equal(blob_writer_finish(&w, &b, &len), 0);
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_META, NULL), 0);
    blob_get_str(&r, s, sizeof s);
    assert_int_equal(blob_reader_status(&r), ERR_CORRUPT);
    free(b);
}

static void test_blob_writer_grows_and_deinit_frees(void **unused)
{
    (void)unused;
    blob_writer w;
    assert_int_equal(blob_writer_init(&w, BLOB_KIND_WEIGHTS, 3), 0);
    float *f = malloc(100000 * sizeof *f);
    for (int i = 0; i < 100000; i++) f[i] = (float)i * 0.5f;
    blob_put_f32s(&w, f, 100000);
    uint8_t *b;
    size_t len;
    assert_int_equal(blob_writer_finish(&w, &b, &len), 0);
    assert_int_equal(len, 24 + 400000);
    blob_reader r;
    assert_int_equal(blob_reader_init(&r, b, len, BLOB_KIND_WEIGHTS, NULL), 0);
    float *g = malloc(100000 * sizeof *g);
    blob_get_f32s(&r, g, 100000);
    assert_int_equal(blob_reader_status(&r), 0);
    assert_memory_equal(f, g, 100000 * sizeof *f);
    free(b); free(f); free(g);

    assert_int_equal(blob_writer_init(&w, BLOB_KIND_WEIGHTS, 3), 0);
    blob_put_u64(&w, 1);
    blob_writer_deinit(&w);          /* abandoned writer: no leak under asan */
    blob_writer_deinit(&w);          /* and a second deinit is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_crc32_matches_ieee_check_value),
        cmocka_unit_test(test_blob_roundtrip_every_put_and_get),
        cmocka_unit_test(test_blob_truncated_is_corrupt_at_every_length),
        cmocka_unit_test(test_blob_any_flipped_bit_is_corrupt),
        cmocka_unit_test(test_blob_wrong_kind_and_trailing_bytes_are_corrupt),
        cmocka_unit_test(test_blob_huge_length_field_is_corrupt),
        cmocka_unit_test(test_blob_reads_past_payload_are_corrupt_not_crashes),
        cmocka_unit_test(test_blob_writer_grows_and_deinit_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
