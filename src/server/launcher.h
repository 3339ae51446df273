/* launcher.h — runs one external command (the --meta-launcher and its MPI
 * driver) to its end as a child process of the daemon, stoppable.
 *
 * The child is started with posix_spawnp (no shell: argv as given, the PATH
 * searched for argv[0]) in a process group of its own, with the default
 * signal dispositions and an empty signal mask (the calling thread's are
 * not inherited), stdin and stdout on /dev/null and stderr on a pipe whose
 * last LAUNCHER_TAIL bytes are kept.  launcher_run then waits in the calling
 * thread: every 100 ms it reads the pipe and looks at *stop; once *stop is
 * non-zero the whole group gets SIGTERM (mpirun forwards it to every rank),
 * and `grace_s` seconds later, if the command has not ended, SIGKILL goes to
 * every process descending from it (with their process groups: mpirun puts
 * each local rank in a group of its own) and to its group.  When the command (the group's
 * leader) has ended, whatever is left of its group gets SIGKILL before the
 * leader is reaped (so the group's id cannot have been reused): nothing it
 * started on this machine outlives it.
 *
 * Thread rules: any thread, one call per child; blocks until the child is
 * reaped.  The caller must not reap children with waitpid(-1, …). */
#ifndef OPTIRS_LAUNCHER_H
#define OPTIRS_LAUNCHER_H

#include <stdatomic.h>
#include <stddef.h>

#define LAUNCHER_TAIL 1024

typedef struct launcher_result {
    int  started;              /* 1: the child ran (else start_error says why) */
    int  exited;               /* 1: it exited (code); 0: a signal ended it (sig) */
    int  code, sig;
    int  stopped;              /* 1: *stop asked it to end */
    int  killed;               /* 1: it needed SIGKILL after the grace period */
    char start_error[200];
    char tail[LAUNCHER_TAIL + 1]; /* the last bytes of its stderr, NUL-terminated */
} launcher_result;

/* Runs argv (argv[0] looked up in PATH; NULL-terminated) to its end.
 * 0 once it has been reaped (res says how it ended), or ERR_INTERNAL when
 * it could not be started (res->start_error).  Where the failed exec of
 * argv[0] is not reported to the parent (glibc's posix_spawn reports it;
 * under valgrind, fork stands in for vfork and it is not), the command is
 * started and "exits" with status 127, as from a shell. */
int launcher_run(char *const argv[], _Atomic int *stop, double grace_s, launcher_result *res);
/* res as one line for a job's error: "exited with status 3: <tail>" or
 * "ended by signal 9: <tail>" (the tail's last lines, blanks squeezed). */
void launcher_describe(const launcher_result *res, char *out, size_t cap);

#endif
