/* blob.c — the versioned, checksummed binary format (see blob.h).
 *
 * Every multi-byte value is written byte by byte in little-endian order, so
 * the format does not depend on the host.  The writer's error is sticky: after
 * the first failure every put is a no-op and blob_writer_finish reports it.
 * The reader validates the whole blob in blob_reader_init and afterwards
 * never reads past the payload: an overrun sets ERR_CORRUPT, zero-fills the
 * destination and makes every later read a zero-filling no-op. */
#include "blob.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "errors.h"

#define BLOB_MAGIC    0x4254504Fu  /* "OPTB" read as a little-endian u32 */
#define BLOB_HEADER   20u          /* magic, kind, version (u32), length (u64) */
#define BLOB_TRAILER  4u           /* crc32 */
#define BLOB_LEN_AT   12u

uint32_t blob_crc32(uint32_t crc, const void *data, size_t n)
{
    /* zlib's crc32 is the IEEE 802.3 CRC with the same pre/post inversion
     * convention (start at 0, continue with the previous result). */
    const Bytef *p = data;
    uLong c = crc;
    while (n > 0) {
        uInt chunk = n > (size_t)UINT_MAX ? UINT_MAX : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

static void le32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t rd64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Makes room for `n` more bytes; returns a pointer to them or NULL (sticky
 * ERR_NO_MEMORY). */
static uint8_t *reserve(blob_writer *w, size_t n)
{
    if (w->err) return NULL;
    if (n > SIZE_MAX - w->len - BLOB_TRAILER) { w->err = ERR_NO_MEMORY; return NULL; }
    size_t need = w->len + n;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) { w->err = ERR_NO_MEMORY; return NULL; }
        w->buf = b;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len = need;
    return p;
}

int blob_writer_init(blob_writer *w, uint32_t kind, uint32_t version)
{
    memset(w, 0, sizeof *w);
    uint8_t *h = reserve(w, BLOB_HEADER);
    if (!h) return w->err;
    le32(h, BLOB_MAGIC);
    le32(h + 4, kind);
    le32(h + 8, version);
    le64(h + BLOB_LEN_AT, 0);  /* patched by finish */
    return 0;
}

void blob_put_u32(blob_writer *w, uint32_t v)
{
    uint8_t *p = reserve(w, 4);
    if (p) le32(p, v);
}

void blob_put_u64(blob_writer *w, uint64_t v)
{
    uint8_t *p = reserve(w, 8);
    if (p) le64(p, v);
}

void blob_put_f64(blob_writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    blob_put_u64(w, u);
}

void blob_put_f32s(blob_writer *w, const float *v, size_t n)
{
    if (n > SIZE_MAX / 4) { if (!w->err) w->err = ERR_NO_MEMORY; return; }
    if (n == 0) return; /* v may be NULL (an empty state) */
    uint8_t *p = reserve(w, n * 4);
    if (!p) return;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, v, n * 4); /* the stored form is the host's: one copy */
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        le32(p + 4 * i, u);
    }
#endif
}

void blob_put_bytes(blob_writer *w, const void *v, size_t n)
{
    uint8_t *p = reserve(w, n);
    if (p && n) memcpy(p, v, n);
}

void blob_put_str(blob_writer *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT32_MAX) { if (!w->err) w->err = ERR_INVALID_ARGUMENT; return; }
    blob_put_u32(w, (uint32_t)n);
    blob_put_bytes(w, s, n);
}

int blob_writer_finish(blob_writer *w, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    uint8_t *c = reserve(w, BLOB_TRAILER);
    if (!c) {
        int err = w->err;
        blob_writer_deinit(w);
        return err;
    }
    le64(w->buf + BLOB_LEN_AT, (uint64_t)(w->len - BLOB_HEADER - BLOB_TRAILER));
    le32(c, blob_crc32(0, w->buf, w->len - BLOB_TRAILER));
    *out = w->buf;
    *out_len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    return 0;
}

void blob_writer_deinit(blob_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

int blob_reader_init(blob_reader *r, const void *data, size_t len, uint32_t kind, uint32_t *version)
{
    const uint8_t *b = data;
    r->p = NULL;
    r->len = r->pos = 0;
    r->err = ERR_CORRUPT;
    if (version) *version = 0;
    if (!b || len < BLOB_HEADER + BLOB_TRAILER) return ERR_CORRUPT;
    if (rd32(b) != BLOB_MAGIC || rd32(b + 4) != kind) return ERR_CORRUPT;
    uint64_t plen = rd64(b + BLOB_LEN_AT);
    if (plen != (uint64_t)(len - BLOB_HEADER - BLOB_TRAILER)) return ERR_CORRUPT;
    if (blob_crc32(0, b, len - BLOB_TRAILER) != rd32(b + len - BLOB_TRAILER)) return ERR_CORRUPT;
    if (version) *version = rd32(b + 8);
    r->p = b + BLOB_HEADER;
    r->len = (size_t)plen;
    r->err = 0;
    return 0;
}

/* Returns the next `n` payload bytes and advances, or NULL after marking the
 * reader corrupt when fewer remain. */
static const uint8_t *take(blob_reader *r, size_t n)
{
    if (r->err || n > r->len - r->pos) { r->err = ERR_CORRUPT; return NULL; }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint32_t blob_get_u32(blob_reader *r)
{
    const uint8_t *p = take(r, 4);
    return p ? rd32(p) : 0;
}

uint64_t blob_get_u64(blob_reader *r)
{
    const uint8_t *p = take(r, 8);
    return p ? rd64(p) : 0;
}

double blob_get_f64(blob_reader *r)
{
    uint64_t u = blob_get_u64(r);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

void blob_get_f32s(blob_reader *r, float *v, size_t n)
{
    if (n == 0) return; /* v may be NULL (an empty state) */
    const uint8_t *p = n > SIZE_MAX / 4 ? (r->err = ERR_CORRUPT, NULL) : take(r, n * 4);
    if (!p) {
        if (n <= SIZE_MAX / 4 && v) memset(v, 0, n * sizeof *v);
        return;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n) memcpy(v, p, n * 4);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u = rd32(p + 4 * i);
        memcpy(&v[i], &u, sizeof u);
    }
#endif
}

void blob_get_bytes(blob_reader *r, void *v, size_t n)
{
    const uint8_t *p = take(r, n);
    if (!n) return;
    if (p) memcpy(v, p, n);
    else memset(v, 0, n);
}

void blob_get_str(blob_reader *r, char *s, size_t cap)
{
    if (cap) s[0] = '\0';
    uint32_t n = blob_get_u32(r);
    if (r->err) return;
    if ((size_t)n >= cap) { r->err = ERR_CORRUPT; return; }
    const uint8_t *p = take(r, n);
    if (!p) return;
    if (memchr(p, '\0', n)) { r->err = ERR_CORRUPT; return; }
    memcpy(s, p, n);
    s[n] = '\0';
}

int blob_reader_status(const blob_reader *r)
{
    return r->err ? ERR_CORRUPT : 0;
}
