/* test_listen.c — listen.c on real sockets in a mkdtemp() directory: the
 * HOST:PORT and unix:PATH forms, octal modes, and the refusals of a unix
 * socket path (relative, longer than sun_path, in a missing directory, a
 * regular file or a live socket already there), the stale socket replaced,
 * the file's mode exact whatever the umask, and listen_close removing only
 * the file this process bound and still listens on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"
#include "listen.h"

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/optirs-test-listen-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(g_dir);   /* every test removes what it made: fails if one did not */
}

static void in_dir(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

/* 1 when a client can connect to the socket file at path. */
static int can_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int ok = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    close(fd);
    return ok;
}

static void test_modes(void **st)
{
    (void)st;
    unsigned m = 1;
    assert_int_equal(listen_parse_mode("0660", &m), 0);
    assert_int_equal(m, 0660);
    assert_int_equal(listen_parse_mode("600", &m), 0);
    assert_int_equal(m, 0600);
    assert_int_equal(listen_parse_mode("0777", &m), 0);
    assert_int_equal(m, 0777);
    const char *bad[] = {"", "0800", "1777", "66a", "-660", "06600", " 660"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(listen_parse_mode(bad[i], &m), -1);
}

static void test_tcp_forms(void **st)
{
    (void)st;
    listen_sock ls;
    assert_int_equal(listen_open(&ls, "127.0.0.1:8080", "0660"), 0);
    assert_false(ls.is_unix);
    assert_int_equal(ls.port, 8080);
    assert_int_equal(listen_open(&ls, "localhost:0", "0660"), 0);
    assert_int_equal(ls.port, 0);
    assert_false(listen_is_unix("127.0.0.1:1"));
    assert_true(listen_is_unix("unix:/x"));
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:80", "host:80", ":80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(listen_open(&ls, bad[i], "0660"), ERR_INVALID_ARGUMENT);
    listen_close(&ls);   /* nothing for TCP */
}

static void test_unix_socket_made_served_and_removed(void **st)
{
    (void)st;
    char path[128], spec[140];
    in_dir(path, sizeof path, "a.sock");
    snprintf(spec, sizeof spec, "unix:%s", path);
    mode_t old = umask(0077);      /* bind applies it; the file must still get 0660 */
    listen_sock ls;
    int rc = listen_open(&ls, spec, "0660");
    umask(old);
    assert_int_equal(rc, 0);
    assert_true(ls.is_unix && ls.fd >= 0 && ls.bound);
    assert_string_equal(ls.path, path);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0660);
    assert_true(can_connect(path));
    listen_close(&ls);
    assert_int_equal(ls.fd, -1);
    assert_int_equal(lstat(path, &sb), -1);
    assert_int_equal(errno, ENOENT);
    listen_close(&ls);   /* twice: nothing */
}

static void test_unix_paths_refused(void **st)
{
    (void)st;
    listen_sock ls;
    assert_int_equal(listen_open(&ls, "unix:relative.sock", "0660"), ERR_INVALID_ARGUMENT);
    assert_int_equal(listen_open(&ls, "unix:", "0660"), ERR_INVALID_ARGUMENT);
    char spec[300], path[200];
    /* sun_path holds 107 bytes and a NUL: 107 is accepted by the length check, 108 is not */
    snprintf(spec, sizeof spec, "unix:/%0107d", 0);
    assert_int_equal(strlen(spec + 5), 108);
    assert_int_equal(listen_open(&ls, spec, "0660"), ERR_INVALID_ARGUMENT);
    snprintf(spec, sizeof spec, "unix:%s/missing/x.sock", g_dir);
    assert_int_equal(listen_open(&ls, spec, "0660"), ERR_INVALID_ARGUMENT);
    in_dir(path, sizeof path, "sock");
    snprintf(spec, sizeof spec, "unix:%s", path);
    assert_int_equal(listen_open(&ls, spec, "0999"), ERR_INVALID_ARGUMENT);
    assert_int_equal(access(path, F_OK), -1);   /* a bad mode leaves nothing behind */
}

static void test_regular_file_is_never_replaced(void **st)
{
    (void)st;
    char path[128], spec[140];
    in_dir(path, sizeof path, "data.db");
    int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    snprintf(spec, sizeof spec, "unix:%s", path);
    listen_sock ls;
    assert_int_equal(listen_open(&ls, spec, "0660"), ERR_INVALID_ARGUMENT);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_size, 4);
    unlink(path);
}

static void test_live_socket_refused_stale_one_replaced(void **st)
{
    (void)st;
    char path[128], spec[140];
    in_dir(path, sizeof path, "b.sock");
    snprintf(spec, sizeof spec, "unix:%s", path);
    listen_sock first, second;
    assert_int_equal(listen_open(&first, spec, "0600"), 0);
    struct stat before, after;
    assert_int_equal(lstat(path, &before), 0);
    /* someone answers: the second is refused and the first's file untouched */
    assert_int_equal(listen_open(&second, spec, "0600"), ERR_INVALID_ARGUMENT);
    assert_int_equal(lstat(path, &after), 0);
    assert_true(before.st_ino == after.st_ino);
    assert_true(can_connect(path));

    /* the first dies without cleaning up: its file is stale (nobody listens) */
    close(first.fd);
    first.fd = -1;
    assert_false(can_connect(path));
    assert_int_equal(listen_open(&second, spec, "0600"), 0);
    assert_true(can_connect(path));
    /* the first's late clean-up (no descriptor held any more) leaves the
     * successor's file alone, even when the file system reused the inode */
    listen_close(&first);
    assert_int_equal(lstat(path, &after), 0);
    assert_true(can_connect(path));
    listen_close(&second);
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_tcp_forms),
        cmocka_unit_test(test_unix_socket_made_served_and_removed),
        cmocka_unit_test(test_unix_paths_refused),
        cmocka_unit_test(test_regular_file_is_never_replaced),
        cmocka_unit_test(test_live_socket_refused_stale_one_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
