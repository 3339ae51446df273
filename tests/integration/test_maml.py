"""Few-shot meta-learning as a service (issue 19, part 1): POST /v1/meta/jobs
with "method" (maml, fomaml, meta_sgd, reptile on the sinusoid family), the
record's initialisation at GET /v1/weights/{name}/init, and a session with
the meta_sgd optimizer that steps at the learned rates (update = -inner_lr * g
exactly)."""
import json
import math

import numpy as np

from test_meta_jobs import wait_status

SHORT = {"method": "meta_sgd", "task": "sinusoid", "shots": 5, "inner_steps": 1, "inner_lr": 0.01,
         "meta_batch": 5, "outer_lr": 0.001, "outer_steps": 300, "seed": 0, "name": "sine-msgd"}
NP = 1 * 40 + 40 + 40 * 40 + 40 + 40 * 1 + 1


def run_job(d, body):
    st, job = d.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    assert job["config"]["method"] == body["method"] and job["config"]["network"] == [1, 40, 40, 1]
    job = wait_status(d, job["id"], ("done", "failed"), timeout=120)
    assert job["status"] == "done", job
    return job


def tensors_of(init):
    return [{"name": t["name"], "shape": t["shape"]} for t in init["tensors"]]


def test_meta_sgd_job_init_and_session(daemon):
    job = run_job(daemon, SHORT)
    assert job["step"] == 300 and job["weights"] == "sine-msgd@1"
    assert [p["step"] for p in job["curve"]] == [100, 200, 300]
    assert all(p["meta_loss"] > 0 and math.isfinite(p["meta_loss"]) for p in job["curve"])
    st, rec = daemon.json("GET", "/v1/weights/sine-msgd")
    assert st == 200 and rec["optimizer"] == "meta_sgd" and rec["architecture"]["ntheta"] == 2 * NP
    assert rec["provenance"]["job_id"] == job["id"] and rec["provenance"]["method"] == "meta_sgd"

    st, init = daemon.json("GET", "/v1/weights/sine-msgd/init")
    assert st == 200, init
    assert init["method"] == "meta_sgd" and init["version"] == 1
    assert tensors_of(init) == [{"name": "l1.weight", "shape": [1, 40]}, {"name": "l1.bias", "shape": [40]},
                                {"name": "l2.weight", "shape": [40, 40]}, {"name": "l2.bias", "shape": [40]},
                                {"name": "l3.weight", "shape": [40, 1]}, {"name": "l3.bias", "shape": [1]}]
    params = np.array(init["params"], dtype=np.float32)
    alpha = np.array(init["inner_lr"], dtype=np.float32)
    assert params.shape == (NP,) and alpha.shape == (NP,)
    # 300 outer steps moved the rates away from their common start, 0.01
    assert np.all(np.isfinite(alpha)) and np.any(alpha != np.float32(0.01))
    # the initialisation is a working network: its forward pass on a sinusoid
    x = np.linspace(-5, 5, 11, dtype=np.float32).reshape(-1, 1)
    off = 0
    layers = []
    for t in init["tensors"]:
        n = int(np.prod(t["shape"]))
        layers.append(params[off:off + n].reshape(t["shape"]))
        off += n
    h = np.maximum(x @ layers[0] + layers[1], 0)
    h = np.maximum(h @ layers[2] + layers[3], 0)
    y = h @ layers[4] + layers[5]
    assert y.shape == (11, 1) and np.all(np.isfinite(y))

    # a meta_sgd session on the record's layout steps with update = -alpha * g
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "sine-msgd",
                                                 "tensors": tensors_of(init), "params": init["params"]})
    assert st == 201, s
    rng = np.random.default_rng(0)
    p = params.copy()
    for k in (1, 2):
        g = rng.standard_normal(NP).astype(np.float32)
        st, ans = daemon.step(s["id"], k, [float(v) for v in g])
        assert st == 200, ans
        upd = np.array(ans["update"], dtype=np.float32)
        assert np.array_equal(upd, -(alpha * g)), np.max(np.abs(upd + alpha * g))
        p = p + upd
    st, got = daemon.json("GET", f"/v1/sessions/{s['id']}/params")
    assert st == 200
    assert np.array_equal(np.array(got["params"], dtype=np.float32), p)


