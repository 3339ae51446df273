/* sessions.h — the server's side of the session registry and the step
 * protocol, which live in the service layer (service/session.h): this glue
 * builds the registry from the daemon's configuration with the server's
 * hooks, and turns the service's answers into HTTP responses.
 *
 * The hooks (sessions_open): the clocks of http.h; a per-session attachment
 * holding the session's compute lane (pool.h) and its live feed (live.h);
 * the answer to a parked request (encoded with step_codec.h, then
 * http_resume); and, after every persisted step, live_record_step with
 * step_run's result (numbers; the writer thread formats the stored JSON)
 * and, for a session bound to a study trial, the step's loss reported to
 * the trial (study_bind.h), whose pruner may stop the session.
 *
 * Steps, feedback, parameter reads and deletes run on the compute pool in
 * the session's lane (session_lane): one at a time, in arrival order.  That
 * is what keeps a step's answer buffer stable until session_answer_http
 * has encoded it (session.h, session_step).
 * Thread rules: those of session.h; the answers run on the thread of the
 * step (or timer) that produced them. */
#ifndef OPTIRS_SESSIONS_H
#define OPTIRS_SESSIONS_H

#include "session.h"
#include "http.h"
#include "pool.h"

struct live_feed;

/* Builds a->reg from a->cfg and a->db with the server's hooks.  0 or ERR_*. */
int  sessions_open(app *a);
/* The libuv timer's work (every 100 ms): the live ticker (live_tick), then
 * the registry's timers (sessions_tick). */
void sessions_timer(app *a, double now_monotonic);
/* Draining: every event stream ends (live_drain) and every parked worker is
 * answered shutting_down (sessions_release_waiters). */
void sessions_drain(app *a);
/* The final checkpoint: every session with unsaved steps snapshotted
 * (sessions_checkpoint_all), the rollup refreshed over the buffered steps
 * (live_flush), then the store flushed.  0 or the first ERR_*. */
int  sessions_final_checkpoint(app *a);

/* The session's live feed (its event streams, live.h); lives as long as the
 * session. */
struct live_feed *session_live_feed(const session *s);
/* The session's compute lane and how many jobs may wait or run on it
 * (--compute-session-queue, at least the session's workers). */
pool_lane *session_lane(session *s, int *limit);
/* 1 once the study trial the session is bound to is known to be pruned (its
 * next steps answer 410 trial_pruned): what the session has learnt so far,
 * no read (any thread). */
int sessions_trial_pruned(session *s);
/* The same, asking the study service once per session and daemon run when
 * nothing is known yet: a restarted daemon's session bound to a trial pruned
 * before the restart refuses its very first step.  A read of the store:
 * compute threads only. */
int sessions_trial_check(session *s);

/* Sets r's response from a: the update of a step (step_codec_update in the
 * encoding a->encoding, with X-Optirs-Step and, for a skipped step,
 * X-Optirs-Applied: false) or the error with its message (and "expected"
 * for step_conflict). */
void session_answer_http(req *r, const session_answer *a);
/* Answers r with the current parameters (JSON or binary). */
void session_params_http(session *s, req *r, int enc);

#endif
