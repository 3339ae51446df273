"""Non-finite policy (reject / skip) and divergence with rollback."""
import json
import struct

from daemon import floats

T = [{"shape": [3]}]


def test_skip_policy_counts_the_step_and_changes_nothing(daemon):
    s = daemon.create(optimizer="adam", tensors=T, params=[1, 2, 3], non_finite="skip")
    sid = s["id"]
    assert s["non_finite"] == "skip"
    st, h, body = daemon.step_binary(sid, 1, [1.0, float("nan"), 0.0])
    assert st == 200 and h["x-optirs-applied"] == "false" and floats(body) == [0.0, 0.0, 0.0]
    st, h, again = daemon.step_binary(sid, 1, [1.0, 1.0, 1.0])
    assert st == 200 and again == body and h["x-optirs-applied"] == "false"
    st, h, raw = daemon.request("POST", f"/v1/sessions/{sid}/step", '{"step":2,"grads":[1,1e999,1]}',
                                {"Content-Type": "application/json"})
    assert st == 200 and json.loads(raw) == {"step": 2, "update": [0, 0, 0], "applied": False}
    assert daemon.json("GET", f"/v1/sessions/{sid}/params")[1] == {"step": 2, "params": [1, 2, 3]}
    st, body = daemon.step(sid, 3, [1, 1, 1])
    assert st == 200 and "applied" not in body and body["update"] != [0, 0, 0]
    # The optimizer state saw one real step: Adam's first step is -lr * sign(g).
    assert all(abs(u + 0.001) < 1e-6 for u in body["update"]), body


def test_reject_policy_is_the_default(daemon):
    s = daemon.create(optimizer="adam", tensors=T)
    assert s["non_finite"] == "reject"
    st, h, raw = daemon.step_binary(s["id"], 1, [1.0, float("inf"), 0.0])
    assert st == 422 and json.loads(raw)["error"]["code"] == "non_finite"
    assert daemon.json("GET", f"/v1/sessions/{s['id']}")[1]["step"] == 0


def test_loss_spike_rolls_back_to_the_last_stored_state(make_daemon):
    d = make_daemon("--checkpoint-every", "2").start()
    s = d.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=T, divergence_factor=10)
    sid = s["id"]
    for k in range(1, 6):
        assert d.step(sid, k, [1, 1, 1], loss=1.0 / k)[0] == 200
    p4 = [1 - 0.4] * 3  # the snapshot at step 4 (checkpoint every 2 steps)
    st, body = d.step(sid, 6, [1, 1, 1], loss=50.0)
    assert st == 409 and body["error"]["code"] == "session_diverged"
    assert "rolled back to step 4" in body["error"]["message"]
    got = d.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["status"] == "diverged" and got["rolled_back_to"] == 4 and got["step"] == 4
    params = d.json("GET", f"/v1/sessions/{sid}/params")[1]["params"]
    assert all(abs(p + 0.4) < 1e-6 for p in params), params
    st, body = d.step(sid, 5, [1, 1, 1])
    assert st == 409 and body["error"]["code"] == "session_diverged"
    # The status survives a restart.
    d.kill9()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    assert d2.json("GET", f"/v1/sessions/{sid}")[1]["status"] == "diverged"


def test_non_finite_update_diverges_without_touching_params(daemon):
    s = daemon.create(optimizer="sgd", hyperparams={"lr": 10}, tensors=T, durability="step")
    sid = s["id"]
    assert daemon.step(sid, 1, [1, 1, 1])[0] == 200
    st, body = daemon.step(sid, 2, [3e38, 1, 1])
    assert st == 422 and body["error"]["code"] == "non_finite_update"
    got = daemon.json("GET", f"/v1/sessions/{sid}")[1]
    assert got["status"] == "diverged" and got["rolled_back_to"] == 1
    assert daemon.json("GET", f"/v1/sessions/{sid}/params")[1] == {"step": 1, "params": [-10, -10, -10]}
