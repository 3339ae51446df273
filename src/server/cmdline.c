/* cmdline.c — a command line split into words without a shell.  See
 * cmdline.h. */
#include "cmdline.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

static int refuse(char *msg, size_t cap, const char *why, size_t at)
{
    if (msg && cap) snprintf(msg, cap, "%s (at byte %zu); the launcher runs without a shell", why, at);
    return ERR_INVALID_ARGUMENT;
}

int cmdline_split(const char *line, char *buf, size_t cap, char **words, int *n, char *msg, size_t msgcap)
{
    *n = 0;
    words[0] = NULL;
    if (!line) return refuse(msg, msgcap, "no command line", 0);
    size_t len = strlen(line);
    if (len > CMDLINE_MAX) return refuse(msg, msgcap, "the command line is too long", CMDLINE_MAX);
    if (cap < len + 1) return refuse(msg, msgcap, "no room for the words", 0);
    size_t o = 0;
    const char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (*n == CMDLINE_MAX_WORDS) return refuse(msg, msgcap, "too many words", (size_t)(p - line));
        words[(*n)++] = buf + o;
        while (*p && *p != ' ' && *p != '\t') {
            size_t at = (size_t)(p - line);
            if (*p == '\'') {
                const char *e = strchr(p + 1, '\'');
                if (!e) return refuse(msg, msgcap, "an unbalanced ' quote", at);
                memcpy(buf + o, p + 1, (size_t)(e - p - 1));
                o += (size_t)(e - p - 1);
                p = e + 1;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
                    buf[o++] = *p++;
                }
                if (!*p) return refuse(msg, msgcap, "an unbalanced \" quote", at);
                p++;
            } else if (*p == '\\') {
                if (!p[1]) return refuse(msg, msgcap, "a trailing backslash", at);
                buf[o++] = p[1];
                p += 2;
            } else if (strchr(";|&<>`$()*?[]{}~#\n\r", *p)) {
                char why[64];
                snprintf(why, sizeof why, "'%c' would need a shell: quote it or leave it out",
                         *p == '\n' || *p == '\r' ? ' ' : *p);
                return refuse(msg, msgcap, why, at);
            } else buf[o++] = *p++;
        }
        buf[o++] = '\0';
    }
    words[*n] = NULL;
    if (*n == 0) return refuse(msg, msgcap, "an empty command line", 0);
    return 0;
}
