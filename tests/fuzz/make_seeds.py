#!/usr/bin/python3
"""Writes the seed corpora of the text fuzz targets under tests/fuzz/corpus/.

The seeds are committed; this script is how they were made (run it again
after changing the request formats).  Blob seeds come from gen_blob_seeds.c.
Usage: /usr/bin/python3 tests/fuzz/make_seeds.py"""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


# f32json: arrays (first byte picks the capacity: >= 0x80 means 4096) and numbers.
arrays = ["[]", "[0]", "[1,2,3]", " [ -0 , 0.5 ,1e-45 ]", "[3.4028235e38]", "[3.5e38]", "[1e999]",
          "[1.17549435e-38,1.4e-45,-1.5e-7]", "[1,]", "[,1]", "[01]", "[1.]", "[.5]", "[1e]", "[+1]",
          "[[1]]", "[1 2]", "[\"1\"]", "[0x10]", "[NaN]", "[-Infinity]", "[1", "[" + ",".join(["1"] * 200) + "]",
          "[123456789012345678901234567890123456789012345678901234567890123456789e-40]"]
for a in arrays:
    put("f32json", b"\x80" + a.encode())
    put("f32json", b"\x01" + a.encode())
for n in ["0", "-0", "1", "0.1", "1e10", "1E+10", "1e-10", "16777217", "3.4028235677973366e38",
          "3.4028235677973367e38", "7.006492321624085e-46", "1.401298464324817e-45", "00", "-", "1e+", "2.5e-324"]:
    put("f32json", n)

# jsonwalk: step, feedback and create bodies, and broken objects.
step = {"step": 1, "grads": [0.5, -1.0, 2.0, 0.0], "loss": 0.75}
walk = [json.dumps(step), json.dumps({"step": 2, "grads": [1, 2, 3, 4], "worker": "w0"}),
        '{"step":1,"loss":0.5,"metrics":{"acc":0.9}}', "{}", " { } ", "{", "{\"a\":1,\"a\":2}",
        "{\"a\":1,}", "{\"a\" 1}", "{\"\\u0000\":1}", "{\"k\":[1,[2,{}]]}", "[1,2]", "{\"a\":1} x",
        "{\"grads\":[1e999]}", "{\"grads\":[1,2,", "{\"" + "k" * 100 + "\":1}",
        "{" + ",".join('"k%d":%d' % (i, i) for i in range(40)) + "}"]
for w in walk:
    put("jsonwalk", w)

# spec: byte 0 even = create request, odd = stored meta.
creates = [
    {"optimizer": "sgd", "hyperparams": {"lr": 0.001}, "tensors": [{"shape": [3]}]},
    {"optimizer": "adam", "tensors": [{"name": "w", "shape": [2, 3]}, {"name": "b", "shape": [3]}],
     "durability": "step", "non_finite": "skip", "divergence_factor": 10, "schedule": "cosine",
     "total_steps": 100, "name": "run", "tags": {"team": "a"}, "params": [0, 1, 2, 3, 4, 5, 6, 7, 8]},
    {"optimizer": "mlp_lopt", "tensors": [{"shape": [4, 4]}], "workers": 2},
    {"optimizer": "lstm_lopt", "tensors": [{"shape": [8]}], "weights": "w1"},
    {"optimizer": "nn_adam", "hyperparams": {"lr": 1e-3, "clip_norm": 1}, "tensors": [{"shape": [2, 2, 2]}]},
    {"optimizer": "rmsprop", "schedule": "linear_warmup", "hyperparams": {"warmup_steps": 10}, "tensors": [{"shape": [1]}]},
    {"optimizer": "adagrad", "tensors": [{"shape": [0]}]},
    {"optimizer": "sgd", "tensors": [{"shape": [-1]}]},
    {"optimizer": "sgd", "tensors": [{"shape": [1e10, 1e10]}]},
    {"optimizer": "nope", "tensors": [{"shape": [1]}]},
    {"optimizer": "sgd", "hyperparams": {"lr": -1}, "tensors": [{"shape": [1]}]},
    {"optimizer": "sgd", "tensors": [{"shape": [2]}], "params": [1]},
]
for c in creates:
    put("spec", b"\x00" + json.dumps(c).encode())
put("spec", b"\x00" + b'{"optimizer":"sgd","hyperparams":{"lr":1e999},"tensors":[{"shape":[3]}]}')
put("spec", b"\x00" + b'{"optimizer":"sgd","hyperparams":{"LR":1,"lr":2},"tensors":[{"shape":[3]}]}')
meta = dict(creates[1])
meta.pop("params")
meta.update({"id": "3f0c1a52-8e1b-4c3a-9d6e-2b7f4a1c9e05", "tenant": "t", "created_ms": 1700000000000,
             "num_params": 9})
put("spec", b"\x01" + json.dumps(meta).encode())

