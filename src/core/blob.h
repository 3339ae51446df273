/* blob.h — the versioned, checksummed binary format for optimizer states,
 * session snapshots and learned-optimizer weights.
 *
 * Layout (all little-endian):
 *   magic  u32  'OPTB' (0x4254504F)
 *   kind   u32  what the payload is (BLOB_KIND_*)
 *   version u32 format version of that kind
 *   length u64  payload bytes
 *   payload
 *   crc32  u32  CRC-32 (IEEE) of everything before it
 * A reader checks magic, kind, version, length and checksum before handing
 * out a single byte, so a truncated or flipped blob is ERR_CORRUPT, never a
 * crash.  Writers grow a heap buffer; the caller frees it with free().
 * Thread rules: a writer/reader is used by one thread at a time. */
#ifndef OPTIRS_BLOB_H
#define OPTIRS_BLOB_H

#include <stddef.h>
#include <stdint.h>

enum {
    BLOB_KIND_OPT_STATE = 1,  /* one optimizer's state (opt_save)        */
    BLOB_KIND_SESSION   = 2,  /* a session snapshot: params, state, last answer */
    BLOB_KIND_WEIGHTS   = 3,  /* learned-optimizer meta-parameters       */
    BLOB_KIND_META      = 4,  /* a meta-training checkpoint              */
    BLOB_KIND_FEWSHOT   = 5,  /* a few-shot weights record (fewshot_record.h) */
};

typedef struct blob_writer {
    uint8_t *buf;
    size_t len, cap;
    int err;                  /* sticky: first failure (ERR_NO_MEMORY) */
} blob_writer;

typedef struct blob_reader {
    const uint8_t *p;         /* payload start */
    size_t len, pos;
    int err;                  /* sticky: ERR_CORRUPT once a read overruns */
} blob_reader;

/* Starts a blob of `kind`/`version`.  Returns 0 or ERR_NO_MEMORY. */
int  blob_writer_init(blob_writer *w, uint32_t kind, uint32_t version);
void blob_put_u32(blob_writer *w, uint32_t v);
void blob_put_u64(blob_writer *w, uint64_t v);
void blob_put_f64(blob_writer *w, double v);
void blob_put_f32s(blob_writer *w, const float *v, size_t n);
void blob_put_bytes(blob_writer *w, const void *v, size_t n);
/* A length-prefixed string (u32 length, bytes, no terminator). */
void blob_put_str(blob_writer *w, const char *s);
/* Seals the blob (length and checksum).  On success *out and *out_len receive the
 * buffer, which the caller frees with free(); returns 0 or the sticky error. */
int  blob_writer_finish(blob_writer *w, uint8_t **out, size_t *out_len);
/* Frees a writer that will not be finished. */
void blob_writer_deinit(blob_writer *w);

/* Checks the whole blob and opens its payload.  Returns 0, or ERR_CORRUPT
 * (bad magic, length, checksum, or a kind other than `kind`).  *version
 * receives the stored version.  The reader borrows `data`. */
int  blob_reader_init(blob_reader *r, const void *data, size_t len, uint32_t kind, uint32_t *version);
uint32_t blob_get_u32(blob_reader *r);
uint64_t blob_get_u64(blob_reader *r);
double   blob_get_f64(blob_reader *r);
void     blob_get_f32s(blob_reader *r, float *v, size_t n);
void     blob_get_bytes(blob_reader *r, void *v, size_t n);
/* Reads a string written by blob_put_str into `s` (NUL-terminated, at most
 * cap-1 bytes; a longer one sets ERR_CORRUPT). */
void     blob_get_str(blob_reader *r, char *s, size_t cap);
/* 0 when every read so far was in bounds, else ERR_CORRUPT. */
int      blob_reader_status(const blob_reader *r);

/* CRC-32 (IEEE 802.3) of `n` bytes, continuing from `crc` (start with 0). */
uint32_t blob_crc32(uint32_t crc, const void *data, size_t n);

#endif
