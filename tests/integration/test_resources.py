"""Resource accounting (issue 13, findings 4, 5 and 7), against the real daemon.

- A session's bytes (params, optimizer state, worker buffers, snapshot) are
  computed from its spec before anything is allocated, and checked against
  --max-session-bytes (413 session_too_large) and the daemon-wide
  --memory-budget (403 memory_budget_exceeded), with the figure.
- A step's body is checked against its session's size from Content-Length
  before it is read.
- --tenant-max-sessions holds under concurrent creates.
- A session whose snapshot cannot be stored is a 4xx, never a 503."""
import http.client
import json
import sqlite3
import threading

from daemon import raw_request
from test_auth import auth, started_with_key

MiB = 1 << 20


def vm_hwm_kib(pid):
    """Peak resident set of the process (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def error_of(body):
    return body["error"]["code"], body["error"]


# ---- finding 5: the session's bytes, before allocation ---------------------------------

def test_big_lstm_is_refused_with_its_figure_before_allocating(make_daemon):
    """lstm_lopt hidden 256 x depth 4 keeps 8 KiB per parameter: 250k
    parameters once peaked at 3.9 GB before a 503."""
    d = make_daemon("--max-session-bytes", str(1024 * MiB)).start()
    # "@default": the untrained weights of the hyperparameters' shape (the
    # shipped lstm_lopt record is hidden 8, depth 2)
    spec = {"optimizer": "lstm_lopt", "hyperparams": {"hidden": 256, "depth": 4}, "weights": "@default",
            "tensors": [{"name": "w", "shape": [250000]}]}
    st, body = d.json("POST", "/v1/sessions", spec)
    code, err = error_of(body)
    assert st == 413 and code == "session_too_large", body
    assert err["needed_bytes"] >= 250000 * 8192          # h and c of 4 layers of 256 units
    assert str(err["needed_bytes"]) in err["message"] and str(1024 * MiB) in err["message"]
    assert vm_hwm_kib(d.proc.pid) < 500 * 1024             # nothing of the 2 GB was touched
    assert d.json("GET", "/v1/sessions")[1]["sessions"] == []
    # the same optimizer at a size that fits is created
    spec["tensors"] = [{"name": "w", "shape": [1000]}]
    assert d.json("POST", "/v1/sessions", spec)[0] == 201


def test_many_workers_on_a_big_session_are_refused(make_daemon):
    """workers: 64 allocates 64 x n gradient buffers."""
    d = make_daemon("--max-session-bytes", str(256 * MiB)).start()
    spec = {"optimizer": "sgd", "tensors": [{"shape": [2000000]}], "workers": 64}
    st, body = d.json("POST", "/v1/sessions", spec)
    code, err = error_of(body)
    assert st == 413 and code == "session_too_large", body
    assert err["needed_bytes"] >= 64 * 2000000 * 4 and "worker buffers 512" in err["message"]
    assert vm_hwm_kib(d.proc.pid) < 200 * 1024
    spec["workers"] = 1
    st, body = d.json("POST", "/v1/sessions", spec)
    assert st == 201, body


def test_daemon_budget_counts_live_sessions_and_frees_on_delete(make_daemon):
    d = make_daemon("--memory-budget", str(50 * MiB), "--max-session-bytes", str(40 * MiB)).start()
    spec = {"optimizer": "sgd", "tensors": [{"shape": [1000000]}]}   # ~ 20 MB with its snapshot
    a = d.create(**spec)
    b = d.create(**spec)
    st, body = d.json("POST", "/v1/sessions", spec)
    code, err = error_of(body)
    assert st == 403 and code == "memory_budget_exceeded", body
    assert err["needed_bytes"] > 12 * MiB and str(50 * MiB) in err["message"]
    # a refused create reserved nothing; a delete gives its bytes back
    assert d.json("DELETE", f"/v1/sessions/{a['id']}")[0] == 200
    assert d.json("POST", "/v1/sessions", spec)[0] == 201
    assert d.json("POST", "/v1/sessions", spec)[0] == 403
    # small sessions still fit while the budget has room for them
    assert d.json("DELETE", f"/v1/sessions/{b['id']}")[0] == 200
    assert d.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": [{"shape": [10]}]})[0] == 201


def test_restart_restores_sessions_and_counts_them(make_daemon):
    d = make_daemon("--memory-budget", str(50 * MiB), "--max-session-bytes", str(40 * MiB)).start()
    spec = {"optimizer": "sgd", "tensors": [{"shape": [1000000]}]}
    d.create(**spec)
    d.create(**spec)
    assert d.stop() == 0
    d.start()
    assert len(d.json("GET", "/v1/sessions")[1]["sessions"]) == 2
    st, body = d.json("POST", "/v1/sessions", spec)
    assert st == 403 and body["error"]["code"] == "memory_budget_exceeded", body


# ---- finding 5: step bodies checked against the session before they are read -----------

def headers_only(port, path, ctype, length, read_timeout=10):
    """Sends a request's headers announcing `length` body bytes, and none of
    the body; returns what the server answers (b"" when it waits for it)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"X-Optirs-Step: 1\r\nContent-Length: {length}\r\n\r\n").encode()
    return raw_request(port, head, read_timeout=read_timeout)


