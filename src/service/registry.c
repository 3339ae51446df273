/* registry.c — see registry.h.  The array grows by doubling from 64 and
 * never shrinks; insert and remove shift the tail with memmove. */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

void registry_init(registry *r, registry_key_fn key)
{
    r->v = NULL;
    r->n = r->cap = 0;
    r->key = key;
}

void registry_deinit(registry *r)
{
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

int registry_lower_bound(const registry *r, const char *id)
{
    int lo = 0, hi = r->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(r->key(r->v[mid]), id) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void *registry_find(const registry *r, const char *id)
{
    int i = registry_lower_bound(r, id);
    return i < r->n && strcmp(r->key(r->v[i]), id) == 0 ? r->v[i] : NULL;
}

int registry_insert(registry *r, void *item)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        void **v = realloc(r->v, (size_t)cap * sizeof *v);
        if (!v) return ERR_NO_MEMORY;
        r->v = v;
        r->cap = cap;
    }
    int i = registry_lower_bound(r, r->key(item));
    memmove(r->v + i + 1, r->v + i, (size_t)(r->n - i) * sizeof *r->v);
    r->v[i] = item;
    r->n++;
    return 0;
}

int registry_remove(registry *r, const void *item)
{
    int i = registry_lower_bound(r, r->key(item));
    if (i >= r->n || r->v[i] != item) return 0;
    memmove(r->v + i, r->v + i + 1, (size_t)(r->n - i - 1) * sizeof *r->v);
    r->n--;
    return 1;
}
