"""Meta-sessions (issue 19, part 3; docs/meta-learning.md, "Meta-sessions"):
first-order meta-learning of a client's own model.  The outer step against
numpy (Reptile and FOMAML, SGD and Adam), independent of the contributions'
order; idempotency per (task, round) and per Idempotency-Key; stale rounds;
hostile requests; tenants; concurrent contributions; a restart mid-round; and the torch example
(clients/python/examples/meta_sinusoid.py) against the in-daemon Reptile."""
import json
import math
import os
import struct
import sys
import threading

import numpy as np
import pytest

from daemon import OPTIRSD  # noqa: F401  (the binary under test)
from test_meta_jobs import wait_status
from test_studies import keys_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "examples"))

TENSORS = [{"name": "w", "shape": [2, 3]}, {"name": "b", "shape": [3]}]
P = 9


def create(d, headers=None, **spec):
    body = {"method": "reptile", "tensors": TENSORS, **spec}
    st, b = d.json("POST", "/v1/meta/sessions", body, headers)
    assert st == 201, b
    return b


def contribute(d, sid, headers=None, **body):
    return d.json("POST", f"/v1/meta/sessions/{sid}/contributions", body, headers)


def init_of(d, sid, headers=None):
    st, b = d.json("GET", f"/v1/meta/sessions/{sid}/init", headers=headers)
    assert st == 200, b
    return b


def f32(v):
    return np.array(v, dtype=np.float32)


def adam(theta, m, v, g, lr, t):
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    return theta - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8), m, v


def test_reptile_adam_rounds_match_numpy_in_any_order(daemon):
    rng = np.random.default_rng(3)
    theta0 = f32(rng.normal(size=P))
    a = create(daemon, init=[float(x) for x in theta0], meta_batch=3, outer_lr=0.05, name="rép")
    b = create(daemon, init=[float(x) for x in theta0], meta_batch=3, outer_lr=0.05)
    assert a["round"] == 0 and a["meta_batch"] == 3 and a["outer_optimizer"] == "adam" and a["init"] == "given"
    assert a["name"] == "rép" and a["nparams"] == P and a["tensors"] == TENSORS
    assert f32(init_of(daemon, a["id"])["params"]).tobytes() == theta0.tobytes()
    theta, m, v = theta0.astype(np.float64), np.zeros(P), np.zeros(P)
    tasks = ["t-b", "t-a", "t-c"]
    for r in range(3):
        cur = f32(init_of(daemon, a["id"])["params"])
        adapted = {t: f32(cur + rng.normal(size=P)) for t in tasks}
        for order, sid in ((tasks, a["id"]), (tasks[::-1], b["id"])):
            for i, t in enumerate(order):
                st, ans = contribute(daemon, sid, task=t, round=r, params=[float(x) for x in adapted[t]])
                assert st == 200 and ans["applied"] == (i == 2) and ans["current_round"] == r + (i == 2), ans
        # the daemon: θ − θ_task as float32, the mean in task-id order, Adam in doubles
        g = sum((theta - adapted[t].astype(np.float64)).astype(np.float32).astype(np.float64)
                for t in sorted(tasks)) / 3
        theta, m, v = adam(theta, m, v, g, 0.05, r + 1)
        ia, ib = init_of(daemon, a["id"]), init_of(daemon, b["id"])
        assert ia["round"] == ib["round"] == r + 1
        assert f32(ia["params"]).tobytes() == f32(ib["params"]).tobytes()   # arrival order does not matter
        np.testing.assert_allclose(f32(ia["params"]), theta, rtol=1e-6, atol=1e-6)


def test_fomaml_sgd_step_is_minus_lr_mean_grad(daemon):
    s = create(daemon, method="fomaml", outer_optimizer="sgd", outer_lr=0.5, meta_batch=2, init="zeros")
    assert s["init"] == "zeros" and s["outer_optimizer"] == "sgd"
    st, e = contribute(daemon, s["id"], task="x", round=0, params=[0.0] * P)
    assert st == 400 and e["error"]["code"] == "invalid_argument" and '"grad"' in e["error"]["message"]
    g1, g2 = np.arange(P, dtype=np.float32), np.ones(P, dtype=np.float32)
    assert contribute(daemon, s["id"], task="x", round=0, grad=[float(x) for x in g1])[0] == 200
    assert contribute(daemon, s["id"], task="y", round=0, grad=[float(x) for x in g2])[0] == 200
    np.testing.assert_array_equal(f32(init_of(daemon, s["id"])["params"]), f32(-0.5 * (g1 + g2) / 2))


