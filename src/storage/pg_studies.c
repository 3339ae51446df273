/* pg_studies.c — studies, trials and intermediate values in the cluster's
 * PostgreSQL, behind the study-store interface.  See pg_studies.h. */
#include "pg_studies.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "hpo.h"
#include "pg_conn.h"

struct pg_studies {
    char           *target;
    pthread_mutex_t mu;          /* recursive: the connection and the unit of work */
    PGconn         *c;
    int             held;        /* a unit of work is open (its thread holds mu) */
    int             failed;      /* …and one of its statements failed: release rolls back */
    int             failed_rc;
    int             in_tx;       /* a transaction is open on c (a unit of work's or an operation's) */
    int64_t         retry_at;    /* monotonic ms: no connection attempt before */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the byte codec of x ------------------------------------------------------ */

void pg_studies_x_encode(const double *x, int n, unsigned char *out)
{
    for (int i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], sizeof u);
        for (int k = 0; k < 8; k++) out[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
}

int pg_studies_x_decode(const unsigned char *b, size_t len, double *x, int cap, int *n)
{
    if (len % 8 || len / 8 > (size_t)cap) return -1;
    *n = (int)(len / 8);
    for (int i = 0; i < *n; i++) {
        uint64_t u = 0;
        for (int k = 0; k < 8; k++) u |= (uint64_t)b[8 * i + k] << (8 * k);
        memcpy(&x[i], &u, sizeof u);
    }
    return 0;
}

/* ---- the connection ------------------------------------------------------------- */

int pg_studies_open(const char *target, pg_studies **out, char *err, size_t errn)
{
    *out = NULL;
    pg_studies *ps = calloc(1, sizeof *ps);
    if (!ps || !(ps->target = strdup(target))) {
        free(ps);
        return ERR_NO_MEMORY;
    }
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&ps->mu, &at);
    pthread_mutexattr_destroy(&at);
    int rc = (ps->c = pg_conn_open(target, err, errn)) ? pg_conn_schema(ps->c, err, errn) : ERR_CLUSTER_DB;
    if (rc) {
        pg_studies_close(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void pg_studies_close(pg_studies *ps)
{
    if (!ps) return;
    PQfinish(ps->c);
    pthread_mutex_destroy(&ps->mu);
    free(ps->target);
    free(ps);
}

/* The connection, opened when there is none (not inside a unit of work,
 * not before retry_at).  NULL: ERR_CLUSTER_DB.  Caller holds mu. */
static PGconn *conn(pg_studies *ps)
{
    if (ps->c && PQstatus(ps->c) == CONNECTION_OK) return ps->c;
    if (ps->in_tx) return NULL;   /* the transaction went with the connection: no statement outside it */
    PQfinish(ps->c);
    ps->c = NULL;
    if (mono_ms() < ps->retry_at) return NULL;
    if (!(ps->c = pg_conn_open(ps->target, NULL, 0))) ps->retry_at = mono_ms() + PG_STUDIES_RETRY_MS;
    return ps->c;
}

/* Runs one statement with text parameters (bin: parameter i is binary,
 * lens[i] bytes, when bin && bin[i]).  *res (NULL: not wanted) the rows;
 * *changed (NULL: not wanted) the rows it changed.  0, ERR_STORAGE (a
 * constraint: SQLSTATE class 23) or ERR_CLUSTER_DB; a failure inside a unit
 * of work dooms it.  Caller holds mu. */
static int run(pg_studies *ps, const char *sql, int n, const char *const *vals, const int *lens, const int *bin,
               PGresult **res, int *changed)
{
    if (res) *res = NULL;
    if (changed) *changed = 0;
    int rc = ERR_CLUSTER_DB;
    PGconn *c = conn(ps);
    if (c) {
        PGresult *r = PQexecParams(c, sql, n, NULL, vals, lens, bin, 0);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            rc = 0;
            if (changed) *changed = atoi(PQcmdTuples(r));
            if (res) {
                *res = r;
                r = NULL;
            }
        } else {
            const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
            rc = state && strncmp(state, "23", 2) == 0 ? ERR_STORAGE : ERR_CLUSTER_DB;
            if (PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                ps->c = NULL;
            }
        }
        PQclear(r);
    }
    if (rc && ps->held && !ps->failed) {
        ps->failed = 1;
        ps->failed_rc = rc;
    }
    return rc;
}

static int exec0(pg_studies *ps, const char *sql)
{
    return run(ps, sql, 0, NULL, NULL, NULL, NULL, NULL);
}

/* A transaction around an operation of several statements, unless a unit of
 * work already is one.  tx_end commits it (or rolls it back after rc). */
static int tx_begin(pg_studies *ps, const char *begin_sql)
{
    if (ps->held) return 0;
    int rc = exec0(ps, begin_sql);
    ps->in_tx = !rc;
    return rc;
}

static int tx_end(pg_studies *ps, int rc)
{
    if (ps->held) return rc;
    if (!ps->in_tx) return rc;   /* its BEGIN failed */
    if (rc) exec0(ps, "ROLLBACK");
    else rc = exec0(ps, "COMMIT");
    ps->in_tx = 0;
    return rc;
}

/* ---- the unit of work ------------------------------------------------------------ */

static int ps_hold(void *ctx, const char *id)
{
    pg_studies *ps = ctx;
    pthread_mutex_lock(&ps->mu);
    int rc = exec0(ps, "BEGIN");
    if (rc) {
        pthread_mutex_unlock(&ps->mu);
        return rc;
    }
    ps->in_tx = 1;
    const char *v[] = {id};
    rc = run(ps, "SELECT 1 FROM optirs_studies WHERE id = $1 FOR UPDATE", 1, v, NULL, NULL, NULL, NULL);
    if (rc) {
        exec0(ps, "ROLLBACK");
        ps->in_tx = 0;
        pthread_mutex_unlock(&ps->mu);
        return rc;
    }
    ps->held = 1;
    ps->failed = 0;
    return 0;
}

static int ps_release(void *ctx)
{
    pg_studies *ps = ctx;
    /* (in_tx still set: a lost connection is not re-opened for the COMMIT,
     * which would then "succeed" outside any transaction) */
    int failed = ps->failed, rc = ps->failed_rc;
    if (failed) exec0(ps, "ROLLBACK");
    else rc = exec0(ps, "COMMIT");   /* a COMMIT after a failed statement would answer ROLLBACK: failed says */
    ps->held = 0;
    ps->failed = 0;
    ps->in_tx = 0;
    pthread_mutex_unlock(&ps->mu);
    return rc;
}

/* ---- writes ----------------------------------------------------------------------- */

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (buf))

/* A double as text, exactly (NULL for NAN: the column's NULL). */
static const char *dbl(char *buf, size_t n, double v)
{
    if (isnan(v)) return NULL;
    snprintf(buf, n, "%.17g", v);
    return buf;
}

static int ps_study_insert(void *ctx, const store_study_row *r)
{
    pg_studies *ps = ctx;
    char t[24];
    const char *v[] = {r->id, r->tenant ? r->tenant : "", r->name, r->spec_json, I64(t, r->created_ms)};
    pthread_mutex_lock(&ps->mu);
    int rc = run(ps, "INSERT INTO optirs_studies(id, tenant, name, spec_json, created_ms) VALUES($1, $2, $3, $4, $5)",
                 5, v, NULL, NULL, NULL, NULL);
    pthread_mutex_unlock(&ps->mu);
    return rc;
}

static int ps_study_delete(void *ctx, const char *id)
{
    pg_studies *ps = ctx;
    const char *v[] = {id};
    int changed;
    pthread_mutex_lock(&ps->mu);
    int rc = run(ps, "DELETE FROM optirs_studies WHERE id = $1", 1, v, NULL, NULL, NULL, &changed);
    pthread_mutex_unlock(&ps->mu);
    return rc ? rc : changed ? 0 : ERR_NOT_FOUND;
}

static int ps_trial_insert(void *ctx, const char *study, int64_t number, const char *params_json, const double *x,
                           int nx, int64_t now_ms)
{
    pg_studies *ps = ctx;
    if (nx < 0 || nx > HPO_MAX_PARAMS) return ERR_INVALID_ARGUMENT;
    unsigned char xb[8 * HPO_MAX_PARAMS];
    pg_studies_x_encode(x, nx, xb);
    char tn[24], tt[24];
    const char *v[] = {study, I64(tn, number), params_json, (const char *)xb, I64(tt, now_ms)};
    int lens[] = {0, 0, 0, 8 * nx, 0}, bin[] = {0, 0, 0, 1, 0};
    pthread_mutex_lock(&ps->mu);
    int rc = run(ps,
                 "INSERT INTO optirs_trials(study_id, number, state, params_json, x, started_ms, heartbeat_ms)"
                 " VALUES($1, $2, 'running', $3, $4, $5, $5)",
                 5, v, lens, bin, NULL, NULL);
    pthread_mutex_unlock(&ps->mu);
    return rc;
}

static int ps_trial_finish(void *ctx, const char *study, int64_t number, const char *state, double value,
                           int64_t now_ms)
{
    pg_studies *ps = ctx;
    char tn[24], tv[32], tt[24];
    const char *v[] = {study, I64(tn, number), state, dbl(tv, sizeof tv, value), I64(tt, now_ms)};
    int changed;
    pthread_mutex_lock(&ps->mu);
    int rc = run(ps,
                 "UPDATE optirs_trials SET state = $3, value = $4, finished_ms = $5, heartbeat_ms = $5"
                 " WHERE study_id = $1 AND number = $2 AND state = 'running'",
                 5, v, NULL, NULL, NULL, &changed);
    pthread_mutex_unlock(&ps->mu);
    return rc ? rc : changed ? 0 : ERR_NOT_FOUND;
}

static int ps_trial_report(void *ctx, const char *study, int64_t number, int64_t step, double value, int64_t now_ms)
{
    pg_studies *ps = ctx;
    if (!isfinite(value)) return ERR_INVALID_ARGUMENT;
    char tn[24], ts[24], tv[32], tt[24];
    const char *up[] = {study, I64(tn, number), I64(tt, now_ms)};
    const char *ins[] = {study, tn, I64(ts, step), dbl(tv, sizeof tv, value)};
    int changed = 0;
    pthread_mutex_lock(&ps->mu);
    int rc = tx_begin(ps, "BEGIN");
    if (!rc)
        rc = run(ps,
                 "UPDATE optirs_trials SET heartbeat_ms = $3 WHERE study_id = $1 AND number = $2 AND state = 'running'",
                 3, up, NULL, NULL, NULL, &changed);
    if (!rc && changed)
        rc = run(ps,
                 "INSERT INTO optirs_trial_values(study_id, number, step, value) VALUES($1, $2, $3, $4)"
                 " ON CONFLICT (study_id, number, step) DO UPDATE SET value = EXCLUDED.value",
                 4, ins, NULL, NULL, NULL, NULL);
    rc = tx_end(ps, rc);
    pthread_mutex_unlock(&ps->mu);
    return rc ? rc : changed ? 0 : ERR_NOT_FOUND;
}

static int ps_trials_lose(void *ctx, const char *study, int64_t before_ms, int64_t now_ms, int *n)
{
    pg_studies *ps = ctx;
    char tb[24], tt[24];
    const char *v[] = {study, I64(tb, before_ms), I64(tt, now_ms)};
    int changed = 0;
    pthread_mutex_lock(&ps->mu);
    int rc = run(ps,
                 "UPDATE optirs_trials SET state = 'lost', finished_ms = $3"
                 " WHERE study_id = $1 AND state = 'running' AND heartbeat_ms < $2",
                 3, v, NULL, NULL, NULL, &changed);
    pthread_mutex_unlock(&ps->mu);
    if (n) *n = rc ? 0 : changed;
    return rc;
}

/* ---- reads ------------------------------------------------------------------------- */

#define STUDY_COLS                                                                                               \
    "s.id, s.tenant, s.name, s.spec_json, s.created_ms,"                                                       \
    " (SELECT count(*) FROM optirs_trials t WHERE t.study_id = s.id),"                                          \
    " (SELECT count(*) FROM optirs_trials t WHERE t.study_id = s.id AND t.state = 'running'),"                  \
    " (SELECT count(*) FROM optirs_trials t WHERE t.study_id = s.id AND t.state = 'complete')"

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double col_dbl(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

static int study_rows(pg_studies *ps, const char *sql, int n, const char *const *v,
                      int (*fn)(void *, const store_study_row *), void *fctx, int *found)
{
    PGresult *r;
    pthread_mutex_lock(&ps->mu);
    int rc = run(ps, sql, n, v, NULL, NULL, &r, NULL);
    pthread_mutex_unlock(&ps->mu);
    *found = 0;
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        store_study_row row = {
            .id = PQgetvalue(r, i, 0), .tenant = PQgetvalue(r, i, 1), .name = PQgetvalue(r, i, 2),
            .spec_json = PQgetvalue(r, i, 3), .created_ms = col_i64(r, i, 4), .n_trials = col_i64(r, i, 5),
            .n_running = col_i64(r, i, 6), .n_complete = col_i64(r, i, 7),
        };
        (*found)++;
        if (fn(fctx, &row)) break;
    }
    PQclear(r);
    return 0;
}

static int ps_study_get(void *ctx, const char *id, int (*fn)(void *, const store_study_row *), void *fctx)
{
    if (!id) return ERR_INVALID_ARGUMENT;
    const char *v[] = {id};
    int found;
    int rc = study_rows(ctx, "SELECT " STUDY_COLS " FROM optirs_studies s WHERE s.id = $1", 1, v, fn, fctx, &found);
    return rc ? rc : found ? 0 : ERR_NOT_FOUND;
}

static int ps_studies_list(void *ctx, const char *tenant, int limit, int (*fn)(void *, const store_study_row *),
                           void *fctx)
{
    char tl[24];
    const char *v[] = {I64(tl, limit), tenant};
    int found;
    return study_rows(ctx,
                      tenant ? "SELECT " STUDY_COLS " FROM optirs_studies s WHERE s.tenant = $2"
                               " ORDER BY s.created_ms DESC, s.id LIMIT $1"
                             : "SELECT " STUDY_COLS " FROM optirs_studies s ORDER BY s.created_ms DESC, s.id LIMIT $1",
                      tenant ? 2 : 1, v, fn, fctx, &found);
}

/* Hands the trial rows of r to fn; ERR_CORRUPT for an x that is not this
 * build's.  1 in *stop when fn stopped. */
static int trial_rows(PGresult *r, int (*fn)(void *, const store_trial_row *), void *fctx, int *stop)
{
    for (int i = 0; fn && !*stop && i < PQntuples(r); i++) {
        double x[HPO_MAX_PARAMS];
        int nx = 0;
        size_t len = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 3), &len);
        if (!b) return ERR_NO_MEMORY;
        int bad = pg_studies_x_decode(b, len, x, HPO_MAX_PARAMS, &nx);
        PQfreemem(b);
        if (bad) return ERR_CORRUPT;
        store_trial_row t = {
            .number = col_i64(r, i, 0), .state = PQgetvalue(r, i, 1), .params_json = PQgetvalue(r, i, 2), .x = x,
            .nx = nx, .value = col_dbl(r, i, 4), .started_ms = col_i64(r, i, 5), .heartbeat_ms = col_i64(r, i, 6),
            .finished_ms = col_i64(r, i, 7),
        };
        if (fn(fctx, &t)) *stop = 1;
    }
    return 0;
}

