/* session.c — see session.h.  The registry and session lifetime: create,
 * restore, lookup, list, describe, feedback, parameter reads and delete, and
 * the snapshot of a session.  The step protocol is in session_step.c, the
 * timers and the shutdown in session_timers.c, the shared definitions in
 * session_internal.h. */
#include "session_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "errors.h"
#include "jsonwalk.h"
#include "lopt.h"
#include "meta_weights.h"

/* Copies the described fields to s->info.  Called with s->mu held, or
 * before the session is shared. */
static void session_publish(session *s)
{
    pthread_mutex_lock(&s->info_mu);
    s->info.step = s->step;
    s->info.saved_step = s->saved_step;
    s->info.rolled_back_to = s->rolled_back_to;
    s->info.last_loss = s->last_loss;
    memcpy(s->info.status, s->status, sizeof s->info.status);
    memcpy(s->info.reason, s->reason, sizeof s->info.reason);
    s->info.npend = s->g.npend;
    if (!opt_memory(&s->o, &s->info.mem_size, &s->info.mem_fill)) s->info.mem_size = s->info.mem_fill = 0;
    pthread_mutex_unlock(&s->info_mu);
}

void session_unlock(session *s)
{
    session_publish(s);
    pthread_mutex_unlock(&s->mu);
}

/* ---- snapshots ---------------------------------------------------------- */

snapshot_state session_snapshot_view(session *s)
{
    return (snapshot_state){.n = s->sp.lay.n, .step = s->step, .last_loss = s->last_loss, .best_loss = s->best_loss,
                            .last_applied = s->last_applied, .params = s->params, .last_update = s->last_update,
                            .o = &s->o, .ad = &s->ad, .es = &s->es};
}

/* As before the codec moved to service/snapshot.c, the scalar fields read
 * before an error stay written; the step (and its saved/durable marks)
 * changes only on success. */
int session_take_state(session *s, const snapshot_state *st, int rc)
{
    s->last_loss = st->last_loss;
    s->best_loss = st->best_loss;
    s->last_applied = st->last_applied;
    if (rc) return rc;
    s->es_dirty = 0;
    s->step = s->saved_step = s->durable_step = st->step;
    return 0;
}

static int snapshot_encode_session(session *s, uint8_t **out, size_t *len)
{
    snapshot_state st = session_snapshot_view(s);
    return snapshot_encode(&st, out, len);
}

/* Reads a snapshot back into s (restart). */
static int snapshot_decode_session(session *s, const void *data, size_t len)
{
    snapshot_state st = session_snapshot_view(s);
    return session_take_state(s, &st, snapshot_decode(&st, data, len));
}

int session_snapshot_save(session *s, int wait)
{
    uint8_t *buf;
    size_t len;
    int rc = snapshot_encode_session(s, &buf, &len);
    if (rc) return rc;
    rc = store_snapshot_put_owned(s->reg->db, s->id, s->step, buf, len, wait);
    if (rc) return rc;
    s->saved_step = s->step;
    s->saved_time = s->reg->hooks.now_mono();
    s->es_dirty = 0;
    if (wait) s->durable_step = s->step;
    return 0;
}

/* ---- lifetime ----------------------------------------------------------- */

static void session_free(session *s)
{
    if (!s) return;
    sessions *reg = s->reg;
    if (s->reserved) budget_release(reg->budget, s->sp.tenant, s->reserved_bytes, (int64_t)s->sp.lay.n);
    adapt_deinit(&s->ad);
    online_es_deinit(&s->es);
    opt_deinit(&s->o);
    spec_deinit(&s->sp);
    free(s->meta_json);
    free(s->params);
    updbuf_put(s->last_update);
    updbuf_put(s->spare);
    free(s->tensor_hp);
    free(s->step_hp);
    free(s->step_tensor_hp);
    free(s->group_lr);
    gather_deinit(&s->g);
    free(s->pend_waiter);
    free(s->pend_enc);
    if (s->attach && reg->hooks.attach_free) reg->hooks.attach_free(reg->hooks.ctx, s->attach);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->info_mu);
    free(s);
}

void session_unref(session *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) session_free(s);
}