def test_maml_record_has_scalar_rate_and_other_methods_run(daemon):
    body = dict(SHORT, method="maml", name="sine-maml", outer_steps=100)
    job = run_job(daemon, body)
    st, init = daemon.json("GET", "/v1/weights/sine-maml/init")
    assert st == 200 and init["method"] == "maml" and init["inner_lr"] == 0.01 and len(init["params"]) == NP
    for m in ("fomaml", "reptile"):
        job = run_job(daemon, dict(SHORT, method=m, name="sine-" + m, outer_steps=50, inner_steps=2))
        assert job["weights"] == "sine-%s@1" % m
    # the same request again: the next version, bit for bit the same (seeded)
    run_job(daemon, body)
    st, init2 = daemon.json("GET", "/v1/weights/sine-maml/init?version=2")
    assert st == 200 and init2["version"] == 2 and init2["params"] == init["params"], init2
    # a meta_sgd session on a MAML record: its scalar rate everywhere
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "sine-maml",
                                                 "tensors": tensors_of(init)})
    assert st == 201, s
    g = np.linspace(-1, 1, NP, dtype=np.float32)
    st, ans = daemon.step(s["id"], 1, [float(v) for v in g])
    assert st == 200 and np.array_equal(np.array(ans["update"], dtype=np.float32), -(np.float32(0.01) * g))


def test_hostile_requests(daemon):
    bad = [({"method": "sgd"}, "invalid_argument"), ({"method": "pretrain"}, "invalid_argument"),
           ({"method": 3}, "invalid_argument"), ({"method": "maml", "task": "quadratic"}, "invalid_argument"),
           ({"method": "maml", "shots": 0}, "out_of_range"), ({"method": "maml", "shots": 101}, "out_of_range"),
           ({"method": "maml", "shots": 2.5}, "out_of_range"), ({"method": "maml", "inner_steps": 21}, "out_of_range"),
           ({"method": "maml", "inner_lr": 0}, "out_of_range"), ({"method": "maml", "inner_lr": 1e9}, "out_of_range"),
           ({"method": "maml", "meta_batch": 100000}, "out_of_range"), ({"method": "maml", "outer_lr": -1}, "out_of_range"),
           ({"method": "maml", "outer_steps": 0}, "out_of_range"),
           ({"method": "maml", "outer_steps": 10 ** 12}, "out_of_range"), ({"method": "maml", "seed": -1}, "out_of_range"),
           ({"method": "maml", "seed": 2 ** 60}, "out_of_range"), ({"method": "maml", "shots": "5"}, "invalid_argument"),
           ({"method": "maml", "shots": None}, "invalid_argument"), ({"method": "maml", "shots": True}, "invalid_argument"),
           ({"method": "maml", "particles": 4}, "unknown_field"), ({"method": "maml", "name": "a/b"}, "invalid_argument"),
           ({"method": "maml", "name": ""}, "invalid_argument"), ({"method": "maml", "name": "x" * 48}, "invalid_argument"),
           ({"method": "maml", "name": "mlp_lopt"}, "invalid_argument"),        # a learned optimizer's record
           ({"method": "maml", "name": "mlp_lopt.vision"}, "invalid_argument"),  # a domain default's name
           ({"method": "maml", "inner_lr": [0.01]}, "invalid_argument")]
    for body, code in bad:
        st, err = daemon.json("POST", "/v1/meta/jobs", body)
        assert st == 400 and err["error"]["code"] == code, (body, err)
    st, err = daemon.request("POST", "/v1/meta/jobs", b'{"method":"maml","shots":5,"shots":6}',
                             headers={"Content-Type": "application/json"})[:2]
    assert st == 400
    assert daemon.json("GET", "/v1/meta/jobs")[1]["jobs"] == []
    # /init of a learned optimizer's record and of no record
    st, err = daemon.json("GET", "/v1/weights/mlp_lopt/init")
    assert st == 404 and "not a few-shot record" in err["error"]["message"]
    assert daemon.json("GET", "/v1/weights/nosuch/init")[0] == 404
    # hostile names and versions: refused, never a crash or another file
    for path in ["/v1/weights/..%2f..%2fetc%2fpasswd/init", "/v1/weights/%ff%fe/init",
                 "/v1/weights/" + "a" * 5000 + "/init", "/v1/weights/nosuch%00x/init",
                 "/v1/weights/nosuch/init?version=-1", "/v1/weights/nosuch/init?version=1e99",
                 "/v1/weights/nosuch/init?version=abc"]:
        st, _, body = daemon.request("GET", path)
        assert st in (400, 404, 414, 431), (path, st, body[:200])
    # meta_sgd sessions: no weights, a missing record, another layout, lr or a schedule
    run_job(daemon, dict(SHORT, outer_steps=10, name="tiny-msgd"))
    t = [{"name": "w", "shape": [NP]}]
    for body, status, code in [
            ({"optimizer": "meta_sgd", "tensors": t}, 400, "missing_field"),
            ({"optimizer": "meta_sgd", "weights": "nosuch", "tensors": t}, 400, "invalid_argument"),
            ({"optimizer": "meta_sgd", "weights": "tiny-msgd", "tensors": [{"name": "w", "shape": [NP - 1]}]},
             400, "invalid_argument"),
            ({"optimizer": "meta_sgd", "weights": "tiny-msgd", "tensors": t, "hyperparams": {"lr": 0.1}},
             400, "invalid_argument"),
            ({"optimizer": "meta_sgd", "weights": "tiny-msgd", "tensors": t, "schedule": "cosine",
              "total_steps": 100}, 400, "invalid_argument")]:
        st, err = daemon.json("POST", "/v1/sessions", body)
        assert (st, err["error"]["code"]) == (status, code), (body, err)
    assert daemon.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "tiny-msgd", "tensors": t})[0] == 201
    # the online learner (learned optimizers' PES) scales the learned rates as it does any learned update
    st, s = daemon.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "tiny-msgd", "tensors": t,
                                                 "adapt": {"learner": "pes"}})
    assert st == 201, s
    for k in range(1, 4):
        st, ans = daemon.step(s["id"], k, [0.01] * NP, loss=1.0 / k)
        assert st == 200, ans


