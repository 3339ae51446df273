/* live.h — the live side of step analytics: what every applied step hands over
 * (its metrics row and extras, queued to the store as one job; the metrics
 * rollup refreshed over the buffered steps in batches from the timer), the
 * Server-Sent Event streams of GET /v1/sessions/{id}/events, and the step
 * counters by optimizer for /metrics.
 *
 * Streams never hold a worker thread: a stream with nothing to send suspends
 * its connection (from inside libmicrohttpd's content callback) and is
 * resumed by the next step of its session, by the heartbeat (a comment line
 * every LIVE_HEARTBEAT_S seconds, which also keeps suspended connections
 * from living forever unnoticed) or by live_drain, after which every stream
 * ends.  Each stream buffers at most LIVE_STREAM_QUEUE events; a client that
 * falls further behind gets an `event: dropped` with the count.
 *
 * A stream re-checks its reader before every event and heartbeat, and at
 * least every LIVE_RECHECK_S while idle: it ends (end of stream) once its
 * session is deleted or no longer the reader's tenant's, or once the key
 * that opened it is revoked (or, opened in open mode, once the daemon has
 * keys).  The key is read from the store at most once per LIVE_RECHECK_S,
 * and at once after live_revalidate.
 *
 * Each session has a live feed (live_feed_new, owned by the session): the
 * list of its streams.  A step takes no process-wide lock and builds no
 * text when its session has no stream: it bumps the /metrics counters and
 * queues its metrics row and extras, as numbers, for the store (whose writer
 * thread formats their JSON), and (id, step) for the rollup (lock-free).
 *
 * Thread rules: every function is safe from any thread.  One process-wide
 * hub (the daemon serves one app) lists every stream for the timer, drain
 * and /metrics; the step path never takes its lock. */
#ifndef OPTIRS_LIVE_H
#define OPTIRS_LIVE_H

#include <stdint.h>
#include "analytics.h"
#include "http.h"
#include "opt.h"
#include "step.h"
#include "store.h"

#define LIVE_HEARTBEAT_S   15.0
#define LIVE_STREAM_QUEUE  1024
#define LIVE_RECHECK_S     1.0      /* the longest a revoked key or deleted session keeps a stream */
#define LIVE_BUFFER_MAX    200000   /* steps waiting for the rollup refresh; more are dropped (counted) */
#define LIVE_EVENT_MAX     4096     /* bytes of one formatted step event (~400 used) */

/* A session's live feed: the event streams of that session. */
typedef struct live_feed live_feed;

/* A new feed for a session (the session owns it: live_feed_close); NULL on
 * OOM. */
live_feed *live_feed_new(void);
/* The session is gone: drops its reference (the feed lives on until its
 * last stream has ended).  NULL does nothing. */
void live_feed_close(live_feed *f);

/* One applied (or skipped) step of session `id` with feed f: its metrics
 * row and step_run's result `res` (its analytics when res->has_stats, the
 * lr multiplier, the diagnostics).  Queues the metrics row and the extras,
 * as numbers, in one store job on db (NULL: none; the writer thread formats
 * their JSON, store_step_extras) and (id, step) for the rollup refresh.
 * Builds no text unless f has streams (then one event per stream).  Called
 * with the session's lock held (its steps come one at a time). */
void live_record_step(live_feed *f, store *db, const char *id, const opt *o, const step_metric *m,
                      const step_result *res);
/* Timer (libuv thread): refreshes the rollup, heartbeats, forgets closed
 * streams. */
void live_tick(app *a, double now);
/* Refreshes the rollup over every buffered step now, after every step's
 * rows are committed (queries call it first).  0 or ERR_*. */
int  live_flush(app *a);
/* Every stream re-checks its key and session before its next byte (call
 * after revoking a key or deleting a session). */
void live_revalidate(void);
/* Draining: every stream ends (idempotent). */
void live_drain(app *a);
/* Answers r with an event stream of session `id` (whose feed is f): first
 * the stored steps after `after` (at most `backlog`), then every new step.
 * 0 or ERR_*. */
int  live_stream_open(req *r, live_feed *f, const char *id, int64_t after, int backlog);
/* The event formatter (jwriter.h; exported for the fuzz target and the tests).
 * live_format_event: the SSE text of one step event ("id: k\nevent: step\n
 * data: {…}\n\n"; non-finite figures are null), NULL on OOM or past
 * LIVE_EVENT_MAX; the caller frees the result.  (A step's stored extras are
 * formatted by the store's writer thread: store_step_extras_json.) */
char *live_format_event(const step_metric *m, double cos, double ratio, double mult);
/* Prometheus text for the step counters (the caller frees it); NULL on OOM. */
char *live_prom_text(void);

#endif
