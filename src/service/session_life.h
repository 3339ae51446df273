/* session_life.h — a session's lifecycle, after its steps: a name, tags and a
 * status a client changes (PATCH /v1/sessions/{id}), the filtered list
 * sorted by creation time, and the retention policy (--session-ttl).
 *
 * Statuses: "active" (steps are taken), "diverged" (set by the step
 * protocol, session_step.c), "finished" and "archived" (set here).  Allowed
 * changes: active or diverged → finished or archived, finished → archived,
 * and a status to itself (no change).  A finished or archived session never
 * becomes active again (ERR_SESSION_CLOSED) and refuses new steps with
 * ERR_SESSION_CLOSED (step_seq.h); a retry of its last step still answers,
 * and its parameters, metrics and feedback stay readable.  Workers of a
 * shared session parked on a step being gathered when it closes are
 * answered ERR_SESSION_CLOSED at once.
 *
 * Retention (ttl > 0 seconds): a session that is not archived and has been
 * idle for ttl — no step, create or change since — is archived; an archived
 * session is deleted ttl after it was archived.  Both times are stored
 * (sessions.updated_ms, sessions.status_ms), so a restart does not reset
 * them.  The retention never waits for a running step: a session whose
 * step is running is skipped until the next pass.
 *
 * Every change is committed to the store (synchronously) before it shows in
 * memory; a change that cannot be committed changes nothing.
 * Thread rules: any thread; a change holds the session's mutex (so it waits
 * for a running step) and then its info lock, across the commit (a GET or
 * list of that session waits for it). */
#ifndef OPTIRS_SESSION_LIFE_H
#define OPTIRS_SESSION_LIFE_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "session.h"

/* 1 for "finished" and "archived": the statuses that take no steps. */
int session_status_closed(const char *status);

/* A change of a session: each member NULL when not asked for.  status is
 * one of the words above; name at most SPEC_NAME_MAX - 1 bytes; tags an
 * object of strings with the limits of the create request (spec.h). */
typedef struct session_change {
    const char  *status;
    const char  *name;
    const cJSON *tags;
} session_change;

/* Parses a PATCH body (a JSON object with name, tags, status; nothing else)
 * into ch, whose strings and tags point into `root` (the caller keeps root
 * alive and frees it).  0 or ERR_* with msg filled. */
int session_change_parse(const cJSON *root, session_change *ch, char *msg, size_t cap);

/* Applies ch to s and commits it.  0, ERR_SESSION_NOT_FOUND (deleted),
 * ERR_SESSION_CLOSED (a change the lifecycle forbids; msg says which),
 * ERR_NO_MEMORY or ERR_STORAGE (nothing changed). */
int session_change_apply(session *s, const session_change *ch, char *msg, size_t cap);

/* The list's filters; NULL or "" members filter nothing. */
typedef struct session_filter {
    const char *tenant;      /* the owner (NULL: every tenant) */
    const char *status;      /* exact status */
    const char *name;        /* exact name */
    const char *tag;         /* "key" (has the tag) or "key:value" (has it with that value) */
    const char *optimizer;   /* exact optimizer name */
    const char *q;           /* substring of the name, a tag's key or a tag's value (ASCII case-insensitive) */
} session_filter;

/* Longest q (bytes); a longer one is ERR_INVALID_ARGUMENT. */
#define SESSION_QUERY_MAX 256
/* Longest page token session_list gives out (with its NUL). */
#define SESSION_PAGE_TOKEN_MAX 64

/* Calls fn for the sessions matching f, newest first (created_ms descending,
 * then id descending), those after the page token `after` (NULL: from the
 * first; a token is "<created_ms>.<id>", as *next gets it), at most limit.
 * next (SESSION_PAGE_TOKEN_MAX bytes) gets the token of the last one given
 * when there may be more ("" otherwise).  fn gets a reference it must not
 * keep.  The number visited, ERR_INVALID_ARGUMENT (a malformed token, a q
 * over SESSION_QUERY_MAX) or
 * ERR_NO_MEMORY. */
int session_list(sessions *reg, const session_filter *f, const char *after, int limit,
                 void (*fn)(void *ctx, session *s), void *ctx, char *next);

/* Counts the sessions by status (active, diverged, finished, archived). */
typedef struct session_status_counts { int64_t active, diverged, finished, archived; } session_status_counts;
void session_count_status(sessions *reg, session_status_counts *out);

/* The retention policy at wall-clock now_ms with ttl_ms (> 0): archives the
 * idle sessions and deletes the archived ones whose time is up.  *archived
 * and *deleted (may be NULL) get how many.  Storage errors leave a session
 * as it was (the next pass tries again). */
void session_retention(sessions *reg, int64_t now_ms, int64_t ttl_ms, int *archived, int *deleted);

#endif
