"""Issue 13, finding 13: operator-only routes need an admin key (/metrics,
/v1/config), meta-training jobs belong to a tenant (a tenant key sees and
cancels only its tenant's jobs), the job queue is bounded (429 queue_full)
and the job list is paginated."""
import http.client
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from daemon import OPTIRSD

TINY = {"name": "tiny", "tasks": ["quadratic dim=5"], "particles": 4, "unroll": 5, "outer_steps": 6,
        "checkpoint_every": 2, "estimator": "es"}
# Still running when the test acts on it.
LONG = {"name": "long", "tasks": ["logistic_regression dim=10 batch=64"], "particles": 8, "unroll": 200,
        "outer_steps": 1000000, "checkpoint_every": 1}


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def code(body):
    return body["error"]["code"]


def cli_key(db, tenant, admin=False):
    r = subprocess.run([OPTIRSD, "keys", "create", "--tenant", tenant, *(["--admin"] if admin else []), "--db", db],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def keyed(make_daemon, *flags, tenants=()):
    """A daemon with an operator key (admin of tenant ops) and, per tenant, an
    admin key and a plain key: {"ops": k, "b": (admin_k, user_k), …}."""
    d = make_daemon(*flags)
    keys = {"ops": cli_key(d.db, "ops", admin=True)}
    for t in tenants:
        keys[t] = (cli_key(d.db, t, admin=True), cli_key(d.db, t))
    d.start()
    return d, keys


def wait_status(d, jid, want, key, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, job = d.json("GET", f"/v1/meta/jobs/{jid}", headers=auth(key))
        assert st == 200, job
        if job["status"] in want:
            return job
        time.sleep(0.05)
    raise AssertionError("job %s stayed %s" % (jid, job["status"]))


def test_tenant_keys_get_403_on_metrics_and_config(make_daemon):
    d, keys = keyed(make_daemon, tenants=("a",))
    for path in ("/metrics", "/v1/config"):
        st, h, body = d.request("GET", path, headers=auth(keys["a"][1]), fresh=True)
        assert st == 403 and code(json.loads(body)) == "forbidden", (path, body)
        st, h, body = d.request("GET", path, headers=auth(keys["a"][0]), fresh=True)
        assert st == 200, (path, body)
    st, h, body = d.request("GET", "/v1/config", headers=auth(keys["ops"]), fresh=True)
    assert st == 200 and "db" in json.loads(body)


def test_open_mode_still_serves_every_operator_route(daemon):
    assert daemon.request("GET", "/metrics")[0] == 200
    assert daemon.request("GET", "/v1/config")[0] == 200
    st, job = daemon.json("POST", "/v1/meta/jobs", TINY)
    assert st == 202
    st, page = daemon.json("GET", "/v1/meta/jobs")
    assert st == 200 and [j["id"] for j in page["jobs"]] == [job["id"]] and page["next_page_token"] is None
    assert daemon.json("DELETE", f"/v1/meta/jobs/{job['id']}")[0] == 200


def test_a_tenant_cannot_see_or_cancel_another_tenants_job(make_daemon):
    d, keys = keyed(make_daemon, tenants=("a", "b"))
    b_admin, b_user = keys["b"]
    a_admin, a_user = keys["a"]
    st, job = d.json("POST", "/v1/meta/jobs", LONG, headers=auth(b_admin))
    assert st == 202, job
    jid = job["id"]
    wait_status(d, jid, ("running",), b_user)
    st, body = d.json("GET", f"/v1/meta/jobs/{jid}", headers=auth(a_user))
    assert st == 404 and code(body) == "not_found"
    st, body = d.json("DELETE", f"/v1/meta/jobs/{jid}", headers=auth(a_user))
    assert st == 404 and code(body) == "not_found"
    st, page = d.json("GET", "/v1/meta/jobs", headers=auth(a_user))
    assert st == 200 and page["jobs"] == [] and page["next_page_token"] is None
    # The refused cancel changed nothing.
    assert d.json("GET", f"/v1/meta/jobs/{jid}", headers=auth(b_user))[1]["status"] == "running"
    # Admins see every tenant's jobs; the owner's tenant sees its own.
    for key in (keys["ops"], a_admin, b_user):
        st, page = d.json("GET", "/v1/meta/jobs", headers=auth(key))
        assert st == 200 and [j["id"] for j in page["jobs"]] == [jid]
    # A plain key of the owning tenant may cancel it.
    st, body = d.json("DELETE", f"/v1/meta/jobs/{jid}", headers=auth(b_user))
    assert st == 200 and body["status"] in ("cancelling", "cancelled")
    wait_status(d, jid, ("cancelled",), b_user)
    # Creating jobs stays an operator action.
    st, body = d.json("POST", "/v1/meta/jobs", TINY, headers=auth(a_user))
    assert st == 403 and code(body) == "forbidden"


def test_a_full_queue_refuses_jobs(make_daemon):
    d, keys = keyed(make_daemon, "--max-queued-jobs", "2", "--tenant-max-queued-jobs", "1", tenants=("b", "c", "e"))
    ops = keys["ops"]
    st, first = d.json("POST", "/v1/meta/jobs", LONG, headers=auth(ops))
    assert st == 202
    wait_status(d, first["id"], ("running",), ops)   # the running job does not wait in the queue
    st, b1 = d.json("POST", "/v1/meta/jobs", dict(LONG, name="b1"), headers=auth(keys["b"][0]))
    assert st == 202 and b1["status"] == "queued"
    # Per tenant: b has one job waiting.
    st, body = d.json("POST", "/v1/meta/jobs", dict(LONG, name="b2"), headers=auth(keys["b"][0]))
    assert st == 429 and code(body) == "queue_full", body
    st, c1 = d.json("POST", "/v1/meta/jobs", dict(LONG, name="c1"), headers=auth(keys["c"][0]))
    assert st == 202
    # Daemon-wide: two jobs wait.
    st, body = d.json("POST", "/v1/meta/jobs", dict(LONG, name="e1"), headers=auth(keys["e"][0]))
    assert st == 429 and code(body) == "queue_full", body
    # The refused jobs were not stored.
    st, page = d.json("GET", "/v1/meta/jobs", headers=auth(ops))
    assert sorted(j["name"] for j in page["jobs"]) == ["b1", "c1", "long"]
    # A cancelled job frees its place.
    assert d.json("DELETE", f"/v1/meta/jobs/{c1['id']}", headers=auth(ops))[1]["status"] == "cancelled"
    st, e1 = d.json("POST", "/v1/meta/jobs", dict(LONG, name="e1"), headers=auth(keys["e"][0]))
    assert st == 202
    for j in (e1, b1, first):
        assert d.json("DELETE", f"/v1/meta/jobs/{j['id']}", headers=auth(ops))[0] == 200


def test_the_job_list_is_paginated(make_daemon):
    d, keys = keyed(make_daemon, tenants=("b",))
    ops, b_admin, b_user = keys["ops"], keys["b"][0], keys["b"][1]
    ids = []
    for i in range(5):
        st, job = d.json("POST", "/v1/meta/jobs", dict(TINY, name=f"t{i}"), headers=auth(b_admin if i % 2 else ops))
        assert st == 202, job
        ids.append(job["id"])

    def pages(key, limit):
        got, tok, n = [], None, 0
        while True:
            q = f"/v1/meta/jobs?limit={limit}" + (f"&page_token={tok}" if tok else "")
            st, page = d.json("GET", q, headers=auth(key))
            assert st == 200, page
            assert len(page["jobs"]) <= limit
            got += page["jobs"]
            n += 1
            tok = page["next_page_token"]
            if tok is None:
                return got, n

    everything, n = pages(ops, 2)
    assert n == 3 and len(everything) == 5 and sorted(j["id"] for j in everything) == sorted(ids)
    order = [(-j["created_ms"], j["id"]) for j in everything]
    assert order == sorted(order)                              # newest first, then id: a stable order
    unpaged = d.json("GET", "/v1/meta/jobs", headers=auth(ops))[1]
    assert [j["id"] for j in unpaged["jobs"]] == [j["id"] for j in everything]
    mine, _ = pages(b_user, 1)
    assert [j["id"] for j in mine] == [j["id"] for j in everything if j["id"] in (ids[1], ids[3])]
    for q, want in (("limit=0", "out_of_range"), ("limit=1001", "out_of_range"), ("limit=x", "out_of_range"),
                    ("page_token=", "invalid_argument"), ("page_token=nodot", "invalid_argument"),
                    ("page_token=12.a%20b", "invalid_argument"), ("page_token=-1.mj-00", "invalid_argument")):
        st, body = d.json("GET", f"/v1/meta/jobs?{q}", headers=auth(ops))
        assert st == 400 and code(body) == want, (q, body)


def test_concurrent_submits_never_overfill_the_queue(make_daemon):
    d, keys = keyed(make_daemon, "--max-queued-jobs", "3", "--tenant-max-queued-jobs", "0")
    ops = keys["ops"]
    st, first = d.json("POST", "/v1/meta/jobs", LONG, headers=auth(ops))
    assert st == 202
    wait_status(d, first["id"], ("running",), ops)

    def submit(i):
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        try:
            conn.request("POST", "/v1/meta/jobs", body=json.dumps(dict(LONG, name=f"c{i}")),
                         headers={"Content-Type": "application/json", **auth(ops)})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, range(16)))
    accepted = [b for st, b in answers if st == 202]
    assert len(accepted) == 3, answers
    assert all(st == 429 and code(b) == "queue_full" for st, b in answers if st != 202)
    st, page = d.json("GET", "/v1/meta/jobs", headers=auth(ops))
    assert sorted(j["status"] for j in page["jobs"]) == ["queued"] * 3 + ["running"]
    for j in accepted + [first]:
        assert d.json("DELETE", f"/v1/meta/jobs/{j['id']}", headers=auth(ops))[0] == 200
