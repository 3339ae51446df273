/* pg_conn.c — connections to the cluster database and its schema.  See
 * pg_conn.h. */
#include "pg_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* Migration i (0-based) brings the schema from version i to i + 1.  Append
 * only; never edit a migration that has shipped. */
static const char *const migrations[] = {
    /* 1: API keys and their tenants.  Rows are never deleted: revocation sets
     * revoked_ms, so "a key has existed" is "the table has a row". */
    "CREATE TABLE optirs_api_keys ("
    " id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 31),"
    " tenant text NOT NULL CHECK (length(tenant) BETWEEN 1 AND 63),"
    " hash bytea NOT NULL CHECK (length(hash) = 32),"
    " admin boolean NOT NULL,"
    " created_ms bigint NOT NULL,"
    " revoked_ms bigint)",
    /* 2: weights records and their blobs (pg_weights.h).  Independent of 1
     * (no reference between the tables): a step that adds another table
     * after it only needs its own index.  Rows are never updated or deleted:
     * (name, version) names one blob for ever, on every daemon. */
    "CREATE TABLE optirs_weights ("
    " name text NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
    " version bigint NOT NULL CHECK (version >= 1),"
    " arch text NOT NULL CHECK (length(arch) BETWEEN 1 AND 31),"
    " hidden integer NOT NULL, depth integer NOT NULL, ntheta bigint NOT NULL,"
    " domain text NOT NULL CHECK (length(domain) BETWEEN 1 AND 31),"
    " provenance_json text NOT NULL CHECK (length(provenance_json) <= 1048576),"
    " eval_json text NOT NULL CHECK (length(eval_json) <= 1048576),"
    " created_ms bigint NOT NULL,"
    " blob bytea NOT NULL CHECK (octet_length(blob) <= 67108864),"
    " PRIMARY KEY (name, version))",
    /* 3: the session index (pg_sessions.h): which shard holds which session.
     * Byte order ("C") for the id, the list's keyset cursor. */
    "CREATE TABLE optirs_sessions ("
    " id text COLLATE \"C\" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 79),"
    " tenant text NOT NULL CHECK (length(tenant) <= 63),"   /* "" in open mode */
    " shard text NOT NULL CHECK (length(shard) BETWEEN 1 AND 255));"
    "CREATE INDEX optirs_sessions_tenant ON optirs_sessions (tenant, id);"
    "CREATE INDEX optirs_sessions_shard ON optirs_sessions (shard)",
    /* 4: hyperparameter studies (pg_studies.h): the rows of SQLite's
     * studies, trials and trial_values (store_studies.h).  Self-contained:
     * references only its own tables.  Byte order ("C") for the ids, the
     * list's tie-break as in SQLite.  The JSON texts have no CHECK of
     * their own: the service bounds them (study_spec.h), and a bound here
     * would refuse what SQLite takes. */
    "CREATE TABLE optirs_studies ("
    " id text COLLATE \"C\" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 63),"
    " tenant text NOT NULL CHECK (length(tenant) <= 127),"   /* "" in open mode */
    " name text NOT NULL CHECK (length(name) <= 1024),"
    " spec_json text NOT NULL,"   /* bounded by study_spec.h's limits */
    " created_ms bigint NOT NULL);"
    "CREATE INDEX optirs_studies_tenant ON optirs_studies (tenant, created_ms DESC, id);"
    "CREATE TABLE optirs_trials ("
    " study_id text COLLATE \"C\" NOT NULL REFERENCES optirs_studies (id) ON DELETE CASCADE,"
    " number bigint NOT NULL CHECK (number >= 0),"
    " state text NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'failed', 'lost')),"
    " params_json text NOT NULL,"
    " x bytea NOT NULL CHECK (octet_length(x) % 8 = 0),"
    " value double precision,"
    " started_ms bigint NOT NULL, heartbeat_ms bigint NOT NULL, finished_ms bigint,"
    " PRIMARY KEY (study_id, number));"
    "CREATE TABLE optirs_trial_values ("
    " study_id text COLLATE \"C\" NOT NULL, number bigint NOT NULL, step bigint NOT NULL,"
    " value double precision NOT NULL,"
    " PRIMARY KEY (study_id, number, step),"
    " FOREIGN KEY (study_id, number) REFERENCES optirs_trials (study_id, number) ON DELETE CASCADE)",
    /* 5: meta-training jobs and their curves (pg_meta_jobs.h).  The owning
     * daemon (shard) writes every column but cancel_requested, which any
     * daemon sets.  Independent of 1-4. */
    "CREATE TABLE optirs_meta_jobs ("
    " id text COLLATE \"C\" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 39),"
    " tenant text NOT NULL CHECK (length(tenant) <= 63),"
    " shard text NOT NULL CHECK (length(shard) BETWEEN 1 AND 255),"
    " name text NOT NULL CHECK (length(name) <= 255),"
    " source text NOT NULL CHECK (length(source) <= 15),"
    " status text NOT NULL CHECK (length(status) <= 15),"
    " config_json text NOT NULL CHECK (length(config_json) <= 1048576),"
    " created_ms bigint NOT NULL, updated_ms bigint NOT NULL,"
    " step bigint NOT NULL, outer_steps bigint NOT NULL, wall_s double precision NOT NULL,"
    " error text CHECK (length(error) <= 4096),"
    " weights_name text CHECK (length(weights_name) <= 255), weights_version bigint NOT NULL,"
    " cancel_requested boolean NOT NULL DEFAULT false);"
    "CREATE INDEX optirs_meta_jobs_tenant ON optirs_meta_jobs (tenant, created_ms DESC, id);"
    "CREATE INDEX optirs_meta_jobs_order ON optirs_meta_jobs (created_ms DESC, id);"
    "CREATE INDEX optirs_meta_jobs_shard ON optirs_meta_jobs (shard, status);"
    "CREATE TABLE optirs_meta_curve ("
    " job_id text COLLATE \"C\" NOT NULL REFERENCES optirs_meta_jobs (id) ON DELETE CASCADE,"
    " step bigint NOT NULL, meta_loss double precision NOT NULL, grad_norm double precision NOT NULL,"
    " PRIMARY KEY (job_id, step))",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == PG_CONN_SCHEMA_VERSION,
               "one migration per schema version");

