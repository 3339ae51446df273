"""Meta-training jobs shared by a cluster of daemons through PostgreSQL
(--cluster-db): a job submitted on one daemon runs there and is listed and
read, with the same fields, through every other; it is cancelled through
another daemon (by notification, and by the periodic re-read when no
notification comes); tenants stay apart across daemons; hostile ids are
refused; with PostgreSQL gone a submit answers 503 and starts nothing, while
a running job finishes on its daemon and its end reaches PostgreSQL once it
is back; a daemon killed with a running job marks it "interrupted" in the
cluster when it restarts.  docs/operations.md, "A cluster of daemons"."""
from pg_cluster import PG_USER, auth, error_code, pg, pg_run, wait_until  # noqa: F401 (pg: the fixture)

TINY = {"name": "tiny", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 6,
        "checkpoint_every": 2, "estimator": "es"}
# Runs until cancelled (each outer step is short, so a cancel lands fast).
LONG = dict(TINY, name="long", outer_steps=1000000, checkpoint_every=1000)
T = [{"name": "w", "shape": [6]}]


def keys(d):
    """An admin key of tenant ops (the first: it closes every daemon), admin keys of
    tenants x and y, and plain keys of x and y."""
    st, ops = d.json("POST", "/v1/keys", {"tenant": "ops", "admin": True})
    assert st == 201, ops
    out = {"ops": ops["key"]}
    for name, tenant, admin in (("x_admin", "x", True), ("y_admin", "y", True), ("x", "x", False), ("y", "y", False)):
        st, k = d.json("POST", "/v1/keys", {"tenant": tenant, "admin": admin}, headers=auth(out["ops"]))
        assert st == 201, k
        out[name] = k["key"]
    return out


def get(d, key, path):
    return d.json("GET", path, headers=auth(key))


def job_of(d, key, jid, scope=""):
    st, job = get(d, key, f"/v1/meta/jobs/{jid}" + (f"?scope={scope}" if scope else ""))
    assert st == 200, job
    return job


def status_is(d, key, jid, want, scope=""):
    return job_of(d, key, jid, scope)["status"] == want


def listed(d, key, limit=1000):
    st, body = get(d, key, f"/v1/meta/jobs?limit={limit}")
    assert st == 200, body
    return body


def same(local, shared):
    """The cluster's copy of a job is the daemon's own, plus the shard that runs it."""
    shared = dict(shared)
    shared.pop("shard")
    return local == shared


def start(make_daemon, pg, n):
    ds = [make_daemon("--cluster-db", pg.uri).start() for _ in range(n)]
    k = keys(ds[0])
    for d in ds[1:]:   # every key reached every daemon
        for key in k.values():
            assert wait_until(lambda d=d, key=key: d.request("GET", "/v1/meta/jobs", headers=auth(key),
                                                             fresh=True)[0] == 200, 5)
    return ds, k