/* The per-tensor vectors of the session's groups and the buffers of a
 * step's hyperparameters (small: a pointer per tensor, a vector per group). */
static int session_groups_init(session *s)
{
    const spec_groups *g = &s->sp.groups;
    size_t nt = (size_t)s->sp.lay.ntensors, rows = g->n ? (size_t)g->n : 1;
    s->step_hp = calloc(rows, sizeof *s->step_hp);
    s->step_tensor_hp = calloc(nt, sizeof *s->step_tensor_hp);
    if (g->n) s->tensor_hp = calloc(nt, sizeof *s->tensor_hp);
    if (g->n) s->group_lr = calloc((size_t)g->n, sizeof *s->group_lr);
    if (!s->step_hp || !s->step_tensor_hp || (g->n && (!s->tensor_hp || !s->group_lr))) return ERR_NO_MEMORY;
    for (size_t j = 0; j < nt; j++) {
        int gi = g->n ? g->of_tensor[j] : 0;
        if (g->n) s->tensor_hp[j] = g->hp[gi];
        s->step_tensor_hp[j] = s->step_hp[gi];
    }
    return 0;
}

/* Builds a session from a parsed spec (taking sp's contents). */
static int session_build(sessions *reg, spec *sp, session **out)
{
    session *s = calloc(1, sizeof *s);
    if (!s) return ERR_NO_MEMORY;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->info_mu, NULL);
    atomic_init(&s->refs, 1);
    s->reg = reg;
    s->sp = *sp;
    memset(sp, 0, sizeof *sp);
    size_t n = s->sp.lay.n;
    s->sp.ocfg.weights = s->sp.weights[0] ? s->sp.weights : NULL;
    s->last_loss = NAN;
    s->best_loss = NAN;
    s->last_applied = 1;
    s->rolled_back_to = -1;
    snprintf(s->status, sizeof s->status, "active");
    s->params = s->sp.params ? s->sp.params : calloc(n, sizeof(float));
    s->sp.params = NULL;
    s->last_update = updbuf_new(n);
    s->spare = updbuf_new(n);
    if (reg->hooks.attach_new) s->attach = reg->hooks.attach_new(reg->hooks.ctx);
    int rc = (!s->params || !s->last_update || !s->spare || (reg->hooks.attach_new && !s->attach)) ? ERR_NO_MEMORY
                                                                                                   : 0;
    if (!rc) rc = session_groups_init(s);
    if (!rc && s->sp.workers > 1) {
        size_t k = (size_t)s->sp.workers;
        rc = gather_init(&s->g, s->sp.workers, n);
        s->pend_waiter = calloc(k, sizeof(void *));
        s->pend_enc = calloc(k, sizeof(int));
        if (!s->pend_waiter || !s->pend_enc) rc = ERR_NO_MEMORY;
    }
    if (!rc) {
        meta_weights_lock();
        rc = opt_init(&s->o, &s->sp.ocfg, &s->sp.lay);
        const opt_vtbl *vt = opt_find(s->sp.ocfg.name);
        int arch = vt && vt->weights_arch ? lopt_arch_from_name(vt->weights_arch) : -1;
        s->on_record = !rc && arch >= 0 && lopt_weights_uses_record(&s->sp.ocfg, arch);
        /* describe the shape that runs: a learned optimizer's weights, or the record a hybrid's
         * learned part runs */
        if (!rc) lopt_shape_to_config(&s->o, &s->sp.ocfg);
        if (s->on_record && !lopt_opt_weights(&s->o)) lopt_record_shape_to_config(&s->sp.ocfg, arch);
        meta_weights_unlock();
        if (!rc && s->sp.adapt.lr != ADAPT_LR_NONE && (rc = adapt_init(&s->ad, &s->sp.adapt, &s->o)) != 0)
            opt_deinit(&s->o);
        if (!rc && s->sp.learner.enabled && (rc = online_es_init(&s->es, &s->sp.learner, &s->sp.lay)) != 0) {
            adapt_deinit(&s->ad);
            opt_deinit(&s->o);
        }
    }
    if (rc) {
        /* opt_init failed: nothing to deinit in o */
        memset(&s->o, 0, sizeof s->o);
        session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void new_id(sessions *reg, char *out)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* getrandom on Linux does not fail for 16 bytes once seeded; fall back
         * to a clock-derived value rather than an all-zero id. */
        uint64_t t = (uint64_t)reg->hooks.now_ms() ^ ((uint64_t)(uintptr_t)out << 17);
        for (int i = 0; i < 16; i++) b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)i;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
}

