"""mlp_lopt's hidden activation through the daemon (issue 20 part 3): GET
/v1/optimizers lists `activation` with its names; a session on the default
weights ("@default") with activation gelu steps, and GET shows the name;
a bad value is 400 out_of_range and creates nothing; a record carries its
activation (a session on it shows the record's; another value asked for is
refused, as another width or depth is); a meta-training job takes `activation` for mlp_lopt only; and
an architecture search with an activation axis runs and its provenance
lists each mlp_lopt candidate's activation."""
import math

import numpy as np

from test_meta_jobs import wait_status

T = [{"name": "w", "shape": [3, 4]}, {"name": "b", "shape": [4]}]
N = 16


def grads(k):
    return np.random.default_rng(9100 + k).standard_normal(N).astype(np.float32).tolist()


def session_ids(d):
    st, body = d.json("GET", "/v1/sessions")
    assert st == 200, body
    return sorted(s["id"] for s in body["sessions"])


def test_listed_with_its_names(daemon):
    st, cat = daemon.json("GET", "/v1/optimizers")
    assert st == 200
    hp = {h["name"]: h for h in {o["name"]: o for o in cat["optimizers"]}["mlp_lopt"]["hyperparams"]}
    a = hp["activation"]
    assert a["values"] == ["relu", "gelu", "swish"] and a["default"] == "relu"
    assert "values" not in hp["hidden"]


def test_gelu_session_steps_and_shows_it(daemon):
    s = daemon.create(optimizer="mlp_lopt", weights="@default", tensors=T, hyperparams={"activation": "gelu"})
    assert s["hyperparams"]["activation"] == "gelu"
    for k in (1, 2, 3):
        st, _, body = daemon.step_binary(s["id"], k, grads(k))
        assert st == 200, body
    st, got = daemon.json("GET", f"/v1/sessions/{s['id']}")
    assert st == 200 and got["step"] == 3 and got["hyperparams"]["activation"] == "gelu"
    # the untrained default is the same rule under every activation: relu's params stay close
    r = daemon.create(optimizer="mlp_lopt", weights="@default", tensors=T, hyperparams={"activation": "relu"})
    for k in (1, 2, 3):
        assert daemon.step_binary(r["id"], k, grads(k))[0] == 200
    pg = np.array(daemon.json("GET", f"/v1/sessions/{s['id']}/params")[1]["params"])
    pr = np.array(daemon.json("GET", f"/v1/sessions/{r['id']}/params")[1]["params"])
    assert np.all(np.abs(pg - pr) < 3 * 2e-2 * 1e-3)
    assert not np.array_equal(pg, pr)   # yet another network ran


def test_bad_value_is_400_and_creates_nothing(daemon):
    before = session_ids(daemon)
    for v in ("tanh", "GELU", 1, None, ["gelu"], ""):
        st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "tensors": T,
                                                       "hyperparams": {"activation": v}})
        assert st == 400 and err["error"]["code"] == "out_of_range", (v, err)
        assert "relu, gelu, swish" in err["error"]["message"]
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "lstm_lopt", "tensors": T,
                                                   "hyperparams": {"activation": 1}})
    assert st == 400 and err["error"]["code"] == "unknown_hyperparameter", err
    assert session_ids(daemon) == before


def test_meta_job_record_carries_the_activation(daemon):
    body = {"name": "tiny-swish", "optimizer": "mlp_lopt", "hidden": 4, "depth": 2, "estimator": "es",
            "activation": "swish", "tasks": ["quadratic dim=5"], "particles": 2, "unroll": 5, "outer_steps": 3,
            "checkpoint_every": 3}
    st, job = daemon.json("POST", "/v1/meta/jobs", body)
    assert st == 202, job
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=120)
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/tiny-swish")
    assert st == 200 and rec["architecture"]["activation"] == "swish", rec
    listed = {w["ref"]: w for w in daemon.json("GET", "/v1/weights")[1]["weights"]}
    assert listed[rec["ref"]]["architecture"] == rec["architecture"], listed[rec["ref"]]
    assert rec["provenance"]["config"]["activation"] == "swish"
    st, rec = daemon.json("GET", "/v1/weights/lstm_lopt")   # other families name none
    assert st == 200 and "activation" not in rec["architecture"], rec
    # the record decides, and the session shows what runs: swish
    a = daemon.create(optimizer="mlp_lopt", weights="tiny-swish", tensors=T)
    assert a["hyperparams"]["activation"] == "swish" and a["hyperparams"]["depth"] == 2, a["hyperparams"]
    # relu is the default, so asking for it is asking for nothing; gelu would be ignored: refused
    b = daemon.create(optimizer="mlp_lopt", weights="tiny-swish", tensors=T, hyperparams={"activation": "relu"})
    assert b["hyperparams"]["activation"] == "swish"
    ua = daemon.step_binary(a["id"], 1, grads(1))[2]
    ub = daemon.step_binary(b["id"], 1, grads(1))[2]
    assert ua == ub
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "tiny-swish", "tensors": T,
                                                   "hyperparams": {"activation": "gelu"}})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    assert "activation = gelu would be ignored" in err["error"]["message"], err
    assert "fixes it at swish" in err["error"]["message"], err
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, name="tiny-lstm-gelu", optimizer="lstm_lopt",
                                                       activation="gelu"))
    assert st == 400 and err["error"]["code"] == "invalid_argument" and "mlp_lopt only" in err["error"]["message"]
    st, err = daemon.json("POST", "/v1/meta/jobs", dict(body, name="tiny-x", activation="tanh"))
    assert st == 400 and err["error"]["code"] == "out_of_range", err


