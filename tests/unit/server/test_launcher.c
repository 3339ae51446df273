/* test_launcher.c — src/server/launcher.c: a command run to its end with
 * its exit status and the tail of its stderr; one that cannot start;
 * a stop request ending the command's whole process group with SIGTERM, and
 * one that ignores SIGTERM ended by SIGKILL after the grace period, with
 * the process it started in a group of its own ended too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "launcher.h"

static void test_launcher_exit_status_and_stderr_tail(void **unused)
{
    (void)unused;
    launcher_result r;
    char *ok[] = {"sh", "-c", "echo out; echo to-stderr >&2", NULL};
    assert_int_equal(launcher_run(ok, NULL, 1, &r), 0);
    assert_true(r.started && r.exited);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.tail, "to-stderr\n");   /* stdout is not kept */
    /* a long stderr: only its last LAUNCHER_TAIL bytes */
    char *fail[] = {"sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i >&2; i=$((i+1)); done; exit 3", NULL};
    assert_int_equal(launcher_run(fail, NULL, 1, &r), 0);
    assert_true(r.exited);
    assert_int_equal(r.code, 3);
    assert_int_equal(strlen(r.tail), LAUNCHER_TAIL);
    assert_non_null(strstr(r.tail, "line299\n"));
    char d[200];
    launcher_describe(&r, d, sizeof d);
    assert_int_equal(strncmp(d, "exited with status 3: ", 22), 0);
    assert_non_null(strstr(d, "line298 line299"));
}

static void test_launcher_cannot_start(void **unused)
{
    (void)unused;
    launcher_result r;
    char *nx[] = {"/nonexistent/optirs-launcher", "x", NULL};
    int rc = launcher_run(nx, NULL, 1, &r);
    char d[300];
    launcher_describe(&r, d, sizeof d);
    if (rc == 0) {
        /* where fork stands in for vfork (valgrind), the failed exec is the child's exit 127 */
        assert_true(r.started && r.exited);
        assert_int_equal(r.code, 127);
        return;
    }
    assert_int_equal(rc, ERR_INTERNAL);
    assert_false(r.started);
    assert_non_null(strstr(r.start_error, "/nonexistent/optirs-launcher"));
    assert_non_null(strstr(d, "cannot start"));
}

typedef struct run_arg { char **argv; _Atomic int stop; double grace; launcher_result r; int rc; } run_arg;

static void *runner(void *p)
{
    run_arg *a = p;
    a->rc = launcher_run(a->argv, &a->stop, a->grace, &a->r);
    return NULL;
}

/* The pid the command wrote into `file` (once it is there). */
static long read_pid(const char *file)
{
    for (;;) {
        FILE *f = fopen(file, "r");
        long v = 0;
        if (f) {
            int ok = fscanf(f, "%ld", &v) == 1;
            fclose(f);
            if (ok && v > 0) return v;
        }
        usleep(10000);
    }
}

static void test_launcher_stop_terms_then_kills(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/optirs_test_launcher_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char f1[64], f2[64], cmd[1024];
    snprintf(f1, sizeof f1, "%s/a", dir);
    snprintf(f2, sizeof f2, "%s/b", dir);
    /* SIGTERM ends a plain command */
    snprintf(cmd, sizeof cmd, "echo $$ > %s.t; mv %s.t %s; exec sleep 1000", f1, f1, f1);
    run_arg a = {.argv = (char *[]){"sh", "-c", cmd, NULL}, .grace = 100};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, runner, &a), 0);
    long pid = read_pid(f1);
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    assert_true(a.r.stopped && !a.r.killed && !a.r.exited);
    assert_int_equal(a.r.sig, SIGTERM);
    assert_int_equal(kill((pid_t)pid, 0), -1);
    /* one that ignores SIGTERM, with a child in a process group of its own
     * (as mpirun's ranks are) that ignores it too: both end by SIGKILL */
    snprintf(cmd, sizeof cmd,
             "trap '' TERM; setsid sh -c 'trap \"\" TERM; echo $$ > %s.t; mv %s.t %s; while :; do sleep 1; done' & "
             "echo $$ > %s.t; mv %s.t %s; while :; do sleep 1; done", f2, f2, f2, f1, f1, f1);
    unlink(f1);
    run_arg b = {.argv = (char *[]){"sh", "-c", cmd, NULL}, .grace = 0.2};
    assert_int_equal(pthread_create(&th, NULL, runner, &b), 0);
    pid = read_pid(f1);
    long child = read_pid(f2);
    atomic_store(&b.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, 0);
    assert_true(b.r.stopped && b.r.killed);
    assert_int_equal(b.r.sig, SIGKILL);
    assert_int_equal(kill((pid_t)pid, 0), -1);
    /* the child was orphaned to init, which reaps it once SIGKILL lands */
    while (kill((pid_t)child, 0) == 0) {
        char st[64], buf[256];
        snprintf(st, sizeof st, "/proc/%ld/stat", child);
        FILE *f = fopen(st, "r");
        size_t k = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp && rp[2] == 'Z') break;   /* dead, not yet reaped by its new parent */
        usleep(10000);
    }
    unlink(f1);
    unlink(f2);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launcher_exit_status_and_stderr_tail),
        cmocka_unit_test(test_launcher_cannot_start),
        cmocka_unit_test(test_launcher_stop_terms_then_kills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
