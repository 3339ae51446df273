"""Steps that skip tensors (torch skips a parameter whose grad is None):
"skip_tensors" in JSON, X-Optirs-Skip-Tensors in binary.  A skipped tensor
gets no update, no momentum/moment change and no weight decay, and keeps its
own step count; the reference is one session per tensor, stepped only when
that tensor is not skipped (classic optimizers are elementwise)."""

import numpy as np
import pytest

from daemon import floats

T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}, {"name": "c", "shape": [2]}]
SIZES = [12, 4, 2]
OFFS = [0, 12, 16]
N = 18
# step k skips these tensor indices
PLAN = {1: [1], 2: [], 3: [0, 2], 4: [1], 5: [], 6: [2], 7: []}

OPTS = {
    "adam": {"lr": 0.01, "weight_decay": 0.1},
    "adamw": {"lr": 0.01, "weight_decay": 0.1},
    "sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": 1, "weight_decay": 0.01},
    "rmsprop": {"lr": 0.01, "momentum": 0.5, "centered": 1, "weight_decay": 0.01},
    "adagrad": {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01},
}


def grads(k):
    return np.random.default_rng(50 + k).standard_normal(N).astype(np.float32)


def start_params():
    return [0.05 * (i - 9) for i in range(N)]


def references(d, name):
    p = start_params()
    return [d.create(optimizer=name, hyperparams=OPTS[name], tensors=[{"name": t["name"], "shape": t["shape"]}],
                     params=p[OFFS[i]:OFFS[i] + SIZES[i]])["id"] for i, t in enumerate(T)]


def reference_step(d, refs, counts, k, skip):
    """The update the masked session must give at step k."""
    g = grads(k)
    out = np.zeros(N, dtype=np.float32)
    for i, sid in enumerate(refs):
        if i in skip:
            continue
        counts[i] += 1
        st, _, body = d.step_binary(sid, counts[i], g[OFFS[i]:OFFS[i] + SIZES[i]].tolist())
        assert st == 200, body
        out[OFFS[i]:OFFS[i] + SIZES[i]] = floats(body)
    return out


def masked_grads(k, skip):
    """The gradients a client sends: garbage in the skipped tensors (never read)."""
    g = grads(k).copy()
    for i in skip:
        g[OFFS[i]:OFFS[i] + SIZES[i]] = 1e30
    return g.tolist()


@pytest.mark.parametrize("name", sorted(OPTS))
def test_skipped_tensors_match_per_tensor_references(daemon, name):
    d = daemon
    s = d.create(optimizer=name, hyperparams=OPTS[name], tensors=T, params=start_params())["id"]
    refs = references(d, name)
    counts = [0, 0, 0]
    for k in sorted(PLAN):
        skip = PLAN[k]
        want = reference_step(d, refs, counts, k, skip)
        if k % 2:   # JSON, by name and index mixed
            names = [T[i]["name"] if i % 2 == 0 else i for i in skip]
            st, body = d.step(s, k, masked_grads(k, skip), skip_tensors=names)
            assert st == 200, body
            got = np.array(body["update"], dtype=np.float32)
        else:       # binary
            st, _, body = d.step_binary(s, k, masked_grads(k, skip),
                                        headers={"X-Optirs-Skip-Tensors": ",".join(map(str, skip))})
            assert st == 200, body
            got = np.array(floats(body), dtype=np.float32)
        assert got.tobytes() == want.tobytes(), (k, got, want)
        for i in skip:
            assert not got[OFFS[i]:OFFS[i] + SIZES[i]].any()


def test_lagging_state_survives_export_import_and_restart(make_daemon):
    d = make_daemon().start()
    s = d.create(optimizer="adam", hyperparams=OPTS["adam"], tensors=T, params=start_params())["id"]
    twin = d.create(optimizer="adam", hyperparams=OPTS["adam"], tensors=T, params=start_params())["id"]
    for k in (1, 2, 3):
        for sid in (s, twin):
            assert d.step(sid, k, masked_grads(k, PLAN[k]), skip_tensors=PLAN[k])[0] == 200
    st, state = d.json("GET", f"/v1/sessions/{s}/state")
    assert st == 200
    d2 = make_daemon().start()
    st, made = d2.json("POST", "/v1/sessions", {"state": state})
    assert st == 201, made
    d.stop()
    d3 = make_daemon(tmpdir=d.dir, db=d.db).start()   # the twin, restarted from its snapshot
    for k in (4, 5, 6):
        a = d2.step(made["id"], k, masked_grads(k, PLAN[k]), skip_tensors=PLAN[k])
        b = d3.step(twin, k, masked_grads(k, PLAN[k]), skip_tensors=PLAN[k])
        assert a[0] == 200 and b[0] == 200 and a[1]["update"] == b[1]["update"]


def test_bad_masks_are_refused_and_change_nothing(daemon):
    d = daemon
    s = d.create(optimizer="adam", tensors=T)["id"]
    g = grads(1).tolist()
    for bad in (["nope"], [3], [-1], [0.5], "w", [True], {"w": 1}):
        st, body = d.step(s, 1, g, skip_tensors=bad)
        assert st == 400 and body["error"]["code"] == "invalid_argument", (bad, body)
    for bad in ("3", "0,", ",0", "0 ,1", "a", "0;1", "-1", "99999999999999"):
        st, _, body = d.step_binary(s, 1, g, headers={"X-Optirs-Skip-Tensors": bad})
        assert st == 400, (bad, body)
    assert d.json("GET", f"/v1/sessions/{s}")[1]["step"] == 0
    # an empty list skips nothing: the same answer as no list
    twin = d.create(optimizer="adam", tensors=T)["id"]
    assert d.step(s, 1, g, skip_tensors=[])[1]["update"] == d.step(twin, 1, g)[1]["update"]


def test_optimizers_without_masks_refuse_them(daemon):
    d = daemon
    g = grads(1).tolist()
    for spec in ({"optimizer": "mlp_lopt"}, {"optimizer": "adam", "workers": 2}):
        s = d.create(tensors=T, **spec)["id"]
        st, body = d.step(s, 1, g, skip_tensors=["b"], worker="a")
        assert st == 400 and body["error"]["code"] == "invalid_argument" and "skip" in body["error"]["message"]
        assert d.json("GET", f"/v1/sessions/{s}")[1]["step"] == 0
    # a learned optimizer with an empty list is an ordinary step
    s = d.create(tensors=T, optimizer="mlp_lopt")["id"]
    assert d.step(s, 1, g, skip_tensors=[])[0] == 200
