/* handlers.h — one function per route; the route table (routes.c) names them.
 * h_sessions.c serves the session resources, h_system.c the daemon's own
 * (health, metrics, optimizers, config).
 * Thread rules: called on HTTP worker threads, concurrently; heavy work
 * (steps, feedback, parameter reads, deletes, creates, weights imports) is
 * handed to the compute pool with compute_defer (compute.h). */
#ifndef OPTIRS_HANDLERS_H
#define OPTIRS_HANDLERS_H

#include "http.h"

void h_sessions_create(req *r);
void h_sessions_list(req *r);
void h_session_get(req *r);
void h_session_patch(req *r);   /* h_life.c, with h_sessions_list */
void h_session_delete(req *r);
void h_session_step(req *r);
/* Called for a step before its body is read (headers only, after auth):
 * bounds r->body_limit by the session's size — a binary body must be
 * exactly 4 n bytes (r->body_exact: another Content-Length is answered
 * 400 length_mismatch at once), a JSON one at most n numbers' worth (413
 * above it) — or sets r->early_error (session_not_found): nothing is read. */
void h_session_step_begin(req *r);
void h_session_params(req *r);
void h_session_state(req *r);
void h_session_feedback(req *r);
void h_session_metrics(req *r);
void h_session_feedback_list(req *r);

void h_livez(req *r);
void h_readyz(req *r);
void h_metrics(req *r);
void h_optimizers(req *r);
void h_config(req *r);

void h_keys_create(req *r);
void h_keys_list(req *r);
void h_keys_revoke(req *r);

/* h_meta.c: meta-training jobs and the weights registry */
void h_meta_jobs_create(req *r);
void h_meta_jobs_list(req *r);
void h_meta_job_get(req *r);
void h_meta_job_cancel(req *r);
void h_weights_list(req *r);
void h_weights_get(req *r);
void h_weights_blob(req *r);
void h_weights_init(req *r);   /* a few-shot record's initialisation and inner rates */
void h_weights_import(req *r);

/* h_metasess.c: meta-sessions (docs/meta-learning.md, "Meta-sessions") */
void h_msess_create(req *r);
void h_msess_list(req *r);
void h_msess_get(req *r);
void h_msess_delete(req *r);
void h_msess_init(req *r);
void h_msess_contribute(req *r);
/* h_studies.c: hyperparameter studies (docs/studies.md) */
void h_studies_create(req *r);
void h_studies_list(req *r);
void h_study_get(req *r);
void h_study_delete(req *r);
void h_study_ask(req *r);
void h_study_trials(req *r);
void h_study_report(req *r);
void h_study_tell(req *r);

/* h_analytics.c: summaries, downsampled metrics (h_session_metrics hands
 * over when max_points or smooth is given), compare, live events;
 * h_dashboard.c: the dashboard page */
void h_analytics_summary(req *r);
void h_analytics_metrics(req *r);
void h_analytics_compare(req *r);
void h_analytics_events(req *r);
void h_dashboard(req *r);

#endif