def test_a_job_submitted_on_one_daemon_is_seen_alike_through_every_daemon(make_daemon, pg):
    (a, b, c), k = start(make_daemon, pg, 3)
    st, job = a.json("POST", "/v1/meta/jobs", TINY, headers=auth(k["y_admin"]))
    assert st == 202, job
    jid = job["id"]
    assert jid.startswith("mj-") and len(jid) == 19
    # It runs on A (where it was submitted) and ends there; every daemon reads its end from PostgreSQL.
    assert wait_until(lambda: status_is(a, k["y"], jid, "done", "local"), 60)
    local = job_of(a, k["y"], jid, "local")
    assert local["weights"] == "tiny@1" and len(local["curve"]) == 6 and local["step"] == 6
    for d in (a, b, c):
        assert wait_until(lambda d=d: status_is(d, k["y"], jid, "done"), 10)
        shared = job_of(d, k["y"], jid)
        assert shared["shard"] == "127.0.0.1:%d" % a.port
        assert same(local, shared), (local, shared)
        # The list through any daemon holds it once, with the same fields (no curve in the list).
        items = [j for j in listed(d, k["ops"])["jobs"] if j["id"] == jid]
        assert len(items) == 1
        want = {f: v for f, v in local.items() if f not in ("curve", "meta_loss")}
        assert same(want, items[0])
    # Its record (weights are shared) is usable by a session on B.
    assert wait_until(lambda: b.request("GET", "/v1/weights/tiny?version=1", headers=auth(k["ops"]),
                                        fresh=True)[0] == 200, 5)
    st, s = b.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "tiny@1", "tensors": T},
                   headers=auth(k["y"]))
    assert st == 201, s
    st, out = b.json("POST", f"/v1/sessions/{s['id']}/step", {"step": 1, "grads": [1, -1, 0.5, 2, -2, 0.25]},
                     headers=auth(k["y"]))
    assert st == 200, out

    # Tenants stay apart through every daemon: x sees, reads and cancels none of y's jobs …
    for d in (a, b, c):
        assert [j["id"] for j in listed(d, k["x"])["jobs"]] == []
        assert error_code(d, "GET", f"/v1/meta/jobs/{jid}", key=k["x"]) == (404, "not_found")
        assert error_code(d, "DELETE", f"/v1/meta/jobs/{jid}", key=k["x"]) == (404, "not_found")
        # … while y's plain key sees it.
        assert [j["id"] for j in listed(d, k["y"])["jobs"]] == [jid]
    st, other = b.json("POST", "/v1/meta/jobs", dict(TINY, name="xjob"), headers=auth(k["x_admin"]))
    assert st == 202, other
    assert other["id"] != jid
    assert wait_until(lambda: [j["id"] for j in listed(c, k["x"])["jobs"]] == [other["id"]], 10)
    assert [j["id"] for j in listed(c, k["y"])["jobs"]] == [jid]
    # Keyset pages through another daemon: newest first, each job once.
    assert wait_until(lambda: status_is(b, k["x"], other["id"], "done"), 60)
    first = listed(c, k["ops"], 1)
    assert [j["id"] for j in first["jobs"]] == [other["id"]] and first["next_page_token"]
    st, second = get(c, k["ops"], "/v1/meta/jobs?limit=1&page_token=" + first["next_page_token"])
    assert st == 200 and [j["id"] for j in second["jobs"]] == [jid], second
    # scope=local is this daemon's own file: C ran nothing.
    st, mine = get(c, k["ops"], "/v1/meta/jobs?scope=local")
    assert st == 200 and mine["jobs"] == []
    assert error_code(c, "GET", "/v1/meta/jobs?scope=everywhere", key=k["ops"]) == (400, "invalid_argument")

    # Hostile ids: refused with 404 before any lookup, through every route.
    for bad in ("..%2F..%2Fetc%2Fpasswd", "mj-" + "a" * 5000, "%FF%FEmj", "mj-%00", "mj-%C3%28", "a" * 40):
        for method in ("GET", "DELETE"):
            st, code = error_code(b, method, "/v1/meta/jobs/" + bad, key=k["ops"])
            assert 400 <= st < 500 and code is not None, (bad, method, st, code)


# One small request of every method the queue runs (configs of test_meta_jobs.py, test_maml.py,
# test_meta_adapt.py, test_nas.py and test_meta_continual.py, shrunk).
METHODS = [
    dict(TINY, name="m-pes", estimator="pes", horizon_min=5, horizon_max=10),
    dict(TINY, name="m-tbptt", estimator="tbptt"),
    {"method": "meta_sgd", "task": "sinusoid", "shots": 5, "inner_steps": 1, "inner_lr": 0.01, "meta_batch": 5,
     "outer_lr": 0.001, "outer_steps": 4, "seed": 0, "name": "m-fewshot"},
    {"method": "adapt", "base": "mlp_lopt", "tasks": ["deep_mlp depth=2 width=8 batch=8"], "outer_steps": 2,
     "name": "m-adapt", "seed": 3},
    {"method": "nas", "space": {"optimizer": ["mlp_lopt"], "hidden": [4, 8], "depth": [1]}, "candidates": 2,
     "full": 1, "outer_steps": 2, "full_steps": 2, "eval_steps": 5, "eval_seeds": 1, "particles": 2, "unroll": 5,
     "task": "quadratic dim=4", "seed": 3, "name": "m-nas"},
    {"name": "m-staged", "tasks": ["quadratic dim=5", "logistic_regression dim=5"], "particles": 3, "unroll": 5,
     "estimator": "pes", "horizon_min": 6, "horizon_max": 20, "stages": "quadratic:2; logistic_regression:2",
     "outer_steps": 4, "checkpoint_every": 2},
]


