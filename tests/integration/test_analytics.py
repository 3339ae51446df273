"""Step analytics, the learning-curve tracker, downsampling, compare, the
live event stream, and hypergradient learning-rate adaptation (with restart
survival), against a real optirsd."""
import http.client
import json
import threading
import time

import pytest

from daemon import Daemon

A = [0.5 + 0.1 * i for i in range(25)]   # a diagonal quadratic 0.5 sum a_i x_i^2


def create(d, adapt=None, lr=1e-3, opt="adam", durability="checkpoint"):
    spec = {"optimizer": opt, "hyperparams": {"lr": lr}, "durability": durability,
            "tensors": [{"name": "w", "shape": [20]}, {"name": "b", "shape": [5]}]}
    if adapt:
        spec["adapt"] = adapt
    st, _, body = d.request("POST", "/v1/sessions", spec)
    assert st in (200, 201), body
    return json.loads(body)["id"]


def run(d, sid, x, k0, steps):
    loss = None
    for k in range(k0, k0 + steps):
        loss = 0.5 * sum(a * v * v for a, v in zip(A, x))
        st, _, body = d.request("POST", "/v1/sessions/%s/step" % sid,
                                {"step": k, "grads": [a * v for a, v in zip(A, x)], "loss": loss})
        assert st == 200, body
        x = [v + u for v, u in zip(x, json.loads(body)["update"])]
    return x, loss


def get(d, path):
    st, _, body = d.request("GET", path)
    return st, json.loads(body)


@pytest.fixture
def daemon():
    d = Daemon().start()
    yield d
    d.stop()


def test_hypergradient_raises_a_too_small_lr_and_beats_its_twin(daemon):
    plain, hd = create(daemon), create(daemon, {"lr": "hypergradient", "beta": 1e-4})
    _, lp = run(daemon, plain, [1.0] * 25, 1, 150)
    _, lh = run(daemon, hd, [1.0] * 25, 1, 150)
    assert lh < lp
    st, m = get(daemon, "/v1/sessions/%s/metrics?limit=200" % hd)
    lrs = [r["lr"] for r in m["metrics"]]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] > 2e-3   # it moved, visibly
    st, m = get(daemon, "/v1/sessions/%s/metrics?limit=200" % plain)
    assert all(r["lr"] == pytest.approx(1e-3) for r in m["metrics"])
    st, s = get(daemon, "/v1/sessions/%s/summary" % hd)
    assert s["adapt"]["lr"] == "hypergradient" and s["last_extras"]["lr_mult"] > 2


def test_bad_adapt_is_a_400_and_learned_optimizers_refuse_it(daemon):
    base = {"optimizer": "adam", "tensors": [{"name": "w", "shape": [3]}]}
    for bad, code in [({"lr": "magic"}, "out_of_range"), ({"lr": "hypergradient", "beta": -1}, "out_of_range"),
                      ({"lr": "hypergradient", "beta": "x"}, "invalid_argument"),
                      ({"lr": "hypergradient", "wat": 1}, "unknown_field"), ("hd", "invalid_argument"),
                      ({"lr": "hypergradient", "lr_min": 1, "lr_max": 0.1}, "out_of_range")]:
        st, _, body = daemon.request("POST", "/v1/sessions", dict(base, adapt=bad))
        assert st == 400 and json.loads(body)["error"]["code"] == code, (bad, body)
    st, _, body = daemon.request("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "tensors": [{"name": "w", "shape": [3]}],
                                                         "adapt": {"lr": "hypergradient"}})
    assert st == 400, body


def test_adaptation_state_survives_a_restart_bit_for_bit(tmp_path):
    d = Daemon(tmpdir=str(tmp_path)).start()
    try:
        a = create(d, {"lr": "hypergradient", "beta": 1e-4, "per_tensor": True}, durability="step")
        b = create(d, {"lr": "hypergradient", "beta": 1e-4, "per_tensor": True}, durability="step")
        xa, _ = run(d, a, [1.0] * 25, 1, 40)
        xb, _ = run(d, b, [1.0] * 25, 1, 80)
    finally:
        d.proc.terminate()
        d.proc.wait(timeout=20)
    d2 = Daemon(tmpdir=str(tmp_path)).start()
    try:
        xa, _ = run(d2, a, xa, 41, 40)
        assert xa == xb   # the restarted session continued exactly like its uninterrupted twin
    finally:
        d2.proc.terminate()
        d2.proc.wait(timeout=20)