/* ---- registry ----------------------------------------------------------- */

static const char *session_key(const void *item) { return ((const session *)item)->id; }

int sessions_new(store *db, const sessions_config *cfg, const sessions_hooks *hooks, sessions **out)
{
    if (!hooks->now_mono || !hooks->now_ms || !hooks->answer) return ERR_INVALID_ARGUMENT;
    sessions *reg = calloc(1, sizeof *reg);
    if (!reg) return ERR_NO_MEMORY;
    if (budget_new((uint64_t)cfg->memory_budget, cfg->max_sessions, cfg->tenant_max_sessions,
                   cfg->tenant_max_params, &reg->budget) != 0) {
        free(reg);
        return ERR_NO_MEMORY;
    }
    reg->db = db;
    reg->cfg = *cfg;
    reg->hooks = *hooks;
    store_set_chunk_bytes(db, (size_t)cfg->snapshot_chunk_bytes);
    registry_init(&reg->ids, session_key);
    pthread_rwlock_init(&reg->lock, NULL);
    atomic_init(&reg->npending, 0);
    reg->last_ckpt_scan = hooks->now_mono();
    *out = reg;
    return 0;
}

void sessions_free(sessions *reg)
{
    if (!reg) return;
    for (int i = 0; i < reg->ids.n; i++) session_unref(reg->ids.v[i]);
    registry_deinit(&reg->ids);
    budget_free(reg->budget);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

static int registry_add(sessions *reg, session *s)
{
    pthread_rwlock_wrlock(&reg->lock);
    int rc = registry_insert(&reg->ids, s);
    pthread_rwlock_unlock(&reg->lock);
    return rc;
}

session *sessions_get(sessions *reg, const char *id)
{
    pthread_rwlock_rdlock(&reg->lock);
    session *s = registry_find(&reg->ids, id);
    if (s) atomic_fetch_add(&s->refs, 1);
    pthread_rwlock_unlock(&reg->lock);
    return s;
}

int sessions_count(sessions *reg)
{
    pthread_rwlock_rdlock(&reg->lock);
    int n = reg->ids.n;
    pthread_rwlock_unlock(&reg->lock);
    return n;
}

const char *session_id(const session *s) { return s->id; }
const char *session_tenant(const session *s) { return s->sp.tenant; }
const char *session_trial(const session *s) { return s->sp.trial; }
size_t session_num_params(const session *s) { return s->sp.lay.n; }
int session_workers(const session *s) { return s->sp.workers; }
int session_durable_steps(const session *s) { return s->sp.dur == DURABILITY_STEP; }
const opt *session_opt(const session *s) { return &s->o; }
void *session_attachment(const session *s) { return s->attach; }
const layout *session_layout(const session *s) { return &s->sp.lay; }

char *session_make_meta(session *s)
{
    int64_t created_ms = s->created_ms;
    cJSON *m = spec_to_json(&s->sp);
    if (!m) return NULL;
    cJSON *id = cJSON_CreateString(s->id);
    cJSON_AddItemToObject(m, "id", id);
    cJSON_AddStringToObject(m, "tenant", s->sp.tenant);
    cJSON_AddNumberToObject(m, "created_ms", (double)created_ms);
    char *txt = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return txt;
}

/* The figures of a session that needs `sb`: 0, or ERR_SESSION_TOO_LARGE
 * with the figures in msg. */
static int session_fits(const sessions *reg, const session_bytes *sb, char *msg, size_t cap)
{
    if (sb->total > (uint64_t)reg->cfg.max_session_bytes) {
        snprintf(msg, cap,
                 "the session needs %llu bytes (parameters %llu, optimizer state %llu, worker buffers %llu, "
                 "snapshot %llu); --max-session-bytes is %lld",
                 (unsigned long long)sb->total, (unsigned long long)sb->params, (unsigned long long)sb->state,
                 (unsigned long long)sb->workers, (unsigned long long)sb->snapshot,
                 (long long)reg->cfg.max_session_bytes);
        return ERR_SESSION_TOO_LARGE;
    }
    return 0;
}

/* What sp costs, under the weights lock (learned optimizers read the table). */
static int spec_bytes(const spec *sp, session_bytes *sb)
{
    meta_weights_lock();
    int rc = budget_session_bytes(sp, sb);
    meta_weights_unlock();
    return rc;
}

/* Reserves sb for sp's tenant (force = 1: a restored session, never
 * refused), builds the session from sp (taken, also on failure) and hands it
 * the reservation, which is given back when the build fails or the session
 * is freed.  0 or the errors of budget_reserve and session_build. */
static int build_reserved(sessions *reg, spec *sp, const session_bytes *sb, int force, uint64_t *in_use,
                          session **out)
{
    char tenant[sizeof sp->tenant];
    memcpy(tenant, sp->tenant, sizeof tenant);
    int64_t nparams = (int64_t)sp->lay.n;
    int rc = budget_reserve(reg->budget, tenant, sb->total, nparams, force, in_use);
    if (!rc && (rc = session_build(reg, sp, out)) != 0) budget_release(reg->budget, tenant, sb->total, nparams);
    if (rc) {
        spec_deinit(sp);   /* session_build emptied it, or it is still whole */
        return rc;
    }
    (*out)->reserved = 1;
    (*out)->reserved_bytes = sb->total;
    return 0;
}

/* Reads an exported snapshot into a session being imported: ERR_INVALID_STATE
 * (with the reason in msg) when it does not decode for the session's spec. */
static int import_state(session *s, const void *blob, size_t len, int64_t step, char *msg, size_t msgcap)
{
    snapshot_state st = session_snapshot_view(s);
    int rc = session_take_state(s, &st, snapshot_decode(&st, blob, len));
    if (rc == ERR_NO_MEMORY) return rc;
    if (rc) {
        snprintf(msg, msgcap, "the state does not decode for its spec (%s): another optimizer, hyperparameters "
                 "that change the state's shape, another layout, a newer snapshot version or damaged bytes",
                 err_name(rc));
        return ERR_INVALID_STATE;
    }
    if (s->step != step) {
        snprintf(msg, msgcap, "the state says step %lld but its bytes hold step %lld", (long long)step,
                 (long long)s->step);
        return ERR_INVALID_STATE;
    }
    return 0;
}

/* A learned optimizer on a weights record (one the session names, or the
 * optimizer's default record when it names none) runs the record's shape:
 * width, depth, attn_lopt's heads and sequence length, mlp_lopt's
 * activation.  session_build wrote that shape into the session's
 * hyperparameters; `asked` holds them as the request gave them.  One the
 * request set away from its default to another value than runs would be
 * ignored: ERR_INVALID_ARGUMENT with the reason.  (A request may repeat the
 * record's value, as a session's description does.)  So is one that only
 * the untrained init reads (lopt_init_hp) set away from its default. */
static int check_shape_asked(const session *s, const double *asked, char *msg, size_t msgcap)
{
    const opt_vtbl *vt = opt_find(s->sp.ocfg.name);
    for (int i = 0; vt && vt->weights_arch && i < opt_hparam_count(vt); i++) {
        const hparam_def *def = opt_hparam_at(vt, i);
        double runs = s->sp.ocfg.hp[i];
        if (def && lopt_init_hp(vt->name, def->name) && s->on_record && asked[i] != def->def) {
            snprintf(msg, msgcap,
                     "hyperparameter %s = %g would be ignored: it sets the untrained network's initialisation, and "
                     "the session runs the weights record %s%s, which carries its own; drop it, or give "
                     "\"weights\": \"%s\"",
                     def->name, asked[i], s->sp.weights[0] ? "" : "the default record of ",
                     s->sp.weights[0] ? s->sp.weights : vt->weights_arch, LOPT_WEIGHTS_DEFAULT);
            return ERR_INVALID_ARGUMENT;
        }
        /* a hybrid's "hidden" and "depth" are its learned part's (vt->weights_arch) */
        int shape = def && (lopt_shape_hp(vt->name, def->name) || lopt_shape_hp(vt->weights_arch, def->name));
        if (!shape || lopt_init_hp(vt->name, def->name) || asked[i] == def->def || asked[i] == runs) continue;
        char a[32], r[32];   /* a named hyperparameter (mlp_lopt's activation) by its names */
        const char *an = opt_hparam_value_name(vt, i, asked[i]), *rn = opt_hparam_value_name(vt, i, runs);
        if (an) snprintf(a, sizeof a, "%s", an);
        else snprintf(a, sizeof a, "%g", asked[i]);
        if (rn) snprintf(r, sizeof r, "%s", rn);
        else snprintf(r, sizeof r, "%g", runs);
        snprintf(msg, msgcap,
                 "hyperparameter %s = %s would be ignored: the weights record the session runs (%s%s) fixes it at %s; "
                 "drop it, or give \"weights\": \"%s\" for an untrained network of that shape",
                 def->name, a, s->sp.weights[0] ? "" : "the default record of ",
                 s->sp.weights[0] ? s->sp.weights : vt->weights_arch, r, LOPT_WEIGHTS_DEFAULT);
        return ERR_INVALID_ARGUMENT;
    }
    return 0;
}

/* sessions_create, and sessions_import when blob is not NULL. */
static int create_session(sessions *reg, spec *sp, const void *blob, size_t blob_len, int64_t step, session **out,
                          char *msg, size_t msgcap, uint64_t *needed)
{
    msg[0] = '\0';
    /* Every figure is settled before a byte of the session is allocated. */
    session_bytes sb;
    int rc = spec_bytes(sp, &sb);
    if (!rc) {
        *needed = sb.total;
        rc = session_fits(reg, &sb, msg, msgcap);
    }
    if (rc) {
        spec_deinit(sp);
        return rc;
    }
    uint64_t in_use = 0;
    session *s;
    double asked[OPT_MAX_HP];
    memcpy(asked, sp->ocfg.hp, sizeof asked);
    rc = build_reserved(reg, sp, &sb, 0, &in_use, &s);
    if (rc == ERR_MEMORY_BUDGET) {
        uint64_t lim = budget_limit(reg->budget);
        snprintf(msg, msgcap, "the session needs %llu bytes; live sessions hold %llu of the daemon's "
                 "--memory-budget of %llu bytes (%llu free)", (unsigned long long)sb.total,
                 (unsigned long long)in_use, (unsigned long long)lim,
                 (unsigned long long)(in_use < lim ? lim - in_use : 0));
    }
    if (rc) return rc;
    if ((rc = check_shape_asked(s, asked, msg, msgcap)) != 0 ||
        (blob && (rc = import_state(s, blob, blob_len, step, msg, msgcap)) != 0)) {
        session_free(s);
        return rc;
    }
    new_id(reg, s->id);
    int64_t created = reg->hooks.now_ms();
    s->created_ms = s->status_ms = created;
    atomic_store(&s->active_ms, created);
    s->meta_json = session_make_meta(s);
    uint8_t *snap = NULL;
    size_t snap_len = 0;
    rc = s->meta_json ? snapshot_encode_session(s, &snap, &snap_len) : ERR_NO_MEMORY;
    if (!rc) rc = store_session_create_take(reg->db, s->id, s->meta_json, created, s->step, snap, snap_len);
    if (!rc) store_cluster_session_put(reg->db, s->id, s->sp.tenant);   /* the cluster's index, if any */
    session_publish(s);
    if (!rc) rc = registry_add(reg, s);
    if (rc) {
        session_free(s);
        return rc;
    }
    s->saved_time = reg->hooks.now_mono();
    atomic_fetch_add(&s->refs, 1); /* the caller's */
    *out = s;
    return 0;
}

int sessions_create(sessions *reg, spec *sp, session **out, char *msg, size_t msgcap, uint64_t *needed)
{
    return create_session(reg, sp, NULL, 0, 0, out, msg, msgcap, needed);
}

int sessions_import(sessions *reg, spec *sp, const void *blob, size_t len, int64_t step, session **out, char *msg,
                    size_t msgcap, uint64_t *needed)
{
    return create_session(reg, sp, blob, len, step, out, msg, msgcap, needed);
}

static int restore_one(void *ctx, const store_session_row *row)
{
    sessions *reg = ctx;
    spec sp;
    char msg[256];
    int rc = spec_parse(&sp, row->meta_json, strlen(row->meta_json), (size_t)reg->cfg.max_params, 1, msg,
                        sizeof msg);
    session *s = NULL;
    /* What is stored is loaded even above lowered limits, and counted. */
    session_bytes sb;
    if (!rc && (rc = spec_bytes(&sp, &sb)) != 0) spec_deinit(&sp);
    if (!rc) rc = build_reserved(reg, &sp, &sb, 1, NULL, &s);
    if (!rc) {
        snprintf(s->id, sizeof s->id, "%s", row->id);
        s->meta_json = strdup(row->meta_json);
        rc = s->meta_json ? snapshot_decode_session(s, row->snapshot, row->snapshot_len) : ERR_NO_MEMORY;
    }
    if (!rc) {
        if (row->status) snprintf(s->status, sizeof s->status, "%s", row->status);
        s->created_ms = s->sp.created_ms ? s->sp.created_ms : row->created_ms;
        s->status_ms = row->status_ms ? row->status_ms : row->updated_ms;
        atomic_store(&s->active_ms, row->updated_ms > s->created_ms ? row->updated_ms : s->created_ms);
        if (strcmp(s->status, "diverged") == 0)
            snprintf(s->reason, sizeof s->reason, "the session diverged before the daemon restarted");
        /* The description from the spec as restored: a hyperparameter newer
         * than the stored text runs at its default, and is shown with it. */
        char *meta = session_make_meta(s);
        if (meta) { free(s->meta_json); s->meta_json = meta; }
        s->saved_time = reg->hooks.now_mono();
        session_publish(s);
        rc = registry_add(reg, s);
    }
    if (rc) {
        fprintf(stderr, "optirsd: session %s not restored: %s%s%s\n", row->id, err_name(rc), msg[0] ? ": " : "",
                msg);
        session_free(s);
    }
    return 0;
}

int sessions_restore(sessions *reg)
{
    int rc = store_sessions_load(reg->db, restore_one, reg);
    return rc ? rc : sessions_count(reg);
}

/* ---- reads, feedback ---------------------------------------------------- */

int session_read_params(session *s, int (*fn)(void *ctx, int64_t step, const float *p, size_t n), void *ctx)
{
    pthread_mutex_lock(&s->mu);
    int rc = fn(ctx, s->step, s->params, s->sp.lay.n);
    session_unlock(s);
    return rc;
}

int session_export(session *s, cJSON **spec_json, uint8_t **blob, size_t *len, int64_t *step)
{
    *spec_json = NULL;
    *blob = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = s->deleted ? ERR_SESSION_NOT_FOUND : 0;
    if (!rc && !(*spec_json = spec_to_json(&s->sp))) rc = ERR_NO_MEMORY;
    if (!rc) rc = snapshot_encode_session(s, blob, len);
    if (!rc) *step = s->step;
    session_unlock(s);
    if (rc) {
        cJSON_Delete(*spec_json);
        *spec_json = NULL;
    }
    return rc;
}

int session_feedback(session *s, int64_t step, double loss, const char *metrics_json, char *msg, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->deleted) rc = ERR_SESSION_NOT_FOUND;
    else if (step > s->step) {
        snprintf(msg, cap, "step %lld has not been taken yet (the last step is %lld)", (long long)step,
                 (long long)s->step);
        rc = ERR_OUT_OF_RANGE;
    }
    session_unlock(s);
    if (!rc) rc = store_feedback(s->reg->db, s->id, step, loss, metrics_json);
    if (!rc) {
        /* The online learner takes the loss of a taken step once (a loss
         * already sent with the step, or too old, is ignored). */
        pthread_mutex_lock(&s->mu);
        if (!s->deleted && s->es.K && online_es_observe(&s->es, step, loss)) {
            s->es_dirty = 1;
            if (s->sp.dur == DURABILITY_STEP) session_snapshot_save(s, 1);
        }
        session_unlock(s);
    }
    return rc;
}

