"""The session lifecycle against the real daemon: PATCH /v1/sessions/{id}
(name, tags, status; the changes refused; what a finished session refuses),
the list newest first with its filters, search and pages, the change kept
across a restart, another tenant's session, the retention policy
(--session-ttl), the bad combinations of a create, --version and the
operations metrics of /metrics."""
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import OPTIRSD, ROOT  # noqa: E402
from test_auth import auth, started_with_key  # noqa: E402

T = [{"shape": [2]}]


def patch(d, sid, body, headers=None):
    return d.json("PATCH", f"/v1/sessions/{sid}", body, headers)


def listing(d, headers=None, **q):
    st, body = d.json("GET", "/v1/sessions?" + urllib.parse.urlencode(q), headers=headers)
    assert st == 200, body
    return body


def test_patch_name_tags_status_and_what_a_finished_session_refuses(daemon):
    s = daemon.create(optimizer="sgd", tensors=T, name="before", tags={"a": "1"})
    sid = s["id"]
    assert daemon.step(sid, 1, [1, 1])[0] == 200
    st, body = patch(daemon, sid, {"name": "after", "tags": {"team": "vision"}})
    assert st == 200 and body["name"] == "after" and body["tags"] == {"team": "vision"}
    assert body["status"] == "active" and body["step"] == 1
    st, body = patch(daemon, sid, {"status": "finished"})
    assert st == 200 and body["status"] == "finished"
    st, body = daemon.step(sid, 2, [1, 1])
    assert st == 409 and body["error"]["code"] == "session_closed"
    st, body = daemon.step(sid, 1, [1, 1])          # the retry of its last step still answers
    assert st == 200 and body["step"] == 1
    assert daemon.json("GET", f"/v1/sessions/{sid}/params")[0] == 200
    assert daemon.json("POST", f"/v1/sessions/{sid}/feedback", {"step": 1, "loss": 0.5})[0] == 200
    st, body = patch(daemon, sid, {"status": "active"})
    assert st == 409 and body["error"]["code"] == "session_closed" and "finished" in body["error"]["message"]
    assert patch(daemon, sid, {"status": "archived"})[1]["status"] == "archived"
    st, body = patch(daemon, sid, {"status": "finished"})
    assert st == 409 and body["error"]["code"] == "session_closed"
    assert daemon.json("GET", f"/v1/sessions/{sid}")[1]["status"] == "archived"


def test_patch_hostile_bodies_change_nothing(daemon):
    s = daemon.create(optimizer="sgd", tensors=T, name="kept")
    sid = s["id"]
    cases = [
        ({}, 400, "missing_field"),
        ({"status": "done"}, 400, "invalid_argument"),
        ({"status": "diverged"}, 400, "invalid_argument"),
        ({"status": None}, 400, "invalid_argument"),
        ({"name": 3}, 400, "invalid_argument"),
        ({"name": "x" * 128}, 400, "out_of_range"),
        ({"tags": ["a"]}, 400, "invalid_argument"),
        ({"tags": {"k": 1}}, 400, "invalid_argument"),
        ({"tags": {"k" * 65: "v"}}, 400, "invalid_argument"),
        ({"tags": {f"k{i}": "v" for i in range(33)}}, 400, "out_of_range"),
        ({"optimizer": "adam"}, 400, "unknown_field"),
        ({"name": "x", "step": 5}, 400, "unknown_field"),
        ([1, 2], 400, "invalid_argument"),
    ]
    for body, status, code in cases:
        st, ans = patch(daemon, sid, body)
        assert (st, ans["error"]["code"]) == (status, code), (body, ans)
    for raw, code in ((b'{"name":"a","name":"b"}', "invalid_json"), (b'{"name":', "invalid_json"),
                      (b'{"name":"\xff"}', "invalid_utf8"), (b'{"name":"a\\u0000b"}', "invalid_utf8"),
                      (b'{"name":"a"} x', "invalid_json")):
        st, _, data = daemon.request("PATCH", f"/v1/sessions/{sid}", raw, {"Content-Type": "application/json"})
        assert st == 400 and code.encode() in data, (raw, data)
    st, _, data = daemon.request("PATCH", f"/v1/sessions/{sid}", b'{"name":"a"}',
                                 {"Content-Type": "application/octet-stream"})
    assert st == 415
    st, body = patch(daemon, "no-such-session", {"name": "x"})
    assert st == 404 and body["error"]["code"] == "session_not_found"
    got = daemon.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["name"] == "kept" and got["status"] == "active" and got["tags"] == {}


