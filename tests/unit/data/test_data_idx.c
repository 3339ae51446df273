/* test_data_idx.c — the IDX reader on the real Fashion-MNIST files and on
 * corrupt, truncated and hand-made buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "data_idx.h"

#define FM "/usr/share/datasets/fashion-mnist/"

static void test_parses_small_buffer(void **st)
{
    (void)st;
    const uint8_t buf[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    data_idx_array a;
    assert_int_equal(data_idx_parse(&a, buf, sizeof buf), 0);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.dims[0], 2);
    assert_int_equal(a.dims[1], 3);
    assert_int_equal(a.size, 6);
    assert_int_equal(a.data[5], 6);
    data_idx_deinit(&a);
    assert_null(a.data);
    data_idx_deinit(&a);   /* twice is harmless */
}

static void test_rejects_corrupt_buffers(void **st)
{
    (void)st;
    data_idx_array a;
    const uint8_t good[] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
    uint8_t b[sizeof good];
    /* every truncation, including empty */
    for (size_t n = 0; n < sizeof good; n++) {
        assert_int_equal(data_idx_parse(&a, good, n), ERR_CORRUPT);
        assert_null(a.data);
    }
    assert_int_equal(data_idx_parse(&a, NULL, 0), ERR_CORRUPT);
    /* trailing garbage */
    uint8_t longer[sizeof good + 1];
    memcpy(longer, good, sizeof good);
    longer[sizeof good] = 1;
    assert_int_equal(data_idx_parse(&a, longer, sizeof longer), ERR_CORRUPT);
    /* bad magic, bad type, zero/too many dims, zero dimension, huge dimension */
    memcpy(b, good, sizeof b); b[0] = 1;  assert_int_equal(data_idx_parse(&a, b, sizeof b), ERR_CORRUPT);
    memcpy(b, good, sizeof b); b[2] = 0x0D; assert_int_equal(data_idx_parse(&a, b, sizeof b), ERR_CORRUPT);
    memcpy(b, good, sizeof b); b[3] = 0;  assert_int_equal(data_idx_parse(&a, b, sizeof b), ERR_CORRUPT);
    memcpy(b, good, sizeof b); b[3] = 200; assert_int_equal(data_idx_parse(&a, b, sizeof b), ERR_CORRUPT);
    memcpy(b, good, sizeof b); b[7] = 0;  assert_int_equal(data_idx_parse(&a, b, sizeof b), ERR_CORRUPT);
    memcpy(b, good, sizeof b); b[4] = 0xFF; assert_int_equal(data_idx_parse(&a, b, sizeof b), ERR_CORRUPT);
    const uint8_t huge[] = {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1};
    assert_int_equal(data_idx_parse(&a, huge, sizeof huge), ERR_CORRUPT);
}

static void test_reads_real_fashion_mnist(void **st)
{
    (void)st;
    data_idx_array x, y;
    int rc = data_idx_load_gz(&x, FM "train-images-idx3-ubyte.gz");
    if (rc == ERR_NOT_FOUND) { printf("SKIP: " FM " missing (install dataset-fashion-mnist)\n"); skip(); }
    assert_int_equal(rc, 0);
    assert_int_equal(x.ndim, 3);
    assert_int_equal(x.dims[0], 60000);
    assert_int_equal(x.dims[1], 28);
    assert_int_equal(x.dims[2], 28);
    assert_int_equal(x.size, 60000u * 784u);
    size_t nz = 0;
    for (size_t i = 0; i < x.size; i++) nz += x.data[i] != 0;
    assert_true(nz > x.size / 4 && nz < x.size);   /* real images, not all zero */
    assert_int_equal(data_idx_load_gz(&y, FM "train-labels-idx1-ubyte.gz"), 0);
    assert_int_equal(y.ndim, 1);
    assert_int_equal(y.dims[0], 60000);
    int count[10] = {0};
    for (size_t i = 0; i < y.size; i++) {
        assert_true(y.data[i] <= 9);
        count[y.data[i]]++;
    }
    for (int k = 0; k < 10; k++) assert_int_equal(count[k], 6000);   /* FMNIST is balanced */
    data_idx_deinit(&x);
    data_idx_deinit(&y);
    assert_int_equal(data_idx_load_gz(&y, FM "t10k-labels-idx1-ubyte.gz"), 0);
    assert_int_equal(y.dims[0], 10000);
    data_idx_deinit(&y);
}

static void test_truncated_and_missing_files_fail_cleanly(void **st)
{
    (void)st;
    data_idx_array a;
    assert_int_equal(data_idx_load_gz(&a, "/nonexistent/dir/file.gz"), ERR_NOT_FOUND);
    FILE *f = fopen(FM "t10k-labels-idx1-ubyte.gz", "rb");
    if (!f) { printf("SKIP: " FM " missing\n"); skip(); }
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 100);
    char path[] = "/tmp/test_idx_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* first half of the gzip stream: decompresses short of the header's size */
    assert_int_equal(write(fd, buf, n / 2), (ssize_t)(n / 2));
    close(fd);
    assert_int_equal(data_idx_load_gz(&a, path), ERR_CORRUPT);
    assert_null(a.data);
    /* a gzip stream with flipped bytes in the middle */
    buf[n / 2] ^= 0xFF; buf[n / 2 + 1] ^= 0x55;
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    assert_int_equal(data_idx_load_gz(&a, path), ERR_CORRUPT);
    /* an uncompressed but garbage file */
    f = fopen(path, "wb");
    fputs("not an idx file at all", f);
    fclose(f);
    assert_int_equal(data_idx_load_gz(&a, path), ERR_CORRUPT);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_small_buffer),
        cmocka_unit_test(test_rejects_corrupt_buffers),
        cmocka_unit_test(test_reads_real_fashion_mnist),
        cmocka_unit_test(test_truncated_and_missing_files_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
