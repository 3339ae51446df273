"""API keys, tenants, rate limits, quotas and idempotency keys."""
import json
import os
import sqlite3
import subprocess
import time

from daemon import OPTIRSD, Daemon

T = [{"shape": [2]}]


def keys_cli(db, *args):
    r = subprocess.run([OPTIRSD, "keys", *args, "--db", db], capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def started_with_key(make_daemon, *flags):
    d = make_daemon(*flags)
    rc, out, err = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
    assert rc == 0 and out.startswith("ok_") and "cannot be shown again" in err
    return d.start(), out.strip()


def test_open_mode_on_loopback_and_refusal_elsewhere(make_daemon, tmp_path):
    d = make_daemon().start()
    assert d.json("GET", "/v1/sessions")[0] == 200
    r = subprocess.run([OPTIRSD, "--listen", "0.0.0.0:0", "--db", str(tmp_path / "x.db")], capture_output=True,
                       timeout=30)
    assert r.returncode == 1 and b"refusing to serve it open" in r.stderr


def test_every_route_needs_a_key_once_one_exists(make_daemon):
    d, admin = started_with_key(make_daemon)
    assert d.json("GET", "/livez")[0] == 200 and d.json("GET", "/readyz")[0] == 200
    for method, path in (("GET", "/v1/sessions"), ("POST", "/v1/sessions"), ("GET", "/metrics"),
                         ("GET", "/v1/optimizers"), ("GET", "/v1/keys")):
        st, h, body = d.request(method, path, headers={"Content-Type": "application/json"}, fresh=True)
        assert st == 401 and json.loads(body)["error"]["code"] == "unauthorized" and h["www-authenticate"] == "Bearer"
    bad = admin[:-1] + ("0" if admin[-1] != "0" else "1")
    assert d.json("GET", "/v1/sessions", headers=auth(bad))[0] == 401
    assert d.json("GET", "/v1/sessions", headers={"Authorization": admin})[0] == 401
    assert d.json("GET", "/v1/sessions", headers=auth(admin))[0] == 200
    # Only hashes are stored.
    raw = open(d.db, "rb").read() + (open(d.db + "-wal", "rb").read() if os.path.exists(d.db + "-wal") else b"")
    assert admin.encode() not in raw and admin[20:].encode() not in raw


def test_tenants_see_only_their_sessions(make_daemon):
    d, admin = started_with_key(make_daemon)
    keys = {}
    for t in ("alice", "bob"):
        st, body = d.json("POST", "/v1/keys", {"tenant": t}, headers=auth(admin))
        assert st == 201 and body["tenant"] == t and body["admin"] is False
        keys[t] = body["key"]
    st, body = d.json("POST", "/v1/keys", {"tenant": "x"}, headers=auth(keys["alice"]))
    assert st == 403 and body["error"]["code"] == "forbidden"
    st, s = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": T}, headers=auth(keys["alice"]))
    assert st == 201 and s["tenant"] == "alice"
    sid = s["id"]
    assert d.json("POST", f"/v1/sessions/{sid}/step", {"step": 1, "grads": [1, 1]}, headers=auth(keys["alice"]))[0] == 200
    bob = auth(keys["bob"])
    missing = d.json("GET", "/v1/sessions/00000000-0000-4000-8000-000000000000", headers=bob)
    for method, path, body in (("GET", "", None), ("GET", "/params", None), ("GET", "/metrics", None),
                               ("GET", "/feedback", None), ("POST", "/feedback", {"step": 1, "loss": 1}),
                               ("POST", "/step", {"step": 2, "grads": [1, 1]}), ("DELETE", "", None)):
        st, got = d.json(method, f"/v1/sessions/{sid}{path}", body, headers=bob)
        assert st == 404 and got["error"]["code"] == "session_not_found", (method, path)
    assert missing[0] == 404
    assert d.json("GET", "/v1/sessions", headers=bob)[1]["sessions"] == []
    assert [x["id"] for x in d.json("GET", "/v1/sessions", headers=auth(keys["alice"]))[1]["sessions"]] == [sid]
    assert [x["id"] for x in d.json("GET", "/v1/sessions", headers=auth(admin))[1]["sessions"]] == [sid]
    assert d.json("GET", f"/v1/sessions/{sid}/params", headers=auth(admin))[1]["step"] == 1


def test_revocation_over_the_api_and_the_cli(make_daemon):
    d, admin = started_with_key(make_daemon)
    st, k = d.json("POST", "/v1/keys", {"tenant": "carol"}, headers=auth(admin))
    assert d.json("GET", "/v1/sessions", headers=auth(k["key"]))[0] == 200
    assert d.json("DELETE", f"/v1/keys/{k['id']}", headers=auth(admin))[0] == 200
    assert d.json("GET", "/v1/sessions", headers=auth(k["key"]))[0] == 401
    st, k2 = d.json("POST", "/v1/keys", {"tenant": "carol"}, headers=auth(admin))
    rc, out, err = keys_cli(d.db, "revoke", k2["id"])
    assert rc == 0, err
    time.sleep(1.2)  # the daemon re-reads a cached key after at most one second
    assert d.json("GET", "/v1/sessions", headers=auth(k2["key"]))[0] == 401
    rc, out, err = keys_cli(d.db, "ls")
    assert k["id"] in out and "revoked" in out


def test_rate_limit_answers_429_with_retry_after(make_daemon):
    d, admin = started_with_key(make_daemon, "--rate-limit", "0.5", "--rate-burst", "3")
    codes = [d.request("GET", "/v1/config", headers=auth(admin), fresh=True) for _ in range(4)]
    assert [c[0] for c in codes[:3]] == [200, 200, 200]
    st, h, body = codes[3]
    assert st == 429 and json.loads(body)["error"]["code"] == "rate_limited" and int(h["retry-after"]) >= 1


def test_tenant_quota(make_daemon):
    d, admin = started_with_key(make_daemon, "--tenant-max-sessions", "1", "--tenant-max-params", "10")
    st, k = d.json("POST", "/v1/keys", {"tenant": "dave"}, headers=auth(admin))
    h = auth(k["key"])
    assert d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": [{"shape": [11]}]}, headers=h)[0] == 403
    assert d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": T}, headers=h)[0] == 201
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": T}, headers=h)
    assert st == 403 and body["error"]["code"] == "quota_exceeded"


def test_idempotency_keys(daemon):
    body = {"optimizer": "adam", "tensors": T, "name": "once"}
    st, h1, a = daemon.request("POST", "/v1/sessions", body, {"Idempotency-Key": "create-1"})
    st2, h2, b = daemon.request("POST", "/v1/sessions", body, {"Idempotency-Key": "create-1"})
    assert st == st2 == 201 and a == b and h2["idempotent-replayed"] == "true" and "idempotent-replayed" not in h1
    assert len(daemon.json("GET", "/v1/sessions")[1]["sessions"]) == 1
    st, h, c = daemon.request("POST", "/v1/sessions", {**body, "name": "other"}, {"Idempotency-Key": "create-1"})
    assert st == 422 and json.loads(c)["error"]["code"] == "idempotency_key_reused"
    # A failed request is not recorded: the key stays free.
    st, h, c = daemon.request("POST", "/v1/sessions", {"optimizer": "nope", "tensors": T}, {"Idempotency-Key": "k2"})
    assert st == 400
    st, h, c = daemon.request("POST", "/v1/sessions", body, {"Idempotency-Key": "k2"})
    assert st == 201
    sid = json.loads(a)["id"]
    assert daemon.step(sid, 1, [1, 1])[0] == 200
    fb = {"step": 1, "loss": 0.5}
    r1 = daemon.request("POST", f"/v1/sessions/{sid}/feedback", fb, {"Idempotency-Key": "fb"})
    r2 = daemon.request("POST", f"/v1/sessions/{sid}/feedback", fb, {"Idempotency-Key": "fb"})
    assert r1[0] == r2[0] == 200 and r1[2] == r2[2] and r2[1]["idempotent-replayed"] == "true"
    r3 = daemon.request("POST", f"/v1/sessions/{sid}/feedback", {"step": 1, "loss": 0.7}, {"Idempotency-Key": "fb"})
    assert r3[0] == 422
    assert daemon.request("POST", "/v1/sessions", body, {"Idempotency-Key": ""})[0] == 400
