"""Bad input: each answer is a 4xx JSON error with a stable code, and nothing changes."""
import json
import struct

import pytest

from daemon import raw_request

T = [{"name": "w", "shape": [3]}]


def err(st_body):
    st, body = st_body
    return st, body["error"]["code"]


@pytest.mark.parametrize("body,status,code", [
    ("{", 400, "invalid_json"),
    ("[1,2]", 400, "invalid_json"),
    ('{"optimizer":"adam","tensors":[{"shape":[3]}]} trailing', 400, "invalid_json"),
    ('{"optimizer":"adam","optimizer":"sgd","tensors":[{"shape":[3]}]}', 400, "invalid_json"),
    ({"tensors": T}, 400, "missing_field"),
    ({"optimizer": "adam"}, 400, "missing_field"),
    ({"optimizer": 3, "tensors": T}, 400, "invalid_argument"),
    ({"optimizer": "adamm", "tensors": T}, 400, "unknown_optimizer"),
    ({"optimizer": "adam", "tensors": T, "hyperparams": {"lrr": 0.1}}, 400, "unknown_hyperparameter"),
    ({"optimizer": "adam", "tensors": T, "hyperparams": {"LR": 0.1}}, 400, "unknown_hyperparameter"),
    ({"optimizer": "adam", "tensors": T, "hyperparams": {"lr": -0.1}}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "hyperparams": {"lr": -1e-300}}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "hyperparams": {"beta1": 1.0}}, 400, "out_of_range"),
    ({"optimizer": "sgd", "tensors": T, "hyperparams": {"nesterov": 0.5}}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "hyperparams": {"lr": "big"}}, 400, "invalid_argument"),
    ('{"optimizer":"adam","tensors":[{"shape":[3]}],"hyperparams":{"lr":1e999}}', 422, "non_finite"),
    ({"optimizer": "adam", "tensors": T, "schedule": "exponential"}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "durability": "sometimes"}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "workers": 0}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "workers": 2.5}, 400, "out_of_range"),
    ({"optimizer": "adam", "tensors": T, "colour": "red"}, 400, "unknown_field"),
    ({"optimizer": "adam", "tensors": []}, 400, "invalid_shape"),
    ({"optimizer": "adam", "tensors": [{"shape": []}]}, 400, "invalid_shape"),
    ({"optimizer": "adam", "tensors": [{"shape": [0]}]}, 400, "invalid_shape"),
    ({"optimizer": "adam", "tensors": [{"shape": [-3]}]}, 400, "invalid_shape"),
    ({"optimizer": "adam", "tensors": [{"shape": [2.5]}]}, 400, "invalid_shape"),
    ({"optimizer": "adam", "tensors": [{"shape": [2 ** 40, 2 ** 40, 2 ** 40]}]}, 400, "invalid_shape"),
    ({"optimizer": "adam", "tensors": [{"shape": [1001]}]}, 400, "too_many_parameters"),
    ({"optimizer": "adam", "tensors": [{"name": "a", "shape": [1]}, {"name": "a", "shape": [1]}]}, 400,
     "invalid_argument"),
    ({"optimizer": "adam", "tensors": T, "params": [1, 2]}, 400, "length_mismatch"),
    ({"optimizer": "adam", "tensors": T, "params": [1, 2, "x"]}, 400, "invalid_argument"),
    ('{"optimizer":"adam","tensors":[{"shape":[3]}],"params":[1,2,1e999]}', 422, "non_finite"),
    ('{"optimizer":"adam","tensors":[{"shape":[3]}],"params":[1,2,3.5e38]}', 422, "non_finite"),
])
def test_create_rejects(make_daemon, body, status, code):
    d = make_daemon("--max-params", "1000").start()
    if isinstance(body, str):
        st, h, data = d.request("POST", "/v1/sessions", body, {"Content-Type": "application/json"})
        got = (st, json.loads(data))
    else:
        got = d.json("POST", "/v1/sessions", body)
    assert err(got) == (status, code), got
    assert got[1]["error"]["message"]
    assert d.json("GET", "/v1/sessions")[1]["sessions"] == []


