/* tasks_arena.h — one allocation for a task's scratch buffers, with the
 * memory cost checked before allocating.
 *
 * A family lists its buffers as (pointer, element count, element size);
 * tasks_arena_alloc adds the sizes up with overflow checks (each rounded
 * up to 64 bytes, so every buffer is 64-byte aligned), refuses a total
 * above TASKS_ARENA_MAX with ERR_OUT_OF_RANGE and a message naming the
 * family, else makes one malloc and points every buffer into it.  The
 * caller frees the returned block with free(); on failure nothing is
 * allocated and the pointers are left NULL. */
#ifndef OPTIRS_TASKS_ARENA_H
#define OPTIRS_TASKS_ARENA_H

#include <stddef.h>

/* The largest scratch block one task may hold: 512 MiB. */
#define TASKS_ARENA_MAX ((size_t)512 << 20)

typedef struct tasks_buf {
    void  **ptr;     /* where to store the buffer's address */
    size_t  count;   /* elements */
    size_t  elem;    /* bytes per element */
} tasks_buf;

/* 0, ERR_OUT_OF_RANGE (too large) or ERR_NO_MEMORY; *block receives the
 * allocation. */
int tasks_arena_alloc(const char *family, const tasks_buf *bufs, int n, void **block);

#endif
