/* updbuf.c — reference-counted update vectors (updbuf.h). */
#include "updbuf.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The header before the floats; its size keeps them 64-byte aligned in a
 * 64-byte aligned block (the kernels' vector loads). */
typedef struct updbuf_head {
    alignas(64) atomic_int refs;
} updbuf_head;

static updbuf_head *head_of(const float *v)
{
    return (updbuf_head *)(void *)((char *)(uintptr_t)v - sizeof(updbuf_head));
}

float *updbuf_new(size_t n)
{
    if (n > (SIZE_MAX - sizeof(updbuf_head) - 63) / sizeof(float)) return NULL;
    size_t bytes = sizeof(updbuf_head) + n * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;   /* aligned_alloc wants a multiple of the alignment */
    updbuf_head *h = aligned_alloc(64, bytes);
    if (!h) return NULL;
    atomic_init(&h->refs, 1);
    float *v = (float *)(void *)(h + 1);
    memset(v, 0, n * sizeof(float));
    return v;
}

void updbuf_hold(const float *v)
{
    atomic_fetch_add_explicit(&head_of(v)->refs, 1, memory_order_relaxed);
}

void updbuf_put(const float *v)
{
    if (!v) return;
    updbuf_head *h = head_of(v);
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1) free(h);
}

void updbuf_put_cb(void *v) { updbuf_put(v); }

int updbuf_shared(const float *v)
{
    return atomic_load_explicit(&head_of(v)->refs, memory_order_acquire) > 1;
}
