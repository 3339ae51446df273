/* optirs_cli.c — `optirs`, the operators' command-line tool, on the C client.
 *
 * Human tables by default, --json for scripts (the daemon's JSON, or for
 * listings every page in one document).  OPTIRS_URL and OPTIRS_API_KEY come
 * from the environment unless --url / --api-key say otherwise.
 *
 * Exit codes: 0 success, 1 the daemon answered an error, 2 usage, 3 the
 * daemon could not be reached, 4 the daemon does not have this API (its
 * answer was 404 not_found for the collection), 5 a malformed file or
 * answer. */
#include "optirs_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { EX_OK = 0, EX_DAEMON = 1, EX_USAGE = 2, EX_CONNECT = 3, EX_UNSUPPORTED = 4, EX_DATA = 5 };

/* The version `git describe` gave at build time (the Makefile sets it). */
#ifndef OPTIRS_VERSION
#define OPTIRS_VERSION "unknown"
#endif

static const char usage_text[] =
    "usage: optirs [--url URL] [--api-key KEY] [--json] COMMAND ...   (optirs --version: this build)\n"
    "\n"
    "  sessions ls [--status S] [--name N] [--tag KEY[:VALUE]] [--optimizer O] [--q TEXT]\n"
    "                                  list sessions, newest first (every page), filtered\n"
    "  sessions show ID                describe a session\n"
    "  sessions set ID [--name N] [--status finished|archived]\n"
    "                                  rename a session or end it (no more steps)\n"
    "  sessions rm ID                  delete a session, its state, metrics and feedback\n"
    "  metrics ID [--after N] [--limit N]\n"
    "                                  per-step analytics (every row after N, or one page of N)\n"
    "  optimizers                      the optimizer catalogue\n"
    "  keys ls                         API keys (admin key needed)\n"
    "  keys create --tenant NAME [--admin]\n"
    "                                  make a key; its text is shown once\n"
    "  keys rm ID                      revoke a key\n"
    "  jobs ls | jobs show ID | jobs cancel ID\n"
    "                                  meta-training jobs (/v1/meta/jobs)\n"
    "  export ID > FILE                a session's full state as a JSON document (spec, step,\n"
    "                                  parameters, optimizer state; sealed by SHA-256)\n"
    "  import [--name N] < FILE        create a session from such a document: it continues\n"
    "                                  at the exported step, bit for bit, on any daemon\n"
    "  studies ls | studies show ID    hyperparameter studies (/v1/studies): the list, or one\n"
    "                                  study with its best trial and every trial\n"
    "  weights ls | weights show NAME[@VER]\n"
    "                                  learned-optimizer weights records (/v1/weights)\n"
    "  export --weights NAME[@VER] > FILE\n"
    "                                  a weights record as its versioned, checksummed blob\n"
    "  import --weights NAME [--domain D] < FILE\n"
    "                                  store a blob as the next version of NAME (admin key)\n"
    "\n"
    "Export/import carries everything the optimizer holds (Adam moments, a learned\n"
    "optimizer's hidden state, the step counter; GET /v1/sessions/{id}/state), not the\n"
    "metrics history.  A tampered file is refused by the daemon (invalid_state, exit 1).\n"
    "Files of an older optirs (spec and parameters only) still import, at step 0.\n"
    "\n"
    "Environment: OPTIRS_URL (default " OPTIRS_DEFAULT_URL "), OPTIRS_API_KEY.\n"
    "Exit codes: 0 ok, 1 daemon error, 2 usage, 3 unreachable, 4 not supported by this\n"
    "daemon, 5 malformed file or answer.\n";

static int json_out;

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "optirs: usage: %s (see optirs --help)\n", why);
    else
        fputs(usage_text, stderr);
    return EX_USAGE;
}

/* Prints the client's error; returns the exit code. */
static int fail(optirs_client *c, int rc, const char *what)
{
    const optirs_error *e = optirs_client_error(c);
    if (rc == OPTIRS_E_HTTP) {
        fprintf(stderr, "optirs: %s: %s (%d): %s\n", what, e->code, e->status, e->message);
        return EX_DAEMON;
    }
    if (rc == OPTIRS_E_CONNECT) {
        fprintf(stderr, "optirs: %s: cannot reach %s: %s\n", what, optirs_client_url(c), e->message);
        return EX_CONNECT;
    }
    if (rc == OPTIRS_E_PROTOCOL) {
        fprintf(stderr, "optirs: %s: %s\n", what, e->message);
        return EX_DATA;
    }
    fprintf(stderr, "optirs: %s: %s\n", what, optirs_strerror(rc));
    return rc == OPTIRS_E_ARG ? EX_USAGE : EX_DAEMON;
}

/* For APIs that a daemon may not have yet: a 404 not_found on the
 * collection itself means the route does not exist. */
static int fail_optional(optirs_client *c, int rc, const char *what, const char *collection)
{
    const optirs_error *e = optirs_client_error(c);
    if (rc == OPTIRS_E_HTTP && e->status == 404 && strcmp(e->code, "not_found") == 0) {
        optirs_error first = *e;
        int st = 0;
        int rc2 = optirs_request_json(c, "GET", collection, NULL, 1, &st, NULL);
        const optirs_error *e2 = optirs_client_error(c);
        if (rc2 == OPTIRS_E_HTTP && e2->status == 404 && strcmp(e2->code, "not_found") == 0) {
            fprintf(stderr, "optirs: %s: not supported by this daemon (404 %s: %s)\n", what, e2->code,
                    e2->message);
            return EX_UNSUPPORTED;
        }
        fprintf(stderr, "optirs: %s: %s (%d): %s\n", what, first.code, first.status, first.message);
        return EX_DAEMON;
    }
    return fail(c, rc, what);
}

static void print_json(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        puts(s);
        cJSON_free(s);
    }
}