def test_step_rejects_and_changes_nothing(daemon):
    s = daemon.create(optimizer="adam", tensors=T)
    sid = s["id"]
    url = f"/v1/sessions/{sid}/step"
    cases = [
        ('{"step":1,"grads":[1,2', 400, "invalid_json"),
        ('{"step":1}', 400, "missing_field"),
        ('{"grads":[1,2,3]}', 400, "missing_field"),
        ('{"step":1.5,"grads":[1,2,3]}', 400, "invalid_argument"),
        ('{"step":-1,"grads":[1,2,3]}', 400, "invalid_argument"),
        ('{"step":1,"grads":[1,2]}', 400, "length_mismatch"),
        ('{"step":1,"grads":[1,2,3,4]}', 400, "length_mismatch"),
        ('{"step":1,"grads":[1,2,"3"]}', 400, "invalid_argument"),
        ('{"step":1,"grads":[1,2,1e999]}', 422, "non_finite"),
        ('{"step":1,"grads":[1,2,3.5e38]}', 422, "non_finite"),
        ('{"step":1,"grads":[1,2,3],"loss":1e999}', 422, "non_finite"),
        ('{"step":1,"grads":[1,2,3],"lr":3}', 400, "unknown_field"),
    ]
    for body, status, code in cases:
        st, h, data = daemon.request("POST", url, body, {"Content-Type": "application/json"})
        assert (st, json.loads(data)["error"]["code"]) == (status, code), body
    bin_h = {"Content-Type": "application/octet-stream"}
    good = struct.pack("<3f", 1, 2, 3)
    for body, hdrs, status, code in [
        (good, {}, 400, "invalid_header"),
        (good, {"X-Optirs-Step": "one"}, 400, "invalid_header"),
        (good, {"X-Optirs-Step": "1.5"}, 400, "invalid_header"),
        (good[:10], {"X-Optirs-Step": "1"}, 400, "length_mismatch"),
        (good + good, {"X-Optirs-Step": "1"}, 400, "length_mismatch"),
        (struct.pack("<3f", 1, float("nan"), 3), {"X-Optirs-Step": "1"}, 422, "non_finite"),
        (struct.pack("<3f", 1, float("inf"), 3), {"X-Optirs-Step": "1"}, 422, "non_finite"),
        (good, {"X-Optirs-Step": "1", "X-Optirs-Loss": "nan"}, 422, "non_finite"),
    ]:
        st, h, data = daemon.request("POST", url, body, {**bin_h, **hdrs})
        assert (st, json.loads(data)["error"]["code"]) == (status, code), hdrs
    st, h, data = daemon.request("POST", url, "x", {"Content-Type": "text/plain"})
    assert (st, json.loads(data)["error"]["code"]) == (415, "unsupported_media_type")
    st, p = daemon.json("GET", f"/v1/sessions/{sid}/params")
    assert p == {"step": 0, "params": [0.0, 0.0, 0.0]}
    st, m = daemon.json("GET", f"/v1/sessions/{sid}/metrics")
    assert m["metrics"] == []


def test_unknown_routes_methods_and_sessions(daemon):
    assert err(daemon.json("GET", "/v2/nothing")) == (404, "not_found")
    assert err(daemon.json("GET", "/v1/sessions/not-a-session")) == (404, "session_not_found")
    assert err(daemon.json("GET", "/v1/sessions/bad%20id")) == (404, "not_found")
    st, h, data = daemon.request("PUT", "/v1/sessions")
    assert st == 405 and json.loads(data)["error"]["code"] == "method_not_allowed"
    assert "GET" in h["allow"] and "POST" in h["allow"]
    assert err(daemon.json("GET", "/v1/sessions?limit=0")) == (400, "out_of_range")
    assert err(daemon.json("GET", "/v1/sessions?limit=abc")) == (400, "out_of_range")


def test_body_limits_and_framing(make_daemon):
    d = make_daemon("--max-json-body", "2048", "--max-binary-body", "4096").start()
    s = d.create(optimizer="sgd", tensors=[{"shape": [3]}])
    big = json.dumps({"step": 1, "grads": [0.0] * 1000})
    st, h, data = d.request("POST", f"/v1/sessions/{s['id']}/step", big, {"Content-Type": "application/json"})
    assert st == 413 and json.loads(data)["error"]["code"] == "body_too_large"
    st, h, data = d.request("POST", f"/v1/sessions/{s['id']}/step", b"\0" * 5000,
                            {"Content-Type": "application/octet-stream", "X-Optirs-Step": "1"}, fresh=True)
    assert st == 413
    # A binary body under the binary limit but over the JSON one is fine (then a length error).
    st, h, data = d.request("POST", f"/v1/sessions/{s['id']}/step", b"\0" * 3000,
                            {"Content-Type": "application/octet-stream", "X-Optirs-Step": "1"}, fresh=True)
    assert st == 400 and json.loads(data)["error"]["code"] == "length_mismatch"
    body = b'{"step":1,"grads":[1,2,3]}'
    for extra in (b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n"):
        raw = (b"POST /v1/sessions/" + s["id"].encode() + b"/step HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra +
               b"\r\n" + body)
        out = raw_request(d.port, raw)
        assert out.startswith(b"HTTP/1.1 400"), out[:200]
        assert b"conflicting_framing" in out
    st, p = d.json("GET", f"/v1/sessions/{s['id']}/params")
    assert p["step"] == 0


def test_daemon_survives_garbage(daemon):
    for junk in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A: " + b"b" * 100000 + b"\r\n\r\n",
                 b"POST /v1/sessions HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"):
        raw_request(daemon.port, junk, read_timeout=2)
    assert daemon.json("GET", "/livez", None)[0] == 200
