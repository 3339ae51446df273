/* pg_studies.h — hyperparameter studies, their trials and intermediate
 * values in the cluster's PostgreSQL (`--cluster-db`, docs/studies.md
 * "Studies in a cluster of daemons"): the study store (study_store.h) that
 * every daemon of a cluster shares, so that any daemon serves any study.
 *
 * Tables optirs_studies, optirs_trials, optirs_trial_values (pg_conn.c,
 * the studies' schema step), the same rows as SQLite's (store_studies.h);
 * deleting a study deletes its trials and values (ON DELETE CASCADE).
 * A unit of work (hold … release) is one transaction that starts by locking
 * the study's row (SELECT … FOR UPDATE): two daemons' units of work on one
 * study run one after the other, each seeing the other's commit.  An
 * operation outside a unit of work is its own transaction; the read of the
 * trials and values is one REPEATABLE READ transaction (a consistent
 * picture).  Numbers cross the wire as text printed with 17 significant
 * digits (exact both ways); a trial's sampler numbers as bytea, 8
 * little-endian bytes per double whatever the daemon's byte order.
 *
 * One connection per process, re-opened on demand after a loss, never inside
 * a unit of work (its transaction is gone with it: the unit fails).  After a
 * failed connection attempt, calls fail at once with ERR_CLUSTER_DB for
 * PG_STUDIES_RETRY_MS (a bound session's steps do not each wait for the
 * connect timeout while PostgreSQL is down).
 * Errors: those of store_studies.h; a constraint the row breaks (a trial
 * number that exists) is ERR_STORAGE; anything else PostgreSQL refuses, a
 * lost connection, a timeout (pg_conn.h's statement timeout, also bounding
 * the wait for another daemon's lock) is ERR_CLUSTER_DB.
 * Thread rules: any thread; one call at a time (a recursive lock: the
 * thread holding a unit of work runs its operations inside it, every other
 * thread waits for its release). */
#ifndef OPTIRS_PG_STUDIES_H
#define OPTIRS_PG_STUDIES_H

#include <stddef.h>

#include "study_store.h"

#define PG_STUDIES_RETRY_MS 1000

typedef struct pg_studies pg_studies;

/* Connects and creates or migrates the schema.  0, ERR_NO_MEMORY, or
 * ERR_CLUSTER_DB with the reason in err (errn bytes). */
int  pg_studies_open(const char *target, pg_studies **out, char *err, size_t errn);
/* NULL is a no-op.  No call may be under way. */
void pg_studies_close(pg_studies *ps);
/* The study store over ps (valid until pg_studies_close). */
study_store pg_studies_store(pg_studies *ps);

/* The byte codec of a trial's sampler numbers (pure): n doubles to 8n
 * little-endian bytes, and back.  pg_studies_x_decode: 0, or -1 when len is
 * not a multiple of 8 or holds more than cap numbers. */
void pg_studies_x_encode(const double *x, int n, unsigned char *out);
int  pg_studies_x_decode(const unsigned char *b, size_t len, double *x, int cap, int *n);

#endif