/* ---- tables ---- */

#define MAX_COLS 12
typedef struct table {
    int    ncols, nrows, cap;
    char **cells;              /* nrows * ncols, row 0 the header */
} table;

static void table_row(table *t, char **vals)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, sizeof *p * (size_t)cap * (size_t)t->ncols);
        if (!p) {
            for (int i = 0; i < t->ncols; i++)
                free(vals[i]);
            return;
        }
        t->cells = p;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = vals[i];
    t->nrows++;
}

static char *sdup(const char *s)
{
    s = s ? s : "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void table_print_free(table *t)
{
    int w[MAX_COLS] = {0};
    for (int r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int n = s ? (int)strlen(s) : 0;
            if (n > w[i])
                w[i] = n;
        }
    for (int r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            if (i == t->ncols - 1)
                printf("%s", s ? s : "");
            else
                printf("%-*s  ", w[i], s ? s : "");
        }
        putchar('\n');
    }
    for (int r = 0; r < t->nrows * t->ncols; r++)
        free(t->cells[r]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* The text of a JSON value for a table cell ("-" for null/absent). */
static char *cell(const cJSON *v)
{
    char buf[64];
    if (!v || cJSON_IsNull(v))
        return sdup("-");
    if (cJSON_IsString(v))
        return sdup(v->valuestring);
    if (cJSON_IsBool(v))
        return sdup(cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && d < 9e15 && d > -9e15)
            snprintf(buf, sizeof buf, "%" PRId64, (int64_t)d);
        else
            snprintf(buf, sizeof buf, "%.6g", d);
        return sdup(buf);
    }
    char *s = cJSON_PrintUnformatted(v);
    char *d = sdup(s);
    cJSON_free(s);
    return d;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static char *time_cell(const cJSON *ms)
{
    if (!cJSON_IsNumber(ms))
        return sdup("-");
    time_t t = (time_t)(ms->valuedouble / 1000);
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return cell(ms);
    return sdup(buf);
}

/* A table of the scalar fields of an array of objects (for resources whose
 * shape this tool does not know in detail, e.g. jobs). */
static void print_generic_list(const cJSON *arr)
{
    const char *cols[MAX_COLS];
    int nc = 0;
    const cJSON *o, *f;
    cJSON_ArrayForEach(o, arr) {
        cJSON_ArrayForEach(f, o) {
            if (cJSON_IsObject(f) || cJSON_IsArray(f) || !f->string)
                continue;
            int seen = 0;
            for (int i = 0; i < nc; i++)
                seen |= strcmp(cols[i], f->string) == 0;
            if (!seen && nc < 8)
                cols[nc++] = f->string;
        }
    }
    if (nc == 0) {
        printf("(none)\n");
        return;
    }
    table t = {.ncols = nc};
    char *row[MAX_COLS];
    for (int i = 0; i < nc; i++) {
        row[i] = sdup(cols[i]);
        for (char *p = row[i]; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    }
    table_row(&t, row);
    cJSON_ArrayForEach(o, arr) {
        for (int i = 0; i < nc; i++)
            row[i] = strstr(cols[i], "_ms") ? time_cell(get(o, cols[i])) : cell(get(o, cols[i]));
        table_row(&t, row);
    }
    table_print_free(&t);
}

/* `key: value` lines of an object's fields (nested ones as compact JSON). */
static void print_generic_object(const cJSON *o)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, o) {
        char *v = strstr(f->string ? f->string : "", "_ms") ? time_cell(f) : cell(f);
        printf("%-18s %s\n", f->string ? f->string : "", v ? v : "");
        free(v);
    }
}

/* The first array member of an answer object (or the answer if an array). */
static const cJSON *first_array(const cJSON *j)
{
    if (cJSON_IsArray(j))
        return j;
    const cJSON *f;
    cJSON_ArrayForEach(f, j)
        if (cJSON_IsArray(f))
            return f;
    return NULL;
}

/* ---- commands ---- */

/* Appends "&name=value" to q (cap bytes), the value percent-encoded (all
 * but RFC 3986's unreserved characters).  0, or -1 when it does not fit. */
static int query_add(char *q, size_t cap, const char *name, const char *value)
{
    size_t n = strlen(q);
    int k = snprintf(q + n, cap - n, "&%s=", name);
    if (k < 0 || (size_t)k >= cap - n)
        return -1;
    n += (size_t)k;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (n + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            q[n++] = (char)*p;
        } else {
            q[n++] = '%';
            q[n++] = hex[*p >> 4];
            q[n++] = hex[*p & 15];
        }
    }
    q[n] = '\0';
    return 0;
}

/* sessions ls [--status S] [--name N] [--tag T] [--optimizer O] [--q TEXT]:
 * the daemon's filters, newest first, every page. */