def test_seeded_init_is_he_for_weights_and_zero_for_biases(daemon):
    s = create(daemon, tensors=[{"name": "w", "shape": [200, 50]}, {"name": "b", "shape": [50]}], seed=7)
    p = f32(init_of(daemon, s["id"])["params"])
    w, bias = p[:10000], p[10000:]
    assert not bias.any() and abs(w.std() - math.sqrt(2 / 200)) < 0.01 and abs(w.mean()) < 0.01
    same = create(daemon, tensors=[{"name": "w", "shape": [200, 50]}, {"name": "b", "shape": [50]}], seed=7)
    assert f32(init_of(daemon, same["id"])["params"]).tobytes() == p.tobytes()
    other = create(daemon, tensors=[{"name": "w", "shape": [200, 50]}, {"name": "b", "shape": [50]}], seed=8)
    assert f32(init_of(daemon, other["id"])["params"]).tobytes() != p.tobytes()


def test_idempotent_per_task_and_round_and_stale_rounds(daemon):
    s = create(daemon, meta_batch=2, outer_optimizer="sgd", outer_lr=1.0, init="zeros")
    sid = s["id"]
    st, a1 = contribute(daemon, sid, task="タスク-1", round=0, params=[1.0] * P)
    assert st == 200 and a1["contributions"] == 1 and not a1["replaced"] and not a1["applied"]
    # a retry of the open round replaces the task's own contribution
    st, a2 = contribute(daemon, sid, task="タスク-1", round=0, params=[2.0] * P)
    assert st == 200 and a2["replaced"] and a2["contributions"] == 1
    info = daemon.json("GET", f"/v1/meta/sessions/{sid}")[1]
    assert info["round"] == 0 and info["contributions"] == 1 and info["tasks"] == ["タスク-1"]
    st, e = contribute(daemon, sid, task="t2", round=1, params=[0.0] * P)
    assert st == 409 and e["error"]["code"] == "stale_round" and "round 0" in e["error"]["message"]
    assert contribute(daemon, sid, task="t2", round=0, params=[4.0] * P)[1]["applied"]
    np.testing.assert_array_equal(f32(init_of(daemon, sid)["params"]), f32([3.0] * P))   # 0 − (−2 + −4)/2
    # the last round's tasks re-sending: acknowledged, nothing changes
    st, d = contribute(daemon, sid, task="t2", round=0, params=[100.0] * P)
    assert st == 200 and d["duplicate"] and d["applied"] and d["current_round"] == 1
    st, e = contribute(daemon, sid, task="new", round=0, params=[0.0] * P)
    assert st == 409 and e["error"]["code"] == "stale_round"
    np.testing.assert_array_equal(f32(init_of(daemon, sid)["params"]), f32([3.0] * P))
    # an Idempotency-Key replays the first answer
    h = {"Idempotency-Key": "k-1"}
    st, f1 = contribute(daemon, sid, h, task="a", round=1, params=[3.0] * P)
    st2, f2 = contribute(daemon, sid, h, task="a", round=1, params=[3.0] * P)
    assert st == st2 == 200 and f1 == f2 and not f2["replaced"]
    st, e = contribute(daemon, sid, h, task="a", round=1, params=[5.0] * P)
    assert st == 422 and e["error"]["code"] == "idempotency_key_reused"


def test_binary_init_is_the_json_init_as_float32(daemon):
    s = create(daemon, seed=3)
    st, h, data = daemon.request("GET", f"/v1/meta/sessions/{s['id']}/init",
                                 headers={"Accept": "application/octet-stream"})
    assert st == 200 and h["content-type"] == "application/octet-stream" and len(data) == 4 * P
    assert list(struct.unpack("<%df" % P, data)) == init_of(daemon, s["id"])["params"]


