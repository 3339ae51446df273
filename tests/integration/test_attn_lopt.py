"""attn_lopt through the daemon: GET /v1/optimizers lists it with its four
hyperparameters and their bounds; a create whose num_heads does not divide
hidden_size, or whose tensors x sequence_length exceed 512 tokens, is a 400
with the reason; a session steps, and after a restart of its daemon continues
bit for bit like a twin that never stopped (export/import: test_state.py);
POST /v1/meta/jobs meta-trains it by ES and by TBPTT (at the num_heads and
sequence_length it is given, which the record carries) into a record a
session runs at those, and refuses a width its heads do not divide and those
two keys for another optimizer."""
import time

import numpy as np


T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}, {"name": "k", "shape": [2, 2, 2]}]
N = 24
# "@default": the untrained network at these hyperparameters.  Without it a
# session runs the shipped attn_lopt record, whose shape (16 x 2, 2 heads,
# S = 4) overrides them (test_shipped_lopts.py).
SPEC = {"optimizer": "attn_lopt", "weights": "@default",
        "hyperparams": {"lr": 0.001, "hidden_size": 12, "num_heads": 3, "num_layers": 1, "sequence_length": 2}}


def grads(k):
    return np.random.default_rng(7000 + k).standard_normal(N).astype(np.float32).tolist()


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
    o = {o["name"]: o for o in cat["optimizers"]}["attn_lopt"]
    assert o["kind"] == "learned"
    hp = {h["name"]: h for h in o["hyperparams"]}
    assert "lr" in hp
    want = {"hidden_size": (16, 1, 256), "num_layers": (2, 1, 4), "num_heads": (2, 1, 16),
            "sequence_length": (4, 1, 16)}
    for name, (default, lo, hi) in want.items():
        assert (hp[name]["default"], hp[name]["min"], hp[name]["max"], hp[name]["integer"]) == (default, lo, hi, True)


def test_invalid_combinations_are_400_with_the_reason(daemon):
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "tensors": T,
                                                    "hyperparams": {"hidden_size": 10, "num_heads": 3}})
    assert st == 400 and body["error"]["code"] == "invalid_argument"
    assert "num_heads (3) must divide hidden_size (10)" in body["error"]["message"]
    many = [{"name": "t%d" % i, "shape": [2]} for i in range(40)]
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "tensors": many,
                                                    "hyperparams": {"sequence_length": 16}})
    assert st == 400 and body["error"]["code"] == "invalid_argument"
    assert "640 tokens" in body["error"]["message"] and "lower sequence_length" in body["error"]["message"]
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "tensors": T,
                                                    "hyperparams": {"num_heads": 17}})
    assert st == 400 and body["error"]["code"] == "out_of_range"


def test_restart_continues_bit_for_bit(make_daemon):
    spec = dict(SPEC, tensors=T, params=[0.05 * i for i in range(N)])
    ref_d = make_daemon().start()
    ref = ref_d.create(**spec)
    want = drive(ref_d, ref["id"], 1, 9)
    d = make_daemon().start()
    s = d.create(**spec)
    assert s["hyperparams"]["num_heads"] == 3 and s["hyperparams"]["sequence_length"] == 2
    assert s["weights"] == "@default"
    assert drive(d, s["id"], 1, 5) == want[:5]
    d.stop()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{s['id']}")[1]["step"] == 5
    assert drive(d2, s["id"], 6, 9) == want[5:]
    assert d2.json("GET", f"/v1/sessions/{s['id']}/params")[1] == ref_d.json("GET", f"/v1/sessions/{ref['id']}/params")[1]


def test_meta_job_es_and_refusals(daemon):
    body = {"name": "tiny-attn", "optimizer": "attn_lopt", "hidden": 8, "depth": 1, "estimator": "es",
            "num_heads": 4, "sequence_length": 2,
            "tasks": ["quadratic dim=5"], "particles": 2, "unroll": 5, "outer_steps": 4, "checkpoint_every": 2}
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    deadline = time.time() + 60
    while job["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.05)
        st, job = daemon.json("GET", f"/v1/meta/jobs/{job['id']}")
        assert st == 200, job
    assert job["status"] == "done" and job["step"] == 4, job
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "weights": "tiny-attn", "tensors": T})
    assert st == 201, s
    st, _, first = daemon.step_binary(s["id"], 1, grads(1))
    assert st == 200
    # the record decides width, depth, heads and S, and the session shows them
    assert {k: s["hyperparams"][k] for k in ("hidden_size", "num_layers", "num_heads", "sequence_length")} == \
        {"hidden_size": 8, "num_layers": 1, "num_heads": 4, "sequence_length": 2}, s["hyperparams"]
    # other values would be ignored: refused, and nothing is created; the record's own are accepted
    before = daemon.json("GET", "/v1/sessions")[1]["sessions"]
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "weights": "tiny-attn", "tensors": T,
                                                   "hyperparams": {"num_heads": 3, "hidden_size": 9}})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    assert "hidden_size = 9 would be ignored" in err["error"]["message"] and "fixes it at 8" in err["error"]["message"]
    assert daemon.json("GET", "/v1/sessions")[1]["sessions"] == before
    st, s2 = daemon.json("POST", "/v1/sessions", {"optimizer": "attn_lopt", "weights": "tiny-attn", "tensors": T,
                                                  "hyperparams": s["hyperparams"]})
    assert st == 201, s2
    st, _, again = daemon.step_binary(s2["id"], 1, grads(1))
    assert st == 200 and again == first
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(body, name="tiny-attn-tb", estimator="tbptt"))
    assert st == 202, job
    deadline = time.time() + 60
    while job["status"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.05)
        job = daemon.json("GET", f"/v1/meta/jobs/{job['id']}")[1]
    assert job["status"] == "done" and job["step"] == 4, job
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, hidden=7))
    assert st == 400 and "num_heads (4) must divide hidden_size (7)" in err["error"]["message"], err
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, optimizer="mlp_lopt", hidden=8))
    assert st == 400 and "attn_lopt only" in err["error"]["message"], err
