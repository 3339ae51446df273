#!/usr/bin/python3
"""How long a key revoked on one daemon of a cluster (--cluster-db) keeps
working on another: a throwaway PostgreSQL (as tests/integration/
test_cluster_keys.py starts it) and two daemons A and B; N times: create a
key on A, wait until B accepts it, revoke it on B, then poll A (a new
connection per request) until it answers 401, timing from the revocation's
answer.  Prints the median and the largest delay, and how many polls ran.

    OPTIRSD=build/optirsd /usr/bin/python3 bench/cluster_revocation.py [N]

Not part of `make bench` (it needs the postgresql package, which `make test`
installs)."""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from daemon import Daemon  # noqa: E402
from test_cluster_keys import Postgres, auth, status, wait_until  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    pg = Postgres().init().start()
    a = b = None
    try:
        a = Daemon("--cluster-db", pg.uri).start()
        b = Daemon("--cluster-db", pg.uri).start()
        st, first = a.json("POST", "/v1/keys", {"tenant": "ops", "admin": True})
        assert st == 201, first
        admin = first["key"]
        delays, polls = [], 0
        for _ in range(n):
            st, k = a.json("POST", "/v1/keys", {"tenant": "t"}, headers=auth(admin))
            assert st == 201, k
            assert wait_until(lambda: status(b, k["key"]) == 200, 5)
            assert status(a, k["key"]) == 200
            assert b.json("DELETE", "/v1/keys/" + k["id"], headers=auth(admin))[0] == 200
            t0 = time.monotonic()
            while status(a, k["key"]) != 401:
                polls += 1
                if time.monotonic() - t0 > 10:
                    raise SystemExit("a revoked key still works after 10 s")
            delays.append(time.monotonic() - t0)
        print("revocations %d: delay until refused on the other daemon: median %.1f ms, max %.1f ms "
              "(%d polls answered 200 after the revocation)" %
              (n, statistics.median(delays) * 1e3, max(delays) * 1e3, polls))
    finally:
        for d in (a, b):
            if d:
                d.cleanup()
        pg.cleanup()


if __name__ == "__main__":
    main()
