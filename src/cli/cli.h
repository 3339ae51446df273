/* cli.h — the `optirsd meta-train` and `optirsd eval` subcommands (argv
 * starts after the subcommand's name).  Both work directly on the database
 * (--db, default the daemon's) and print to stdout; each returns the process
 * exit code (0 ok, 1 failure, 2 usage).
 *
 *   optirsd meta-train --config FILE [--db PATH] [--threads N] [--resume] [--out FILE]
 *   optirsd eval --weights NAME[@VERSION] --suite train|validation [--db PATH]
 *                [--horizons 1000,5000] [--seeds 5] [--threads N] */
#ifndef OPTIRS_CLI_H
#define OPTIRS_CLI_H

int cli_meta_train(int argc, char **argv);
int cli_eval(int argc, char **argv);

#endif
