/* session_life.c — see session_life.h.  The lifecycle of a session: its
 * changes (name, tags, status), the filtered list newest first, the counts
 * by status and the retention policy. */
#include "session_life.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonwalk.h"
#include "session_internal.h"

int session_status_closed(const char *status)
{
    return strcmp(status, "finished") == 0 || strcmp(status, "archived") == 0;
}

/* ---- changes ------------------------------------------------------------- */

int session_change_parse(const cJSON *root, session_change *ch, char *msg, size_t cap)
{
    memset(ch, 0, sizeof *ch);
    msg[0] = '\0';
    if (!cJSON_IsObject(root)) {
        snprintf(msg, cap, "the body must be a JSON object with name, tags or status");
        return ERR_INVALID_ARGUMENT;
    }
    if (jsonwalk_has_duplicate(root)) {
        snprintf(msg, cap, "the body names a member twice");
        return ERR_INVALID_JSON;
    }
    for (const cJSON *m = root->child; m; m = m->next) {
        if (strcmp(m->string, "status") == 0) {
            if (!cJSON_IsString(m) || (strcmp(m->valuestring, "active") != 0 && strcmp(m->valuestring, "finished") != 0 &&
                                       strcmp(m->valuestring, "archived") != 0)) {
                snprintf(msg, cap, "status must be \"active\", \"finished\" or \"archived\"");
                return ERR_INVALID_ARGUMENT;
            }
            ch->status = m->valuestring;
        } else if (strcmp(m->string, "name") == 0) {
            if (!cJSON_IsString(m)) {
                snprintf(msg, cap, "name must be a string");
                return ERR_INVALID_ARGUMENT;
            }
            if (strlen(m->valuestring) >= SPEC_NAME_MAX) {
                snprintf(msg, cap, "name is longer than %d bytes", SPEC_NAME_MAX - 1);
                return ERR_OUT_OF_RANGE;
            }
            ch->name = m->valuestring;
        } else if (strcmp(m->string, "tags") == 0) {
            int rc = spec_tags_check(m, msg, cap);
            if (rc) return rc;
            ch->tags = m;
        } else {
            snprintf(msg, cap, "unknown field \"%.64s\" (a change takes name, tags and status)", m->string);
            return ERR_UNKNOWN_FIELD;
        }
    }
    if (!ch->status && !ch->name && !ch->tags) {
        snprintf(msg, cap, "the body changes nothing: give name, tags or status");
        return ERR_MISSING_FIELD;
    }
    return 0;
}

/* 0 when `from` may become `to`, else ERR_SESSION_CLOSED with msg. */
static int transition_ok(const char *from, const char *to, char *msg, size_t cap)
{
    if (strcmp(from, to) == 0) return 0;
    int ok = (strcmp(to, "finished") == 0 && !session_status_closed(from)) ||
             (strcmp(to, "archived") == 0 && strcmp(from, "archived") != 0);
    if (ok) return 0;
    snprintf(msg, cap, "a %s session cannot become %s (allowed: active or diverged to finished or archived, "
             "finished to archived)", from, to);
    return ERR_SESSION_CLOSED;
}

/* session_change_apply at wall-clock time `now` (ms).  busy_skip = 1: a
 * session whose mutex is held (a step or read running) is left alone
 * (ERR_OVERLOADED), so the retention never waits for a step. */
static int change_apply_at(session *s, const session_change *ch, int64_t now, int busy_skip, char *msg, size_t cap)
{
    msg[0] = '\0';
    sessions *reg = s->reg;
    if (!busy_skip) pthread_mutex_lock(&s->mu);
    else if (pthread_mutex_trylock(&s->mu) != 0) return ERR_OVERLOADED;
    int rc = s->deleted ? ERR_SESSION_NOT_FOUND : 0;
    if (!rc && ch->status) rc = transition_ok(s->status, ch->status, msg, cap);
    /* What is replaced is kept until the store has the change. */
    char old_name[sizeof s->sp.name];
    memcpy(old_name, s->sp.name, sizeof old_name);
    cJSON *old_tags = s->sp.tags, *new_tags = NULL;
    char *meta = NULL;
    if (!rc && ch->tags && !(new_tags = cJSON_Duplicate(ch->tags, 1))) rc = ERR_NO_MEMORY;
    const char *status = !rc && ch->status && strcmp(ch->status, s->status) != 0 ? ch->status : NULL;
    /* The info lock is held from the first change of name or tags to the
     * end, so the list and GET see the old state or the committed one. */
    pthread_mutex_lock(&s->info_mu);
    if (!rc) {
        if (ch->name) snprintf(s->sp.name, sizeof s->sp.name, "%s", ch->name);
        if (ch->tags) s->sp.tags = new_tags;
        meta = session_make_meta(s);
        if (!meta) rc = ERR_NO_MEMORY;
    }
    if (!rc) rc = store_session_patch(reg->db, s->id, status, meta, now);
    if (rc) {
        /* Back to what it was. */
        memcpy(s->sp.name, old_name, sizeof old_name);
        s->sp.tags = old_tags;
        cJSON_Delete(new_tags);
        free(meta);
    } else {
        if (ch->tags) cJSON_Delete(old_tags);
        free(s->meta_json);
        s->meta_json = meta;
        if (status) {
            snprintf(s->status, sizeof s->status, "%s", status);
            s->status_ms = now;
        }
        if (status && session_status_closed(status) && s->g.npend) {
            /* The workers of a step being gathered are answered now, not at
             * the step timeout: the step will never complete. */
            char why[96];
            snprintf(why, sizeof why, "session %s is %s and takes no more steps", s->id, status);
            session_pend_answer_all(s, NULL, ERR_SESSION_CLOSED, why);
            session_pend_clear(s);
        }
        atomic_store(&s->active_ms, now);
    }
    pthread_mutex_unlock(&s->info_mu);
    session_unlock(s);
    if (rc == ERR_SESSION_NOT_FOUND && !msg[0]) snprintf(msg, cap, "session %s was deleted", s->id);
    return rc;
}

