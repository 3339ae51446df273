/* cli_fewshot.h — `optirsd maml`: few-shot meta-learning on the sinusoid
 * family in the foreground, then its evaluation with 95% intervals
 * (cli_fewshot.c documents the flags; docs/meta-learning.md the figures).
 * Returns the process exit code (0 ok, 1 failure, 2 usage). */
#ifndef OPTIRS_CLI_FEWSHOT_H
#define OPTIRS_CLI_FEWSHOT_H

#include "cli.h"

int cli_fewshot(int argc, char **argv);

#endif
