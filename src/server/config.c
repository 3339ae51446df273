#include "config.h"

#include "cmdline.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { CT_STR, CT_INT, CT_DOUBLE } config_type;

typedef struct config_row {
    const char *name;
    config_type type;
    size_t      offset;
    size_t      size;             /* CT_STR: buffer size */
    const char *def;
    double      min, max;
    const char *help;
} config_row;

#define OFF(f) offsetof(config, f)
static const config_row rows[] = {
    {"listen", CT_STR, OFF(listen), sizeof(((config *)0)->listen), "127.0.0.1:8080", 0, 0,
     "HOST:PORT to listen on (port 0 picks a free port), or unix:/PATH for a local socket file"},
    {"listen-mode", CT_STR, OFF(listen_mode), sizeof(((config *)0)->listen_mode), "0660", 0, 0,
     "octal permissions of the unix: socket file (who may connect); ignored for HOST:PORT"},
    {"db", CT_STR, OFF(db), sizeof(((config *)0)->db), "data/optirs.db", 0, 0, "SQLite database file"},
    {"threads", CT_INT, OFF(threads), 0, "0", 0, 256, "HTTP worker threads (0 = one per core)"},
    {"compute-threads", CT_INT, OFF(compute_threads), 0, "0", 0, 256,
     "threads that run steps, feedback, creates and imports (0 = one per core)"},
    {"compute-queue", CT_INT, OFF(compute_queue), 0, "256", 1, 1000000,
     "requests that may wait for a compute thread in total (more answer 503 overloaded)"},
    {"compute-session-queue", CT_INT, OFF(compute_session_queue), 0, "16", 1, 1000000,
     "requests of one session that may wait or run at once (at least its workers; more answer 503 overloaded)"},
    {"checkpoint-every", CT_INT, OFF(checkpoint_every), 0, "100", 1, 1e9,
     "steps between checkpoints of durability=checkpoint sessions"},
    {"checkpoint-interval", CT_DOUBLE, OFF(checkpoint_interval), 0, "10", 0.01, 86400,
     "seconds between checkpoints of durability=checkpoint sessions"},
    {"max-json-body", CT_INT, OFF(max_json_body), 0, "67108864", 1024, 4294967296.0,
     "largest JSON request body in bytes"},
    {"max-binary-body", CT_INT, OFF(max_binary_body), 0, "536870912", 1024, 17179869184.0,
     "largest binary (float32) request body in bytes"},
    {"max-params", CT_INT, OFF(max_params), 0, "100000000", 1, 4e9, "most parameters in one session"},
    {"max-sessions", CT_INT, OFF(max_sessions), 0, "100000", 1, 1e9, "most sessions in one daemon"},
    {"max-session-bytes", CT_INT, OFF(max_session_bytes), 0, "0", 0, 1e15,
     "most memory one session may take: params, optimizer state, worker buffers, snapshot (0 = a quarter of "
     "--memory-budget)"},
    {"memory-budget", CT_INT, OFF(memory_budget), 0, "0", 0, 1e15,
     "most memory all live sessions together may take, in bytes (0 = half of the machine's physical memory)"},
    {"snapshot-chunk-bytes", CT_INT, OFF(snapshot_chunk_bytes), 0, "67108864", 1024, 536870912,
     "snapshots longer than this are stored in chunks of this size (SQLite stores at most 1e9 bytes in one blob)"},
    {"step-timeout", CT_DOUBLE, OFF(step_timeout), 0, "30", 0.01, 3600,
     "seconds a worker of a shared session waits for the others"},
    {"trial-heartbeat-timeout", CT_DOUBLE, OFF(trial_heartbeat_timeout), 0, "300", 0.05, 604800,
     "seconds a study's running trial may go without an ask or a report before it is lost (docs/studies.md)"},
    {"max-connections", CT_INT, OFF(max_connections), 0, "1024", 1, 1000000, "most open connections"},
    {"connection-timeout", CT_DOUBLE, OFF(connection_timeout), 0, "60", 1, 86400,
     "seconds an idle connection stays open"},
    {"header-timeout", CT_DOUBLE, OFF(header_timeout), 0, "10", 0.1, 3600,
     "seconds to receive a request's whole header (also an idle keep-alive connection's limit)"},
    {"max-connections-per-ip", CT_INT, OFF(max_connections_per_ip), 0, "256", 1, 1000000,
     "most open connections from one client address"},
    {"tls-cert", CT_STR, OFF(tls_cert), sizeof(((config *)0)->tls_cert), "", 0, 0,
     "PEM certificate (chain) file; with --tls-key the daemon serves https only"},
    {"tls-key", CT_STR, OFF(tls_key), sizeof(((config *)0)->tls_key), "", 0, 0, "PEM private key file"},
    {"allow-open", CT_INT, OFF(allow_open), 0, "0", 0, 1,
     "1: serve without API keys on a non-loopback address (never the default)"},
    {"cluster-db", CT_STR, OFF(cluster_db), sizeof(((config *)0)->cluster_db), "", 0, 0,
     "PostgreSQL shared by a cluster of daemons (postgresql://…, a conninfo, or a socket directory): API keys, "
     "weights records and the session index live there (docs/operations.md, \"A cluster of daemons\"); empty = this daemon alone"},
    {"cluster-advertise", CT_STR, OFF(cluster_advertise), sizeof(((config *)0)->cluster_advertise), "", 0, 0,
     "HOST:PORT this daemon is reached at, recorded in the cluster's session index (--cluster-db); default: --listen"},
    {"cluster-db-grace", CT_DOUBLE, OFF(cluster_db_grace), 0, "60", 10, 86400,
     "seconds the API keys last read from --cluster-db stay usable while it cannot be reached (then 503)"},
    {"rate-limit", CT_DOUBLE, OFF(rate_limit), 0, "0", 0, 1e9, "requests per second per API key (0 = no limit)"},
    {"rate-burst", CT_DOUBLE, OFF(rate_burst), 0, "100", 1, 1e9, "requests an API key may send at once"},
    {"tenant-max-sessions", CT_INT, OFF(tenant_max_sessions), 0, "0", 0, 1e9,
     "sessions one tenant may hold (0 = no quota)"},
    {"tenant-max-params", CT_INT, OFF(tenant_max_params), 0, "0", 0, 1e15,
     "parameters one tenant may hold over all its sessions (0 = no quota)"},
    {"max-queued-jobs", CT_INT, OFF(max_queued_jobs), 0, "64", 1, 100000,
     "meta-training jobs waiting in the daemon's queue (beyond: 429 queue_full)"},
    {"tenant-max-queued-jobs", CT_INT, OFF(tenant_max_queued_jobs), 0, "8", 0, 100000,
     "meta-training jobs one tenant may have waiting (0 = only max-queued-jobs)"},
    {"log-level", CT_STR, OFF(log_level), sizeof(((config *)0)->log_level), "info", 0, 0,
     "error, warn, info (one access line per request) or debug"},
    {"log-format", CT_STR, OFF(log_format), sizeof(((config *)0)->log_format), "text", 0, 0,
     "the log lines on stderr: text (logfmt) or json (one object per line)"},
    {"session-ttl", CT_INT, OFF(session_ttl), 0, "0", 0, 1e9,
     "seconds: a session idle this long is archived, an archived one deleted this long after (0 = keep every session)"},
    {"meta-launcher", CT_STR, OFF(meta_launcher), sizeof(((config *)0)->meta_launcher), "", 0, 0,
     "run POST /v1/meta/jobs (es, pes, tbptt) through this MPI launcher, e.g. \"mpirun -np 8 --hostfile FILE\" "
     "(split into words without a shell; \"\" = in this process; docs/operations.md)"},
    {"meta-mpi-binary", CT_STR, OFF(meta_mpi_binary), sizeof(((config *)0)->meta_mpi_binary), "", 0, 0,
     "the MPI driver --meta-launcher starts (\"\" = optirsd-mpi in this executable's directory)"},
    {"meta-launcher-grace", CT_DOUBLE, OFF(meta_launcher_grace), 0, "10", 0.1, 3600,
     "seconds a launched meta job has to stop after SIGTERM before SIGKILL"},
};
#undef OFF
#define NROWS_CHOICES 2
/* The string settings that take one of a few words ("a|b|c"). */
static const struct { const char *name, *choices; } row_choices[NROWS_CHOICES] = {
    {"log-level", "error|warn|info|debug"},
    {"log-format", "text|json"},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

static const config_row *row_find(const char *name, size_t len)
{
    for (int i = 0; i < NROWS; i++)
        if (strlen(rows[i].name) == len && strncmp(rows[i].name, name, len) == 0) return &rows[i];
    return NULL;
}

/* 1 when value is one of the '|'-separated words of choices. */
static int choice_ok(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = choices; *p;) {
        const char *e = strchr(p, '|');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == n && n && strncmp(p, value, n) == 0) return 1;
        p += k + (e ? 1 : 0);
    }
    return 0;
}

