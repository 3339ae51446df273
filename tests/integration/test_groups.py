"""Parameter groups ("groups" at create) and a step's hyperparameters
("hyperparams" in JSON, X-Optirs-Hyperparams in binary), as torch's
param_groups and lr schedulers use them.  References: one session per
tensor with its group's hyperparameters (classic optimizers are
elementwise), and for per-step values SGD computed in float32 by numpy."""
import json

import numpy as np
import pytest

from daemon import floats

T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}, {"name": "c", "shape": [2]}]
SIZES = [12, 4, 2]
OFFS = [0, 12, 16]
N = 18


def grads(k):
    return np.random.default_rng(70 + k).standard_normal(N).astype(np.float32)


def start():
    return [0.05 * (i - 9) for i in range(N)]


@pytest.mark.parametrize("name,base,groups", [
    ("adam", {"lr": 0.001, "weight_decay": 0.01},
     [{"tensors": ["w"], "lr": 0.1, "weight_decay": 0}, {"tensors": ["b", "c"], "beta1": 0.8, "eps": 1e-6}]),
    ("adamw", {"lr": 0.01}, [{"tensors": ["b"], "weight_decay": 0}, {"tensors": ["w", "c"], "lr": 0.003}]),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, [{"tensors": ["w", "b"]}, {"tensors": ["c"], "lr": 1.0, "momentum": 0.5}]),
])
def test_groups_match_per_tensor_sessions(daemon, name, base, groups):
    d = daemon
    s = d.create(optimizer=name, hyperparams=base, tensors=T, params=start(), groups=groups)
    assert [g["tensors"] for g in s["groups"]] == [g["tensors"] for g in groups]
    refs = []
    for i, t in enumerate(T):
        g = next(g for g in groups if t["name"] in g["tensors"])
        hp = dict(base, **{k: v for k, v in g.items() if k != "tensors"})
        refs.append(d.create(optimizer=name, hyperparams=hp, tensors=[t],
                             params=start()[OFFS[i]:OFFS[i] + SIZES[i]])["id"])
    for k in range(1, 6):
        g = grads(k)
        st, _, got = d.step_binary(s["id"], k, g.tolist())
        assert st == 200
        want = b"".join(d.step_binary(refs[i], k, g[OFFS[i]:OFFS[i] + SIZES[i]].tolist())[2] for i in range(3))
        assert got == want, k


