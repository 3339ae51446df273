/* listen.h — the daemon's listening address: `HOST:PORT` (TCP over IPv4) or
 * `unix:PATH` (a local socket file), parsed once at start-up and turned into
 * the libmicrohttpd option that names the listener.
 *
 * TCP: libmicrohttpd binds the address itself (MHD_OPTION_SOCK_ADDR); no
 * SO_REUSEPORT, so a port another process holds is refused.
 * unix:PATH: this module makes the socket and hands it over bound and
 * listening (MHD_OPTION_LISTEN_SOCKET).  Invariants:
 * - PATH is absolute and shorter than sun_path (LISTEN_UNIX_PATH_MAX bytes);
 * - a file already at PATH is replaced only when it is a socket nobody
 *   answers on (ECONNREFUSED: a daemon that was killed left it); a socket
 *   another process answers on, or anything that is not a socket, is refused;
 *   a missing directory is refused (not created);
 * - the file gets exactly --listen-mode (octal, default 0660) and is never
 *   wider for a moment: the socket is fchmod'ed before bind, the file chmod'ed
 *   after (bind applies the umask);
 * - listen_close removes the file only while this process still holds the
 *   listening descriptor (so nobody can have replaced it: it answers) and the
 *   file is the one bound (same device and inode); a successor's socket
 *   survives.  http.c takes the descriptor back from libmicrohttpd
 *   (MHD_quiesce_daemon) before stopping it, for that reason.
 * Known window: two daemons started at the same instant on a STALE file may
 * both see it stale; the later bind then wins the path.  Two daemons on a
 * live socket never race: the second is refused.
 * Thread rules: start-up and shutdown only, on the main thread. */
#ifndef OPTIRS_LISTEN_H
#define OPTIRS_LISTEN_H

#include <netinet/in.h>
#include <sys/types.h>

struct MHD_OptionItem;

#define LISTEN_UNIX_PREFIX   "unix:"
#define LISTEN_UNIX_PATH_MAX 107            /* sizeof sun_path (108) less the NUL */

typedef struct listen_sock {
    int                is_unix;
    int                port;                 /* TCP: the port asked for (0: any free one) */
    struct sockaddr_in sa;                   /* TCP: what libmicrohttpd binds */
    int                fd;                   /* unix: the listening socket, -1 once handed over or closed */
    char               path[LISTEN_UNIX_PATH_MAX + 1];
    dev_t              dev;                  /* unix: the socket file this process bound … */
    ino_t              ino;                  /* … checked again before it is removed */
    int                bound;                /* unix: 1 while the file at path is ours */
} listen_sock;

/* 1 when `listen` names a unix socket ("unix:…"). */
int  listen_is_unix(const char *listen);
/* Parses an octal file mode ("0660", "600"; at most 0777) into *mode.  0 or -1. */
int  listen_parse_mode(const char *text, unsigned *mode);
/* Parses `listen` and, for unix:PATH, creates the socket file with `mode`
 * (octal text, see listen_parse_mode).  0, or an ERR_* with the reason on
 * stderr; on error nothing is left behind. */
int  listen_open(listen_sock *ls, const char *listen, const char *mode);
/* Fills opt[0] with the listener's libmicrohttpd option and opt[1] with
 * MHD_OPTION_END (opt holds two), for MHD_OPTION_ARRAY.  For a unix socket the descriptor
 * belongs to libmicrohttpd once its daemon started (call listen_handed_over). */
void listen_mhd_option(const listen_sock *ls, struct MHD_OptionItem *opt);
/* libmicrohttpd owns the descriptor now (it closes it when it stops, unless
 * it was quiesced: MHD_quiesce_daemon hands it back, to be stored in ls->fd). */
void listen_handed_over(listen_sock *ls);
/* Removes the socket file if it is still ours (see above) and closes the
 * descriptor if held; nothing for TCP.  Safe to call twice. */
void listen_close(listen_sock *ls);

#endif