HOSTILE_CREATES = [
    ({"tensors": TENSORS}, 400, "missing_field"),
    ({"method": "maml", "tensors": TENSORS}, 400, "invalid_argument"),
    ({"method": "reptile"}, 400, "missing_field"),
    ({"method": "reptile", "tensors": TENSORS, "bogus": 1}, 400, "unknown_field"),
    ({"method": "reptile", "tensors": [{"name": "w", "shape": [2, 3], "role": "weight"}]}, 400, "unknown_field"),
    ({"method": "reptile", "tensors": [{"shape": [0]}]}, 400, "invalid_shape"),
    ({"method": "reptile", "tensors": [{"shape": [1 << 20, 1 << 20]}]}, 400, "too_many_parameters"),
    ({"method": "reptile", "tensors": [{"shape": [1 << 23]}], "meta_batch": 1000}, 413, "session_too_large"),
    ({"method": "reptile", "tensors": TENSORS, "meta_batch": 0}, 400, "out_of_range"),
    ({"method": "reptile", "tensors": TENSORS, "meta_batch": 1001}, 400, "out_of_range"),
    ({"method": "reptile", "tensors": TENSORS, "meta_batch": 2.5}, 400, "invalid_argument"),
    ({"method": "reptile", "tensors": TENSORS, "outer_lr": 0}, 400, "out_of_range"),
    ({"method": "reptile", "tensors": TENSORS, "outer_lr": -1}, 400, "out_of_range"),
    ({"method": "reptile", "tensors": TENSORS, "outer_optimizer": "rmsprop"}, 400, "invalid_argument"),
    ({"method": "reptile", "tensors": TENSORS, "init": [0.0] * (P - 1)}, 400, "length_mismatch"),
    ({"method": "reptile", "tensors": TENSORS, "init": [1e39] * P}, 422, "non_finite"),
    ({"method": "reptile", "tensors": TENSORS, "init": "given"}, 400, "invalid_argument"),
    ({"method": "reptile", "tensors": TENSORS, "init": "zeros", "seed": 3}, 400, "invalid_argument"),
    ({"method": "reptile", "tensors": TENSORS, "name": "n" * 65}, 400, "invalid_argument"),
    ({"method": "reptile", "tensors": TENSORS, "seed": -1}, 400, "out_of_range"),
    ([1, 2], 400, "invalid_argument"),
]


@pytest.mark.parametrize("body,status,code", HOSTILE_CREATES)
def test_hostile_creates_are_refused(daemon, body, status, code):
    st, e = daemon.json("POST", "/v1/meta/sessions", body)
    assert (st, e["error"]["code"]) == (status, code), e


def test_hostile_contributions_are_refused_and_change_nothing(daemon):
    s = create(daemon, meta_batch=2, init="zeros")
    path = f"/v1/meta/sessions/{s['id']}/contributions"
    ok = {"task": "t", "round": 0, "params": [0.5] * P}
    cases = [
        ({**ok, "params": [0.5] * (P - 1)}, 400, "length_mismatch"),
        ({**ok, "params": [0.5] * (P + 1)}, 400, "length_mismatch"),
        ({**ok, "params": [1e39] * P}, 422, "non_finite"),
        ({**ok, "params": ["x"] * P}, 400, "invalid_argument"),
        ({**ok, "loss": 1.0}, 400, "unknown_field"),
        ({"round": 0, "params": [0.5] * P}, 400, "missing_field"),
        ({"task": "t", "params": [0.5] * P}, 400, "missing_field"),
        ({"task": "t", "round": 0}, 400, "missing_field"),
        ({**ok, "task": ""}, 400, "invalid_argument"),
        ({**ok, "task": "é" * 32}, 400, "invalid_argument"),          # 64 bytes: over 63
        ({**ok, "task": 7}, 400, "invalid_argument"),
        ({**ok, "round": -1}, 400, "invalid_argument"),
        ({**ok, "round": 0.5}, 400, "invalid_argument"),
    ]
    for body, status, code in cases:
        st, e = daemon.json("POST", path, body)
        assert (st, e["error"]["code"]) == (status, code), (body, e)
    raw = [(b'{"task":"t","round":0,"params":[NaN' + b',0' * (P - 1) + b']}', "invalid_json"),
           (b'{"task":"t","round":0,"params":[Infinity' + b',0' * (P - 1) + b']}', "invalid_json"),
           (b'{"task":"\xff\xfe","round":0,"params":[' + b'0,' * (P - 1) + b'0]}', "invalid_utf8"),
           (b'{"task":"t","task":"u","round":0,"params":[' + b'0,' * (P - 1) + b'0]}', "invalid_json"),
           (b'{"task":"t","round":0,"params":[' + b'0,' * (P - 1) + b'0],"params":[0]}', "invalid_json")]
    for body, code in raw:
        st, h, data = daemon.request("POST", path, body, {"Content-Type": "application/json"})
        assert st == 400 and code.encode() in data, (body, data)
    info = daemon.json("GET", f"/v1/meta/sessions/{s['id']}")[1]
    assert info["contributions"] == 0 and info["round"] == 0
    assert daemon.json("POST", "/v1/meta/sessions/nope/contributions", ok)[0] == 404
    assert daemon.json("GET", "/v1/meta/sessions/bad%20id")[0] == 404


