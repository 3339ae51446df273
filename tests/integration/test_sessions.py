"""Sessions, steps (JSON and binary), sequencing, params, feedback, metrics."""
import json
import struct

import numpy as np

from daemon import floats

TENSORS = [{"name": "w", "shape": [2, 3]}, {"name": "b", "shape": [3]}]


def test_health_config_and_optimizers(daemon):
    assert daemon.json("GET", "/livez") == (200, {"status": "alive"})
    assert daemon.json("GET", "/readyz") == (200, {"status": "ready"})
    st, cfg = daemon.json("GET", "/v1/config")
    listen = "unix:" + daemon.sock if daemon.sock else "127.0.0.1:0"   # test_unix_socket.py runs this too
    assert st == 200 and cfg["listen"] == listen and cfg["threads"] == 4
    st, body = daemon.json("GET", "/v1/optimizers")
    names = {o["name"]: o for o in body["optimizers"]}
    for n in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        assert names[n]["kind"] == "classic" and names[n]["description"]
    lr = next(h for h in names["adam"]["hyperparams"] if h["name"] == "lr")
    assert lr["default"] == 1e-3 and lr["min"] == 0 and lr["min_exclusive"] is False   # lr 0 allowed, as torch
    assert "cosine" in body["schedules"]


def test_create_fills_defaults_and_get_matches(daemon):
    s = daemon.create(optimizer="adam", hyperparams={"lr": 0.01}, tensors=TENSORS, name="run-1",
                      tags={"team": "vision"})
    assert s["optimizer"] == "adam" and s["num_params"] == 9 and s["step"] == 0
    assert s["hyperparams"]["lr"] == 0.01 and s["hyperparams"]["beta1"] == 0.9
    assert s["hyperparams"]["beta2"] == 0.999 and s["durability"] == "checkpoint"
    assert s["workers"] == 1 and s["status"] == "active" and s["tags"] == {"team": "vision"}
    st, got = daemon.json("GET", f"/v1/sessions/{s['id']}")
    assert st == 200 and got == s
    st, p = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    assert p == {"step": 0, "params": [0.0] * 9}


def test_sgd_step_json_update_and_params(daemon):
    init = [0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, 1.0, -2.0]
    s = daemon.create(optimizer="sgd", hyperparams={"lr": 0.1}, tensors=TENSORS, params=init)
    g = [1.0, 2.0, -3.0, 0.5, 0.25, -1.0, 4.0, 0.0, 1.0]
    st, ans = daemon.step(s["id"], 1, g, loss=0.7)
    assert st == 200 and ans["step"] == 1
    expect_params = np.float32(init) - np.float32(0.1) * np.float32(g)
    np.testing.assert_array_equal(np.float32(init) + np.float32(ans["update"]), expect_params)
    st, p = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    np.testing.assert_array_equal(np.float32(p["params"]), expect_params)


def test_adam_trajectory_matches_reference_over_http(daemon):
    rng = np.random.default_rng(7)
    p = rng.standard_normal(9).astype(np.float32)
    s = daemon.create(optimizer="adam", hyperparams={"lr": 0.05}, tensors=TENSORS, params=p.tolist())
    m = np.zeros(9, np.float32)
    v = np.zeros(9, np.float32)
    ref = p.copy()
    got = p.copy()
    for t in range(1, 21):
        g = rng.standard_normal(9).astype(np.float32)
        st, body = daemon.step_binary(s["id"], t, g.tolist())[0:3:2]
        assert st == 200
        got = got + np.float32(floats(body))
        m = np.float32(0.9) * m + np.float32(0.1) * g
        v = np.float32(0.999) * v + np.float32(0.001) * g * g
        mhat = m / np.float32(1 - 0.9 ** t)
        vhat = v / np.float32(1 - 0.999 ** t)
        ref = ref - np.float32(0.05) * mhat / (np.sqrt(vhat) + np.float32(1e-8))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    st, params = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    np.testing.assert_array_equal(np.float32(params["params"]), got)


