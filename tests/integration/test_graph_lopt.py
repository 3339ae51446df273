"""graph_lopt and the tensor graph through the daemon: GET /v1/optimizers lists
graph_lopt with its hyperparameters and bounds; a session created with a
declared graph (inputs by name, roles) shows it in GET, steps, and after a
restart of its daemon continues bit for bit like a twin that never stopped,
graph included; the same session with isolated_nodes steps differently;
hostile graphs (unknown names, self-loops, duplicates, cycles, too many
inputs or edges, bad roles, bad types, invalid UTF-8) are 400s with stable
codes; another optimizer accepts a graph; POST /v1/meta/jobs meta-trains
graph_lopt by ES into a record a session runs."""
import time

import numpy as np


T = [{"name": "emb", "shape": [5, 3], "role": "embedding"},
     {"name": "w1", "shape": [3, 4], "inputs": ["emb"]},
     {"name": "b1", "shape": [4], "inputs": ["emb"], "role": "bias"},
     {"name": "ln", "shape": [4], "inputs": ["w1", "b1"], "role": "norm"},
     {"name": "out", "shape": [4, 2], "inputs": ["ln"]}]
N = 15 + 12 + 4 + 4 + 8
# "@default": the untrained network at these hyperparameters.  Without it a
# session runs the shipped graph_lopt record (16 x 2 rounds: test_shipped_lopts.py).
SPEC = {"optimizer": "graph_lopt", "weights": "@default",
        "hyperparams": {"lr": 0.001, "hidden_size": 8, "message_rounds": 2}}


def grads(k):
    return np.random.default_rng(9000 + k).standard_normal(N).astype(np.float32).tolist()


def drive(d, sid, k0, k1):
    out = []
    for k in range(k0, k1 + 1):
        st, _, body = d.step_binary(sid, k, grads(k))
        assert st == 200, body
        out.append(body)
    return out


