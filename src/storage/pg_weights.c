/* pg_weights.c — weights records shared through PostgreSQL: versioned
 * inserts with their notification, and the sync that fetches the records a
 * daemon has not seen.  See pg_weights.h. */
#include "pg_weights.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "pg_conn.h"

#define CHANNEL  "optirs_weights"
#define TEXT_MAX (1u << 20)     /* provenance and evaluation JSON: the table's CHECK */
#define WORD_MAX 31             /* arch and domain: the table's CHECK */

typedef struct seen { char name[PG_WEIGHTS_NAME_MAX + 1]; int64_t version; } seen;

struct pg_weights {
    char           *target;
    pthread_mutex_t mu;         /* the connection and the seen set */
    PGconn         *c;
    seen           *seen;       /* sorted by (name, version) */
    size_t          n, cap;
    int             warned_full;
};

static int seen_cmp(const void *x, const void *y)
{
    const seen *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    return a->version < b->version ? -1 : a->version > b->version;
}

/* Index where (name, version) is or would go; *found = it is there.  Caller holds mu. */
static size_t seen_find(const pg_weights *pw, const char *name, int64_t version, int *found)
{
    seen probe;
    snprintf(probe.name, sizeof probe.name, "%s", name);
    probe.version = version;
    size_t lo = 0, hi = pw->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seen_cmp(&pw->seen[mid], &probe) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < pw->n && seen_cmp(&pw->seen[lo], &probe) == 0;
    return lo;
}

/* Marks (name, version) seen.  0, or ERR_NO_MEMORY / ERR_OUT_OF_RANGE (the
 * set is full: the record is handed over again by the next sync).  Caller
 * holds mu. */
static int seen_add(pg_weights *pw, const char *name, int64_t version)
{
    int found;
    size_t at = seen_find(pw, name, version, &found);
    if (found) return 0;
    if (pw->n >= PG_WEIGHTS_MAX) {
        if (!pw->warned_full)
            fprintf(stderr, "cluster db: more than %d weights records; the rest are not loaded\n", PG_WEIGHTS_MAX);
        pw->warned_full = 1;
        return ERR_OUT_OF_RANGE;
    }
    if (pw->n == pw->cap) {
        size_t cap = pw->cap ? pw->cap * 2 : 64;
        seen *v = realloc(pw->seen, cap * sizeof *v);
        if (!v) return ERR_NO_MEMORY;
        pw->seen = v;
        pw->cap = cap;
    }
    memmove(pw->seen + at + 1, pw->seen + at, (pw->n - at) * sizeof *pw->seen);
    snprintf(pw->seen[at].name, sizeof pw->seen[at].name, "%s", name);
    pw->seen[at].version = version;
    pw->n++;
    return 0;
}

int pg_weights_open(const char *target, pg_weights **out, char *err, size_t errn)
{
    *out = NULL;
    pg_weights *pw = calloc(1, sizeof *pw);
    if (!pw || !(pw->target = strdup(target))) {
        free(pw);
        return ERR_NO_MEMORY;
    }
    pthread_mutex_init(&pw->mu, NULL);
    if (!(pw->c = pg_conn_open(target, err, errn))) {
        pg_weights_close(pw);
        return ERR_CLUSTER_DB;
    }
    *out = pw;
    return 0;
}

void pg_weights_close(pg_weights *pw)
{
    if (!pw) return;
    PQfinish(pw->c);
    pthread_mutex_destroy(&pw->mu);
    free(pw->seen);
    free(pw->target);
    free(pw);
}

/* Runs a parameterised statement that returns rows, (re)connecting once if
 * the connection was lost since its last use.  *out gets the result (the
 * caller clears it).  0, or ERR_CLUSTER_DB with *err_state = the SQLSTATE
 * when the statement itself failed.  Caller holds mu. */