/* The hyperparameters of a description parsed from the stored spec, as
 * items that print as the stored text does (exactly: jsonwalk_exact_number);
 * cJSON's own printing could show them 1 ulp off. */
static void exact_hyperparams(cJSON *o)
{
    cJSON *hp = cJSON_GetObjectItemCaseSensitive(o, "hyperparams");
    for (cJSON *h = cJSON_IsObject(hp) ? hp->child : NULL, *next; h; h = next) {
        next = h->next;
        cJSON *x = cJSON_IsNumber(h) ? jsonwalk_exact_number(h->valuedouble) : NULL;
        if (x) cJSON_ReplaceItemInObjectCaseSensitive(hp, h->string, x);   /* keeps the key; frees h */
    }
}

cJSON *session_describe(session *s)
{
    pthread_mutex_lock(&s->info_mu);
    cJSON *o = cJSON_Parse(s->meta_json);
    if (o) {
        exact_hyperparams(o);
        cJSON_AddNumberToObject(o, "step", (double)s->info.step);
        cJSON_AddStringToObject(o, "status", s->info.status);
        if (s->info.reason[0]) cJSON_AddStringToObject(o, "reason", s->info.reason);
        if (s->info.rolled_back_to >= 0) cJSON_AddNumberToObject(o, "rolled_back_to", (double)s->info.rolled_back_to);
        if (isfinite(s->info.last_loss)) cJSON_AddNumberToObject(o, "last_loss", s->info.last_loss);
        else cJSON_AddNullToObject(o, "last_loss");
        cJSON_AddNumberToObject(o, "saved_step", (double)s->info.saved_step);
        if (s->sp.workers > 1) cJSON_AddNumberToObject(o, "pending_workers", s->info.npend);
        if (s->info.mem_size > 0) {   /* mem_lopt, lstm_lopt with memory_size > 0 */
            cJSON *m = cJSON_AddObjectToObject(o, "memory");
            if (m) {
                cJSON_AddNumberToObject(m, "size", (double)s->info.mem_size);
                cJSON_AddNumberToObject(m, "fill", (double)s->info.mem_fill);
            }
        }
    }
    pthread_mutex_unlock(&s->info_mu);
    return o;
}

