/* cli_keys.h — the `optirsd keys` subcommand (argv starts after "keys").
 * Returns the process exit code. */
#ifndef OPTIRS_CLI_KEYS_H
#define OPTIRS_CLI_KEYS_H
int cli_keys(int argc, char **argv);
#endif