int session_change_apply(session *s, const session_change *ch, char *msg, size_t cap)
{
    return change_apply_at(s, ch, s->reg->hooks.now_ms(), 0, msg, cap);
}

/* ---- the list ------------------------------------------------------------ */

/* 1 when needle (lower case already) occurs in hay, ASCII case-insensitive. */
static int contains_ci(const char *hay, const char *needle, size_t nlen)
{
    if (!nlen) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nlen && hay[i] && tolower((unsigned char)hay[i]) == (unsigned char)needle[i]) i++;
        if (i == nlen) return 1;
    }
    return 0;
}

static int tag_matches(const cJSON *tags, const char *want)
{
    const char *colon = strchr(want, ':');
    size_t klen = colon ? (size_t)(colon - want) : strlen(want);
    for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next)
        if (strlen(t->string) == klen && strncmp(t->string, want, klen) == 0)
            return !colon || (cJSON_IsString(t) && strcmp(t->valuestring, colon + 1) == 0);
    return 0;
}

/* Whether s passes f (q lowered in ql).  Reads name, tags and status under
 * s's info lock (a change swaps them under it). */
static int filter_pass(session *s, const session_filter *f, const char *ql, size_t qlen)
{
    if (f->tenant && strcmp(s->sp.tenant, f->tenant) != 0) return 0;
    if (f->optimizer && f->optimizer[0] && strcmp(s->sp.ocfg.name, f->optimizer) != 0) return 0;
    pthread_mutex_lock(&s->info_mu);
    int ok = 1;
    if (f->status && f->status[0] && strcmp(s->info.status, f->status) != 0) ok = 0;
    if (ok && f->name && f->name[0] && strcmp(s->sp.name, f->name) != 0) ok = 0;
    if (ok && f->tag && f->tag[0] && !tag_matches(s->sp.tags, f->tag)) ok = 0;
    if (ok && qlen) {
        int hit = contains_ci(s->sp.name, ql, qlen);
        for (const cJSON *t = s->sp.tags ? s->sp.tags->child : NULL; !hit && t; t = t->next)
            hit = contains_ci(t->string, ql, qlen) || (cJSON_IsString(t) && contains_ci(t->valuestring, ql, qlen));
        ok = hit;
    }
    pthread_mutex_unlock(&s->info_mu);
    return ok;
}

/* Newest first: created_ms descending, then id descending. */
static int newer_first(const void *a, const void *b)
{
    const session *x = *(session *const *)a, *y = *(session *const *)b;
    if (x->created_ms != y->created_ms) return x->created_ms > y->created_ms ? -1 : 1;
    return -strcmp(x->id, y->id);
}

/* Whether s comes after the token (ms, id) in that order. */
static int after_token(const session *s, int64_t ms, const char *id)
{
    if (s->created_ms != ms) return s->created_ms < ms;
    return strcmp(s->id, id) < 0;
}

static int token_parse(const char *tok, int64_t *ms, char *id, size_t cap)
{
    char *end;
    /* digits only, at most 16 of them (milliseconds until the year 318857) */
    size_t nd = strspn(tok, "0123456789");
    if (nd == 0 || nd > 16) return ERR_INVALID_ARGUMENT;
    long long v = strtoll(tok, &end, 10);
    if (*end != '.' || v < 0 || strlen(end + 1) == 0 || strlen(end + 1) >= cap) return ERR_INVALID_ARGUMENT;
    *ms = v;
    snprintf(id, cap, "%s", end + 1);
    return 0;
}