def test_every_method_reaches_the_cluster_as_its_daemon_records_it(make_daemon, pg):
    (a, b), k = start(make_daemon, pg, 2)
    ids = []
    for body in METHODS:
        st, job = a.json("POST", "/v1/meta/jobs", body, headers=auth(k["ops"]))
        assert st == 202, (body["name"], job)
        ids.append(job["id"])
    for jid, body in zip(ids, METHODS):
        assert wait_until(lambda jid=jid: job_of(a, k["ops"], jid, "local")["status"] not in ("queued", "running"),
                          120), body["name"]
        local = job_of(a, k["ops"], jid, "local")
        assert local["status"] == "done", (body["name"], local)
        assert wait_until(lambda jid=jid, local=local: same(local, job_of(b, k["ops"], jid)), 10), body["name"]


def test_a_job_is_cancelled_through_another_daemon(make_daemon, pg):
    (a, b, c), k = start(make_daemon, pg, 3)
    st, job = a.json("POST", "/v1/meta/jobs", LONG, headers=auth(k["y_admin"]))
    assert st == 202, job
    jid = job["id"]
    assert wait_until(lambda: job_of(a, k["y"], jid, "local")["step"] > 0, 30)
    # DELETE through B: 200 (as a local cancel of a running job), "cancelling" until A stops it.
    st, body = b.json("DELETE", f"/v1/meta/jobs/{jid}", headers=auth(k["y"]))
    assert st == 200 and body["status"] in ("cancelling", "cancelled") and body["shard"].endswith(":%d" % a.port), body
    # A hears the notification and stops the job after its outer step.
    assert wait_until(lambda: status_is(a, k["y"], jid, "cancelled", "local"), 10)
    assert wait_until(lambda: status_is(c, k["y"], jid, "cancelled"), 10)
    # A second DELETE of an ended job answers its state.
    st, body = c.json("DELETE", f"/v1/meta/jobs/{jid}", headers=auth(k["y"]))
    assert st == 200 and body["status"] == "cancelled", body

    # A cancel whose notification is lost: the periodic re-read (every 5 s) still stops the job.
    st, job = a.json("POST", "/v1/meta/jobs", dict(LONG, name="long2"), headers=auth(k["y_admin"]))
    assert st == 202, job
    jid = job["id"]
    assert wait_until(lambda: job_of(a, k["y"], jid, "local")["step"] > 0, 30)
    r = pg_run("psql", "-h", pg.dir, "-U", PG_USER, "-d", "postgres", "-c",
               "UPDATE optirs_meta_jobs SET cancel_requested = true WHERE id = '%s'" % jid)
    assert r.returncode == 0, r.stderr
    assert job_of(b, k["y"], jid)["status"] in ("cancelling", "cancelled")   # cancelled: a re-read came already
    assert wait_until(lambda: status_is(a, k["y"], jid, "cancelled", "local"), 15)
    assert wait_until(lambda: status_is(b, k["y"], jid, "cancelled"), 10)


