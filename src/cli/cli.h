/* cli.h — the `optirsd meta-train` and `optirsd eval` subcommands (argv
 * starts after the subcommand's name).  Both work directly on the database
 * (--db, default the daemon's) and print to stdout; each returns the process
 * exit code (0 ok, 1 failure, 2 usage; for eval also a suite file that is
 * missing, too large, malformed or empty).
 *
 *   optirsd meta-train --config FILE [--db PATH] [--threads N] [--resume] [--out FILE]
 *                      [--stop-after N]
 *   optirsd meta-train --job ID [--db PATH] [--threads N] [--out FILE] [--stop-after N]
 *                      (the daemon's queued job ID, run under its own row; the
 *                      run stops, "interrupted", once the row says anything but
 *                      "running" after an outer step: the row is its lease)
 *   optirsd eval --weights NAME[@VERSION] (--suite NAME | --suite-file PATH) [--db PATH]
 *                [--horizons 1000,5000] [--seeds 5] [--threads N] [--lr X]
 * (eval: cli_eval.c; its suites are deploy/eval/NAME.suite, eval_suite.h). */
#ifndef OPTIRS_CLI_H
#define OPTIRS_CLI_H

#include "meta_run.h"

int cli_meta_train(int argc, char **argv);

/* meta-train with the particles spread over processes: meta_run's transport
 * hooks (meta_run.h) and the number of processes, for the start line.  The
 * MPI driver (src/cli/mpi/mpi_meta.c) runs it on rank 0; tr == NULL is
 * cli_meta_train. */
typedef struct cli_transport {
    int  (*begin)(void *tctx, meta_job *j, char *msg, size_t cap);
    int  (*step)(void *tctx, meta_job *j, meta_report *rep, char *msg, size_t cap);
    int  (*save)(void *tctx, const meta_job *j, uint8_t **out, size_t *out_len, char *msg, size_t cap);
    void *tctx;
    int   nprocs;
    /* The job's normalised config (meta_spec_to_json), once known, before
     * begin (NULL: not wanted); the string lives only during the call. */
    void (*spec)(void *tctx, const char *config_json);
} cli_transport;
int cli_meta_train_on(int argc, char **argv, const cli_transport *tr);
int cli_eval(int argc, char **argv);

/* Shared by the subcommands. */
struct config;
/* The database path: flag (--db) when given, else OPTIRS_DB / the daemon's
 * default (read into *cfg, which must outlive the result). */
const char *cli_db_path(const char *flag, struct config *cfg);
/* A whole decimal integer in [lo, hi]: 0, or -1 and *out untouched. */
int cli_parse_int(const char *s, long lo, long hi, long *out);

#endif