def test_step_hyperparams_follow_a_scheduler_exactly(daemon):
    """SGD with weight decay: update = -lr * (g + wd * p), per group, in float32."""
    d = daemon
    groups = [{"tensors": ["w", "c"], "lr": 0.1, "weight_decay": 0.01}, {"tensors": ["b"], "lr": 0.5}]
    s = d.create(optimizer="sgd", tensors=T, params=start(), groups=groups)["id"]
    p = np.array(start(), dtype=np.float32)
    group_of = [0, 1, 0]
    used = []
    for k in range(1, 7):
        lrs = [0.1 * 0.5 ** (k // 2), 0.5 * 0.9 ** k]   # StepLR and ExponentialLR
        hp = [{"lr": lrs[0]}, {"lr": lrs[1]}]
        g = grads(k)
        if k % 2:
            st, body = d.step(s, k, g.tolist(), hyperparams=hp)
            assert st == 200, body
            got = np.array(body["update"], dtype=np.float32)
        else:
            st, _, body = d.step_binary(s, k, g.tolist(), headers={"X-Optirs-Hyperparams": json.dumps(hp)})
            assert st == 200, body
            got = np.array(floats(body), dtype=np.float32)
        want = np.zeros(N, dtype=np.float32)
        for i in range(3):
            sl = slice(OFFS[i], OFFS[i] + SIZES[i])
            gi = group_of[i]
            wd = np.float32(groups[gi].get("weight_decay", 0))
            dd = g[sl] + wd * p[sl] if wd else g[sl]
            want[sl] = np.float32(-lrs[gi]) * dd
        assert got.tobytes() == want.tobytes(), k
        p = p + got
        used.append(lrs[0])
    # the values were for their step only: a step without them uses the groups' own
    g = grads(7)
    st, body = d.step(s, 7, g.tolist())
    want = np.float32(-0.5) * g[12:16]
    assert np.array(body["update"], dtype=np.float32)[12:16].tobytes() == want.tobytes()
    # the metrics record the lr used: tensor 0's group's in lr, every group's in group_lr
    rows = d.json("GET", f"/v1/sessions/{s}/metrics")[1]["metrics"]
    assert [r["lr"] for r in rows[:6]] == pytest.approx(used, rel=0, abs=0)
    want = [[0.1 * 0.5 ** (k // 2), 0.5 * 0.9 ** k] for k in range(1, 7)] + [[0.1, 0.5]]
    assert [len(r["group_lr"]) for r in rows] == [2] * 7
    assert sum((r["group_lr"] for r in rows), []) == pytest.approx(sum(want, []), rel=1e-15)   # cJSON prints 15-17 digits


def test_step_hyperparams_without_groups_are_one_group(daemon):
    d = daemon
    s = d.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=T)["id"]
    g = grads(1)
    st, body = d.step(s, 1, g.tolist(), hyperparams=[{"lr": 0.25}])
    assert st == 200 and np.array(body["update"], dtype=np.float32).tobytes() == (np.float32(-0.25) * g).tobytes()


def test_grouped_session_exports_and_imports_exactly(make_daemon):
    d = make_daemon().start()
    groups = [{"tensors": ["w"], "lr": 0.1}, {"tensors": ["b", "c"], "lr": 0.01, "beta2": 0.99}]
    a = d.create(optimizer="adam", tensors=T, params=start(), groups=groups)["id"]
    b = d.create(optimizer="adam", tensors=T, params=start(), groups=groups)["id"]
    for k in (1, 2):
        for sid in (a, b):
            d.step(sid, k, grads(k).tolist(), hyperparams=[{"lr": 0.05}, {"lr": 0.02}])
    state = d.json("GET", f"/v1/sessions/{a}/state")[1]
    d2 = make_daemon().start()
    st, made = d2.json("POST", "/v1/sessions", {"state": state})
    assert st == 201 and made["groups"] == d.json("GET", f"/v1/sessions/{a}")[1]["groups"]
    for k in (3, 4):
        x = d2.step(made["id"], k, grads(k).tolist(), hyperparams=[{"lr": 0.04}, {"lr": 0.01}])[1]
        y = d.step(b, k, grads(k).tolist(), hyperparams=[{"lr": 0.04}, {"lr": 0.01}])[1]
        assert x["update"] == y["update"]


def bad_create(d, code, **spec):
    st, body = d.json("POST", "/v1/sessions", dict({"optimizer": "adam", "tensors": T}, **spec))
    assert st == 400 and body["error"]["code"] == code, body


def test_bad_groups_are_refused(daemon):
    d = daemon
    all3 = ["w", "b", "c"]
    bad_create(d, "unknown_hyperparameter", groups=[{"tensors": all3, "beta3": 1}])
    bad_create(d, "invalid_argument", groups=[{"tensors": all3, "amsgrad": 1}])
    bad_create(d, "invalid_argument", groups=[{"tensors": all3, "warmup_steps": 5}])
    bad_create(d, "out_of_range", groups=[{"tensors": all3, "beta1": 1.5}])
    bad_create(d, "invalid_argument", groups=[{"tensors": ["w", "b"]}])
    bad_create(d, "invalid_argument", groups=[{"tensors": all3}, {"tensors": ["w"]}])
    bad_create(d, "invalid_argument", groups=[{"tensors": all3 + ["x"]}])
    bad_create(d, "invalid_argument", groups=[])
    bad_create(d, "invalid_argument", groups=[{"tensors": all3, "lr": "0.1"}])
    bad_create(d, "invalid_argument", groups=[{"tensors": all3}], optimizer="mlp_lopt")
    bad_create(d, "invalid_argument", groups=[{"tensors": all3, "momentum": 0.9}], optimizer="sgd")
    raw = b'{"optimizer":"adam","tensors":' + json.dumps(T).encode() + \
        b',"groups":[{"tensors":["w","b","c"],"lr":0.1,"lr":0.2}]}'
    st, _, body = d.request("POST", "/v1/sessions", raw, {"Content-Type": "application/json"})
    assert st == 400 and json.loads(body)["error"]["code"] == "invalid_json", body
    assert d.json("GET", "/v1/sessions")[1]["sessions"] == []


def test_bad_step_hyperparams_are_refused_and_change_nothing(daemon):
    d = daemon
    s = d.create(optimizer="adam", tensors=T, groups=[{"tensors": ["w"]}, {"tensors": ["b", "c"]}])["id"]
    g = grads(1).tolist()
    for hp, code in (([{"lr": 0.1}], "invalid_argument"), ([{"lr": 0.1}, {"lr": -1}], "out_of_range"),
                     ([{"lr": 0.1}, {"beta3": 1}], "unknown_hyperparameter"), ({"lr": 0.1}, "invalid_argument"),
                     ([{}, {"amsgrad": 1}], "invalid_argument"), ([{}, 3], "invalid_argument")):
        st, body = d.step(s, 1, g, hyperparams=hp)
        assert st == 400 and body["error"]["code"] == code, (hp, body)
    st, _, body = d.step_binary(s, 1, g, headers={"X-Optirs-Hyperparams": "[{"})
    assert st == 400
    assert d.json("GET", f"/v1/sessions/{s}")[1]["step"] == 0
    lo = d.create(optimizer="mlp_lopt", tensors=T)["id"]
    st, body = d.step(lo, 1, g, hyperparams=[{"lr": 0.1}])
    assert st == 400 and body["error"]["code"] == "invalid_argument"


def test_metrics_record_every_groups_lr(daemon):
    """group_lr holds each group's lr in the session's group order (tensor
    0 in the second group here: lr is its group's), with the daemon's own
    schedule on top; null without groups and for a skipped step."""
    d = daemon
    groups = [{"tensors": ["b"], "lr": 0.3}, {"tensors": ["w", "c"], "lr": 0.02}]
    s = d.create(optimizer="adam", tensors=T, groups=groups, schedule="step",
                 hyperparams={"decay_steps": 2, "decay_rate": 0.5}, non_finite="skip")["id"]
    assert d.step(s, 1, grads(1).tolist())[0] == 200
    assert d.step(s, 2, grads(2).tolist(), hyperparams=[{"lr": 0.0}, {"lr": 0.04}])[0] == 200
    assert d.step(s, 3, grads(3).tolist(), hyperparams=[{}, {"lr": 0.04}])[0] == 200
    st, _, _ = d.step_binary(s, 4, [float("nan")] * N)                 # skipped: no lr at all
    assert st == 200
    rows = d.json("GET", f"/v1/sessions/{s}/metrics")[1]["metrics"]
    assert [r["group_lr"] for r in rows] == [[0.3, 0.02], [0.0, 0.04], [0.15, 0.02], None]
    assert [r["lr"] for r in rows] == [0.02, 0.04, 0.02, None]
    plain = d.create(optimizer="sgd", tensors=T)["id"]
    d.step(plain, 1, grads(1).tolist(), hyperparams=[{"lr": 0.25}])
    row = d.json("GET", f"/v1/sessions/{plain}/metrics")[1]["metrics"][0]
    assert row["group_lr"] is None and row["lr"] == 0.25


def test_a_metrics_page_of_many_groups_is_bounded_and_pages_on(daemon):
    """256 groups (the most): a page holds at most 262144 group_lr values
    (1024 rows here) whatever `limit` says, and next_after goes on from
    there; every row carries its 256 values."""
    d = daemon
    ts = [{"name": "t%d" % i, "shape": [1]} for i in range(256)]
    groups = [{"tensors": ["t%d" % i], "lr": 0.001 * (i + 1)} for i in range(256)]
    s = d.create(optimizer="sgd", tensors=ts, groups=groups)["id"]
    for k in range(1, 1031):
        assert d.step_binary(s, k, [0.5] * 256)[0] == 200
    st, p1 = d.json("GET", f"/v1/sessions/{s}/metrics?limit=10000")
    assert st == 200 and len(p1["metrics"]) == 1024 and p1["next_after"] == 1024
    assert all(len(r["group_lr"]) == 256 for r in p1["metrics"])
    assert p1["metrics"][0]["group_lr"][255] == 0.256 and p1["metrics"][0]["lr"] == 0.001
    st, p2 = d.json("GET", f"/v1/sessions/{s}/metrics?limit=10000&after=1024")
    assert [r["step"] for r in p2["metrics"]] == list(range(1025, 1031)) and p2["next_after"] is None
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "tensors": ts + [{"name": "x", "shape": [1]}],
                                               "groups": groups + [{"tensors": ["x"]}]})
    assert st == 400 and body["error"]["code"] == "invalid_argument", body      # 257 groups


def test_lr_zero_is_accepted_as_torch_accepts_it(daemon):
    """torch.optim takes lr=0 (CosineAnnealingLR's default eta_min reaches
    it): at create, in a group and for one step it moves nothing; Adam's
    moments and step count still advance (as torch's do), so the next step
    at a non-zero lr equals torch's.  Negative, NaN and inf stay refused."""
    d = daemon
    s = d.create(optimizer="sgd", hyperparams={"lr": 0}, tensors=T, params=start())
    assert s["hyperparams"]["lr"] == 0
    st, body = d.step(s["id"], 1, grads(1).tolist())
    assert st == 200 and not any(body["update"]), body
    groups = [{"tensors": ["w"], "lr": 0.0}, {"tensors": ["b", "c"], "lr": 0.1}]
    g = d.create(optimizer="sgd", tensors=T, params=start(), groups=groups)
    assert [x["lr"] for x in g["groups"]] == [0, 0.1]
    st, body = d.step(g["id"], 1, grads(1).tolist(), hyperparams=[{"lr": 0.2}, {"lr": 0}])
    assert st == 200, body
    u = np.array(body["update"], dtype=np.float32)
    assert u[12:].tobytes() == np.zeros(6, dtype=np.float32).tobytes()
    assert u[:12].tobytes() == (np.float32(-0.2) * grads(1)[:12]).tobytes()
    for bad, code in (([{"lr": -0.0001}, {}], "out_of_range"), ([{"lr": -1e-300}, {}], "out_of_range"),
                      ([{"lr": 1e999}, {}], None)):
        st, body = d.step(g["id"], 2, grads(2).tolist(), hyperparams=bad)
        assert st == 400 and (code is None or body["error"]["code"] == code), (bad, body)
    st, body = d.json("POST", "/v1/sessions", {"optimizer": "sgd", "hyperparams": {"lr": -1e-9}, "tensors": T})
    assert st == 400 and body["error"]["code"] == "out_of_range", body
    st, _, raw = d.request("POST", "/v1/sessions", b'{"optimizer": "sgd", "hyperparams": {"lr": NaN}, '
                           b'"tensors": [{"shape": [2]}]}', {"Content-Type": "application/json"})
    assert st == 400, raw
    assert d.json("GET", f"/v1/sessions/{g['id']}")[1]["step"] == 1


def test_shared_session_applies_its_groups_to_the_mean(daemon):
    import threading
    d = daemon
    groups = [{"tensors": ["w"], "lr": 0.2}, {"tensors": ["b", "c"], "lr": 0.03}]
    shared = d.create(optimizer="sgd", tensors=T, params=start(), groups=groups, workers=2)["id"]
    single = d.create(optimizer="sgd", tensors=T, params=start(), groups=groups)["id"]
    g1, g2 = grads(1), grads(2)
    mean = ((g1 + g2) / np.float32(2)).astype(np.float32)
    out = {}

    def post(name, g):
        import http.client   # one connection per worker: both requests wait at once
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        c.request("POST", f"/v1/sessions/{shared}/step", json.dumps({"step": 1, "grads": g.tolist(), "worker": name}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        out[name] = (r.status, json.loads(r.read()))
        c.close()

    ts = [threading.Thread(target=post, args=("a", g1)), threading.Thread(target=post, args=("b", g2))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out["a"][0] == 200 and out["a"][1]["update"] == out["b"][1]["update"]
    want = d.step(single, 1, mean.tolist())[1]["update"]
    assert np.array(out["a"][1]["update"], dtype=np.float32).tobytes() == np.array(want, dtype=np.float32).tobytes()