def test_list_newest_first_filters_search_pages_and_restart(make_daemon):
    d = make_daemon().start()
    ids = []
    specs = [dict(optimizer="sgd", name="mnist-sgd", tags={"team": "vision"}),
             dict(optimizer="adam", name="mnist-adam", tags={"team": "vision", "seed": "1"}),
             dict(optimizer="adam", name="lm", tags={"team": "text"}),
             dict(optimizer="sgd")]
    for sp in specs:
        ids.append(d.create(tensors=T, **sp)["id"])
    created = {i: d.json("GET", f"/v1/sessions/{i}")[1]["created_ms"] for i in ids}
    want = sorted(ids, key=lambda i: (created[i], i), reverse=True)
    assert [s["id"] for s in listing(d)["sessions"]] == want
    assert {s["id"] for s in listing(d, optimizer="adam")["sessions"]} == {ids[1], ids[2]}
    assert [s["id"] for s in listing(d, name="lm")["sessions"]] == [ids[2]]
    assert {s["id"] for s in listing(d, q="MNIST")["sessions"]} == {ids[0], ids[1]}
    assert {s["id"] for s in listing(d, q="vision")["sessions"]} == {ids[0], ids[1]}
    assert [s["id"] for s in listing(d, tag="seed")["sessions"]] == [ids[1]]
    assert [s["id"] for s in listing(d, tag="team:text")["sessions"]] == [ids[2]]
    assert patch(d, ids[0], {"status": "finished"})[0] == 200
    assert [s["id"] for s in listing(d, status="finished")["sessions"]] == [ids[0]]
    assert [s["id"] for s in listing(d, status="active", optimizer="sgd")["sessions"]] == [ids[3]]
    # pages of one, in order, ending with a null token
    seen, tok = [], None
    while True:
        q = {"limit": 1, **({"page_token": tok} if tok else {})}
        page = listing(d, **q)
        seen += [s["id"] for s in page["sessions"]]
        tok = page["next_page_token"]
        if tok is None:
            break
    assert seen == want
    for bad in ("status=done", "page_token=zzz", "page_token=1.", "limit=0", "limit=1001",
                "q=" + "a" * 300, "page_token=" + "9" * 30 + ".x"):
        st, body = d.json("GET", "/v1/sessions?" + bad)
        assert st == 400, (bad, body)
    # a restart keeps names, tags, statuses and the order
    assert patch(d, ids[2], {"name": "lm-2", "tags": {}})[0] == 200
    d.stop()
    d.start()
    assert [s["id"] for s in listing(d)["sessions"]] == want
    assert listing(d, status="finished")["sessions"][0]["id"] == ids[0]
    got = d.json("GET", f"/v1/sessions/{ids[2]}")[1]
    assert got["name"] == "lm-2" and got["tags"] == {}
    assert d.step(ids[0], 1, [1, 1])[1]["error"]["code"] == "session_closed"


def test_another_tenants_session_cannot_be_changed_or_listed(make_daemon):
    d, admin = started_with_key(make_daemon)
    keys = {}
    for t in ("alice", "bob"):
        st, body = d.json("POST", "/v1/keys", {"tenant": t}, headers=auth(admin))
        keys[t] = body["key"]
    st, s = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": T, "name": "mine"},
                   headers=auth(keys["alice"]))
    sid = s["id"]
    st, body = patch(d, sid, {"status": "archived"}, headers=auth(keys["bob"]))
    assert st == 404 and body["error"]["code"] == "session_not_found"
    assert listing(d, headers=auth(keys["bob"]), q="mine")["sessions"] == []
    assert patch(d, sid, {"name": "x"})[0] == 401
    assert patch(d, sid, {"name": "ours"}, headers=auth(keys["alice"]))[0] == 200
    assert [x["id"] for x in listing(d, headers=auth(admin), q="ours")["sessions"]] == [sid]


def test_session_ttl_archives_idle_sessions_then_deletes_them(make_daemon):
    d = make_daemon("--session-ttl", "1").start()
    s = d.create(optimizer="sgd", tensors=T)
    sid = s["id"]
    status = "active"
    deadline = time.time() + 60
    while status == "active" and time.time() < deadline:
        time.sleep(0.1)
        status = d.json("GET", f"/v1/sessions/{sid}")[1]["status"]
    assert status == "archived"
    assert d.step(sid, 1, [1, 1])[1]["error"]["code"] == "session_closed"
    st = 200
    while st == 200 and time.time() < deadline:
        time.sleep(0.1)
        st = d.json("GET", f"/v1/sessions/{sid}")[0]
    assert st == 404
    d.stop()
    log = open(os.path.join(d.dir, "stderr.log")).read()
    assert "optirsd: session" not in log   # nothing failed to restore
    st, cfg = d.start().json("GET", "/v1/config")
    assert cfg["session-ttl"] == 1
    assert listing(d)["sessions"] == []
    r = subprocess.run([OPTIRSD, "--session-ttl", "-1", "--db", os.path.join(d.dir, "x.db")],
                       capture_output=True, timeout=30)
    assert r.returncode != 0 and b"session-ttl" in r.stderr


def test_bad_combinations_are_refused(daemon):
    cases = [
        ({"schedule": "cosine"}, "missing_field", "total_steps"),
        ({"schedule": "cosine", "total_steps": 10, "hyperparams": {"warmup_steps": 10}}, "out_of_range", "warmup"),
        ({"schedule": "step"}, "missing_field", "decay_steps"),
        ({"schedule": "linear_warmup"}, "missing_field", "warmup_steps"),
        ({"hyperparams": {"min_lr_ratio": 0.1}}, "invalid_argument", "cosine"),
        ({"schedule": "cosine", "total_steps": 10, "hyperparams": {"decay_rate": 0.5}}, "invalid_argument", "step"),
        ({"weights": "mlp_lopt"}, "invalid_argument", "weights"),
    ]
    for extra, code, word in cases:
        st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": T, **extra})
        assert st == 400 and body["error"]["code"] == code and word in body["error"]["message"], (extra, body)
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": T, "schedule": "cosine",
                                                   "total_steps": 10, "hyperparams": {"min_lr_ratio": 0.1}})
    assert st == 201