static int cmd_sessions_ls(optirs_client *c, int argc, char **argv)
{
    static const char *const filters[] = {"status", "name", "tag", "optimizer", "q"};
    char query[2048] = "";
    for (int i = 0; i < argc; i++) {
        int known = 0;
        for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++)
            if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, filters[f]) == 0 && i + 1 < argc) {
                if (query_add(query, sizeof query, filters[f], argv[++i]) != 0)
                    return usage("sessions ls: the filters are too long");
                known = 1;
                break;
            }
        if (!known)
            return usage("sessions ls [--status S] [--name N] [--tag KEY[:VALUE]] [--optimizer O] [--q TEXT]");
    }
    cJSON *all = cJSON_CreateArray();
    char token[128] = "";
    for (;;) {
        cJSON *page = NULL;
        char path[2400];
        snprintf(path, sizeof path, "/v1/sessions?limit=1000%s", query);
        if (token[0] && query_add(path, sizeof path, "page_token", token) != 0) {
            cJSON_Delete(all);
            return usage("sessions ls: the filters are too long");
        }
        int rc = optirs_request_json(c, "GET", path, NULL, 1, NULL, &page);
        if (rc) {
            cJSON_Delete(all);
            return fail(c, rc, "sessions ls");
        }
        cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(page, "sessions");
        const cJSON *next = get(page, "next_page_token");
        int more = cJSON_IsString(next) && cJSON_GetArraySize(items) > 0;
        if (more)
            snprintf(token, sizeof token, "%s", next->valuestring);
        while (cJSON_GetArraySize(items) > 0)
            cJSON_AddItemToArray(all, cJSON_DetachItemFromArray(items, 0));
        cJSON_Delete(items);
        cJSON_Delete(page);
        if (!more)
            break;
    }
    if (json_out) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "sessions", all);
        print_json(o);
        cJSON_Delete(o);
        return EX_OK;
    }
    table t = {.ncols = 8};
    char *hdr[] = {sdup("ID"), sdup("OPTIMIZER"), sdup("PARAMS"), sdup("STEP"), sdup("STATUS"),
                   sdup("LOSS"), sdup("CREATED"), sdup("NAME")};
    table_row(&t, hdr);
    const cJSON *s;
    cJSON_ArrayForEach(s, all) {
        char *row[] = {cell(get(s, "id")), cell(get(s, "optimizer")), cell(get(s, "num_params")),
                       cell(get(s, "step")), cell(get(s, "status")), cell(get(s, "last_loss")),
                       time_cell(get(s, "created_ms")), cell(get(s, "name"))};
        table_row(&t, row);
    }
    int n = cJSON_GetArraySize(all);
    if (n > 0)
        table_print_free(&t);
    else {
        table_print_free(&t);
        printf("(no sessions)\n");
    }
    cJSON_Delete(all);
    return EX_OK;
}

static void print_session(const cJSON *d)
{
    static const char *fields[] = {"id", "name", "tenant", "optimizer", "weights", "domain", "schedule",
                                   "num_params", "step", "saved_step", "status", "reason",
                                   "rolled_back_to", "last_loss", "durability", "non_finite",
                                   "divergence_factor", "workers", "pending_workers", "total_steps"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *v = get(d, fields[i]);
        if (!v)
            continue;
        char *s = cell(v);
        printf("%-18s %s\n", fields[i], s ? s : "");
        free(s);
    }
    char *created = time_cell(get(d, "created_ms"));
    printf("%-18s %s\n", "created", created ? created : "");
    free(created);
    const cJSON *f;
    printf("hyperparams       ");
    cJSON_ArrayForEach(f, get(d, "hyperparams")) {
        char *v = cell(f);
        printf(" %s=%s", f->string, v ? v : "");
        free(v);
    }
    putchar('\n');
    const cJSON *tags = get(d, "tags");
    if (cJSON_GetArraySize(tags) > 0) {
        printf("tags              ");
        cJSON_ArrayForEach(f, tags) {
            char *v = cell(f);
            printf(" %s=%s", f->string, v ? v : "");
            free(v);
        }
        putchar('\n');
    }
    printf("tensors\n");
    int i = 0;
    cJSON_ArrayForEach(f, get(d, "tensors")) {
        char *shape = cell(get(f, "shape"));
        const cJSON *nm = get(f, "name");
        printf("  %-3d %-20s %s\n", i++, cJSON_IsString(nm) && nm->valuestring[0] ? nm->valuestring : "-",
               shape ? shape : "");
        free(shape);
    }
}

static int cmd_sessions_show(optirs_client *c, const char *id)
{
    cJSON *d = NULL;
    int rc = optirs_session_get_by_id(c, id, &d);
    if (rc)
        return fail(c, rc, "sessions show");
    if (json_out)
        print_json(d);
    else
        print_session(d);
    cJSON_Delete(d);
    return EX_OK;
}

/* sessions set ID [--name N] [--status finished|archived]: PATCH. */
static int cmd_sessions_set(optirs_client *c, const char *id, int argc, char **argv)
{
    const char *use = "sessions set ID [--name N] [--status finished|archived]";
    if (strlen(id) > 64 || strpbrk(id, "/?#% "))
        return usage(use);
    cJSON *body = cJSON_CreateObject();
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && (strcmp(argv[i], "--name") == 0 || strcmp(argv[i], "--status") == 0)) {
            cJSON_AddStringToObject(body, argv[i] + 2, argv[i + 1]);
            i++;
        } else {
            cJSON_Delete(body);
            return usage(use);
        }
    }
    if (!body->child) {
        cJSON_Delete(body);
        return usage(use);
    }
    char *txt = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char path[128];
    snprintf(path, sizeof path, "/v1/sessions/%s", id);
    cJSON *d = NULL;
    int rc = txt ? optirs_request_json(c, "PATCH", path, txt, 1, NULL, &d) : OPTIRS_E_NOMEM;
    free(txt);
    if (rc)
        return fail(c, rc, "sessions set");
    if (json_out)
        print_json(d);
    else
        print_session(d);
    cJSON_Delete(d);
    return EX_OK;
}

