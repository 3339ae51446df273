/* idemlock.c — see idemlock.h.
 *
 * A short list of the keys in flight under one mutex that is held only to
 * find, add or drop an entry, never while a request runs; each entry has its
 * own condition variable for the requests waiting on that key. */
#include "idemlock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct idemlock {
    char           *name;           /* tenant \0 route \0 key \0 */
    size_t          name_len;
    int             held;
    int             users;          /* the holder and the waiters */
    pthread_cond_t  cv;
    idemlock       *next;
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static idemlock       *table;
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

idemlock *idemlock_acquire(const char *tenant, const char *route, const char *key)
{
    size_t len;
    char *name = make_name(tenant, route, key, &len);
    if (!name) return NULL;
    pthread_mutex_lock(&table_mu);
    idemlock *l = table;
    while (l && (l->name_len != len || memcmp(l->name, name, len) != 0)) l = l->next;
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l) {
            pthread_mutex_unlock(&table_mu);
            free(name);
            return NULL;
        }
        l->name = name;
        l->name_len = len;
        name = NULL;
        pthread_cond_init(&l->cv, NULL);
        l->next = table;
        table = l;
        table_count++;
    }
    free(name);
    l->users++;
    while (l->held) pthread_cond_wait(&l->cv, &table_mu);
    l->held = 1;
    pthread_mutex_unlock(&table_mu);
    return l;
}

void idemlock_release(idemlock *l)
{
    if (!l) return;
    pthread_mutex_lock(&table_mu);
    l->held = 0;
    if (--l->users > 0) {
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&table_mu);
        return;
    }
    idemlock **pp = &table;
    while (*pp != l) pp = &(*pp)->next;
    *pp = l->next;
    table_count--;
    pthread_mutex_unlock(&table_mu);
    pthread_cond_destroy(&l->cv);
    free(l->name);
    free(l);
}

int idemlock_count(void)
{
    pthread_mutex_lock(&table_mu);
    int n = table_count;
    pthread_mutex_unlock(&table_mu);
    return n;
}