def git_version():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--tags", "--always", "--dirty"], capture_output=True)
    return r.stdout.decode().strip() if r.returncode == 0 else "unknown"


def test_version_flags(daemon):
    out = subprocess.run([OPTIRSD, "--version"], capture_output=True, timeout=30)
    assert out.returncode == 0
    m = re.fullmatch(r"optirsd (\S+)\n", out.stdout.decode())
    assert m, out.stdout
    version = m.group(1)
    # built from this tree: the same commit (the dirty mark may differ after the build)
    assert version.replace("-dirty", "") == git_version().replace("-dirty", "") or version == "unknown"
    cli = os.path.join(os.path.dirname(OPTIRSD), "optirs")
    if os.path.exists(cli):
        out = subprocess.run([cli, "--version"], capture_output=True, timeout=30)
        assert out.returncode == 0 and out.stdout.decode() == f"optirs {version}\n"
    st, _, text = daemon.request("GET", "/metrics")
    assert f'optirs_build_info{{version="{version}"}} 1' in text.decode()


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    assert m, name
    return float(m.group(1))


def test_operations_metrics(daemon):
    a = daemon.create(optimizer="sgd", tensors=T)["id"]
    for k in range(1, 4):
        assert daemon.step(a, k, [1, 1])[0] == 200
    b = daemon.create(optimizer="sgd", tensors=T)["id"]
    daemon.create(optimizer="sgd", tensors=T)
    assert patch(daemon, a, {"status": "finished"})[0] == 200
    assert patch(daemon, b, {"status": "archived"})[0] == 200
    text = daemon.request("GET", "/metrics")[2].decode()
    assert metric(text, 'optirs_sessions{status="active"}') == 1
    assert metric(text, 'optirs_sessions{status="finished"}') == 1
    assert metric(text, 'optirs_sessions{status="archived"}') == 1
    assert metric(text, 'optirs_sessions{status="diverged"}') == 0
    assert metric(text, 'optirs_meta_jobs{state="queued"}') == 0
    assert metric(text, 'optirs_meta_jobs{state="running"}') == 0
    assert metric(text, 'optirs_optimizer_steps_total{optimizer="sgd",kind="classic"}') == 3
    assert metric(text, 'optirs_optimizer_step_seconds_total{optimizer="sgd"}') > 0
    assert metric(text, 'optirs_optimizer_step_seconds_total{optimizer="adam"}') == 0
    pid = daemon.proc.pid
    rss = metric(text, "process_resident_memory_bytes")
    with open(f"/proc/{pid}/status") as f:
        vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
    assert 0.5 * vmrss < rss < 2 * vmrss
    fds = metric(text, "process_open_fds")
    assert abs(fds - len(os.listdir(f"/proc/{pid}/fd"))) <= 4
    cpu = metric(text, "process_cpu_seconds_total")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    assert cpu >= 0 and abs(cpu - ticks) < 1.0
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total",
                 "optirs_build_info", "optirs_sessions", "optirs_meta_jobs"):
        assert f"# TYPE {name} " in text


def test_finishing_a_session_while_workers_step_it(daemon):
    """PATCH status=finished races steps from 4 threads (each on its own
    connection): every step is either applied (200) or refused with 409
    session_closed, the session's step is the number of 200s, and a step sent
    after the PATCH was answered is refused."""
    import http.client
    import json
    import threading
    s = daemon.create(optimizer="sgd", tensors=T)
    sid = s["id"]
    lock = threading.Lock()
    nxt = [1]
    codes = []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
        while True:
            with lock:
                k = nxt[0]
                nxt[0] += 1
            conn.request("POST", f"/v1/sessions/{sid}/step", json.dumps({"step": k, "grads": [0.1, 0.2]}),
                          {"Content-Type": "application/json"})
            r = conn.getresponse()
            body = json.loads(r.read())
            code = body.get("error", {}).get("code") if r.status != 200 else None
            if code == "step_conflict":
                continue            # a neighbour's step overtook this one: not a lifecycle answer
            with lock:
                codes.append((r.status, code))
            if r.status != 200 or k > 400:
                conn.close()
                return

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.05)
    st, body = patch(daemon, sid, {"status": "finished"})
    assert st == 200, body
    for t in ts:
        t.join()
    assert all(c in ((200, None), (409, "session_closed")) for c in codes), set(codes)
    got = daemon.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["status"] == "finished" and got["step"] == sum(1 for c in codes if c[0] == 200)
    st, body = daemon.json("POST", f"/v1/sessions/{sid}/step", {"step": got["step"] + 1, "grads": [0.1, 0.2]})
    assert st == 409 and body["error"]["code"] == "session_closed", body
