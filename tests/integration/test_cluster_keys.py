"""A cluster of daemons sharing API keys through PostgreSQL (--cluster-db).

A throwaway PostgreSQL (initdb into a temporary directory, run by an
unprivileged user when the tests run as root, a unix socket in that directory,
no TCP) and three daemons, each with its own SQLite file: a key created on one
works on the others, its revocation on a second is refused by the other two
within a second, and with PostgreSQL gone the daemons keep serving steps with
the keys they last saw while key writes answer 503 cluster_db_unavailable; the
daemon with the shortest --cluster-db-grace then refuses every key with 503
too, until PostgreSQL is back.  docs/operations.md, "A cluster of daemons"."""
import os
import subprocess
import time

from daemon import OPTIRSD
from pg_cluster import PG_USER, auth, error_code, pg, pg_run, wait_until  # noqa: F401 (pg: the fixture)


def status(d, key):
    return d.request("GET", "/v1/sessions?scope=local", headers=auth(key), fresh=True)[0]


def test_keys_are_shared_revoked_everywhere_and_survive_a_lost_database(make_daemon, pg):
    a = make_daemon("--cluster-db", pg.uri).start()
    b = make_daemon("--cluster-db", pg.conninfo).start()
    c = make_daemon("--cluster-db", pg.uri, "--cluster-db-grace", "10").start()
    # The DSN is not shown by GET /v1/config (it may hold a password).
    assert a.json("GET", "/v1/config")[1]["cluster-db"] == "(set)"

    # No key anywhere yet: open on loopback.  The first key, made on A, closes every daemon.
    st, first = a.json("POST", "/v1/keys", {"tenant": "ops", "admin": True})
    assert st == 201, first
    admin = first["key"]
    bogus = "ok_" + "0" * 16 + "_" + "0" * 48
    for d in (b, c):
        # Open mode lets any key in, so wait for the bogus key's refusal: B and C are closed.
        assert wait_until(lambda d=d: status(d, bogus) == 401, 5)
        assert d.json("GET", "/v1/sessions")[0] == 401 and status(d, admin) == 200

    # A tenant's key created on A works on B and C.
    st, alice = a.json("POST", "/v1/keys", {"tenant": "alice"}, headers=auth(admin))
    assert st == 201, alice
    for d in (b, c):
        assert wait_until(lambda d=d: status(d, alice["key"]) == 200, 5)
    st, sess = c.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [2]}]},
                      headers=auth(alice["key"]))
    assert st == 201, sess
    assert c.json("POST", f"/v1/sessions/{sess['id']}/step", {"step": 1, "grads": [1, 1]},
                  headers=auth(alice["key"]))[0] == 200
    # The copy's age is in /metrics (re-read every 5 s while PostgreSQL answers).
    st, h, m = a.request("GET", "/metrics", headers=auth(admin))
    ages = [float(line.split()[1]) for line in m.decode().splitlines()
            if line.startswith("optirs_cluster_keys_age_seconds ")]
    assert st == 200 and len(ages) == 1 and 0 <= ages[0] < 60, ages
    # Every daemon lists the same keys.
    ids = [[k["id"] for k in d.json("GET", "/v1/keys", headers=auth(admin))[1]["keys"]] for d in (a, b, c)]
    assert ids[0] == ids[1] == ids[2] == [first["id"], alice["id"]]

    # Revoked on B: refused at once on B, within a second on A and C.
    st, body = b.json("DELETE", f"/v1/keys/{alice['id']}", headers=auth(admin))
    assert st == 200 and body["revoked"] is True
    assert status(b, alice["key"]) == 401
    for d in (a, c):
        assert wait_until(lambda d=d: status(d, alice["key"]) == 401, 1.0), "revocation did not reach a daemon"
    assert error_code(c, "POST", f"/v1/sessions/{sess['id']}/step", {"step": 2, "grads": [1, 1]},
                      alice["key"]) == (401, "unauthorized")
    assert error_code(a, "DELETE", f"/v1/keys/{alice['id']}", key=admin) == (404, "not_found")

    # The command line writes to the cluster too.
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", "bob", "--cluster-db", pg.uri,
                        "--db", os.path.join(a.dir, "cli.db")], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    bob = r.stdout.decode().strip()
    for d in (a, b, c):
        assert wait_until(lambda d=d: status(d, bob) == 200, 5)
    st, bsess = a.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [2]}]}, headers=auth(bob))
    assert st == 201, bsess

    # PostgreSQL gone: steps with a known key go on; key writes answer 503.
    pg.kill()
    for k in range(1, 4):
        st, body = a.json("POST", f"/v1/sessions/{bsess['id']}/step", {"step": k, "grads": [1, 1]}, headers=auth(bob))
        assert st == 200, body
    assert error_code(a, "POST", "/v1/keys", {"tenant": "carol"}, admin) == (503, "cluster_db_unavailable")
    assert error_code(b, "DELETE", f"/v1/keys/{first['id']}", key=admin) == (503, "cluster_db_unavailable")
    assert status(b, bob) == 200
    # C's grace (10 s) runs out: every key is refused with 503 until the database is back …
    assert wait_until(lambda: error_code(c, "GET", "/v1/sessions?scope=local", key=bob) == (503, "cluster_db_unavailable"), 40)
    # … while A, whose grace (60 s) has not run out, still steps.
    assert a.json("POST", f"/v1/sessions/{bsess['id']}/step", {"step": 4, "grads": [1, 1]},
                  headers=auth(bob))[0] == 200

    # PostgreSQL back: C reconnects and serves again, and writes work.
    pg.start()
    assert wait_until(lambda: status(c, bob) == 200, 20)
    assert wait_until(lambda: a.json("POST", "/v1/keys", {"tenant": "carol"}, headers=auth(admin))[0] == 201, 10)


def test_a_daemon_closed_by_its_own_keys_stays_closed_in_a_cluster_without_keys(make_daemon, pg):
    d = make_daemon("--cluster-db", pg.uri)
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", "ops", "--db", d.db], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    local = r.stdout.decode().strip()
    d.start()
    assert d.json("GET", "/v1/sessions")[0] == 401
    assert status(d, local) == 401     # the file's own key is not the cluster's
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", "ops", "--cluster-db", pg.uri, "--db", d.db],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert wait_until(lambda: status(d, r.stdout.decode().strip()) == 200, 5)


def test_a_daemon_does_not_start_on_an_unreachable_cluster_db(tmp_path):
    r = subprocess.run([OPTIRSD, "--listen", "127.0.0.1:0", "--db", str(tmp_path / "x.db"),
                        "--cluster-db", "host=%s user=optirs dbname=postgres" % tmp_path], capture_output=True,
                       timeout=30)
    assert r.returncode == 1 and b"cannot use the cluster database" in r.stderr, r.stderr


def test_a_newer_schema_is_refused(make_daemon, pg):
    a = make_daemon("--cluster-db", pg.uri).start()
    a.stop()
    r = pg_run("psql", "-h", pg.dir, "-U", PG_USER, "-d", "postgres", "-c", "UPDATE optirs_schema SET version = 99")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([OPTIRSD, "--listen", "127.0.0.1:0", "--db", a.db, "--cluster-db", pg.uri],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"newer than this daemon" in r.stderr, r.stderr