int session_list(sessions *reg, const session_filter *f, const char *after, int limit,
                 void (*fn)(void *ctx, session *s), void *ctx, char *next)
{
    int64_t after_ms = 0;
    char after_id[sizeof ((session *)0)->id];
    if (after && token_parse(after, &after_ms, after_id, sizeof after_id)) return ERR_INVALID_ARGUMENT;
    next[0] = '\0';   /* after it is read: the caller may pass one buffer for both */
    char ql[SESSION_QUERY_MAX + 1] = "";
    size_t qlen = f->q ? strlen(f->q) : 0;
    if (qlen > SESSION_QUERY_MAX) return ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < qlen; i++) ql[i] = (char)tolower((unsigned char)f->q[i]);
    /* References to the matching sessions, taken under the registry's lock;
     * sorted and described outside it. */
    pthread_rwlock_rdlock(&reg->lock);
    int n = reg->ids.n;
    session **pick = calloc((size_t)n + 1, sizeof *pick);
    int k = 0;
    for (int i = 0; pick && i < n; i++) {
        session *si = reg->ids.v[i];
        if (after && !after_token(si, after_ms, after_id)) continue;
        if (!filter_pass(si, f, ql, qlen)) continue;
        atomic_fetch_add(&si->refs, 1);
        pick[k++] = si;
    }
    pthread_rwlock_unlock(&reg->lock);
    if (!pick) return ERR_NO_MEMORY;
    qsort(pick, (size_t)k, sizeof *pick, newer_first);
    int shown = k < limit ? k : limit;
    for (int j = 0; j < shown; j++) fn(ctx, pick[j]);
    if (k > limit)
        snprintf(next, SESSION_PAGE_TOKEN_MAX, "%" PRId64 ".%s", pick[limit - 1]->created_ms, pick[limit - 1]->id);
    for (int j = 0; j < k; j++) session_unref(pick[j]);
    free(pick);
    return shown;
}

void session_count_status(sessions *reg, session_status_counts *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&reg->lock);
    for (int i = 0; i < reg->ids.n; i++) {
        session *s = reg->ids.v[i];
        pthread_mutex_lock(&s->info_mu);
        const char *st = s->info.status;
        if (strcmp(st, "active") == 0) out->active++;
        else if (strcmp(st, "diverged") == 0) out->diverged++;
        else if (strcmp(st, "finished") == 0) out->finished++;
        else if (strcmp(st, "archived") == 0) out->archived++;
        pthread_mutex_unlock(&s->info_mu);
    }
    pthread_rwlock_unlock(&reg->lock);
}

/* ---- retention ----------------------------------------------------------- */

void session_retention(sessions *reg, int64_t now_ms, int64_t ttl_ms, int *archived, int *deleted)
{
    int na = 0, nd = 0;
    if (ttl_ms > 0) {
        /* The ids due, collected under the lock; acted on outside it (a
         * delete takes the registry's write lock). */
        pthread_rwlock_rdlock(&reg->lock);
        int n = reg->ids.n;
        char (*ids)[sizeof ((session *)0)->id] = calloc((size_t)n + 1, sizeof *ids);
        int *del = calloc((size_t)n + 1, sizeof *del);
        int k = 0;
        for (int i = 0; ids && del && i < n; i++) {
            session *s = reg->ids.v[i];
            pthread_mutex_lock(&s->info_mu);
            int is_archived = strcmp(s->info.status, "archived") == 0;
            int64_t since = is_archived ? s->status_ms : atomic_load(&s->active_ms);
            pthread_mutex_unlock(&s->info_mu);
            if (now_ms - since < ttl_ms) continue;
            memcpy(ids[k], s->id, sizeof ids[k]);
            del[k++] = is_archived;
        }
        pthread_rwlock_unlock(&reg->lock);
        for (int j = 0; j < k; j++) {
            if (del[j]) {
                if (sessions_delete(reg, ids[j]) == 0) nd++;
                continue;
            }
            session *s = sessions_get(reg, ids[j]);
            if (!s) continue;
            char msg[200];
            session_change ch = {.status = "archived"};
            /* A step may have landed since: archive only what is still idle,
             * and skip a session busy now (it is not idle; the next pass
             * looks again) rather than block the loop on its step. */
            if (now_ms - atomic_load(&s->active_ms) >= ttl_ms && change_apply_at(s, &ch, now_ms, 1, msg, sizeof msg) == 0)
                na++;
            session_unref(s);
        }
        free(ids);
        free(del);
    }
    if (archived) *archived = na;
    if (deleted) *deleted = nd;
}
