/* errors.c — see errors.h: names and messages of the error codes, by code. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct { const char *name; const char *message; } err_row;

static const err_row rows[] = {
#define ERR_ROW_(e, c, m) {c, m},
    ERR_MAP(ERR_ROW_)
#undef ERR_ROW_
};

static const err_row *row_of(int e)
{
    int i = e - (ERR_FIRST_ + 1);
    if (i < 0 || i >= (int)(sizeof rows / sizeof rows[0])) return &rows[sizeof rows / sizeof rows[0] - 1];
    return &rows[i];
}

const char *err_name(int e) { return row_of(e)->name; }
const char *err_message(int e) { return row_of(e)->message; }

int err_failf(char *msg, size_t cap, int rc, const char *fmt, ...)
{
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}