def test_cancel_a_running_fewshot_job(daemon):
    st, job = daemon.json("POST", "/v1/meta/jobs", dict(SHORT, method="maml", outer_steps=200000, name="long"))
    assert st == 202
    wait_status(daemon, job["id"], ("running",))
    st, c = daemon.json("DELETE", f"/v1/meta/jobs/{job['id']}")
    assert st == 200 and c["status"] in ("cancelling", "cancelled")
    job = wait_status(daemon, job["id"], ("cancelled",))
    assert job["weights"] is None and job["step"] < 200000
    assert daemon.json("GET", "/v1/weights/long")[0] == 404


def test_meta_sgd_session_survives_a_restart(make_daemon):
    d = make_daemon().start()
    run_job(d, dict(SHORT, outer_steps=20, name="r-msgd"))
    st, init = d.json("GET", "/v1/weights/r-msgd/init")
    alpha = np.array(init["inner_lr"], dtype=np.float32)
    st, s = d.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "r-msgd", "tensors": tensors_of(init),
                                            "durability": "step"})
    assert st == 201, s
    g = np.linspace(-2, 2, NP, dtype=np.float32)
    assert d.step(s["id"], 1, [float(v) for v in g])[0] == 200
    d.stop()
    d2 = make_daemon(tmpdir=d.dir, db=d.db).start()
    # the record is loaded again (its /init unchanged) and the session steps at the same rates
    assert d2.json("GET", "/v1/weights/r-msgd/init")[1]["inner_lr"] == init["inner_lr"]
    st, ans = d2.step(s["id"], 2, [float(v) for v in g])
    assert st == 200, ans
    assert np.array_equal(np.array(ans["update"], dtype=np.float32), -(alpha * g))
    st, cat = d2.json("GET", "/v1/optimizers")
    msgd = [o for o in cat["optimizers"] if o["name"] == "meta_sgd"][0]
    assert msgd["kind"] == "learned"