def test_reptile_overflowing_difference_is_non_finite(daemon):
    s = create(daemon, meta_batch=1, init=[3e38] * P)
    st, e = contribute(daemon, s["id"], task="t", round=0, params=[-3e38] * P)
    assert st == 422 and e["error"]["code"] == "non_finite"
    # an outer step that overflows is refused and the round stays open
    s = create(daemon, meta_batch=1, outer_optimizer="sgd", outer_lr=10, init=[3e38] * P)
    st, e = contribute(daemon, s["id"], task="t", round=0, params=[3.1e38] * P)
    assert st == 422 and e["error"]["code"] == "non_finite_update", e
    info = daemon.json("GET", f"/v1/meta/sessions/{s['id']}")[1]
    assert info["round"] == 0 and info["contributions"] == 1
    st, e = contribute(daemon, s["id"], task="u", round=0, params=[0.0] * P)
    assert st == 422 and e["error"]["code"] == "non_finite_update"
    assert contribute(daemon, s["id"], task="t", round=0, params=[3e38] * P)[1]["applied"]


def test_tenants_see_only_their_meta_sessions(make_daemon):
    d = make_daemon()
    admin = keys_cli(d.db, "create", "--tenant", "ops", "--admin")
    ka = keys_cli(d.db, "create", "--tenant", "a")
    kb = keys_cli(d.db, "create", "--tenant", "b")
    d.start()
    A, B, ADM = ({"Authorization": f"Bearer {k}"} for k in (ka, kb, admin))
    sid = create(d, A, meta_batch=2)["id"]
    for method, path, body in (("GET", f"/v1/meta/sessions/{sid}", None),
                               ("GET", f"/v1/meta/sessions/{sid}/init", None),
                               ("POST", f"/v1/meta/sessions/{sid}/contributions",
                                {"task": "t", "round": 0, "params": [0.0] * P}),
                               ("DELETE", f"/v1/meta/sessions/{sid}", None)):
        assert d.json(method, path, body, B)[0] == 404
    assert d.json("GET", "/v1/meta/sessions", headers=B)[1]["meta_sessions"] == []
    assert [m["id"] for m in d.json("GET", "/v1/meta/sessions", headers=A)[1]["meta_sessions"]] == [sid]
    assert contribute(d, sid, A, task="t", round=0, params=[0.0] * P)[0] == 200
    assert d.json("GET", f"/v1/meta/sessions/{sid}", headers=ADM)[1]["contributions"] == 1
    assert d.json("GET", "/v1/meta/sessions")[0] == 401
    assert d.json("DELETE", f"/v1/meta/sessions/{sid}", headers=A)[0] == 200
    assert d.json("GET", f"/v1/meta/sessions/{sid}", headers=A)[0] == 404


def test_restart_keeps_the_round_and_its_contributions(make_daemon):
    d = make_daemon().start()
    s = create(d, meta_batch=3, outer_lr=0.1, seed=4)
    sid = s["id"]
    th0 = f32(init_of(d, sid)["params"])
    for t, k in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        assert contribute(d, sid, task=t, round=0, params=[float(x) for x in th0 + k])[0] == 200
    th1 = f32(init_of(d, sid)["params"])
    assert contribute(d, sid, task="b", round=1, params=[float(x) for x in th1 - 1])[0] == 200
    before = d.json("GET", f"/v1/meta/sessions/{sid}")[1]
    assert before["round"] == 1 and before["tasks"] == ["b"]
    assert d.kill9() in (-9, 137)
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/meta/sessions/{sid}")[1] == before
    assert f32(init_of(d2, sid)["params"]).tobytes() == th1.tobytes()
    # the task of the round applied before the restart is still known
    assert contribute(d2, sid, task="a", round=0, params=[0.0] * P)[1]["duplicate"]
    for t in ("a", "c"):
        assert contribute(d2, sid, task=t, round=1, params=[float(x) for x in th1 - 1])[0] == 200
    # Adam's moments survived: the second step equals numpy's from round 0
    theta, m, v = th0.astype(np.float64), np.zeros(P), np.zeros(P)
    g = sum((theta - (th0 + k).astype(np.float64)).astype(np.float32).astype(np.float64) for k in (1, 2, 3)) / 3
    theta, m, v = adam(theta, m, v, g, 0.1, 1)
    theta1 = th1.astype(np.float64)
    g = (theta1 - (th1 - 1).astype(np.float64)).astype(np.float32).astype(np.float64)
    theta, m, v = adam(theta, m, v, g, 0.1, 2)
    got = init_of(d2, sid)
    assert got["round"] == 2
    np.testing.assert_allclose(f32(got["params"]), theta, rtol=1e-5, atol=1e-6)