def test_binary_and_json_agree_and_accept_negotiates(daemon):
    g = [0.1 * i for i in range(9)]
    a = daemon.create(optimizer="rmsprop", tensors=TENSORS)
    b = daemon.create(optimizer="rmsprop", tensors=TENSORS)
    st, ja = daemon.step(a["id"], 1, g)
    st2, h, raw = daemon.step_binary(b["id"], 1, g)
    assert st == st2 == 200 and h["content-type"] == "application/octet-stream" and h["x-optirs-step"] == "1"
    assert np.float32(ja["update"]).tolist() == floats(raw)
    st3, h3, body3 = daemon.step_binary(b["id"], 1, g, accept="application/json")
    assert st3 == 200 and json.loads(body3)["update"] == ja["update"]
    st4, h4, body4 = daemon.request("GET", f"/v1/sessions/{b['id']}/params",
                                    headers={"Accept": "application/octet-stream"})
    assert st4 == 200 and len(body4) == 36 and h4["x-optirs-step"] == "1"
    st5, _, body5 = daemon.step_binary(b["id"], 1, g, accept="text/html")
    assert st5 == 406 and json.loads(body5)["error"]["code"] == "not_acceptable"


def test_json_update_round_trips_float32_exactly(daemon):
    rng = np.random.default_rng(3)
    init = (rng.standard_normal(9) * 10.0 ** rng.integers(-30, 30, 9)).astype(np.float32)
    s = daemon.create(optimizer="sgd", hyperparams={"lr": 1}, tensors=TENSORS, params=init.tolist())
    st, p = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    np.testing.assert_array_equal(np.float32(p["params"]), init)


def test_sequencing_retry_is_byte_identical_and_applies_nothing(daemon):
    s = daemon.create(optimizer="adam", tensors=TENSORS)
    g = [1.0] * 9
    st, h1, first = daemon.request("POST", f"/v1/sessions/{s['id']}/step", {"step": 1, "grads": g})
    assert st == 200
    st, h2, again = daemon.request("POST", f"/v1/sessions/{s['id']}/step", {"step": 1, "grads": [5.0] * 9})
    assert st == 200 and again == first
    st, p = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    assert p["step"] == 1
    np.testing.assert_array_equal(np.float32(p["params"]), np.float32(json.loads(first)["update"]))
    for k in (0, 3, 100):
        st, body = daemon.step(s["id"], k, g)
        assert st == 409 and body["error"]["code"] == "step_conflict" and body["error"]["expected"] == 2
    st, _ = daemon.step(s["id"], 2, g)
    assert st == 200


def test_feedback_is_stored_and_listed(daemon):
    s = daemon.create(optimizer="sgd", tensors=TENSORS)
    sid = s["id"]
    for k in (1, 2):
        assert daemon.step(sid, k, [0.5] * 9)[0] == 200
    st, body = daemon.json("POST", f"/v1/sessions/{sid}/feedback", {"step": 2, "loss": 0.25,
                                                                    "metrics": {"acc": 0.9}})
    assert st == 200 and body["stored"] is True
    st, body = daemon.json("POST", f"/v1/sessions/{sid}/feedback", {"step": 3, "loss": 0.2})
    assert st == 400 and body["error"]["code"] == "out_of_range"
    st, h, raw = daemon.request("POST", f"/v1/sessions/{sid}/feedback", '{"step": 1, "loss": 1e999}',
                                {"Content-Type": "application/json"})
    assert st == 422 and json.loads(raw)["error"]["code"] == "non_finite"
    st, body = daemon.json("GET", f"/v1/sessions/{sid}/feedback")
    assert st == 200 and [(f["step"], f["loss"], f["metrics"]) for f in body["feedback"]] == [(2, 0.25, {"acc": 0.9})]


