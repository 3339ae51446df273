/* listen.c — the listening address: HOST:PORT or a unix socket file.  See listen.h. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == LISTEN_UNIX_PATH_MAX + 1,
               "LISTEN_UNIX_PATH_MAX is sun_path's size less the NUL");

int listen_is_unix(const char *listen)
{
    return strncmp(listen, LISTEN_UNIX_PREFIX, strlen(LISTEN_UNIX_PREFIX)) == 0;
}

int listen_parse_mode(const char *text, unsigned *mode)
{
    size_t n = strlen(text);
    if (n == 0 || n > 4) return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '7') return -1;
        v = v * 8 + (unsigned)(text[i] - '0');
    }
    if (v > 0777) return -1;
    *mode = v;
    return 0;
}

static int parse_tcp(listen_sock *ls, const char *listen)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        fprintf(stderr, "optirsd: --listen must be HOST:PORT or unix:PATH, got '%s'\n", listen);
        return ERR_INVALID_ARGUMENT;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || port < 0 || port > 65535) {
        fprintf(stderr, "optirsd: --listen needs a port in 0..65535, got '%s'\n", colon + 1);
        return ERR_INVALID_ARGUMENT;
    }
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    ls->sa.sin_family = AF_INET;
    ls->sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &ls->sa.sin_addr) != 1) {
        fprintf(stderr, "optirsd: --listen needs an IPv4 address, got '%s'\n", host);
        return ERR_INVALID_ARGUMENT;
    }
    ls->port = (int)port;
    return 0;
}

/* Whether a process accepts connections on the socket file at `path`: 1 yes,
 * 0 no (ECONNREFUSED: nobody listens, the file is stale), -1 cannot tell
 * (errno set).  Non-blocking, so a full backlog counts as "yes" at once. */
static int someone_answers(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) return 1;
    if (e == ECONNREFUSED) return 0;
    errno = e;
    return -1;
}

/* A file already at the path: refused unless it is a stale socket, which is
 * removed.  0 or ERR_INVALID_ARGUMENT with the reason on stderr. */
static int clear_stale(const struct sockaddr_un *sun)
{
    const char *path = sun->sun_path;
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, "optirsd: cannot inspect %s: %s\n", path, strerror(errno));
        return ERR_INVALID_ARGUMENT;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "optirsd: %s exists and is not a socket: refusing to replace it\n", path);
        return ERR_INVALID_ARGUMENT;
    }
    int live = someone_answers(sun);
    if (live != 0) {
        if (live > 0)
            fprintf(stderr, "optirsd: another process (perhaps another optirsd) answers on %s\n", path);
        else fprintf(stderr, "optirsd: cannot probe the socket %s: %s\n", path, strerror(errno));
        return ERR_INVALID_ARGUMENT;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "optirsd: cannot remove the stale socket %s: %s\n", path, strerror(errno));
        return ERR_INVALID_ARGUMENT;
    }
    return 0;
}

static int open_unix(listen_sock *ls, const char *path, const char *mode_text)
{
    unsigned mode;
    if (listen_parse_mode(mode_text, &mode) != 0) {
        fprintf(stderr, "optirsd: --listen-mode must be an octal file mode up to 0777, got '%s'\n", mode_text);
        return ERR_INVALID_ARGUMENT;
    }
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/') {
        fprintf(stderr, "optirsd: --listen unix:PATH needs an absolute path, got '%s'\n", path);
        return ERR_INVALID_ARGUMENT;
    }
    if (n > LISTEN_UNIX_PATH_MAX) {
        fprintf(stderr, "optirsd: the socket path is %zu bytes, longer than the %d a unix socket "
                        "address holds: %s\n", n, LISTEN_UNIX_PATH_MAX, path);
        return ERR_INVALID_ARGUMENT;
    }
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, n + 1);
    memcpy(ls->path, path, n + 1);

    int rc = clear_stale(&sun);
    if (rc != 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "optirsd: cannot create a unix socket: %s\n", strerror(errno));
        return ERR_INTERNAL;
    }
    /* bind creates the file with the socket inode's mode less the umask:
     * never wider than `mode`, made exact by the chmod below. */
    if (fchmod(fd, mode) != 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ENOTDIR)
            fprintf(stderr, "optirsd: the directory of %s does not exist\n", path);
        else if (e == EADDRINUSE)   /* another process took the path since the probe */
            fprintf(stderr, "optirsd: %s was taken by another process while starting\n", path);
        else fprintf(stderr, "optirsd: cannot bind %s: %s\n", path, strerror(e));
        return ERR_INVALID_ARGUMENT;
    }
    struct stat st;
    if (stat(path, &st) != 0 || chmod(path, mode) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        unlink(path);   /* the file bind made a moment ago */
        close(fd);
        fprintf(stderr, "optirsd: cannot set up the socket %s: %s\n", path, strerror(e));
        return ERR_INTERNAL;
    }
    ls->fd = fd;
    ls->dev = st.st_dev;
    ls->ino = st.st_ino;
    ls->bound = 1;
    return 0;
}

int listen_open(listen_sock *ls, const char *listen, const char *mode)
{
    memset(ls, 0, sizeof *ls);
    ls->fd = -1;
    if (!listen_is_unix(listen)) return parse_tcp(ls, listen);
    ls->is_unix = 1;
    return open_unix(ls, listen + strlen(LISTEN_UNIX_PREFIX), mode);
}

void listen_mhd_option(const listen_sock *ls, struct MHD_OptionItem *opt)
{
    if (ls->is_unix) opt[0] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, ls->fd, NULL};
    else opt[0] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)&ls->sa};
    opt[1] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

void listen_handed_over(listen_sock *ls) { ls->fd = -1; }

void listen_close(listen_sock *ls)
{
    if (!ls->is_unix) return;
    /* While this process holds the listening descriptor the file cannot have
     * been replaced by another optirsd (it would have found it live and
     * refused), so unlink first, close after.  Without the descriptor the
     * path may already be a successor's: leave it. */
    if (ls->bound && ls->fd >= 0) {
        struct stat st;
        if (lstat(ls->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == ls->dev && st.st_ino == ls->ino)
            unlink(ls->path);
    }
    ls->bound = 0;
    if (ls->fd >= 0) close(ls->fd);
    ls->fd = -1;
}
