"""Structured logs against the real daemon: --log-format json gives one JSON
object per stderr line, with one access line per request (method, route
pattern, status, duration, session id, tenant, the error code of an error
answer) and never a key or a body; --log-level filters them; the text format
is logfmt and quotes what could forge a field."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_auth import auth, started_with_key  # noqa: E402

T = [{"shape": [2]}]


def log_lines(d):
    with open(os.path.join(d.dir, "stderr.log"), encoding="utf-8") as f:
        return f.read().splitlines()


def json_lines(d):
    out = []
    for line in log_lines(d):
        obj = json.loads(line)          # every line is one JSON object
        assert isinstance(obj, dict) and {"ts", "level", "msg"} <= set(obj), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"]), obj
        out.append(obj)
    return out


def test_json_access_lines(make_daemon):
    d, admin = started_with_key(make_daemon, "--log-format", "json")
    st, body = d.json("POST", "/v1/keys", {"tenant": "team-a"}, headers=auth(admin))
    key = body["key"]
    secret_name = "body-only-name-7f3a"
    st, s = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": T, "name": secret_name},
                   headers=auth(key))
    sid = s["id"]
    assert d.json("POST", f"/v1/sessions/{sid}/step", {"step": 1, "grads": [0.123456, 2]}, headers=auth(key))[0] == 200
    assert d.json("POST", f"/v1/sessions/{sid}/step", {"step": 5, "grads": [1, 1]}, headers=auth(key))[0] == 409
    assert d.json("GET", "/v1/sessions/nope", headers=auth(key))[0] == 404
    assert d.json("GET", "/v1/sessions", headers={"Authorization": "Bearer ok_wrong"})[0] == 401
    assert d.request("GET", '/v1/sessions/x"y=z%20w/params', headers=auth(key))[0] == 404
    assert d.request("GET", '/v1/"x%0A=y', headers=auth(key))[0] == 404
    d.stop()
    lines = json_lines(d)
    access = [x for x in lines if x["msg"] == "request"]
    for a in access:
        assert a["level"] == "info" and isinstance(a["status"], int) and a["duration_ms"] >= 0, a
        assert set(a) <= {"ts", "level", "msg", "method", "route", "status", "duration_ms", "session", "tenant",
                          "error"}, a
    create = [a for a in access if a["route"] == "/v1/sessions" and a["method"] == "POST"]
    assert create and create[0]["status"] == 201 and create[0]["tenant"] == "team-a" and "error" not in create[0]
    steps = [a for a in access if a["route"] == "/v1/sessions/{id}/step"]
    assert [(a["status"], a.get("error")) for a in steps] == [(200, None), (409, "step_conflict")]
    assert all(a["session"] == sid and a["tenant"] == "team-a" for a in steps)
    missing = [a for a in access if a["route"] == "/v1/sessions/{id}" and a["status"] == 404]
    assert missing and missing[0]["session"] == "nope" and missing[0]["error"] == "session_not_found"
    unauth = [a for a in access if a["status"] == 401]
    assert unauth and unauth[0]["error"] == "unauthorized" and "tenant" not in unauth[0]
    assert any(a["route"] == "unrouted" for a in access)
    # a path the routes refuse is logged as unrouted, its text nowhere (route
    # captures allow [A-Za-z0-9._-] only, so a session id cannot forge a field)
    assert not any(a["route"] == "/v1/sessions/{id}/params" for a in access)
    raw = "\n".join(log_lines(d))
    for secret in (key, key.split("_", 2)[-1], admin, secret_name, "0.123456", "ok_wrong", 'x"y=z', "x%22"):
        assert secret not in raw, secret
    assert any(x["msg"] == "SIGTERM: draining" for x in lines)


def test_log_level_filters_and_text_format(make_daemon):
    d = make_daemon("--log-level", "warn").start()
    s = d.create(optimizer="sgd", tensors=T)
    assert d.step(s["id"], 3, [1, 1])[0] == 409
    d.stop()
    assert not any("msg=request" in line for line in log_lines(d))

    d = make_daemon("--log-level", "debug").start()     # text, the default format
    s = d.create(optimizer="sgd", tensors=T)
    assert d.step(s["id"], 1, [1, 1])[0] == 200
    assert d.request("GET", '/v1/sessions/a"b%20c')[0] == 404
    assert d.request("GET", "/v1/sessions/no-such.id")[0] == 404
    d.stop()
    pair = r'[a-z_]+=(?:[^\s"=\\]+|"(?:[^"\\]|\\.)*")'
    access = [line for line in log_lines(d) if "msg=request" in line]
    assert len(access) >= 3
    for line in access:
        assert re.fullmatch(pair + r"(?: " + pair + r")*", line), line
    step = [line for line in access if "route=/v1/sessions/{id}/step" in line]
    assert len(step) == 1 and " status=200 " in step[0] and f"session={s['id']}" in step[0]
    missing = [line for line in access if "status=404" in line and "session=" in line]
    assert len(missing) == 1 and "session=no-such.id" in missing[0] and "error=session_not_found" in missing[0]
    assert not any('a"b' in line for line in log_lines(d))
    # a value with a space is quoted (JSON string rules)
    assert any(line.endswith('msg="SIGTERM: draining"') for line in log_lines(d))


def test_bad_log_flags_are_refused(make_daemon):
    import subprocess
    from daemon import OPTIRSD
    for flags, word in ((["--log-level", "loud"], "log-level"), (["--log-format", "xml"], "log-format"),
                        (["--log-level", ""], "log-level")):
        r = subprocess.run([OPTIRSD, "--db", "/nonexistent/x.db", *flags], capture_output=True, timeout=30)
        assert r.returncode == 2 and word.encode() in r.stderr, (flags, r.stderr)
    d = make_daemon("--log-format", "json", "--log-level", "error").start()
    st, cfg = d.json("GET", "/v1/config")
    assert cfg["log-format"] == "json" and cfg["log-level"] == "error"
