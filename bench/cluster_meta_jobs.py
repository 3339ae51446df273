#!/usr/bin/python3
"""Meta-training jobs in a cluster (--cluster-db): a throwaway PostgreSQL (the
fixture's Postgres of tests/integration/pg_cluster.py) and two daemons A and B.
First, a job that runs for ten seconds on A: how far the cluster's copy (read
through B) lags A's file, and how many times the job's row and its curve rows
were written in PostgreSQL (pg_stat_user_tables of a fresh database, read once
the job ended and the statistics settled), against its outer steps and
seconds.  Then N times: submit a job on A that runs until cancelled, wait until
it has made progress, DELETE it through B and poll A's own view (?scope=local)
until it says "cancelled", timing from the DELETE's answer.

    OPTIRSD=build/optirsd /usr/bin/python3 bench/cluster_meta_jobs.py [N]

Not part of `make bench` (it needs the postgresql package, which `make test`
installs)."""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from daemon import Daemon  # noqa: E402
from pg_cluster import PG_USER, Postgres, auth, pg_run, wait_until  # noqa: E402

LONG = {"name": "long", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 1000000,
        "checkpoint_every": 1000, "estimator": "es"}


def job(d, key, jid, scope=""):
    st, j = d.json("GET", f"/v1/meta/jobs/{jid}" + (f"?scope={scope}" if scope else ""), headers=auth(key))
    assert st == 200, j
    return j


def psql(pg, sql):
    r = pg_run("psql", "-h", pg.dir, "-U", PG_USER, "-d", "postgres", "-tAc", sql)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def writes(pg):
    """Row inserts + updates of the jobs table, rows inserted or updated in the curve table."""
    return [int(x or 0) for x in psql(pg, "SELECT sum(n_tup_ins + n_tup_upd) FILTER (WHERE relname = 'optirs_meta_jobs'),"
                                          " sum(n_tup_ins + n_tup_upd) FILTER (WHERE relname = 'optirs_meta_curve')"
                                          " FROM pg_stat_user_tables").split("|")]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    pg = Postgres().init().start()
    a = b = None
    try:
        a = Daemon("--cluster-db", pg.uri).start()
        b = Daemon("--cluster-db", pg.uri).start()
        st, first = a.json("POST", "/v1/keys", {"tenant": "ops", "admin": True})
        assert st == 201, first
        key = first["key"]
        assert wait_until(lambda: b.request("GET", "/v1/meta/jobs", headers=auth(key), fresh=True)[0] == 200, 5)
        before = writes(pg)                            # a fresh database: nothing of a job yet
        st, j = a.json("POST", "/v1/meta/jobs", LONG, headers=auth(key))
        assert st == 202, j
        t0 = time.monotonic()
        lags = []
        while time.monotonic() - t0 < 10:              # ten seconds of a running job
            mine = job(a, key, j["id"], "local")["step"]
            theirs = job(b, key, j["id"])["step"]
            lags.append(mine - theirs)
            time.sleep(0.1)
        assert b.json("DELETE", f"/v1/meta/jobs/{j['id']}", headers=auth(key))[0] == 200
        assert wait_until(lambda: job(b, key, j["id"])["status"] == "cancelled", 30)
        ran = time.monotonic() - t0
        steps = job(a, key, j["id"], "local")["step"]
        time.sleep(12)                                 # an idle backend flushes its statistics within 10 s
        after = writes(pg)
        print("a job of %d outer steps in %.1f s: %d row writes, %d curve rows written (in batches); the copy read "
              "through B lagged A's file by a median %d outer steps, at most %d (%.0f steps/s)"
              % (steps, ran, after[0] - before[0], after[1] - before[1], statistics.median(lags), max(lags),
                 steps / ran))
        delays = []
        for _ in range(n):
            st, j = a.json("POST", "/v1/meta/jobs", LONG, headers=auth(key))
            assert st == 202, j
            assert wait_until(lambda: job(a, key, j["id"], "local")["step"] > 0, 30)
            assert b.json("DELETE", f"/v1/meta/jobs/{j['id']}", headers=auth(key))[0] == 200
            t0 = time.monotonic()
            assert wait_until(lambda: job(a, key, j["id"], "local")["status"] == "cancelled", 30)
            delays.append(time.monotonic() - t0)
        print("cancels through another daemon %d: until the job's daemon says cancelled: median %.1f ms, max %.1f ms"
              % (n, statistics.median(delays) * 1e3, max(delays) * 1e3))

    finally:
        for d in (a, b):
            if d:
                d.cleanup()
        pg.cleanup()


if __name__ == "__main__":
    main()
