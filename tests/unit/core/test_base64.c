/* test_base64.c — the RFC 4648 §10 test vectors both ways, a round trip of
 * every length 0..64 over all byte values, and the refusal of every
 * non-canonical text (bad length, foreign characters, misplaced padding,
 * non-zero bits under the padding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base64.h"
#include "errors.h"

static void check_vector(const char *plain, const char *coded)
{
    char *e;
    size_t el;
    assert_int_equal(base64_encode(plain, strlen(plain), &e, &el), 0);
    assert_int_equal(el, strlen(coded));
    assert_string_equal(e, coded);
    assert_int_equal(base64_encoded_len(strlen(plain)), el);
    free(e);
    uint8_t *d;
    size_t dl;
    assert_int_equal(base64_decode(coded, strlen(coded), &d, &dl), 0);
    assert_int_equal(dl, strlen(plain));
    if (dl) assert_memory_equal(d, plain, dl);
    free(d);
}

static void test_base64_rfc4648_vectors(void **unused)
{
    (void)unused;
    check_vector("", "");
    check_vector("f", "Zg==");
    check_vector("fo", "Zm8=");
    check_vector("foo", "Zm9v");
    check_vector("foob", "Zm9vYg==");
    check_vector("fooba", "Zm9vYmE=");
    check_vector("foobar", "Zm9vYmFy");
}

static void test_base64_round_trips_every_length(void **unused)
{
    (void)unused;
    uint8_t buf[64];
    for (int n = 0; n <= 64; n++) {
        for (int i = 0; i < n; i++) buf[i] = (uint8_t)(i * 37 + n * 11 + 255);
        char *e;
        size_t el;
        assert_int_equal(base64_encode(buf, (size_t)n, &e, &el), 0);
        uint8_t *d;
        size_t dl;
        assert_int_equal(base64_decode(e, el, &d, &dl), 0);
        assert_int_equal(dl, (size_t)n);
        if (n) assert_memory_equal(d, buf, (size_t)n);
        free(e);
        free(d);
    }
}

static void refused(const char *s)
{
    uint8_t *d = NULL;
    size_t dl = 0;
    assert_int_equal(base64_decode(s, strlen(s), &d, &dl), ERR_INVALID_ARGUMENT);
    assert_null(d);
}

static void test_base64_refuses_non_canonical_text(void **unused)
{
    (void)unused;
    refused("Zg=");        /* length not a multiple of 4 */
    refused("Zg");
    refused("Zm9vY");
    refused("Zm9v\n");
    refused("Zm 9");       /* a space */
    refused("Zm-_");       /* the URL alphabet */
    refused("Z===");       /* three pads */
    refused("====");
    refused("Zg=A");       /* padding before the end */
    refused("Zg==Zm9v");   /* padding in the middle */
    refused("Zh==");       /* non-zero bits under the padding */
    refused("Zm9=");
    const char nul[] = {'Z', 'g', '\0', '='};
    uint8_t *d = NULL;
    size_t dl;
    assert_int_equal(base64_decode(nul, 4, &d, &dl), ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648_vectors),
        cmocka_unit_test(test_base64_round_trips_every_length),
        cmocka_unit_test(test_base64_refuses_non_canonical_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
