/* serve.h — optirsd the daemon (no subcommand): argv holds the daemon's
 * flags (argv[0] is the first flag, not the program name).  Loads the
 * configuration (`--help` prints it and returns 0; a bad flag returns 2),
 * then serves until SIGTERM/SIGINT has drained it.  Returns the process exit
 * code.  Call once per process, from the main thread, after the process-wide
 * set-up of main.c (signals, BLAS threads, stdout buffering). */
#ifndef OPTIRS_SERVE_H
#define OPTIRS_SERVE_H

int serve_main(int argc, char **argv);

#endif