static int cmd_sessions_rm(optirs_client *c, const char *id)
{
    int rc = optirs_session_delete_by_id(c, id);
    if (rc)
        return fail(c, rc, "sessions rm");
    if (json_out)
        printf("{\"id\":\"%s\",\"deleted\":true}\n", id);
    else
        printf("deleted %s\n", id);
    return EX_OK;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int cmd_metrics(optirs_client *c, int argc, char **argv)
{
    const char *id = NULL;
    int64_t after = 0, limit = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--after") == 0 && i + 1 < argc) {
            if (parse_i64(argv[++i], &after))
                return usage("--after takes a step number");
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (parse_i64(argv[++i], &limit) || limit < 1 || limit > 10000)
                return usage("--limit takes a number in 1..10000");
        } else if (!id && argv[i][0] != '-') {
            id = argv[i];
        } else {
            return usage("metrics ID [--after N] [--limit N]");
        }
    }
    if (!id)
        return usage("metrics needs a session id");
    cJSON *rows = cJSON_CreateArray();
    cJSON *last_page = NULL;
    for (;;) {
        cJSON *page = NULL;
        int rc = optirs_session_metrics_by_id(c, id, after, limit ? (int)limit : 10000, &page);
        if (rc) {
            cJSON_Delete(rows);
            return fail(c, rc, "metrics");
        }
        cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(page, "metrics");
        while (cJSON_GetArraySize(items) > 0)
            cJSON_AddItemToArray(rows, cJSON_DetachItemFromArray(items, 0));
        cJSON_Delete(items);
        const cJSON *next = get(page, "next_after");
        if (limit || !cJSON_IsNumber(next)) {
            last_page = page;
            break;
        }
        after = (int64_t)next->valuedouble;
        cJSON_Delete(page);
    }
    if (json_out) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddItemToObject(o, "metrics", rows);
        const cJSON *next = get(last_page, "next_after");
        cJSON_AddItemToObject(o, "next_after", next ? cJSON_Duplicate(next, 1) : cJSON_CreateNull());
        print_json(o);
        cJSON_Delete(o);
        cJSON_Delete(last_page);
        return EX_OK;
    }
    cJSON_Delete(last_page);
    table t = {.ncols = 8};
    char *hdr[] = {sdup("STEP"), sdup("TIME"), sdup("LOSS"), sdup("GRAD_NORM"), sdup("UPDATE_NORM"),
                   sdup("PARAM_NORM"), sdup("LR"), sdup("DURATION_US")};
    table_row(&t, hdr);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        char *row[] = {cell(get(r, "step")), time_cell(get(r, "time_ms")), cell(get(r, "loss")),
                       cell(get(r, "grad_norm")), cell(get(r, "update_norm")), cell(get(r, "param_norm")),
                       cell(get(r, "lr")), cell(get(r, "duration_us"))};
        table_row(&t, row);
    }
    int n = cJSON_GetArraySize(rows);
    table_print_free(&t);
    if (n == 0)
        printf("(no rows)\n");
    cJSON_Delete(rows);
    return EX_OK;
}

static int cmd_optimizers(optirs_client *c)
{
    cJSON *j = NULL;
    int rc = optirs_optimizers(c, &j);
    if (rc)
        return fail(c, rc, "optimizers");
    if (json_out) {
        print_json(j);
        cJSON_Delete(j);
        return EX_OK;
    }
    table t = {.ncols = 4};
    char *hdr[] = {sdup("NAME"), sdup("KIND"), sdup("HYPERPARAMETERS"), sdup("DESCRIPTION")};
    table_row(&t, hdr);
    const cJSON *o, *h;
    cJSON_ArrayForEach(o, get(j, "optimizers")) {
        char hp[512] = "";
        size_t n = 0;
        cJSON_ArrayForEach(h, get(o, "hyperparams")) {
            const cJSON *nm = get(h, "name");
            if (cJSON_IsString(nm) && n < sizeof hp)
                n += (size_t)snprintf(hp + n, sizeof hp - n, "%s%s", n ? "," : "", nm->valuestring);
        }
        char *row[] = {cell(get(o, "name")), cell(get(o, "kind")), sdup(hp), cell(get(o, "description"))};
        table_row(&t, row);
    }
    table_print_free(&t);
    char *sch = cell(get(j, "schedules"));
    printf("\nschedules: %s\n", sch ? sch : "");
    free(sch);
    cJSON_Delete(j);
    return EX_OK;
}

static int cmd_keys(optirs_client *c, int argc, char **argv)
{
    if (argc < 1)
        return usage("keys ls | keys create --tenant NAME [--admin] | keys rm ID");
    cJSON *j = NULL;
    int rc;
    if (strcmp(argv[0], "ls") == 0 && argc == 1) {
        if ((rc = optirs_request_json(c, "GET", "/v1/keys", NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "keys ls", "/v1/keys");
        if (json_out)
            print_json(j);
        else {
            table t = {.ncols = 5};
            char *hdr[] = {sdup("ID"), sdup("TENANT"), sdup("ADMIN"), sdup("CREATED"), sdup("REVOKED")};
            table_row(&t, hdr);
            const cJSON *k;
            cJSON_ArrayForEach(k, get(j, "keys")) {
                char *row[] = {cell(get(k, "id")), cell(get(k, "tenant")), cell(get(k, "admin")),
                               time_cell(get(k, "created_ms")), time_cell(get(k, "revoked_ms"))};
                table_row(&t, row);
            }
            table_print_free(&t);
        }
    } else if (strcmp(argv[0], "create") == 0) {
        const char *tenant = NULL;
        int admin = 0;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
                tenant = argv[++i];
            else if (strcmp(argv[i], "--admin") == 0)
                admin = 1;
            else
                return usage("keys create --tenant NAME [--admin]");
        }
        if (!tenant)
            return usage("keys create needs --tenant NAME");
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "tenant", tenant);
        cJSON_AddBoolToObject(b, "admin", admin);
        char *body = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        /* Not retried: a lost answer would leave a key nobody has seen. */
        rc = optirs_request_json(c, "POST", "/v1/keys", body, 0, NULL, &j);
        cJSON_free(body);
        if (rc)
            return fail_optional(c, rc, "keys create", "/v1/keys");
        if (json_out)
            print_json(j);
        else {
            char *id = cell(get(j, "id")), *key = cell(get(j, "key"));
            printf("id      %s\ntenant  %s\nadmin   %s\nkey     %s\n(the key is shown only this once)\n",
                   id, tenant, admin ? "true" : "false", key);
            free(id);
            free(key);
        }
    } else if (strcmp(argv[0], "rm") == 0 && argc == 2) {
        char path[160];
        if (strlen(argv[1]) > 64 || strpbrk(argv[1], "/?#% "))
            return usage("keys rm ID: a key id");
        snprintf(path, sizeof path, "/v1/keys/%s", argv[1]);
        if ((rc = optirs_request_json(c, "DELETE", path, NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "keys rm", "/v1/keys");
        if (json_out)
            print_json(j);
        else
            printf("revoked %s\n", argv[1]);
    } else {
        return usage("keys ls | keys create --tenant NAME [--admin] | keys rm ID");
    }
    cJSON_Delete(j);
    return EX_OK;
}

/* "42s", "3m07s", "1h02m" for a JSON number of seconds; "-" for null. */
static char *duration_cell(const cJSON *v)
{
    char buf[32];
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(x >= 0) || x != x)
        return sdup("-");
    if (x >= 3600.0 * 24 * 999)
        return sdup(">999d");
    if (x >= 3600)
        snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(x / 3600), (long long)(x / 60) % 60);
    else if (x >= 60)
        snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(x / 60), (long long)x % 60);
    else
        snprintf(buf, sizeof buf, "%.0fs", x);
    return sdup(buf);
}