def test_summary_trend_and_extras(daemon):
    sid = create(daemon, lr=0.05)
    run(daemon, sid, [1.0] * 25, 1, 120)
    st, s = get(daemon, "/v1/sessions/%s/summary?window=50" % sid)
    assert st == 200
    assert s["trend"]["label"] == "improving" and s["trend"]["confidence"] > 0.9
    assert s["steps_recorded"] == 120 and s["last"]["step"] == 120
    assert s["convergence"]["steps_to_50pct"] is not None
    x = s["last_extras"]
    assert -1 <= x["update_cos"] <= 1 and x["update_ratio"] > 0
    assert [t["name"] for t in x["tensors"]] == ["w", "b"]
    st, e = get(daemon, "/v1/sessions/%s/summary?window=2" % sid)
    assert st == 400 and e["error"]["code"] == "out_of_range"
    st, e = get(daemon, "/v1/sessions/nope/summary")
    assert st == 404


def test_downsampled_metrics_keep_min_and_max(daemon):
    sid = create(daemon, opt="sgd", lr=0.01)
    x = [1.0] * 25
    losses = []
    for k in range(1, 301):
        loss = 1.0 + (50.0 if k == 123 else 0.0) - (0.9 if k == 250 else 0.0)
        losses.append(loss)
        st, _, body = daemon.request("POST", "/v1/sessions/%s/step" % sid,
                                     {"step": k, "grads": [0.0] * 25, "loss": loss})
        assert st == 200
    st, m = get(daemon, "/v1/sessions/%s/metrics?max_points=7&smooth=ema&beta=0.5" % sid)
    assert st == 200 and len(m["steps"]) <= 7
    assert sum(m["counts"]) == 300
    assert max(m["loss"]["max"]) == 51.0 and min(m["loss"]["min"]) == pytest.approx(0.1)
    assert len(m["loss_smooth"]) == len(m["steps"])
    st, m = get(daemon, "/v1/sessions/%s/metrics?max_points=1000&from=100&to=130" % sid)
    assert m["steps"][0] == 100 and m["steps_last"][-1] == 130 and max(m["loss"]["max"]) == 51.0
    st, e = get(daemon, "/v1/sessions/%s/metrics?max_points=1" % sid)
    assert st == 400
    st, e = get(daemon, "/v1/sessions/%s/metrics?smooth=median" % sid)
    assert st == 400
    sid2 = create(daemon, opt="sgd", lr=0.01)
    st, c = get(daemon, "/v1/compare?ids=%s,%s&max_points=4" % (sid, sid2))
    assert st == 200 and len(c["sessions"]) == 2 and len(c["sessions"][0]["curve"]["steps"]) <= 4
    assert get(daemon, "/v1/compare")[0] == 400
    assert get(daemon, "/v1/compare?ids=%s,nope" % sid)[0] == 404


def test_events_stream_live_steps_and_end_on_drain():
    d = Daemon().start()
    sid = create(d)
    x, _ = run(d, sid, [1.0] * 25, 1, 3)
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
    conn.request("GET", "/v1/sessions/%s/events?backlog=2" % sid)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events, done = [], threading.Event()

    def reader():
        for line in resp:
            line = line.decode().strip()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        done.set()
    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.3)
    run(d, sid, x, 4, 2)
    deadline = time.time() + 10
    while len(events) < 4 and time.time() < deadline:
        time.sleep(0.05)
    assert [e["step"] for e in events] == [2, 3, 4, 5]
    assert events[-1]["update_cos"] is not None
    st, _, prom = d.request("GET", "/metrics")
    assert 'optirs_optimizer_steps_total{optimizer="adam",kind="classic"} 5' in prom.decode()
    d.proc.terminate()            # draining ends the stream and the daemon exits
    assert done.wait(10)
    assert d.proc.wait(timeout=20) == 0