/* ---- delete ------------------------------------------------------------- */

/* Deletes session `id`: storage first, memory after.  The session's mutex is
 * held across the commit, so no step of it lands in between; a delete that
 * cannot be committed changes nothing (the session stays usable and the
 * answer is ERR_STORAGE), and a committed one is gone from memory before the
 * mutex is released.  Lock order: a session's mu, then the registry lock
 * (nothing takes them the other way round). */
int sessions_delete(sessions *reg, const char *id)
{
    session *s = sessions_get(reg, id);
    if (!s) return ERR_SESSION_NOT_FOUND;
    pthread_mutex_lock(&s->mu);
    int rc = s->deleted ? ERR_SESSION_NOT_FOUND : store_session_delete(reg->db, id);
    int removed = 0;
    if (!rc) {
        store_cluster_session_del(reg->db, id);                           /* the cluster's index, if any */
        s->deleted = 1;
        if (s->g.npend) {
            session_pend_answer_all(s, NULL, ERR_SESSION_NOT_FOUND, "the session was deleted");
            session_pend_clear(s);
        }
        pthread_rwlock_wrlock(&reg->lock);
        removed = registry_remove(&reg->ids, s);
        pthread_rwlock_unlock(&reg->lock);
        /* Its quota slot and bytes are given back now, not when the last
         * request holding it lets go: a create right after the answer counts
         * without it. */
        if (s->reserved) budget_release(reg->budget, s->sp.tenant, s->reserved_bytes, (int64_t)s->sp.lay.n);
        s->reserved = 0;
    }
    session_unlock(s);
    if (removed) session_unref(s);   /* the registry's reference */
    session_unref(s);
    return rc;
}
