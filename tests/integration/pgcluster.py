"""A throwaway PostgreSQL for the cluster tests (--cluster-db): initdb into a
temporary directory, run by an unprivileged user (`nobody`) when the tests
run as root (postgres refuses root), a unix socket in that directory and no
TCP, fsync off.  Used by test_cluster_keys.py and test_cluster_front.py: the
`pg` fixture (import it into the test module) and pg_run for the tools."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

# Debian's server binaries (postgresql-15 on Debian 12), the newest if several.
PG_BIN = (sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])) or
          ["/usr/lib/postgresql/15/bin/initdb"])[-1].rsplit("/", 1)[0]
PG_USER = "optirs"     # the database superuser initdb creates


def pg_run(*args, check=True):
    """Runs a PostgreSQL tool as an unprivileged user (postgres refuses root)."""
    cmd = [os.path.join(PG_BIN, args[0]), *args[1:]]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "nobody", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, timeout=60, check=check)


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="optirs-pg-")
        self.data = os.path.join(self.dir, "data")
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        # A unix socket in our directory only: no port is taken from anyone.
        self.opts = "-k %s -c listen_addresses='' -c fsync=off" % self.dir
        # The URI form for some daemons, the conninfo form for others.
        self.uri = "postgresql://%s@/postgres?host=%s" % (PG_USER, self.dir)
        self.conninfo = "host=%s user=%s dbname=postgres" % (self.dir, PG_USER)

    def init(self):
        pg_run("initdb", "-D", self.data, "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self):
        pg_run("pg_ctl", "-D", self.data, "-o", self.opts, "-l", os.path.join(self.dir, "pg.log"), "-w", "start")
        return self

    def kill(self):
        """Stops the server at once (as a crash would): no clean shutdown of its connections."""
        pg_run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)

    def cleanup(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pg():
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        pytest.fail("PostgreSQL's server is not installed (make test installs Debian's postgresql package)")
    p = Postgres()
    try:
        yield p.init().start()
    finally:
        p.cleanup()


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def wait_until(fn, bound):
    """Polls fn until it is true or `bound` seconds passed; returns its last value."""
    deadline = time.monotonic() + bound
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.02)