/* jobs ls: the meta-training jobs with their progress, pace and ETA. */
static void print_jobs(const cJSON *arr)
{
    table t = {.ncols = 9};
    char *hdr[] = {sdup("ID"), sdup("NAME"), sdup("STATUS"), sdup("STEP"), sdup("OF"), sdup("STEPS/S"),
                   sdup("ETA"), sdup("WEIGHTS"), sdup("CREATED")};
    table_row(&t, hdr);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        char *row[] = {cell(get(o, "id")), cell(get(o, "name")), cell(get(o, "status")), cell(get(o, "step")),
                       cell(get(o, "outer_steps")), cell(get(o, "rate_per_s")), duration_cell(get(o, "eta_s")),
                       cell(get(o, "weights")), time_cell(get(o, "created_ms"))};
        table_row(&t, row);
    }
    int n = t.nrows;
    table_print_free(&t);
    if (n <= 1)
        printf("(no jobs)\n");
}

static int cmd_jobs(optirs_client *c, int argc, char **argv)
{
    static const char coll[] = "/v1/meta/jobs";
    cJSON *j = NULL;
    int rc;
    char path[160];
    if (argc == 1 && strcmp(argv[0], "ls") == 0) {
        if ((rc = optirs_request_json(c, "GET", coll, NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "jobs ls", coll);
        if (json_out)
            print_json(j);
        else if (cJSON_IsArray(get(j, "jobs")))
            print_jobs(get(j, "jobs"));
        else {
            const cJSON *arr = first_array(j);
            if (arr)
                print_generic_list(arr);
            else
                print_generic_object(j);
        }
    } else if (argc == 2 && (strcmp(argv[0], "show") == 0 || strcmp(argv[0], "cancel") == 0)) {
        if (strlen(argv[1]) > 79 || strpbrk(argv[1], "/?#% "))
            return usage("jobs show|cancel ID: a job id");
        snprintf(path, sizeof path, "%s/%s", coll, argv[1]);
        int cancel = argv[0][0] == 'c';
        if ((rc = optirs_request_json(c, cancel ? "DELETE" : "GET", path, NULL, 1, NULL, &j)))
            return fail_optional(c, rc, cancel ? "jobs cancel" : "jobs show", coll);
        if (json_out)
            print_json(j);
        else
            print_generic_object(j);
    } else {
        return usage("jobs ls | jobs show ID | jobs cancel ID");
    }
    cJSON_Delete(j);
    return EX_OK;
}

/* ---- studies (docs/studies.md) ---- */

static void print_studies(const cJSON *arr)
{
    table t = {.ncols = 9};
    char *hdr[] = {sdup("ID"), sdup("NAME"), sdup("DIRECTION"), sdup("SAMPLER"), sdup("PRUNER"),
                   sdup("TRIALS"), sdup("RUNNING"), sdup("COMPLETE"), sdup("CREATED")};
    table_row(&t, hdr);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        char *row[] = {cell(get(o, "id")), cell(get(o, "name")), cell(get(o, "direction")), cell(get(o, "sampler")),
                       cell(get(o, "pruner")), cell(get(o, "n_trials")), cell(get(o, "n_running")),
                       cell(get(o, "n_complete")), time_cell(get(o, "created_ms"))};
        table_row(&t, row);
    }
    int n = t.nrows;
    table_print_free(&t);
    if (n <= 1)
        printf("(no studies)\n");
}

/* A study: its fields, its best trial, then its trials (the last
 * intermediate value of each too). */
static void print_study(const cJSON *st, const cJSON *trials)
{
    print_generic_object(st);
    const cJSON *best = get(st, "best");
    if (cJSON_IsObject(best)) {
        char *v = cell(get(best, "value")), *p = cell(get(best, "params")), *n = cell(get(best, "trial"));
        printf("best: trial %s, value %s, params %s\n", n, v, p);
        free(v);
        free(p);
        free(n);
    }
    table t = {.ncols = 5};
    char *hdr[] = {sdup("TRIAL"), sdup("STATE"), sdup("VALUE"), sdup("LAST REPORT"), sdup("PARAMS")};
    table_row(&t, hdr);
    const cJSON *o;
    cJSON_ArrayForEach(o, trials) {
        const cJSON *iv = get(o, "intermediate");
        int k = cJSON_GetArraySize(iv);
        const cJSON *last = k > 0 ? cJSON_GetArrayItem(iv, k - 1) : NULL;
        char *row[] = {cell(get(o, "trial")), cell(get(o, "state")), cell(get(o, "value")),
                       cell(last ? get(last, "value") : NULL), cell(get(o, "params"))};
        table_row(&t, row);
    }
    int n = t.nrows;
    table_print_free(&t);
    if (n <= 1)
        printf("(no trials)\n");
}

static int cmd_studies(optirs_client *c, int argc, char **argv)
{
    static const char coll[] = "/v1/studies";
    cJSON *j = NULL, *tr = NULL;
    int rc;
    char path[160];
    if (argc == 1 && strcmp(argv[0], "ls") == 0) {
        if ((rc = optirs_request_json(c, "GET", coll, NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "studies ls", coll);
        if (json_out)
            print_json(j);
        else
            print_studies(get(j, "studies"));
    } else if (argc == 2 && strcmp(argv[0], "show") == 0) {
        if (strlen(argv[1]) > 64 || strpbrk(argv[1], "/?#% "))
            return usage("studies show ID: a study id");
        snprintf(path, sizeof path, "%s/%s", coll, argv[1]);
        if ((rc = optirs_request_json(c, "GET", path, NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "studies show", coll);
        snprintf(path, sizeof path, "%s/%s/trials", coll, argv[1]);
        if ((rc = optirs_request_json(c, "GET", path, NULL, 1, NULL, &tr))) {
            cJSON_Delete(j);
            return fail_optional(c, rc, "studies show", coll);
        }
        if (json_out) {
            cJSON_AddItemToObject(j, "trials", cJSON_DetachItemFromObjectCaseSensitive(tr, "trials"));
            print_json(j);
        } else
            print_study(j, get(tr, "trials"));
    } else {
        return usage("studies ls | studies show ID");
    }
    cJSON_Delete(j);
    cJSON_Delete(tr);
    return EX_OK;
}

/* ---- export / import ---- */

/* "NAME[@VERSION]" → "/v1/weights/NAME{suffix}[?version=V]"; -1 when malformed. */
static int weights_path(const char *ref, const char *suffix, char *out, size_t cap)
{
    char name[64];
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n < 1 || n > 47)
        return -1;
    memcpy(name, ref, n);
    name[n] = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return -1;
    }
    int64_t v = 0;
    if (at && (parse_i64(at + 1, &v) || v < 1))
        return -1;
    if (at)
        snprintf(out, cap, "/v1/weights/%s%s?version=%" PRId64, name, suffix, v);
    else
        snprintf(out, cap, "/v1/weights/%s%s", name, suffix);
    return 0;
}

static int cmd_weights(optirs_client *c, int argc, char **argv)
{
    cJSON *j = NULL;
    int rc;
    char path[200];
    if (argc == 1 && strcmp(argv[0], "ls") == 0) {
        if ((rc = optirs_request_json(c, "GET", "/v1/weights", NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "weights ls", "/v1/weights");
        if (json_out)
            print_json(j);
        else {
            table t = {.ncols = 6};
            char *hdr[] = {sdup("REF"), sdup("OPTIMIZER"), sdup("DOMAIN"), sdup("HIDDEN"), sdup("DEPTH"),
                           sdup("CREATED")};
            table_row(&t, hdr);
            const cJSON *w;
            cJSON_ArrayForEach(w, get(j, "weights")) {
                const cJSON *ar = get(w, "architecture");
                char *row[] = {cell(get(w, "ref")), cell(get(w, "optimizer")), cell(get(w, "domain")),
                               cell(get(ar, "hidden")), cell(get(ar, "depth")), time_cell(get(w, "created_ms"))};
                table_row(&t, row);
            }
            table_print_free(&t);
        }
    } else if (argc == 2 && strcmp(argv[0], "show") == 0) {
        if (weights_path(argv[1], "", path, sizeof path))
            return usage("weights show NAME[@VERSION]");
        if ((rc = optirs_request_json(c, "GET", path, NULL, 1, NULL, &j)))
            return fail_optional(c, rc, "weights show", "/v1/weights");
        if (json_out)
            print_json(j);
        else
            print_generic_object(j);
    } else {
        return usage("weights ls | weights show NAME[@VERSION]");
    }
    cJSON_Delete(j);
    return EX_OK;
}

#define SESSION_FORMAT "optirs-session-export"
#define STATE_FORMAT "optirs-session-state"

/* export ID: the daemon's full-state document, byte for byte as it answered
 * (its spec_sha256 and state_sha256 seal it), after checking it is one. */
static int export_state(optirs_client *c, const char *id)
{
    char path[160];
    if (strlen(id) > 79 || strpbrk(id, "/?#% "))
        return usage("export ID: a session id");
    snprintf(path, sizeof path, "/v1/sessions/%s/state", id);
    char *text = NULL;
    size_t len = 0;
    int rc = optirs_request_raw(c, "GET", path, NULL, NULL, 0, "application/json", 1, NULL, &text, &len);
    if (rc) {
        const optirs_error *e = optirs_client_error(c);
        if (rc == OPTIRS_E_HTTP && e->status == 404 && strcmp(e->code, "not_found") == 0) {
            fprintf(stderr, "optirs: export: not supported by this daemon (404 %s: %s): it has no full-state "
                    "export (GET /v1/sessions/{id}/state)\n", e->code, e->message);
            return EX_UNSUPPORTED;
        }
        return fail(c, rc, "export");
    }
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *fmt = get(doc, "format");
    int ok = cJSON_IsString(fmt) && strcmp(fmt->valuestring, STATE_FORMAT) == 0;
    cJSON_Delete(doc);
    if (!ok) {
        free(text);
        fprintf(stderr, "optirs: export: the daemon's answer is not a session state document\n");
        return EX_DATA;
    }
    size_t w = fwrite(text, 1, len, stdout);
    free(text);
    if (w != len || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        fprintf(stderr, "optirs: export: cannot write standard output\n");
        return EX_DATA;
    }
    return EX_OK;
}

static int cmd_export(optirs_client *c, int argc, char **argv)
{
    cJSON *doc = cJSON_CreateObject();
    int rc;
    if (argc == 2 && strcmp(argv[0], "--weights") == 0) {
        char path[200];
        cJSON_Delete(doc);
        if (weights_path(argv[1], "/blob", path, sizeof path))
            return usage("export --weights NAME[@VERSION]");
        char *blob = NULL;
        size_t len = 0;
        if ((rc = optirs_request_raw(c, "GET", path, NULL, NULL, 0, "application/octet-stream", 1, NULL, &blob,
                                     &len)))
            return fail_optional(c, rc, "export --weights", "/v1/weights");
        size_t w = fwrite(blob, 1, len, stdout);
        free(blob);
        if (w != len || fflush(stdout) != 0) {
            fprintf(stderr, "optirs: export --weights: cannot write standard output\n");
            return EX_DATA;
        }
        return EX_OK;
    } else if (argc == 1 && argv[0][0] != '-') {
        cJSON_Delete(doc);
        return export_state(c, argv[0]);
    } else {
        cJSON_Delete(doc);
        return usage("export ID | export --weights NAME[@VERSION]");
    }
    print_json(doc);
    cJSON_Delete(doc);
    return EX_OK;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t k = fread(b + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
        if (cap - n < 2) {
            char *p = realloc(b, cap * 2);
            if (!p) {
                free(b);
                return NULL;
            }
            b = p;
            cap *= 2;
        }
    }
    if (b)
        b[n] = 0;
    *len = n;
    return b;
}

/* The create request that reproduces an exported session. */
static cJSON *create_from_export(const cJSON *desc, const cJSON *params)
{
    static const char *copy[] = {"optimizer", "hyperparams", "schedule", "weights", "domain", "durability",
                                 "non_finite", "divergence_factor", "workers", "total_steps", "name",
                                 "tags"};
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        const cJSON *v = get(desc, copy[i]);
        if (v)
            cJSON_AddItemToObject(o, copy[i], cJSON_Duplicate(v, 1));
    }
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    const cJSON *t;
    cJSON_ArrayForEach(t, get(desc, "tensors")) {
        cJSON *x = cJSON_CreateObject();
        if (cJSON_IsString(get(t, "name")))
            cJSON_AddStringToObject(x, "name", get(t, "name")->valuestring);
        cJSON_AddItemToObject(x, "shape", cJSON_Duplicate(get(t, "shape"), 1));
        cJSON_AddItemToArray(ts, x);
    }
    if (params)
        cJSON_AddItemToObject(o, "params", cJSON_Duplicate(params, 1));
    return o;
}

/* import of a full-state document: POST /v1/sessions {"state": <the text as
 * read, untouched>, "name": N}.  The daemon checks everything (the seals,
 * the snapshot against the spec, the limits) and answers 400 invalid_state
 * for a tampered or foreign document; nothing is created then. */
static int import_state(optirs_client *c, const char *text, size_t len, const char *name)
{
    char *nm = NULL;
    if (name) {
        cJSON *js = cJSON_CreateString(name);
        nm = js ? cJSON_PrintUnformatted(js) : NULL;
        cJSON_Delete(js);
        if (!nm) {
            fprintf(stderr, "optirs: import: out of memory\n");
            return EX_DATA;
        }
    }
    size_t cap = len + (nm ? strlen(nm) : 0) + 32;
    char *body = malloc(cap);
    if (!body) {
        cJSON_free(nm);
        fprintf(stderr, "optirs: import: out of memory (%zu bytes)\n", cap);
        return EX_DATA;
    }
    size_t n = (size_t)snprintf(body, cap, "{\"state\":");
    memcpy(body + n, text, len);
    n += len;
    snprintf(body + n, cap - n, "%s%s}", nm ? ",\"name\":" : "", nm ? nm : "");
    cJSON_free(nm);
    optirs_session *s = NULL;
    int rc = optirs_session_create_json(c, body, &s);
    free(body);
    if (rc) {
        const optirs_error *e = optirs_client_error(c);
        if (rc == OPTIRS_E_HTTP && e->status == 400 && strcmp(e->code, "unknown_field") == 0 &&
            strstr(e->message, "state"))
            fprintf(stderr, "optirs: import: this daemon takes no full-state import (400 %s: %s)\n", e->code,
                    e->message);
        else
            return fail(c, rc, "import");
        return EX_UNSUPPORTED;
    }
    if (json_out)
        print_json(optirs_session_desc(s));
    else {
        char *step = cell(get(optirs_session_desc(s), "step"));
        printf("imported as %s at step %s (full optimizer state)\n", optirs_session_id(s), step);
        free(step);
    }
    optirs_session_free(s);
    return EX_OK;
}

static int cmd_import(optirs_client *c, int argc, char **argv)
{
    const char *wname = NULL, *domain = NULL, *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc)
            wname = argv[++i];
        else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
            domain = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else
            return usage("import [--name N] < FILE | import --weights NAME [--domain D] < FILE");
    }
    if (domain && !wname)
        return usage("--domain goes with --weights NAME");
    if (name && wname)
        return usage("--name goes with a session import, not --weights");
    size_t len;
    char *text = read_all(stdin, &len);
    if (!text) {
        fprintf(stderr, "optirs: import: cannot read standard input\n");
        return EX_DATA;
    }
    int rc;
    if (wname) {
        char path[200];
        if (weights_path(wname, "", path, sizeof path) || strchr(wname, '@') ||
            (domain && weights_path(domain, "", path, sizeof path))) {
            free(text);
            return usage("import --weights NAME [--domain D]: names are [A-Za-z0-9._-]{1,47}");
        }
        snprintf(path, sizeof path, "/v1/weights?name=%s%s%s", wname, domain ? "&domain=" : "", domain ? domain : "");
        char *ans = NULL;
        size_t alen = 0;
        /* Not retried: each import makes a new version. */
        rc = optirs_request_raw(c, "POST", path, "application/octet-stream", text, len, NULL, 0, NULL, &ans, &alen);
        free(text);
        if (rc)
            return fail_optional(c, rc, "import --weights", "/v1/weights");
        cJSON *j = cJSON_ParseWithLength(ans, alen);
        free(ans);
        if (json_out)
            print_json(j);
        else {
            const cJSON *ref = get(j, "ref");
            printf("imported weights as %s\n", cJSON_IsString(ref) ? ref->valuestring : "?");
        }
        cJSON_Delete(j);
        return EX_OK;
    }
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *fmt = get(doc, "format"), *ver = get(doc, "version");
    if (!cJSON_IsString(fmt) || !cJSON_IsNumber(ver)) {
        cJSON_Delete(doc);
        free(text);
        fprintf(stderr, "optirs: import: standard input is not an optirs export document\n");
        return EX_DATA;
    }
    if (strcmp(fmt->valuestring, STATE_FORMAT) == 0) {
        cJSON_Delete(doc);
        rc = import_state(c, text, len, name);
        free(text);
        return rc;
    }
    free(text);
    if (name) {
        cJSON_Delete(doc);
        return usage("import --name: only for a full-state document (optirs export of this version)");
    }
    if (ver->valuedouble != 1) {
        fprintf(stderr, "optirs: import: export version %g is not supported (1 is)\n", ver->valuedouble);
        cJSON_Delete(doc);
        return EX_DATA;
    }
    if (strcmp(fmt->valuestring, SESSION_FORMAT) != 0) {
        fprintf(stderr, "optirs: import: unknown format \"%s\"\n", fmt->valuestring);
        cJSON_Delete(doc);
        return EX_DATA;
    }
    const cJSON *desc = get(doc, "session"), *params = get(doc, "params");
    if (!cJSON_IsObject(desc) || !cJSON_IsString(get(desc, "optimizer")) || !cJSON_IsArray(get(desc, "tensors")) ||
        !cJSON_IsArray(params)) {
        fprintf(stderr, "optirs: import: the document lacks session.optimizer, session.tensors or params\n");
        cJSON_Delete(doc);
        return EX_DATA;
    }
    cJSON *req = create_from_export(desc, params);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    optirs_session *s = NULL;
    rc = body ? optirs_session_create_json(c, body, &s) : OPTIRS_E_NOMEM;
    cJSON_free(body);
    if (rc) {
        cJSON_Delete(doc);
        return fail(c, rc, "import");
    }
    if (json_out)
        print_json(optirs_session_desc(s));
    else {
        char *old = cell(get(desc, "id")), *step = cell(get(doc, "step"));
        printf("imported %s as %s (an older optirs export: parameters of step %s; step counter and "
               "optimizer state start fresh)\n",
               old, optirs_session_id(s), step);
        free(old);
        free(step);
    }
    optirs_session_free(s);
    cJSON_Delete(doc);
    return EX_OK;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *key = NULL;
    char *args[64];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json_out = 1;
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0) {
            fputs(usage_text, stdout);
            return EX_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("optirs %s\n", OPTIRS_VERSION);
            return EX_OK;
        } else if (n < 63)
            args[n++] = argv[i];
        else
            return usage("too many arguments");
    }
    args[n] = NULL;
    if (n == 0)
        return usage(NULL);
    optirs_client *c = NULL;
    int rc = optirs_client_new(url, key, &c);
    if (rc) {
        fprintf(stderr, "optirs: %s (the URL must start with http:// or https://)\n", optirs_strerror(rc));
        return EX_USAGE;
    }
    /* An operator's tool: a few quick retries, not a training job's patience. */
    optirs_client_set_retry(c, 2, 0.1, 0.5);
    const char *cmd = args[0];
    int ex;
    if (strcmp(cmd, "sessions") == 0 && n >= 2 && strcmp(args[1], "ls") == 0)
        ex = cmd_sessions_ls(c, n - 2, args + 2);
    else if (strcmp(cmd, "sessions") == 0 && n >= 3 && strcmp(args[1], "set") == 0)
        ex = cmd_sessions_set(c, args[2], n - 3, args + 3);
    else if (strcmp(cmd, "sessions") == 0 && n == 3 && strcmp(args[1], "show") == 0)
        ex = cmd_sessions_show(c, args[2]);
    else if (strcmp(cmd, "sessions") == 0 && n == 3 && strcmp(args[1], "rm") == 0)
        ex = cmd_sessions_rm(c, args[2]);
    else if (strcmp(cmd, "sessions") == 0)
        ex = usage("sessions ls [filters] | sessions show ID | sessions set ID [--name N] [--status S] | sessions rm ID");
    else if (strcmp(cmd, "metrics") == 0)
        ex = cmd_metrics(c, n - 1, args + 1);
    else if (strcmp(cmd, "optimizers") == 0 && n == 1)
        ex = cmd_optimizers(c);
    else if (strcmp(cmd, "keys") == 0)
        ex = cmd_keys(c, n - 1, args + 1);
    else if (strcmp(cmd, "jobs") == 0)
        ex = cmd_jobs(c, n - 1, args + 1);
    else if (strcmp(cmd, "export") == 0)
        ex = cmd_export(c, n - 1, args + 1);
    else if (strcmp(cmd, "import") == 0)
        ex = cmd_import(c, n - 1, args + 1);
    else if (strcmp(cmd, "weights") == 0)
        ex = cmd_weights(c, n - 1, args + 1);
    else if (strcmp(cmd, "studies") == 0)
        ex = cmd_studies(c, n - 1, args + 1);
    else {
        fprintf(stderr, "optirs: unknown command \"%s\"\n", cmd);
        ex = usage(NULL);
    }
    optirs_client_free(c);
    return ex;
}
