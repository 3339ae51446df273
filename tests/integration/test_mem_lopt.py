"""mem_lopt through the daemon: GET /v1/optimizers lists it with memory_size
and memory_reads and their bounds, and lstm_lopt's forget_gate_bias and
memory options; a hostile memory_size is a 400; a session steps with the loss
sent with each step (which fills its memory: GET shows memory {size, fill}),
takes loss feedback, and after a restart of its daemon continues bit for bit
like a twin that never stopped; lstm_lopt shows a memory only when it has
one."""
import numpy as np


T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
N = 16
# The shipped record, named (a session without "weights" gets the same:
# test_shipped_lopts.py); memory_size is the session's, not the record's.
SPEC = {"optimizer": "mem_lopt", "weights": "mem_lopt", "hyperparams": {"lr": 0.001, "memory_size": 6}}


def grads(k):
    return np.random.default_rng(9000 + k).standard_normal(N).astype(np.float32).tolist()


def loss(k):
    return 10.0 / (1.0 + 0.3 * k) + 0.1 * (k % 3)


def drive(d, sid, k0, k1):
    out = []
    for k in range(k0, k1 + 1):
        st, body = d.step(sid, k, grads(k), loss=loss(k))
        assert st == 200, body
        out.append(body)
    return out


def test_listed_with_bounds(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    opts = {o["name"]: o for o in cat["optimizers"]}
    o = opts["mem_lopt"]
    assert o["kind"] == "learned"
    hp = {h["name"]: h for h in o["hyperparams"]}
    want = {"memory_size": (1000, 1, 4096), "memory_reads": (1, 0, 1), "hidden": (16, 1, 256), "depth": (1, 1, 4)}
    for name, (default, lo, hi) in want.items():
        assert (hp[name]["default"], hp[name]["min"], hp[name]["max"], hp[name]["integer"]) == (default, lo, hi, True)
    hp = {h["name"]: h for h in opts["lstm_lopt"]["hyperparams"]}
    assert (hp["forget_gate_bias"]["default"], hp["forget_gate_bias"]["min"], hp["forget_gate_bias"]["max"]) == (1, -10, 10)
    assert hp["forget_gate_bias"]["integer"] is False
    assert (hp["memory_size"]["default"], hp["memory_size"]["min"], hp["memory_size"]["max"]) == (0, 0, 4096)


def test_hostile_memory_size_is_400(daemon):
    for v in (0, 4097, 1e12, 2.5, -1):
        st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "mem_lopt", "tensors": T,
                                                        "hyperparams": {"memory_size": v}})
        assert st == 400 and body["error"]["code"] == "out_of_range", (v, body)
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "mem_lopt", "tensors": T,
                                                    "hyperparams": {"memory_size": "many"}})
    assert st == 400
    st, body = daemon.json("POST", "/v1/sessions", {"optimizer": "lstm_lopt", "tensors": T,
                                                    "hyperparams": {"memory_size": 5000}})
    assert st == 400 and body["error"]["code"] == "out_of_range"


def test_restart_continues_bit_for_bit(make_daemon):
    spec = dict(SPEC, tensors=T, params=[0.05 * i for i in range(N)])
    ref_d = make_daemon().start()
    ref = ref_d.create(**spec)
    want = drive(ref_d, ref["id"], 1, 12)
    d = make_daemon().start()
    s = d.create(**spec)
    sid = s["id"]
    assert s["memory"] == {"size": 6, "fill": 0}
    assert drive(d, sid, 1, 5) == want[:5]
    # the loss of step k completes the memory's entry of step k-1
    assert d.json("GET", f"/v1/sessions/{sid}")[1]["memory"] == {"size": 6, "fill": 4}
    st, _ = d.json("POST", f"/v1/sessions/{sid}/feedback", {"step": 5, "loss": 1.5})
    assert st in (200, 201)
    d.stop()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    got = d2.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["step"] == 5 and got["memory"] == {"size": 6, "fill": 4}
    assert drive(d2, sid, 6, 12) == want[5:]
    # a ring of 6: full, the oldest overwritten
    assert d2.json("GET", f"/v1/sessions/{sid}")[1]["memory"] == {"size": 6, "fill": 6}
    assert d2.json("GET", f"/v1/sessions/{sid}/params")[1] == ref_d.json("GET", f"/v1/sessions/{ref['id']}/params")[1]


def test_lstm_memory_only_when_asked(daemon):
    s = daemon.create(optimizer="lstm_lopt", tensors=T, weights="@default", hyperparams={"forget_gate_bias": 2.0})
    assert "memory" not in s
    # the bias sets the untrained init only: with a record (here the shipped default) it would be ignored
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "lstm_lopt", "tensors": T,
                                                   "hyperparams": {"forget_gate_bias": 2.0}})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    assert "forget_gate_bias = 2 would be ignored" in err["error"]["message"], err
    assert "the default record of lstm_lopt" in err["error"]["message"], err
    m = daemon.create(optimizer="lstm_lopt", tensors=T, hyperparams={"memory_size": 3})
    for k in range(1, 6):
        st, body = daemon.step(m["id"], k, grads(k), loss=loss(k))
        assert st == 200, body
    assert daemon.json("GET", f"/v1/sessions/{m['id']}")[1]["memory"] == {"size": 3, "fill": 3}
