/* registry.h — a sorted array of items looked up by a string id: the pure
 * part of the session registry (service/session.c), with no locking and no
 * ownership.
 *
 * Invariants: v[0..n) is sorted by key(v[i]) in strcmp order; the caller
 * keeps each item's id unchanged while it is in the array, guards the
 * registry with its own lock, and owns (references, frees) the items.
 * Inserting an id already present is the caller's mistake (not checked). */
#ifndef OPTIRS_REGISTRY_H
#define OPTIRS_REGISTRY_H

/* The id of an item. */
typedef const char *(*registry_key_fn)(const void *item);

typedef struct registry {
    void           **v;     /* (cap) sorted by key */
    int              n, cap;
    registry_key_fn  key;
} registry;

void registry_init(registry *r, registry_key_fn key);
/* Frees the array, not the items. */
void registry_deinit(registry *r);

/* Index of the first item with id >= id (binary search); n when none. */
int registry_lower_bound(const registry *r, const char *id);
/* The item with this id, or NULL. */
void *registry_find(const registry *r, const char *id);
/* Inserts item at its place: 0, or ERR_NO_MEMORY (nothing changed). */
int registry_insert(registry *r, void *item);
/* Removes this very item (found by its id): 1 when it was there, else 0. */
int registry_remove(registry *r, const void *item);

#endif