def answer_code(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


def test_binary_body_of_the_wrong_size_is_refused_before_it_is_sent(daemon):
    """Six concurrent 512 MiB bodies to a 4-parameter session once cost 2 GB."""
    sid = daemon.create(optimizer="sgd", tensors=[{"shape": [4]}])["id"]
    path = f"/v1/sessions/{sid}/step"
    results = [None] * 6

    def one(i):
        results[i] = headers_only(daemon.port, path, "application/octet-stream", 512 * MiB)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for raw in results:
        assert raw, "the server waited for the body instead of answering"
        status, err = answer_code(raw)
        assert status == 400 and err["code"] == "length_mismatch" and "exactly 16 bytes" in err["message"], err
    # shorter than the session: 400 at once, too
    status, err = answer_code(headers_only(daemon.port, path, "application/octet-stream", 8))
    assert status == 400 and err["code"] == "length_mismatch", err
    assert vm_hwm_kib(daemon.proc.pid) < 200 * 1024
    # the right size is read and applied
    st, h, data = daemon.step_binary(sid, 1, [1, 2, 3, 4])
    assert st == 200, data


def test_json_step_body_is_capped_by_the_session_size(daemon):
    sid = daemon.create(optimizer="sgd", tensors=[{"shape": [4]}])["id"]
    raw = headers_only(daemon.port, f"/v1/sessions/{sid}/step", "application/json", 8 * MiB)
    assert raw, "the server waited for the body instead of answering"
    status, err = answer_code(raw)
    assert status == 413 and err["code"] == "body_too_large", err
    assert daemon.step(sid, 1, [0.5, 0.25, 1e-7, -3.0])[0] == 200


def test_step_body_to_a_missing_session_is_not_read(daemon):
    raw = headers_only(daemon.port, "/v1/sessions/nope/step", "application/octet-stream", 256 * MiB)
    assert raw, "the server waited for the body instead of answering"
    status, err = answer_code(raw)
    assert status == 404 and err["code"] == "session_not_found", err


# ---- finding 4: the tenant quota under concurrent creates ----------------------------

def test_tenant_quota_holds_under_concurrent_creates(make_daemon):
    d, admin = started_with_key(make_daemon, "--tenant-max-sessions", "2")
    st, k = d.json("POST", "/v1/keys", {"tenant": "erin"}, headers=auth(admin))
    assert st == 201
    hdrs = {**auth(k["key"]), "Content-Type": "application/json"}
    # big enough that building and committing a session takes a while
    body = json.dumps({"optimizer": "adam", "tensors": [{"shape": [300000]}]}).encode()
    n = 16
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        c.connect()
        barrier.wait()
        c.request("POST", "/v1/sessions", body=body, headers=hdrs)
        r = c.getresponse()
        out[i] = (r.status, json.loads(r.read()))
        c.close()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [b for st, b in out if st == 201]
    refused = [b for st, b in out if st != 201]
    assert len(created) == 2, out
    assert all(b["error"]["code"] == "quota_exceeded" for b in refused), refused
    st, lst = d.json("GET", "/v1/sessions", headers=auth(k["key"]))
    assert len(lst["sessions"]) == 2
    # the slots come back with a delete
    assert d.json("DELETE", f"/v1/sessions/{created[0]['id']}", headers=auth(k["key"]))[0] == 200
    st, _ = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [2]}]}, headers=auth(k["key"]))
    assert st == 201


