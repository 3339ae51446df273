"""Shared sessions: K workers post a step; the mean is applied once."""
import threading

import numpy as np
import pytest


@pytest.mark.parametrize("workers", [2, 4])
def test_shared_step_applies_the_mean_once(make_daemon, workers):
    d = make_daemon().start()
    s = d.create(optimizer="sgd", hyperparams={"lr": 1.0}, tensors=[{"shape": [3]}], workers=workers)
    sid = s["id"]
    from daemon import Daemon
    for k in (1, 2):
        grads = [[float(w + 1), float(k), -float(w)] for w in range(workers)]
        answers = [None] * workers

        def post(w):
            c = Daemon(tmpdir="/tmp")
            c.port = d.port
            answers[w] = c.json("POST", f"/v1/sessions/{sid}/step",
                                {"step": k, "grads": grads[w], "worker": f"w{w}", "loss": float(w)})
            c.conn.close()
        ts = [threading.Thread(target=post, args=(w,)) for w in range(workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert all(a[0] == 200 for a in answers), answers
        ups = [a[1]["update"] for a in answers]
        assert all(u == ups[0] for u in ups)
        np.testing.assert_allclose(ups[0], -np.mean(np.float32(grads), axis=0), rtol=1e-6)
    st, p = d.json("GET", f"/v1/sessions/{sid}/params")
    assert p["step"] == 2
    st, m = d.json("GET", f"/v1/sessions/{sid}/metrics")
    assert [r["step"] for r in m["metrics"]] == [1, 2]
    assert m["metrics"][0]["loss"] == pytest.approx(np.mean(range(workers)))


def test_shared_step_times_out_and_needs_worker(make_daemon):
    d = make_daemon("--step-timeout", "0.3").start()
    s = d.create(optimizer="sgd", tensors=[{"shape": [2]}], workers=2)
    st, body = d.step(s["id"], 1, [1, 1])
    assert st == 400 and body["error"]["code"] == "invalid_header"
    st, body = d.step(s["id"], 1, [1, 1], worker="a")
    assert st == 504 and body["error"]["code"] == "step_timeout"
    st, p = d.json("GET", f"/v1/sessions/{s['id']}/params")
    assert p == {"step": 0, "params": [0.0, 0.0]}