def test_without_postgresql_submits_fail_and_running_jobs_end_locally_then_reach_it(make_daemon, pg):
    (a, b), k = start(make_daemon, pg, 2)
    # A job that ends while PostgreSQL is away (long enough to outlive the kill), and one queued behind it.
    st, ends = a.json("POST", "/v1/meta/jobs", dict(TINY, name="ends", outer_steps=5000, checkpoint_every=1000),
                      headers=auth(k["ops"]))
    assert st == 202, ends
    st, job = a.json("POST", "/v1/meta/jobs", LONG, headers=auth(k["ops"]))
    assert st == 202, job
    jid = job["id"]
    assert wait_until(lambda: job_of(a, k["ops"], ends["id"], "local")["step"] > 0, 30)
    pg.kill()
    # No job can be recorded in the cluster: 503 and nothing started, on either daemon.
    for d in (a, b):
        st, code = error_code(d, "POST", "/v1/meta/jobs", dict(TINY, name="nope"), key=k["ops"])
        assert (st, code) == (503, "cluster_db_unavailable")
        assert error_code(d, "GET", "/v1/meta/jobs", key=k["ops"]) == (503, "cluster_db_unavailable")
        assert error_code(d, "GET", f"/v1/meta/jobs/{jid}", key=k["ops"]) == (503, "cluster_db_unavailable")
    st, mine = get(a, k["ops"], "/v1/meta/jobs?scope=local")
    assert st == 200 and sorted(j["id"] for j in mine["jobs"]) == sorted([jid, ends["id"]])
    assert get(b, k["ops"], "/v1/meta/jobs?scope=local")[1]["jobs"] == []
    # The first job ends on A: "failed", as its record cannot be stored without PostgreSQL
    # (docs/operations.md, "Weights records in a cluster"); then the second one runs.
    assert wait_until(lambda: job_of(a, k["ops"], ends["id"], "local")["status"] not in ("queued", "running"), 120)
    ended = job_of(a, k["ops"], ends["id"], "local")
    assert ended["status"] == "failed" and "cluster database" in ended["error"], ended
    assert wait_until(lambda: job_of(a, k["ops"], jid, "local")["step"] > 0, 30)
    # The job's own daemon still cancels it (its file is the job's authority) …
    st, body = a.json("DELETE", f"/v1/meta/jobs/{jid}", headers=auth(k["ops"]))
    assert st == 200 and body["status"] in ("cancelling", "cancelled"), body
    assert wait_until(lambda: status_is(a, k["ops"], jid, "cancelled", "local"), 10)
    # … while another daemon cannot reach it: 503.
    assert error_code(b, "DELETE", f"/v1/meta/jobs/{jid}", key=k["ops"]) == (503, "cluster_db_unavailable")
    local = job_of(a, k["ops"], jid, "local")
    # PostgreSQL back: the job's end reaches it, curve included.
    pg.start()
    assert wait_until(lambda: b.request("GET", f"/v1/meta/jobs/{jid}", headers=auth(k["ops"]), fresh=True)[0] == 200, 20)
    assert wait_until(lambda: status_is(b, k["ops"], jid, "cancelled"), 20)
    assert wait_until(lambda: len(job_of(b, k["ops"], jid)["curve"]) == len(local["curve"]), 20)
    assert same(local, job_of(b, k["ops"], jid))
    assert wait_until(lambda: same(ended, job_of(b, k["ops"], ends["id"])), 20)
    assert sorted(j["id"] for j in listed(b, k["ops"])["jobs"]) == sorted([jid, ends["id"]])


def test_a_daemon_killed_with_a_running_job_marks_it_interrupted_when_it_restarts(make_daemon, pg):
    (a, b), k = start(make_daemon, pg, 2)
    st, job = a.json("POST", "/v1/meta/jobs", LONG, headers=auth(k["ops"]))
    assert st == 202, job
    jid = job["id"]
    assert wait_until(lambda: job_of(a, k["ops"], jid, "local")["step"] > 0, 30)
    assert wait_until(lambda: status_is(b, k["ops"], jid, "running"), 10)
    port = a.port
    a.kill9()
    # The cluster still says running: nobody told it otherwise.
    assert status_is(b, k["ops"], jid, "running")
    a2 = make_daemon("--cluster-db", pg.uri, "--listen", "127.0.0.1:%d" % port, tmpdir=a.dir, db=a.db).start()
    assert status_is(a2, k["ops"], jid, "interrupted", "local")
    assert wait_until(lambda: status_is(b, k["ops"], jid, "interrupted"), 10)
    assert same(job_of(a2, k["ops"], jid, "local"), job_of(b, k["ops"], jid))