/* Parses `value` into the field of `row`; -1 with a message on error. */
static int row_set(config *cfg, const config_row *row, const char *value, const char *source)
{
    char *field = (char *)cfg + row->offset;
    if (row->type == CT_STR) {
        if (strlen(value) >= row->size) {
            fprintf(stderr, "optirsd: %s: value of %s is too long\n", source, row->name);
            return -1;
        }
        for (int i = 0; i < NROWS_CHOICES; i++)
            if (strcmp(row_choices[i].name, row->name) == 0 && !choice_ok(row_choices[i].choices, value)) {
                fprintf(stderr, "optirsd: %s: %s must be one of %s, got '%s'\n", source, row->name,
                        row_choices[i].choices, value);
                return -1;
            }
        if (strcmp(row->name, "meta-launcher") == 0 && value[0]) {
            char buf[CMDLINE_MAX + 1], *words[CMDLINE_MAX_WORDS + 1], why[160];
            int n;
            if (cmdline_split(value, buf, sizeof buf, words, &n, why, sizeof why) != 0) {
                fprintf(stderr, "optirsd: %s: meta-launcher: %s\n", source, why);
                return -1;
            }
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    errno = 0;
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || errno || !isfinite(v) || v < row->min || v > row->max ||
        (row->type == CT_INT && v != floor(v))) {
        fprintf(stderr, "optirsd: %s: %s must be %s in [%g, %g], got '%s'\n", source, row->name,
                row->type == CT_INT ? "an integer" : "a number", row->min, row->max, value);
        return -1;
    }
    if (row->type == CT_INT) *(int64_t *)field = (int64_t)v;
    else *(double *)field = v;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static int load_file(config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "optirsd: cannot open config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof(f)) {
            fprintf(stderr, "optirsd: %s:%d: line longer than %zu bytes\n", path, lineno, sizeof line - 2);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        char where[1100];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!eq) {
            fprintf(stderr, "optirsd: %s: expected 'name = value'\n", where);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        const config_row *row = row_find(name, strlen(name));
        if (!row) {
            fprintf(stderr, "optirsd: %s: unknown setting '%s'\n", where, name);
            rc = -1;
            break;
        }
        rc = row_set(cfg, row, value, where);
    }
    fclose(f);
    return rc;
}

/* The memory budgets' "0 = derived" defaults (see the table), so that
 * GET /v1/config shows the figures in force. */
static void config_resolve_budgets(config *cfg)
{
    if (cfg->memory_budget == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        /* Without a figure from the system, 1 GiB. */
        cfg->memory_budget = pages > 0 && psize > 0 ? (int64_t)pages * psize / 2 : (int64_t)1 << 30;
    }
    if (cfg->max_session_bytes == 0) cfg->max_session_bytes = cfg->memory_budget / 4;
}

int config_load(config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NROWS; i++)
        if (row_set(cfg, &rows[i], rows[i].def, "default") != 0) return -1;

    /* The config file comes first so that environment and flags override it. */
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
        const char *file = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
        if (file && load_file(cfg, file) != 0) return -1;
    }
    for (int i = 0; i < NROWS; i++) {
        char env[64] = "OPTIRS_";
        size_t k = strlen(env);
        for (const char *p = rows[i].name; *p && k + 1 < sizeof env; p++)
            env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = '\0';
        const char *v = getenv(env);
        if (v && row_set(cfg, &rows[i], v, env) != 0) return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "optirsd: unexpected argument '%s'\n", a);
            return -1;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (len == 6 && strncmp(a, "config", 6) == 0) {
            if (!value) {
                fprintf(stderr, "optirsd: flag --config needs a value\n");
                return -1;
            }
            continue;
        }
        const config_row *row = row_find(a, len);
        if (!row) {
            fprintf(stderr, "optirsd: unknown flag '--%.*s' (see --help)\n", (int)len, a);
            return -1;
        }
        if (!value) {
            fprintf(stderr, "optirsd: flag --%s needs a value\n", row->name);
            return -1;
        }
        if (row_set(cfg, row, value, "command line") != 0) return -1;
    }
    config_resolve_budgets(cfg);
    return 0;
}