# ---- the torch example against the in-daemon Reptile ------------------------------

K, OUTER_LR = 10, 0.01


def daemon_reptile(d, steps, name):
    st, job = d.json("POST", "/v1/meta/jobs", {
        "method": "reptile", "task": "sinusoid", "shots": 5, "inner_steps": 5, "inner_lr": 0.01,
        "meta_batch": K, "outer_lr": OUTER_LR, "outer_steps": steps, "seed": 0, "name": name})
    assert st == 202, job
    assert wait_status(d, job["id"], ("done", "failed"), timeout=300)["status"] == "done"
    st, rec = d.json("GET", f"/v1/weights/{name}/init")
    assert st == 200, rec
    return rec


def test_python_reptile_matches_the_in_daemon_reptile(daemon):
    """The example's Reptile (torch, float32) through a meta-session against
    the in-daemon Reptile (the fewshot core, doubles) with the same settings
    — 1-40-40-1, 5 shots, 5 inner steps at α 0.01, meta-batch 10, outer Adam
    at 0.01, seed 0 — and the same tasks, task for task (the example's
    "core" task stream replays the core's generator):
      * the meta-session's seeded init is the job's initial θ, exactly;
      * after 20 outer steps the two θ differ by < 1e-3 relative (L2);
      * after 300, chaos has grown float32's rounding (θ differs by a few
        %): the 5-shot query MSE after 1, 5 and 10 steps, evaluated by the
        same code on the same 300 tasks, within 25% of each other, both
        far below the untrained init's."""
    torch = pytest.importorskip("torch")
    import optirs
    import meta_sinusoid as M
    torch.manual_seed(0)
    client = optirs.Client(daemon.url)
    ev = {}
    for steps in (20, 300):
        rec = daemon_reptile(daemon, steps, "sine-reptile-%d" % steps)
        assert [t["name"] for t in rec["tensors"]] == [t["name"] for t in M.layout()]
        ms = client.create_meta_session("reptile", M.layout(), meta_batch=K, outer_lr=OUTER_LR, seed=0)
        theta0 = f32(ms.init()["params"])
        assert theta0.tobytes() == M.core_init(0).astype(np.float32).tobytes()
        theta = M.meta_train(ms, steps, K, shots=5, inner_steps=5, inner_lr=0.01, seed=0, tasks="core")
        assert ms.info()["round"] == steps
        ref = f32(rec["params"])
        rel = float(np.linalg.norm(theta - ref) / np.linalg.norm(ref))
        print("outer steps %d: relative L2 difference %.3g" % (steps, rel))
        if steps == 20:
            assert rel < 1e-3
            continue
        ev = {nm: M.evaluate(th, tasks=300) for nm, th in (("init", theta0), ("daemon", ref), ("python", theta))}
        print(ev)
    for s in (1, 5, 10):
        d, p = ev["daemon"][s][0], ev["python"][s][0]
        assert abs(p - d) <= 0.25 * d, (s, ev)
    assert ev["python"][1][0] < 0.1 * ev["init"][1][0] and ev["daemon"][1][0] < 0.1 * ev["init"][1][0]


def test_concurrent_contributions_apply_one_round_once(daemon):
    """K tasks, each sent twice at the same time from 2K threads (own connections): the round is
    applied exactly once, with each task counted once, and θ is what the sequential step gives."""
    K = 6
    s = create(daemon, meta_batch=K, outer_optimizer="sgd", outer_lr=1.0, init="zeros")
    sid, answers, lock = s["id"], [], threading.Lock()
    start = threading.Barrier(2 * K)

    def send(t):
        conn = daemon.new_connection()
        body = json.dumps({"task": "t%d" % t, "round": 0, "params": [float(t + 1)] * P})
        start.wait()
        conn.request("POST", f"/v1/meta/sessions/{sid}/contributions", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        with lock:
            answers.append((resp.status, json.loads(resp.read())))
        conn.close()

    threads = [threading.Thread(target=send, args=(t % K,)) for t in range(2 * K)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(st == 200 for st, _ in answers), answers
    assert sum(1 for _, a in answers if a["applied"] and not a["duplicate"]) == 1, answers
    got = init_of(daemon, sid)
    assert got["round"] == 1
    # Reptile with SGD at lr 1 from θ = 0: θ − lr·mean(θ − θ_t) = mean of the tasks' values
    np.testing.assert_array_equal(f32(got["params"]), f32([sum(range(1, K + 1)) / K] * P))
