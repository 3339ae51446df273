/* session_timers.c — the registry's timers and shutdown (session.h):
 * sessions_tick (shared-step timeouts and the checkpoint_interval scan),
 * sessions_release_waiters (the drain: every parked worker answered
 * shutting_down) and sessions_checkpoint_all (the final snapshots).  Each
 * visits every live session through references taken under the registry
 * lock, then locks one session at a time. */
#include <stdio.h>
#include <stdlib.h>

#include "errors.h"
#include "session_internal.h"

/* References to every live session (the caller puts them and frees the array). */
static session **snapshot_list(sessions *reg, int *count)
{
    pthread_rwlock_rdlock(&reg->lock);
    session **v = malloc(((size_t)reg->ids.n + 1) * sizeof *v);
    int n = 0;
    if (v)
        for (; n < reg->ids.n; n++) {
            v[n] = reg->ids.v[n];
            atomic_fetch_add(&v[n]->refs, 1);
        }
    pthread_rwlock_unlock(&reg->lock);
    *count = n;
    return v;
}

void sessions_tick(sessions *reg, double now)
{
    int scan_ckpt = now - reg->last_ckpt_scan >= reg->cfg.checkpoint_interval;
    if (!scan_ckpt && atomic_load(&reg->npending) == 0) return;
    if (scan_ckpt) reg->last_ckpt_scan = now;
    int n;
    session **v = snapshot_list(reg, &n);
    if (!v) return;
    for (int i = 0; i < n; i++) {
        session *s = v[i];
        pthread_mutex_lock(&s->mu);
        if (s->g.npend && now > s->pend_deadline) {
            char msg[160];
            snprintf(msg, sizeof msg, "only %d of %d workers posted gradients for step %lld within %g s", s->g.npend,
                     s->sp.workers, (long long)s->g.step, reg->cfg.step_timeout);
            session_pend_answer_all(s, NULL, ERR_STEP_TIMEOUT, msg);
            session_pend_clear(s);
        }
        if (scan_ckpt && !s->deleted && s->sp.dur == DURABILITY_CHECKPOINT && (s->step > s->saved_step || s->es_dirty))
            session_snapshot_save(s, 0);
        session_unlock(s);
        session_unref(s);
    }
    free(v);
}

void sessions_release_waiters(sessions *reg)
{
    int n;
    session **v = snapshot_list(reg, &n);
    if (!v) return;
    for (int i = 0; i < n; i++) {
        session *s = v[i];
        pthread_mutex_lock(&s->mu);
        if (s->g.npend) {
            session_pend_answer_all(s, NULL, ERR_SHUTTING_DOWN, "the daemon is shutting down; retry this step");
            session_pend_clear(s);
        }
        session_unlock(s);
        session_unref(s);
    }
    free(v);
}

int sessions_checkpoint_all(sessions *reg)
{
    int n, rc = 0;
    session **v = snapshot_list(reg, &n);
    if (!v) return ERR_NO_MEMORY;
    for (int i = 0; i < n; i++) {
        session *s = v[i];
        pthread_mutex_lock(&s->mu);
        if (!s->deleted && (s->step > s->saved_step || s->es_dirty)) {
            int e = session_snapshot_save(s, 0);
            if (e) rc = e;
        }
        session_unlock(s);
        session_unref(s);
    }
    free(v);
    return rc;
}
