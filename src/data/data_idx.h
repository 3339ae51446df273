/* data_idx.h — reader for the IDX format of (Fashion-)MNIST.
 *
 * An IDX file is: two zero bytes, a type byte (0x08 = unsigned byte, the only
 * type supported here), a dimension count, then that many big-endian u32
 * dimensions and the row-major data.  The parser checks every length against
 * the buffer, so a truncated or corrupt file is ERR_CORRUPT, never a crash.
 * data_idx_load_gz reads a gzip-compressed file (or an uncompressed one: zlib
 * passes those through).  With data_text.c, the only dataset file reading in
 * the tree (src/core reads no files).
 *
 * Ownership: a data_idx_array owns its data; data_idx_deinit frees it (safe on a
 * zeroed array).  Thread rules: no shared state. */
#ifndef OPTIRS_DATA_IDX_H
#define OPTIRS_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#define DATA_IDX_MAX_DIMS 4
#define DATA_IDX_MAX_BYTES ((size_t)1 << 30)   /* refuse anything larger */

typedef struct data_idx_array {
    int      ndim;
    int64_t  dims[DATA_IDX_MAX_DIMS];
    size_t   size;        /* product of dims */
    uint8_t *data;        /* size bytes, owned */
} data_idx_array;

/* Parses an in-memory IDX file (copying the data).  0, ERR_CORRUPT or
 * ERR_NO_MEMORY; on failure *out is zeroed. */
int  data_idx_parse(data_idx_array *out, const uint8_t *buf, size_t len);
/* Reads and parses a (gzipped) IDX file.  0, ERR_NOT_FOUND (cannot open),
 * ERR_CORRUPT (bad gzip stream or IDX contents), ERR_NO_MEMORY. */
int  data_idx_load_gz(data_idx_array *out, const char *path);
void data_idx_deinit(data_idx_array *a);

#endif