def test_metrics_rows_per_step_with_pagination(daemon):
    s = daemon.create(optimizer="sgd", hyperparams={"lr": 0.5}, tensors=[{"shape": [4]}], params=[1, 1, 1, 1])
    sid = s["id"]
    for k in range(1, 8):
        assert daemon.step(sid, k, [1.0, 0, 0, 0], loss=float(k))[0] == 200
    st, body = daemon.json("GET", f"/v1/sessions/{sid}/metrics?after=2&limit=3")
    rows = body["metrics"]
    assert st == 200 and [r["step"] for r in rows] == [3, 4, 5] and body["next_after"] == 5
    r = rows[0]
    assert r["loss"] == 3.0 and abs(r["grad_norm"] - 1.0) < 1e-9 and abs(r["update_norm"] - 0.5) < 1e-7
    assert abs(r["lr"] - 0.5) < 1e-12 and r["param_norm"] > 0 and r["duration_us"] >= 0 and r["time_ms"] > 0
    st, body = daemon.json("GET", f"/v1/sessions/{sid}/metrics?after=5")
    assert [r["step"] for r in body["metrics"]] == [6, 7] and body["next_after"] is None


def test_list_paginates_and_delete_removes(daemon):
    made = [daemon.create(optimizer="sgd", tensors=[{"shape": [2]}]) for _ in range(5)]
    # newest first: creation time, then id, both descending
    ids = [m["id"] for m in sorted(made, key=lambda m: (m["created_ms"], m["id"]), reverse=True)]
    st, page1 = daemon.json("GET", "/v1/sessions?limit=3")
    assert st == 200 and [x["id"] for x in page1["sessions"]] == ids[:3]
    st, page2 = daemon.json("GET", f"/v1/sessions?limit=3&page_token={page1['next_page_token']}")
    assert [x["id"] for x in page2["sessions"]] == ids[3:] and page2["next_page_token"] is None
    st, body = daemon.json("DELETE", f"/v1/sessions/{ids[0]}")
    assert st == 200 and body["deleted"] is True
    for method, path in (("GET", ""), ("GET", "/params"), ("GET", "/metrics"), ("DELETE", "")):
        st, body = daemon.json(method, f"/v1/sessions/{ids[0]}{path}")
        assert st == 404 and body["error"]["code"] == "session_not_found"
    st, body = daemon.step(ids[0], 1, [0, 0])
    assert st == 404


def test_prometheus_metrics(daemon):
    s = daemon.create(optimizer="sgd", tensors=[{"shape": [3]}])
    daemon.step(s["id"], 1, [1, 2, 3])
    daemon.json("GET", "/v1/sessions/nope")
    st, h, text = daemon.request("GET", "/metrics")
    text = text.decode()
    assert st == 200 and h["content-type"].startswith("text/plain")
    assert 'optirs_requests_total{route="step",status="200"} 1' in text
    assert 'optirs_requests_total{route="session_get",status="404"} 1' in text
    assert "optirs_step_seconds_count 1" in text and "optirs_sessions_open 1" in text
    for name in ("optirs_http_bytes_in_total", "optirs_storage_queue_depth", "optirs_storage_commit_seconds_total"):
        assert name in text


def test_schedule_and_clipping_reach_the_optimizer(daemon):
    s = daemon.create(optimizer="sgd", hyperparams={"lr": 1.0, "clip_norm": 1.0, "warmup_steps": 4},
                      schedule="linear_warmup", tensors=[{"shape": [2]}])
    st, ans = daemon.step(s["id"], 1, [3.0, 4.0])
    # clipped to norm 1 -> (0.6, 0.8); warmup lr = 1 * 1/4
    np.testing.assert_allclose(ans["update"], [-0.15, -0.2], rtol=1e-6)
    st, body = daemon.json("GET", f"/v1/sessions/{s['id']}/metrics")
    assert abs(body["metrics"][0]["lr"] - 0.25) < 1e-12 and abs(body["metrics"][0]["grad_norm"] - 5) < 1e-9
