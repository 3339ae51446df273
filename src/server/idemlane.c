/* idemlane.c — see idemlane.h.
 *
 * A short list of the keys in use under one mutex, held only to find, add
 * or drop an entry. */
#include "idemlane.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct idemlane {
    char      *name;                /* tenant \0 route \0 key \0 */
    size_t     name_len;
    int        refs;
    pool_lane  lane;
    idemlane  *next;
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static idemlane       *table;
static int             table_count;

/* tenant \0 route \0 key \0 as one heap string; NULL when out of memory. */
static char *make_name(const char *tenant, const char *route, const char *key, size_t *len)
{
    size_t a = strlen(tenant) + 1, b = strlen(route) + 1, c = strlen(key) + 1;
    char *n = malloc(a + b + c);
    if (!n) return NULL;
    memcpy(n, tenant, a);
    memcpy(n + a, route, b);
    memcpy(n + a + b, key, c);
    *len = a + b + c;
    return n;
}

idemlane *idemlane_get(const char *tenant, const char *route, const char *key)
{
    size_t len;
    char *name = make_name(tenant, route, key, &len);
    if (!name) return NULL;
    pthread_mutex_lock(&table_mu);
    idemlane *l = table;
    while (l && (l->name_len != len || memcmp(l->name, name, len) != 0)) l = l->next;
    if (l) {
        free(name);
    } else if ((l = calloc(1, sizeof *l)) != NULL) {
        l->name = name;
        l->name_len = len;
        pool_lane_init(&l->lane);
        l->next = table;
        table = l;
        table_count++;
    } else {
        free(name);
    }
    if (l) l->refs++;
    pthread_mutex_unlock(&table_mu);
    return l;
}

pool_lane *idemlane_lane(idemlane *l) { return &l->lane; }

void idemlane_put(idemlane *l)
{
    if (!l) return;
    pthread_mutex_lock(&table_mu);
    if (--l->refs > 0) {
        pthread_mutex_unlock(&table_mu);
        return;
    }
    idemlane **pp = &table;
    while (*pp != l) pp = &(*pp)->next;
    *pp = l->next;
    table_count--;
    pthread_mutex_unlock(&table_mu);
    free(l->name);
    free(l);
}

int idemlane_count(void)
{
    pthread_mutex_lock(&table_mu);
    int n = table_count;
    pthread_mutex_unlock(&table_mu);
    return n;
}