# ---- finding 7: snapshots over one SQLite blob; a 4xx, never a 503 -----------------------

def test_session_at_the_param_limit_is_a_4xx_never_503(make_daemon):
    """Adam at 63M parameters answered 503 storage_unavailable (retryable):
    its snapshot did not fit in one SQLite blob."""
    d = make_daemon("--max-params", "100000000", "--max-session-bytes", str(1 << 30)).start()
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "adam", "tensors": [{"shape": [63000000]}]})
    code, err = error_of(body)
    assert st == 413 and code == "session_too_large", body
    assert err["needed_bytes"] > 63000000 * 4 * 5           # 3 vectors, m and v, and the snapshot
    assert vm_hwm_kib(d.proc.pid) < 500 * 1024               # refused from the figures, before allocating
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "adam", "hyperparams": {"amsgrad": 1},
                                               "tensors": [{"shape": [100000000]}]})
    assert st == 413 and body["error"]["code"] == "session_too_large", body
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [100000001]}]})
    assert st == 400 and body["error"]["code"] == "too_many_parameters", body


def test_snapshots_larger_than_a_chunk_survive_a_restart(make_daemon):
    """Snapshots are stored in chunks (--snapshot-chunk-bytes; 64 MiB by
    default, far below SQLite's 1e9-byte blob), read back in order and checked
    by the blob's CRC: here 4 KiB chunks, so a 20k-parameter Adam session
    spans about 60 of them."""
    d = make_daemon("--snapshot-chunk-bytes", "4096").start()
    n = 20000
    sid = d.create(optimizer="adam", tensors=[{"shape": [100, 200]}], durability="step")["id"]
    for k in range(1, 4):
        st, body = d.step(sid, k, [((i * 7 + k) % 13 - 6) * 0.01 for i in range(n)])
        assert st == 200, body
    st, h, before = d.request("GET", f"/v1/sessions/{sid}/params", headers={"Accept": "application/octet-stream"})
    assert st == 200 and len(before) == 4 * n
    assert d.kill9() != 0
    db = sqlite3.connect(d.db)
    nchunks, = db.execute("SELECT nchunks FROM sessions WHERE id = ?", (sid,)).fetchone()
    stored, = db.execute("SELECT count(*) FROM snapshot_chunks WHERE session_id = ?", (sid,)).fetchone()
    db.close()
    assert nchunks > 10 and stored == nchunks
    d.start()
    st, h, after = d.request("GET", f"/v1/sessions/{sid}/params", headers={"Accept": "application/octet-stream"})
    assert st == 200 and after == before and h["x-optirs-step"] == "3"
    st, body = d.step(sid, 4, [0.01] * n)
    assert st == 200, body


def test_refusals_match_the_contract(make_daemon):
    """The new answers validate against proto/openapi.yaml (status, code, body)."""
    from test_openapi_responses import Contract
    c = Contract()
    d = make_daemon("--memory-budget", str(50 * MiB), "--max-session-bytes", str(40 * MiB)).start()
    big = {"optimizer": "adam", "tensors": [{"shape": [10000000]}]}
    st, h, data = d.request("POST", "/v1/sessions", big)
    assert st == 413 and c.check("POST", "/v1/sessions", st, h, data)["error"]["code"] == "session_too_large"
    spec = {"optimizer": "sgd", "tensors": [{"shape": [1000000]}]}
    d.create(**spec)
    d.create(**spec)
    st, h, data = d.request("POST", "/v1/sessions", spec)
    assert st == 403 and c.check("POST", "/v1/sessions", st, h, data)["error"]["code"] == "memory_budget_exceeded"