def test_listed_with_bounds(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    o = {o["name"]: o for o in cat["optimizers"]}["graph_lopt"]
    assert o["kind"] == "learned"
    hp = {h["name"]: h for h in o["hyperparams"]}
    assert "lr" in hp
    want = {"hidden_size": (16, 1, 256), "message_rounds": (2, 1, 4), "isolated_nodes": (0, 0, 1)}
    for name, (default, lo, hi) in want.items():
        assert (hp[name]["default"], hp[name]["min"], hp[name]["max"], hp[name]["integer"]) == (default, lo, hi, True)


def test_graph_shown_and_restart_continues_bit_for_bit(make_daemon):
    spec = dict(SPEC, tensors=T, params=[0.05 * i for i in range(N)])
    ref_d = make_daemon().start()
    ref = ref_d.create(**spec)
    want = drive(ref_d, ref["id"], 1, 9)
    d = make_daemon().start()
    s = d.create(**spec)
    shown = {t["name"]: t for t in d.json("GET", f"/v1/sessions/{s['id']}")[1]["tensors"]}
    assert shown["emb"]["inputs"] == [] and shown["emb"]["role"] == "embedding"
    assert shown["w1"]["inputs"] == ["emb"] and shown["w1"]["role"] == "weight"   # role from the shape
    assert shown["ln"]["inputs"] == ["w1", "b1"] and shown["ln"]["role"] == "norm"
    assert drive(d, s["id"], 1, 5) == want[:5]
    d.stop()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    got = d2.json("GET", f"/v1/sessions/{s['id']}")[1]
    assert got["step"] == 5
    assert {t["name"]: t for t in got["tensors"]} == shown
    assert drive(d2, s["id"], 6, 9) == want[5:]
    assert d2.json("GET", f"/v1/sessions/{s['id']}/params")[1] == ref_d.json("GET", f"/v1/sessions/{ref['id']}/params")[1]


def test_graph_changes_the_steps_and_isolated_nodes_drops_it(daemon):
    chain = [{"name": t["name"], "shape": t["shape"]} for t in T]
    a = daemon.create(**dict(SPEC, tensors=T))
    b = daemon.create(**dict(SPEC, tensors=chain))
    assert drive(daemon, a["id"], 1, 3) != drive(daemon, b["id"], 1, 3)
    iso = dict(SPEC, hyperparams=dict(SPEC["hyperparams"], isolated_nodes=1))
    c = daemon.create(**dict(iso, tensors=T))
    d = daemon.create(**dict(iso, tensors=chain))
    # isolated: the edges go; the roles stay (chain's are all from the shape, T's are not)
    assert drive(daemon, c["id"], 1, 3) != drive(daemon, d["id"], 1, 3)
    roles_only = [dict(t, inputs=[]) for t in T]
    e = daemon.create(**dict(iso, tensors=roles_only))
    f = daemon.create(**dict(iso, tensors=T))
    assert drive(daemon, e["id"], 1, 3) == drive(daemon, f["id"], 1, 3)


def refused(daemon, tensors, code, needle, optimizer="graph_lopt"):
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": optimizer, "tensors": tensors})
    assert st == 400, body
    assert body["error"]["code"] == code, body
    assert needle in body["error"]["message"], body


def test_hostile_graphs_are_refused(daemon):
    a = {"name": "a", "shape": [2]}
    refused(daemon, [a, {"name": "b", "shape": [2], "inputs": ["nope"]}], "invalid_argument", "no tensor of the session")
    refused(daemon, [a, {"name": "b", "shape": [2], "inputs": ["b"]}], "invalid_argument", "self-loop")
    refused(daemon, [a, {"name": "b", "shape": [2], "inputs": ["a", "a"]}], "invalid_argument", "twice")
    refused(daemon, [dict(a, inputs=["b"]), {"name": "b", "shape": [2], "inputs": ["a"]}], "invalid_argument", "cycle")
    refused(daemon, [a, {"name": "b", "shape": [2], "inputs": "a"}], "invalid_argument", "must be an array")
    refused(daemon, [a, {"name": "b", "shape": [2], "inputs": [None]}], "invalid_argument", "must be a tensor name")
    refused(daemon, [a, {"name": "b", "shape": [2], "role": "gain"}], "invalid_argument", "role must be one of")
    refused(daemon, [a, {"name": "b", "shape": [2], "role": "bias", "colour": 1}], "unknown_field", "colour")
    many = [{"name": "n%d" % i, "shape": [1]} for i in range(10)]
    refused(daemon, many + [{"name": "x", "shape": [1], "inputs": ["n%d" % i for i in range(9)]}], "out_of_range",
            "above the limit of 8")
    big = [{"name": "n%d" % i, "shape": [1], "inputs": ["n%d" % (i - k) for k in range(1, 9) if i - k >= 0]}
           for i in range(600)]
    refused(daemon, big, "out_of_range", "more than 4096 edges")
    # the same refusals for any optimizer: the graph is part of the session
    refused(daemon, [a, {"name": "b", "shape": [2], "inputs": ["b"]}], "invalid_argument", "self-loop", optimizer="adam")
    # invalid UTF-8 in a name: the body's check answers first
    raw = b'{"optimizer":"graph_lopt","tensors":[{"name":"a","shape":[2]},{"name":"b","shape":[2],"inputs":["\xff"]}]}'
    st, _, body = daemon.request("POST", "/v1/sessions", raw, {"Content-Type": "application/json"})
    assert st == 400 and b"invalid_utf8" in body, body


def test_other_optimizers_accept_a_graph(daemon):
    s = daemon.create(optimizer="adam", tensors=T)
    assert drive(daemon, s["id"], 1, 2)
    shown = {t["name"]: t for t in daemon.json("GET", f"/v1/sessions/{s['id']}")[1]["tensors"]}
    assert shown["b1"]["role"] == "bias"


def test_meta_job_es(daemon):
    body = {"name": "tiny-graph", "optimizer": "graph_lopt", "hidden": 6, "depth": 1, "estimator": "es",
            "tasks": ["quadratic dim=5"], "particles": 2, "unroll": 5, "outer_steps": 4, "checkpoint_every": 2}
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    deadline = time.time() + 60
    while job["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.05)
        st, job = daemon.json("GET", f"/v1/meta/jobs/{job['id']}")
        assert st == 200, job
    assert job["status"] == "done" and job["step"] == 4, job
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "graph_lopt", "weights": "tiny-graph", "tensors": T})
    assert st == 201, s
    st, _, first = daemon.step_binary(s["id"], 1, grads(1))
    assert st == 200
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, estimator="tbptt"))
    assert st == 400, err
