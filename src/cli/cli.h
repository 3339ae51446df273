/* cli.h — the `optirsd meta-train` and `optirsd eval` subcommands (argv
 * starts after the subcommand's name).  Both work directly on the database
 * (--db, default the daemon's) and print to stdout; each returns the process
 * exit code (0 ok, 1 failure, 2 usage; for eval also a suite file that is
 * missing, too large, malformed or empty).
 *
 *   optirsd meta-train --config FILE [--db PATH] [--threads N] [--resume] [--out FILE]
 *   optirsd eval --weights NAME[@VERSION] (--suite NAME | --suite-file PATH) [--db PATH]
 *                [--horizons 1000,5000] [--seeds 5] [--threads N] [--lr X]
 * (eval: cli_eval.c; its suites are deploy/eval/NAME.suite, eval_suite.h). */
#ifndef OPTIRS_CLI_H
#define OPTIRS_CLI_H

int cli_meta_train(int argc, char **argv);
int cli_eval(int argc, char **argv);

/* Shared by the subcommands. */
struct config;
/* The database path: flag (--db) when given, else OPTIRS_DB / the daemon's
 * default (read into *cfg, which must outlive the result). */
const char *cli_db_path(const char *flag, struct config *cfg);
/* A whole decimal integer in [lo, hi]: 0, or -1 and *out untouched. */
int cli_parse_int(const char *s, long lo, long hi, long *out);

#endif