static int ps_study_trials(void *ctx, const char *study, int (*trial_fn)(void *, const store_trial_row *),
                           int (*value_fn)(void *, int64_t, int64_t, double), void *fctx)
{
    pg_studies *ps = ctx;
    if (!study) return ERR_INVALID_ARGUMENT;
    const char *v[] = {study};
    PGresult *rt = NULL, *rv = NULL;
    pthread_mutex_lock(&ps->mu);
    int rc = tx_begin(ps, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!rc)
        rc = run(ps,
                 "SELECT number, state, params_json, x, value, started_ms, heartbeat_ms, coalesce(finished_ms, 0)"
                 " FROM optirs_trials WHERE study_id = $1 ORDER BY number",
                 1, v, NULL, NULL, &rt, NULL);
    if (!rc && value_fn)
        rc = run(ps, "SELECT number, step, value FROM optirs_trial_values WHERE study_id = $1 ORDER BY number, step",
                 1, v, NULL, NULL, &rv, NULL);
    rc = tx_end(ps, rc);
    pthread_mutex_unlock(&ps->mu);
    int stop = 0;
    if (!rc) rc = trial_rows(rt, trial_fn, fctx, &stop);
    for (int i = 0; !rc && !stop && rv && i < PQntuples(rv); i++)
        stop = value_fn(fctx, col_i64(rv, i, 0), col_i64(rv, i, 1), col_dbl(rv, i, 2));
    PQclear(rt);
    PQclear(rv);
    return rc;
}

static const study_store_ops PG_OPS = {ps_study_insert, ps_study_delete, ps_study_get,   ps_studies_list,
                                       ps_trial_insert, ps_trial_finish, ps_trial_report, ps_trials_lose,
                                       ps_study_trials, ps_hold,         ps_release};

study_store pg_studies_store(pg_studies *ps)
{
    return (study_store){&PG_OPS, ps};
}