# http: raw requests; {SID} {SID2} {SID3} {KEY} {KEY2} are substituted by the target.
def req(method, path, body=b"", headers=(), key="{KEY2}", close=False):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: x"]
    if key:
        h.append("Authorization: Bearer " + key)
    h += list(headers)
    if body or method == "POST":
        h.append("Content-Length: %d" % len(body))
    if close:
        h.append("Connection: close")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body

J = ["Content-Type: application/json"]
B = ["Content-Type: application/octet-stream"]
g4 = struct.pack("<4f", 0.5, -1.0, 2.0, 0.0)
https = [
    req("GET", "/livez", key=None), req("GET", "/readyz", key=None), req("GET", "/metrics"),
    req("GET", "/v1/config"), req("GET", "/v1/optimizers"), req("GET", "/v1/sessions?limit=2"),
    req("POST", "/v1/sessions", json.dumps(creates[0]).encode(), J),
    req("POST", "/v1/sessions", json.dumps(creates[1]).encode(), J + ["Idempotency-Key: abc"]),
    req("GET", "/v1/sessions/{SID}"), req("GET", "/v1/sessions/{SID2}"),
    req("POST", "/v1/sessions/{SID}/step", b'{"step":1,"grads":[0.5,-1,2,0],"loss":0.5}', J),
    req("POST", "/v1/sessions/{SID2}/step", b'{"step":1,"grads":[0.5,-1,2,1e999]}', J),
    req("POST", "/v1/sessions/{SID}/step", g4, B + ["X-Optirs-Step: 1", "X-Optirs-Loss: 0.5"]),
    req("POST", "/v1/sessions/{SID}/step", g4, B + ["X-Optirs-Step: 1", "Accept: application/json"]),
    req("POST", "/v1/sessions/{SID2}/step", struct.pack("<4f", 1, float("nan"), 0, 0), B + ["X-Optirs-Step: 1"]),
    req("POST", "/v1/sessions/{SID3}/step", g4, B + ["X-Optirs-Step: 1", "X-Optirs-Worker: a"]),
    req("POST", "/v1/sessions/{SID3}/step", b'{"step":1,"grads":[1,2,3,4],"worker":"b"}', J),
    req("GET", "/v1/sessions/{SID}/params", headers=["Accept: application/octet-stream"]),
    req("GET", "/v1/sessions/{SID}/params"),
    req("POST", "/v1/sessions/{SID}/feedback", b'{"step":1,"loss":0.4,"metrics":{"acc":0.5}}', J),
    req("GET", "/v1/sessions/{SID}/feedback"), req("GET", "/v1/sessions/{SID}/metrics?limit=3"),
    req("DELETE", "/v1/sessions/{SID2}", key="{KEY}"),
    req("POST", "/v1/keys", b'{"tenant":"t2"}', J, key="{KEY}"), req("GET", "/v1/keys", key="{KEY}"),
    req("DELETE", "/v1/keys/nope", key="{KEY}"),
    req("GET", "/v1/sessions/{SID}", key="ok_0000000000000000_" + "0" * 48),
    req("GET", "/v1/sessions/{SID}", key=None),
    b"POST /v1/sessions/{SID}/step HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY2}\r\n"
    b"Content-Type: application/octet-stream\r\nX-Optirs-Step: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"10\r\n" + g4 + b"\r\n0\r\n\r\n",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    b"GET /v1/sessions/{SID} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY2}\r\n\r\n"
    b"GET /v1/sessions/{SID}/params HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY2}\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n", b"BREW /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n", b"\r\n\r\n",
    req("PUT", "/v1/sessions/{SID}"), req("GET", "/v1/sessions/%00/params"),
    # issue 13's strictness inputs
    b"POST /v1/sessions/{SID}/step HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY2}\r\n"
    b"Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"GET /v1/sessions/{SID} HTTP/1.1\r\nAuthorization: Bearer {KEY2}\r\n\r\n",
    req("GET", "/v1/sessions/{SID}%00/params"), req("GET", "/v1/sessions%2F{SID}/params"),
    req("GET", "/v1/sessions?" + "&".join("p%d=1" % i for i in range(40))),
    req("GET", "/v1/compare?ids=,,,"), req("GET", "/v1/compare?ids={SID},{SID}"),
    req("POST", "/v1/sessions/{SID}/feedback", b'{"step":1,"loss":0.4,"metrics":{"a":1,"a":2}}', J),
    req("POST", "/v1/sessions/{SID}/step", b'{"step":1,"grads":[007,1,2,3]}', J),
    req("POST", "/v1/meta/jobs", b'{"name":"t","tasks":["quadratic dim=5"],"outer_steps":2,'
                                 b'"init_weights":"none"}', J, key="{KEY}"),
]
for r in https:
    put("http", r)
