/* session_step.c — the step protocol of session.h: sequencing
 * (step_seq.h), the durable acknowledgement, divergence and its rollback,
 * one call to core's step_run, persistence as the session's durability
 * asks, and the shared-worker gather with its parked waiters.  Every
 * function here runs with the session's mutex held, from session_step or
 * the timers (session_timers.c). */
#include "session_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "rollback.h"
#include "session_life.h"
#include "step_seq.h"

_Static_assert(GROUPS_MAX <= STORE_GROUP_LR_MAX, "the metrics row holds every group's lr");

/* a's error e with a formatted message (expected = -1). */
static void answer_error(session_answer *a, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void answer_error(session_answer *a, int e, const char *fmt, ...)
{
    a->err = e;
    a->expected = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
}

/* The answer to step s->step for a request in encoding enc: its update, or
 * ERR_STORAGE when durability=step and the step cannot be made durable
 * (acknowledge only what is committed). */
static void answer_update(session *s, int enc, session_answer *a)
{
    memset(a, 0, sizeof *a);
    a->expected = -1;
    a->encoding = enc;
    if (s->sp.dur == DURABILITY_STEP && s->durable_step < s->step && session_snapshot_save(s, 1) != 0) {
        answer_error(a, ERR_STORAGE, "step %lld was applied but could not be made durable; retry it",
                     (long long)s->step);
        return;
    }
    a->step = s->step;
    a->update = s->last_update;
    a->n = s->sp.lay.n;
    a->applied = s->last_applied;
}

/* Makes *v (n floats, updbuf.h) the session's alone before it writes into
 * it: a vector an answer is still sending is left to that answer and
 * replaced by a new one, holding a copy when `keep`.  0 or ERR_NO_MEMORY
 * (*v unchanged). */
static int own_vector(float **v, size_t n, int keep)
{
    if (!updbuf_shared(*v)) return 0;
    float *f = updbuf_new(n);
    if (!f) return ERR_NO_MEMORY;
    if (keep) memcpy(f, *v, n * sizeof(float));
    updbuf_put(*v);
    *v = f;
    return 0;
}

/* The session's last stored state read back into s (rollback.h). */
static int rollback_session(session *s, int flush)
{
    int orc = own_vector(&s->last_update, s->sp.lay.n, 1);
    if (orc) return orc;
    snapshot_state st = session_snapshot_view(s);
    return session_take_state(s, &st, rollback_load(s->reg->db, s->id, flush, &st));
}

/* The session blew up: restore its last stored (good) state, mark it
 * diverged with `reason`, refuse further steps. */
static void diverge(session *s, const char *reason)
{
    /* The newest snapshot may still be queued for the writer: let it land. */
    int rc = rollback_session(s, 1);
    snprintf(s->status, sizeof s->status, "diverged");
    if (rc)
        snprintf(s->reason, sizeof s->reason, "%s; the last stored state could not be read back (%s)", reason,
                 err_name(rc));
    else {
        s->rolled_back_to = s->step;
        snprintf(s->reason, sizeof s->reason, "%s; rolled back to step %lld", reason, (long long)s->step);
    }
    store_session_update(s->reg->db, s->id, s->status, NULL);
}

/* Hands the state after step s->step to the store as durability asks.  For
 * durability=step a failed commit puts the session back to its last durable
 * state, so that the step is as if never sent (ERR_STORAGE). */
static int persist_step(session *s)
{
    if (s->sp.dur != DURABILITY_STEP) {
        if (s->step - s->saved_step >= s->reg->cfg.checkpoint_every) session_snapshot_save(s, 0);
        return 0;
    }
    int rc = session_snapshot_save(s, 1);
    if (rc && rollback_session(s, 0) != 0) {
        /* Could not even read the last state back: keep the step in memory;
         * answer_update retries the commit before acknowledging it. */
        return 0;
    }
    return rc ? ERR_STORAGE : 0;
}

/* Applies step k with gradients g (skip: counts the step, changes nothing)
 * through core's step_run, persists it and runs hooks.stepped.  gsq: NULL
 * or vm_sumsq of g (step_request.gsq). */
static int apply_step(session *s, int64_t k, const float *g, const double *gsq, double loss, int skip,
                      const uint8_t *skip_tensors, const double *const *tensor_hp)
{
    sessions *reg = s->reg;
    /* durability=step: refused before it is applied when the database file
     * is gone, replaced or read-only (no 200 that is not durable). */
    if (s->sp.dur == DURABILITY_STEP && store_health(reg->db, 0, NULL) != 0) return ERR_STORAGE;
    if (!skip && step_seq_diverges(s->sp.divergence_factor, s->best_loss, loss)) {
        char why[160];
        snprintf(why, sizeof why, "the loss %g at step %lld exceeds %g times the best loss %g", loss, (long long)k,
                 s->sp.divergence_factor, s->best_loss);
        diverge(s, why);
        return ERR_SESSION_DIVERGED;
    }
    if (own_vector(&s->spare, s->sp.lay.n, 0)) return ERR_NO_MEMORY;
    step_state st = {.o = &s->o, .ad = &s->ad, .es = &s->es, .lay = &s->sp.lay, .params = s->params,
                     .prev_update = s->last_update, .update = s->spare, .clock = reg->hooks.now_mono,
                     .skip_tensors = skip_tensors, .tensor_hp = tensor_hp, .gsq = gsq};
    step_result res;
    int rc = step_run(&st, k, g, loss, skip, &res);
    if (res.non_finite) {
        char why[96];
        snprintf(why, sizeof why, "step %lld produced a non-finite update", (long long)k);
        diverge(s, why);
    }
    if (rc) return rc;
    float *t = s->last_update;
    s->last_update = s->spare;
    s->spare = t;
    s->step = k;
    s->last_applied = !skip;
    s->last_loss = isfinite(loss) ? loss : NAN;
    if (!skip && isfinite(loss) && (isnan(s->best_loss) || loss < s->best_loss)) s->best_loss = loss;
    step_metric m = {.step = k, .time_ms = reg->hooks.now_ms(), .loss = s->last_loss, .grad_norm = res.info.grad_norm,
                     .update_norm = res.info.update_norm, .param_norm = res.info.param_norm, .lr = res.info.lr,
                     .duration_us = res.duration * 1e6};
    /* every group's lr, as the kernel ran it (none for a skipped step) */
    if (!skip && s->group_lr) {
        m.ngroup_lr = groups_step_lr(&s->sp.groups, &s->sp.lay, &s->o.cfg, tensor_hp, s->o.t, s->group_lr);
        m.group_lr = m.ngroup_lr ? s->group_lr : NULL;
    }
    atomic_store(&s->active_ms, m.time_ms);   /* the retention's idle clock (session_life.c) */
    int rc2 = persist_step(s);
    if (rc2 == 0 && reg->hooks.stepped) reg->hooks.stepped(reg->hooks.ctx, s, &m, &res);
    return rc2;
}

void session_pend_clear(session *s)
{
    if (s->g.npend) atomic_fetch_sub(&s->reg->npending, 1);
    gather_clear(&s->g);
    for (int j = 0; j < s->sp.workers; j++) s->pend_waiter[j] = NULL;
}

/* Answers one parked waiter with a. */
static void answer_waiter(session *s, void *w, const session_answer *a)
{
    s->reg->hooks.answer(s->reg->hooks.ctx, w, a);
}

void session_pend_answer_all(session *s, const void *self, int e, const char *msg)
{
    for (int j = 0; j < s->g.npend; j++) {
        void *w = s->pend_waiter[j];
        if (!w || w == self) continue;
        session_answer a;
        if (e) {
            memset(&a, 0, sizeof a);
            answer_error(&a, e, "%s", msg);
            if (e == ERR_STEP_CONFLICT) a.expected = s->step + 1;
            a.encoding = s->pend_enc[j];
        } else {
            answer_update(s, s->pend_enc[j], &a);
        }
        answer_waiter(s, w, &a);
        s->pend_waiter[j] = NULL;
    }
}

/* A shared session's step k from sr's worker: gathered; the K-th worker
 * applies the mean and answers everyone.  1 when waiter is parked. */
static int gather_step(session *s, void *waiter, const step_request *sr, int skip, session_answer *out)
{
    sessions *reg = s->reg;
    int64_t k = sr->step;
    if (s->g.npend == 0) {
        s->g.step = k;
        s->pend_deadline = reg->hooks.now_mono() + reg->cfg.step_timeout;
        atomic_fetch_add(&reg->npending, 1);
    }
    int existed;
    int j = gather_slot(&s->g, sr->worker, &existed);
    if (existed && s->pend_waiter[j]) {
        /* The same worker again: a retry after a lost connection.  Its
         * newer request replaces the older one. */
        session_answer a;
        memset(&a, 0, sizeof a);
        answer_error(&a, ERR_WORKER_CONFLICT, "superseded by a newer request of worker %s for step %lld", sr->worker,
                     (long long)k);
        a.encoding = s->pend_enc[j];
        void *old = s->pend_waiter[j];
        s->pend_waiter[j] = NULL;
        answer_waiter(s, old, &a);
    }
    gather_put(&s->g, j, sr->grads, sr->loss, skip);
    s->pend_waiter[j] = waiter;
    s->pend_enc[j] = sr->encoding;
    /* Until every worker is here, waiter stays parked; whoever completes,
     * times out or releases the step answers it. */
    if (!gather_full(&s->g)) return 1;
    /* Every worker is here: the mean of their gradients, once.  One worker's
     * non-finite gradient (policy skip) skips the whole step. */
    double loss;
    int any_skip;
    const float *mean = gather_mean(&s->g, &loss, &any_skip);
    int rc = apply_step(s, k, mean, NULL, loss, any_skip, NULL, s->tensor_hp);
    const char *msg = rc ? (s->reason[0] ? s->reason : err_message(rc)) : NULL;
    session_pend_answer_all(s, waiter, rc, msg);
    if (rc) answer_error(out, rc, "%s", msg);
    else answer_update(s, sr->encoding, out);
    session_pend_clear(s);
    return 0;
}

int session_step(session *s, void *waiter, const step_request *sr, session_answer *out)
{
    int parked = 0;
    memset(out, 0, sizeof *out);
    out->expected = -1;
    out->encoding = sr->encoding;
    pthread_mutex_lock(&s->mu);
    int64_t k = sr->step;
    int skip = sr->nonfinite && s->sp.non_finite == NON_FINITE_SKIP;
    step_seq_in in = {.last = s->step, .k = k, .nonfinite = sr->nonfinite, .skip_nonfinite = skip,
                      .deleted = s->deleted, .diverged = strcmp(s->status, "diverged") == 0,
                      .closed = session_status_closed(s->status),
                      .workers = s->sp.workers, .has_worker = sr->worker[0] != '\0'};
    const char *nomask = !sr->skip_tensors && !sr->hyperparams ? NULL
                       : !opt_can_mask(&s->o) ? "this optimizer takes neither skip_tensors nor step hyperparams: "
                                                "classic ones do"
                       : s->sp.workers > 1 ? "a shared session takes neither skip_tensors nor step hyperparams"
                       : s->ad.nmult || s->es.K ? "a session with adapt takes neither skip_tensors nor step hyperparams"
                       : NULL;
    char why[240];
    int hprc = !nomask && sr->hyperparams
                   ? groups_step_hp(sr->hyperparams, &s->sp.groups, &s->sp.ocfg, s->step_hp, why, sizeof why) : 0;
    if (nomask) answer_error(out, ERR_INVALID_ARGUMENT, "%s", nomask);
    else if (hprc) answer_error(out, hprc, "%s", why);
    else switch (step_seq_decide(&in)) {
    case STEP_SEQ_NON_FINITE:
        answer_error(out, ERR_NON_FINITE, "a gradient or the loss is NaN, infinite or overflows float32 "
                     "(the session's non_finite policy is reject; nothing changed)");
        break;
    case STEP_SEQ_DELETED:
        answer_error(out, ERR_SESSION_NOT_FOUND, "session %s was deleted", s->id);
        break;
    case STEP_SEQ_REPLAY:
        answer_update(s, sr->encoding, out); /* a retry: the stored answer, nothing applied */
        break;
    case STEP_SEQ_DIVERGED:
        answer_error(out, ERR_SESSION_DIVERGED, "%s", s->reason[0] ? s->reason : "the session diverged");
        break;
    case STEP_SEQ_CLOSED:
        answer_error(out, ERR_SESSION_CLOSED, "session %s is %s and takes no more steps", s->id, s->status);
        break;
    case STEP_SEQ_CONFLICT:
        answer_error(out, ERR_STEP_CONFLICT, "step %lld is not the next step (%lld)", (long long)k,
                     (long long)(s->step + 1));
        out->expected = s->step + 1;
        break;
    case STEP_SEQ_APPLY: {
        int rc = apply_step(s, k, sr->grads, sr->has_gsq ? &sr->gsq : NULL, sr->loss, skip, sr->skip_tensors,
                            sr->hyperparams ? (const double *const *)s->step_tensor_hp : s->tensor_hp);
        if (rc) answer_error(out, rc, "%s", s->reason[0] ? s->reason : err_message(rc));
        else answer_update(s, sr->encoding, out);
        break;
    }
    case STEP_SEQ_NO_WORKER:
        answer_error(out, ERR_BAD_HEADER, "this session is shared by %d workers: name the worker "
                     "(X-Optirs-Worker header or \"worker\" field)", s->sp.workers);
        break;
    case STEP_SEQ_GATHER:
        parked = gather_step(s, waiter, sr, skip, out);
        break;
    }
    out->encoding = sr->encoding;
    session_unlock(s);
    return parked;
}
