/* launcher.c — one external command run to its end, stoppable.  See
 * launcher.h. */
#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"

extern char **environ;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Appends n bytes to the tail, keeping its last LAUNCHER_TAIL. */
static void tail_add(launcher_result *res, size_t *len, const char *b, size_t n)
{
    if (n >= LAUNCHER_TAIL) {
        b += n - LAUNCHER_TAIL;
        n = LAUNCHER_TAIL;
    }
    if (*len + n > LAUNCHER_TAIL) {
        size_t drop = *len + n - LAUNCHER_TAIL;
        memmove(res->tail, res->tail + drop, *len - drop);
        *len -= drop;
    }
    memcpy(res->tail + *len, b, n);
    *len += n;
    res->tail[*len] = '\0';
}

/* Reads what the pipe holds now (*fd non-blocking), waiting up to ms for
 * it; at its end (every writer gone) closes it and sets *fd = -1. */
static void drain(int *fd, int ms, launcher_result *res, size_t *len)
{
    struct pollfd pf = {.fd = *fd, .events = POLLIN};
    if (*fd < 0 || poll(&pf, 1, ms) <= 0) {
        if (*fd < 0 && ms > 0) nanosleep(&(struct timespec){0, (long)ms * 1000000L}, NULL);
        return;
    }
    char b[4096];
    ssize_t n;
    while ((n = read(*fd, b, sizeof b)) > 0) tail_add(res, len, b, (size_t)n);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(*fd);
        *fd = -1;
    }
}

/* Sends sig to every descendant of pid (each in whatever process group it
 * put itself: MPI launchers give their ranks groups of their own) and to
 * their groups, read from /proc/PID/stat.  Up to 4096 processes. */
static void kill_tree(pid_t root, int sig)
{
    enum { MAXP = 4096 };
    pid_t *pids = malloc(3 * MAXP * sizeof *pids), *ppids = pids + MAXP, *todo = pids + 2 * MAXP;
    if (!pids) return;
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && n < MAXP && (e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end || v <= 0) continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", v);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = '\0';
        const char *rp = strrchr(buf, ')');   /* "pid (comm) state ppid …"; comm may hold anything */
        char st;
        long pp;
        if (rp && sscanf(rp + 1, " %c %ld", &st, &pp) == 2) {
            pids[n] = (pid_t)v;
            ppids[n++] = (pid_t)pp;
        }
    }
    if (d) closedir(d);
    /* breadth first from root: the descendants collect at the front of todo */
    int nt = 0, head = 0;
    todo[nt++] = root;
    while (head < nt) {
        pid_t p = todo[head++];
        for (int i = 0; i < n && nt < MAXP; i++)
            if (ppids[i] == p && pids[i] != root) todo[nt++] = pids[i];
    }
    for (int i = 1; i < nt; i++) {
        pid_t g = getpgid(todo[i]);
        if (g > 1 && g != getpgid(0)) kill(-g, sig);
        kill(todo[i], sig);
    }
    free(pids);
}

static int start(char *const argv[], int errfd, pid_t *pid, launcher_result *res)
{
    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    int e = posix_spawnattr_init(&at);
    if (e) goto out0;
    e = posix_spawn_file_actions_init(&fa);
    if (e) goto out1;
    e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!e) e = posix_spawnattr_setpgroup(&at, 0);
    if (!e) e = posix_spawnattr_setsigmask(&at, &none);
    if (!e) e = posix_spawnattr_setsigdefault(&at, &all);
    if (!e) e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e) e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!e) e = posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    if (!e) e = posix_spawnp(pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
out1:
    posix_spawnattr_destroy(&at);
out0:
    if (e) snprintf(res->start_error, sizeof res->start_error, "cannot start %.100s: %s", argv[0], strerror(e));
    return e ? ERR_INTERNAL : 0;
}

int launcher_run(char *const argv[], _Atomic int *stop, double grace_s, launcher_result *res)
{
    memset(res, 0, sizeof *res);
    if (!argv || !argv[0]) {
        snprintf(res->start_error, sizeof res->start_error, "no command");
        return ERR_INTERNAL;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(res->start_error, sizeof res->start_error, "cannot make a pipe: %s", strerror(errno));
        return ERR_INTERNAL;
    }
    pid_t pid;
    int rc = start(argv, p[1], &pid, res);
    close(p[1]);
    if (rc) {
        close(p[0]);
        return rc;
    }
    res->started = 1;
    int rd = p[0];
    if (fcntl(rd, F_SETFL, O_NONBLOCK) != 0) {
        close(rd);
        rd = -1;
    }
    size_t len = 0;
    double term_at = 0;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* WNOWAIT: the leader stays a zombie, so its group id stays its own */
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) break;
        if (stop && atomic_load(stop) && !res->stopped) {
            res->stopped = 1;
            term_at = mono_s();
            kill(-pid, SIGTERM);
        } else if (res->stopped && !res->killed && mono_s() - term_at > grace_s) {
            res->killed = 1;
            kill_tree(pid, SIGKILL);
            kill(-pid, SIGKILL);
        }
        drain(&rd, 100, res, &len);
    }
    kill(-pid, SIGKILL);   /* whatever of its group is left (none after a clean end) */
    drain(&rd, 0, res, &len);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (rd >= 0) close(rd);
    if (WIFEXITED(st)) {
        res->exited = 1;
        res->code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) res->sig = WTERMSIG(st);
    return 0;
}

void launcher_describe(const launcher_result *res, char *out, size_t cap)
{
    char t[LAUNCHER_TAIL + 1];
    size_t n = 0;
    int blank = 1;
    for (const char *s = res->tail; *s && n + 1 < sizeof t; s++) {
        int sp = *s == '\n' || *s == '\r' || *s == '\t' || *s == ' ';
        if (sp && blank) continue;
        t[n++] = sp ? ' ' : ((unsigned char)*s < 0x20 ? '?' : *s);
        blank = sp;
    }
    while (n && t[n - 1] == ' ') n--;
    t[n] = '\0';
    if (!res->started) {
        snprintf(out, cap, "%s", res->start_error);
        return;
    }
    char head[64];
    int h = res->exited ? snprintf(head, sizeof head, "exited with status %d", res->code)
                        : snprintf(head, sizeof head, "ended by signal %d", res->sig);
    /* the end of stderr says why: its last bytes, at most 400, that fit */
    size_t room = cap > (size_t)h + 3 ? cap - (size_t)h - 3 : 0;
    if (room > 400) room = 400;
    const char *tail = n > room ? t + n - room : t;
    snprintf(out, cap, "%s%s%s", head, *tail ? ": " : "", tail);
}