void config_print_help(const config *cfg, void *fp)
{
    FILE *f = fp;
    (void)cfg;
    fprintf(f, "usage: optirsd [--config FILE] [--NAME VALUE]...\n"
               "       optirsd meta-train --config FILE\n"
               "       optirsd eval [--weights NAME] [--suite NAME]\n\n"
               "Every setting can also be given as OPTIRS_NAME in the environment\n"
               "(upper case, '-' as '_') or as 'NAME = VALUE' in the config file.\n"
               "Configuration, keys, TLS and deployment: docs/operations.md\n\n");
    for (int i = 0; i < NROWS; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", rows[i].name);
        fprintf(f, "  %-24s %s (default %s", flag, rows[i].help, rows[i].def);
        if (rows[i].type != CT_STR) fprintf(f, "; range %g..%g", rows[i].min, rows[i].max);
        fprintf(f, ")\n");
    }
}

cJSON *config_to_json(const config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < NROWS; i++) {
        const char *field = (const char *)cfg + rows[i].offset;
        switch (rows[i].type) {
        case CT_STR:
            /* The cluster database's DSN may hold a password: shown as set or not. */
            if (rows[i].offset == offsetof(config, cluster_db) && field[0]) field = "(set)";
            cJSON_AddStringToObject(o, rows[i].name, field);
            break;
        case CT_INT: cJSON_AddNumberToObject(o, rows[i].name, (double)*(const int64_t *)field); break;
        case CT_DOUBLE: cJSON_AddNumberToObject(o, rows[i].name, *(const double *)field); break;
        }
    }
    return o;
}