static int query_locked(pg_weights *pw, const char *sql, int n, const char *const *vals, const int *lens,
                        const int *fmts, int binary, PGresult **out)
{
    *out = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!pw->c && !(pw->c = pg_conn_open(pw->target, NULL, 0))) return ERR_CLUSTER_DB;
        PGresult *r = PQexecParams(pw->c, sql, n, NULL, vals, lens, fmts, binary);
        if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
            *out = r;
            return 0;
        }
        int link_ok = PQstatus(pw->c) == CONNECTION_OK;
        if (link_ok) fprintf(stderr, "cluster db: %s", PQerrorMessage(pw->c));
        PQclear(r);
        if (link_ok) return ERR_CLUSTER_DB;   /* the statement failed, not the link */
        PQfinish(pw->c);
        pw->c = NULL;
    }
    return ERR_CLUSTER_DB;
}

/* One statement, one transaction: the version is allocated, the row inserted
 * and the notification queued together.  No row back: the name exists (with
 * $12, only_if_new) or another daemon took that (name, version) first. */
static const char PUT_SQL[] =
    "WITH v AS (SELECT coalesce(max(version), 0) AS m FROM optirs_weights WHERE name = $1),"
    " ins AS (INSERT INTO optirs_weights(name, version, arch, hidden, depth, ntheta, domain, provenance_json,"
    " eval_json, created_ms, blob)"
    " SELECT $1, CASE WHEN $2::bigint > 0 THEN $2::bigint ELSE m + 1 END, $3, $4::integer, $5::integer,"
    " $6::bigint, $7, $8, $9, $10::bigint, $11::bytea FROM v WHERE NOT ($12::boolean AND m > 0)"
    " ON CONFLICT (name, version) DO NOTHING RETURNING name, version)"
    " SELECT version, pg_notify('" CHANNEL "', name) FROM ins";

