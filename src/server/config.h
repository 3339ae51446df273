/* config.h — the daemon's configuration, driven by one table.
 *
 * Every setting is a row {name, type, default, bounds, help}.  The same table
 * fills the values from (lowest to highest precedence) defaults, an optional
 * config file (`--config FILE`, lines `name = value`, `#` comments), the
 * environment (`OPTIRS_NAME` with dashes as underscores, upper case) and
 * command-line flags (`--name value` or `--name=value`); it prints `--help` and
 * answers `GET /v1/config`.
 * Thread rules: filled once at start-up, read-only afterwards. */
#ifndef OPTIRS_CONFIG_H
#define OPTIRS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

typedef struct config {
    char    listen[128];          /* HOST:PORT or unix:PATH (listen.h) */
    char    listen_mode[8];       /* octal mode of a unix: socket file */
    char    db[1024];             /* SQLite file */
    int64_t threads;              /* HTTP worker threads */
    int64_t compute_threads;      /* compute pool threads (0: one per core) */
    int64_t compute_queue;        /* jobs waiting for a compute thread, in total */
    int64_t compute_session_queue;/* jobs of one session waiting or running */
    int64_t checkpoint_every;     /* steps between checkpoints (durability=checkpoint) */
    double  checkpoint_interval;  /* seconds between checkpoints */
    int64_t max_json_body;        /* bytes */
    int64_t max_binary_body;      /* bytes */
    int64_t max_params;           /* parameters per session */
    int64_t max_sessions;         /* sessions per daemon */
    int64_t max_session_bytes;    /* memory one session may take (resolved: never 0) */
    int64_t memory_budget;        /* memory all live sessions may take (resolved: never 0) */
    int64_t snapshot_chunk_bytes; /* snapshots longer than this are stored in chunks */
    double  step_timeout;         /* seconds a shared-session worker waits for the others */
    double  trial_heartbeat_timeout; /* seconds a study's running trial lives without a heartbeat */
    int64_t max_connections;
    double  connection_timeout;   /* seconds of inactivity before a connection is closed */
    double  header_timeout;       /* seconds to receive a request's headers, in total */
    int64_t max_connections_per_ip;
    char    tls_cert[1024];       /* PEM file; with tls_key, serve https */
    char    tls_key[1024];
    int64_t allow_open;           /* 1: run without API keys on a non-loopback address */
    double  rate_limit;           /* requests/s per API key; 0 = no limit */
    double  rate_burst;           /* token bucket size */
    int64_t tenant_max_sessions;  /* per tenant; 0 = no quota */
    int64_t tenant_max_params;    /* per tenant, summed over its sessions; 0 = no quota */
    int64_t max_queued_jobs;      /* meta-training jobs waiting in the queue, daemon-wide */
    int64_t tenant_max_queued_jobs; /* … per tenant; 0 = only the daemon-wide bound */
    char    log_level[8];         /* error | warn | info | debug (log.h) */
    char    log_format[8];        /* text | json */
    char    cluster_db[1024];     /* PostgreSQL URI, conninfo or socket directory; "" = no cluster (pg_conn.h) */
    char    cluster_advertise[256]; /* HOST:PORT the cluster's session index names this shard by; "" = listen */
    double  cluster_db_grace;     /* seconds the keys last read from it stay usable without it (pg_keys.h) */
    int64_t session_ttl;          /* seconds: idle → archived → deleted (session_life.h); 0 = off */
    char    meta_launcher[1024];  /* "" or a command line (cmdline.h) that runs meta jobs over MPI */
    char    meta_mpi_binary[1024];/* the MPI driver ("" = optirsd-mpi next to this executable) */
    double  meta_launcher_grace;  /* seconds between SIGTERM and SIGKILL when a launched job stops */
} config;

/* Fills cfg from defaults, config file, environment and argv (argv[0] and a
 * leading sub-command are skipped by the caller: pass the flags only).
 * Returns 0; on a bad flag or value prints a message to stderr and returns -1;
 * on --help prints the help and returns 1. */
int    config_load(config *cfg, int argc, char **argv);
/* Prints the flag table to `f`. */
void   config_print_help(const config *cfg, void *f);
/* The effective configuration as a JSON object (name → value); the caller
 * frees it with cJSON_Delete. */
cJSON *config_to_json(const config *cfg);

#endif
