/* tasks_arena.c — one checked allocation for a task's buffers; see
 * tasks_arena.h. */
#include "tasks_arena.h"

#include <stdint.h>
#include <stdlib.h>

#include "errors.h"
#include "tasks_internal.h"

#define ARENA_ALIGN 64

int tasks_arena_alloc(const char *family, const tasks_buf *bufs, int n, void **block)
{
    *block = NULL;
    for (int i = 0; i < n; i++) *bufs[i].ptr = NULL;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t c = bufs[i].count, e = bufs[i].elem;
        if (e && c > (TASKS_ARENA_MAX / e)) goto too_large;
        size_t b = (c * e + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        if (b > TASKS_ARENA_MAX - total) goto too_large;
        total += b;
    }
    char *mem = aligned_alloc(ARENA_ALIGN, total ? total : ARENA_ALIGN);
    if (!mem) return ERR_NO_MEMORY;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        *bufs[i].ptr = mem + off;
        off += (bufs[i].count * bufs[i].elem + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    }
    *block = mem;
    return 0;
too_large:
    tasks_set_error("%s: these sizes need more than %zu MiB of scratch memory", family,
                    TASKS_ARENA_MAX >> 20);
    return ERR_OUT_OF_RANGE;
}
