/* data_idx.c — IDX parser and gzip loader; see data_idx.h. */
#include "data_idx.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "errors.h"

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int data_idx_parse(data_idx_array *out, const uint8_t *buf, size_t len)
{
    memset(out, 0, sizeof *out);
    if (!buf || len < 4 || buf[0] != 0 || buf[1] != 0) return ERR_CORRUPT;
    if (buf[2] != 0x08) return ERR_CORRUPT;          /* unsigned byte only */
    int nd = buf[3];
    if (nd < 1 || nd > DATA_IDX_MAX_DIMS) return ERR_CORRUPT;
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr) return ERR_CORRUPT;
    size_t size = 1;
    int64_t dims[DATA_IDX_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        uint32_t d = be32(buf + 4 + 4 * i);
        if (d == 0 || size > DATA_IDX_MAX_BYTES / d) return ERR_CORRUPT;
        size *= d;
        dims[i] = d;
    }
    if (len - hdr != size) return ERR_CORRUPT;        /* truncated or trailing bytes */
    uint8_t *data = malloc(size);
    if (!data) return ERR_NO_MEMORY;
    memcpy(data, buf + hdr, size);
    out->ndim = nd;
    memcpy(out->dims, dims, sizeof(int64_t) * nd);
    out->size = size;
    out->data = data;
    return 0;
}

int data_idx_load_gz(data_idx_array *out, const char *path)
{
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return ERR_NOT_FOUND;
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    if (!buf) { gzclose(f); return ERR_NO_MEMORY; }
    for (;;) {
        if (len == cap) {
            if (cap >= DATA_IDX_MAX_BYTES + 64) { rc = ERR_CORRUPT; break; }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { rc = ERR_NO_MEMORY; break; }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - len;
        if (want > (1u << 30)) want = 1u << 30;
        int got = gzread(f, buf + len, (unsigned)want);
        if (got < 0) { rc = ERR_CORRUPT; break; }     /* bad or truncated gzip data */
        if (got == 0) {
            int zerr = 0;
            gzerror(f, &zerr);
            if (zerr != Z_OK && zerr != Z_BUF_ERROR) rc = ERR_CORRUPT;
            break;
        }
        len += (size_t)got;
    }
    gzclose(f);
    if (rc == 0) rc = data_idx_parse(out, buf, len);
    free(buf);
    return rc;
}

void data_idx_deinit(data_idx_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
