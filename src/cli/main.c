/* main.c — the optirsd entry point: process-wide set-up, then the
 * subcommand (`keys`, `meta-train`, `eval`, `maml`, `objective`), `--version`, or without one the daemon
 * (serve.h, in src/server/).  It only dispatches: the top layer, src/cli/,
 * is the one that sees both the subcommands and the server. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <cblas.h>

#include "build_info.h"
#include "cli.h"
#include "cli_fewshot.h"
#include "cli_keys.h"
#include "cli_objective.h"
#include "serve.h"

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit must fail a write (503 storage_unavailable), not kill us. */
    signal(SIGXFSZ, SIG_IGN);
    /* Steps run on the compute threads, one per core: a BLAS call inside a
     * step must not start threads of its own. */
    openblas_set_num_threads(1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("optirsd %s\n", build_info_version());
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "keys") == 0) return cli_keys(argc - 2, argv + 2);
    if (argc > 1 && strcmp(argv[1], "meta-train") == 0) return cli_meta_train(argc - 2, argv + 2);
    if (argc > 1 && strcmp(argv[1], "eval") == 0) return cli_eval(argc - 2, argv + 2);
    if (argc > 1 && strcmp(argv[1], "maml") == 0) return cli_fewshot(argc - 2, argv + 2);
    if (argc > 1 && strcmp(argv[1], "objective") == 0) return cli_objective(argc - 2, argv + 2);
    return serve_main(argc - 1, argv + 1);
}