int pg_weights_put(pg_weights *pw, const store_weights_row *w, int only_if_new, int64_t *version)
{
    if (version) *version = 0;
    if (!w || !w->name || !w->arch || !w->blob) return ERR_INVALID_ARGUMENT;
    const char *domain = w->domain ? w->domain : "synthetic";
    const char *prov = w->provenance_json ? w->provenance_json : "{}", *ev = w->eval_json ? w->eval_json : "{}";
    size_t nl = strlen(w->name);
    if (nl < 1 || nl > PG_WEIGHTS_NAME_MAX || strlen(w->arch) > WORD_MAX || strlen(domain) > WORD_MAX ||
        strlen(prov) > TEXT_MAX || strlen(ev) > TEXT_MAX || w->blob_len > PG_WEIGHTS_BLOB_MAX)
        return ERR_OUT_OF_RANGE;
    char ver[24], hidden[16], depth[16], ntheta[24], created[24];
    int64_t created_ms = w->created_ms;
    if (created_ms <= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        created_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    snprintf(ver, sizeof ver, "%lld", (long long)(w->version > 0 ? w->version : 0));
    snprintf(hidden, sizeof hidden, "%d", w->hidden);
    snprintf(depth, sizeof depth, "%d", w->depth);
    snprintf(ntheta, sizeof ntheta, "%lld", (long long)w->ntheta);
    snprintf(created, sizeof created, "%lld", (long long)created_ms);
    const char *vals[12] = {w->name, ver, w->arch, hidden, depth, ntheta, domain, prov, ev, created,
                            (const char *)w->blob, only_if_new ? "t" : "f"};
    int lens[12] = {0}, fmts[12] = {0};
    lens[10] = (int)w->blob_len;
    fmts[10] = 1;   /* the blob goes as raw bytes */
    pthread_mutex_lock(&pw->mu);
    int rc = 0;
    int64_t got = 0;
    for (int attempt = 0; !rc && attempt < PG_WEIGHTS_PUT_TRIES; attempt++) {
        PGresult *r;
        rc = query_locked(pw, PUT_SQL, 12, vals, lens, fmts, 0, &r);
        if (rc) break;
        if (PQntuples(r) == 1) got = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (got > 0 || only_if_new) break;                /* inserted; or the name exists */
        if (w->version > 0) {                             /* that version exists */
            rc = ERR_STORAGE;
            break;
        }
    }
    if (!rc && got == 0 && !only_if_new) rc = ERR_CLUSTER_DB;   /* lost every race: give up, do not spin */
    if (!rc && got > 0) seen_add(pw, w->name, got);   /* a full set only costs a second hand-over */
    pthread_mutex_unlock(&pw->mu);
    if (!rc && version) *version = got;
    return rc;
}

/* Fetches record (name, version) with its blob and hands it to fn.  0, fn's
 * answer, or an ERR_*.  Caller holds mu. */
static int fetch_one(pg_weights *pw, const char *name, const char *version,
                     int (*fn)(void *, const store_weights_row *), void *ctx)
{
    /* Binary results: the blob comes as raw bytes, the numbers are cast to
     * text so that they read like the text format. */
    const char *vals[2] = {name, version};
    PGresult *r;
    int rc = query_locked(pw, "SELECT arch, hidden::text, depth::text, ntheta::text, domain, provenance_json,"
                              " eval_json, created_ms::text, blob FROM optirs_weights"
                              " WHERE name = $1 AND version = $2::bigint", 2, vals, NULL, NULL, 1, &r);
    if (rc) return rc;
    if (PQntuples(r) != 1) {   /* rows are never deleted: only a database restored from an older dump */
        PQclear(r);
        return ERR_NOT_FOUND;
    }
    store_weights_row w = {
        .name = name,
        .version = strtoll(version, NULL, 10),
        .arch = PQgetvalue(r, 0, 0),
        .hidden = atoi(PQgetvalue(r, 0, 1)),
        .depth = atoi(PQgetvalue(r, 0, 2)),
        .ntheta = strtoll(PQgetvalue(r, 0, 3), NULL, 10),
        .domain = PQgetvalue(r, 0, 4),
        .provenance_json = PQgetvalue(r, 0, 5),
        .eval_json = PQgetvalue(r, 0, 6),
        .created_ms = strtoll(PQgetvalue(r, 0, 7), NULL, 10),
        .blob = PQgetvalue(r, 0, 8),
        .blob_len = (size_t)PQgetlength(r, 0, 8),
    };
    rc = fn(ctx, &w);
    PQclear(r);
    return rc;
}

int pg_weights_sync(pg_weights *pw, int (*fn)(void *ctx, const store_weights_row *w), void *ctx)
{
    pthread_mutex_lock(&pw->mu);
    PGresult *list;
    int rc = query_locked(pw, "SELECT name, version::text, octet_length(blob)::text FROM optirs_weights"
                              " ORDER BY name, version", 0, NULL, NULL, NULL, 0, &list);
    int handed = 0;
    for (int i = 0; !rc && i < PQntuples(list); i++) {
        const char *name = PQgetvalue(list, i, 0), *ver = PQgetvalue(list, i, 1);
        int64_t v = strtoll(ver, NULL, 10);
        int found = 0;
        if (strlen(name) > PG_WEIGHTS_NAME_MAX) continue;   /* the table's CHECK refuses it */
        seen_find(pw, name, v, &found);
        if (found) continue;
        if (strtoull(PQgetvalue(list, i, 2), NULL, 10) > PG_WEIGHTS_BLOB_MAX) {   /* before allocating it */
            fprintf(stderr, "cluster db: weights %s@%s are over %u bytes; not loaded\n", name, ver,
                    PG_WEIGHTS_BLOB_MAX);
            seen_add(pw, name, v);
            continue;
        }
        int frc = fetch_one(pw, name, ver, fn, ctx);
        if (frc == ERR_CLUSTER_DB || frc == ERR_NO_MEMORY) rc = frc;   /* the link or memory: next time */
        else if (frc == 0 && seen_add(pw, name, v) == 0) handed++;
        else if (frc) fprintf(stderr, "cluster db: weights %s@%s not loaded: %s\n", name, ver, err_message(frc));
    }
    PQclear(list);
    pthread_mutex_unlock(&pw->mu);
    return rc ? rc : handed;
}
