/* ratelimit.c — per-key token buckets keyed by the exact key id (a chained
 * hash table whose entries compare the whole id).  See ratelimit.h. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

#define RL_CHAINS 1024

typedef struct bucket {
    struct bucket *next;
    char           id[RATELIMIT_ID_MAX];
    double         tokens, refilled;   /* tokens as of time `refilled` */
} bucket;

struct ratelimit {
    pthread_mutex_t mu;
    bucket         *chain[RL_CHAINS];
    size_t          count;
    size_t          sweep_at;            /* sweep every chain once count reaches this */
};

ratelimit *ratelimit_new(void)
{
    ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->sweep_at = RATELIMIT_SWEEP_EVERY;
    return rl;
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl) return;
    for (int i = 0; i < RL_CHAINS; i++) {
        bucket *b = rl->chain[i];
        while (b) {
            bucket *nx = b->next;
            free(b);
            b = nx;
        }
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static unsigned chain_of(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 16777619u;
    return h % RL_CHAINS;
}

/* Brings b's tokens up to `now`; 1 when the bucket is full (then it is
 * indistinguishable from a new one). */
static int refill(bucket *b, double now, double rate, double burst)
{
    if (now > b->refilled) {
        b->tokens += (now - b->refilled) * rate;
        b->refilled = now;
    }
    if (b->tokens >= burst) {
        b->tokens = burst;
        return 1;
    }
    return 0;
}

/* Unlinks and frees the full buckets of chain i, except `keep`. */
static void drop_full(ratelimit *rl, int i, const bucket *keep, double now, double rate, double burst)
{
    bucket **pp = &rl->chain[i];
    while (*pp) {
        bucket *b = *pp;
        if (b != keep && refill(b, now, rate, burst)) {
            *pp = b->next;
            free(b);
            rl->count--;
        } else pp = &b->next;
    }
}

int ratelimit_take(ratelimit *rl, const char *id, double now, double rate, double burst, int *retry_after_s)
{
    size_t n = strlen(id);
    if (!rl || n == 0 || n >= RATELIMIT_ID_MAX || !(rate > 0) || !(burst >= 1)) return ERR_INVALID_ARGUMENT;
    unsigned c = chain_of(id);
    pthread_mutex_lock(&rl->mu);
    bucket *b = rl->chain[c];
    while (b && strcmp(b->id, id) != 0) b = b->next;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) {
            pthread_mutex_unlock(&rl->mu);
            return ERR_NO_MEMORY;
        }
        memcpy(b->id, id, n + 1);
        b->tokens = burst;
        b->refilled = now;
        b->next = rl->chain[c];
        rl->chain[c] = b;
        rl->count++;
    }
    refill(b, now, rate, burst);
    int ok = b->tokens >= 1;
    if (ok) b->tokens -= 1;
    double wait = ok ? 0 : (1 - b->tokens) / rate;
    drop_full(rl, (int)c, b, now, rate, burst);
    if (rl->count >= rl->sweep_at) {
        for (int i = 0; i < RL_CHAINS; i++) drop_full(rl, i, b, now, rate, burst);
        /* Amortised: the next sweep after as many new buckets as remain. */
        rl->sweep_at = rl->count * 2 > RATELIMIT_SWEEP_EVERY ? rl->count * 2 : RATELIMIT_SWEEP_EVERY;
    }
    pthread_mutex_unlock(&rl->mu);
    if (ok) return 0;
    *retry_after_s = wait < 1e6 ? (int)wait + 1 : 1000000;
    return ERR_RATE_LIMITED;
}

size_t ratelimit_count(ratelimit *rl)
{
    if (!rl) return 0;
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
