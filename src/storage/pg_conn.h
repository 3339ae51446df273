/* pg_conn.h — connections to the cluster database (PostgreSQL, libpq) and
 * its versioned schema.
 *
 * The cluster database is named by `--cluster-db`: a libpq URI
 * (postgresql://…), a conninfo string (host=… dbname=…), or the absolute
 * path of a directory holding PostgreSQL's unix socket (taken as host=DIR).
 * Every connection gets a connect timeout (PG_CONN_CONNECT_TIMEOUT_S) and a
 * statement timeout (PG_CONN_STATEMENT_TIMEOUT_MS) so that a database that
 * stops answering bounds every call instead of hanging it.
 * Schema: the table optirs_schema holds one version number; pg_conn_schema
 * applies the missing migrations in order under an advisory lock (daemons
 * starting together do not race), and refuses a database whose version is
 * newer than this build's (PG_CONN_SCHEMA_VERSION).  Each migration step
 * creates its own tables and depends on no later one, so independent steps
 * can be renumbered without rewriting them.
 * Thread rules: a PGconn belongs to one thread at a time (the caller's
 * lock); the functions keep no state of their own. */
#ifndef OPTIRS_PG_CONN_H
#define OPTIRS_PG_CONN_H

#include <stddef.h>
#include <libpq-fe.h>

#define PG_CONN_CONNECT_TIMEOUT_S   "2"
#define PG_CONN_STATEMENT_TIMEOUT_MS "5000"
/* 1: API keys (pg_keys.h); 2: weights records (pg_weights.h); 3: the session
 * index (pg_sessions.h); 4: studies (pg_studies.h); 5: meta-training jobs
 * (pg_meta_jobs.h). */
#define PG_CONN_SCHEMA_VERSION      5

/* Opens a connection.  NULL on failure, with the reason in err (errn bytes). */
PGconn *pg_conn_open(const char *target, char *err, size_t errn);
/* Creates or migrates the schema.  0, or ERR_CLUSTER_DB with the reason in err. */
int     pg_conn_schema(PGconn *c, char *err, size_t errn);
/* Runs a statement without parameters that returns no rows; 0 or
 * ERR_CLUSTER_DB (reason in err when err is not NULL). */
int     pg_conn_exec(PGconn *c, const char *sql, char *err, size_t errn);

#endif