/* An arbitrary constant naming the schema's advisory lock. */
#define SCHEMA_LOCK "7301740241"

PGconn *pg_conn_open(const char *target, char *err, size_t errn)
{
    /* A directory path is the unix socket's directory; anything else is a URI
     * or conninfo string that libpq expands (expand_dbname = 1).  The
     * timeouts come after it and win over the same settings in it. */
    int dir = target[0] == '/';
    const char *keys[] = {dir ? "host" : "dbname", "connect_timeout", "options", "application_name", NULL};
    /* client_min_messages: no NOTICE on stderr for each CREATE … IF NOT EXISTS. */
    const char *vals[] = {target, PG_CONN_CONNECT_TIMEOUT_S,
                          "-c statement_timeout=" PG_CONN_STATEMENT_TIMEOUT_MS " -c client_min_messages=warning",
                          "optirsd", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, dir ? 0 : 1);
    if (c && PQstatus(c) == CONNECTION_OK) return c;
    if (err) {
        const char *m = c ? PQerrorMessage(c) : "out of memory";
        snprintf(err, errn, "%s", m);
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
    }
    PQfinish(c);
    return NULL;
}

static void set_err(PGconn *c, char *err, size_t errn, const char *what)
{
    if (!err) return;
    snprintf(err, errn, "%s: %s", what, PQerrorMessage(c));
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
}

int pg_conn_exec(PGconn *c, const char *sql, char *err, size_t errn)
{
    PGresult *r = PQexec(c, sql);
    int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok) set_err(c, err, errn, sql);
    PQclear(r);
    return ok ? 0 : ERR_CLUSTER_DB;
}

static int schema_version(PGconn *c, int *version, char *err, size_t errn)
{
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM optirs_schema");
    int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) *version = atoi(PQgetvalue(r, 0, 0));
    else set_err(c, err, errn, "reading the schema version");
    PQclear(r);
    return ok ? 0 : ERR_CLUSTER_DB;
}

int pg_conn_schema(PGconn *c, char *err, size_t errn)
{
    int v = 0;
    int rc = pg_conn_exec(c, "BEGIN", err, errn);
    if (!rc) rc = pg_conn_exec(c, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")", err, errn);
    if (!rc) rc = pg_conn_exec(c, "CREATE TABLE IF NOT EXISTS optirs_schema (version integer NOT NULL)", err, errn);
    if (!rc) rc = schema_version(c, &v, err, errn);
    if (!rc && v > PG_CONN_SCHEMA_VERSION) {
        snprintf(err, errn, "the cluster database's schema is version %d, newer than this daemon's (%d)", v,
                 PG_CONN_SCHEMA_VERSION);
        rc = ERR_CLUSTER_DB;
    }
    for (int i = v; !rc && i < PG_CONN_SCHEMA_VERSION; i++) rc = pg_conn_exec(c, migrations[i], err, errn);
    if (!rc && v < PG_CONN_SCHEMA_VERSION) {
        char sql[96];
        snprintf(sql, sizeof sql, "DELETE FROM optirs_schema; INSERT INTO optirs_schema VALUES (%d)",
                 PG_CONN_SCHEMA_VERSION);
        rc = pg_conn_exec(c, sql, err, errn);
    }
    if (!rc) rc = pg_conn_exec(c, "COMMIT", err, errn);
    else pg_conn_exec(c, "ROLLBACK", NULL, 0);
    return rc;
}