def test_answers_match_the_spec(daemon):
    from test_openapi_responses import Contract, call
    c = Contract()
    body = dict(SHORT, outer_steps=30, name="spec-msgd")
    st, job = call(c, daemon, "POST", "/v1/meta/jobs", body, request_valid=True)
    assert st == 202
    wait_status(daemon, job["id"], ("done",))
    assert call(c, daemon, "GET", "/v1/meta/jobs/" + job["id"])[0] == 200
    assert call(c, daemon, "GET", "/v1/weights/spec-msgd")[0] == 200
    assert call(c, daemon, "GET", "/v1/weights")[0] == 200
    st, init = call(c, daemon, "GET", "/v1/weights/spec-msgd/init")
    assert st == 200
    assert call(c, daemon, "GET", "/v1/weights/spec-msgd/init?version=1")[0] == 200
    assert call(c, daemon, "GET", "/v1/weights/spec-msgd/init?version=7")[0] == 404
    assert call(c, daemon, "GET", "/v1/weights/mlp_lopt/init")[0] == 404
    assert call(c, daemon, "POST", "/v1/meta/jobs", {"method": "maml", "shots": 0})[0] == 400
    req = {"optimizer": "meta_sgd", "weights": "spec-msgd", "tensors": tensors_of(init), "params": init["params"]}
    st, s = call(c, daemon, "POST", "/v1/sessions", req, request_valid=True)
    assert st == 201, s
    assert call(c, daemon, "POST", "/v1/sessions", {"optimizer": "meta_sgd", "tensors": tensors_of(init)})[0] == 400
    st, cat = call(c, daemon, "GET", "/v1/optimizers")
    assert st == 200 and any(o["name"] == "meta_sgd" for o in cat["optimizers"])


BIN = {"Content-Type": "application/octet-stream"}


def test_fewshot_record_moves_between_daemons_by_export_and_import(make_daemon):
    """A few-shot record exported with GET …/blob is imported by POST /v1/weights on another
    daemon: the same /init, a meta_sgd session on it; a name never holds both kinds of record."""
    a = make_daemon().start()
    run_job(a, dict(SHORT, outer_steps=20, name="m-src"))
    st, _, blob = a.request("GET", "/v1/weights/m-src/blob")
    assert st == 200 and len(blob) > 4 * NP
    st, init_a = a.json("GET", "/v1/weights/m-src/init")
    assert st == 200
    st, _, mlp_blob = a.request("GET", "/v1/weights/mlp_lopt/blob")
    assert st == 200

    b = make_daemon().start()
    st, _, data = b.request("POST", "/v1/weights?name=m-dst", blob, BIN)
    assert st == 201, data
    st, rec = b.json("GET", "/v1/weights/m-dst")
    assert st == 200 and rec["optimizer"] == "meta_sgd" and rec["architecture"]["ntheta"] == 2 * NP
    assert rec["provenance"] == {"imported": True}
    st, init_b = b.json("GET", "/v1/weights/m-dst/init")
    assert st == 200
    assert (init_b["tensors"], init_b["params"], init_b["inner_lr"]) == \
        (init_a["tensors"], init_a["params"], init_a["inner_lr"])
    st, s = b.json("POST", "/v1/sessions", {"optimizer": "meta_sgd", "weights": "m-dst",
                                            "tensors": tensors_of(init_b), "params": init_b["params"]})
    assert st == 201, s
    g = np.linspace(-1, 1, NP, dtype=np.float32)
    st, ans = b.step(s["id"], 1, [float(v) for v in g])
    assert st == 200
    alpha = np.array(init_b["inner_lr"], dtype=np.float32)
    assert np.array_equal(np.array(ans["update"], dtype=np.float32), -(alpha * g))

    # one kind per name, whichever way the second record arrives
    def code(resp):
        return json.loads(resp[2])["error"]["code"]
    r = b.request("POST", "/v1/weights?name=m-dst", mlp_blob, BIN)
    assert r[0] == 400 and code(r) == "invalid_argument" and b"not of a learned optimizer" in r[2]
    r = b.request("POST", "/v1/weights?name=mlp_lopt", blob, BIN)
    assert r[0] == 400 and code(r) == "invalid_argument" and b"not of a few-shot method" in r[2]
    st, e = b.json("POST", "/v1/meta/jobs", {"name": "m-dst", "outer_steps": 1})
    assert st == 400 and e["error"]["code"] == "invalid_argument", e
    # a damaged few-shot blob (one payload byte flipped) or a truncated one changes nothing
    bad = bytearray(blob)
    bad[40] ^= 1
    for body in (bytes(bad), blob[:-7], blob[:20]):
        r = b.request("POST", "/v1/weights?name=m-bad", body, BIN)
        assert r[0] == 400 and code(r) == "invalid_argument", r
    assert b.json("GET", "/v1/weights/m-bad")[0] == 404
    st, lst = b.json("GET", "/v1/weights")
    assert [w["version"] for w in lst["weights"] if w["name"] == "m-dst"] == [1]
