/* data_text.c — whole-file text reader; see data_text.h. */
#include "data_text.h"

#include <stdio.h>
#include <stdlib.h>

#include "errors.h"

int data_text_read(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ERR_NOT_FOUND;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n == cap) {
            if (cap >= DATA_TEXT_MAX) { rc = ERR_CORRUPT; break; }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { rc = ERR_NO_MEMORY; break; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    if (!buf) rc = ERR_NO_MEMORY;
    if (ferror(f)) rc = ERR_CORRUPT;
    fclose(f);
    if (rc) { free(buf); return rc; }
    *out = buf;
    *len = n;
    return 0;
}
