/* fuzz_blob.h — shared by the blob-loader fuzz targets: rebuilds a blob's
 * header and CRC around a fuzzed payload, so that the fuzzer can explore the
 * payload decoders behind the checksum (a mutated blob almost never has a
 * valid CRC, and the raw path only tests blob_reader_init).
 * Blob layout (blob.h): magic u32, kind u32, version u32, length u64,
 * payload, crc32 u32 of everything before it; all little-endian. */
#ifndef OPTIRS_FUZZ_BLOB_H
#define OPTIRS_FUZZ_BLOB_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"

#define FUZZ_BLOB_HEADER 20

static inline void fuzz_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A malloc'd blob of `kind`/`version` around payload[0..n); *len gets its
 * size.  NULL when out of memory. */
static inline uint8_t *fuzz_blob_wrap(uint32_t kind, uint32_t version, const uint8_t *payload, size_t n,
                                      size_t *len)
{
    uint8_t *b = malloc(FUZZ_BLOB_HEADER + n + 4);
    if (!b) return NULL;
    fuzz_put_le(b, 0x4254504Fu, 4);
    fuzz_put_le(b + 4, kind, 4);
    fuzz_put_le(b + 8, version, 4);
    fuzz_put_le(b + 12, n, 8);
    if (n) memcpy(b + FUZZ_BLOB_HEADER, payload, n);
    fuzz_put_le(b + FUZZ_BLOB_HEADER + n, blob_crc32(0, b, FUZZ_BLOB_HEADER + n), 4);
    *len = FUZZ_BLOB_HEADER + n + 4;
    return b;
}

#endif