def test_nas_with_an_activation_axis(daemon):
    req = {"method": "nas", "space": {"optimizer": ["mlp_lopt", "lstm_lopt"], "hidden": [4], "depth": [1],
                                      "activation": ["relu", "gelu", "swish"]},
           "candidates": 4, "full": 2, "outer_steps": 3, "full_steps": 4, "eval_steps": 10, "eval_seeds": 1,
           "particles": 2, "unroll": 5, "task": "quadratic dim=4", "seed": 1, "name": "nas-act"}
    st, job = daemon.json("POST", "/v1/meta/jobs", req)
    assert st == 202, job
    cfg = job["config"]
    assert cfg["space"]["activation"] == ["relu", "gelu", "swish"]
    # mlp_lopt 4x1 under three activations and lstm_lopt 4x1: exactly the four architectures
    archs = cfg["candidate_architectures"]
    mlp = sorted(a["activation"] for a in archs if a["optimizer"] == "mlp_lopt")
    assert mlp == ["gelu", "relu", "swish"]
    assert all("activation" not in a for a in archs if a["optimizer"] != "mlp_lopt")
    job = wait_status(daemon, job["id"], ("done", "failed"), timeout=300)
    assert job["status"] == "done", job
    st, rec = daemon.json("GET", "/v1/weights/nas-act")
    assert st == 200, rec
    nas = rec["provenance"]["nas"]
    got = sorted(c["architecture"].get("activation", "-") for c in nas["candidates"])
    assert got == ["-", "gelu", "relu", "swish"]
    for c in nas["candidates"]:
        assert all(math.isfinite(v) for v in c["early_curve"])
    # the best record is what its architecture says: an mlp_lopt best carries its activation
    best = nas["best"]
    assert rec["architecture"].get("activation") == best.get("activation")
    if best["optimizer"] == "mlp_lopt":
        s = daemon.create(optimizer="mlp_lopt", weights="nas-act", tensors=T)
        assert daemon.step_binary(s["id"], 1, grads(1))[0] == 200


def test_study_trial_names_the_activation(daemon):
    # a categorical of the names reaches a session bound to the trial; a number or another name is
    # refused (it used to be skipped as "the client's", and the session ran relu)
    st, study = daemon.json("POST", "/v1/studies", {
        "name": "act", "direction": "minimize", "sampler": "random", "max_trials": 8, "parallel": 8, "seed": 1,
        "space": {"activation": {"type": "categorical", "choices": ["relu", "gelu", "swish"]}}})
    assert st == 201, study
    seen = set()
    for _ in range(6):
        st, t = daemon.json("POST", f"/v1/studies/{study['id']}/trials", {})
        assert st == 201, t
        s = daemon.create(optimizer="mlp_lopt", weights="@default", tensors=T, trial=f"{study['id']}/{t['trial']}")
        assert s["hyperparams"]["activation"] == t["params"]["activation"], (s["hyperparams"], t)
        seen.add(t["params"]["activation"])
    assert len(seen) > 1
    st, num = daemon.json("POST", "/v1/studies", {
        "name": "act-int", "direction": "minimize", "sampler": "random", "max_trials": 2, "seed": 1,
        "space": {"activation": {"type": "int", "low": 0, "high": 2}}})
    assert st == 201, num
    st, t = daemon.json("POST", f"/v1/studies/{num['id']}/trials", {})
    before = session_ids(daemon)
    st, err = daemon.json("POST", "/v1/sessions", {"optimizer": "mlp_lopt", "weights": "@default", "tensors": T,
                                                   "trial": f"{num['id']}/{t['trial']}"})
    assert st == 400 and err["error"]["code"] == "invalid_argument", err
    assert "none of its names" in err["error"]["message"], err
    assert session_ids(daemon) == before
