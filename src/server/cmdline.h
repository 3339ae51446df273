/* cmdline.h — a command line (the --meta-launcher setting, e.g. "mpirun -np 8
 * --hostfile FILE") split into words without a shell.
 *
 * The words are separated by blanks (space, tab); inside a word, '…' keeps
 * everything literally, "…" keeps everything but \" and \\, and a backslash
 * outside quotes keeps the next character.  What a shell would interpret —
 * an unquoted ; | & < > ` $ ( ) * ? [ ] { } ~ # or a newline — is refused
 * rather than passed on, since nothing here expands or redirects: the words
 * go to posix_spawnp as they are.  An empty line, an unbalanced quote, a
 * trailing backslash, a NUL-free line over CMDLINE_MAX bytes or more than
 * CMDLINE_MAX_WORDS words are refused too.
 *
 * Thread rules: pure; any thread. */
#ifndef OPTIRS_CMDLINE_H
#define OPTIRS_CMDLINE_H

#include <stddef.h>

#define CMDLINE_MAX       1024
#define CMDLINE_MAX_WORDS 64

/* The words of `line`, each NUL-terminated, in buf (cap bytes: strlen(line)
 * + 1 always suffices) and pointed to by words[0..*n-1] (words has
 * CMDLINE_MAX_WORDS + 1 slots; words[*n] = NULL).  0, or
 * ERR_INVALID_ARGUMENT with the reason in msg. */
int cmdline_split(const char *line, char *buf, size_t cap, char **words, int *n, char *msg, size_t msgcap);

#endif
